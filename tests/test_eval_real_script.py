"""scripts/eval_real.py: the paired comparison of two networks on the same real images."""

from __future__ import annotations


import pytest

from script_module import load_script  # tests/ is on sys.path


def _module():
    return load_script("eval_real")


def test_paired_comparison_matches_images_by_name_and_counts_changes_beyond_the_margin() -> None:
    paired = _module().paired
    new = [{"name": n, "ovary_dice": d} for n, d in (("a", 0.9), ("b", 0.5), ("c", 0.0), ("d", 0.7), ("x", 1.0))]
    old = [{"name": n, "ovary_dice": d} for n, d in (("a", 0.5), ("b", 0.52), ("c", 0.3), ("d", 0.6))]
    r = paired(new, old)
    # differences +0.4, -0.02, -0.3, +0.1 ("x" was scored once only and is left out)
    assert r["n_images"] == 4 and r["better"] == 2 and r["worse"] == 1
    assert r["mean_difference"] == pytest.approx(0.045)
    assert 0.0 < r["wilcoxon_p"] <= 1.0
    assert paired(old, old)["wilcoxon_p"] is None
    with pytest.raises(ValueError, match="no image"):
        paired(new, [{"name": "z", "ovary_dice": 0.1}])


def test_breakdown_by_ovary_size_counts_images_means_and_misses_per_class() -> None:
    rows = [{"ovary_share": s, "ovary_dice": d} for s, d in ((0.01, 0.0), (0.015, 0.5), (0.05, 0.8), (0.07, 0.05), (0.3, 0.9))]
    classes = _module().by_ovary_size(rows)
    assert [(c["share"], c["images"], c["missed"]) for c in classes] == [
        ("0.00-0.02", 2, 1), ("0.04-0.08", 2, 1), ("0.08-1.00", 1, 0)]  # the empty 0.02-0.04 class is left out
    assert [c["ovary_dice_mean"] for c in classes] == pytest.approx([0.25, 0.425, 0.9])


def test_a_file_that_does_not_load_or_fit_its_mask_is_left_out_and_listed(tmp_path, capsys) -> None:
    """A corrupt capture stopped the whole evaluation with a traceback (the images scored before it
    lost), a mask of another size ended in a broadcast error, and .jpeg / .png captures or
    images without a mask were left out in silence."""
    import json

    import numpy as np
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(0)
    grey = rng.integers(40, 120, (96, 128)).astype(np.uint8)
    outline = np.zeros(grey.shape, np.uint8)
    outline[30:70, 40:90] = 255
    for name, suffix in (("a", ".jpg"), ("e", ".PNG"), ("g", ".jpeg")):
        Image.fromarray(grey).save(tmp_path / "images" / f"{name}{suffix}", format="PNG" if suffix == ".PNG" else "JPEG")
        Image.fromarray(outline).save(tmp_path / "masks" / f"{name}.png")
    (tmp_path / "images" / "b.jpg").write_bytes(b"not a jpeg")
    Image.fromarray(outline).save(tmp_path / "masks" / "b.png")
    Image.fromarray(grey).save(tmp_path / "images" / "c.jpg")
    Image.fromarray(outline[:50]).save(tmp_path / "masks" / "c.png")
    Image.fromarray(grey).save(tmp_path / "images" / "f.jpg")  # no mask
    out = tmp_path / "real.json"
    assert _module().main([str(tmp_path), "--device", "cpu", "--depths", "70", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [r["name"] for r in result["images"]] == ["a", "e", "g"]
    skipped = result["summary"]["skipped"]
    assert [s.split(":")[0] for s in skipped] == [str(tmp_path / "images" / n) for n in ("b.jpg", "c.jpg", "f.jpg")]
    assert "masks/c.png is 128x50 pixels, the image 128x96" in skipped[1] and "no " in skipped[2]
    assert capsys.readouterr().err.count("left out") == 3


def test_reported_follicles_are_counted_for_the_review_flags_they_raise() -> None:
    """The real captures' follicles are measured as the pipeline measures an uncalibrated still
    (pixels, on the scan area) and only those it would report are checked for the follicle flags."""
    import numpy as np

    from follicle_seg.tracking import FLAG_AT_EDGE, FLAG_ELONGATED, FLAG_NOTCHED
    from follicle_seg.types import FOLLICLE, OVARY

    module = _module()
    rr, cc = np.mgrid[:120, :240]
    labels = np.full(rr.shape, OVARY, np.uint8)
    sure = np.zeros(rr.shape, bool)
    for r, c, a, b in ((30, 40, 12, 12), (30, 54, 12, 12),  # two follicles the split leaves as one
                       (90, 60, 5, 24),  # a vessel seen lengthwise
                       (60, 130, 10, 10),  # a round follicle
                       (60, 12, 10, 10)):  # cut by the scan area's edge (column 6)
        sure |= ((rr - r) / a) ** 2 + ((cc - c) / b) ** 2 <= 1
    unsure = (rr - 60) ** 2 + (cc - 190) ** 2 <= 100  # notched too, but scored 0.7: not reported
    unsure |= (rr - 60) ** 2 + (cc - 204) ** 2 <= 100
    labels[sure | unsure] = FOLLICLE
    probs = np.zeros((3, *rr.shape), np.float32)
    probs[OVARY][labels == OVARY] = 1.0
    probs[FOLLICLE][sure], probs[FOLLICLE][unsure] = 1.0, 0.7
    probs[OVARY][unsure] = 0.3
    scan = cc >= 6
    box = (100, 50, 339, 169)  # the scan area's place on the capture: boxes are on the capture
    reported = module.reported_follicles(labels, probs, box, scan)
    row = module.follicle_flags(reported)
    assert row["reported_follicles"] == 4
    assert row["follicle_flags"] == {FLAG_AT_EDGE: 1, FLAG_ELONGATED: 1, FLAG_NOTCHED: 1}
    notched = [f for f in row["flagged_follicles"] if f["flags"] == [FLAG_NOTCHED]]
    assert len(notched) == 1 and notched[0]["bbox"] == [50 + 18, 100 + 28, 50 + 43, 100 + 67]
    assert notched[0]["dent_px"] >= 1.5
    rows = [row, module.follicle_flags([]), module.follicle_flags(reported[-1:])]
    summary = module.images_with_follicle_flags(rows)
    assert summary["images_with_reported_follicle"] == 2
    assert summary["images_with_follicle_flag"] == {FLAG_AT_EDGE: 1, FLAG_ELONGATED: 1, FLAG_NOTCHED: 1}
    # a yellow '+' caliper on the round follicle's wall, its pixels (and their rim) left out of it:
    # notched, unless the capture's pixels in colour are known (they fill the bite)
    from scipy import ndimage as ndi

    mark = np.zeros(rr.shape, bool)
    mark[50, 125:136] = mark[45:56, 130] = True
    labels[ndi.binary_dilation(mark, np.ones((3, 3), bool)) & (labels == FOLLICLE)] = OVARY
    bitten = module.follicle_flags(module.reported_follicles(labels, probs, box, scan))
    assert bitten["follicle_flags"][FLAG_NOTCHED] == 2
    colour = np.zeros((box[3] + 1, box[2] + 1), bool)  # on the capture's grid; the scan area's crop is passed
    colour[50:, 100:][mark] = True
    marked = module.follicle_flags(module.reported_follicles(labels, probs, box, scan, colour[50:, 100:]))
    assert marked["follicle_flags"] == row["follicle_flags"]


def test_a_captures_pixels_in_colour_are_found_as_ingestion_finds_them(tmp_path) -> None:
    """The captures' yellow calipers and dotted lines: their pixels come with each image (for the
    reported follicles' dents), read by ``io.grey.colour_mask``; the grey image is PIL's as before."""
    import numpy as np
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rgb = np.full((80, 120, 3), 90, np.uint8)
    rgb[20:60, 30:90] = (120, 110, 100)  # a warm grey: no colour
    rgb[40, 50:61] = rgb[35:46, 55] = (250, 220, 20)  # a yellow '+'
    Image.fromarray(rgb).save(tmp_path / "images" / "a.png")
    Image.fromarray(np.full((80, 120), 255, np.uint8)).save(tmp_path / "masks" / "a.png")
    (name, grey, _, _, colour), = _module().annotated_regions(tmp_path)
    expected = np.zeros((80, 120), bool)
    expected[40, 50:61] = expected[35:46, 55] = True
    np.testing.assert_array_equal(colour, expected)
    np.testing.assert_array_equal(grey, np.asarray(Image.open(tmp_path / "images" / "a.png").convert("L")))


def test_follicles_are_scored_and_placed_against_the_outline_per_band() -> None:
    """Each follicle instance keeps its stored score and whether most of it lies in the expert
    outline; the bands are the pipeline's (dropped, unsure candidate, reported)."""
    import numpy as np

    from follicle_seg.types import FOLLICLE, OVARY

    module = _module()
    rr, cc = np.mgrid[:100, :200]
    labels = np.full(rr.shape, OVARY, np.uint8)
    probs = np.zeros(rr.shape, np.float32)
    for c, p in ((30, 0.95), (80, 0.75), (130, 0.4), (175, 0.9)):
        disc = (rr - 50) ** 2 + (cc - c) ** 2 <= 64
        labels[disc], probs[disc] = FOLLICLE, p
    truth = cc < 100  # the first two inside, the others outside
    scores = module.follicle_scores(labels, probs, truth)
    assert [(s, i) for s, i in scores] == [(0.95, True), (0.75, True), (0.4, False), (0.9, False)]
    assert module.outside_counts(scores) == (4, 2, 1)  # the 0.9 one outside would be reported
    assert module.follicles_outside(labels, probs, truth) == (4, 2, 1)
    bands = module.by_score([{"follicle_scores": [list(x) for x in scores]}])
    assert [(b["score"], b["follicles"], b["inside"]) for b in bands] == [
        ("0.00-0.60", 1, 0), ("0.60-0.90", 1, 1), ("0.90-1.00", 2, 1)]
