"""Find the input files: every file under the given paths, recursively, in a stable order."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

#: DICOM media directory files: an index of other files, never an image.
SKIPPED_NAMES = frozenset({"DICOMDIR"})


def discover(
    paths: Iterable[str | Path], *, exclude: Iterable[str | Path] = (), indexes: list[Path] | None = None
) -> Iterator[Path]:
    """Yield every file under ``paths`` (files or folders, searched recursively), sorted, as
    absolute paths.

    Any file name counts (scanners write ``IM0001``, ``1.2.840...``, no extension): non-DICOM,
    hidden and temporary files are yielded too, so that each gets its own rejected row later;
    only ``DICOMDIR`` index files are skipped (appended to ``indexes`` when given, so that a run
    can say so). A DICOMDIR named itself stands for its folder (:func:`is_index`): the files it
    indexes lie in that folder's tree. A path that does not exist is yielded as it is
    (reading it will reject it). Each file is yielded once. Files found in a searched folder
    that lie under an ``exclude`` folder are left out (a run's own output folder inside its
    input: its tables, overlays and DICOM objects are not inputs); a file named itself is not.

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
    found: set[Path] = set()
    skipped = [Path(os.path.abspath(e)) for e in exclude]
    for raw in paths:
        # absolute, ".." folded: a file is one input whatever the working folder or spelling
        # (resume and duplicate checks key on the path)
        path = Path(os.path.abspath(raw))
        if path.is_dir() or is_index(path):
            candidates = _walk(path if path.is_dir() else path.parent, skipped)
        else:
            candidates = iter([path])
        for p in candidates:
            if p.name.upper() not in SKIPPED_NAMES:
                found.add(p)
            elif indexes is not None and p not in indexes:
                indexes.append(p)
    yield from sorted(found)


def is_index(path: str | Path) -> bool:
    """Whether ``path`` is a DICOMDIR file: given as INPUT, its folder is read."""
    return Path(path).name.upper() in SKIPPED_NAMES and os.path.isfile(path)


def _walk(top: Path, skipped: list[Path]) -> Iterator[Path]:
    """Every non-folder entry under ``top``: files, broken links, pipes and the like (reading
    rejects them, with the reason), through linked folders (each real folder once: a link loop
    ends), and each folder that cannot be listed (its row says so), not under ``skipped``."""
    unreadable: list[Path] = []
    seen: set[str] = set()
    for folder, folders, files in os.walk(top, followlinks=True, onerror=lambda e: unreadable.append(Path(e.filename))):
        here = Path(folder)
        real = os.path.realpath(folder)
        if real in seen or any(here.is_relative_to(e) for e in skipped):
            folders[:] = []
            continue
        seen.add(real)
        yield from (here / name for name in files)
    yield from unreadable
