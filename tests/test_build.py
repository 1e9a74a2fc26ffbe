"""The build of the program a run's results are told by: the hash of the modules whose code
shapes a stored result, not of the others (an edit of the report or a command refused to resume
every output folder)."""

from __future__ import annotations

import hashlib
import os
import shutil
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

import follicle_seg
from follicle_seg.build import OTHER_SOURCE, RESULT_SOURCE, build_sha256
from follicle_seg.errors import FollicleSegError
from follicle_seg.filehash import source_sha256

PACKAGE = Path(follicle_seg.__file__).parent


def _modules() -> list[str]:
    """The package's modules (not an editor's lock file ``.#cli.py``)."""
    names = (path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py"))
    return sorted(name for name in names if not any(part.startswith(".") for part in name.split("/")))


def test_every_module_is_decided_in_or_out_of_the_build_hash():
    """A new module must be put in RESULT_SOURCE (its edits make another build) or OTHER_SOURCE."""
    for name in _modules():
        sets = [kind for kind, globs in (("RESULT_SOURCE", RESULT_SOURCE), ("OTHER_SOURCE", OTHER_SOURCE))
                if any(fnmatchcase(name, glob) for glob in globs)]  # fmt: skip
        assert len(sets) == 1, f"follicle_seg/{name} is in {sets or 'neither RESULT_SOURCE nor OTHER_SOURCE'} (build.py)"
    for glob in [*RESULT_SOURCE, *OTHER_SOURCE]:  # none left of a module removed
        assert any(fnmatchcase(name, glob) for name in _modules()), glob


def hashed_here(globs) -> str:
    """The hash of the package's modules ``globs`` name, computed from the files themselves, not
    by the code under test."""
    h = hashlib.sha256()
    for name in _modules():
        if any(fnmatchcase(name, glob) for glob in globs):
            h.update(f"{name}\0{hashlib.sha256((PACKAGE / name).read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()


def test_the_build_hash_is_of_the_modules_that_shape_a_stored_result():
    assert build_sha256() == hashed_here(RESULT_SOURCE) != hashed_here(["*.py"])
    assert {"engine.py", "measure.py", "io/dicom.py", "model/infer.py", "state.py"} <= set(RESULT_SOURCE)


@pytest.mark.parametrize(("module", "another_build"), [
    ("measure.py", True), ("io/dicom.py", True), ("model/infer.py", True),
    ("cli.py", False), ("io/inspect.py", False), ("send.py", False), ("visits.py", False), ("review.py", False),
    ("report/html.py", False), ("synth/study.py", False), ("model/train.py", False),
])  # fmt: skip
def test_an_edit_makes_another_build_only_in_a_module_that_shapes_a_stored_result(tmp_path, module, another_build):
    """Every .py file was hashed: a docstring edited in ``cli`` refused to resume every OUT."""
    copy = tmp_path / "follicle_seg"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    before = source_sha256(copy, RESULT_SOURCE)
    with open(copy / module, "a") as f:
        f.write("# an edit\n")
    assert (source_sha256(copy, RESULT_SOURCE) != before) is another_build


def test_source_sha256_tells_builds_apart(tmp_path):
    def source(root: Path) -> str:
        return source_sha256(root, ["*.py"])

    for root in (tmp_path / "a", tmp_path / "b"):
        (root / "sub").mkdir(parents=True)
        (root / "x.py").write_text("X = 1\n")
        (root / "sub" / "y.py").write_text("Y = 2\n")
    assert source(tmp_path / "a") == source(tmp_path / "b")  # where it lies does not count
    (tmp_path / "b" / "notes.txt").write_text("not source")
    assert source(tmp_path / "a") == source(tmp_path / "b")
    (tmp_path / "b" / "sub" / "y.py").write_text("Y = 3\n")
    assert source(tmp_path / "a") != source(tmp_path / "b")
    (tmp_path / "b" / "sub" / "y.py").rename(tmp_path / "b" / "y.py")  # same bytes, another module
    (tmp_path / "a" / "sub" / "y.py").write_text("Y = 3\n")
    assert source(tmp_path / "a") != source(tmp_path / "b")


def test_a_link_to_nowhere_or_a_dot_file_is_not_source(tmp_path):
    """An editor's lock file ``.#cli.py`` (a link to nowhere) in a checkout crashed every run
    with FileNotFoundError."""
    (tmp_path / "a.py").write_text("A = 1\n")
    before = source_sha256(tmp_path, ["*.py"])
    os.symlink("user@host.1234:1700000000", tmp_path / ".#a.py")
    os.symlink("nowhere.py", tmp_path / "b.py")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.py").write_text("C = 1\n")
    assert source_sha256(tmp_path, ["*.py"]) == before


def test_an_install_without_source_files_is_said_not_hashed_as_empty(tmp_path):
    """An install of .pyc files only (or imported from a zip) hashed no file: every such build
    was the same build."""
    (tmp_path / "engine.pyc").write_bytes(b"\x00compiled")
    with pytest.raises(FollicleSegError, match=rf"^{tmp_path}: no Python source of engine\.py and 1 more \(an install "
                                               r"of \.pyc files only, or from a zip\?\)"):  # fmt: skip
        source_sha256(tmp_path, ["engine.py", "io/*.py"])
