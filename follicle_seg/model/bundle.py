"""The MONAI bundle on disk: where it lives, its metadata, and verified loading of its weights.

Layout (MONAI Bundle specification)::

    <bundle_root>/configs/metadata.json   versions, network_data_format, weights_sha256, ...
    <bundle_root>/configs/inference.json  network_def, inferer, device, ...
    <bundle_root>/configs/train.json      the training recipe
    <bundle_root>/models/model.pt         a state dict (loads with ``weights_only=True``)

The shipped bundle is the repository root in a source checkout or an editable install, and
``follicle_seg/bundle/`` in an installed wheel (``setup.py`` copies it there). Fine-tuning
writes a new, self-contained bundle folder.
A weights file is only loaded when its sha256 equals ``weights_sha256`` in the ``metadata.json``
of its own bundle.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch

from follicle_seg.errors import ModelError, brief
from follicle_seg.filehash import file_sha256
from follicle_seg.model.metadata import network_definition, verified_sha256
from follicle_seg.model.paths import INFERENCE, METADATA, WEIGHTS, bundle_root_of, shipped_bundle_root
from follicle_seg.model.network import build_network, candidate_of, network_from_def


REQUIRED_METADATA_KEYS = (
    "version",
    "changelog",
    "monai_version",
    "pytorch_version",
    "numpy_version",
    "required_packages_version",
    "task",
    "description",
    "authors",
    "copyright",
    "network_data_format",
)
"""Top-level keys the MONAI bundle metadata schema requires."""

REQUIRED_TENSOR_KEYS = (
    "type",
    "format",
    "modality",
    "num_channels",
    "spatial_shape",
    "dtype",
    "value_range",
    "is_patch_data",
    "channel_def",
)
"""Keys the schema requires for every ``network_data_format`` input and output."""


def missing_metadata_keys(metadata: dict[str, Any]) -> list[str]:
    """Keys the bundle spec requires that ``metadata`` lacks (dotted paths; empty when complete).

    Examples
    --------
    >>> missing_metadata_keys({"version": "1"})[:2]
    ['changelog', 'monai_version']
    """
    missing = [key for key in REQUIRED_METADATA_KEYS if key not in metadata]
    fmt = metadata.get("network_data_format", {})
    for section in ("inputs", "outputs"):
        tensors = fmt.get(section, {}) if isinstance(fmt, dict) else {}
        if not tensors:
            missing.append(f"network_data_format.{section}")
        for name, spec in tensors.items():
            missing += [
                f"network_data_format.{section}.{name}.{key}"
                for key in REQUIRED_TENSOR_KEYS
                if key not in spec
            ]
    return missing


def load_state_dict(weights: Path) -> dict[str, torch.Tensor]:
    """Load a weights file after checking its sha256 against its bundle's metadata.

    Raises
    ------
    ModelError
        File missing, no metadata beside it, checksum mismatch (tampered or replaced), or not a
        state dict.
    """
    weights = Path(weights)
    if weights.is_dir():
        raise ModelError(f"{weights}: a folder; give the weights file, its models/model.pt.")
    if not weights.is_file():
        raise ModelError(f"{weights}: weights file not found.")
    verified_sha256(weights)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # (torch's message, terminal escapes and all, advises weights_only=False)
        raise ModelError(f"{weights}: not a state dict of tensors alone, which is all that is loaded (a whole model, "
                         "a training checkpoint, or not a weights file): save the network's state_dict().") from None
    except Exception as exc:  # torch raises many types for a corrupt file
        raise ModelError(f"{weights}: not a loadable state dict ({brief(exc)}).") from None
    if not isinstance(state, dict):
        raise ModelError(f"{weights}: expected a state dict, found {type(state).__name__}.")
    return state


def load_network(weights: Path | None = None) -> torch.nn.Module:
    """A bundle's network with verified weights, in eval mode on the CPU.

    The architecture is the ``network_def`` (``configs/inference.json``) of the bundle the file
    (a link: its target) lies in, as its metadata and the analysis identity are; a weights file
    outside a bundle with one gets the shipped architecture.

    Parameters
    ----------
    weights
        ``models/model.pt`` of a bundle; ``None`` for the shipped bundle.
    """
    path = Path(weights) if weights is not None else shipped_bundle_root() / WEIGHTS
    net = _bundle_network(bundle_root_of(path))
    try:
        net.load_state_dict(load_state_dict(path))
    except RuntimeError as exc:
        raise ModelError(f"{path}: weights do not fit the network ({brief(exc)}).") from None
    return net.eval()


def network_name(root: Path) -> str:
    """Which network the bundle at ``root`` holds: the name of its candidate
    (:data:`~follicle_seg.model.network.CANDIDATES`), else its ``network_def``'s class."""
    definition = network_definition(root)
    if definition is None:
        return "unet_res"
    return candidate_of(definition) or f"{definition.get('_target_')} (network_def of configs/inference.json)"


def _bundle_network(root: Path) -> torch.nn.Module:
    definition = network_definition(root)
    if definition is None:
        return build_network()
    try:
        return network_from_def(definition)
    except ValueError as exc:
        raise ModelError(f"{root / INFERENCE}: {exc}") from None


def cpu_state_dict(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``net``'s state dict as contiguous CPU tensors: weights written on a GPU load anywhere."""
    return {key: value.detach().cpu().contiguous() for key, value in net.state_dict().items()}


def save_weights(net: torch.nn.Module, bundle_root: Path, *, metadata: dict[str, Any]) -> Path:
    """Write ``models/model.pt`` and ``configs/metadata.json`` (with the new sha256) of a bundle.

    Returns
    -------
    pathlib.Path
        The weights path.
    """
    root = Path(bundle_root)
    (root / WEIGHTS).parent.mkdir(parents=True, exist_ok=True)
    (root / METADATA).parent.mkdir(parents=True, exist_ok=True)
    weights = root / WEIGHTS
    torch.save(cpu_state_dict(net), weights)
    updated = {**metadata, "weights_sha256": file_sha256(weights)}
    (root / METADATA).write_text(json.dumps(updated, indent=4) + "\n", encoding="utf-8")
    return weights
