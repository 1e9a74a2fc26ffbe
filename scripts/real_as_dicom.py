"""The pipeline itself on annotated screen captures: wrap them as DICOM, run ``follicle-seg run``, score it.

``scripts/eval_real.py`` scores the network on captures through the pipeline's functions. This
script takes the whole road a user's files take instead: every ``DIR/images/NAME.jpg`` (``.jpeg``,
``.png``) with a ``DIR/masks/NAME.png`` (non-zero = ovary) is written as an ultrasound Secondary
Capture (Modality US, no ultrasound regions, no pixel spacing: an uncalibrated screen capture, as
older scanners and screen grabs store it) under ``OUT/dicom/NAME.dcm``, a baseline JPEG's bytes
kept as they are (JPEG Baseline, YBR_FULL_422 or YBR_FULL after its chroma subsampling, or
MONOCHROME2), any other image stored uncompressed. Each capture is its own patient (PatientID
``NAME``) and study, so each is its own ovary-visit (side unknown). Then::

    follicle-seg run OUT/dicom --out OUT/run --save-masks --no-dicom --no-report --no-resume

(``--skip-run`` scores an ``OUT/run`` already there) and, from ``OUT/run``'s tables and label
maps, per capture: ovary Dice against the outline (the label map's ovary and follicle pixels), the
follicles reported and the unsure candidates, and whether each lies inside the outline (its
centroid). The summary gives the Dice median and mean and, per score band, the follicles found
and how many lie inside the outline (``eval_real.by_score``). Validation only, like
``eval_real.py``: never train on these images, never commit them or what is made from them.

Example
-------
    .venv/bin/python scripts/real_as_dicom.py ../shared/real_val/mmotu_ovary_normal /tmp/real_dicom --json /tmp/real_dicom.json
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, JpegImagePlugin
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (ExplicitVRLittleEndian, JPEGBaseline8Bit, SecondaryCaptureImageStorage,
                         generate_uid)

from eval_real import IMAGE_SUFFIXES, by_score, report
from follicle_seg.model.train import dice


def captures(folder: Path) -> list[tuple[Path, Path]]:
    """``(image, mask)`` of every capture of ``folder/images`` with a ``folder/masks/NAME.png``, by name."""
    images = sorted(p for p in (folder / "images").glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    return [(p, folder / "masks" / f"{p.stem}.png") for p in images if (folder / "masks" / f"{p.stem}.png").is_file()]


def baseline_jpeg(picture: Image.Image) -> bool:
    """A JPEG DICOM's JPEG Baseline (Process 1) transfer syntax holds as it is: 8-bit, not
    progressive, grey or YCbCr (not an Adobe RGB or CMYK JPEG)."""
    return (picture.format == "JPEG" and picture.mode in ("L", "RGB") and not picture.info.get("progressive")
            and picture.info.get("adobe_transform", 1) != 0 and picture.bits == 8)


def capture_dataset(image: Path) -> Dataset:
    """``image`` as an ultrasound Secondary Capture without regions or spacing (uncalibrated); its
    UIDs follow from its name, so writing it again gives the same instance."""
    picture = Image.open(image)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[image.stem, "sop"])
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[image.stem, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[image.stem, "series"])
    ds.Modality, ds.ConversionType, ds.PatientID, ds.StudyDate = "US", "WSD", image.stem, "20260101"
    ds.PatientName, ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "", "1", 1, 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.Rows, ds.Columns = picture.height, picture.width
    if baseline_jpeg(picture):
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        grey = picture.mode == "L"
        full = JpegImagePlugin.get_sampling(picture) == 0  # 4:4:4
        ds.PhotometricInterpretation = "MONOCHROME2" if grey else "YBR_FULL" if full else "YBR_FULL_422"
        ds.PixelData = encapsulate([image.read_bytes()])
    else:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        pixels = np.asarray(picture.convert("L" if picture.mode in ("L", "I;16", "I") else "RGB"))
        grey = pixels.ndim == 2
        ds.PhotometricInterpretation = "MONOCHROME2" if grey else "RGB"
        ds.PixelData = pixels.tobytes()
    ds.SamplesPerPixel = 1 if grey else 3
    if not grey:
        ds.PlanarConfiguration = 0
    ds["PixelData"].VR = "OB"
    return ds


def write_captures(folder: Path, out: Path) -> list[Path]:
    """Every annotated capture of ``folder`` as ``out/NAME.dcm``; the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for image, _ in captures(folder):
        capture_dataset(image).save_as(out / f"{image.stem}.dcm", enforce_file_format=True)
        written.append(out / f"{image.stem}.dcm")
    return written


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def score_run(folder: Path, run: Path) -> list[dict[str, object]]:
    """Per capture analysed in ``run`` (``follicle-seg run --save-masks``): ovary Dice of its
    label map against the outline, its reported follicles and candidates, and each one's
    ``[score, inside the outline]`` (its centroid); a candidate is an unsure one or a tube."""
    masks = {image.stem: mask for image, mask in captures(folder)}
    found: dict[str, list[tuple[str, float, tuple[float, float]]]] = {}
    rows = []
    for table in ("follicles.csv", "candidates.csv"):  # a candidate's kind: unsure, or a tube
        for r in _rows(run / table):
            found.setdefault(r["sop_instance_uid"], []).append((r.get("kind", "reported"), float(r["score"]),
                                                                (float(r["centroid_row"]), float(r["centroid_col"]))))
    for image in _rows(run / "images.csv"):
        name = image["patient_id"]
        if image["status"] != "ok" or name not in masks:
            continue
        truth = np.asarray(Image.open(masks[name]).convert("L")) > 0
        labels = np.asarray(Image.open(run / "masks" / f"{image['sop_instance_uid']}_0.png"))  # (a still: frame 0)
        mine = found.get(image["sop_instance_uid"], [])
        scores = [[score, bool(truth[round(row), round(col)])] for _, score, (row, col) in mine]
        kinds = [kind for kind, _, _ in mine]
        rows.append({"name": name, "ovary_dice": dice(labels > 0, truth), "reported_follicles": kinds.count("reported"),
                     "candidates": len(kinds) - kinds.count("reported"), "follicle_scores": scores})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="DIR with images/ and masks/")
    parser.add_argument("out", type=Path, help="where dicom/ and run/ go (outside the repository)")
    parser.add_argument("--skip-run", action="store_true", help="score the OUT/run already there")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if not args.skip_run:
        written = write_captures(args.folder, args.out / "dicom")
        if not written:
            parser.error(f"no images/*.jpg (.jpeg, .png) with masks/*.png under {args.folder}")
        subprocess.run([sys.executable, "-m", "follicle_seg", "run", str(args.out / "dicom"), "--out", str(args.out / "run"),
                        "--save-masks", "--no-dicom", "--no-report", "--no-resume"], check=True)
    if not (args.out / "run" / "images.csv").is_file():
        parser.error(f"no run in {args.out / 'run'} (images.csv missing): run without --skip-run first")
    rows = score_run(args.folder, args.out / "run")
    if not rows:
        parser.error(f"no annotated capture analysed in {args.out / 'run'}")
    d = np.array([r["ovary_dice"] for r in rows])
    summary = {"n_images": len(rows), "ovary_dice_median": float(np.median(d)), "ovary_dice_mean": float(d.mean()),
               "reported_follicles": sum(r["reported_follicles"] for r in rows),
               "candidates": sum(r["candidates"] for r in rows), "follicles_by_score": by_score(rows)}
    return report(summary, rows, args.json)


if __name__ == "__main__":
    sys.exit(main())
