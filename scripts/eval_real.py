"""Score a bundle on real TVUS screen captures with expert ovary outlines (validation only).

Expects DIR/images/NAME.jpg (.jpeg, .png) and DIR/masks/NAME.png (non-zero = ovary incl.
follicles), e.g. ../shared/real_val/mmotu_ovary_normal; an image without a mask, a file that does
not load or a mask of another size is left out and listed (stderr and the summary's ``skipped``). The images carry no calibration: the scan area is found
automatically (``follicle_seg.io.region.find_scan_area``) and read as uncalibrated frames are: at
the depths of ``infer.UNCALIBRATED_DEPTHS_MM``, the most confident reading kept (``--depths 70``
reads each once, at the assumed depth). Labels come from the pipeline's rule
(``instances.labels_from_probs``: argmax, then the one ovary region scoring best (weighted to the
centre line; one the capture's burned-in calipers touch first, or the ellipse of their two
crossing diameters, ``infer.calipers``) with its
convex hull filled; ``--no-hull`` leaves the hull out, ``--argmax-only``
scores the raw argmax). Reports ovary Dice (median, quartiles) and follicles per image found
outside the expert outline (an instance with most of its pixels outside it), all of them and those
confident enough to be reported (mean follicle probability >= the pipeline's
``tracking.MIN_FOLLICLE_SCORE``), plus OOD flags, a breakdown by the expert ovary's share of
the scan area, and the follicles found per score band (below 0.60 dropped, 0.60-0.90 an unsure
candidate, 0.90 or more reported) with how many lie inside the outline (``follicles_by_score``;
each image's ``follicle_scores``). The follicles the pipeline would report (``measure.measure_frame`` on the scan
area, uncalibrated: pixels; counted and confident) are checked for the review flags a follicle
raises (``tracking.follicle_raises``: at the scan edge, elongated, notched; the dent measured past
the capture's burned-in graphics as the pipeline finds them, ``io.marks.graphics_pixels``: its
pixels in colour, as ingestion finds them in a colour file, ``io.grey.colour_mask``, its yellow
calipers and dotted lines, and the caliper marks on its grey pixels): each image's
``reported_follicles``, ``follicle_flags`` (how many raise each) and ``flagged_follicles`` (their
boxes, dent and width in pixels, for a look at them), and in the summary the images with each
flag of those with a reported follicle. ``--against OTHER.json`` (an earlier ``--json`` of this script, e.g. the shipped
network's) adds a paired comparison on the same images. Never train on these images, never commit
them or their overlays.

Example
-------
    .venv/bin/python scripts/eval_real.py ../shared/real_val/mmotu_ovary_normal --json runs/real_val.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from follicle_seg.instances import follicle_instances, labels_from_probs
from follicle_seg.io.grey import colour_mask
from follicle_seg.io.marks import graphics_pixels
from follicle_seg.io.region import find_scan_area
from follicle_seg.measure import measure_frame, stored_score
from follicle_seg.model.infer import UNCALIBRATED_DEPTHS_MM, Segmenter, calipers
from follicle_seg.model.preprocess import fan_mask, scan_area
from follicle_seg.model.train import dice
from follicle_seg.tracking import FOLLICLE_FLAGS, LOW_CONFIDENCE_SCORE, MIN_FOLLICLE_SCORE, follicle_raises, is_confident, is_counted
from follicle_seg.types import FOLLICLE, OVARY, UNCALIBRATED, FrameSegmentation, ImageRecord, Section


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def annotated_regions(
    folder: Path, skipped: list[str] | None = None,
) -> Iterator[tuple[str, np.ndarray, np.ndarray, tuple[int, int, int, int], np.ndarray]]:
    """``(name, grey image, ovary outline, scan area (c0, r0, c1, r1), pixels in colour)`` for
    every ``images/NAME.jpg`` (``.jpeg``, ``.png``, any case) with a ``masks/NAME.png`` (non-zero =
    ovary, follicles included), sorted by name. The pixels in colour (``io.grey.colour_mask`` of
    its RGB: burned-in calipers, dotted lines) are those ingestion finds in a colour file.

    An image without a mask, a file that does not load, or a mask of another size is left out
    with a one-line note on stderr naming the file and the reason (also appended to ``skipped``):
    one bad file must not stop the others from being scored, nor be lost in silence.
    """
    images = (folder / "images").glob("*")
    for image in sorted(p for p in images if p.suffix.lower() in IMAGE_SUFFIXES):
        mask = folder / "masks" / f"{image.stem}.png"
        try:
            if not mask.is_file():
                raise ValueError(f"no {mask}")
            picture = Image.open(image)
            grey, rgb = np.asarray(picture.convert("L")), np.asarray(picture.convert("RGB"))
            truth = np.asarray(Image.open(mask).convert("L")) > 0
            if truth.shape != grey.shape:
                raise ValueError(f"{mask} is {truth.shape[1]}x{truth.shape[0]} pixels, the image "
                                 f"{grey.shape[1]}x{grey.shape[0]}")
        except (OSError, ValueError) as exc:  # PIL.UnidentifiedImageError is an OSError
            note = f"{image}: {exc}; left out"
            print(note, file=sys.stderr)
            if skipped is not None:
                skipped.append(note)
            continue
        box = find_scan_area(grey) or (0, 0, grey.shape[1] - 1, grey.shape[0] - 1)
        yield image.stem, grey, truth, box, colour_mask(rgb)


def score_image(seg: Segmenter, name: str, grey: np.ndarray, truth: np.ndarray, box: tuple[int, int, int, int],
                colour: np.ndarray | None = None, keep_one: bool = True, hull: bool = True) -> dict[str, object]:
    """Ovary Dice, follicles outside the outline and flags for one annotated image (``colour``:
    its pixels in colour, for the reported follicles' dents; ``None``: none)."""
    c0, r0, c1, r1 = box
    pixels = grey[r0 : r1 + 1, c0 : c1 + 1]
    fan = fan_mask(pixels)
    scan = scan_area(pixels, fan)
    marks = calipers(pixels, scan)
    probs, flags = seg.predict([(pixels, None, None, fan, marks.area)])[0]
    labels = np.zeros(grey.shape, np.uint8)
    labels[r0 : r1 + 1, c0 : c1 + 1] = labels_from_probs(probs, hull=hull, marked=marks.area, outline=marks.outline) if keep_one else probs.argmax(0)
    follicle_prob = np.zeros(grey.shape, np.float32)
    follicle_prob[r0 : r1 + 1, c0 : c1 + 1] = probs[FOLLICLE]
    scores = follicle_scores(labels, follicle_prob, truth)
    found, outside, confident = outside_counts(scores)
    region = (slice(r0, r1 + 1), slice(c0, c1 + 1))
    graphics = graphics_pixels(grey[region], None if colour is None or not colour.any() else colour[region],
                               labels[region] == FOLLICLE)
    reported = reported_follicles(labels[region], probs, box, scan, graphics)
    return {"name": name, "ovary_dice": dice(labels > 0, truth), "follicles": found,
            "follicles_outside": outside, "confident_follicles_outside": confident,
            "follicle_scores": [[score, inside] for score, inside in scores],
            "flags": list(flags), "region": list(box),
            "ovary_share": float(truth[r0 : r1 + 1, c0 : c1 + 1].mean()),
            **follicle_flags(reported)}


def reported_follicles(labels: np.ndarray, probs: np.ndarray, box: tuple[int, int, int, int],
                       scan: np.ndarray, graphics: np.ndarray | None = None) -> list[Section]:
    """The follicles the pipeline would report on one capture's scan area ``box`` (``labels`` and
    ``probs`` on its grid, ``scan`` its lit pixels, ``graphics`` its burned-in graphics or ``None``):
    measured by ``measure.measure_frame`` as an uncalibrated still (pixels; boxes on the capture),
    counted and confident."""
    record = ImageRecord("", "", "", "US", "", "", "", "", "", "U", "none", 1, box[3] + 1, box[2] + 1, "", "",
                         UNCALIBRATED, box, "auto")
    seg = FrameSegmentation(record, 0, labels, probs[FOLLICLE], probs[OVARY] + probs[FOLLICLE], scan=scan,
                            graphics=graphics)
    return [s for s in measure_frame(seg).follicles if is_counted(s) and is_confident(s)]


def follicle_flags(reported: list[Section]) -> dict[str, object]:
    """How many of an image's reported follicles raise each of ``tracking.FOLLICLE_FLAGS``, and
    those that raise one: their flags, box ``(r0, c0, r1, c1)``, dent and width (d2) in pixels."""
    raised = [[f for f in FOLLICLE_FLAGS if follicle_raises(f, s)] for s in reported]
    return {"reported_follicles": len(reported),
            "follicle_flags": {f: sum(f in r for r in raised) for f in FOLLICLE_FLAGS},
            "flagged_follicles": [{"flags": r, "bbox": list(s.bbox), "dent_px": round(s.dent_px, 2),
                                   "d2_px": round(s.d2_px, 2)} for s, r in zip(reported, raised) if r]}


def follicle_scores(labels: np.ndarray, follicle_prob: np.ndarray, truth: np.ndarray) -> list[tuple[float, bool]]:
    """``(score, inside)`` of each follicle instance of ``labels`` (the pipeline's rule, sizes in
    pixels): its mean follicle probability as the pipeline stores it (``measure.stored_score``)
    and whether most of its pixels lie inside the expert outline ``truth``."""
    instances = follicle_instances(labels, None, spacing_row_mm=None, spacing_col_mm=None)
    return [(stored_score(float(follicle_prob[instances == k].mean())), bool(truth[instances == k].mean() >= 0.5))
            for k in np.unique(instances[instances > 0])]


def outside_counts(scores: list[tuple[float, bool]]) -> tuple[int, int, int]:
    """Follicles, those outside the outline, and those of them confident enough to be reported
    (score >= ``tracking.MIN_FOLLICLE_SCORE``), from :func:`follicle_scores`.

    >>> outside_counts([(0.95, True), (0.92, False), (0.7, False)])
    (3, 2, 1)
    """
    outside = [score for score, inside in scores if not inside]
    return len(scores), len(outside), sum(score >= MIN_FOLLICLE_SCORE for score in outside)


def follicles_outside(labels: np.ndarray, follicle_prob: np.ndarray, truth: np.ndarray) -> tuple[int, int, int]:
    """:func:`outside_counts` of :func:`follicle_scores`."""
    return outside_counts(follicle_scores(labels, follicle_prob, truth))


SCORE_BANDS = ((0.0, LOW_CONFIDENCE_SCORE), (LOW_CONFIDENCE_SCORE, MIN_FOLLICLE_SCORE), (MIN_FOLLICLE_SCORE, 1.01))
"""Follicle scores as the pipeline treats them: dropped, an unsure candidate, reported."""


def by_score(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Follicles found and of them inside the expert outline per :data:`SCORE_BANDS` band (the
    share inside: what the outline says of their precision; every band listed).

    >>> rows = [{"follicle_scores": [[0.95, True], [0.7, False], [0.65, True]]}, {"follicle_scores": [[0.3, False]]}]
    >>> [(b["score"], b["follicles"], b["inside"]) for b in by_score(rows)]
    [('0.00-0.60', 1, 0), ('0.60-0.90', 2, 1), ('0.90-1.00', 1, 1)]
    """
    scores = [(float(s), bool(i)) for r in rows for s, i in r["follicle_scores"]]
    out = []
    for lo, hi in SCORE_BANDS:
        band = [inside for s, inside in scores if lo <= s < hi]
        out.append({"score": f"{lo:.2f}-{min(hi, 1.0):.2f}", "follicles": len(band), "inside": int(sum(band))})
    return out


OVARY_SHARE_CLASSES = ((0.0, 0.02), (0.02, 0.04), (0.04, 0.08), (0.08, 1.0))
"""Expert ovary area as a share of the scan area, for the breakdown by ovary size."""


def by_ovary_size(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Images, mean ovary Dice and images missed (Dice < 0.1) per :data:`OVARY_SHARE_CLASSES`
    class (a class with no image is left out).

    Examples
    --------
    >>> rows = [{"ovary_share": 0.01, "ovary_dice": 0.0}, {"ovary_share": 0.05, "ovary_dice": 0.8},
    ...         {"ovary_share": 0.07, "ovary_dice": 0.6}]
    >>> [(c["share"], c["images"], round(c["ovary_dice_mean"], 2), c["missed"]) for c in by_ovary_size(rows)]
    [('0.00-0.02', 1, 0.0, 1), ('0.04-0.08', 2, 0.7, 0)]
    """
    out = []
    for lo, hi in OVARY_SHARE_CLASSES:
        d = [float(r["ovary_dice"]) for r in rows if lo <= float(r["ovary_share"]) < hi]
        if d:
            out.append({"share": f"{lo:.2f}-{hi:.2f}", "images": len(d), "ovary_dice_mean": float(np.mean(d)),
                        "missed": int(sum(x < 0.1 for x in d))})
    return out


def _median(values: list) -> float | None:
    return float(np.median(values)) if values else None


def summarise(rows: list[dict[str, object]]) -> dict[str, object]:
    """Ovary Dice distribution, follicles outside the outline and flags over scored images."""
    d = np.array([r["ovary_dice"] for r in rows])
    outside = np.array([r["follicles_outside"] for r in rows])
    flags = Counter(f for r in rows for f in r["flags"])
    return {
        "n_images": len(rows),
        "ovary_dice_median": float(np.median(d)),
        "ovary_dice_q1": float(np.percentile(d, 25)),
        "ovary_dice_q3": float(np.percentile(d, 75)),
        "ovary_dice_mean": float(d.mean()),
        "share_dice_ge_0_5": float(np.mean(d >= 0.5)),
        "follicles_outside_per_image": float(outside.mean()),
        "confident_follicles_outside_per_image": float(np.mean([r["confident_follicles_outside"] for r in rows])),
        "follicles_per_image": float(np.mean([r["follicles"] for r in rows])),
        "flagged_images": int(sum(bool(r["flags"]) for r in rows)),
        "ovary_dice_median_flagged": _median([r["ovary_dice"] for r in rows if r["flags"]]),
        "ovary_dice_median_unflagged": _median([r["ovary_dice"] for r in rows if not r["flags"]]),
        "flags": dict(flags),
        "by_ovary_size": by_ovary_size(rows),
        "follicles_by_score": by_score(rows),
        **images_with_follicle_flags(rows),
    }


def images_with_follicle_flags(rows: list[dict[str, object]]) -> dict[str, object]:
    """Images with a reported follicle, and of them those with a follicle raising each flag.

    >>> rows = [{"reported_follicles": n, "follicle_flags": {"follicle notched": k}} for n, k in ((0, 0), (3, 2), (1, 0))]
    >>> images_with_follicle_flags(rows)
    {'images_with_reported_follicle': 2, 'images_with_follicle_flag': {'follicle notched': 1}}
    """
    with_one = [r for r in rows if r["reported_follicles"]]
    flags = rows[0]["follicle_flags"] if rows else {}
    return {"images_with_reported_follicle": len(with_one),
            "images_with_follicle_flag": {f: sum(bool(r["follicle_flags"][f]) for r in with_one) for f in flags}}


def paired(rows: list[dict[str, object]], other: list[dict[str, object]], margin: float = 0.05) -> dict[str, object]:
    """Ovary Dice of ``rows`` against ``other`` on the images both scored (matched by name): mean
    difference, images better / worse by more than ``margin``, and the two-sided Wilcoxon
    signed-rank p-value (None when every difference is 0)."""
    from scipy.stats import wilcoxon

    theirs = {r["name"]: float(r["ovary_dice"]) for r in other}
    d = np.array([float(r["ovary_dice"]) - theirs[r["name"]] for r in rows if r["name"] in theirs])
    if d.size == 0:
        raise ValueError("no image scored in both runs")
    p = float(wilcoxon(d).pvalue) if np.any(d != 0) else None
    return {"n_images": int(d.size), "mean_difference": float(d.mean()), "better": int((d > margin).sum()),
            "worse": int((d < -margin).sum()), "margin": margin, "wilcoxon_p": p}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--weights", type=Path, default=None, help="models/model.pt of a bundle (default: shipped)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--depths", type=float, nargs="+", default=None,
                        help="depths (mm) to read each capture at (default: infer.UNCALIBRATED_DEPTHS_MM; 70 reads it once)")
    parser.add_argument("--argmax-only", action="store_true",
                        help="score the raw argmax (every ovary candidate), as before one ovary was kept")
    parser.add_argument("--no-hull", action="store_true",
                        help="keep one ovary region but do not fill its convex hull")
    parser.add_argument("--against", type=Path, default=None,
                        help="an earlier --json of this script: paired ovary Dice comparison on the same images")
    args = parser.parse_args(argv)
    seg = Segmenter(args.weights, device=args.device, uncalibrated_depths_mm=args.depths or UNCALIBRATED_DEPTHS_MM)
    skipped: list[str] = []
    rows = [score_image(seg, *item, keep_one=not args.argmax_only, hull=not args.no_hull)
            for item in annotated_regions(args.folder, skipped)]
    if not rows:
        parser.error(f"no images/*.jpg (.jpeg, .png) with masks/*.png under {args.folder}")
    summary = {**summarise(rows), "skipped": skipped}
    if args.against is not None:
        summary["against"] = {"json": str(args.against),
                              **paired(rows, json.loads(args.against.read_text(encoding="utf-8"))["images"])}
    return report(summary, rows, args.json)


def report(summary: dict[str, object], rows: list[dict[str, object]], path: Path | None) -> int:
    """Write ``{"summary", "images"}`` to ``path`` (when given), then print the summary; 0."""
    if path is not None:  # before printing: a closed stdout (``| head``) must not lose the file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"summary": summary, "images": rows}, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
