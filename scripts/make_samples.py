"""Write the small DICOM files of ``data_samples/`` (about 1.3 MB in all, nearly half of it the 20-frame cine).

Each sample shows one thing ingestion must handle; ``follicle-seg inspect data_samples/`` lists
them with their calibration, side and, for the bad ones, the reason they are rejected.
The content is simple and synthetic: grey speckle in a fan-shaped sector, dark discs for
follicles, burned-in text outside the sector. Deterministic: the same files on every run.

Usage::

    python scripts/make_samples.py [OUT_DIR]     # default: data_samples/
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, ImageDraw
from pydicom.uid import (
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from follicle_seg.io.write import write_us_dicom

ROWS, COLS = 240, 320
SECTOR = dict(min_col=40, min_row=30, max_col=279, max_row=229)  # the fan's bounding box
SPACING_MM = 0.2


def _uid(name: str) -> str:
    return generate_uid(entropy_srcs=["follicle_seg data_samples", name])


def sector_frame(rng: np.random.Generator, discs: list[tuple[float, float, float]]) -> np.ndarray:
    """One grey frame: speckle inside a fan, dark discs ``(row, col, radius)``, text outside."""
    rows, cols = np.mgrid[0:ROWS, 0:COLS]
    apex_row, apex_col = SECTOR["min_row"] - 20, (SECTOR["min_col"] + SECTOR["max_col"]) / 2
    radius = np.hypot(rows - apex_row, cols - apex_col)
    angle = np.degrees(np.arctan2(cols - apex_col, rows - apex_row))
    fan = (radius >= 22) & (radius <= SECTOR["max_row"] - apex_row) & (np.abs(angle) <= 42)
    fan &= (rows >= SECTOR["min_row"]) & (cols >= SECTOR["min_col"]) & (cols <= SECTOR["max_col"])
    speckle = rng.rayleigh(scale=38.0, size=(ROWS, COLS)) + 40.0
    for row, col, r in discs:
        speckle[np.hypot(rows - row, cols - col) <= r] *= 0.15
    frame = np.where(fan, np.clip(speckle, 0, 255), 0).astype(np.uint8)
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    draw.text((4, 2), "FOLLICLE_SEG SAMPLE  TVUS 7.5MHz", fill=230)
    draw.text((4, ROWS - 14), "MI 0.9  TIS 0.3", fill=230)
    return np.asarray(image)


def sweep(rng: np.random.Generator, n_frames: int) -> np.ndarray:
    """Frames of a sweep through two follicles that grow and shrink."""
    frames = []
    for k in range(n_frames):
        t = np.sin(np.pi * (k + 0.5) / n_frames)
        frames.append(sector_frame(rng, [(120, 140, 4 + 14 * t), (170, 190, 3 + 8 * t)]))
    return np.stack(frames)


def as_colour(grey: np.ndarray) -> np.ndarray:
    """A slightly warm tint, as many scanners store B-mode in RGB."""
    g = grey.astype(np.float32)
    return np.stack([np.clip(g * 1.04, 0, 255), g, g * 0.9], axis=-1).astype(np.uint8)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240611)
    region = dict(SECTOR, delta_x_mm=SPACING_MM, delta_y_mm=SPACING_MM)
    one = sector_frame(rng, [(120, 150, 18), (150, 200, 9)])[None]
    study = _uid("study")

    def write(name: str, frames: np.ndarray, **kwargs: object) -> None:
        defaults: dict[str, object] = dict(
            patient_id="SAMPLE01",
            study_uid=study,
            study_date="2024-06-11",
            series_uid=_uid(name + " series"),
            sop_instance_uid=_uid(name),
            regions=[region],
        )
        defaults.update(kwargs)
        write_us_dicom(out / name, frames, **defaults)  # type: ignore[arg-type]

    write("mono_left.dcm", one, laterality="L", series_description="TV ovary")
    write(
        "rgb_rle_right.dcm",
        as_colour(one),
        photometric="RGB",
        transfer_syntax=RLELossless,
        series_description="RT OVARY",
    )
    write(
        "jpeg_ybr422_left.dcm",
        as_colour(one),
        photometric="YBR_FULL_422",
        transfer_syntax=JPEGBaseline8Bit,
        image_comments="left ov",
    )
    write(
        "palette_j2k_right.dcm",
        one,
        photometric="PALETTE COLOR",
        transfer_syntax=JPEG2000Lossless,
        laterality="R",
    )
    write(
        "cine_20f_jpegls_right.dcm",
        sweep(rng, 20),
        transfer_syntax=JPEGLSLossless,
        laterality="R",
        series_description="R OV sweep",
        frame_time_ms=50.0,
        frame_spacing_mm=0.5,
    )
    write("uncalibrated_no_regions.dcm", one, regions=[], series_description="ovary")
    doppler = dict(
        min_col=40,
        min_row=200,
        max_col=279,
        max_row=236,
        delta_x_mm=10.0,
        delta_y_mm=0.5,
        spatial_format=3,
        data_type=3,
        units=4,
    )
    two_pane = dict(region, max_row=190)
    write(
        "two_regions_bmode_doppler.dcm",
        one,
        regions=[doppler, two_pane],
        laterality="L",
        study_date="2024-06-25",
    )
    write("bad_absurd_calibration.dcm", one, regions=[dict(region, delta_x_mm=5.0, delta_y_mm=5.0)])
    write(
        "bad_tiny_region.dcm",
        one,
        regions=[
            dict(min_col=10, min_row=10, max_col=50, max_row=40, delta_x_mm=0.2, delta_y_mm=0.2)
        ],
    )
    _write_bad_files(out, one)


def _write_bad_files(out: Path, one: np.ndarray) -> None:
    """Not DICOM, truncated, no pixel data, not ultrasound."""
    (out / "bad_not_dicom.txt").write_text("This is a note, not a DICOM file.\n")
    good = out / "mono_left.dcm"
    data = good.read_bytes()
    (out / "bad_truncated.dcm").write_bytes(data[: len(data) - len(data) // 3])
    ds = pydicom.dcmread(good)
    del ds.PixelData
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = _uid("no pixels")
    ds.save_as(out / "bad_no_pixel_data.dcm", enforce_file_format=True)
    ds = pydicom.dcmread(good)
    ds.Modality = "CT"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = _uid("ct")
    ds.save_as(out / "bad_not_ultrasound_ct.dcm", enforce_file_format=True)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", type=Path, default=Path(__file__).resolve().parents[1] / "data_samples",
                        help="folder to write the samples to (default: data_samples/)")
    main(parser.parse_args().out)
