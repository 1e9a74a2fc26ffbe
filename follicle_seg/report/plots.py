"""Matplotlib figures of the HTML report (Agg backend, PNG files, no display needed).

* :func:`plot_group_trends`: per dose group, follicle count, AFC and largest follicle against
  days from baseline (one thin line per patient, the group mean per nominal visit in bold);
* :func:`plot_follicle_tracking`: one patient's follicle-tracking chart, every counted
  follicle's mean diameter per visit and side, with the 10 mm and 18 mm lines.

Inputs are the SPEC tables (``visits.csv``, ``response.csv``, ``follicles.csv``,
``ovaries.csv``) as pandas DataFrames; missing numbers are NaN or ``pd.NA``.
Text from the tables (patient ids, dose groups) is drawn as written, never read as
mathtext: a PatientID ``A$x^2$`` was drawn ``Ax²``, and ``P$\\frac$`` stopped the report.

A figure whose inputs have not changed since it was drawn is not drawn again: each PNG carries a
digest of its inputs, of this module and of matplotlib's version (a text chunk), so a run that
rebuilds the report after a review redraws only the patients whose tables changed.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from PIL import Image  # noqa: E402

from follicle_seg.atomic import atomic_write  # noqa: E402

DPI = 100
TRACKING_LINES_MM = (10.0, 18.0)
SIDE_NAMES = {"L": "left ovary", "R": "right ovary", "U": "side unknown"}
SIDE_COLOURS = {"L": "#1f77b4", "R": "#d62728", "U": "#7f7f7f"}
#: Characters of a dose group's name per line of its row's label: a row is as high as about this
#: many (a cohort's "Arm A: low dose, 1 million cells per kg" ran into the next row's name).
GROUP_LABEL_CHARS = 22
_METRICS = (
    ("follicle_count", "follicle_count_mean", "Follicle count (both ovaries)"),
    ("afc", "afc_mean", "AFC, 2-10 mm (both ovaries)"),
    ("max_follicle_mm", "max_follicle_mm_mean", "Largest follicle (mm; mean of those with one)"),
)


def group_label(group: object) -> str:
    """Display name of a dose group (``"no group"`` when empty or missing)."""
    return str(group) if isinstance(group, str) and group else "no group"


def group_order(visits: pd.DataFrame, response: pd.DataFrame) -> list[str]:
    """Display names of the dose groups in ``response.csv``'s row order (the cohort file's
    order), then any group only ``visits`` has (no dated visit), by name."""
    first = list(dict.fromkeys(group_label(g) for g in response["group"]))
    return first + sorted({group_label(g) for g in visits["group"]} - set(first))


def plot_group_trends(visits: pd.DataFrame, response: pd.DataFrame, path: str | Path) -> Path:
    """Per dose group trend of follicle count, AFC and largest follicle vs days from baseline.

    One row of three panels per group (in :func:`group_order`): a thin line per patient
    (``visits``) and the group mean per nominal visit (``response``) in black.

    Parameters
    ----------
    visits
        ``visits.csv``: one row per patient x visit.
    response
        ``response.csv``: group means per nominal ``week`` (drawn at ``week x 7`` days).
    path
        PNG file to write.

    Returns
    -------
    Path
        ``path``.
    """
    digest = _digest(visits, response)
    if _unchanged(path, digest):
        return Path(path)
    groups = group_order(visits, response)
    rows = max(1, len(groups))
    fig = Figure(figsize=(13, 1.2 + 2.4 * rows), dpi=DPI, layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, 3, sharex=True, sharey="col", squeeze=False))
    visit_group = visits["group"].map(group_label)
    response_group = response["group"].map(group_label)
    for row, group in enumerate(groups):
        colour = plt.get_cmap("tab10")(row % 10)
        mine = visits[visit_group == group]
        means = response[response_group == group].sort_values("week")
        for ax, (column, mean_column, title) in zip(axes[row], _METRICS, strict=True):
            for _, patient in mine.groupby("patient_id", sort=True):
                patient = patient.sort_values("days_from_baseline")
                ax.plot(
                    _floats(patient["days_from_baseline"]),
                    _floats(patient[column]),
                    color=colour,
                    alpha=0.35,
                    linewidth=1,
                    marker=".",
                )
            ax.plot(
                _floats(means["week"]) * 7,
                _floats(means[mean_column]),
                color="black",
                linewidth=2.2,
                marker="o",
                markersize=4,
            )
            ax.grid(alpha=0.3)
            if column != "max_follicle_mm":
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # no "1.5 follicles" ticks
            if row == 0:
                ax.set_title(title)
            if row == rows - 1:
                ax.set_xlabel("days from baseline")
        n = mine["patient_id"].nunique()
        name = textwrap.fill(group, GROUP_LABEL_CHARS)
        axes[row][0].set_ylabel(f"{name}\n({n} patient{'s' if n != 1 else ''})", parse_math=False)
    for ax in axes[0]:  # once every group is drawn (the rows of a column share it): read against zero
        ax.set_ylim(bottom=0)
    return _save(fig, path, digest)


def plot_follicle_tracking(
    follicles: pd.DataFrame, ovaries: pd.DataFrame, path: str | Path, *, title: str
) -> Path:
    """One patient's follicle-tracking chart: counted follicle sizes per visit and side.

    Parameters
    ----------
    follicles
        ``follicles.csv`` rows of the patient; only ``counted`` rows are drawn.
    ovaries
        ``ovaries.csv`` rows of the patient (visits and sides scanned, days from baseline);
        a scanned ovary-visit without follicles is drawn as an open marker at 0 mm.
    path
        PNG file to write.
    title
        Figure title (the pseudonymous patient id and group).

    Returns
    -------
    Path
        ``path``.
    """
    digest = _digest(follicles, ovaries, title)
    if _unchanged(path, digest):
        return Path(path)
    sides = [s for s in ("L", "R", "U") if (ovaries["laterality"] == s).any()] or ["L", "R"]
    fig = Figure(figsize=(6.5 * min(len(sides), 2), 3.9), dpi=DPI, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(sides), sharex=True, sharey=True))
    counted = follicles[follicles["counted"].fillna(False).astype(bool)]
    days = dict(zip(zip(ovaries["study_date"].astype(str), ovaries["laterality"].astype(str)),
                    _floats(ovaries["days_from_baseline"]), strict=True))  # fmt: skip
    top = 20.0
    drawn: set[str] = set()  # what the legend names
    for ax, side in zip(axes, sides, strict=True):
        colour = SIDE_COLOURS[side]
        scanned = ovaries[ovaries["laterality"] == side].sort_values("study_date")
        mine = counted[counted["laterality"] == side]
        x = np.array([days.get((str(d), side), np.nan) for d in mine["study_date"]], float)
        y = _floats(mine["mean_diameter_mm"])
        ax.scatter(x, y, color=colour, s=28, zorder=3)
        for day, size, n in _counts_by_visit(x, y):  # follicles of one size hide behind one dot
            ax.annotate(f"{n}", (day, size), textcoords="offset points", xytext=(0, 6), ha="center",
                        fontsize=7, color=colour)  # fmt: skip
        largest = _largest_by_visit(scanned, x, y)
        if np.isfinite(largest[1]).any():
            for segment_x, segment_y in _line_segments(*largest):
                ax.plot(segment_x, segment_y, color=colour, linewidth=1.2, alpha=0.7)
                drawn.add("line")
            top = max(top, float(np.nanmax(largest[1])) + 2)
        empty = scanned[scanned["follicle_count"].fillna(0).astype(float) == 0]
        drawn |= {"dots"} if np.isfinite(y).any() else set()
        drawn |= {"empty"} if len(empty) else set()
        ax.scatter(
            _floats(empty["days_from_baseline"]),
            np.zeros(len(empty)),
            facecolors="none",
            edgecolors="black",
            s=30,
            zorder=3,
        )
        if _counts_by_visit(x, y):
            ax.text(0.98, 0.02, "numbers: follicles at that visit", transform=ax.transAxes, fontsize=7,
                    ha="right", va="bottom", color="#555555")  # fmt: skip
        uncalibrated = len(mine) - int(np.isfinite(y).sum())
        if uncalibrated:
            ax.text(
                0.02, 0.95, f"{uncalibrated} follicle(s) without mm (uncalibrated)",
                transform=ax.transAxes, fontsize=8, va="top",
            )  # fmt: skip
        for level in TRACKING_LINES_MM:
            ax.axhline(level, color="black", linestyle="--", linewidth=0.8)
            ax.text(1.0, level, f" {level:g} mm", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
        ax.set_title(SIDE_NAMES[side])
        ax.set_xlabel("days from baseline")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean follicle diameter (mm)")
    axes[0].set_ylim(-1, top)
    span = _floats(ovaries["days_from_baseline"])
    if np.isfinite(span).any():
        low, high = float(np.nanmin(span)), float(np.nanmax(span))
        axes[0].set_xlim(low - 3, max(high, low + 14) + 3)
    fig.suptitle(title, fontsize=11, parse_math=False)
    handles = [  # what the chart draws only
        Line2D([], [], color="#444444", marker="o", linestyle="-", label="counted follicle; line: largest, visit to visit")
        if "line" in drawn else Line2D([], [], color="#444444", marker="o", linestyle="", label="counted follicle")
        if "dots" in drawn else None,
        Line2D([], [], color="black", marker="o", markerfacecolor="none", linestyle="", label="ovary without follicle")
        if "empty" in drawn else None,
    ]
    if handles := [h for h in handles if h is not None]:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    return _save(fig, path, digest)


def _counts_by_visit(x: np.ndarray, y: np.ndarray) -> list[tuple[float, float, int]]:
    """(day, largest diameter, how many follicles) of each visit with two or more follicles in mm:
    the number written over its dots, since follicles of about one size are one dot.

    >>> _counts_by_visit(np.array([0.0, 0.0, 14.0]), np.array([7.0, 7.1, 5.0]))
    [(0.0, 7.1, 2)]
    """
    found = np.isfinite(x) & np.isfinite(y)
    out = []
    for day in np.unique(x[found]):
        sizes = y[found & (x == day)]
        if sizes.size > 1:
            out.append((float(day), float(sizes.max()), int(sizes.size)))
    return out


def _largest_by_visit(scanned: pd.DataFrame, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(days, largest diameter) of each scanned ovary-visit of a side, by day: 0 for one without
    follicles (the line drops to its open marker, not across it), NaN (a break in the line) for
    one whose follicles have no mm or that has no day."""
    days = _floats(scanned["days_from_baseline"])
    largest = np.full(len(days), np.nan)
    for i, (day, n) in enumerate(zip(days, scanned["follicle_count"].fillna(0).astype(float))):
        sizes = y[(x == day) & np.isfinite(y)]
        largest[i] = 0.0 if n == 0 else (sizes.max() if sizes.size else np.nan)
    order = np.argsort(days, kind="stable")
    keep = np.isfinite(days[order])
    return days[order][keep], largest[order][keep]


def _line_segments(days: np.ndarray, largest: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The largest-follicle line, piece by piece between consecutive visits that both have a
    follicle in mm: none to or from a visit without follicles (its open circle says so; a line up
    from it read as a follicle grown from 0 mm), none across a visit without mm.

    >>> [(d.tolist(), s.tolist()) for d, s in _line_segments(np.array([0., 14., 28., 42.]), np.array([0., 8., 9., np.nan]))]
    [([14.0, 28.0], [8.0, 9.0])]
    """
    pieces = []
    for i in range(len(days) - 1):
        pair = largest[i : i + 2]
        if np.isfinite(pair).all() and (pair > 0).all():
            pieces.append((days[i : i + 2], pair))
    return pieces


def _floats(series: pd.Series) -> np.ndarray:
    """A numeric column as a float array with NaN for missing values (``pd.NA`` included)."""
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


_DIGEST_KEY = "follicle_seg inputs"
_CODE = hashlib.sha256(Path(__file__).read_bytes() + matplotlib.__version__.encode()).digest()


def _digest(*inputs: pd.DataFrame | str) -> str:
    """What a figure is drawn from: its inputs, this module's code and matplotlib's version."""
    h = hashlib.sha256(_CODE)
    for item in inputs:
        h.update(item.to_csv(index=False).encode() if isinstance(item, pd.DataFrame) else item.encode())
        h.update(b"\0")
    return h.hexdigest()


def _unchanged(path: str | Path, digest: str) -> bool:
    """Whether ``path`` is a PNG drawn from inputs with this ``digest``."""
    try:
        with Image.open(path) as image:
            return getattr(image, "text", {}).get(_DIGEST_KEY) == digest
    except (OSError, SyntaxError, ValueError):  # absent, cut short or not a PNG: draw it
        return False


def _save(fig: Figure, path: str | Path, digest: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", metadata={_DIGEST_KEY: digest}))
    return path
