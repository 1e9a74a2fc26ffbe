"""Pseudonymous patient identifiers (keyed HMAC), stable across runs with the same key file."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import TYPE_CHECKING

from follicle_seg.errors import FollicleSegError

if TYPE_CHECKING:
    import pandas as pd


def load_key(path: str | Path) -> bytes:
    """Read a pseudonymisation key file (any bytes; at least 16 of them)."""
    try:
        key = Path(path).read_bytes().strip()
    except OSError as exc:
        raise FollicleSegError(f"{path}: cannot read the pseudonymisation key ({exc.strerror})") from exc
    if len(key) < 16:
        raise FollicleSegError(f"{path}: the pseudonymisation key must hold at least 16 bytes")
    return key


def pseudonym(patient_id: str, key: bytes) -> str:
    """Stable pseudonym of a PatientID: ``P`` + 12 hex digits of HMAC-SHA256(key, PatientID)."""
    if not patient_id:
        return ""
    return "P" + hmac.new(key, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()[:12]


def pseudonymised_cohort(cohort: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """The cohort file's rows (:func:`follicle_seg.io.tables.read_cohort`) with each patient_id
    replaced by its pseudonym, as the scans' PatientIDs are: a pseudonymised run joins them so."""
    return cohort.assign(patient_id=[pseudonym(str(p), key) for p in cohort["patient_id"]])
