"""Side of the ovary: tag precedence and description keywords."""

from __future__ import annotations

import pytest

from follicle_seg.io.laterality import choose_laterality, side_from_text


@pytest.mark.parametrize(
    ("text", "side"),
    [
        ("LT OVARY", "L"),
        ("left", "L"),
        ("Left ovary", "L"),
        ("L OV", "L"),
        ("l ov sweep", "L"),
        ("L-OV", "L"),
        ("TV_LT_OV", "L"),
        ("LOV", "L"),
        ("ovary (lt)", "L"),
        ("RT", "R"),
        ("Right Ovary", "R"),
        ("R OV", "R"),
        ("r_ov", "R"),
        ("ROV 2", "R"),
        ("", None),
        ("ovary", None),
        ("CLEFT", None),
        ("leftover", None),
        ("PART", None),
        ("BRIGHT", None),
        ("ALTITUDE", None),
        ("GLOVE", None),
        ("ROVER", None),
        ("DÖRT BOYUT", None),  # a letter of another alphabet touches it too (Turkish: four)
        ("SVÅRT ATT SE", None),
        ("ÉLT", None),
        ("ovary lt:2", "L"),
        ("Lt and Rt", None),
    ],
)
def test_keywords(text: str, side: str | None) -> None:
    assert side_from_text(text) == side


def sides(**tags: str | None) -> tuple[str, str]:
    base: dict[str, str | None] = dict(
        image_laterality=None, laterality=None, series_description=None, image_comments=None
    )
    base.update(tags)
    return choose_laterality(**base)


def test_precedence() -> None:
    everything = dict(
        image_laterality="R", laterality="L", series_description="LEFT", image_comments="LEFT"
    )
    assert sides(**everything) == ("R", "ImageLaterality")
    assert sides(**{**everything, "image_laterality": "B"}) == ("L", "Laterality")
    assert sides(
        **{**everything, "image_laterality": "", "laterality": "U", "series_description": "RT OV"}
    ) == ("R", "SeriesDescription")
    assert sides(series_description="pelvis", image_comments="rt") == ("R", "ImageComments")
    assert sides(series_description="pelvis") == ("U", "none")
    assert sides(laterality=" l ") == ("L", "Laterality")
