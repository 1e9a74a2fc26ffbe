"""Finding the input files."""

from __future__ import annotations

from pathlib import Path

from follicle_seg.io import discover


def test_recursive_sorted_dicomdir_skipped_everything_else_kept(tmp_path: Path) -> None:
    for name in [
        "b/2/IM0002",
        "b/IM0001",
        "a.dcm",
        ".hidden",
        "b/~tmp.part",
        "notes.txt",
        "DICOMDIR",
        "b/dicomdir",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in discover([tmp_path])]
    assert found == [".hidden", "a.dcm", "b/2/IM0002", "b/IM0001", "b/~tmp.part", "notes.txt"]


def test_files_and_folders_mixed_once_each_missing_kept(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f1").write_bytes(b"x")
    missing = tmp_path / "nope.dcm"
    found = list(discover([tmp_path / "x" / "f1", str(tmp_path / "x"), missing]))
    assert found == sorted([tmp_path / "x" / "f1", missing])
