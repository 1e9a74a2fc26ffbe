"""Reading annotated frames for training: what is refused, what is said, how frames are grouped."""

from __future__ import annotations

from follicle_seg.model.dicom_pairs import segment_class
from follicle_seg.types import FOLLICLE, OVARY


def test_a_known_segment_code_wins_over_its_label() -> None:
    assert segment_class("15497006", "SCT", "Left ovary with follicles") == OVARY
    assert segment_class("24162005", "SCT", "follicle in the ovary") == FOLLICLE
    assert segment_class("T-1234", "99X", "Left ovary") == OVARY  # an unknown code: the label says
    assert segment_class("T-1234", "99X", "Follicle 3") == FOLLICLE
