"""Which ovary an image shows: ``"L"``, ``"R"`` or ``"U"`` (unknown), and where that came from.

Precedence (SPEC "Inputs"): ImageLaterality (0020,0062), then Laterality (0020,0060), then
keywords in SeriesDescription (0008,103E), then in ImageComments (0020,4000); else ``U``.
A tag value other than L / R (``B`` both, ``U`` unpaired, empty) does not decide and the next
source is asked. Keywords, in any case: ``LT``, ``LEFT``, ``L OV`` (also ``L-OV``, ``L_OV``,
``LOV``, ``L OVARY``) and ``RT``, ``RIGHT``, ``R OV``...; a keyword counts only when no letter
of any alphabet touches it (``CLEFT``, ``LEFTOVER``, ``PART``, ``BRIGHT``, Turkish ``DÖRT`` do
not count) and a text naming both sides does not decide.
"""

from __future__ import annotations

import re

# a letter of any alphabet (a word character that is no digit and no underscore): Turkish DÖRT
# (four) and Swedish SVÅRT (hard) name no right ovary
_EDGE_L = r"(?<![^\W\d_])"
_EDGE_R = r"(?![^\W\d_])"
_LEFT = re.compile(_EDGE_L + r"(?:LT|LEFT|L[\s_\-]*OV(?:ARY)?)" + _EDGE_R, re.IGNORECASE)
_RIGHT = re.compile(_EDGE_L + r"(?:RT|RIGHT|R[\s_\-]*OV(?:ARY)?)" + _EDGE_R, re.IGNORECASE)


def side_from_text(text: str | None) -> str | None:
    """``"L"`` or ``"R"`` when the text names exactly one side, else ``None``.

    Examples
    --------
    >>> side_from_text("TV Lt ovary"), side_from_text("R_OV sweep"), side_from_text("cleft")
    ('L', 'R', None)
    """
    if not text:
        return None
    left, right = bool(_LEFT.search(text)), bool(_RIGHT.search(text))
    if left == right:
        return None
    return "L" if left else "R"


def side_from_tag(value: str | None) -> str | None:
    """``"L"`` / ``"R"`` from an ImageLaterality or Laterality value, else ``None``."""
    code = (value or "").strip().upper()
    return code if code in ("L", "R") else None


def choose_laterality(
    *,
    image_laterality: str | None,
    laterality: str | None,
    series_description: str | None,
    image_comments: str | None,
) -> tuple[str, str]:
    """Return ``(side, source)`` following the precedence of the module docstring.

    Examples
    --------
    >>> choose_laterality(image_laterality="", laterality="R",
    ...                   series_description="LEFT OVARY", image_comments=None)
    ('R', 'Laterality')
    """
    candidates = (
        (side_from_tag(image_laterality), "ImageLaterality"),
        (side_from_tag(laterality), "Laterality"),
        (side_from_text(series_description), "SeriesDescription"),
        (side_from_text(image_comments), "ImageComments"),
    )
    for side, source in candidates:
        if side is not None:
            return side, source
    return "U", "none"
