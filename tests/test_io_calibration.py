"""Region choice and spacing rules (pure functions)."""

from __future__ import annotations

import pytest

from follicle_seg.io.calibration import (
    UltrasoundRegion,
    choose_calibration,
    choose_region,
    implausible_spacing,
    region_calibration,
)
from follicle_seg.types import UNCALIBRATED, Calibration


def region(
    c0: int,
    r0: int,
    c1: int,
    r1: int,
    *,
    fmt: int = 1,
    kind: int = 1,
    units: int = 3,
    dx: float = 0.02,
    dy: float = 0.02,
) -> UltrasoundRegion:
    return UltrasoundRegion(c0, r0, c1, r1, fmt, kind, units, units, dx, dy)


def test_largest_2d_tissue_region_wins() -> None:
    doppler = region(0, 300, 639, 479, fmt=3, kind=3, units=4)  # the largest, but spectral
    colour_box = region(100, 50, 300, 200, kind=2)
    small_tissue = region(0, 0, 99, 99)
    bmode = region(0, 0, 639, 299)
    assert choose_region([doppler, colour_box, small_tissue, bmode], 480, 640) is bmode


def test_equal_panes_give_the_first_and_non_tissue_2d_is_a_fallback() -> None:
    left, right = region(32, 24, 335, 415), region(336, 24, 639, 415)
    assert choose_region([left, right], 480, 640) is left
    colour_only = region(10, 10, 200, 200, kind=2)
    assert choose_region([region(0, 0, 9, 9, fmt=3, kind=3), colour_only], 480, 640) is colour_only
    assert choose_region([region(0, 0, 99, 99, fmt=3, kind=3)], 480, 640) is None
    assert choose_region([], 480, 640) is None


def test_area_counts_only_inside_the_frame() -> None:
    outside = region(700, 0, 900, 479)
    inside = region(0, 0, 199, 199)
    assert choose_region([outside, inside], 480, 640) is inside
    assert region(120, 60, 800, 518).clipped(350, 800) == (120, 60, 799, 349)


def test_cm_to_mm_and_anisotropy() -> None:
    calibration = region_calibration(region(0, 0, 9, 9, dx=0.01, dy=0.015))
    assert calibration is not None
    assert calibration.spacing_col_mm == pytest.approx(0.1)
    assert calibration.spacing_row_mm == pytest.approx(0.15)
    assert region_calibration(region(0, 0, 9, 9, units=0)) is None
    assert region_calibration(region(0, 0, 9, 9, dx=0.0)) is None


def test_fallback_order_and_never_a_guess() -> None:
    cm_region = region(0, 0, 9, 9, dx=0.03, dy=0.03)
    assert choose_calibration(cm_region, [0.5, 0.5], None).source == "ultrasound_region"
    no_units = region(0, 0, 9, 9, units=0)
    assert choose_calibration(no_units, [0.3, 0.2], [0.1, 0.1]) == Calibration(
        0.3, 0.2, "PixelSpacing"
    )
    assert choose_calibration(None, None, [0.1, 0.12]) == Calibration(
        0.1, 0.12, "ImagerPixelSpacing"
    )
    assert choose_calibration(None, [0.0, 0.0], None) is UNCALIBRATED
    assert choose_calibration(None, None, None) is UNCALIBRATED


def test_implausible_spacing_bounds() -> None:
    assert implausible_spacing(Calibration(0.01, 2.0, "PixelSpacing")) is None
    assert implausible_spacing(UNCALIBRATED) is None
    reason = implausible_spacing(Calibration(0.2, 2.5, "ultrasound_region"))
    assert (
        reason is not None and "2.5 mm between columns" in reason and "ultrasound_region" in reason
    )
    assert implausible_spacing(Calibration(0.005, 0.2, "PixelSpacing")) is not None
