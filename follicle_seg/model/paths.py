"""Where the bundle's files are, without importing torch (a
run that only resumes needs them but no network)."""

from __future__ import annotations

from pathlib import Path

METADATA = Path("configs") / "metadata.json"
INFERENCE = Path("configs") / "inference.json"
WEIGHTS = Path("models") / "model.pt"

__all__ = ["INFERENCE", "METADATA", "WEIGHTS", "bundle_root_of", "named_weights", "shipped_bundle_root"]


def shipped_bundle_root() -> Path:
    """The bundle shipped with the package: ``follicle_seg/bundle`` where a wheel installed it,
    else the repository root (a source checkout or an editable install)."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "bundle"
    return installed if (installed / METADATA).is_file() else package.parent


def bundle_root_of(weights: Path) -> Path:
    """Bundle folder of a weights file laid out as ``<root>/models/<name>.pt``."""
    return Path(weights).resolve().parent.parent


def named_weights(weights: Path) -> str:
    """A bundle's weights as another bundle records them: ``shipped``, or
    ``<its bundle folder's name>/models/<name>.pt``, not its path (a folder's path may name a
    patient or a hospital's shares)."""
    path = Path(weights).resolve()
    if path.parent.parent == shipped_bundle_root().resolve():
        return "shipped"
    return f"{path.parent.parent.name}/{path.parent.name}/{path.name}"
