"""Segmentation and follicle-detection metrics against ground truth.

Per frame (one ovary per frame on the synthetic sets):

* Dice of the ovary (ovary including follicles, labels > 0) and of the follicle class, pooled over
  all frames (sum of overlaps over sum of sizes);
* follicle instances from :func:`follicle_seg.instances.follicle_instances` for truth and
  prediction alike, matched one-to-one, greedily by IoU, where a pair matches when IoU >= 0.3 or
  the predicted centroid lies inside the true follicle;
* precision, recall and F1 overall (>= 2 mm, and >= 3 mm, the detection target's) and per size
  class of the tables (SPEC's 2-5, 5-10, 10-14, 14-18, >= 18 mm; truth size for hits and misses,
  predicted size for false follicles);
* per-ovary count of follicles >= 2.0 mm: share exactly right, mean absolute error;
* mean-diameter difference (prediction - truth, mm) of matched follicles: bias and 95 % limits of
  agreement (bias +- 1.96 SD), overall and per size class.

A figure with nothing to rest on is ``None`` (written "-"), never a perfect score: precision when
nothing was found, recall when nothing was true, F1 when neither (0 for a network that found
nothing of what was there), a Dice when neither truth nor prediction holds the class on any
frame (a set of follicle-free POI frames scored 1.0), the bias of no
matched follicle, the limits of agreement of fewer than two (one difference has no spread).

:func:`reported_labels` keeps only the follicles the pipeline would report for a still frame
(mean follicle probability >= :data:`follicle_seg.tracking.MIN_FOLLICLE_SCORE`); the others
become ovary, as an unreported follicle leaves the ovary outline as it was.
:func:`within_true_ovary` scores the network's follicles as if its ovary region were the true
one: it separates the follicle errors of a wrong or missed ovary from those of the follicles
themselves (an error analysis, not a method).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from follicle_seg.instances import follicle_instances
from follicle_seg.measure import measure_mask, stored_score
from follicle_seg.tracking import DIAMETER_DECIMALS, MIN_FOLLICLE_DIAMETER_MM, MIN_FOLLICLE_SCORE, large_enough_mm
from follicle_seg.types import FOLLICLE, OVARY
from follicle_seg.visits import SIZE_CLASSES

MATCH_IOU = 0.3
COUNT_MIN_MM = MIN_FOLLICLE_DIAMETER_MM

Truth = tuple[np.ndarray, np.ndarray, float | None, float | None]
"""``(pixels, labels, spacing_row_mm, spacing_col_mm)`` of one annotated frame."""


def match_instances(pred: np.ndarray, truth: np.ndarray) -> list[tuple[int, int]]:
    """One-to-one matches ``(truth_id, pred_id)`` between two instance maps.

    Candidate pairs overlap; a pair qualifies when IoU >= :data:`MATCH_IOU` or the predicted
    instance's centroid lies inside the true one. Qualifying pairs are taken greedily by IoU.

    Examples
    --------
    >>> t = np.zeros((6, 6), int); t[1:4, 1:4] = 1
    >>> p = np.zeros((6, 6), int); p[2:4, 2:4] = 1; p[5, 5] = 2
    >>> match_instances(p, t)
    [(1, 1)]
    """
    pairs: list[tuple[float, int, int]] = []
    overlap = (pred > 0) & (truth > 0)
    if not overlap.any():
        return []
    pred_ids, pred_sizes = np.unique(pred[pred > 0], return_counts=True)
    truth_ids, truth_sizes = np.unique(truth[truth > 0], return_counts=True)
    psize = dict(zip(pred_ids.tolist(), pred_sizes.tolist()))
    tsize = dict(zip(truth_ids.tolist(), truth_sizes.tolist()))
    keys, inter = np.unique(
        np.stack([truth[overlap], pred[overlap]], axis=1), axis=0, return_counts=True
    )
    for (t_id, p_id), n in zip(keys.tolist(), inter.tolist()):
        iou = n / (tsize[t_id] + psize[p_id] - n)
        rows, cols = np.nonzero(pred == p_id)
        centre_inside = truth[int(round(rows.mean())), int(round(cols.mean()))] == t_id
        if iou >= MATCH_IOU or centre_inside:
            pairs.append((iou, t_id, p_id))
    used_t: set[int] = set()
    used_p: set[int] = set()
    matches = []
    for _, t_id, p_id in sorted(pairs, reverse=True):
        if t_id not in used_t and p_id not in used_p:
            used_t.add(t_id)
            used_p.add(p_id)
            matches.append((t_id, p_id))
    return sorted(matches)


def _diameters(instances: np.ndarray, spacing_row_mm: float, spacing_col_mm: float) -> dict[int, float]:
    out = {}
    for k in np.unique(instances[instances > 0]).tolist():
        section = measure_mask(instances == k, spacing_row_mm, spacing_col_mm)
        out[int(k)] = float(section.mean_diameter_mm or 0.0)
    return out


def reported_labels(
    labels: np.ndarray,
    follicle_prob: np.ndarray,
    spacing_row_mm: float | None,
    spacing_col_mm: float | None,
    min_score: float = MIN_FOLLICLE_SCORE,
) -> np.ndarray:
    """``labels`` with the follicles scoring below ``min_score`` turned into ovary.

    A follicle's score is its mean follicle probability over its instance, stored as the
    pipeline stores a section's (:func:`follicle_seg.measure.stored_score`).

    Examples
    --------
    >>> lab = np.ones((30, 60), np.uint8); lab[10:20, 10:20] = 2; lab[10:20, 40:50] = 2
    >>> prob = np.zeros((30, 60), np.float32); prob[10:20, 10:20] = 0.95; prob[10:20, 40:50] = 0.7
    >>> out = reported_labels(lab, prob, 0.5, 0.5)
    >>> int((out[10:20, 10:20] == 2).all()), int((out[10:20, 40:50] == 1).all())
    (1, 1)
    """
    instances = follicle_instances(labels, follicle_prob, spacing_row_mm=spacing_row_mm, spacing_col_mm=spacing_col_mm)
    out = labels.copy()
    ids = np.arange(1, int(instances.max()) + 1)
    if ids.size:
        scores = np.array([stored_score(float(m)) for m in ndi.mean(follicle_prob, instances, ids)])
        out[np.isin(instances, ids[scores < min_score])] = OVARY
    return out


def within_true_ovary(argmax_labels: np.ndarray, truth_labels: np.ndarray) -> np.ndarray:
    """The network's follicle pixels inside the true ovary, the rest of the true ovary as ovary,
    background elsewhere.

    ``argmax_labels`` is the network's per-pixel class (before one region is kept), so a
    follicle the network draws in an ovary region it did not keep still counts.

    Examples
    --------
    >>> truth = np.zeros((8, 8), np.uint8); truth[2:6, 2:6] = 1; truth[3:5, 3:5] = 2
    >>> net = np.zeros((8, 8), np.uint8); net[3:5, 3:5] = 2; net[0, 0] = 2; net[6:8, 6:8] = 1
    >>> out = within_true_ovary(net, truth)
    >>> int((out == 2).sum()), int((out == 1).sum()), int(out[0, 0]), int(out[7, 7])
    (4, 12, 0, 0)
    """
    inside = truth_labels > 0
    return np.where(inside, np.where(argmax_labels == FOLLICLE, FOLLICLE, OVARY), 0).astype(np.uint8)


@dataclass
class FrameScore:
    """Raw comparison of one frame (kept for pooling)."""

    ovary_inter: int
    ovary_sum: int
    follicle_inter: int
    follicle_sum: int
    hits: list[tuple[float, float]] = field(default_factory=list)  # (truth mm, pred mm)
    misses: list[float] = field(default_factory=list)  # truth mm
    false: list[float] = field(default_factory=list)  # pred mm
    truth_count: int = 0
    pred_count: int = 0


def score_frame(
    pred_labels: np.ndarray,
    truth_labels: np.ndarray,
    spacing_row_mm: float,
    spacing_col_mm: float,
) -> FrameScore:
    """Compare one predicted label map with the truth (same grid, calibrated)."""
    p_inst = follicle_instances(pred_labels, None, spacing_row_mm=spacing_row_mm, spacing_col_mm=spacing_col_mm)
    t_inst = follicle_instances(truth_labels, None, spacing_row_mm=spacing_row_mm, spacing_col_mm=spacing_col_mm)
    p_d = _diameters(p_inst, spacing_row_mm, spacing_col_mm)
    t_d = _diameters(t_inst, spacing_row_mm, spacing_col_mm)
    matches = match_instances(p_inst, t_inst)
    matched_t = {t for t, _ in matches}
    matched_p = {p for _, p in matches}
    p_ov, t_ov = pred_labels > 0, truth_labels > 0
    p_f, t_f = pred_labels == FOLLICLE, truth_labels == FOLLICLE
    return FrameScore(
        ovary_inter=int((p_ov & t_ov).sum()),
        ovary_sum=int(p_ov.sum() + t_ov.sum()),
        follicle_inter=int((p_f & t_f).sum()),
        follicle_sum=int(p_f.sum() + t_f.sum()),
        hits=[(t_d[t], p_d[p]) for t, p in matches],
        misses=[d for t, d in t_d.items() if t not in matched_t],
        false=[d for p, d in p_d.items() if p not in matched_p],
        truth_count=sum(large_enough_mm(d) for d in t_d.values()),
        pred_count=sum(large_enough_mm(d) for d in p_d.values()),
    )


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | int | None]:
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None  # (0 when nothing found of what was there)
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def limits_of_agreement(differences: Sequence[float]) -> dict[str, float | int | None]:
    """Bias (mean difference) and 95 % limits of agreement (bias +- 1.96 SD, ddof 1).

    Examples
    --------
    >>> limits_of_agreement([0.1, 0.3])["loa_high_mm"] > 0.3
    True
    >>> limits_of_agreement([0.3])
    {'n': 1, 'bias_mm': 0.3, 'loa_low_mm': None, 'loa_high_mm': None}
    """
    diff = np.asarray(differences, dtype=float)
    bias = float(diff.mean()) if diff.size else None
    if bias is None or diff.size < 2:
        return {"n": int(diff.size), "bias_mm": bias, "loa_low_mm": None, "loa_high_mm": None}
    sd = float(diff.std(ddof=1))
    return {"n": int(diff.size), "bias_mm": bias, "loa_low_mm": bias - 1.96 * sd, "loa_high_mm": bias + 1.96 * sd}


def _agreement(pairs: Sequence[tuple[float, float]]) -> dict[str, float | int | None]:
    return limits_of_agreement([p - t for t, p in pairs])


def summarise(scores: Sequence[FrameScore]) -> dict[str, Any]:
    """Pool frame scores into the reported metrics (see the module docstring)."""

    def in_range(d: float, lo: float, hi: float) -> bool:  # compared as the tables write it, as counted
        return lo <= round(d, DIAMETER_DECIMALS) < hi

    def detection(lo: float, hi: float) -> dict[str, float | int | None]:
        tp = sum(in_range(t, lo, hi) for s in scores for t, _ in s.hits)
        fn = sum(in_range(t, lo, hi) for s in scores for t in s.misses)
        fp = sum(in_range(p, lo, hi) for s in scores for p in s.false)
        return _prf(tp, fp, fn)

    ov_sum = sum(s.ovary_sum for s in scores)
    f_sum = sum(s.follicle_sum for s in scores)
    count_err = [s.pred_count - s.truth_count for s in scores]
    per_class = {}
    for name, lo, hi, _ in SIZE_CLASSES:
        pairs = [(t, p) for s in scores for t, p in s.hits if in_range(t, lo, hi)]
        per_class[name] = {**detection(lo, hi), **_agreement(pairs)}
    return {
        "n_frames": len(scores),
        "ovary_dice": 2 * sum(s.ovary_inter for s in scores) / ov_sum if ov_sum else None,
        "follicle_dice": 2 * sum(s.follicle_inter for s in scores) / f_sum if f_sum else None,
        "detection": detection(COUNT_MIN_MM, float("inf")),
        "detection_ge3mm": detection(3.0, float("inf")),
        "count_exact": float(np.mean([e == 0 for e in count_err])) if scores else 0.0,
        "count_mae": float(np.mean(np.abs(count_err))) if scores else 0.0,
        "diameter": _agreement([(t, p) for s in scores for t, p in s.hits if large_enough_mm(t)]),
        "per_size_class": per_class,
    }


Segment = Callable[[Sequence[tuple[np.ndarray, float | None, float | None]]], list[np.ndarray]]
"""Maps ``(pixels, spacing_row_mm, spacing_col_mm)`` items to label maps on the same grids."""


def evaluate(segment: Segment, frames: Iterable[Truth], *, batch: int = 8) -> dict[str, Any]:
    """Run a segmenter over annotated, calibrated frames and summarise.

    Parameters
    ----------
    segment
        The method under test (the network or the classical baseline).
    frames
        ``(pixels, labels, spacing_row_mm, spacing_col_mm)``; spacing must be known.
    """
    def one(items: Sequence[Truth]) -> list[tuple[np.ndarray, ...]]:
        return [(m,) for m in segment([(px, sr, sc) for px, _, sr, sc in items])]

    return evaluate_variants(one, frames, ("",), batch=batch)[""]


def evaluate_variants(
    segment: Callable[[Sequence[Truth]], list[tuple[np.ndarray, ...]]],
    frames: Iterable[Truth],
    names: Sequence[str],
    *,
    batch: int = 8,
) -> dict[str, dict[str, Any]]:
    """:func:`evaluate` for a segmenter giving several label maps per frame (one per name, in
    order, e.g. all follicles and the reported ones from one forward pass); a summary per name.

    ``segment`` is handed the whole annotated items, truth included, so that analysis variants
    such as :func:`within_true_ovary` can be built in the same pass; a method under test must
    read only the pixels and spacings."""
    scores: dict[str, list[FrameScore]] = {name: [] for name in names}
    chunk: list[Truth] = []

    def flush() -> None:
        preds = segment(chunk)
        for (_, truth, sr, sc), variants in zip(chunk, preds):
            if sr is None or sc is None:
                raise ValueError("evaluation needs calibrated frames (diameters in mm).")
            for name, pred in zip(names, variants, strict=True):
                scores[name].append(score_frame(pred, truth, sr, sc))
        chunk.clear()

    for item in frames:
        chunk.append(item)
        if len(chunk) == batch:
            flush()
    if chunk:
        flush()
    return {name: summarise(s) for name, s in scores.items()}


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """Side-by-side text table of :func:`summarise` outputs keyed by method name."""
    names = list(results)

    def fmt(v: Any) -> str:
        return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

    def short(v: float | None, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    rows: list[tuple[str, list[Any]]] = [
        ("frames", [r["n_frames"] for r in results.values()]),
        ("ovary Dice", [r["ovary_dice"] for r in results.values()]),
        ("follicle Dice", [r["follicle_dice"] for r in results.values()]),
    ]
    for key, label in (("detection", ">=2 mm"), ("detection_ge3mm", ">=3 mm")):
        for m in ("precision", "recall", "f1"):
            rows.append((f"{label} {m}", [r[key][m] for r in results.values()]))
    rows += [
        ("count exact", [r["count_exact"] for r in results.values()]),
        ("count MAE", [r["count_mae"] for r in results.values()]),
        ("diam. bias mm", [r["diameter"]["bias_mm"] for r in results.values()]),
        ("diam. LoA low", [r["diameter"]["loa_low_mm"] for r in results.values()]),
        ("diam. LoA high", [r["diameter"]["loa_high_mm"] for r in results.values()]),
    ]
    for cls, *_ in SIZE_CLASSES:
        rows.append((f"{cls} mm P/R/n", [
            f"{short(r['per_size_class'][cls]['precision'], '.2f')}/{short(r['per_size_class'][cls]['recall'], '.2f')}/"
            f"{r['per_size_class'][cls]['tp'] + r['per_size_class'][cls]['fn']}"
            for r in results.values()]))
        rows.append((f"{cls} mm LoA", [
            "-" if r["per_size_class"][cls]["bias_mm"] is None else
            f"{short(r['per_size_class'][cls]['bias_mm'], '+.2f')} [{short(r['per_size_class'][cls]['loa_low_mm'], '+.2f')},"
            f"{short(r['per_size_class'][cls]['loa_high_mm'], '+.2f')}]"
            for r in results.values()]))
    width = max(len(n) for n in ["metric", *[r[0] for r in rows]]) + 2
    cols = [max(12, len(n) + 2, *(len(fmt(v)) + 2 for _, vs in rows for v in [vs[i]])) for i, n in enumerate(names)]
    lines = ["metric".ljust(width) + "".join(n.rjust(c) for n, c in zip(names, cols))]
    for label, values in rows:
        lines.append(label.ljust(width) + "".join(fmt(v).rjust(c) for v, c in zip(values, cols)))
    return "\n".join(lines)
