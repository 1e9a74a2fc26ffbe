"""Reviewed overlay copies (report/reviewed.py); their marks and band are checked on a run in
tests/test_review.py."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage


def test_a_reviewed_copy_of_an_image_given_its_side_says_the_side_in_its_header(tmp_path) -> None:
    from test_visits import result  # tests/ is on sys.path

    from follicle_seg.report.overlay import layout_for
    from follicle_seg.report.reviewed import _stamped

    r = result("1.1", [5.0], side="U")
    layout = layout_for(r.record)
    source = tmp_path / "a_f000.png"
    Image.new("RGB", (layout.canvas_width, layout.top + layout.height + 44), (24, 24, 24)).save(source)
    plain = np.asarray(_stamped(source, r, [], ["a line"]))
    sided = np.asarray(_stamped(source, r, [], ["a line"], side="L"))
    assert (plain[: layout.top] == 24).all()  # no side given: the header as it was
    assert (sided[:28] != plain[:28]).any() and (sided[28:] == plain[28:]).all()  # its first line redrawn


def test_the_band_of_an_image_given_another_side_says_the_side_it_was_analysed_with(tmp_path) -> None:
    from test_visits import result  # tests/ is on sys.path

    from follicle_seg.report.reviewed import _notes
    from follicle_seg.review import Review
    from follicle_seg.visits import build_tables

    images = [result("1.1", [5.0], side="L"), result("1.2", [4.0, 3.0], side="R")]
    (tmp_path / "review.csv").write_text("decision,sop_instance_uid,reviewer,comment\nright,1.1,AB,tag wrong\n")
    review = Review.read(tmp_path / "review.csv")
    notes, _ = _notes(images, review, build_tables(images, review=review))
    assert notes["1.1"][0] == "side: right ovary (AB: tag wrong); as analysed it was the left ovary, that ovary-visit counting 1"


def test_a_reviewed_copy_left_unchanged_by_a_rerun_is_not_written_again(tmp_path) -> None:
    """Each build of the tables removed every reviewed copy and encoded it again (a trial's review,
    2000 decisions on 1440 files: 157 s a run), and the report then made each one's thumbnail
    anew; a copy whose picture is the same now stays as it was, one no decision is about goes."""
    import os

    import pandas as pd
    from test_visits import result  # tests/ is on sys.path

    from follicle_seg.report.overlay import layout_for
    from follicle_seg.report.reviewed import reviewed_name, write_reviewed
    from follicle_seg.review import Review
    from follicle_seg.visits import build_tables

    images = [result("1.1", [5.0, 4.0]), result("1.2", [6.0], side="R")]
    layout = layout_for(images[0].record)
    names = ["P1_20260105_L_1.1_f000.png", "P1_20260105_R_1.2_f000.png"]
    for name in names:
        Image.new("RGB", (layout.canvas_width, layout.top + layout.height + 44), (24, 24, 24)).save(tmp_path / name)
    index = pd.DataFrame({"sop_instance_uid": ["1.1", "1.2"], "frame_index": [0, 0], "file": names})

    def reviewed(*uids: str) -> set[str]:
        lines = "".join(f"not_follicle,{u},1,50.0,50.0,AB\n" for u in uids)
        (tmp_path / "review.csv").write_text("decision,sop_instance_uid,follicle_id,centroid_row,centroid_col,reviewer\n" + lines)
        review = Review.read(tmp_path / "review.csv")
        out = write_reviewed(tmp_path, index, images, review, build_tables(images, review=review))
        return {f for f in out["file"] if f.startswith("reviewed/")}

    assert reviewed("1.1", "1.2") == {reviewed_name(n) for n in names}
    copies = {n: tmp_path / reviewed_name(n) for n in names}
    for path in copies.values():
        os.utime(path, ns=(1, 1))  # (as an earlier run left them)
    assert reviewed("1.1") == {reviewed_name(names[0])}
    assert copies[names[0]].stat().st_mtime_ns == 1  # the same picture: not written again
    assert not copies[names[1]].exists()  # no decision about its image any more
    assert np.asarray(Image.open(copies[names[0]])).shape[0] > layout.top + layout.height + 44  # its band drawn


def test_a_long_decision_comment_is_wrapped_inside_the_reviewed_copy(tmp_path) -> None:
    """The band's lines were drawn as they came: a reviewer's comment ran past the right edge of
    the copy and was cut off (this 209-character line is 1462 px long; the overlay 760 px wide)."""
    from test_visits import result  # tests/ is on sys.path

    from follicle_seg.report.overlay import layout_for
    from follicle_seg.report.reviewed import _BACKGROUND, _stamped

    r = result("1.1", [5.0])
    layout = layout_for(r.record)
    source = tmp_path / "a_f000.png"
    height = layout.top + layout.height + 44
    Image.new("RGB", (layout.canvas_width, height), (24, 24, 24)).save(source)
    comment = "no posterior enhancement, a vessel in cross-section; seen with colour Doppler at the bedside " * 2
    short = np.asarray(_stamped(source, r, [], ["1: not a follicle (AB)"]))
    long = np.asarray(_stamped(source, r, [], [f"1: not a follicle (AB: {comment.strip()})"]))
    band = long[height:]
    assert (band[:, -8:] == _BACKGROUND).all()  # nothing drawn up to the edge: nothing cut off
    assert long.shape[0] > short.shape[0]  # on a line more
    # a comment a spreadsheet cell broke over lines (Pillow cannot measure it: the run died)
    broken = np.asarray(_stamped(source, r, [], ["1: not a follicle (AB: a vessel;\r\nseen with Doppler)"]))
    assert broken.shape[0] > short.shape[0]


def test_a_decision_about_a_sweep_of_still_files_gets_a_reviewed_copy_of_every_file_showing_the_follicle(
    tmp_path, monkeypatch,
) -> None:
    """A follicle rejected in a sweep stored one file per frame left the SR and SEGs of every
    file showing it (series.named_by), but only the overlay of the file the tables name it by got
    a reviewed copy: the others (4 of the 5 rewritten on the seed-3 study) still showed it
    outlined, unmarked, in the report. Each such file's copy now marks it, naming the follicle
    decided, and says the ovary-visit's count after the review (only the named file's did)."""
    import pandas as pd
    from test_series import three_frames  # tests/ is on sys.path

    from follicle_seg.report import reviewed
    from follicle_seg.report.overlay import layout_for
    from follicle_seg.report.reviewed import reviewed_name, write_reviewed
    from follicle_seg.review import Review
    from follicle_seg.visits import build_tables

    frames = three_frames()  # follicle A on s1, s2, s3, largest (named) on s2, its follicle 1
    layout = layout_for(frames[0].record)
    names = [f"P1_20260105_L_{r.record.sop_instance_uid}_f000.png" for r in frames]
    for name in names:
        Image.new("RGB", (layout.canvas_width, layout.top + layout.height + 44), (24, 24, 24)).save(tmp_path / name)
    index = pd.DataFrame({"sop_instance_uid": ["s1", "s2", "s3"], "frame_index": [0, 0, 0], "file": names})
    a = frames[1].follicles[0]
    (tmp_path / "review.csv").write_text("decision,sop_instance_uid,follicle_id,centroid_row,centroid_col,reviewer\n"
                                         f"not_follicle,s2,1,{a.best.centroid_row},{a.best.centroid_col},AB\n")  # fmt: skip
    review = Review.read(tmp_path / "review.csv")
    bands = {}
    stamped = reviewed._stamped
    monkeypatch.setattr(reviewed, "_stamped", lambda source, result, marks, lines, side=None:
                        bands.setdefault(result.record.sop_instance_uid, lines) and stamped(source, result, marks, lines, side))
    out = write_reviewed(tmp_path, index, frames, review, build_tables(frames, review=review))
    assert list(out["file"]) == [reviewed_name(n) for n in names]
    counts = {uid: [line for line in lines if line.startswith("the ovary-visit counts")] for uid, lines in bands.items()}
    assert set(counts) == {"s1", "s2", "s3"}
    assert all(len(c) == 1 and c[0].startswith("the ovary-visit counts 2 after the review (3 as analysed)")
               for c in counts.values()), counts  # fmt: skip
    assert counts["s1"][0].endswith("this image giving it") and counts["s3"][0].endswith("image ...s1 giving it")
    from follicle_seg.report.reviewed import _marks
    from follicle_seg.series import named_in_sweeps

    named = named_in_sweeps(frames)
    assert [text for _, _, text in _marks(frames[0], review, named)] == ["1: not a follicle (AB), as follicle 1 of image ...s2"]
    assert [text for _, _, text in _marks(frames[1], review, named)] == ["1: not a follicle (AB)"]


@pytest.mark.parametrize("decided", ["follicle", "not_follicle"])
def test_a_reviewers_mark_covers_no_label_of_the_overlay(tmp_path, decided: str) -> None:
    """The ring (and the cross) went round the centroid at half the longest diameter: beside a
    follicle longer than wide it ran through the label the overlay had put next to it (the demo's
    accepted ``2? 16.5 mm (18.4 x 14.7)`` read ``?? 16.5 mm``). The mark now keeps to the
    follicle's box and 3 pixels round it, where the overlay places no label, under the candidate's
    dashed outline."""
    from test_overlay import REGION, _ellipse, _record  # tests/ is on sys.path

    from follicle_seg.report.overlay import UNSURE_COLOUR, layout_for, render_overlay
    from follicle_seg.report.reviewed import ACCEPTED, REJECTED, _stamped
    from follicle_seg.tracking import KIND_UNSURE
    from follicle_seg.types import Follicle, ImageResult, Section

    record = _record(0.1)
    shape = record.region_shape
    grey = np.random.default_rng(2).integers(60, 140, shape).astype(np.uint8)
    mask = _ellipse(shape, 80, 100, 30, 12)  # twice and a half as tall as wide
    grey[mask] = 10
    rows, cols = np.nonzero(mask)
    section = Section(0, rows.mean() + REGION[1], cols.mean() + REGION[0], int(mask.sum()), 61.0, 25.0, 6.1, 2.5, None,
                      0.75, (rows.min() + REGION[1], cols.min() + REGION[0], rows.max() + 1 + REGION[1], cols.max() + 1 + REGION[0]))  # fmt: skip
    candidate = Follicle(1, record.sop_instance_uid, section, 1, None, None, KIND_UNSURE)
    analysed = render_overlay(grey, ovary_mask=None, follicle_ids=np.zeros(shape, np.int32), follicles=[],
                              record=record, frame_index=0, patient_label="P", unsure=[candidate],
                              unsure_ids=np.where(mask, 1, 0).astype(np.int32))  # fmt: skip
    source = tmp_path / "a_f000.png"
    Image.fromarray(analysed).save(source)
    result = ImageResult(record, record.path, "ok", unsure=(candidate,))
    colour = ACCEPTED if decided == "follicle" else REJECTED
    stamped = np.asarray(_stamped(source, result, [(candidate, colour, "1?: a follicle (AB)")], ["a line"]))
    layout = layout_for(record)
    area = slice(layout.top, layout.top + layout.height), slice(0, layout.width)
    white, _ = ndimage.label((analysed[area] == 255).all(axis=2))  # the label's box (the image is 10-140 grey)
    boxes = ndimage.find_objects(white)
    assert boxes
    changed = (stamped[: analysed.shape[0]] != analysed).any(axis=2)[area]
    assert changed.sum() > 100  # the mark is drawn
    for box in boxes:  # and covers no label (its box and the black line round it)
        around = tuple(slice(max(0, s.start - 1), s.stop + 1) for s in box)
        assert not changed[around].any()
    dashes = (analysed == UNSURE_COLOUR).all(axis=2)  # nor the candidate's outline, drawn over it
    assert dashes.sum() > 50 and (stamped[: analysed.shape[0]][dashes] == analysed[dashes]).all()


def _shape(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float, turn: float) -> np.ndarray:
    """An ellipse turned by ``turn`` radians."""
    y, x = np.ogrid[: shape[0], : shape[1]]
    u = (y - cy) * np.cos(turn) + (x - cx) * np.sin(turn)
    v = (x - cx) * np.cos(turn) - (y - cy) * np.sin(turn)
    return (u / ry) ** 2 + (v / rx) ** 2 <= 1


@pytest.mark.parametrize("decided", ["follicle", "not_follicle"])
@pytest.mark.parametrize("shapes", [
    [(49.7, 125.5, 25.8, 22.0, 2.948)],  # at the image's right edge: its label, beside it, pushed back 3 px by the canvas's
    [(80.0, 43.7, 8.8, 8.5, 0.156), (76.6, 47.0, 7.9, 23.5, 1.131)],  # 1's label in the corner of 2's box
], ids=["own label at the edge", "another's label in the box"])  # fmt: skip
def test_a_reviewers_mark_passes_under_every_label(tmp_path, shapes, decided: str) -> None:
    """The mark keeps to the box and 3 pixels round it, but a label may lie there: its own, pushed
    against the canvas's edge, or another follicle's, in the empty corner of a slanting follicle's
    box (found drawing marks on random follicles). The labels stay over the mark."""
    from test_overlay import REGION, _record  # tests/ is on sys.path

    from follicle_seg.report.overlay import render_overlay, layout_for
    from follicle_seg.report.reviewed import ACCEPTED, REJECTED, _stamped
    from follicle_seg.types import Follicle, ImageResult, Section

    record = _record(0.2)
    shape = record.region_shape
    grey = np.full(shape, 100, np.uint8)
    ids = np.zeros(shape, np.int32)
    follicles = []
    for k, params in enumerate(shapes, start=1):
        mask = _shape(shape, *params) & (ids == 0)
        ids[mask], grey[mask] = k, 10
        rows, cols = np.nonzero(mask)
        section = Section(0, rows.mean() + REGION[1], cols.mean() + REGION[0], int(mask.sum()), 40.0, 30.0, 8.0, 6.0,
                          None, 0.9, (rows.min() + REGION[1], cols.min() + REGION[0], rows.max() + 1 + REGION[1],
                                      cols.max() + 1 + REGION[0]))  # fmt: skip
        follicles.append(Follicle(k, record.sop_instance_uid, section, 1, None, None))
    analysed = render_overlay(grey, ovary_mask=None, follicle_ids=ids, follicles=follicles, record=record, frame_index=0,
                              patient_label="P")  # fmt: skip
    source = tmp_path / "a_f000.png"
    Image.fromarray(analysed).save(source)
    result = ImageResult(record, record.path, "ok", follicles=tuple(follicles))
    colour = ACCEPTED if decided == "follicle" else REJECTED
    stamped = np.asarray(_stamped(source, result, [(follicles[-1], colour, "a line")], ["a line"]))[: analysed.shape[0]]
    layout = layout_for(record)
    area = slice(layout.top, layout.top + layout.height), slice(0, layout.canvas_width)
    white, _ = ndimage.label((analysed[area] == 255).all(axis=2))
    boxes = [b for b in ndimage.find_objects(white) if b[1].stop - b[1].start > 40]  # the labels (the image is grey)
    assert len(boxes) == len(shapes)
    changed = (stamped != analysed).any(axis=2)[area]
    assert changed.sum() > 100  # the mark is drawn
    for box in boxes:  # under every label (its box and the black line round it)
        assert not changed[tuple(slice(s.start - 1, s.stop + 1) for s in box)].any()
