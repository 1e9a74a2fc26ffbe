"""The overlays a report shows: found by their file names, shrunk to JPEG thumbnails (made again
only when the overlay is newer), and the files of an earlier report it no longer uses removed."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from PIL import Image

from follicle_seg.atomic import atomic_write
from follicle_seg.cpus import usable_cpus
from follicle_seg.report.overlay_files import parse_name, uid_token

THUMB_WIDTH = 220


def scan_overlays(folder: str | Path, sop_instance_uids: Iterable[str]) -> pd.DataFrame:
    """Overlay files of the given images found in ``folder`` by their file-name token.

    Returns
    -------
    pandas.DataFrame
        Columns ``sop_instance_uid``, ``frame_index``, ``file`` (name inside ``folder``).
    """
    folder = Path(folder)
    by_token: dict[str, list[tuple[int, str]]] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*.png")):
            if parsed := parse_name(path.name):
                token, frame = parsed
                by_token.setdefault(token, []).append((frame, path.name))
    rows = [
        (uid, frame, name)
        for uid in dict.fromkeys(str(u) for u in sop_instance_uids if u)
        for frame, name in by_token.get(uid_token(uid), ())
    ]
    return pd.DataFrame(rows, columns=["sop_instance_uid", "frame_index", "file"])


def make_thumbnails(overlays: Path, index: pd.DataFrame, folder: Path) -> dict[str, Path]:
    """JPEG thumbnails of the indexed overlays (rebuilt only when the overlay is newer), made on
    threads: Pillow decodes, shrinks and encodes without holding the GIL."""
    found: dict[str, Path] = {}
    stale: list[tuple[Path, Path]] = []
    for name in dict.fromkeys(str(f) for f in index["file"]):
        source = overlays / name
        if not source.is_file():
            continue
        thumb = folder / (Path(name).stem + ".jpg")
        if not thumb.is_file() or thumb.stat().st_mtime < source.stat().st_mtime:
            stale.append((source, thumb))
        found[name] = thumb
    if stale:
        folder.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(min(8, usable_cpus())) as pool:
            list(pool.map(lambda pair: _thumbnail(*pair), stale))
    return found


def _thumbnail(source: Path, thumb: Path) -> None:
    with Image.open(source) as opened:
        small = opened.convert("RGB")
    small.thumbnail((THUMB_WIDTH, THUMB_WIDTH * 2))
    atomic_write(thumb, lambda tmp: small.save(tmp, format="JPEG", quality=85))


def remove_stale(folder: Path, keep: set[Path]) -> None:
    """Delete files of an earlier report that this one does not use."""
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file() and path not in keep:
                path.unlink()
