"""The whole first frames the worksheet's side lines link to (report/whole_frames.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from follicle_seg.errors import RejectedInput
from follicle_seg.report.whole_frames import write_whole_frames


def test_each_ok_image_of_unknown_side_gets_its_whole_frame_once_and_a_bad_one_is_left_out(tmp_path, caplog) -> None:
    images = pd.DataFrame({
        "path": ["/a.dcm", "/b.dcm", "/c.dcm", "/d.dcm"], "sop_instance_uid": ["1.1", "1.2", "1.3", "1.4"],
        "patient_id": ["P1", pd.NA, "P1", "P1"], "study_date": ["2026-01-05", pd.NA, "2026-01-05", "2026-01-05"],
        "laterality": ["U", "U", "L", "U"], "status": ["ok", "ok", "ok", "rejected"],
    })  # fmt: skip
    decoded = []

    def decode(path: str) -> np.ndarray:
        decoded.append(path)
        if path == "/b.dcm":
            raise RejectedInput(path, "frame 0 cannot be decoded")
        return np.arange(300 * 1200, dtype=np.uint32).reshape(300, 1200).astype(np.uint8)

    written = write_whole_frames(tmp_path, images, decode)
    assert list(written) == ["1.1"] and decoded == ["/a.dcm", "/b.dcm"]  # not the known side, not the rejected
    assert written["1.1"].startswith("frames/P1_20260105_U_") and Image.open(tmp_path / written["1.1"]).size == (1000, 250)
    assert "/b.dcm: its whole frame for the side review cannot be drawn" in caplog.text
    assert write_whole_frames(tmp_path, images.iloc[:1], decode) == written and decoded.count("/a.dcm") == 1  # once
    assert write_whole_frames(tmp_path, images, None) == written and decoded.count("/b.dcm") == 1  # (not drawing)
    given = images.assign(laterality=["L", "U", "L", "U"])  # a reviewer gave image 1.1 its side
    assert write_whole_frames(tmp_path, given.iloc[:1], None) == {} and not list((tmp_path / "frames").iterdir())

