"""The ``run`` of the bundle's configs: what ``python -m monai.bundle run --config_file
configs/inference.json`` does, without this package's command line.

``segment_folder``: every DICOM file under a folder segmented as ``follicle-seg run --save-masks``
segments it, each frame's label map written as ``<sop_instance_uid>_<frame_index>.png``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from follicle_seg.errors import ModelError, RejectedInput, said

__all__ = ["segment_folder"]


def segment_folder(dataset_dir: str | Path, output_dir: str | Path, checkpoint: str | Path,
                   device: str = "auto") -> list[Path]:
    """Label maps (0 background, 1 ovary, 2 follicle; source-frame grid, 8-bit PNG) of every frame
    of every DICOM file under ``dataset_dir``, by the network at ``checkpoint`` (a bundle's
    ``models/model.pt``), in ``output_dir``; the files written. A file that cannot be analysed is
    said on stderr, one line, and skipped."""
    from follicle_seg.artefacts import embed, mask_filename
    from follicle_seg.io import discover, iter_frames, read_record
    from follicle_seg.model.infer import Segmenter
    from follicle_seg.report.overlay_files import write_image

    dataset = Path(dataset_dir)
    if not dataset.exists():
        raise ModelError(f"dataset_dir {dataset}: not found (give --dataset_dir, a folder of DICOM files).")
    segmenter = Segmenter(Path(checkpoint), device=str(device))
    out = Path(output_dir)
    written = []
    for path in discover(dataset):
        try:
            record = read_record(path)
            frames = list(iter_frames(record, panes=True))
        except RejectedInput as exc:
            print(said(str(path), exc.reason), file=sys.stderr)
            continue
        maps: dict[int, np.ndarray] = {}
        for seg in segmenter.segment(frames):
            maps[seg.index] = embed(seg.labels, seg.record, into=maps.get(seg.index))
        for index, labels in maps.items():
            written.append(out / mask_filename(record, index))
            write_image(written[-1], labels)
    print(f"{len(written)} label maps written to {out}", file=sys.stderr)
    return written

