"""An installed wheel (not an editable install) carries the shipped bundle and loads it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from follicle_seg.filehash import file_sha256
from follicle_seg.model.bundle import shipped_bundle_root

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "follicle_seg", "configs", "models")


def _copy_sources(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    return source


def _build_wheel(source: Path, dist: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(dist), str(source)], check=True)
    (wheel,) = dist.glob("follicle_seg-*.whl")
    return wheel


def test_a_wheel_holds_the_bundle_and_an_installed_package_loads_it(tmp_path: Path) -> None:
    wheel = _build_wheel(_copy_sources(tmp_path), tmp_path / "dist")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"follicle_seg/bundle/models/model.pt", "follicle_seg/bundle/configs/metadata.json",
            "follicle_seg/bundle/configs/inference.json"} <= names

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("from follicle_seg.model.bundle import load_network, shipped_bundle_root\n"
             "import torch\n"
             "net = load_network(None)\n"
             "print(shipped_bundle_root())\n"
             "print(tuple(net(torch.zeros(1, 1, 32, 48)).shape))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(site)},
                          capture_output=True, text=True, check=True)
    root, shape = done.stdout.splitlines()[-2:]
    assert Path(root) == site / "follicle_seg" / "bundle"
    assert shape == "(1, 3, 32, 48)"
    assert file_sha256(Path(root) / "models" / "model.pt") == file_sha256(shipped_bundle_root() / "models" / "model.pt")


def test_a_wheel_built_again_leaves_out_the_files_deleted_since(tmp_path: Path) -> None:
    # setuptools keeps build/lib between builds of one checkout: a module and a bundle file
    # deleted from the source shipped again in the next wheel
    source = _copy_sources(tmp_path)
    deleted = [source / "follicle_seg" / "deleted_module.py", source / "models" / "deleted.pt"]
    for path in deleted:
        path.write_text("x = 1\n")
    _build_wheel(source, tmp_path / "first")
    for path in deleted:
        path.unlink()
    names = set(zipfile.ZipFile(_build_wheel(source, tmp_path / "again")).namelist())
    assert "follicle_seg/model/bundle.py" in names and "follicle_seg/bundle/models/model.pt" in names
    assert not {"follicle_seg/deleted_module.py", "follicle_seg/bundle/models/deleted.pt"} & names


def test_the_source_tree_reads_the_bundle_at_the_repository_root() -> None:
    assert shipped_bundle_root() == REPO
