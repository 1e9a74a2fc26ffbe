"""A bundle's ``configs/metadata.json`` and the check of a weights file against its
``weights_sha256``, and the ``network_def`` of its ``configs/inference.json``, without importing
torch (a run checks ``--weights`` before its output folder is made, and one that only resumes
never imports it)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from follicle_seg.errors import ModelError
from follicle_seg.filehash import file_sha256
from follicle_seg.model.paths import INFERENCE, METADATA, bundle_root_of

__all__ = ["network_def_sha256", "network_definition", "next_version", "read_metadata", "verified_sha256"]


def read_metadata(bundle_root: Path) -> dict[str, Any]:
    """Parsed ``configs/metadata.json`` of a bundle; :class:`ModelError` when absent or broken."""
    path = Path(bundle_root) / METADATA
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ModelError(f"{path}: bundle metadata not found; weights cannot be verified.") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: bundle metadata unreadable ({exc}).") from None


def next_version(bundle_root: Path) -> str:
    """The version of a bundle fine-tuned from the one at ``bundle_root``: one patch on.

    Raises
    ------
    ModelError
        Its version is not ``MAJOR.MINOR.PATCH`` (three whole numbers), or its metadata is
        missing or broken.
    """
    version = str(read_metadata(bundle_root).get("version", "0.0.0"))
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise ModelError(f"{Path(bundle_root) / METADATA}: version {version!r} is not MAJOR.MINOR.PATCH (three whole "
                         "numbers), and a bundle fine-tuned from it is one patch version on; give it one, e.g. 0.4.1.")
    major, minor, patch = (int(p) for p in version.split("."))
    return f"{major}.{minor}.{patch + 1}"


def verified_sha256(weights: Path) -> str:
    """sha256 of an existing weights file, once it equals ``weights_sha256`` in the
    ``metadata.json`` of its own bundle (``<root>/models/<name>.pt`` beside ``<root>/configs``).

    Raises
    ------
    ModelError
        No metadata beside the file (not in a bundle), metadata unreadable, or a checksum
        mismatch (the file was changed or replaced).
    """
    metadata_path = bundle_root_of(weights) / METADATA
    if not metadata_path.is_file():
        raise ModelError(f"{weights}: bundle metadata not found (no {metadata_path}); "
                         "weights outside a bundle cannot be verified.")  # fmt: skip
    expected = read_metadata(bundle_root_of(weights)).get("weights_sha256")
    actual = file_sha256(weights)
    if expected != actual:
        raise ModelError(
            f"{weights}: sha256 {actual[:12]}... does not match weights_sha256 "
            f"{str(expected)[:12]}... in its configs/metadata.json; the file was changed or "
            "replaced. Refusing to load it."
        )
    return actual


def network_definition(bundle_root: Path) -> dict[str, Any] | None:
    """The ``network_def`` of a bundle's ``configs/inference.json``; ``None`` without one (the
    shipped architecture is built)."""
    config = Path(bundle_root) / INFERENCE
    if not config.is_file():
        return None
    try:
        content = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{config}: not readable JSON ({exc}).") from None
    if not isinstance(content, dict):
        raise ModelError(f"{config}: a bundle config is a JSON object, found a {type(content).__name__}.")
    definition = content.get("network_def")
    return definition if isinstance(definition, dict) else None


def network_def_sha256(bundle_root: Path) -> str:
    """The first 16 hex digits of the SHA-256 of a bundle's ``network_def`` (its keys sorted),
    ``none`` without one: the same weights built another way (another order of a block's layers,
    a norm's eps) give other label maps. The rest of ``configs/inference.json`` is the bundle's own
    run's (``python -m monai.bundle run``), never read by ``follicle-seg run``.

    Examples
    --------
    >>> network_def_sha256(Path("no bundle here"))
    'none'
    """
    definition = network_definition(bundle_root)
    if definition is None:
        return "none"
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]
