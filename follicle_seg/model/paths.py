"""Where the bundle's files are, and their hashes, without importing torch (a run that only
resumes needs them but no network)."""

from __future__ import annotations

import hashlib
from pathlib import Path

METADATA = Path("configs") / "metadata.json"
INFERENCE = Path("configs") / "inference.json"
WEIGHTS = Path("models") / "model.pt"


def shipped_bundle_root() -> Path:
    """The bundle shipped with the package: ``follicle_seg/bundle`` where a wheel installed it,
    else the repository root (a source checkout or an editable install)."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "bundle"
    return installed if (installed / METADATA).is_file() else package.parent


def bundle_root_of(weights: Path) -> Path:
    """Bundle folder of a weights file laid out as ``<root>/models/<name>.pt``."""
    return Path(weights).resolve().parent.parent


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
