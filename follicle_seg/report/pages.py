"""The report's pages: the page shell (inline CSS, header, menu) that ``index.html`` and each
patient's page share, the file name of each patient's page, and the links to a patient's visit
from the index.

``report/index.html`` holds the study; ``report/patients/<token>.html`` one patient, ``<token>``
the patient id as the overlays' file names write it (:func:`~follicle_seg.report.overlay_files.patient_token`:
the pseudonym in a pseudonymised run, never a name).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pandas as pd

from follicle_seg.atomic import atomic_write_bytes
from follicle_seg.report.markup import esc, url
from follicle_seg.report.overlay_files import patient_token

PATIENTS = "patients"  # the patient pages' folder, inside report/

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;color:#1b1b1b;
background:#f6f7f9}
header{background:#1e2a38;color:#fff;padding:14px 24px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c9d3de;font-size:13px}
nav{background:#fff;border-bottom:1px solid #dde2e8;padding:8px 24px;font-size:14px;position:sticky;top:0}
nav a{margin-right:16px}main{padding:8px 24px 40px;max-width:1500px}
section{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:12px 18px;margin:14px 0}
h2{font-size:19px;margin:4px 0 10px}h3{font-size:16px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #dde2e8;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #dde2e8;border-radius:6px;
padding:8px 14px;min-width:120px}.card b{display:block;font-size:22px}
.review{background:#fff3cd}.why{color:#7a4a00}.muted{color:#6b7683}.thumbs{display:flex;flex-wrap:wrap;gap:6px}
.thumbs figure{margin:0;font-size:11px;color:#4a5562}.thumbs img{display:block;border:1px solid #ccd}
img.figure{max-width:100%;height:auto}details{margin:6px 0}.wide{overflow-x:auto}
.thumbs{margin-top:6px}.crops figure{width:120px}.crops img{width:120px;height:120px;object-fit:contain;background:#000}
.wide th{overflow-wrap:break-word;min-width:4em}@media print{.wide{overflow:visible}nav{display:none}}
:target{outline:2px solid #e0a800}
"""


def page(title: str, subtitle: str, menu: list[tuple[str, str]], body: str) -> bytes:
    """A whole page: ``title`` and ``subtitle`` (HTML) in the header, ``menu`` (href, HTML text)
    in the sticky menu, ``body`` (the sections)."""
    links = "".join(f"<a href=\"{href}\">{text}</a>" for href, text in menu)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{subtitle}</p></header>"
        f"<nav>{links}</nav><main>{body}</main></body></html>\n"
    ).encode()


#: Names Windows reserves for devices, with any extension (``CON.html`` cannot be copied there).
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10))}


def page_names(patients: list[str]) -> dict[str, str]:
    """File name of each patient's page in ``report/patients/``: ``<id>.html`` for an id that is
    a safe file name as it is (:func:`patient_token` leaves it unchanged), else
    ``<token>_<hash of the id>.html`` (``_`` is never in a token, so a hashed name is never another
    patient's plain one, and it depends on the id alone: adding a patient renames no page). Only
    ids alike but for case (``abc``, ``ABC``: one file on a Windows share or a Mac disk) are both
    hashed; a hidden (``.x``) or Windows-reserved (``CON``) name is hashed too.

    >>> page_names(["P01", "P 02", "P-02", "P-02_e98d1a", ""])
    {'P01': 'P01.html', 'P 02': 'P-02_e98d1a.html', 'P-02': 'P-02.html', 'P-02_e98d1a': 'P-02-e98d1a_08c41d.html', '': 'unknown_da39a3.html'}
    >>> page_names(["CON.1"])["CON.1"].startswith("CON.1_")
    True
    >>> page_names(["abc", "ABC", "..", "con"])
    {'abc': 'abc_a9993e.html', 'ABC': 'ABC_3c01bd.html', '..': 'x_9d891e.html', 'con': 'con_b1f6e5.html'}
    """
    names = {}
    for p in patients:
        t = patient_token(p)
        plain = t == p and t.split(".")[0].upper() not in _RESERVED  # CON.1 is CON
        names[p] = f"{t}.html" if plain else _hashed(p)
    alike = Counter(n.lower() for n in names.values())
    return {p: _hashed(p, 16 if "_" in n else 6) if alike[n.lower()] > 1 else n for p, n in names.items()}


def _hashed(patient: str, digits: int = 6) -> str:
    return f"{patient_token(patient)}_{hashlib.sha1(patient.encode()).hexdigest()[:digits]}.html"


#: An empty PatientID, as the report writes it (a link without text could not be followed).
NO_PATIENT = "(no PatientID)"


def shown(patient: object) -> str:
    """A patient id as the report writes it (escaped); an empty one said, not a link without text."""
    return esc(patient) if str(patient) else NO_PATIENT


def visit_anchor(date: object, side: object = None) -> str:
    """Id of a visit's row (``side`` None) or of an ovary-visit's cell on its patient's page.

    >>> visit_anchor("2026-01-05", "L"), visit_anchor("", None)
    ('visit-2026-01-05-L', 'visit-nodate')
    """
    parts = ["visit", patient_token(str(date)) if str(date) else "nodate"]
    return "-".join(parts + ([patient_token(str(side))] if side is not None else []))


class PatientLinks:
    """Links from ``report/index.html`` to the patient pages: to a patient's page, at the visit
    or ovary-visit it holds; and the ids of the index's "To check" rows, which a patient's page
    links back to.

    ``ovaries`` (``ovaries.csv``) says which visits and sides each page shows; ``names`` is
    :func:`page_names` of the patients with a page.
    """

    def __init__(self, names: dict[str, str], ovaries: pd.DataFrame) -> None:
        self.names = names
        keys = zip(ovaries["patient_id"].astype(str), ovaries["study_date"].astype(str), ovaries["laterality"].astype(str))
        self.sides = set(keys)
        self.dates = {(p, d) for p, d, _ in self.sides}

    def href(self, patient: object, date: object = None, side: object = None, *, up: str = "") -> str:
        """The escaped href of a patient's page (``""`` when the patient has none), at the
        ovary-visit (``date``, ``side``) when the page shows it, else at the visit; ``up`` is
        the path from the linking page to ``report/``."""
        p, d, s = str(patient), str(date), str(side)
        if p not in self.names:
            return ""
        target = url(f"{up}{PATIENTS}/{self.names[p]}")
        if date is not None and (p, d, s) in self.sides:
            return f"{target}#{visit_anchor(d, s)}"
        return f"{target}#{visit_anchor(d)}" if date is not None and (p, d) in self.dates else target

    def link(self, patient: object, date: object = None, side: object = None) -> str:
        """The patient's id, linked to :meth:`href` when there is a page."""
        href = self.href(patient, date, side)
        return f"<a href=\"{href}\">{shown(patient)}</a>" if href else shown(patient)

    def check_id(self, patient: object, date: object, side: object) -> str:
        """Id of the index's "To check" row of an ovary-visit."""
        name = self.names.get(str(patient), patient_token(str(patient)))
        return f"check-{Path(name).stem}-{visit_anchor(date, side)[len('visit-'):]}"


def write_if_changed(path: Path, data: bytes) -> Path:
    """Write ``data`` (atomically) unless ``path`` holds it already: a rebuilt report leaves
    the pages of patients whose rows did not change as they were."""
    try:
        if path.read_bytes() == data:
            return path
    except OSError:
        pass
    return atomic_write_bytes(path, data)
