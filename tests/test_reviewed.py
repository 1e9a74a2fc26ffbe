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
