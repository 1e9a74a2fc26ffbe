"""Burned-in graphics: sonographer calipers and measurement text inside the region, and the
display canvas around it (header text, depth marks, grey bar) for study mode.

Graphics never change the label maps: a caliper drawn over a follicle leaves it a follicle, and
measurement text over tissue stays background, so a model learns to look through them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

import cv2
import numpy as np

from follicle_seg.synth.anatomy import Scene
from follicle_seg.synth.geometry import EllipseCut, cut
from follicle_seg.synth.render import DisplayGrid
from follicle_seg.synth.sector import Plane

_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX)


def _plus(img: np.ndarray, row: int, col: int, size: int, value: int | tuple[int, ...]) -> None:
    cv2.line(img, (col - size, row), (col + size, row), value, 1, cv2.LINE_8)
    cv2.line(img, (col, row - size), (col, row + size), value, 1, cv2.LINE_8)


def _dotted(img: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], step: int, value: int | tuple[int, ...]) -> None:
    n = int(np.hypot(p1[0] - p0[0], p1[1] - p0[1]) // step)
    for k in range(1, n):
        t = k / n
        c = int(round(p0[0] + t * (p1[0] - p0[0])))
        r = int(round(p0[1] + t * (p1[1] - p0[1])))
        cv2.circle(img, (c, r), 0, value, -1)


def caliper(img: np.ndarray, ends: list[tuple[int, int]], size: int, step: int | None,
             value: int | tuple[int, ...]) -> None:
    """'+' marks at both ``(col, row)`` ends, joined by a dotted line every ``step`` px (none if None)."""
    for col, row in ends:
        _plus(img, row, col, size, value)
    if step is not None:
        _dotted(img, ends[0], ends[1], step, value)


def draw_calipers(
    img: np.ndarray,
    sec: EllipseCut,
    grid: DisplayGrid,
    rng: np.random.Generator,
    *,
    value: int | tuple[int, ...] = 230,
) -> list[str]:
    """Draw '+' calipers at both ends of a section's axes joined by dotted lines (in place).

    Returns the measurement lines a scanner would print (``"D1 12.3 mm"``...).
    """
    size = int(rng.integers(3, 7))
    step = int(rng.integers(3, 6))
    lines = []
    axes = [(sec.d1_mm, sec.angle_rad), (sec.d2_mm, sec.angle_rad + np.pi / 2)]
    for k, (d, ang) in enumerate(axes[: int(rng.integers(1, 3))]):
        ends = []
        for sign in (-1.0, 1.0):
            x = sec.centre_x_mm + sign * d / 2 * np.cos(ang)
            z = sec.centre_z_mm + sign * d / 2 * np.sin(ang)
            row, col = grid.to_pixel(x, z)
            ends.append((int(round(col)), int(round(row))))
        caliper(img, ends, size, step, value)
        lines.append(f"D{k + 1} {d:.1f} mm" if rng.random() < 0.7 else f"{k + 1} {d / 10:.2f} cm")
    return lines


def draw_text_block(
    img: np.ndarray, lines: list[str], rng: np.random.Generator, *, value: int | tuple[int, ...] = 220
) -> None:
    """Print measurement lines in a random corner of the image (in place)."""
    if not lines:
        return
    font = _FONTS[int(rng.integers(len(_FONTS)))]
    scale = float(rng.uniform(0.35, 0.6)) * (1.6 if font == cv2.FONT_HERSHEY_PLAIN else 1.0)
    height = int(cv2.getTextSize("D1", font, scale, 1)[0][1] * 1.7) + 2
    width = max(cv2.getTextSize(t, font, scale, 1)[0][0] for t in lines)
    rows, cols = img.shape[:2]
    left = bool(rng.random() < 0.5)
    top = bool(rng.random() < 0.6)
    c0 = int(rng.integers(4, 20)) if left else cols - width - int(rng.integers(4, 20))
    r0 = int(rng.integers(height, height + 25)) if top else rows - len(lines) * height - int(rng.integers(2, 15))
    ink = value
    if rng.random() < 0.3:  # measurement box: light background, dark text
        box = (max(c0 - 3, 0), max(r0 - height, 0)), (min(c0 + width + 3, cols - 1), min(r0 + (len(lines) - 1) * height + 5, rows - 1))
        cv2.rectangle(img, box[0], box[1], value, -1)
        ink = 0 if isinstance(value, int) else (0,) * len(value)
    for i, t in enumerate(lines):
        cv2.putText(img, t, (max(c0, 0), r0 + i * height), font, scale, ink, 1, cv2.LINE_AA)


def annotate(img: np.ndarray, sc: Scene, y0: float, grid: DisplayGrid, rng: np.random.Generator) -> None:
    """Calipers across a follicle or the ovary, and their measurement text (in place)."""
    sections: list[EllipseCut] = [s for s in (cut(f, y0) for f in sc.follicles) if s is not None]
    if sc.ovary is not None:
        o = cut(sc.ovary, y0)
        if o is not None:
            sections.append(o)
    lines: list[str] = []
    value = int(rng.integers(170, 256))
    for k in rng.permutation(len(sections))[: int(rng.integers(1, 3))]:
        lines += draw_calipers(img, sections[int(k)], grid, rng, value=value)
    draw_text_block(img, lines or [f"Dist {rng.uniform(3, 40):.1f} mm"], rng, value=value)


def burn(img: np.ndarray, chosen: bool, graphics: bool | None, draw: Callable[[np.ndarray], None]) -> None:
    """Burn graphics into ``img`` with ``draw`` (in place): when ``chosen`` (graphics ``None``, the
    generators' random share), always (``True``) or never (``False``). Never still draws them,
    on a copy that is dropped, so that the random stream, and with it the rest of the frame,
    stays that of ``True``: the same scene with and without graphics."""
    if graphics is None:
        if chosen:
            draw(img)
    else:
        draw(img if graphics else img.copy())


@dataclass(frozen=True)
class Canvas:
    """A display canvas and where the ultrasound region sits on it (inclusive bounds)."""

    pixels: np.ndarray  # (rows, cols, 3) uint8 RGB
    region: tuple[int, int, int, int]  # (min_col, min_row, max_col, max_row)


def compose_canvas(
    region_rgb: np.ndarray,
    rng: np.random.Generator,
    *,
    header: list[str],
    depth_mm: float,
    spacing_mm: float,
) -> Canvas:
    """Place a region image on a larger canvas with text, depth marks and a grey bar outside it."""
    rows, cols = region_rgb.shape[:2]
    top = int(rng.integers(40, 90))
    left = int(rng.integers(60, 160))
    right = int(rng.integers(60, 160))
    bottom = int(rng.integers(20, 80))
    canvas = np.zeros((rows + top + bottom, cols + left + right, 3), np.uint8)
    canvas[top : top + rows, left : left + cols] = region_rgb
    font = _FONTS[int(rng.integers(len(_FONTS)))]
    for i, t in enumerate(header):
        cv2.putText(canvas, t, (8, 16 + 15 * i), font, 0.4, (200, 200, 200), 1, cv2.LINE_AA)
        if 16 + 15 * i > top - 8:
            break
    bar_col = left + cols + int(rng.integers(10, max(11, right - 25)))
    bar_rows = np.linspace(255, 0, min(rows, 256)).astype(np.uint8)
    canvas[top : top + bar_rows.size, bar_col : bar_col + 10] = bar_rows[:, None, None]
    tick_col = left - int(rng.integers(8, max(9, left - 20)))
    step_mm = 10.0 if depth_mm > 40 else 5.0
    for k in range(int(depth_mm // step_mm) + 1):
        r = top + int(round(k * step_mm / spacing_mm))
        if r < canvas.shape[0]:
            cv2.line(canvas, (tick_col, r), (tick_col + 5, r), (180, 180, 180), 1)
    cv2.putText(canvas, f"{depth_mm / 10:.1f}cm", (4, canvas.shape[0] - 6), font, 0.4, (200, 200, 200), 1)
    return Canvas(canvas, (left, top, left + cols - 1, top + rows - 1))


class OvaryGeometry(TypedDict):
    """An ovary painted on a display plane, for the graphics (mm, radians): its centre ``(x, z)``,
    semi-axes ``a`` and ``b``, angle, and its follicles ``(x, z, radius, diameter)``."""

    centre: tuple[float, float]
    a: float
    b: float
    angle: float
    follicles: list[tuple[float, float, float, float]]


_LABEL_TEXT = ("RT OVARY", "LT OVARY", "Rt Ovary", "Lt Ovary", "R OV", "L OV", "LOV", "ROV", "RT-OVARY",
               "LEFT OV", "Right Ovary", "Left Ovary", "CY", "1", "2")


def draw_graphics(img: np.ndarray, plane: Plane, ovary: OvaryGeometry | None, rng: np.random.Generator) -> None:
    """Calipers across the ovary or a follicle, a side label, measurement text (in place)."""
    value = int(rng.integers(170, 256))
    lines: list[str] = []
    if ovary is not None and rng.random() < 0.5:
        cx, cz = ovary["centre"]
        targets = [(cx, cz, ovary["a"], ovary["angle"])]
        targets += [(fx, fz, rad, rng.uniform(-np.pi, np.pi)) for fx, fz, rad, _ in ovary["follicles"]]
        size, step = int(rng.integers(3, 7)), int(rng.integers(3, 6))
        for k in rng.permutation(len(targets))[: int(rng.integers(1, 3))]:
            x, z, half, ang = targets[int(k)]
            ends = [plane.to_pixel(x + sg * half * np.cos(ang), z + sg * half * np.sin(ang))[::-1] for sg in (-1, 1)]
            caliper(img, ends, size, step if rng.random() < 0.8 else None, value)
            lines.append(f"D{len(lines) + 1} {2 * half / 10:.2f} cm")
    if ovary is not None and rng.random() < 0.25:
        cx, cz = ovary["centre"]
        row, col = plane.to_pixel(cx + rng.uniform(-1, 1) * ovary["a"], cz + rng.uniform(0.3, 1.3) * ovary["b"])
        text = _LABEL_TEXT[int(rng.integers(len(_LABEL_TEXT)))]
        cv2.putText(img, text, (col - 20, row), cv2.FONT_HERSHEY_SIMPLEX, rng.uniform(0.35, 0.6), value, 1, cv2.LINE_AA)
    if lines or rng.random() < 0.3:
        draw_text_block(img, lines or [f"D {rng.uniform(1, 5):.2f}cm"], rng, value=value)
