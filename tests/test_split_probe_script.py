"""scripts/split_probe.py: the shapes it draws are what it says, and it reports its three checks."""

from __future__ import annotations

import sys

import numpy as np
from script_module import load_script  # tests/ is on sys.path
from scipy import ndimage as ndi

from follicle_seg.types import FOLLICLE, OVARY

split_probe = load_script("split_probe")


def test_a_spotted_single_is_one_follicle_with_ovary_spots_inside() -> None:
    labels = split_probe.spotted_single(np.random.default_rng(5))
    follicle = labels == FOLLICLE
    assert ndi.label(follicle, structure=np.ones((3, 3)))[1] == 1
    assert (ndi.binary_fill_holes(follicle) & (labels == OVARY)).any()  # spots inside it


def test_an_evenly_spaced_ring_encloses_tissue_and_its_follicles_are_counted(monkeypatch, capsys) -> None:
    rng = np.random.default_rng(0)
    labels, k = split_probe.ring(rng)
    assert 3 <= k <= 7 and (labels == FOLLICLE).any()
    monkeypatch.setattr(sys, "argv", ["split_probe.py", "--singles", "3", "--rings", "3", "--clusters", "2"])
    split_probe.main()
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("spotted singles cut in pieces: ") and " of 3; " in out[0] and " flagged (" in out[0]
    assert out[1].startswith("rings split into their follicles: ") and " of 3; of the other " in out[1]
    assert out[2].startswith("clusters split into their follicles: ") and " of 2; of the other " in out[2]


def test_two_follicles_left_as_one_are_counted_with_the_flag_they_raise() -> None:
    """Two 8 mm follicles one radius apart come out as one, notched; one of them alone is one,
    unflagged."""
    rr, cc = np.mgrid[:120, :160]
    labels = np.full((120, 160), OVARY, np.uint8)
    labels[(rr - 60) ** 2 + (cc - 70) ** 2 <= 400] = FOLLICLE
    single = labels.copy()
    labels[(rr - 60) ** 2 + (cc - 90) ** 2 <= 400] = FOLLICLE
    assert split_probe.split(labels) == (1, {split_probe.FLAG_NOTCHED})
    assert split_probe.split(single) == (1, set())
    assert split_probe.counted([(labels, 2), (single, 1)]) == (
        "1 of 2; of the other 1, 1 flagged (follicle notched 1, follicle elongated 0, network: follicle shape 0); "
        "of the 1 split right, 0 flagged (follicle notched 0, follicle elongated 0, network: follicle shape 0)")


def test_a_cluster_is_three_or_four_follicles_that_touch() -> None:
    gaps = 0
    for seed in range(6):
        labels, k = split_probe.cluster(np.random.default_rng(seed))
        follicle = labels == FOLLICLE
        assert k in (3, 4)
        assert ndi.label(follicle, structure=np.ones((3, 3)))[1] == 1  # they all touch
        gaps += bool((ndi.binary_fill_holes(follicle) & ~follicle).any())
    assert gaps >= 3  # most enclose a gap between them
