"""The streaming engine: bounded read-ahead, per-file order, duplicates resolved in discovery order."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from follicle_seg.io import read_record
from follicle_seg.io.write import write_us_dicom
from follicle_seg.intake import Input, header_pass, stream_frames
from follicle_seg.state import StateStore

EXPLICIT_LE = "1.2.840.10008.1.2.1"


def _cine(path, frames=300, rows=240, cols=320, sop=None):
    pattern = (np.arange(frames)[:, None, None] + np.arange(cols)[None, None, :] + np.zeros((1, rows, 1))) % 251
    write_us_dicom(
        path, pattern.astype(np.uint8), patient_id="P1", study_uid="1.2.3", study_date="2026-01-05",
        series_uid="1.2.3.4", series_description="LT OVARY", laterality="L",
        regions=[dict(min_col=0, min_row=0, max_col=cols - 1, max_row=rows - 1, delta_x_mm=0.02, delta_y_mm=0.02)],
        photometric="MONOCHROME2", transfer_syntax=EXPLICIT_LE, frame_time_ms=30.0, sop_instance_uid=sop,
    )
    return path


def test_long_cine_streams_with_bounded_memory(tmp_path):
    record = read_record(_cine(tmp_path / "long.dcm"))
    item = Input(str(tmp_path / "long.dcm"), "x", record, None)
    whole = record.n_frames * record.rows * record.columns
    tracemalloc.start()
    seen = []
    for got, payload in stream_frames([item], workers=2, chunk=4):
        assert got is item
        if isinstance(payload, list):
            seen.extend(f.index for f in payload)
            time.sleep(0.002)  # a slow consumer: the decoder must wait, not run ahead
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert seen == list(range(record.n_frames))
    assert peak < whole / 4, f"peak {peak} bytes for a {whole}-byte cine"


def test_chunks_of_each_file_arrive_in_order(tmp_path):
    items = []
    for i in range(3):
        record = read_record(_cine(tmp_path / f"c{i}.dcm", frames=13, rows=70, cols=80))
        items.append(Input(str(tmp_path / f"c{i}.dcm"), str(i), record, None))
    by_file: dict[str, list[int]] = {}
    ended = []
    for item, payload in stream_frames(items, workers=3, chunk=5):
        if isinstance(payload, list):
            assert item.path not in ended
            by_file.setdefault(item.path, []).extend(f.index for f in payload)
            assert all(len(f.pixels) == 70 for f in payload)
        else:
            ended.append(item.path)
    assert sorted(ended) == sorted(i.path for i in items)
    assert all(v == list(range(13)) for v in by_file.values())


def test_header_pass_rejects_duplicates_after_the_first(tmp_path):
    a = _cine(tmp_path / "a.dcm", frames=2, rows=70, cols=80, sop="1.2.3.999")
    b = tmp_path / "b.dcm"
    b.write_bytes(a.read_bytes())
    junk = tmp_path / "c.txt"
    junk.write_text("hello")
    store = StateStore(tmp_path / "state.sqlite")
    items = header_pass([a, b, junk], store, lambda r: r, workers=2)
    assert items[0].record is not None and items[0].result is None
    assert items[1].result.status == "rejected" and str(a) in items[1].result.reason
    assert items[2].result.status == "rejected" and items[2].result.record is None


def test_a_duplicate_that_is_not_a_copy_says_whether_its_image_differs(tmp_path):
    """A second image under the same SOP Instance UID was rejected with the reason of an
    identical copy: its follicles lost, and nothing for an analyst to look into."""
    import pydicom

    a = _cine(tmp_path / "a.dcm", frames=2, rows=70, cols=80, sop="1.2.3.999")
    other = _cine(tmp_path / "b.dcm", frames=2, rows=70, cols=80, sop="1.2.3.999")
    ds = pydicom.dcmread(other)
    ds.PixelData = bytes(255 - v for v in ds.PixelData)
    ds.save_as(other)
    recoded = tmp_path / "c.dcm"  # the same image, a tag added by the archive
    ds = pydicom.dcmread(a)
    ds.InstitutionName = "PACS"
    ds.save_as(recoded)
    copy = tmp_path / "d.dcm"
    copy.write_bytes(a.read_bytes())
    compressed = tmp_path / "e.dcm"  # the same image re-encoded (RLE) by an archive: not a lost image
    ds = pydicom.dcmread(a)
    ds.compress(pydicom.uid.RLELossless, generate_instance_uid=False)
    ds.save_as(compressed)
    broken = tmp_path / "f.dcm"  # its frames cannot be decoded to compare: taken for another image
    ds = pydicom.dcmread(a)
    ds.compress(pydicom.uid.RLELossless, generate_instance_uid=False)
    frames = list(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=2))
    ds.PixelData = pydicom.encaps.encapsulate([b"\x0f" + f[1:] for f in frames])  # 15 RLE segments: none there
    ds.save_as(broken)
    items = header_pass([a, other, recoded, copy, compressed, broken], StateStore(tmp_path / "state.sqlite"),
                        lambda r: r, workers=2)  # fmt: skip
    first = f"duplicate SOP instance 1.2.3.999: already analysed from {a}"
    assert [i.result.reason for i in items[1:]] == [
        f"{first}, a different image (its pixel data differ): not analysed; the scanner or archive gave two "
        "images one SOP Instance UID",
        f"{first} (same pixel data, other header values)",
        first,
        f"{first} (the same image, encoded otherwise)",
        f"{first}, a different image (taken for one: the two could not be decoded to compare): not analysed; the "
        "scanner or archive gave two images one SOP Instance UID",
    ]


def test_header_pass_says_what_is_not_a_file_and_never_waits_on_a_pipe(tmp_path):
    """A pipe given as input (a shell glob) hung the run in hashing, for ever."""
    import os

    os.mkfifo(tmp_path / "pipe.dcm")
    (tmp_path / "folder.dcm").mkdir()
    store = StateStore(tmp_path / "state.sqlite")
    pipe, folder = header_pass([tmp_path / "pipe.dcm", tmp_path / "folder.dcm"], store, lambda r: r, workers=1)
    assert (pipe.result.status, pipe.result.reason) == ("rejected", "not a regular file (a pipe, socket or device): not read")
    assert (folder.result.status, folder.result.reason) == ("rejected", "a folder, not a file")


def test_files_finished_on_the_output_threads_reach_the_run_in_order_and_bounded(tmp_path):
    """Outputs are written on threads; results still come back in the order the files were
    finished, a failed file's too, and no more than 2 x workers files wait at a time."""
    from follicle_seg.analyse import FileAnalysis
    from follicle_seg.engine import Engine
    from follicle_seg.options import RunOptions
    from follicle_seg.types import ImageResult

    record = read_record(_cine(tmp_path / "c.dcm", frames=2))
    engine = Engine(RunOptions(out=tmp_path / "out", workers=2), segmenter=None)
    delays = [0.05, 0.0, 0.03, 0.0, 0.02, 0.0, 0.01, 0.0]

    def write(item, analysis):  # later files finish first: the order must still hold
        time.sleep(delays[int(item.path)])
        return ImageResult(record, item.path, "ok")

    engine._write = write
    got, waiting = [], []
    try:
        for k in range(len(delays)):
            analysis = FileAnalysis(record)
            analysis.error = "planted" if k == 5 else None
            engine.finish_later(Input(str(k), "", record, None), analysis, lambda i, r: got.append((i.path, r.status)))
            waiting.append(len(engine._writing))
        engine.deliver(lambda i, r: got.append((i.path, r.status)))
    finally:
        engine.close()
    assert got == [(str(k), "failed" if k == 5 else "ok") for k in range(len(delays))]
    assert max(waiting) <= 4


def test_a_files_label_maps_come_back_exactly_as_the_network_gave_them(tmp_path):
    """Each frame keeps only the box around its non-zero labels, compressed: what the outputs
    read back (`FileAnalysis.labels`) is the whole map again, whatever the box (empty, a corner,
    the whole frame)."""
    from follicle_seg.analyse import FileAnalysis, analyse_frame
    from follicle_seg.types import FrameSegmentation

    record = read_record(_cine(tmp_path / "c.dcm", frames=4, rows=120, cols=160))
    rows, cols = record.region_shape
    rng = np.random.default_rng(1)
    maps = [np.zeros((rows, cols), np.uint8), rng.integers(0, 3, (rows, cols)).astype(np.uint8)]
    corner = np.zeros((rows, cols), np.uint8)
    corner[-9:, -5:] = 1
    corner[-4:, -2:] = 2
    maps += [corner, np.flipud(corner)]
    analysis = FileAnalysis(record)
    for index, labels in enumerate(maps):
        prob = (labels == 2).astype(np.float32)
        analysis.add(analyse_frame(FrameSegmentation(record, index, labels, prob, (labels > 0).astype(np.float32))))
    back = [pane[0][1] for _, pane in analysis.labels()]
    assert len(back) == len(maps)
    for got, want in zip(back, maps):
        assert got.dtype == np.uint8 and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
