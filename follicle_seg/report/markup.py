"""HTML pieces of the report: escaping, links, numbers and yes/no as the tables hold them, and
the file token of a patient's figures. Every string from the tables goes through :func:`esc`."""

from __future__ import annotations

import html
import math
from urllib.parse import quote

import numpy as np
import pandas as pd

from follicle_seg.visits import half_up, shown_mm

SIDE_NAMES = {"L": "Left", "R": "Right", "U": "Side unknown"}


def table(df: pd.DataFrame, columns: list[str]) -> str:
    """``df``'s ``columns`` as an HTML table; a column name may break after its underscores
    (``n_patients`` was broken ``n_patient|s`` in a narrow window)."""
    head = "".join(f"<th>{esc(c).replace('_', '_<wbr>')}</th>" for c in columns)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for c in columns:
            v = r[c]
            numeric = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
            cells.append(f"<td class=num>{num(v, 2)}</td>" if numeric else f"<td>{esc(text(v))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>" if rows else "<p class=muted>No rows.</p>"


def present(value: object) -> bool:
    if value is None or value is pd.NA:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return str(value) != ""


def truthy(value: object) -> bool:
    return present(value) and bool(value)


def bools(series: pd.Series) -> pd.Series:
    return series.astype("boolean").fillna(False).astype(bool)


def yes(value: object) -> str:
    return "yes" if truthy(value) else ("no" if present(value) else "&ndash;")


def num(value: object, decimals: int) -> str:
    """A table value as the report shows it: halves rounded up, as ``follicle_sizes_mm`` is
    (5.55 mm reads 5.6 beside the sizes, not 5.5); whole numbers without decimals.

    >>> num(5.55, 1), num(10.45, 1), num(3.0, 1), num(float("nan"), 1)
    ('5.6', '10.5', '3', '&ndash;')
    """
    if not present(value):
        return "&ndash;"
    number = float(value)  # type: ignore[arg-type]
    if decimals == 0 or number.is_integer():
        return f"{number:.0f}"
    return half_up(number, decimals)


def mean_mm(value: object) -> str:
    """A follicle's mean diameter for a cell beside its size class (:func:`~follicle_seg.visits.shown_mm`).

    >>> mean_mm(9.99), mean_mm(7.0), mean_mm(None)
    ('9.99', '7.0', '&ndash;')
    """
    return shown_mm(float(value)) if present(value) else "&ndash;"  # type: ignore[arg-type]


def text(value: object) -> str:
    return str(value) if present(value) else ""


def esc(value: object) -> str:
    return html.escape(text(value), quote=True)


def url(relative: str) -> str:
    """A relative URL, percent-encoded, then HTML-escaped for an attribute."""
    return html.escape(quote(relative, safe="/._-"), quote=True)

