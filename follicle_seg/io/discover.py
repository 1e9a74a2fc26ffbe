"""Find the input files: every file under the given paths, recursively, in a stable order; and
say which found paths are not read (:func:`not_read`), as a run and ``inspect`` both say it."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

#: DICOM media directory files: an index of other files, never an image.
SKIPPED_NAMES = frozenset({"DICOMDIR"})


def discover(
    paths: str | Path | Iterable[str | Path], *, exclude: Iterable[str | Path] = (),
    indexes: list[Path] | None = None,
) -> Iterator[Path]:
    """Yield every file under ``paths`` (files or folders, searched recursively; one path alone
    is one input, :func:`as_inputs`), sorted, as absolute paths.

    Any file name counts (scanners write ``IM0001``, ``1.2.840...``, no extension): non-DICOM,
    hidden and temporary files are yielded too, so that each gets its own rejected row later;
    only ``DICOMDIR`` index files are skipped (appended to ``indexes`` when given, so that a run
    can say so). A DICOMDIR named itself stands for its folder (:func:`is_index`): the files it
    indexes lie in that folder's tree. A path that does not exist is yielded as it is
    (reading it will reject it). Each file is yielded once, under the first of its paths in sorted
    order when it is reached under several (a link to it, a linked folder given beside the real
    one, a file given by name through another folder): one row, not one rejected as a duplicate
    of itself. Files found in a searched folder
    that lie under an ``exclude`` folder, however either is spelt (through a linked folder),
    are left out (a run's own output folder inside its input: its tables, overlays and DICOM
    objects are not inputs); a file named itself is not.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "b").mkdir(); (root / "b" / "IM1").write_bytes(b"x")
    1
    >>> (root / "a.dcm").write_bytes(b"x"); (root / "DICOMDIR").write_bytes(b"x")
    1
    1
    >>> [p.relative_to(root).as_posix() for p in discover([root])]
    ['a.dcm', 'b/IM1']
    >>> [p.relative_to(root).as_posix() for p in discover([root], exclude=[root / "b"])]
    ['a.dcm']
    >>> [p.relative_to(root).as_posix() for p in discover([root / "DICOMDIR"])]
    ['a.dcm', 'b/IM1']
    """
    found: dict[str, Path] = {}  # by the real path of a file (a link's target), else its own
    skipped = [Path(os.path.realpath(e)) for e in exclude]
    for raw in as_inputs(paths):
        # absolute, ".." folded: a file is one input whatever the working folder or spelling
        # (resume and duplicate checks key on the path)
        path = Path(os.path.abspath(raw))
        if path.is_dir() or is_index(path):
            candidates = _walk(path if path.is_dir() else path.parent, skipped)
        else:
            candidates = iter([path])
        for p in candidates:
            if p.name.upper() not in SKIPPED_NAMES:
                key = os.path.realpath(p) if p.is_file() else str(p)
                found[key] = min(found.get(key, p), p)
            elif indexes is not None and p not in indexes:
                indexes.append(p)
    yield from sorted(found.values())


def as_inputs(paths: str | os.PathLike | Iterable[str | Path]) -> list:
    """The inputs as a list: one path given alone (a string, any path object) is one input, not the
    characters of its name.

    >>> as_inputs("study/dicom"), as_inputs(["a", Path("b")])
    (['study/dicom'], ['a', PosixPath('b')])
    """
    return [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)


def is_index(path: str | Path) -> bool:
    """Whether ``path`` is a DICOMDIR file: given as INPUT, its folder is read."""
    return Path(path).name.upper() in SKIPPED_NAMES and os.path.isfile(path)


def _walk(top: Path, skipped: list[Path]) -> Iterator[Path]:
    """Every non-folder entry under ``top``: files, broken links, pipes and the like (reading
    rejects them, with the reason), through linked folders (each real folder once, under its first
    spelling in sorted order: a link loop ends), and each folder that cannot be listed (its row says so), not under ``skipped`` (real
    paths: a folder reached through a link lies where its link points)."""
    unreadable: list[Path] = []
    seen: set[str] = set()
    for folder, folders, files in os.walk(top, followlinks=True, onerror=lambda e: unreadable.append(Path(e.filename))):
        here = Path(folder)
        real = os.path.realpath(folder)
        if real in seen or any(Path(real).is_relative_to(e) for e in skipped):
            folders[:] = []
            continue
        seen.add(real)
        folders.sort()  # (listing order is the file system's: a linked folder's spelling chosen by it)
        yield from (here / name for name in files)
    yield from unreadable


def not_read(path: Path) -> str:
    """Why a found ``path`` is not read, or "" (a regular file, or one that does not exist:
    reading it says so): a name that is not valid UTF-8 (no table, log or database can hold it),
    a link whose target is missing (a share not mounted) or a link loop, a folder that could not
    be listed, a pipe, socket or device (reading a pipe would wait for a writer for ever)."""
    if not _utf8(str(path)):
        return "its name is not valid UTF-8: rename the file (or folder) to analyse it"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if path.is_symlink():  # (its own error said nothing of a link: "No such file or directory")
            return f"a link to {shown(os.readlink(path))}, which cannot be reached ({exc.strerror}): not read"
        return ""
    if stat.S_ISDIR(mode):
        try:
            os.listdir(path)
        except OSError as exc:
            return f"a folder that cannot be read ({exc.strerror}): its files are not analysed"
        return "a folder, not a file"
    return "" if stat.S_ISREG(mode) else "not a regular file (a pipe, socket or device): not read"


def shown(path: str) -> str:
    r"""``path`` as a table can hold it: each byte of its name that is not UTF-8 as ``\xNN``.

    >>> shown("/in/a\udcffb.dcm")
    '/in/a\\xffb.dcm'
    """
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # an undecodable byte of the name, kept by Python as a lone surrogate
        return False
    return True
