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
    indexes: list[Path] = []
    found = [p.relative_to(tmp_path).as_posix() for p in discover([tmp_path], indexes=indexes)]
    assert found == [".hidden", "a.dcm", "b/2/IM0002", "b/IM0001", "b/~tmp.part", "notes.txt"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in indexes) == ["DICOMDIR", "b/dicomdir"]  # for run.log


def test_files_and_folders_mixed_once_each_missing_kept(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f1").write_bytes(b"x")
    missing = tmp_path / "nope.dcm"
    found = list(discover([tmp_path / "x" / "f1", str(tmp_path / "x"), missing]))
    assert found == sorted([tmp_path / "x" / "f1", missing])


def test_linked_folders_are_followed_once_loops_end_and_what_cannot_be_listed_is_kept(tmp_path: Path, monkeypatch) -> None:
    """A visit folder linked into the archive was passed over, and a folder the run could not
    list, or a pipe, vanished without a row (SPEC: nothing is silently skipped)."""
    import os

    (tmp_path / "in" / "locked").mkdir(parents=True)
    (tmp_path / "in" / "a.dcm").write_bytes(b"x")
    (tmp_path / "elsewhere" / "visit").mkdir(parents=True)
    (tmp_path / "elsewhere" / "visit" / "IM1").write_bytes(b"x")
    (tmp_path / "in" / "visit_link").symlink_to(tmp_path / "elsewhere" / "visit")
    (tmp_path / "in" / "loop").symlink_to(tmp_path / "in")
    os.mkfifo(tmp_path / "in" / "pipe.dcm")
    scandir = os.scandir

    def refuse(path="."):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    found = [p.relative_to(tmp_path / "in").as_posix() for p in discover([tmp_path / "in"])]
    assert found == ["a.dcm", "locked", "pipe.dcm", "visit_link/IM1"]


def dicom_media(folder: Path) -> Path:
    """A DICOM media folder written by pydicom: DICOMDIR and the image it indexes (PT000000/...)."""
    import pydicom
    from pydicom.fileset import FileSet

    media = FileSet()
    media.add(pydicom.dcmread(Path(__file__).resolve().parents[1] / "data_samples" / "mono_left.dcm"))
    media.write(folder)
    return folder / "DICOMDIR"


def test_a_dicomdir_named_as_input_stands_for_its_folder(tmp_path: Path) -> None:
    """It was dropped: "no files found under X/DICOMDIR"."""
    index = dicom_media(tmp_path / "media")
    indexes: list[Path] = []
    found = [p.relative_to(tmp_path / "media").as_posix() for p in discover([index], indexes=indexes)]
    assert found == ["PT000000/ST000000/SE000000/IM000000"] and indexes == [index]


def test_an_output_folder_reached_through_a_link_is_left_out(tmp_path: Path) -> None:
    """`cd /data/export && follicle-seg run /data/export --out results`, /data a link to
    /mnt/data: the working folder is the real path, the INPUT the linked one, and the run read its
    own tables, log and state as 18 rejected inputs (and more each rerun)."""
    (tmp_path / "mnt" / "export" / "results").mkdir(parents=True)
    (tmp_path / "mnt" / "export" / "IM1").write_bytes(b"x")
    (tmp_path / "mnt" / "export" / "results" / "images.csv").write_bytes(b"x")
    (tmp_path / "data").symlink_to(tmp_path / "mnt")
    linked, real = tmp_path / "data" / "export", tmp_path / "mnt" / "export"
    assert list(discover([linked], exclude=[real / "results"])) == [linked / "IM1"]
    assert list(discover([real], exclude=[linked / "results"])) == [real / "IM1"]


def test_a_link_that_leads_nowhere_is_said_to_be_one(tmp_path: Path) -> None:
    """A run said "cannot read (No such file or directory)" of a path that is there, and
    `inspect` "not a readable file": neither named the link or what it points to."""
    from follicle_seg.io.discover import not_read

    (tmp_path / "IM1").symlink_to("/mnt/nas/IM1")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert not_read(tmp_path / "IM1") == "a link to /mnt/nas/IM1, which cannot be reached (No such file or directory): not read"
    assert not_read(tmp_path / "loop") == (f"a link to {tmp_path / 'loop'}, which cannot be reached "
                                           "(Too many levels of symbolic links): not read")


def test_a_single_path_given_alone_is_one_input_not_its_characters(tmp_path: Path) -> None:
    """``discover("study")`` iterated the string: it yielded the paths ``s``, ``t``, ``u``, ...
    (none of them files) and not one file of the folder."""
    (tmp_path / "study" / "v1").mkdir(parents=True)
    (tmp_path / "study" / "v1" / "IM1").write_bytes(b"x")
    for given in (str(tmp_path / "study"), tmp_path / "study"):
        assert list(discover(given)) == [tmp_path / "study" / "v1" / "IM1"]
    from pathlib import PurePosixPath

    from follicle_seg.io.discover import as_inputs

    assert as_inputs(PurePosixPath("a/b")) == [PurePosixPath("a/b")]  # any path object, not its parts


def test_a_file_reached_under_several_paths_is_found_once_under_the_first(tmp_path: Path) -> None:
    """A link to a file, or a linked folder given beside its real one, gave the file a second row:
    one of the two spellings rejected as a duplicate SOP instance of the other (a non-DICOM file,
    two rejected rows); and which spelling a folder reached both ways was read under followed the
    file system's listing order."""
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "sub" / "IM1").write_bytes(b"x")
    (tmp_path / "in" / "zlink").symlink_to("sub/IM1")
    (tmp_path / "in" / "alias").symlink_to("sub")
    every = [tmp_path / "in", tmp_path / "in" / "sub", tmp_path / "in" / "alias", tmp_path / "in" / "zlink",
             tmp_path / "in" / "sub" / "IM1"]  # fmt: skip
    for given in (every, every[::-1], every[:1], every[2:], every[2:][::-1]):
        assert list(discover(given)) == [tmp_path / "in" / "alias" / "IM1"], given
    assert list(discover(every[1:2] + every[3:])) == [tmp_path / "in" / "sub" / "IM1"]
    assert list(discover([tmp_path / "in" / "zlink"])) == [tmp_path / "in" / "zlink"]  # (alone: as given)
