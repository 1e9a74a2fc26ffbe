"""Reviewed overlay copies (report/reviewed.py); their marks and band are checked on a run in
tests/test_review.py."""

from __future__ import annotations

import numpy as np
from PIL import Image


def test_a_reviewed_copy_of_an_image_given_its_side_says_the_side_in_its_header(tmp_path) -> None:
    from test_visits import result  # tests/ is on sys.path

    from follicle_seg.report.overlay import layout_for
    from follicle_seg.report.reviewed import _stamped

    r = result("1.1", [5.0], side="U")
    layout = layout_for(r.record)
    source = tmp_path / "a_f000.png"
    Image.new("RGB", (layout.canvas_width, layout.top + layout.height + 44), (24, 24, 24)).save(source)
    plain = np.asarray(_stamped(source, r, [], ["a line"]))
    sided = np.asarray(_stamped(source, r, [], ["a line"], side="L"))
    assert (plain[: layout.top] == 24).all()  # no side given: the header as it was
    assert (sided[:28] != plain[:28]).any() and (sided[28:] == plain[28:]).all()  # its first line redrawn


def test_the_band_of_an_image_given_another_side_says_the_side_it_was_analysed_with(tmp_path) -> None:
    from test_visits import result  # tests/ is on sys.path

    from follicle_seg.report.reviewed import _notes
    from follicle_seg.review import Review
    from follicle_seg.visits import build_tables

    images = [result("1.1", [5.0], side="L"), result("1.2", [4.0, 3.0], side="R")]
    (tmp_path / "review.csv").write_text("decision,sop_instance_uid,reviewer,comment\nright,1.1,AB,tag wrong\n")
    review = Review.read(tmp_path / "review.csv")
    notes = _notes(images, review, build_tables(images, review=review))
    assert notes["1.1"][0] == "side: right ovary (AB: tag wrong); as analysed it was the left ovary, that ovary-visit counting 1"
