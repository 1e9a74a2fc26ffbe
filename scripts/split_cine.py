"""Write each frame of a multi-frame ultrasound DICOM as a single-frame US Image of the same series.

Some scanners and PACS store a sweep this way: one file per frame, InstanceNumber 1..N, each
acquired a frame time after the one before. `follicle-seg run` joins such stills back into one
sweep in its tables (``follicle_seg.series``); this tool makes such series from the multi-frame
sweeps of a synthetic study (or any cine) to check that it does::

    python scripts/split_cine.py check_study/dicom/P001/visit01/L_sweep.dcm split/ --start 20260105101500

Pixel data is written uncompressed (decoded once); every other header element is kept, with a
new SOP Instance UID per frame.
"""

from __future__ import annotations

import argparse
import copy
from datetime import datetime, timedelta
from pathlib import Path

import pydicom
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
_MULTI_FRAME_ONLY = ("NumberOfFrames", "FrameTime", "FrameIncrementPointer", "CineRate",
                     "RecommendedDisplayFrameRate", "FrameTimeVector")  # fmt: skip


def split_cine(path: str | Path, out_dir: str | Path, *, start: str = "20260105101500",
               frame_time_ms: float | None = None) -> list[Path]:  # fmt: skip
    """Write the frames of ``path`` as ``out_dir/<stem>_NNN.dcm``; returns the paths written.

    ``start`` is the first frame's AcquisitionDateTime (``YYYYMMDDHHMMSS``); each next frame is
    ``frame_time_ms`` later (default: the file's FrameTime, else 33.3 ms).
    """
    ds = pydicom.dcmread(path)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    step = frame_time_ms if frame_time_ms is not None else float(ds.get("FrameTime", 33.3) or 33.3)
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress()
    data = ds.PixelData
    size = len(data) // n
    t0 = datetime.strptime(start, "%Y%m%d%H%M%S")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for k in range(n):
        frame = copy.deepcopy(ds)
        for keyword in _MULTI_FRAME_ONLY:
            if keyword in frame:
                delattr(frame, keyword)
        uid = generate_uid()
        frame.SOPClassUID = US_IMAGE_STORAGE
        frame.SOPInstanceUID = uid
        frame.InstanceNumber = k + 1
        stamp = (t0 + timedelta(milliseconds=k * step)).strftime("%Y%m%d%H%M%S.%f")
        frame.AcquisitionDateTime = stamp
        frame.ContentDate, frame.ContentTime = stamp[:8], stamp[8:]
        chunk = data[k * size : (k + 1) * size]
        frame.PixelData = chunk + b"\0" * (len(chunk) % 2)
        frame.file_meta.MediaStorageSOPClassUID = US_IMAGE_STORAGE
        frame.file_meta.MediaStorageSOPInstanceUID = uid
        frame.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        target = out_dir / f"{Path(path).stem}_{k + 1:03d}.dcm"
        frame.save_as(target, enforce_file_format=True)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cine", type=Path, help="a multi-frame ultrasound DICOM file")
    parser.add_argument("out", type=Path, help="folder for the single-frame files")
    parser.add_argument("--start", default="20260105101500", help="first frame's time, YYYYMMDDHHMMSS")
    parser.add_argument("--frame-time-ms", type=float, default=None, help="default: the file's FrameTime")
    args = parser.parse_args(argv)
    paths = split_cine(args.cine, args.out, start=args.start, frame_time_ms=args.frame_time_ms)
    print(f"{len(paths)} single-frame files in {args.out}")


if __name__ == "__main__":
    main()
