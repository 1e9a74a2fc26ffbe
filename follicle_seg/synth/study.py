"""Study mode: a synthetic trial written as ultrasound DICOM plus its ground truth.

Layout of ``OUT``::

    dicom/<patient>/visitNN/<side>_sweep.dcm, <side>_still<k>.dcm
    truth/masks/<sop_instance_uid>_<frame>.png   label maps on the full source-frame grid
    truth/follicles.csv                          one row per follicle per image it shows in
    truth/ovaries.csv                            one row per patient x visit x side
    truth/images.csv                             sop_instance_uid -> image_id, image_kind
    cohort.csv                                   patient_id, group, baseline_date

Per ovary-visit: one US Multi-frame sweep across the ovary (frame spacing 0.5-1 mm, written as
SpacingBetweenSlices; or, with ``sweep_files="frames"``, one US Image file per frame,
``<side>_sweep_NNN.dcm``) and ``stills_per_ovary`` US Image stills through its centre. An
*image* of the truth is a still or a whole sweep: ``image_id`` is its (first) file's SOP
Instance UID, and a truth follicle row names the file (``sop_instance_uid``) and frame where the
follicle's section is largest. Each scan varies depth, fan angle, mm/pixel, gain, dynamic range,
speckle, canvas size, tint, photometric interpretation, transfer syntax, and whether laterality is
a tag or only a description keyword.

Truth follows SPEC: a follicle is counted when the mean diameter of its largest section in an
image is >= 2.0 mm; an ovary-visit's ``follicle_count`` is the largest per-image count (never a
sum), and ``afc``, the size classes, ``max_follicle_mm`` and ``follicle_sizes_mm`` come from that
image (``count_sop_instance_uid``), as do ``ovary_d1_mm`` and ``ovary_d2_mm``, the axes of the
ovary's largest section in it.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from pydicom.uid import (
    JPEG2000Lossless,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from follicle_seg.io.write import SUPPORTED, write_us_dicom
from follicle_seg.synth.anatomy import Ovary, Scene, Shape, ovary_radius, place_ovary, scene, surroundings
from follicle_seg.synth.canvas import annotate, compose_canvas
from follicle_seg.synth.geometry import EllipseCut, Quadric, cut, extent_along
from follicle_seg.synth.render import Probe, ScanSetup, label_map, prepare_scan, render_plane
from follicle_seg.synth.styles import STYLE_FAMILIES, STYLES, StyleFamily, sample_params
from follicle_seg.synth.trial import GROUPS, baseline_date, follicle_histories, visit_days

SIZE_BINS = (("count_2_5", 2.0, 5.0), ("count_5_10", 5.0, 10.0), ("count_10_14", 10.0, 14.0),
             ("count_14_18", 14.0, 18.0), ("count_ge18", 18.0, np.inf))
COUNT_MIN_MM = 2.0
AFC_RANGE_MM = (2.0, 10.0)

#: (photometric, transfer syntax) pairs a scan is stored with (those the writer supports).
ENCODINGS: tuple[tuple[str, str], ...] = tuple(
    (p, t)
    for p, t in (
        ("MONOCHROME2", ExplicitVRLittleEndian),
        ("MONOCHROME2", JPEGBaseline8Bit),
        ("RGB", ExplicitVRLittleEndian),
        ("YBR_FULL_422", JPEGBaseline8Bit),
        ("RGB", RLELossless),
        ("MONOCHROME2", JPEGLSLossless),
        ("RGB", JPEG2000Lossless),
        ("YBR_FULL", ExplicitVRLittleEndian),
        ("PALETTE COLOR", ExplicitVRLittleEndian),
        ("MONOCHROME1", RLELossless),
    )
    if p in SUPPORTED.get(t, ())
)
_SIDE_WORDS = {
    "L": ("LT OVARY", "L OV", "LEFT OVARY", "Ovary left"),
    "R": ("RT OVARY", "R OV", "RIGHT OVARY", "Ovary right"),
}


@dataclass(frozen=True)
class StudyTruth:
    """What :func:`write_study` wrote: the truth tables (also on disk) and the DICOM files."""

    out: Path
    cohort: pd.DataFrame
    ovaries: pd.DataFrame
    follicles: pd.DataFrame
    files: tuple[Path, ...]


@dataclass(frozen=True, eq=False)
class _Image:
    """One written image (a still, a cine, or a sweep stored one file per frame) and what it shows."""

    frames: tuple[tuple[Path, str, int], ...]  # (file, SOP Instance UID, frame in the file) per frame
    kind: str  # "sweep" | "still"
    planes: tuple[float, ...]  # y0 of each frame
    setup: ScanSetup
    region_origin: tuple[int, int]  # (row, col) of the region's pixel (0, 0) on the canvas
    canvas_shape: tuple[int, int]  # (rows, columns) of the stored frames

    @property
    def sop_instance_uid(self) -> str:
        """The first frame's file (the image's one file unless a sweep is stored frame by frame)."""
        return self.frames[0][1]

    @property
    def paths(self) -> list[Path]:
        return list(dict.fromkeys(path for path, _, _ in self.frames))


def _uid(key: str, *parts: object) -> str:
    """A UID of the study's ``key`` (its seed and the settings that change its files) and ``parts``:
    the same study written again has the same UIDs, another one (other frames, visits, styles)
    none of them, so a PACS given both keeps both."""
    return str(generate_uid(entropy_srcs=["follicle_seg.synth", key, *map(str, parts)]))


def _translated(ov: Ovary, offset: np.ndarray) -> Ovary:
    def move(q: Quadric) -> Quadric:
        return Quadric(q.centre + offset, q.matrix)

    shapes = tuple(Shape(s.material, s.label, move(s.quadric)) for s in ov.shapes)
    return Ovary(shapes, move(ov.body), tuple(move(f) for f in ov.follicles))


def _ovary_scene(rng: np.random.Generator, length: float, diameters: list[float]) -> tuple[Scene, Probe, float]:
    """Scene of one ovary-visit, the probe that frames it, and the ovary's elevational half-extent."""
    ov = place_ovary(rng, np.zeros(3), length, diameters, capsule_mm=float(rng.uniform(0.4, 1.0)), tilt=0.2)
    radius = ovary_radius(ov.body)
    depth = float(np.clip(2 * radius / rng.uniform(0.25, 0.5), 2 * radius + 16.0, 110.0))
    probe = Probe(radius_mm=float(rng.uniform(3.0, 9.0)), fan_deg=float(rng.uniform(120.0, 160.0)), depth_mm=depth)
    z = float(rng.uniform(radius + 6.0, depth - radius - 6.0))
    x = float(np.tan(rng.uniform(-0.35, 0.35) * probe.half_angle) * (z + probe.radius_mm - radius))
    ov = _translated(ov, np.array([x, 0.0, z]))
    around = surroundings(rng, ov.body.centre, radius, busy=float(rng.uniform(0.4, 1.3)))
    return scene(ov, around), probe, extent_along(ov.body, 1)


def _to_canvas_frames(
    greys: list[np.ndarray], rng: np.random.Generator, photometric: str, setup: ScanSetup, header: list[str]
) -> tuple[np.ndarray, tuple[int, int]]:
    """Frames on a display canvas (N, H, W) or (N, H, W, 3) and the region's origin (row, col)."""
    colour = photometric in ("RGB", "YBR_FULL", "YBR_FULL_422")
    tint = np.array(setup.params.tint if colour else (1.0, 1.0, 1.0), np.float32)
    layout_seed = int(rng.integers(2**32))  # the same canvas layout for every frame of a file
    canvases = []
    origin = (0, 0)
    for g in greys:
        rgb = np.clip(g[..., None].astype(np.float32) * tint, 0, 255).astype(np.uint8)
        c = compose_canvas(
            rgb, np.random.default_rng(layout_seed), header=header,
            depth_mm=setup.probe.depth_mm, spacing_mm=setup.grid.spacing_mm,
        )
        pix = c.pixels if c.pixels.shape[1] % 2 == 0 else np.pad(c.pixels, ((0, 0), (0, 1), (0, 0)))
        canvases.append(pix if colour else pix[..., 0])
        origin = (c.region[1], c.region[0])
    return np.stack(canvases), origin


def _write_image(
    path: Path, greys: list[np.ndarray], planes: list[float], setup: ScanSetup, rng: np.random.Generator, *,
    meta: dict[str, str], frame_spacing_mm: float | None, one_file_per_frame: bool = False,
) -> _Image:
    """Write one image: a still, a cine, or (``one_file_per_frame``) a sweep as single-frame files
    ``<stem>_NNN.dcm`` of one series, InstanceNumber 1..N, acquired a frame time apart."""
    photometric, syntax = ENCODINGS[int(rng.integers(len(ENCODINGS)))]
    header = [str(meta["header"]), f"TV {rng.uniform(5, 9):.1f}MHz  D {setup.probe.depth_mm / 10:.1f}cm",
              f"Gn {int(rng.integers(30, 70))}  DR {int(setup.params.dynamic_range_db)}"]
    frames, origin = _to_canvas_frames(greys, rng, photometric, setup, header)
    rows, cols = setup.grid.rows, setup.grid.cols
    region = {"min_col": origin[1], "min_row": origin[0], "max_col": origin[1] + cols - 1,
              "max_row": origin[0] + rows - 1, "delta_x_mm": setup.grid.spacing_mm,
              "delta_y_mm": setup.grid.spacing_mm}
    side = str(meta["side"])
    how = rng.choice(["tag", "description", "comments"], p=[0.5, 0.4, 0.1])
    word = str(rng.choice(_SIDE_WORDS[side]))
    kind = "sweep" if len(greys) > 1 else "still"
    frame_time_ms = float(rng.uniform(25.0, 50.0)) if kind == "sweep" else None
    write = partial(
        write_us_dicom,
        patient_id=str(meta["patient_id"]), patient_name=f"SYNTH^PATIENT^{meta['patient_id']}",
        study_uid=str(meta["study_uid"]), study_date=str(meta["study_date"]),
        series_uid=_uid(str(meta["key"]), *path.parts[-3:], "series"),
        series_description=word + (" SWEEP" if kind == "sweep" else "") if how == "description" else f"TVUS {kind.upper()}",
        laterality=side if how == "tag" else None,
        image_comments=word if how == "comments" else None,
        regions=[region], photometric=photometric, transfer_syntax=syntax,
        frame_spacing_mm=frame_spacing_mm,
    )  # fmt: skip
    written = []
    if one_file_per_frame:
        assert frame_time_ms is not None  # one file per frame is written for sweeps only (2+ frames)
        start = datetime.fromisoformat(f"{meta['study_date']}T10:00:00") + timedelta(
            minutes=5 if side == "R" else 0)
        for k in range(len(frames)):
            name = path.with_name(f"{path.stem}_{k + 1:03d}.dcm")
            acquired = (start + timedelta(milliseconds=k * frame_time_ms)).strftime("%Y%m%d%H%M%S.%f")
            uid = write(name, frames[k : k + 1], sop_instance_uid=_uid(str(meta["key"]), *name.parts[-3:], "sop"),
                        instance_number=k + 1, acquired=acquired)  # fmt: skip
            written.append((name, uid, 0))
    else:
        uid = write(path, frames, sop_instance_uid=_uid(str(meta["key"]), *path.parts[-3:], "sop"),
                    frame_time_ms=frame_time_ms)  # fmt: skip
        written = [(path, uid, k) for k in range(len(frames))]
    return _Image(tuple(written), kind, tuple(planes), setup, origin, (frames.shape[1], frames.shape[2]))


def _truth_rows(img: _Image, sc: Scene, base: Mapping[str, object], masks_dir: Path) -> list[dict[str, Any]]:
    """Masks on disk and one row per follicle the image shows (largest section)."""
    r0, c0 = img.region_origin
    for k, y0 in enumerate(img.planes):
        full = np.zeros(img.canvas_shape, np.uint8)
        lab = label_map(sc, y0, img.setup.probe, img.setup.grid)
        full[r0 : r0 + lab.shape[0], c0 : c0 + lab.shape[1]] = lab
        _, sop, index = img.frames[k]
        cv2.imwrite(str(masks_dir / f"{sop}_{index}.png"), full)
    rows = []
    for i, f in enumerate(sc.follicles):
        cuts = [(k, cut(f, y0)) for k, y0 in enumerate(img.planes)]
        seen = [(k, s) for k, s in cuts if s is not None]
        if not seen:
            continue
        k, s = max(seen, key=lambda ks: ks[1].area_mm2)
        row, col = img.setup.grid.to_pixel(s.centre_x_mm, s.centre_z_mm)
        axes = np.sort(2.0 / np.sqrt(np.linalg.eigvalsh(f.matrix)))[::-1]
        _, sop, index = img.frames[k]
        rows.append({
            **base, "sop_instance_uid": sop, "image_id": img.sop_instance_uid, "image_kind": img.kind,
            "follicle_index": i,
            "centre_x_mm": round(float(f.centre[0]), 3), "centre_y_mm": round(float(f.centre[1]), 3),
            "centre_z_mm": round(float(f.centre[2]), 3), "diameter_a_mm": round(float(axes[0]), 3),
            "diameter_b_mm": round(float(axes[1]), 3), "diameter_c_mm": round(float(axes[2]), 3),
            "frame_index": index, "centroid_row": round(r0 + row, 2), "centroid_col": round(c0 + col, 2),
            "d1_mm": round(s.d1_mm, 3), "d2_mm": round(s.d2_mm, 3),
            "mean_diameter_mm": round(s.mean_diameter_mm, 3), "counted": False,
        })
    return rows


def _largest_ovary_section(img: _Image, sc: Scene) -> EllipseCut:
    """The ovary's largest section in an image (every image of an ovary-visit cuts it)."""
    assert sc.ovary is not None  # (_scan_ovary refuses a scene without one)
    sections = [s for s in (cut(sc.ovary, y0) for y0 in img.planes) if s is not None]
    return max(sections, key=lambda s: s.area_mm2)


def ovary_summary(sizes_mm: Sequence[float]) -> dict[str, object]:
    """SPEC's per-ovary figures from the mean diameters (mm) of one image's follicles
    (``max_follicle_mm`` NaN, an empty cell, when none counts)."""
    d = np.sort(np.asarray([s for s in sizes_mm if s >= COUNT_MIN_MM], float))[::-1]
    out: dict[str, object] = {
        "follicle_count": int(d.size),
        "afc": int(np.sum((d >= AFC_RANGE_MM[0]) & (d <= AFC_RANGE_MM[1]))),
    }
    for name, lo, hi in SIZE_BINS:
        out[name] = int(np.sum((d >= lo) & (d < hi)))
    out["max_follicle_mm"] = round(float(d[0]), 2) if d.size else float("nan")  # empty, as in a run's table
    out["follicle_sizes_mm"] = ";".join(f"{v:.1f}" for v in d)
    return out


def write_study(
    out: Path,
    *,
    patients: int = 6,
    visits: int = 4,
    seed: int = 0,
    frames_per_sweep: int = 20,
    stills_per_ovary: int = 1,
    styles: Sequence[str] | None = None,
    sweep_files: str = "cine",
) -> StudyTruth:
    """Write a synthetic longitudinal TVUS trial (DICOM + truth) under ``out``.

    Parameters
    ----------
    out
        Output folder (created). A synthetic study written there before is replaced whole (its
        ``dicom/`` and ``truth/`` removed first: none of its files outlives it); a ``dicom/`` or
        ``truth/`` that is not a synthetic study's is refused (ValueError), never removed.
    patients, visits
        Patients (spread over the low / medium / high dose groups) and visits per patient.
    seed
        Same seed, same bytes.
    frames_per_sweep, stills_per_ovary
        Frames of each ovary's sweep (>= 2) and stills per ovary-visit (>= 0).
    styles
        Style families to draw scanners from (default: all of :data:`STYLES`); each patient is
        scanned on one family, every scan perturbed.
    sweep_files
        ``"cine"``: each sweep one US Multi-frame file; ``"frames"``: one US Image file per frame
        (``<side>_sweep_NNN.dcm``, one series, InstanceNumber 1..N, AcquisitionDateTime a frame
        time apart), as some scanners store a sweep.

    Examples
    --------
    >>> from follicle_seg.synth.study import write_study
    >>> truth = write_study(Path("synth_out"), patients=3, visits=2, frames_per_sweep=8)  # doctest: +SKIP
    >>> truth.ovaries[["patient_id", "laterality", "follicle_count"]].head()  # doctest: +SKIP
    """
    if patients < 1 or visits < 1 or frames_per_sweep < 2 or stills_per_ovary < 0 or seed < 0:
        raise ValueError("Need patients >= 1, visits >= 1, frames_per_sweep >= 2, stills_per_ovary >= 0 and seed >= 0.")
    if sweep_files not in ("cine", "frames"):
        raise ValueError(f"sweep_files must be 'cine' or 'frames', not {sweep_files!r}.")
    names = tuple(styles) if styles else STYLES
    unknown = [s for s in names if s not in STYLE_FAMILIES]
    if unknown:
        raise ValueError(f"Unknown style(s) {', '.join(unknown)}; known styles: {', '.join(STYLES)}.")
    out = Path(out)
    _clear_earlier_study(out)
    key = f"{seed}:{visits}:{frames_per_sweep}:{stills_per_ovary}:{sweep_files}:{','.join(names)}"
    masks_dir = out / "truth" / "masks"
    masks_dir.mkdir(parents=True, exist_ok=True)
    (out / "truth" / "images.csv").write_text(IMAGES_HEADER + "\n", encoding="utf-8")  # first: names it one if cut short
    cohort_rows, ovary_rows, follicle_rows, image_rows, files = [], [], [], [], []
    for p in range(patients):
        prng = np.random.default_rng([seed, p])
        pid = f"P{p + 1:03d}"
        group = GROUPS[p % len(GROUPS)]
        base = baseline_date(prng)
        days = visit_days(prng, visits)
        fam = STYLE_FAMILIES[names[int(prng.integers(len(names)))]]
        lengths = {side: float(prng.uniform(12.0, 24.0)) for side in ("L", "R")}
        histories = {side: follicle_histories(prng, group, days[-1] + 1.0) for side in ("L", "R")}
        cohort_rows.append({"patient_id": pid, "group": group, "baseline_date": base.isoformat()})
        for v, day in enumerate(days):
            study_date = (base + timedelta(days=day)).isoformat()
            study_uid = _uid(key, pid, v, "study")
            folder = out / "dicom" / pid / f"visit{v + 1:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for side in ("L", "R"):
                rng = np.random.default_rng([seed, p, v, 0 if side == "L" else 1])
                diam = [d for d in (h.diameter(day) for h in histories[side]) if d is not None]
                sc, probe, ext_y = _ovary_scene(rng, lengths[side], diam)
                meta = {"patient_id": pid, "study_uid": study_uid, "study_date": study_date, "side": side,
                        "key": key, "header": f"SYNTH US  {study_date}"}
                base_row = {"patient_id": pid, "study_date": study_date, "laterality": side}
                images = _scan_ovary(rng, sc, probe, ext_y, fam, folder, side, meta,
                                     frames_per_sweep, stills_per_ovary, sweep_files == "frames")
                per_image = []
                for img in images:
                    rows = _truth_rows(img, sc, base_row, masks_dir)
                    per_image.append(rows)
                    files.extend(img.paths)
                    image_rows += [{"sop_instance_uid": sop, "image_id": img.sop_instance_uid, "image_kind": img.kind}
                                   for sop in dict.fromkeys(sop for _, sop, _ in img.frames)]  # fmt: skip
                best = max(range(len(images)), key=lambda i: (
                    sum(r["mean_diameter_mm"] >= COUNT_MIN_MM for r in per_image[i]), -i))
                for r in per_image[best]:
                    r["counted"] = bool(r["mean_diameter_mm"] >= COUNT_MIN_MM)
                for rows in per_image:
                    follicle_rows.extend(rows)
                summary = ovary_summary([r["mean_diameter_mm"] for r in per_image[best]])
                section = _largest_ovary_section(images[best], sc)
                ovary_rows.append({
                    **base_row, "group": group, "days_from_baseline": day,
                    "n_images": sum(len(img.paths) for img in images),
                    **summary, "ovary_d1_mm": round(section.d1_mm, 3), "ovary_d2_mm": round(section.d2_mm, 3),
                    "count_sop_instance_uid": images[best].sop_instance_uid,
                    "n_follicles_3d": len(sc.follicles),
                })
    return _write_tables(out, cohort_rows, ovary_rows, follicle_rows, image_rows, files)


def _clear_earlier_study(out: Path) -> None:
    """Remove an earlier synthetic study's ``dicom/`` and ``truth/`` from ``out`` (its
    ``truth/images.csv`` names it one), so that a smaller study written over it does not keep the
    other's files (a run of ``out/dicom`` analysed them, without truth or cohort rows); a ValueError
    when ``out`` (or a folder above it) is a file, or holds a ``dicom/`` or ``truth/`` of something else."""
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"{existing} is a file, not a folder: give a folder for the study.")
    parts = [out / "dicom", out / "truth"]
    if not any(p.exists() for p in parts):
        return
    try:
        ours = (out / "truth" / "images.csv").read_text(encoding="utf-8").startswith(IMAGES_HEADER)
    except (OSError, UnicodeDecodeError):
        ours = False
    if not ours:
        raise ValueError(f"{out} holds a dicom/ or truth/ folder that is not a synthetic study's (no "
                         "truth/images.csv of one): give a new folder.")
    for part in parts:
        if part.is_dir():
            shutil.rmtree(part)


def _scan_ovary(
    rng: np.random.Generator, sc: Scene, probe: Probe, ext_y: float, fam: StyleFamily, folder: Path, side: str,
    meta: dict[str, str], n_frames: int, n_stills: int, sweep_as_frames: bool = False,
) -> list[_Image]:
    """Render and write one ovary-visit: a sweep across the ovary and stills through its centre."""
    if sc.ovary is None:
        raise ValueError("An ovary-visit scene needs an ovary.")
    cy = float(sc.ovary.centre[1])
    params = sample_params(fam, rng)
    rows = int(rng.integers(300, 520))
    spacing = float(np.clip(probe.depth_mm / rows, 0.07, 0.35))
    step = float(np.clip(2.0 * ext_y * 1.15 / (n_frames - 1), 0.5, 1.0))
    planes = [cy + (k - (n_frames - 1) / 2.0) * step for k in range(n_frames)]
    setup = prepare_scan(probe, spacing, params, rng)
    greys = [render_plane(setup, sc, y0, rng)[0] for y0 in planes]
    images = [_write_image(folder / f"{side}_sweep.dcm", greys, planes, setup, rng, meta=meta, frame_spacing_mm=step,
                           one_file_per_frame=sweep_as_frames)]
    for k in range(n_stills):
        y0 = cy + float(rng.uniform(-0.3, 0.3))
        still_setup = prepare_scan(probe, spacing, sample_params(fam, rng), rng)
        grey, _ = render_plane(still_setup, sc, y0, rng)
        if rng.random() < 0.6:
            annotate(grey, sc, y0, still_setup.grid, rng)
        images.append(_write_image(folder / f"{side}_still{k + 1}.dcm", [grey], [y0], still_setup, rng,
                                   meta=meta, frame_spacing_mm=None))
    return images


FOLLICLE_COLUMNS = (
    "patient_id", "study_date", "laterality", "sop_instance_uid", "image_id", "image_kind", "follicle_index",
    "centre_x_mm", "centre_y_mm", "centre_z_mm", "diameter_a_mm", "diameter_b_mm", "diameter_c_mm",
    "frame_index", "centroid_row", "centroid_col", "d1_mm", "d2_mm", "mean_diameter_mm", "counted",
)
OVARY_COLUMNS = (
    "patient_id", "study_date", "laterality", "group", "days_from_baseline", "n_images", "follicle_count",
    "afc", *(name for name, _, _ in SIZE_BINS), "max_follicle_mm", "follicle_sizes_mm", "ovary_d1_mm",
    "ovary_d2_mm", "count_sop_instance_uid", "n_follicles_3d",
)


IMAGES_HEADER = "sop_instance_uid,image_id,image_kind"
"""The header of ``truth/images.csv``: what tells an earlier synthetic study in a folder."""


def _write_tables(
    out: Path, cohort: Sequence[Mapping[str, object]], ovaries: Sequence[Mapping[str, object]],
    follicles: Sequence[Mapping[str, object]], images: Sequence[Mapping[str, object]], files: list[Path],
) -> StudyTruth:
    pd.DataFrame(images, columns=IMAGES_HEADER.split(",")).to_csv(
        out / "truth" / "images.csv", index=False)
    cohort_df = pd.DataFrame(cohort, columns=["patient_id", "group", "baseline_date"])
    ovaries_df = pd.DataFrame(ovaries, columns=list(OVARY_COLUMNS))
    follicles_df = pd.DataFrame(follicles, columns=list(FOLLICLE_COLUMNS))
    cohort_df.to_csv(out / "cohort.csv", index=False)
    ovaries_df.to_csv(out / "truth" / "ovaries.csv", index=False)
    follicles_df.to_csv(out / "truth" / "follicles.csv", index=False)
    return StudyTruth(out, cohort_df, ovaries_df, follicles_df, tuple(files))
