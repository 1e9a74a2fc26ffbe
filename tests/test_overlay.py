"""Overlays: outlines on the source-grid mask boundary, labels off the follicles, scale bar, names."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from follicle_seg.report import overlay, overlay_files
from follicle_seg.tracking import KIND_TUBE, KIND_UNSURE
from follicle_seg.types import UNCALIBRATED, Calibration, Follicle, ImageRecord, Pane, Section

REGION = (30, 20, 189, 139)  # (min_col, min_row, max_col, max_row): 120 rows x 160 columns


def _ellipse(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    y, x = np.ogrid[: shape[0], : shape[1]]
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1


Spacing = float | tuple[float, float] | None  # one for square pixels, or (row, column)
NOT_SQUARE = [(0.15, 0.10), (0.10, 0.13)]  # pixels 1.5 times as tall as wide; 1.3 times as wide


def _record(spacing: Spacing = 0.1, **changes: object) -> ImageRecord:
    row, col = spacing if isinstance(spacing, tuple) else (spacing, spacing)
    record = ImageRecord(
        path="a.dcm",
        sop_instance_uid="1.2.826.0.1.3680043.8.498.99887766554433",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.6.1",
        modality="US",
        patient_id="P0a1b2c3d4e5",
        study_instance_uid="1.2.3",
        study_date="2026-03-04",
        series_instance_uid="1.2.3.4",
        series_description="",
        laterality="R",
        laterality_source="ImageLaterality",
        n_frames=1,
        rows=170,
        columns=220,
        photometric="MONOCHROME2",
        transfer_syntax="1.2.840.10008.1.2.1",
        calibration=Calibration(row, col, "ultrasound_region") if spacing else UNCALIBRATED,
        region=REGION,
        region_source="ultrasound_region",
    )
    return dataclasses.replace(record, **changes)


def _scene(spacing: Spacing = 0.1):
    """Grey region crop with an ovary and three follicles (ids 1..3), and their records (sizes
    in mm on the column spacing)."""
    record = _record(spacing)
    shape = record.region_shape
    rng = np.random.default_rng(1)
    grey = rng.integers(60, 140, shape).astype(np.uint8)
    ovary = _ellipse(shape, 60, 80, 45, 65)
    ids = np.zeros(shape, np.int32)
    specs = [(55, 60, 16, 20), (70, 110, 9, 9), (30, 95, 5, 6)]
    follicles = []
    for k, (cy, cx, ry, rx) in enumerate(specs, start=1):
        mask = _ellipse(shape, cy, cx, ry, rx)
        ids[mask] = k
        grey[mask] = 10
        d1, d2 = 2.0 * max(ry, rx), 2.0 * min(ry, rx)
        mm = (lambda v: v * record.calibration.spacing_col_mm) if spacing else (lambda v: None)
        section = Section(0, cy + REGION[1], cx + REGION[0], int(mask.sum()), d1, d2, mm(d1), mm(d2), None)
        follicles.append(Follicle(k, record.sop_instance_uid, section, 1, None, None))
    return grey, ovary, ids, follicles, record


def _render(grey, ovary, ids, follicles, record):
    return overlay.render_overlay(
        grey,
        ovary_mask=ovary,
        follicle_ids=ids,
        follicles=follicles,
        record=record,
        frame_index=0,
        patient_label=record.patient_id,
    )


def _on_source(region_mask: np.ndarray, record: ImageRecord) -> np.ndarray:
    full = np.zeros((record.rows, record.columns), bool)
    c0, r0, c1, r1 = record.region
    full[r0 : r1 + 1, c0 : c1 + 1] = region_mask
    return full


def _source_boundary(full: np.ndarray) -> np.ndarray:
    """Mask pixels with an 8-neighbour outside the mask, computed on the SOURCE grid."""
    padded = np.pad(full, 1)
    outside_near = np.zeros_like(full)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            outside_near |= ~padded[1 + dy : 1 + dy + full.shape[0], 1 + dx : 1 + dx + full.shape[1]]
    return full & outside_near


@pytest.mark.parametrize("spacing", [0.1, *NOT_SQUARE])
def test_drawn_contour_pixels_lie_on_the_mask_boundary_on_the_source_grid(spacing: Spacing) -> None:
    grey, ovary, ids, follicles, record = _scene(spacing)
    rgb = _render(grey, ovary, ids, follicles, record)
    layout = overlay.layout_for(record)
    area = rgb[layout.top : layout.top + layout.height, : layout.width].astype(int)
    saturated = area.max(axis=2) - area.min(axis=2) > 30
    structures = [(ovary, overlay.OVARY_COLOUR)] + [
        (ids == f.follicle_id, overlay.size_class_colour(f.mean_diameter_mm)[1]) for f in follicles
    ]
    by_colour: dict[tuple[int, int, int], np.ndarray] = {}
    for mask, colour in structures:  # structures sharing a colour are checked together
        by_colour[colour] = by_colour.get(colour, np.zeros_like(mask)) | mask
    explained = np.zeros_like(saturated)
    for colour in by_colour:
        y, x = np.nonzero((area == colour).all(axis=2))
        assert len(y) > 0
        explained[y, x] = True
        rows, cols = layout.to_source(y + layout.top, x, record)
        boundary = np.zeros((record.rows, record.columns), bool)
        calipers = np.zeros_like(boundary)  # a follicle's d1 and d2 lines, inside it (ends on its outline)
        for part, part_colour in structures:
            if part_colour == colour:
                boundary |= _source_boundary(_on_source(part, record))
                if part is not ovary:
                    calipers |= ndimage.binary_dilation(_on_source(part, record))
        assert (boundary | calipers)[rows, cols].all(), "an outline pixel is off the source-grid boundary"
        if colour == overlay.OVARY_COLOUR:
            assert boundary[rows, cols].all()
        else:  # the calipers are drawn: pixels of the colour well inside the follicle
            inner = ndimage.binary_erosion(calipers, iterations=3)
            assert inner[rows, cols].sum() > 10
        hit = np.zeros_like(boundary)
        hit[rows, cols] = True
        # every boundary pixel is drawn, except where a later outline was drawn over it
        assert hit.sum() >= 0.8 * boundary.sum()
    assert not (saturated & ~explained).any(), "saturated pixels that belong to no outline"
    for mask, _ in structures:  # the exported coordinates are exactly each source boundary
        exported = overlay.contour_source_pixels(mask, record)
        boundary = _source_boundary(_on_source(mask, record))
        flat = np.sort(np.ravel_multi_index((exported[:, 0], exported[:, 1]), boundary.shape))
        assert np.array_equal(flat, np.flatnonzero(boundary))


def test_unsure_follicles_are_dashed_blue_on_their_boundary_and_labelled() -> None:
    # the "low confidence" review flag: where the follicle the network was unsure of lies
    grey, ovary, ids, follicles, record = _scene()
    shape = record.region_shape
    unsure_mask = _ellipse(shape, 95, 50, 8, 10)
    number = len(follicles) + 1  # numbered on after the follicles, as tracking numbers them
    unsure_ids = np.where(unsure_mask, number, 0).astype(np.int32)
    section = Section(0, 95 + REGION[1], 50 + REGION[0], int(unsure_mask.sum()), 20, 16, 2.0, 1.6, None, 0.72)
    candidate = Follicle(number, record.sop_instance_uid, section, 1, None, None, KIND_UNSURE)
    plain = _render(grey, ovary, ids, follicles, record)
    rgb = overlay.render_overlay(grey, ovary_mask=ovary, follicle_ids=ids, follicles=follicles, record=record,
                                 frame_index=0, patient_label="P", unsure_ids=unsure_ids, unsure=[candidate])
    layout = overlay.layout_for(record)
    area = rgb[layout.top : layout.top + layout.height, : layout.width]
    y, x = np.nonzero((area == overlay.UNSURE_COLOUR).all(axis=2))
    assert not (plain[layout.top : layout.top + layout.height, : layout.width] == overlay.UNSURE_COLOUR).all(axis=2).any()
    rows, cols = layout.to_source(y + layout.top, x, record)
    boundary = _source_boundary(_on_source(unsure_mask, record))
    assert len(y) > 0 and boundary[rows, cols].all()
    hit = np.zeros_like(boundary)
    hit[rows, cols] = True
    assert 0.3 * boundary.sum() <= hit.sum() <= 0.9 * boundary.sum()  # dashed: part of the boundary
    # a label box beside it (white, not over any follicle) and the legend entry: the image
    # differs from the plain overlay outside the outline and in the footer
    changed = (rgb != plain).any(axis=2)
    changed_area = changed[layout.top : layout.top + layout.height, : layout.width]
    assert (changed_area & ~_upscaled(unsure_mask, layout.scale_row, layout.scale_col)).sum() > 500
    assert changed[layout.top + layout.height :].any() and changed[: layout.top].any()  # legend, header
    # its legend entry dashed as its outline (a solid blue square read as the lavender of "<2 mm"
    # to a colour-blind reviewer): two dashes in a row, every other legend swatch solid
    legend = (rgb[layout.top + layout.height :] == overlay.UNSURE_COLOUR).all(axis=2)
    assert len(_runs(legend.any(axis=0))) == 2 and legend.sum() < 0.3 * 15 * 15


def test_the_legend_says_unsure_candidates_are_not_counted_and_names_no_class_never_drawn(monkeypatch) -> None:
    """The legend read "unsure" only (counted with less confidence, or not?) and always had a
    lavender "<2 mm" swatch, the blue of the unsure outlines' neighbour, though no follicle under
    2 mm is ever reported or drawn: the swatch named nothing on the overlay."""
    from PIL import ImageDraw

    grey, ovary, ids, follicles, record = _scene()
    shape = record.region_shape
    mask = _ellipse(shape, 95, 50, 8, 10)
    candidate = Follicle(4, record.sop_instance_uid, Section(0, 95 + REGION[1], 50 + REGION[0], int(mask.sum()), 20, 16,
                                                             2.0, 1.6, None, 0.72), 1, None, None, KIND_UNSURE)  # fmt: skip
    shown: list[str] = []
    ends: list[float] = []
    real = ImageDraw.ImageDraw.text

    def text(self, xy, line, *a, **k):
        shown.append(line)
        ends.append(xy[0] + self.textlength(line, font=k["font"]))
        return real(self, xy, line, *a, **k)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", text)
    layout = overlay.layout_for(record)
    lavender = overlay.SIZE_CLASS_COLOURS[""][0]

    def legend(follicles: list[Follicle]) -> np.ndarray:
        shown.clear()
        rgb = overlay.render_overlay(grey, ovary_mask=ovary, follicle_ids=ids, follicles=follicles, record=record, frame_index=0,
                                     patient_label="P", unsure_ids=np.where(mask, 4, 0).astype(np.int32), unsure=[candidate])  # fmt: skip
        return rgb[layout.top + layout.height :]

    assert follicles[0].mean_diameter_mm == pytest.approx(3.6) and follicles[2].mean_diameter_mm == pytest.approx(1.1)
    assert not (legend(follicles[:1]) == lavender).all(axis=2).any()
    assert "candidate, not counted" in shown and "<2 mm" not in shown and "2-5 mm" in shown
    assert (legend(follicles) == lavender).all(axis=2).any() and "<2 mm" in shown  # one drawn (by a caller): named
    assert ends[shown.index("candidate, not counted")] <= overlay.MIN_CANVAS_WIDTH == layout.canvas_width  # all of it


def test_a_dual_display_says_in_the_header_which_pane_is_counted_only_its_image_changes() -> None:
    grey, ovary, ids, follicles, record = _scene()
    dual = dataclasses.replace(record, other_panes=(Pane((190, 20, 219, 139), record.calibration),), pane=1)
    plain, marked = _render(grey, ovary, ids, follicles, record), _render(grey, ovary, ids, follicles, dual)
    changed = (plain != marked).any(axis=2)
    top = overlay.layout_for(record).top
    assert changed[:top].sum() > 100 and not changed[top:].any()  # "pane 2 of 2 counted" in the header


def test_a_sweeps_overlay_says_in_a_third_header_line_on_which_frames_its_follicles_are() -> None:
    grey, ovary, ids, follicles, record = _scene()
    sweep = dataclasses.replace(record, n_frames=20)
    assert overlay.layout_for(sweep).top == overlay.layout_for(record).top + overlay.SWEEP_LINE_PX

    def render(follicles: list[Follicle], unsure: tuple[Follicle, ...] = ()) -> np.ndarray:
        return overlay.render_overlay(grey, ovary_mask=ovary, follicle_ids=ids, follicles=follicles, record=sweep,
                                      frame_index=0, patient_label=sweep.patient_id, unsure=unsure)  # fmt: skip

    def on(frame: int, f: Follicle) -> Follicle:  # the same follicle, largest on another frame
        return dataclasses.replace(f, follicle_id=f.follicle_id + 10 * frame, best=dataclasses.replace(f.best, frame_index=frame))

    top = overlay.layout_for(sweep).top
    more = [*follicles, on(4, follicles[0]), on(9, follicles[1]), on(4, follicles[2])]
    unsure = (on(7, dataclasses.replace(follicles[0], best=dataclasses.replace(follicles[0].best, score=0.7), kind=KIND_UNSURE)),)
    plain, told, also = render(follicles), render(more), render(more, unsure)
    for before, after in ((plain, told), (told, also)):  # "6 follicle(s) on frames 1, 5, 10", ", 1 candidate(s) on frame 8"
        changed = (before != after).any(axis=2)
        assert changed[overlay.HEADER_PX : top].sum() > 100 and not changed[: overlay.HEADER_PX].any() and not changed[top:].any()
    still = _render(grey, ovary, ids, follicles, record)
    assert (told[top:] == still[overlay.layout_for(record).top :]).all()  # the image itself as a still's
    assert overlay._frame_list([4, 9, 4]) == "frames 5, 10"


def _sweep_header(monkeypatch, follicle_frames, unsure_frames):
    """The overlay of a 240-frame sweep whose follicles' and unsure candidates' largest sections
    are on the frames given, and its "this sweep" header line as drawn: (xy, text, width)."""
    from PIL import ImageDraw

    grey, ovary, ids, follicles, record = _scene()
    sweep = dataclasses.replace(record, n_frames=240)
    spread = [dataclasses.replace(follicles[0], follicle_id=k + 1, best=dataclasses.replace(follicles[0].best, frame_index=f))
              for k, f in enumerate(follicle_frames)]  # fmt: skip
    unsure = [dataclasses.replace(spread[0], follicle_id=20 + k, best=dataclasses.replace(spread[0].best, frame_index=f, score=0.7), kind=KIND_UNSURE)
              for k, f in enumerate(unsure_frames)]  # fmt: skip
    shown: list[tuple[tuple[float, float], str, float]] = []
    real = ImageDraw.ImageDraw.text

    def text(self, xy, line, *a, **k):
        shown.append((xy, line, self.textlength(line, font=k["font"])))
        return real(self, xy, line, *a, **k)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", text)
    rgb = overlay.render_overlay(grey, ovary_mask=ovary, follicle_ids=np.zeros_like(ids), follicles=spread, record=sweep,
                                 frame_index=0, patient_label="P", unsure=unsure)  # fmt: skip
    [header] = [t for t in shown if t[1].startswith("this sweep")]
    return rgb, header


def test_a_sweeps_header_names_the_frames_of_ten_follicles(monkeypatch) -> None:
    """Six frames were named, then "...": the seventh follicle's frame was nowhere said."""
    frames = [10, 25, 40, 55, 70, 101, 130, 160, 190, 230]
    _, (xy, line, width) = _sweep_header(monkeypatch, frames, frames)
    listed = ", ".join(str(f + 1) for f in frames)
    assert line == f"this sweep: 10 follicle(s) on frames {listed}; 10 candidate(s) on frames {listed}"
    assert xy[0] + width <= overlay.MIN_CANVAS_WIDTH  # on the narrowest overlay


def test_a_sweeps_header_line_of_twelve_three_digit_frames_each_fits_a_narrow_overlay(monkeypatch) -> None:
    """Twelve follicles' and twelve candidates' frames of three digits made the third line 800 px
    long in its smallest font, on an overlay 760 px wide: cut off at the edge. Fewer frames are
    named then, each list ending in "..."."""
    rgb, (xy, line, width) = _sweep_header(monkeypatch, range(100, 112), range(200, 212))
    assert rgb.shape[1] == overlay.MIN_CANVAS_WIDTH and xy[0] + width <= rgb.shape[1] - 8
    assert line.startswith("this sweep: 12 follicle(s) on frames 101, 102, ") and "; 12 candidate(s) on frames 201, " in line
    assert line.count(", ...") == 2


def _upscaled(mask: np.ndarray, scale_row: int, scale_col: int) -> np.ndarray:
    return np.repeat(np.repeat(mask, scale_row, axis=0), scale_col, axis=1)


def test_each_follicle_shows_its_d1_and_d2_where_they_were_measured() -> None:
    """Follicle 1 (an ellipse 40 x 32 pixels, its long axis along a row) gets a line along its
    long axis and one across it, as long as its d1 and d2, crossing at its centre."""
    grey, ovary, ids, follicles, record = _scene()
    rgb = _render(grey, ovary, ids, follicles, record)
    layout = overlay.layout_for(record)
    s = layout.scale_row
    assert layout.scale_col == s  # square pixels: one factor
    area = rgb[layout.top : layout.top + layout.height, : layout.width].astype(int)
    colour = overlay.size_class_colour(follicles[0].mean_diameter_mm)[1]
    inside = np.kron(ndimage.binary_erosion(ids == 1, iterations=2), np.ones((s, s), bool))
    y, x = np.nonzero((area == colour).all(axis=2) & inside)
    row, col = np.bincount(y).argmax(), np.bincount(x).argmax()  # the two lines
    along, across = x[y == row], y[x == col]
    best = follicles[0].best
    assert along.max() - along.min() == pytest.approx(best.d1_px * s, abs=2 * 2 * s + 1)  # ends inside the erosion
    assert across.max() - across.min() == pytest.approx(best.d2_px * s, abs=2 * 2 * s + 1)
    assert abs((along.max() + along.min()) / 2 / s - 60.5) < 1 and abs((across.max() + across.min()) / 2 / s - 55.5) < 1


@pytest.mark.parametrize("spacing", [0.1, *NOT_SQUARE])
def test_labels_never_cover_a_follicle(spacing: Spacing) -> None:
    grey, ovary, ids, follicles, record = _scene(spacing)
    rgb = _render(grey, ovary, ids, follicles, record)
    layout = overlay.layout_for(record)
    block = (layout.scale_row, layout.scale_col)
    interior = ndimage.binary_erosion(ids > 0, structure=np.ones((3, 3), bool))
    up = np.kron(interior, np.ones(block, bool))
    area = rgb[layout.top : layout.top + layout.height, : layout.width]
    expected = np.kron(grey, np.ones(block, np.uint8))
    calipers = area.max(axis=2).astype(int) - area.min(axis=2) > 30  # the d1 and d2 lines, in colour
    assert 0 < (up & calipers).sum() < 0.2 * up.sum()
    assert np.array_equal(area[up & ~calipers][:, 0], expected[up & ~calipers])
    # the labels were drawn somewhere (white boxes)
    assert ((area == 255).all(axis=2)).sum() > 200


@pytest.mark.parametrize("n_ids", [1, 2, 5])
def test_labels_are_placed_on_scipys_nearest_follicle_and_grown_map(n_ids: int) -> None:
    """The label placement reads each pixel's nearest follicle and the 3 x 3 grown map as scipy
    computes them (the feature transform, grey dilation), with one id on the map or several,
    candidates' ids (from 2**20) among them."""
    rng = np.random.default_rng(n_ids)
    ids = np.zeros((60, 90), np.int32)
    for k in range(n_ids):
        r, c = rng.integers(5, 55), rng.integers(5, 85)
        ids[r - 3 : r + 3, c - 4 : c + 2] = k + 1 if k % 2 else overlay._UNSURE_ID0 + k + 1
    rows, cols = (a.ravel() for a in np.indices(ids.shape))
    ny, nx = ndimage.distance_transform_edt(ids == 0, return_indices=True)[1]
    nearest = ids[ny, nx]
    assert np.array_equal(overlay._nearest(ids)(rows, cols), nearest.ravel())
    outside = overlay._nearest(ids)(np.array([-4, 99]), np.array([-1, 200]))  # clipped to the map
    assert outside.tolist() == [nearest[0, 0], nearest[-1, -1]]
    assert np.array_equal(overlay._grown(ids), ndimage.grey_dilation(ids, size=(3, 3)))


def test_scale_bar_length_matches_calibration() -> None:
    grey, ovary, ids, follicles, record = _scene(spacing=0.1)
    rgb = _render(grey, ovary, ids, follicles, record)
    layout = overlay.layout_for(record)
    footer = rgb[layout.top + layout.height :]
    white = (footer == 255).all(axis=2)
    longest = max(_longest_run(row) for row in white)
    length_mm = overlay._nice_length(0.2 * layout.width * 0.1 / layout.scale_col)
    assert abs(longest - length_mm / 0.1 * layout.scale_col) <= 2


def _follicle(record: ImageRecord, mask: np.ndarray, d1_mm: float, d2_mm: float) -> Follicle:
    rows, cols = np.nonzero(mask)
    section = Section(0, rows.mean() + record.region[1], cols.mean() + record.region[0], int(mask.sum()),
                      float(np.ptp(cols) + 1), float(np.ptp(rows) + 1), d1_mm, d2_mm, None)  # fmt: skip
    return Follicle(1, record.sop_instance_uid, section, 1, None, None)


def _drawn_box(rgb: np.ndarray, layout: overlay.Layout, colour: tuple[int, int, int]) -> tuple[int, int]:
    """Height and width of the box of the pixels of ``colour`` in the image area."""
    area = rgb[layout.top : layout.top + layout.height, : layout.width]
    y, x = np.nonzero((area == colour).all(axis=2))
    return int(np.ptp(y)) + 1, int(np.ptp(x)) + 1


@pytest.mark.parametrize("spacing", [(0.15, 0.10), (0.10, 0.15), 0.10])
def test_a_round_follicle_is_drawn_round_whatever_the_pixels_shape(spacing: Spacing) -> None:
    """The audit's 10 mm disc on pixels 0.15 mm tall and 0.10 mm wide was drawn as a 2:3 ellipse
    (one factor for rows and columns, the scale bar right across only): rows and columns now have
    factors of their own, a millimetre drawn as long down as across."""
    record = _record(spacing, region=(0, 0, 299, 199), rows=200, columns=300)
    cal = record.calibration
    disc = _ellipse(record.region_shape, 100, 150, 5 / cal.spacing_row_mm, 5 / cal.spacing_col_mm)
    follicle = _follicle(record, disc, 10.0, 10.0)
    rgb = overlay.render_overlay(np.full(record.region_shape, 60, np.uint8), ovary_mask=None,
                                 follicle_ids=disc.astype(np.int32), follicles=[follicle], record=record,
                                 frame_index=0, patient_label="P")  # fmt: skip
    layout = overlay.layout_for(record)
    h, w = _drawn_box(rgb, layout, overlay.size_class_colour(10.0)[1])
    assert abs(h / w - 1) < 0.05
    assert h / (layout.scale_row / cal.spacing_row_mm) == pytest.approx(10, abs=0.3)  # 10 mm down and across
    assert w / (layout.scale_col / cal.spacing_col_mm) == pytest.approx(10, abs=0.3)
    assert not layout.aspect_off and layout.canvas_width == max(layout.width, overlay.MIN_CANVAS_WIDTH)


def test_the_calipers_of_a_follicle_on_pixels_not_square_are_drawn_as_long_as_measured() -> None:
    """A 12 x 8 mm follicle, its long axis across, on pixels 0.15 mm tall and 0.10 mm wide: its
    d1 and d2 lines are drawn in the ratio of 12 to 8 (they were 2.25 to 1)."""
    record = _record((0.15, 0.10), region=(0, 0, 299, 199), rows=200, columns=300)
    mask = _ellipse(record.region_shape, 100, 150, 4 / 0.15, 6 / 0.10)
    follicle = _follicle(record, mask, 12.0, 8.0)
    rgb = overlay.render_overlay(np.full(record.region_shape, 60, np.uint8), ovary_mask=None,
                                 follicle_ids=mask.astype(np.int32), follicles=[follicle], record=record,
                                 frame_index=0, patient_label="P")  # fmt: skip
    layout = overlay.layout_for(record)
    area = rgb[layout.top : layout.top + layout.height, : layout.width]
    y, x = np.nonzero((area == overlay.size_class_colour(10.0)[1]).all(axis=2))
    row, col = np.bincount(y).argmax(), np.bincount(x).argmax()  # the two lines (each longer than any outline's run)
    along, across = np.ptp(x[y == row]) + 1, np.ptp(y[x == col]) + 1
    assert along / across == pytest.approx(12 / 8, rel=0.05)


@pytest.mark.parametrize("spacing", NOT_SQUARE + [(0.101, 0.1), (0.3, 0.1)])
def test_overlay_and_source_pixels_map_exactly_both_ways_on_pixels_not_square(spacing: Spacing) -> None:
    record = _record(spacing)
    layout = overlay.layout_for(record)
    rows, cols = np.mgrid[REGION[1] : REGION[3] + 1, REGION[0] : REGION[2] + 1]
    y, x = layout.to_overlay(rows, cols, record)
    back = layout.to_source(np.floor(y).astype(int), np.floor(x).astype(int), record)
    assert (back[0] == rows).all() and (back[1] == cols).all()
    yy, xx = np.mgrid[layout.top : layout.top + layout.height, : layout.width]  # every image pixel: a block each
    r, c = layout.to_source(yy, xx, record)
    counts = np.bincount(((r - REGION[1]) * 160 + c - REGION[0]).ravel())
    assert counts.size == 120 * 160 and (counts == layout.scale_row * layout.scale_col).all()


@pytest.mark.parametrize("shape", [(120, 160), (200, 300), (480, 640), (600, 800), (1000, 700), (30, 20)])
@pytest.mark.parametrize("spacing", [0.1, (0.101, 0.1), (0.1, 0.1015), None])
def test_square_pixels_keep_the_one_factor(shape: tuple[int, int], spacing: Spacing) -> None:
    """Within 2 % of square, and uncalibrated: one factor as before, the overlays unchanged."""
    h, w = shape
    layout = overlay.layout_for(_record(spacing, region=(0, 0, w - 1, h - 1), rows=h, columns=w))
    old = min(4, max(1, -(-900 // max(h, w))))
    assert (layout.scale_row, layout.scale_col, layout.height, layout.width) == (old, old, h * old, w * old)
    assert layout.canvas_width == max(w * old, 760) and not layout.aspect_off


def test_pixels_the_whole_factors_cannot_draw_true_are_said_and_get_a_vertical_scale_bar(monkeypatch) -> None:
    """Pixels 1.1 times as tall as wide on a region 200 x 300: no small factors come within 3 %;
    the header says how far off the drawing is, and a vertical scale bar beside the horizontal one
    gives the rows' millimetres."""
    from PIL import ImageDraw

    record = _record((0.11, 0.10), region=(0, 0, 299, 199), rows=200, columns=300)
    layout = overlay.layout_for(record)
    assert layout.aspect_off and layout.canvas_width == layout.width + overlay.VERTICAL_BAR_MARGIN_PX
    shown: list[str] = []
    real = ImageDraw.ImageDraw.text
    monkeypatch.setattr(ImageDraw.ImageDraw, "text", lambda self, xy, text, *a, **k: (shown.append(text), real(self, xy, text, *a, **k))[1])
    grey = np.full(record.region_shape, 60, np.uint8)
    rgb = overlay.render_overlay(grey, ovary_mask=None, follicle_ids=np.zeros(record.region_shape, np.int32),
                                 follicles=[], record=record, frame_index=0, patient_label="P")  # fmt: skip
    assert "0.100 x 0.110 mm/px (drawn 10 % too wide)" in " | ".join(shown)
    length_mm = overlay._nice_length(0.2 * layout.width * 0.10 / layout.scale_col)
    assert shown.count(f"{length_mm:g} mm") == 2  # both bars the same length in mm
    white = (rgb == 255).all(axis=2)
    across = max(_longest_run(row) for row in white[layout.top + layout.height :])
    down = max(_longest_run(col) for col in white[layout.top : layout.top + layout.height, layout.width :].T)
    assert abs(across - length_mm / 0.10 * layout.scale_col) <= 2
    assert abs(down - length_mm / 0.11 * layout.scale_row) <= 3
    assert (rgb[layout.top : layout.top + layout.height, : layout.width] == 60).all()  # the bar beside the image


def test_uncalibrated_overlay_has_no_scale_bar_and_pixel_sizes() -> None:
    grey, ovary, ids, follicles, record = _scene(spacing=None)
    rgb = _render(grey, ovary, ids, follicles, record)
    layout = overlay.layout_for(record)
    footer = (rgb[layout.top + layout.height :] == 255).all(axis=2)
    assert max(_longest_run(row) for row in footer) < 30
    area = rgb[layout.top : layout.top + layout.height, : layout.width]
    assert (area == overlay.UNCALIBRATED_COLOUR).all(axis=2).any()


def _runs(row: np.ndarray) -> list[int]:
    """Lengths of the runs of true values along ``row``."""
    edges = np.flatnonzero(np.diff(np.r_[0, np.asarray(row, int), 0]))
    return list(np.diff(edges)[::2])


def _longest_run(row: np.ndarray) -> int:
    best = run = 0
    for v in row:
        run = run + 1 if v else 0
        best = max(best, run)
    return best


def test_small_regions_are_upscaled_and_maps_must_match_the_region() -> None:
    grey, ovary, ids, follicles, record = _scene()
    layout = overlay.layout_for(record)
    assert layout.scale_row == layout.scale_col >= 4 and layout.height == 120 * layout.scale_row
    with pytest.raises(ValueError, match="region"):
        _render(grey[:-1], ovary, ids, follicles, record)
    with pytest.raises(ValueError, match="follicle_ids"):
        _render(grey, ovary, ids[:, :-1], follicles, record)


def test_size_classes_follow_the_spec_bounds() -> None:
    assert overlay.size_class_colour(1.99)[0] == "<2 mm"
    assert overlay.size_class_colour(2.0)[0] == "2-5 mm"
    assert overlay.size_class_colour(9.99)[0] == "5-10 mm"
    assert overlay.size_class_colour(14.0)[0] == "14-18 mm"
    assert overlay.size_class_colour(18.0)[0] == ">=18 mm"
    assert overlay.size_class_colour(None)[0] == "px"


def test_overlay_filename_is_sanitized_unique_and_nameless() -> None:
    record = _record(patient_id="P 01/../x", sop_instance_uid="1.2.3.11112222")
    other = _record(patient_id="P 01/../x", sop_instance_uid="9.9.11112222")
    name = overlay_files.overlay_filename(record, 7)
    assert name.startswith("P-01-..-x_20260304_R_") and name.endswith("_f007.png")
    assert "/" not in name and " " not in name
    assert name != overlay_files.overlay_filename(other, 7)


@pytest.mark.parametrize(("patient_id", "start"), [(".P1", "P1_"), ("..", "x_"), ("./.x", "x_"), (". P", "P_")])
def test_an_overlay_of_a_patient_id_beginning_with_a_dot_is_not_a_hidden_file(patient_id: str, start: str) -> None:
    name = overlay_files.overlay_filename(_record(patient_id=patient_id, sop_instance_uid="1.2.3.11112222"), 0)
    assert name.startswith(start)
    assert overlay_files.parse_name(name) == (overlay_files.uid_token("1.2.3.11112222"), 0)


def test_write_overlay_is_a_png_of_the_array_and_leaves_no_temporary(tmp_path) -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3)).astype(np.uint8)
    path = overlay_files.write_overlay(tmp_path / "o" / "a.png", rgb)
    assert np.array_equal(np.asarray(Image.open(path)), rgb)
    assert [p.name for p in path.parent.iterdir()] == ["a.png"]


@pytest.mark.parametrize("scales,dashed", [((1, 1), False), ((2, 2), True), ((3, 3), False), ((4, 4), True),
                                           ((3, 2), True), ((4, 6), False), ((2, 1), False)])  # fmt: skip
def test_an_outline_drawn_in_its_box_is_the_whole_image_erosion(scales: tuple[int, int], dashed: bool) -> None:
    rng = np.random.default_rng(scales[0] * 10 + scales[1])
    blobs = ndimage.uniform_filter(rng.random((40, 53)), 7) > 0.52  # blobs, some on the border
    blobs[:6, :9] = True  # one in the corner
    one = np.zeros_like(blobs)
    one[21:24, 31:35] = True  # one away from the border, its box not on the dash grid
    assert blobs[0].any() and 0 < blobs.mean() < 0.5
    for mask in (blobs, one):
        up = np.kron(mask, np.ones(scales, bool))
        line = up & ~ndimage.binary_erosion(up, iterations=min(*scales, 3), border_value=0)
        if dashed:
            yy, xx = np.indices(line.shape)
            line &= (yy // 6 + xx // 6) % 2 == 0
        image = np.zeros((*up.shape, 3), np.uint8)
        overlay._draw_outline(image, mask, scales, (255, 0, 0), dashed=dashed)
        np.testing.assert_array_equal(image[..., 0] == 255, line)
        assert not image[..., 1:].any()


@pytest.mark.parametrize("scale_row,scale_col", [(1, 1), (2, 2), (3, 3), (4, 4), (3, 2), (1, 2), (6, 4)])
def test_upscaling_repeats_each_pixel_whatever_the_type(scale_row: int, scale_col: int) -> None:
    rng = np.random.default_rng(scale_row * 10 + scale_col)
    arrays = [rng.integers(0, 256, (7, 9, 3)).astype(np.uint8), rng.random((5, 6)) > 0.5,
              rng.integers(-5, 99, (4, 5)).astype(np.int32), rng.random((3, 4)), rng.integers(0, 9, (3, 4)),
              np.zeros((1, 1, 3), np.uint8)]  # fmt: skip
    for a in arrays:
        up = overlay._upscale(a, scale_row, scale_col)
        expected = np.repeat(np.repeat(a, scale_row, axis=0), scale_col, axis=1)
        assert up.dtype == expected.dtype
        np.testing.assert_array_equal(up, expected)


def test_an_overlay_png_holds_exactly_its_pixels(tmp_path) -> None:
    rng = np.random.default_rng(0)
    rgb = overlay._upscale(rng.integers(0, 256, (40, 70, 3)).astype(np.uint8), 2, 2)
    path = overlay_files.write_overlay(tmp_path / "o.png", rgb)
    with Image.open(path) as png:
        assert png.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(png), rgb)
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]  # no temporary file left


@pytest.mark.parametrize("spacing", [0.1, *NOT_SQUARE])
def test_each_follicle_on_the_frame_gets_a_small_crop_centred_on_it(tmp_path: Path, spacing: Spacing) -> None:
    grey, ovary, ids, follicles, record = _scene(spacing)
    rgb = _render(grey, ovary, ids, follicles, record)
    elsewhere = dataclasses.replace(follicles[2], follicle_id=9, best=dataclasses.replace(follicles[2].best, frame_index=3))
    written = overlay_files.write_crops(tmp_path, "x_f000.png", rgb, record, 0, [*follicles, elsewhere])
    assert [p.name for p in written] == ["x_f000_1.jpg", "x_f000_2.jpg", "x_f000_3.jpg"]  # not the one on frame 3
    for f, path in zip(follicles, written):
        crop = np.asarray(Image.open(path).convert("RGB")).astype(int)
        assert max(crop.shape[:2]) <= overlay_files.CROP_PX
        # the follicle is dark (10) and outlined: its centre lies mid-crop, dark, and its outline
        # colour is in the crop
        centre = crop[crop.shape[0] // 2 - 2 : crop.shape[0] // 2 + 3, crop.shape[1] // 2 - 2 : crop.shape[1] // 2 + 3]
        assert np.median(centre) < 40, path.name  # (crossed by its calipers)
        colour = np.array(overlay.size_class_colour(f.mean_diameter_mm)[1])
        assert (np.abs(crop - colour).sum(axis=2) < 90).sum() > 20, path.name


@pytest.mark.parametrize("mm", [18.0, 22.0, 26.0])
def test_the_crop_of_a_large_follicle_holds_its_whole_outline(tmp_path: Path, mm: float) -> None:
    """At the demo's 0.07 mm/px (factor 2) the crop was at most 480 overlay pixels: an 18 mm
    follicle (514 px) lost both ends of its outline, one of 22 mm (629 px) showed none of it."""
    record = _record(0.07, region=(0, 0, 869, 439), rows=440, columns=870)
    disc = _ellipse(record.region_shape, 220, 435, mm / 0.14, mm / 0.14)
    follicle = _follicle(record, disc, mm, mm)
    rgb = overlay.render_overlay(np.full(record.region_shape, 60, np.uint8), ovary_mask=None,
                                 follicle_ids=disc.astype(np.int32), follicles=[follicle], record=record,
                                 frame_index=0, patient_label="P")  # fmt: skip
    [path] = overlay_files.write_crops(tmp_path, "x_f000.png", rgb, record, 0, [follicle])
    crop = np.asarray(Image.open(path).convert("RGB")).astype(int)
    outline = np.abs(crop - np.array(overlay.size_class_colour(mm)[1])).sum(axis=2) < 90
    y, x = np.nonzero(outline)
    assert y.min() > 5 and x.min() > 5 and y.max() < crop.shape[0] - 6 and x.max() < crop.shape[1] - 6
    assert np.ptp(x) > 0.6 * crop.shape[1]  # the follicle still fills the crop


def _tag_width(path: Path) -> int:
    """Width of the white tag box in a crop's top left corner (its second row of pixels)."""
    row = np.asarray(Image.open(path).convert("L")).astype(int)[2, 1:]  # inside its black outline
    return int(np.argmax(row < 128)) + 1


def test_each_crop_is_tagged_with_its_own_number_and_points_at_its_follicle(tmp_path: Path) -> None:
    """The overlay's label of a follicle often lies outside its crop, or another's inside it (a
    reviewer could judge the wrong blob): each crop says its number, a candidate's with "?", in
    its corner, and ticks on its sides point at the follicle's centre."""
    grey, ovary, ids, follicles, record = _scene()
    rgb = _render(grey, ovary, ids, follicles, record)
    candidate = dataclasses.replace(follicles[0], follicle_id=1)
    counted = overlay_files.write_crops(tmp_path / "a", "x_f000.png", rgb, record, 0, follicles[:1])
    unsure = overlay_files.write_crops(tmp_path / "b", "x_f000.png", rgb, record, 0, [], [candidate])
    assert [p.name for p in counted] == [p.name for p in unsure] == ["x_f000_1.jpg"]
    crop = np.asarray(Image.open(counted[0]).convert("L")).astype(int)
    assert crop[3:overlay_files.CROP_TAG_PX - 3, 1:4].min() > 200  # the tag's white box
    assert 10 < _tag_width(counted[0]) < _tag_width(unsure[0]) < 80  # "1" and the wider "1?"
    middle = crop.shape[0] // 2
    assert crop[middle - 1 : middle + 2, -6:-2].min() > 200  # the tick on the right side, level with it


def _tagged(crop: np.ndarray, centre: tuple[int, int]) -> np.ndarray:
    out = crop.copy()
    overlay_files.tag_crop(out, "12?", centre)
    return out


@pytest.mark.parametrize("centre", [(8, 120), (100, 6)])  # near the top: the left tick's row; the top tick's column
def test_no_tick_covers_the_crops_own_tag(centre: tuple[int, int]) -> None:
    """A follicle near the top of its region is near the top of its crop, its centre's row
    crossing the tag: the left tick was drawn over the number."""
    crop = np.full((200, 240, 3), 90, np.uint8)
    tagged, far = _tagged(crop, centre), _tagged(crop, (100, 120))  # far: every tick off the tag
    tag = (slice(0, overlay_files.CROP_TAG_PX + 2), slice(0, 60))
    np.testing.assert_array_equal(tagged[tag], far[tag])
    cy, cx = centre
    assert tagged[cy, -4].min() == 255 and tagged[-4, cx].min() == 255  # the right and bottom ticks point at it


def test_no_tick_covers_an_overlay_label_in_the_crop() -> None:
    """The overlay's label of another follicle, cut by the crop's right side on the centre's row,
    was struck through by the right tick; a bright echo (white, but no box) is still ticked over."""
    from PIL import ImageDraw

    image = Image.new("RGB", (480, 400), (90, 90, 90))
    draw = ImageDraw.Draw(image)
    draw.rectangle((400, 185, 560, 212), fill=overlay.LABEL_FILL, outline=(0, 0, 0))  # as _draw_labels draws it
    draw.text((404, 189), "2?  16.5 mm", font=overlay.overlay_font(17, bold=True), fill=(0, 0, 0))
    draw.ellipse((228, 370, 252, 394), fill=(255, 255, 255))  # on the bottom tick's column
    crop = np.asarray(image.resize((240, 200), Image.Resampling.BOX))  # a crop is shrunk by half at most
    assert overlay_files.label_text(crop)[100, 220] and not overlay_files.label_text(crop)[190, 120]
    tagged = _tagged(crop, (100, 120))
    np.testing.assert_array_equal(tagged[90:110, 195:], crop[90:110, 195:])  # the label as it was: no tick
    assert tagged[100, 4].min() == 255 and tagged[98, 4].max() == 0  # the left tick: white, edged black
    assert tagged[196, 118].max() == 0  # the bottom one's black edge over the echo


@pytest.mark.parametrize("side", ["right", "left", "bottom"])
@pytest.mark.parametrize("shown", [5, 9, 13, 28])  # pixels of the label inside the (halved) crop
def test_no_tick_covers_a_label_the_crop_cuts_close_to_its_edge(side: str, shown: int) -> None:
    """A label the crop's side cuts a few pixels in (its padding and a cut letter, or a letter cut
    through) is still a label: the tick on that side, 12 pixels long, struck it through."""
    from PIL import ImageDraw

    image = Image.new("RGB", (480, 400), (90, 90, 90))
    draw = ImageDraw.Draw(image)
    x0 = {"right": 480 - 2 * shown, "left": 2 * shown - 160, "bottom": 170}[side]
    y0 = 400 - 2 * shown if side == "bottom" else 185
    draw.rectangle((x0, y0, x0 + 160, y0 + 27), fill=overlay.LABEL_FILL, outline=(0, 0, 0))
    draw.text((x0 + 4, y0 + 4), "2?  16.5 mm", font=overlay.overlay_font(17, bold=True), fill=(0, 0, 0))
    crop = np.asarray(image.resize((240, 200), Image.Resampling.BOX))
    tagged = _tagged(crop, (100, 120))
    near = {"right": (slice(90, 110), slice(220, None)), "left": (slice(90, 110), slice(0, 20)),
            "bottom": (slice(180, None), slice(110, 130))}[side]  # fmt: skip
    np.testing.assert_array_equal(tagged[near], crop[near])  # the label as it was: no tick


def test_the_labels_give_the_tables_sizes_and_the_header_the_ovary_on_its_frame(monkeypatch) -> None:
    """A reviewer reads the mean diameter the tables give (d1 x d2 after it, halves up as the
    report rounds), an unsure candidate's size beside its score (accepting it may make the visit's
    largest follicle), and the ovary's diameters on the frame they are measured on."""
    from PIL import ImageDraw

    grey, ovary, ids, follicles, record = _scene()
    first = follicles[0]
    follicles[0] = dataclasses.replace(first, best=dataclasses.replace(first.best, d1_mm=8.15, d2_mm=7.4))
    unsure_ids = np.where(_ellipse(record.region_shape, 95, 50, 8, 10), 4, 0).astype(np.int32)
    candidate = Follicle(4, record.sop_instance_uid, Section(0, 95, 50, 250, 20, 16, 12.0, 10.6, None, 0.72), 1, None, None,
                         KIND_UNSURE)
    shown: list[str] = []
    real = ImageDraw.ImageDraw.text
    monkeypatch.setattr(ImageDraw.ImageDraw, "text", lambda self, xy, text, *a, **k: (shown.append(text), real(self, xy, text, *a, **k))[1])
    ovary_section = Section(0, 60, 80, 9000, 130, 90, 35.06, 20.25, None)
    for frame, expect_ovary in ((0, True), (3, False)):
        shown.clear()
        overlay.render_overlay(grey, ovary_mask=ovary, follicle_ids=ids, follicles=follicles, record=record,
                               frame_index=0, patient_label="P", unsure_ids=unsure_ids, unsure=[candidate],
                               ovary=dataclasses.replace(ovary_section, frame_index=frame))  # fmt: skip
        text = " | ".join(shown)
        assert "7.8 mm (8.2 x 7.4)" in text  # the mean, (8.15 + 7.4) / 2, as the report shows it
        assert "11.3 mm (12.0 x 10.6), unsure 0.72" in text
        assert ("ovary 35.1 x 20.3 mm" in text) is expect_ovary


def test_a_long_header_line_fits_a_narrow_overlay() -> None:
    """A sweep frame carrying the ovary's size: its header's second line once ran past the right
    edge of an overlay as narrow as its legend ("ovary 65.3 x 51" and no more)."""
    grey, ovary, ids, follicles, record = _scene()
    record = dataclasses.replace(record, sop_instance_uid="1.2.840.113619.2.55.3.604688119.969.1234567890.123456",
                                 n_frames=120)  # fmt: skip
    ovary_section = Section(0, 60, 80, 9000, 130.0, 90.0, 65.3, 51.2, 3000.0)
    rgb = overlay.render_overlay(grey, ovary_mask=ovary, follicle_ids=ids, follicles=follicles, record=record,
                                 frame_index=0, patient_label="P0a1b2c3d4e5", ovary=ovary_section)  # fmt: skip
    header = rgb[: overlay.layout_for(record).top].astype(int)
    text = (header > 150).all(axis=2)
    assert text[:, : rgb.shape[1] // 2].any()
    assert not text[:, -8:].any()  # nothing cut at the edge: the line fits


def test_a_patient_id_too_long_for_the_header_loses_its_middle_not_the_date_and_side() -> None:
    """A 64-character id (DICOM's longest) of wide letters pushed the visit date and side off an
    overlay narrower than about 960 px."""
    from PIL import Image, ImageDraw

    from follicle_seg.report.overlay import overlay_font, short_title

    draw = ImageDraw.Draw(Image.new("RGB", (760, 40)))
    short = short_title(draw, "W" * 30 + "MIDDLE" + "Z" * 28, "2025-01-21   left ovary")
    assert short.endswith("   2025-01-21   left ovary") and short.startswith("WWW") and "Z   2025" in short
    assert "\u2026" in short and "MIDDLE" not in short
    assert draw.textlength(short, font=overlay_font(11, bold=True)) <= 760 - 16
    assert short_title(draw, "P001", "2025-01-21   left ovary") == "P001   2025-01-21   left ovary"
    # an id holding the gap itself is shortened all the same (it was split inside the id)
    gapped = short_title(draw, "WW   WW" * 12, "2025-01-21   left ovary")
    assert "\u2026" in gapped and gapped.endswith("W   2025-01-21   left ovary")
    assert draw.textlength(gapped, font=overlay_font(11, bold=True)) <= 760 - 16


def test_a_tube_candidate_is_labelled_a_tube_not_unsure(monkeypatch) -> None:
    """A tube through the sweep (tracking.is_tube) is a candidate the network is sure of: it was
    labelled "unsure 0.95", pointing the reviewer at the score, not at the vessel rule."""
    from PIL import ImageDraw

    grey, ovary, ids, follicles, record = _scene()
    unsure_ids = np.where(_ellipse(record.region_shape, 95, 50, 8, 10), 4, 0).astype(np.int32)
    tube = Follicle(4, record.sop_instance_uid, Section(0, 95, 50, 250, 20, 16, 12.0, 10.6, None, 0.95), 1, None, None, KIND_TUBE)
    shown: list[str] = []
    real = ImageDraw.ImageDraw.text
    monkeypatch.setattr(ImageDraw.ImageDraw, "text", lambda self, xy, text, *a, **k: (shown.append(text), real(self, xy, text, *a, **k))[1])
    overlay.render_overlay(grey, ovary_mask=ovary, follicle_ids=ids, follicles=follicles, record=record,
                           frame_index=0, patient_label="P", unsure_ids=unsure_ids, unsure=[tube])  # fmt: skip
    text = " | ".join(shown)
    assert "11.3 mm (12.0 x 10.6), tube? 0.95" in text and "unsure" not in text and "candidate, not counted" in text


def test_a_patient_id_holding_a_line_break_or_escape_code_is_drawn_escaped_on_one_line() -> None:
    """PatientID ``P\\n1`` made Pillow raise "can't measure length of multiline text": the image
    failed, its follicles lost from the tables."""
    grey, ovary, ids, follicles, record = _scene()
    rgb = _render(grey, ovary, ids, follicles, dataclasses.replace(record, patient_id="P\x1b[2J\nfake line"))
    assert rgb.shape[1] == _render(grey, ovary, ids, follicles, record).shape[1]
    assert overlay.title(record, "P\x1b[2J\nfake", "left ovary")[0] == "P\\x1b[2J\\nfake"


def test_a_patient_id_of_thousands_of_characters_is_shortened_at_once() -> None:
    """An 8,000-character PatientID took 12 s an overlay (the id shortened one character at a
    time, measured each time); 20 million made Pillow raise "too many characters in string"."""
    import time

    from PIL import Image, ImageDraw

    from follicle_seg.report.overlay import overlay_font, short_title

    draw = ImageDraw.Draw(Image.new("RGB", (760, 40)))
    start = time.perf_counter()
    for n in (8_000, 20_000_000):
        short = short_title(draw, "W" * n, "2025-01-21   left ovary")
        assert "\u2026" in short and short.endswith("W   2025-01-21   left ovary")
        assert draw.textlength(short, font=overlay_font(11, bold=True)) <= 760 - 16
        # as many characters as fit: one more would not
        assert draw.textlength(short.replace("\u2026", "W\u2026", 1), font=overlay_font(11, bold=True)) > 760 - 16
    assert time.perf_counter() - start < 2
