"""The shipped MONAI bundle: complete metadata, verified weights, loadable network definition."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser, verify_net_in_out

from follicle_seg.errors import ModelError
from follicle_seg.filehash import file_sha256
from follicle_seg.model.network import CANDIDATES, build_network, count_parameters, network_def, network_from_def
from follicle_seg.model.bundle import (
    METADATA,
    WEIGHTS,
    load_network,
    load_state_dict,
    missing_metadata_keys,
    shipped_bundle_root,
)
from follicle_seg.model.metadata import read_metadata

ROOT = shipped_bundle_root()


def test_metadata_holds_every_key_the_bundle_spec_requires() -> None:
    metadata = read_metadata(ROOT)
    assert missing_metadata_keys(metadata) == []
    image = metadata["network_data_format"]["inputs"]["image"]
    assert image["modality"] == "US" and image["num_channels"] == 1
    pred = metadata["network_data_format"]["outputs"]["pred"]
    assert pred["channel_def"] == {"0": "background", "1": "ovary", "2": "follicle"}
    assert metadata["version"] in metadata["changelog"]


def test_missing_keys_are_reported() -> None:
    metadata = read_metadata(ROOT)
    del metadata["copyright"]
    del metadata["network_data_format"]["inputs"]["image"]["channel_def"]
    assert missing_metadata_keys(metadata) == [
        "copyright",
        "network_data_format.inputs.image.channel_def",
    ]


def test_shipped_weights_match_the_recorded_sha256() -> None:
    assert read_metadata(ROOT)["weights_sha256"] == file_sha256(ROOT / WEIGHTS)
    assert (ROOT / WEIGHTS).stat().st_size < 10 * 2**20


def test_inference_config_network_loads_the_state_dict_weights_only() -> None:
    parser = ConfigParser()
    parser.read_config(ROOT / "configs" / "inference.json")
    parser["bundle_root"] = str(ROOT)
    state = torch.load(parser.get_parsed_content("checkpoint"), map_location="cpu", weights_only=True)
    parser.get_parsed_content("network_def").load_state_dict(state)  # strict: every key fits
    # the config's `network` is the shipped network, weights loaded (it was the untrained network_def)
    net = parser.get_parsed_content("network")
    assert not net.training
    assert all(torch.equal(value.cpu(), state[key]) for key, value in net.state_dict().items())
    with torch.no_grad():
        assert net(torch.rand(1, 1, 64, 80)).shape == (1, 3, 64, 80)


def test_verify_net_in_out_passes() -> None:
    verify_net_in_out(
        net_id="network_def",
        meta_file=str(ROOT / METADATA),
        config_file=str(ROOT / "configs" / "inference.json"),
        device="cpu",
        n=4,
    )


def _copy_bundle(tmp_path: Path) -> Path:
    (tmp_path / "configs").mkdir()
    (tmp_path / "models").mkdir()
    shutil.copy(ROOT / METADATA, tmp_path / METADATA)
    shutil.copy(ROOT / WEIGHTS, tmp_path / WEIGHTS)
    return tmp_path / WEIGHTS


def test_a_changed_byte_is_refused(tmp_path: Path) -> None:
    weights = _copy_bundle(tmp_path)
    assert load_state_dict(weights)  # the intact copy loads
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_network(weights)


def test_weights_without_bundle_metadata_are_refused(tmp_path: Path) -> None:
    weights = _copy_bundle(tmp_path)
    (tmp_path / METADATA).unlink()
    with pytest.raises(ModelError, match="metadata not found"):
        load_network(weights)
    with pytest.raises(ModelError, match="not found"):
        load_network(tmp_path / "models" / "absent.pt")
    with pytest.raises(ModelError, match="models: a folder; give the weights file, its models/model.pt"):
        load_network(tmp_path / "models")


@pytest.mark.parametrize(("content", "message"), [
    ({"model": torch.nn.Linear(2, 2)}, "not a state dict of tensors alone, which is all that is loaded"),
    ({"weight": torch.zeros(2)}, "weights do not fit the network (Error(s) in loading state_dict for UNet: Missing key(s)"),
])  # fmt: skip
def test_weights_that_do_not_load_are_said_in_one_line(tmp_path: Path, content: dict, message: str) -> None:
    """A whole model saved as the weights (its sha256 in the metadata) was refused with torch's
    message: 8 lines with terminal escape codes, advising to load it with weights_only=False
    ("arbitrary code execution"); a state dict of another network with 5,163 characters on 40
    lines naming every key."""
    weights = _copy_bundle(tmp_path)
    torch.save(content, weights)
    metadata = json.loads((tmp_path / METADATA).read_text())
    metadata["weights_sha256"] = file_sha256(weights)
    (tmp_path / METADATA).write_text(json.dumps(metadata))
    with pytest.raises(ModelError) as refused:
        load_network(weights)
    said = str(refused.value)
    assert said.startswith(f"{weights}: {message}") and said.isprintable() and len(said) < 400
    assert "weights_only" not in said


def test_a_bundle_naming_an_unknown_network_is_refused(tmp_path: Path) -> None:
    weights = _copy_bundle(tmp_path)
    config = json.loads((ROOT / "configs" / "inference.json").read_text())
    config["network_def"] = {"_target_": "os.system", "command": "true"}
    (tmp_path / "configs" / "inference.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="inference.json: network_def names 'os.system'"):
        load_network(weights)


def test_an_inference_config_that_is_not_a_json_object_is_said_in_one_line(tmp_path: Path) -> None:
    """A configs/inference.json holding a JSON list stopped the run with an AttributeError
    traceback ('list' object has no attribute 'get')."""
    weights = _copy_bundle(tmp_path)
    (tmp_path / "configs" / "inference.json").write_text("[]")
    with pytest.raises(ModelError, match=r"inference.json: a bundle config is a JSON object, found a list\."):
        load_network(weights)


def test_weights_linked_from_elsewhere_are_built_by_their_own_bundles_network_def(tmp_path: Path) -> None:
    """A weights file linked from outside its bundle is verified against its bundle's metadata and
    named by its bundle's ``network_def`` in the analysis identity (both by the link's target), but
    was built into the shipped architecture (the ``configs/`` beside the link's folder: none): the
    run state said one network and the label maps came from another."""
    from follicle_seg.model.metadata import network_def_sha256
    from follicle_seg.model.paths import bundle_root_of

    (tmp_path / "bundle").mkdir()
    weights = _copy_bundle(tmp_path / "bundle")
    config = json.loads((ROOT / "configs" / "inference.json").read_text())
    config["network_def"]["adn_ordering"] = "ADN"
    (tmp_path / "bundle" / "configs" / "inference.json").write_text(json.dumps(config))
    (tmp_path / "elsewhere" / "models").mkdir(parents=True)
    link = tmp_path / "elsewhere" / "models" / "model.pt"
    link.symlink_to(weights)
    assert network_def_sha256(bundle_root_of(link)) == network_def_sha256(tmp_path / "bundle") != network_def_sha256(ROOT)
    assert repr(load_network(link)) == repr(load_network(weights)) != repr(load_network())


def test_network_defs_round_trip_for_every_candidate() -> None:
    for name in CANDIDATES:
        built = network_from_def(network_def(name))
        assert type(built) is CANDIDATES[name][0]
        assert count_parameters(built) == count_parameters(build_network(name))
    shipped = json.loads((ROOT / "configs" / "inference.json").read_text())["network_def"]
    assert shipped == network_def("unet_res")  # the library and the bundle build the same module


def test_resize_decoder_keeps_shapes_and_has_no_transposed_convolution() -> None:
    net = build_network("unet_res_resize").eval()
    with torch.no_grad():
        assert net(torch.rand(2, 1, 48, 80)).shape == (2, 3, 48, 80)
    kinds = {type(m) for m in net.modules()}
    assert torch.nn.ConvTranspose2d not in kinds and torch.nn.Upsample in kinds
