"""Pseudonymous patient identifiers (keyed HMAC), stable across runs with the same key file."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from follicle_seg.errors import FollicleSegError


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
