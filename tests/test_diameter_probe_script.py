"""scripts/diameter_probe.py: its discs are the pixels inside a disc, and it reports each bias."""

from __future__ import annotations

import sys

import numpy as np
from script_module import load_script  # tests/ is on sys.path

diameter_probe = load_script("diameter_probe")


def test_a_disc_has_the_area_of_its_diameter() -> None:
    areas = [diameter_probe.disc(10.0, 0.2, np.random.default_rng(k)).sum() * 0.04 for k in range(5)]
    assert abs(np.mean(areas) - np.pi * 25) < 0.5


def test_it_reports_the_mean_diameter_bias_per_spacing_and_size(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", ["diameter_probe.py", "--n", "2"])
    diameter_probe.main()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 9 and lines[0].startswith("mm/px")
    for line in lines[1:]:
        bias_px = float(line.split("(")[1].split(" px")[0])
        assert 0.3 < bias_px < 1.0, line  # the pixel staircase's widest direction: long, under a pixel
