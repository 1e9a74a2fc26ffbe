"""SPEC (Inputs): calipers and text burned inside the region must not become follicles. The shipped
network on a held-out 3-D frame (seed 1000042: two follicles of about 10 and 7 mm in an ovary),
with the graphics of ``scripts/graphics_check.py`` against the same frame without them."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from script_module import load_script  # tests/ is on sys.path

from follicle_seg.measure import measure_frame
from follicle_seg.model.infer import Segmenter
from follicle_seg.types import Frame

graphics_check = load_script("graphics_check")

SEED, STYLE = 1_000_042, "samsung_warm"
DIAMETER_TOLERANCE_MM = 0.5  # the script's 48 frames: white calipers change a follicle by -0.40 to +0.14 mm


@pytest.fixture(scope="module")
def measured():
    images, truth, crossed, spacing = graphics_check.variants(SEED, STYLE)
    names = ["plain", "calipers", "text"]
    frames = [Frame(graphics_check.record(images[n][0].shape, spacing), 0, images[n][0]) for n in names]
    segs = Segmenter(device="cpu", batch_size=1, threads=1).segment(frames)
    out = {n: measure_frame(s) for n, s in zip(names, segs)}
    return images, truth, crossed, out


def test_the_calipers_cross_the_follicles_inside_the_ovary(measured) -> None:
    images, truth, crossed, _ = measured
    graphics = images["calipers"][1]
    assert len(crossed) == 2
    for follicle in crossed:
        assert (graphics & follicle).sum() >= 5  # '+' ends on its edge, dots across it


def test_calipers_across_follicles_keep_their_count_and_size(measured) -> None:
    _, _, crossed, m = measured
    kinds = {n: graphics_check.kinds(m[n].follicles) for n in ("plain", "calipers")}
    assert kinds["plain"].count("reported") == kinds["calipers"].count("reported") == 2
    for follicle in crossed:
        before = graphics_check.on_follicle(m["plain"].instances, kinds["plain"], m["plain"].follicles, follicle)
        after = graphics_check.on_follicle(m["calipers"].instances, kinds["calipers"], m["calipers"].follicles, follicle)
        assert len(before) == len(after) == 1  # found, not split
        assert abs(after[0].mean_diameter_mm - before[0].mean_diameter_mm) <= DIAMETER_TOLERANCE_MM


def test_text_over_the_ovary_gives_no_follicle(measured) -> None:
    images, truth, _, m = measured
    kind = graphics_check.kinds(m["text"].follicles)
    assert images["text"][1].sum() > 100  # two lines of text drawn
    assert graphics_check.on_graphics(m["text"].instances, kind, images["text"][1], truth) == {"reported": 0, "candidate": 0}
    assert kind.count("reported") == graphics_check.kinds(m["plain"].follicles).count("reported")


def test_on_graphics_counts_a_false_follicle_under_a_mark_only() -> None:
    instances = np.zeros((20, 40), np.int32)
    instances[2:10, 2:10] = 1  # on the mark, outside every true follicle
    instances[2:10, 20:28] = 2  # on the mark, a true follicle
    instances[12:18, 2:8] = 3  # away from the mark
    truth = np.zeros_like(instances)
    truth[2:10, 20:28] = 1
    mark = np.zeros(instances.shape, bool)
    mark[5, :30] = True
    mark[15, 30:] = True
    assert graphics_check.on_graphics(instances, ["reported", "candidate", "reported"], mark, truth) == {
        "reported": 1, "candidate": 0}


def test_the_script_prints_a_row_per_variant(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setattr(sys, "argv", ["graphics_check.py", "--n", "1", "--seed-start", str(SEED + 1),
                                      "--json", str(tmp_path / "g.json")])
    graphics_check.main()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[2:]] == ["generator", "calipers", "green", "thick", "text", "dark"]
    rows = json.loads((tmp_path / "g.json").read_text())["variants"]
    for name in ("calipers", "green calipers", "thick cross"):  # the crossed follicles still reported flag notched?
        assert 0 <= rows[name]["notched"] <= rows[name]["crossed"] - rows[name]["lost"]
        assert 0 <= rows[name]["notched_without"] <= rows[name]["crossed"] - rows[name]["lost"]


def test_colour_calipers_are_read_as_ingestion_reads_a_colour_file(measured) -> None:
    """The green calipers and the yellow cross are drawn in RGB and read through ``io.grey``: the
    network sees their luma (grey 150 and 226), and their pixels in colour are the ones drawn, for
    the dent's measurement; white calipers and text have no colour."""
    images = measured[0]
    plain = images["plain"][0]
    for name, grey in (("green calipers", 150), ("thick cross", 226)):
        pixels, graphics, colour = images[name]
        assert graphics.sum() >= 20
        np.testing.assert_array_equal(colour, graphics)
        assert (pixels[graphics] == grey).all() and (pixels[~graphics] == plain[~graphics]).all()
    assert images["calipers"][2] is None and images["text"][2] is None
