"""What random reviews make of a run's DICOM SEG/SR and overlays (property-based).

One small run of the data samples (two stills of one left ovary, a still with an unsure
candidate, an uncalibrated still of unknown side, a cine of the right ovary: 4 stills' SEG and
SR, the cine's SR and key-frame SEGs) is analysed once; each example copies it and reviews it
as a reviewer would, the run applying each review without analysing again:

A. random decisions (``not_follicle`` on rows of ``follicles.csv``, ``follicle`` or
   ``not_follicle`` on rows of ``candidates.csv``, ``left`` or ``right`` on the image of unknown
   side, by one of two reviewers), applied, then applied again;
B. the next worksheet (A's decisions first) with random ovary-visits ``confirmed`` at the count
   it prefills, saved over ``review.csv``;
C. A's decisions changed (another decision, another reviewer), withdrawn, or joined by new ones;
A again (a review gone back to earlier decisions); then the review removed.

After each run the properties docs/review_outputs.md ("DICOM Segmentation (SEG)", "DICOM
Structured Report (SR)") and docs/measurement.md ("A reviewer's decisions", "Reviewed
overlays") promise are checked against the reviewed tables and a model of the decisions.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import highdicom as hd
import numpy as np
import pandas as pd
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.sr.codedict import codes
from scipy import ndimage
from test_dicom_seg_sr import _measurements, _predecessors  # tests/ is on sys.path

from follicle_seg.io.tables import write_csv
from follicle_seg.pipeline import RunOptions, run
from follicle_seg.report.dicom_seg import seg_labels
from follicle_seg.report.overlay_files import parse_name, uid_token
from follicle_seg.report.reviewed import reviewed_name
from follicle_seg.review import REVIEW_FILE, WORKSHEET_COLUMNS, WORKSHEET_FILE
from follicle_seg.types import FOLLICLE

PROPERTIES = settings(max_examples=8)  # (deterministic: tests/conftest.py's profile)

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"
INPUTS = [SAMPLES / f"{name}.dcm" for name in ("jpeg_ybr422_left", "mono_left", "two_regions_bmode_doppler",
                                               "uncalibrated_no_regions", "cine_20f_jpegls_right")]  # fmt: skip
OPTIONS = {"report": False}
KEY = ["patient_id", "study_date", "laterality"]
SIDE = {"left": "L", "right": "R"}
MEANING = {"L": "Left", "R": "Right"}
REVIEWERS = ("AB", "CD")
# an SR written again anew: its creation date and time are the writing's
TIMES = ("InstanceCreationDate", "InstanceCreationTime", "ContentDate", "ContentTime")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("analysed") / "run"
    run(INPUTS, RunOptions(out=out, **OPTIONS))
    return out


def _table(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / f"{name}.csv", dtype=str, keep_default_na=False)


def _files(out: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of ``dicom/`` and ``overlays/``: its bytes and modification time."""
    return {str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns)
            for folder in ("dicom", "overlays") for p in sorted((out / folder).rglob("*")) if p.is_file()}  # fmt: skip


class Pool:
    """What a review of the analysed run may decide, and the run's objects as analysed."""

    def __init__(self, out: Path) -> None:
        self.follicles = _table(out, "follicles")
        self.candidates = _table(out, "candidates")
        images = _table(out, "images")
        self.images = images[images["status"] == "ok"]
        self.lines: dict[tuple, tuple[str, ...]] = {}  # each line's key: the decisions it may take
        self.rows: dict[tuple, pd.Series] = {}
        for kind, table, choices in (("f", self.follicles, ("not_follicle",)),
                                     ("c", self.candidates, ("follicle", "not_follicle"))):  # fmt: skip
            for _, row in table.iterrows():
                key = (kind, row["sop_instance_uid"], row["follicle_id"])
                self.lines[key], self.rows[key] = choices, row
        for uid in self.images.loc[self.images["laterality"] == "U", "sop_instance_uid"]:
            self.lines[("s", uid)] = tuple(SIDE)
        self.network = _files(out)
        self.overlays: dict[str, set[str]] = {}  # each image's analysed overlays
        tokens = {uid_token(uid): uid for uid in self.images["sop_instance_uid"]}
        for name in self.network:
            parsed = parse_name(name)
            if name.startswith("overlays/") and name.count("/") == 1 and parsed:
                self.overlays.setdefault(tokens[parsed[0]], set()).add(name.removeprefix("overlays/"))
        self.tables = {name: _table(out, name) for name in ("images", "follicles", "ovaries", "visits", "candidates")}


@st.composite
def decisions(draw, pool: Pool, earlier: dict | None = None) -> dict[tuple, tuple[str, str]]:
    """Random decisions over ``pool`` (line key -> (decision, reviewer)); with ``earlier``, those
    changed, withdrawn or kept, and new ones; never none (a review without one is refused)."""
    chosen = {}
    for key, choices in pool.lines.items():
        before = (earlier or {}).get(key)
        options = [None, None, *((d, r) for d in choices for r in REVIEWERS)]
        if before is not None:  # kept, twice as likely as anything else
            options = [before, before, *options]
        picked = draw(st.sampled_from(options))
        if picked is not None:
            chosen[key] = picked
    if not chosen:
        key = draw(st.sampled_from(sorted(pool.lines)))
        chosen[key] = (pool.lines[key][0], "AB")
    return chosen


def _review(out: Path, decided: dict[tuple, tuple[str, str]], pool: Pool, confirmed: pd.DataFrame | None = None) -> None:
    """``review.csv`` holding ``decided`` (and the worksheet's ``confirmed`` lines), as a reviewer saves it."""
    rows = []
    for key, (decision, reviewer) in decided.items():
        row = {"decision": decision, "reviewer": reviewer, "sop_instance_uid": key[1]}
        if key[0] != "s":
            row.update(pool.rows[key][["follicle_id", "centroid_row", "centroid_col"]].to_dict())
        rows.append(row)
    sheet = pd.DataFrame(rows, columns=list(WORKSHEET_COLUMNS), dtype=object)
    if confirmed is not None:
        sheet = pd.concat([sheet, confirmed[list(WORKSHEET_COLUMNS)]], ignore_index=True)
    write_csv(sheet.fillna(""), out / REVIEW_FILE)


class Model:
    """What a review's decisions make of each image, independently of the code under test."""

    def __init__(self, pool: Pool, decided: dict[tuple, tuple[str, str]]) -> None:
        self.changes: dict[str, set[str]] = {}  # image -> the reviewers of the decisions changing its SR
        self.rejected, self.accepted, self.side = set(), set(), {}
        self.about = {key[1] for key in decided}  # the images a line names
        for key, (decision, reviewer) in decided.items():
            if key[0] == "c" and decision == "not_follicle":
                continue  # a candidate settled: nothing an SR or SEG says changes
            self.changes.setdefault(key[1], set()).add(reviewer)
            if key[0] == "s":
                self.side[key[1]] = SIDE[decision]
            else:
                (self.rejected if key[0] == "f" else self.accepted).add((key[1], key[2]))
        self.says = {uid: (sorted(i for u, i in self.rejected | self.accepted if u == uid), self.side.get(uid), sorted(r))
                     for uid, r in self.changes.items()}  # what each image's SR says of the review  # fmt: skip


def _sr(path: Path) -> tuple[pydicom.Dataset, hd.sr.ComprehensiveSR]:
    return pydicom.dcmread(path), hd.sr.srread(path)


def _same_content(a: pydicom.Dataset, b: pydicom.Dataset) -> bool:
    """Whether two SRs say the same but for their creation date and time."""
    return all(a.get(k) == b.get(k) for k in ("SOPInstanceUID", "ContentSequence", "VerificationFlag",
                                               "PreliminaryFlag", "PredecessorDocumentsSequence"))  # fmt: skip


def _components(mask: np.ndarray) -> list[np.ndarray]:
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    return [labels == k for k in range(1, n + 1)]


def _at(row: pd.Series) -> tuple[int, int]:
    return round(float(row["centroid_row"])), round(float(row["centroid_col"]))


def _check(out: Path, pool: Pool, model: Model, confirmed: set[tuple[str, str, str]], history: dict[str, list[str]],
           last: dict[str, tuple]) -> None:  # fmt: skip
    """The run's SEGs, SRs and reviewed overlays against the reviewed tables and ``model``;
    ``history``: every SR UID written for each image, in order (updated); ``last``: what each
    image's last SR written as reviewed said (updated). A review saying what that SR said, the
    network's given back between (the review removed, or withdrawn from the image), writes that SR
    again, its UID and predecessors (docs/review_outputs.md): a PACS holding it keeps it current."""
    follicles, images = _table(out, "follicles"), _table(out, "images")
    images = images[images["status"] == "ok"]
    side_of = dict(zip(images["sop_instance_uid"], images["laterality"]))
    for uid in pool.images["sop_instance_uid"]:
        rows = follicles[follicles["sop_instance_uid"] == uid].set_index("follicle_id")
        # the tables as the decisions make them (the model agrees with the run)
        kept = {i for i in pool.follicles.loc[pool.follicles["sop_instance_uid"] == uid, "follicle_id"]
                if (uid, i) not in model.rejected} | {i for u, i in model.accepted if u == uid}  # fmt: skip
        assert set(rows.index) == kept, uid
        assert side_of[uid] == model.side.get(uid, pool.images.set_index("sop_instance_uid").at[uid, "laterality"])
        changed = uid in model.changes
        # the SR: its follicles and count those of the reviewed tables, its side the image's
        name = f"dicom/{uid}_sr.dcm"
        ds, sr = _sr(out / name)
        network_sr = pydicom.dcmread(pydicom.filebase.DicomBytesIO(pool.network[name][0]))
        groups = {g.tracking_identifier: g for g in sr.content.get_planar_roi_measurement_groups(
            finding_type=codes.SCT.OvarianFollicleStructure)}  # fmt: skip
        assert set(groups) == {f"follicle {i}" for i in rows.index}, (uid, set(groups))
        for i, row in rows.iterrows():
            found = _measurements(groups[f"follicle {i}"])
            for meaning, column in (("Long axis", "d1_mm"), ("Short axis", "d2_mm"), ("Diameter", "mean_diameter_mm"),
                                    ("Area", "area_mm2"), ("Volume", "volume_ml")):  # fmt: skip
                assert (meaning in found) == (row[column] != ""), (uid, i, meaning)
                if row[column] != "":
                    assert found[meaning][0] == pytest.approx(float(row[column]), rel=1e-9), (uid, i, meaning)
        ovary = [*sr.content.get_volumetric_roi_measurement_groups(),
                 *sr.content.get_planar_roi_measurement_groups(finding_type=codes.SCT.Ovary)]  # fmt: skip
        assert len(ovary) == 1
        count = [m.value for m in ovary[0].get_measurements() if m.name.meaning == "Number of follicles"]
        assert count == [len(rows)], uid
        sides = [s.laterality.meaning for s in ovary[0].finding_sites if s.laterality is not None]
        assert sides == ([MEANING[side_of[uid]]] if side_of[uid] in MEANING else []), uid
        assert (ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber) == (
            network_sr.SeriesInstanceUID, network_sr.SeriesNumber, network_sr.InstanceNumber)  # fmt: skip
        if not changed:  # the network's, its UID and content as before
            assert _same_content(ds, network_sr), uid
            assert ds.VerificationFlag == "UNVERIFIED" and "VerifyingObserverSequence" not in ds
            if uid not in history:
                assert (out / name).read_bytes() == pool.network[name][0]
        elif last.get(uid) == model.says[uid]:  # what the last SR written as reviewed said: that SR
            assert str(ds.SOPInstanceUID) == history[uid][-1] and _predecessors(out / name) == history[uid][:-1], uid
        else:  # written again: a new UID, naming every SR written for the image before, in order
            before = history.setdefault(uid, [str(network_sr.SOPInstanceUID)])
            assert str(ds.SOPInstanceUID) not in before, (uid, before)
            assert _predecessors(out / name) == before, uid
            assert (ds.VerificationFlag, ds.PreliminaryFlag) == ("VERIFIED", "FINAL")
            assert sorted(str(o.VerifyingObserverName) for o in ds.VerifyingObserverSequence) == sorted(model.changes[uid])
            before.append(str(ds.SOPInstanceUID))
            last[uid] = model.says[uid]
        # the SEGs: segment 2 the reviewed follicles, the side the image's; the network's where unchanged
        segs = sorted(n for n in pool.network if n.startswith(f"dicom/{uid}_") and n.endswith("_seg.dcm"))
        assert segs and sorted(n for n in _files(out) if n.startswith(f"dicom/{uid}_") and n.endswith("_seg.dcm")) == segs
        for seg_name in segs:
            seg, network = pydicom.dcmread(out / seg_name), pydicom.dcmread(pydicom.filebase.DicomBytesIO(pool.network[seg_name][0]))
            rest = seg_name.removeprefix(f"dicom/{uid}")  # _seg.dcm, or _f<frame>_seg.dcm of a cine's key frame
            frame = int(rest[2:].split("_")[0]) if rest.startswith("_f") else 0
            labels, was = seg_labels(seg), seg_labels(network)
            on_frame = rows[rows["frame_index"] == str(frame)]
            for i, row in on_frame.iterrows():
                assert labels[_at(row)] == FOLLICLE, (seg_name, i)
            for u, i in model.rejected:
                row = pool.rows[("f", u, i)]
                if u == uid and row["frame_index"] == str(frame):
                    assert labels[_at(row)] != FOLLICLE, (seg_name, i)
            added = [pool.rows[("c", u, i)] for u, i in model.accepted if u == uid]
            for piece in _components((labels == FOLLICLE) & (was != FOLLICLE)):  # an accepted candidate's
                assert any(piece[_at(row)] for row in added if row["frame_index"] == str(frame)), seg_name
            if frame == 0 and int(pool.images.set_index("sop_instance_uid").at[uid, "n_frames"]) == 1:  # a still:
                pieces = _components(labels == FOLLICLE)  # each piece one of the table's follicles, each in one
                assert sorted(sum(bool(p[_at(row)]) for p in pieces) for _, row in on_frame.iterrows()) == [1] * len(on_frame)
                assert all(sum(bool(p[_at(row)]) for _, row in on_frame.iterrows()) == 1 for p in pieces), seg_name
            assert set(np.unique(labels[was == 1])) <= {1, FOLLICLE}  # the ovary as the network found it
            modifiers = {s.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence[0].CodeMeaning
                         for s in seg.SegmentSequence if "SegmentedPropertyTypeModifierCodeSequence"
                         in s.SegmentedPropertyTypeCodeSequence[0]}  # fmt: skip
            assert modifiers == ({MEANING[side_of[uid]]} if side_of[uid] in MEANING else set()), seg_name
            assert (seg.SeriesInstanceUID, seg.SeriesNumber) == (network.SeriesInstanceUID, network.SeriesNumber)
            if np.array_equal(labels, was) and side_of[uid] == _seg_side(network):
                assert (out / seg_name).read_bytes() == pool.network[seg_name][0], seg_name
            else:
                assert seg.SOPInstanceUID != network.SOPInstanceUID, seg_name
                assert {str(s.SegmentAlgorithmType) for s in seg.SegmentSequence} == {"SEMIAUTOMATIC"}, seg_name
            if len(segs) == 1 and sr.content.get_volumetric_roi_measurement_groups():  # a still's SR cites its SEG
                assert ovary[0].referenced_segment.referenced_sop_instance_uid == seg.SOPInstanceUID, uid
    # the analysed overlays as they were; a reviewed copy of each overlay of an image a decision is about
    now = _files(out)
    for name in (n for n in pool.network if n.startswith("overlays/") and n.count("/") == 1):
        assert now[name][0] == pool.network[name][0], name
    about = model.about | set(images.loc[[tuple(k) in confirmed for k in images[KEY].itertuples(index=False)],
                                         "sop_instance_uid"])  # fmt: skip
    expected = {f"overlays/{reviewed_name(n)}" for uid in about for n in pool.overlays[uid]}
    assert {n for n in now if n.startswith("overlays/reviewed/")} == expected


def _seg_side(seg: pydicom.Dataset) -> str:
    """The side a SEG's segments say, ``U`` for none."""
    meanings = {s.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence[0].CodeMeaning
                for s in seg.SegmentSequence if "SegmentedPropertyTypeModifierCodeSequence" in s.SegmentedPropertyTypeCodeSequence[0]}
    return {"Left": "L", "Right": "R"}[meanings.pop()] if meanings else "U"


def _rerun(out: Path) -> None:
    summary = run(INPUTS, RunOptions(out=out, **OPTIONS))
    assert summary.resumed == summary.inputs  # nothing analysed again


@PROPERTIES
@given(data=st.data())
def test_reviewed_segs_srs_and_overlays_follow_the_reviewed_tables(analysed: Path, data) -> None:
    pool = Pool(analysed)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        shutil.copytree(analysed, out)
        history: dict[str, list[str]] = {}
        last: dict[str, tuple] = {}

        first = data.draw(decisions(pool), label="A")
        _review(out, first, pool)
        _rerun(out)
        _check(out, pool, Model(pool, first), set(), history, last)
        written = _files(out)
        _rerun(out)  # the same review again: nothing written
        assert _files(out) == written

        sheet = pd.read_csv(out / WORKSHEET_FILE, dtype=str, keep_default_na=False)
        visits = sheet[(sheet["sop_instance_uid"] == "") & (sheet["decision"] == "")]
        picked = data.draw(st.lists(st.sampled_from(list(visits.index)), unique=True), label="confirmed") if len(visits) else []
        confirmed = visits.loc[picked].assign(decision="confirmed", reviewer="CD")
        _review(out, first, pool, confirmed)
        _rerun(out)
        _check(out, pool, Model(pool, first), {tuple(k) for k in confirmed[KEY].itertuples(index=False)}, history, last)
        assert {n: v for n, v in _files(out).items() if n.startswith("dicom/")} == {
            n: v for n, v in written.items() if n.startswith("dicom/")}  # a confirmation changes no SR or SEG

        second = data.draw(decisions(pool, first), label="C")
        for decided in (second, first):  # then back to the first decisions
            _review(out, decided, pool)
            _rerun(out)
            _check(out, pool, Model(pool, decided), set(), history, last)

        (out / REVIEW_FILE).unlink()
        _rerun(out)
        now = _files(out)
        assert not any(n.startswith("overlays/reviewed/") for n in now) and not (out / "review_log.csv").exists()
        for name, (network, _) in pool.network.items():
            if name.endswith("_sr.dcm"):  # the network's SR back: its UID and content
                assert _same_content(pydicom.dcmread(out / name), pydicom.dcmread(pydicom.filebase.DicomBytesIO(network))), name
            else:
                assert now[name][0] == network, name
        assert set(now) == set(pool.network)
        for name, table in pool.tables.items():
            pd.testing.assert_frame_equal(_table(out, name), table, obj=name)
