"""scripts/dent_grid.py: its shapes are what it says, and the ``follicle notched`` flag it checks
catches two touching follicles whichever way they lie on the pixel grid and no ellipse."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from script_module import load_script  # tests/ is on sys.path
from scipy import ndimage as ndi

dent_grid = load_script("dent_grid")


def test_the_shapes_are_two_discs_and_an_ellipse_of_the_sizes_asked() -> None:
    apart = dent_grid.discs(10, 2.4, np.deg2rad(30), (0.3, 0.6))
    assert ndi.label(apart)[1] == 2 and apart.sum() == pytest.approx(2 * np.pi * 100, rel=0.02)
    oval = dent_grid.ellipse(20, 2.0, np.deg2rad(45), (0.3, 0.6))
    assert oval.sum() == pytest.approx(np.pi * 20 * 10, rel=0.02)


@pytest.mark.parametrize("degrees", [0, 30, 45, 60])
def test_two_5_mm_follicles_one_radius_apart_are_flagged_at_every_angle_and_ellipses_not(degrees: int) -> None:
    """A 5 mm follicle at 0.2 mm a pixel is 12.5 pixels in radius: at 45 degrees the dent of the
    pixel outline (1.41 pixels) fell under the 1.5 the staircase asked, and the pair was missed."""
    angle = np.deg2rad(degrees)
    dent_px, fraction, flagged = dent_grid.checked(dent_grid.discs(12.5, 1.0, angle, (0.2, 0.4)))
    assert flagged and fraction > 0.1 and dent_px > 1.2
    for radius in (6, 12.5, 40):
        for ratio in (1.0, 1.5, 2.5):
            assert not dent_grid.checked(dent_grid.ellipse(radius, ratio, angle, (0.2, 0.4)))[2]


def test_it_reports_each_radius_pairs_and_ellipses(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", ["dent_grid.py", "--radii", "20"])
    dent_grid.main()
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("radius 20: pairs 0.8: ") and ", 1.0: " in line and line.endswith(" px)")
    one_radius = line.split(", 1.0: ")[1].split(",")[0].split()
    assert one_radius[1] == "52"  # every angle and offset flagged
    assert "; ellipses 0 (" in line
