"""How a file's side is read, against random tags and texts (property-based, metamorphic).

Each property is stated in docs/ingestion.md ("Side") and the module docstring of
:mod:`follicle_seg.io.laterality`: ImageLaterality, then Laterality, then keywords in
SeriesDescription, then in ImageComments; a tag value other than L / R passes to the next source;
keywords count in any case, only when no letter touches them, and a text naming both sides (or
neither) decides nothing. Texts are built from the documented keywords, words that merely hold
them (``CLEFT``, ``BRIGHT``...), digits, punctuation, whitespace and letters of other alphabets.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from follicle_seg.io.laterality import choose_laterality, side_from_tag, side_from_text
from test_io_laterality import sides  # tests/ is on sys.path

PROPERTIES = settings(max_examples=60)  # (deterministic: tests/conftest.py's profile)

# the documented keywords, each written as the docs write it
KEYWORDS = {
    "L": ("LT", "LEFT", "L OV", "L-OV", "L_OV", "LOV", "L OVARY"),
    "R": ("RT", "RIGHT", "R OV", "R-OV", "R_OV", "ROV", "R OVARY"),
}
# words holding a keyword that a letter touches, and words of no side at all
NEUTRAL = ("OVARY", "TV", "SWEEP", "PELVIS", "CLEFT", "LEFTOVER", "PART", "BRIGHT", "ALTITUDE", "GLOVE",
           "ROVER", "LOVE", "SALT", "ART", "FOLLICLES", "ENDOMETRIUM", "BOLT", "TRANSVAGINAL", "DÖRTLÜ")  # fmt: skip
SEPARATORS = (" ", "  ", "_", "-", "/", ", ", ": ", "(", ")", ".", "\t", "\n", " 2 ", "#3 ")
# letters that touch a keyword: ASCII, and other alphabets' (Turkish DÖRT, Swedish SVÅRT end in RT)
LETTERS = st.one_of(
    st.sampled_from("ABCZabcz"),
    st.sampled_from("ÄÖÜÅÉØÇŞĞÑäöüåéøçşğñßΩωЖж"),
    st.characters(categories=("Lu", "Ll", "Lo")),
)
NOT_DECIDING = st.sampled_from((None, "", " ", "B", "U", "b", "u", "LR", "X", "?"))  # tag values that pass on
TAGS = st.one_of(NOT_DECIDING, st.sampled_from(("L", "R", "l", "r", " L", "R ", " r ")))


def case(word: str, style: int) -> str:
    return (word, word.upper(), word.lower(), word.swapcase(), word.title())[style]


@st.composite
def texts(draw, *, with_sides: str = "") -> str:
    """A text of neutral words and separators, holding one keyword of each side in ``with_sides``."""
    words = [draw(st.sampled_from(NEUTRAL)) for _ in range(draw(st.integers(0, 4)))]
    for side in with_sides:
        words.insert(draw(st.integers(0, len(words))), draw(st.sampled_from(KEYWORDS[side])))
    words = [case(w, draw(st.integers(0, 4))) for w in words]
    out = draw(st.sampled_from(("", " ", "\t")))
    for w in words:
        out += w + draw(st.sampled_from(SEPARATORS))
    return out


ANY_TEXT = st.one_of(st.none(), texts(), texts(with_sides="L"), texts(with_sides="R"), texts(with_sides="LR"))


@PROPERTIES
@given(st.sampled_from("LR"), st.data())
def test_one_side_named_is_that_side_in_any_case_and_spacing(side: str, data) -> None:
    text = data.draw(texts(with_sides=side))
    assert side_from_text(text) == side
    for changed in (text.upper(), text.lower(), text.swapcase(), f"  {text}\t", text.strip()):
        assert side_from_text(changed) == side, changed


@PROPERTIES
@given(st.sampled_from(("", "LR", "RL", "LLR", "LRR")), st.data())
def test_both_sides_or_neither_decides_nothing(named: str, data) -> None:
    text = data.draw(texts(with_sides=named))
    assert side_from_text(text) is None


@st.composite
def touched(draw) -> tuple[str, str, str, str]:
    """(side, keyword, before, after): a keyword with a letter touching it on one side or both."""
    side = draw(st.sampled_from("LR"))
    edges = draw(st.sampled_from((("letter", ""), ("", "letter"), ("letter", "letter"), ("letter", " "), (" ", "letter"))))
    before, after = (draw(LETTERS) if edge == "letter" else edge for edge in edges)
    return side, draw(st.sampled_from(KEYWORDS[side])), before, after


@PROPERTIES
@example(("R", "RT", "DÖ", " 2"))  # Turkish DÖRT, four: no right ovary
@example(("R", "RT", "SVÅ", ""))  # Swedish SVÅRT, hard (to see)
@example(("L", "LT", "", "É"))
@given(touched())
def test_a_keyword_touched_by_a_letter_does_not_count(case_: tuple[str, str, str, str]) -> None:
    side, keyword, before, after = case_
    text = f"OVARY {before}{keyword}{after} SWEEP"
    assert side_from_text(text) is None, text
    # the same keyword with a digit or a mark in place of the letters counts
    plain = f"OVARY {'1' if before.strip() else before}{keyword}{'.' if after.strip() else after} SWEEP"
    assert side_from_text(plain) == side, plain


@PROPERTIES
@given(TAGS, TAGS, ANY_TEXT, ANY_TEXT)
def test_the_first_source_that_decides_wins(image_laterality, laterality, description, comments) -> None:
    side, source = sides(image_laterality=image_laterality, laterality=laterality,
                         series_description=description, image_comments=comments)  # fmt: skip
    expected = next(
        ((found, name) for found, name in (
            (_tag(image_laterality), "ImageLaterality"), (_tag(laterality), "Laterality"),
            (side_from_text(description), "SeriesDescription"), (side_from_text(comments), "ImageComments"),
        ) if found), ("U", "none"))  # fmt: skip
    assert (side, source) == expected
    assert side in ("L", "R", "U")
    # a deciding source makes every later one irrelevant; a tag that does not decide is as if absent
    if source == "ImageLaterality":
        assert sides(image_laterality=image_laterality) == (side, source)
    if _tag(image_laterality) is None:
        assert sides(image_laterality=None, laterality=laterality, series_description=description,
                     image_comments=comments) == (side, source)  # fmt: skip
    assert sides(image_laterality=image_laterality, laterality=laterality, series_description=description,
                 image_comments=comments) == (side, source)  # the same again: no state  # fmt: skip


def _tag(value: str | None) -> str | None:
    """The oracle of a tag value: L or R (in any case, padded), else nothing decided."""
    code = (value or "").strip()
    return code.upper() if code in ("L", "R", "l", "r") else None


@PROPERTIES
@given(NOT_DECIDING)
def test_a_tag_other_than_l_or_r_passes_on(value) -> None:
    assert side_from_tag(value) is None
    assert choose_laterality(image_laterality=value, laterality=value, series_description=None,
                             image_comments="rt ov") == ("R", "ImageComments")  # fmt: skip
