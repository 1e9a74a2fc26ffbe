"""A run's label maps as fine-tuning pairs a sonographer corrects: ``images/`` + ``masks/`` PNG.

``follicle-seg run DICOM... --out RUN --save-masks`` writes the label map of every analysed frame,
``RUN/masks/<sop_instance_uid>_<frame_index>.png`` on the source-frame grid. This finds the source
of each map among the DICOM files given and writes, cropped to the ultrasound region the network
read:

    OUT/images/<sop>_<frame>.png   the grey frame, as the pipeline reads it
    OUT/masks/<sop>_<frame>.png    the run's labels (0 background, 1 ovary, 2 follicle)
    OUT/spacing.csv                the region's pixel size, for calibrated sources

(each pane of a dual display as ``<sop>_<frame>_pane<k>``, cropped to its own region).

Correct the masks with a tool that paints label values, not colours (ITK-SNAP, 3D Slicer, GIMP in
indexed mode; 3 marks the inside of an ovary outline whose follicles are not drawn), delete the
frames not worth annotating (image, mask and ``spacing.csv`` line), then fine-tune:
``follicle-seg train --init models/model.pt --data OUT --out runs/site_bundle`` (docs/model.md, "Fine-tuning
on your own scans"). ``--step N`` keeps every N-th frame of a sweep (frames 0, N, 2N, ...).

A map whose source is not among the files, or whose source ingestion now rejects, is listed on one
line and left out; the exit status is 1 only when nothing was exported.

Example
-------
    follicle-seg run study/ --out runs/study --save-masks
    .venv/bin/python scripts/export_pairs.py runs/study study/ --out runs/to_correct --step 10
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

import cv2

from follicle_seg.report.overlay_files import write_image
from follicle_seg.errors import RejectedInput
from follicle_seg.io import discover, iter_frames, read_record
from follicle_seg.types import ImageRecord

MASK_NAME = re.compile(r"(?P<sop>[0-9.]+)_(?P<frame>\d+)\.png")


def sources_by_sop(paths: list[Path]) -> dict[str, ImageRecord]:
    """The records of the readable DICOM files under ``paths``, by SOP Instance UID."""
    found: dict[str, ImageRecord] = {}
    for path in discover(paths):
        try:
            record = read_record(path)
        except RejectedInput:
            continue  # not an image the pipeline reads (notes, reports, the run's own SEG/SR)
        found.setdefault(record.sop_instance_uid, record)
    return found


def export(run: Path, sources: dict[str, ImageRecord], out: Path, step: int = 1, say=print) -> int:
    """Write the pairs; returns how many were written."""
    wanted: dict[str, list[tuple[int, Path]]] = {}
    for mask in sorted((run / "masks").glob("*.png")):
        match = MASK_NAME.fullmatch(mask.name)
        if match and int(match["frame"]) % step == 0:
            wanted.setdefault(match["sop"], []).append((int(match["frame"]), mask))
    spacing_rows = []
    written = 0
    for sop, masks in sorted(wanted.items()):
        record = sources.get(sop)
        if record is None:
            say(f"{masks[0][1]}: its source (SOP instance {sop}) is not among the files given; left out")
            continue
        for frame_index, mask_path in sorted(masks):
            labels = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
            if labels is None or labels.shape != (record.rows, record.columns):
                say(f"{mask_path}: not a label map of {record.path}'s frame size; left out")
                continue
            try:  # the frame decoded once; a dual display gives each pane as a pair of its own
                frames = list(iter_frames(record, start=frame_index, stop=frame_index + 1, panes=True))
            except RejectedInput as exc:
                say(f"{record.path}: frame {frame_index} cannot be read ({exc}); left out")
                continue
            if not frames:
                say(f"{record.path}: no frame {frame_index}; left out")
                continue
            for frame in frames:
                pane = frame.record
                name = f"{sop}_{frame_index}" + (f"_pane{pane.pane + 1}" if record.n_panes > 1 else "")
                c0, r0, c1, r1 = pane.region
                write_image(out / "images" / f"{name}.png", frame.pixels)
                write_image(out / "masks" / f"{name}.png", labels[r0 : r1 + 1, c0 : c1 + 1])
                if pane.calibration.calibrated:
                    cal = pane.calibration
                    spacing_rows.append((name, cal.spacing_row_mm, cal.spacing_col_mm))
                written += 1
    if spacing_rows:
        with open(out / "spacing.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["name", "spacing_row_mm", "spacing_col_mm"])
            writer.writerows(spacing_rows)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="output folder of a run made with --save-masks")
    parser.add_argument("sources", type=Path, nargs="+", help="the DICOM files or folders the run read")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--step", type=int, default=1, help="every N-th frame of a sweep (default: every frame)")
    args = parser.parse_args(argv)
    if not (args.run / "masks").is_dir():
        print(f"{args.run}: no masks/ folder (run with --save-masks)", file=sys.stderr)
        return 1
    n = export(args.run, sources_by_sop(args.sources), args.out, max(1, args.step))
    print(f"{n} frame(s) written to {args.out}/images and {args.out}/masks")
    return 0 if n else 1


if __name__ == "__main__":
    sys.exit(main())
