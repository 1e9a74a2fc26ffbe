"""Turns told on generator cines (``follicle_seg.passes``): one-way sweeps split by mistake
(a false split counts only the larger part's follicles) and turns missed (a sweep through the
ovary and back counts each follicle twice) or told in the wrong place.

Each scene is one ovary of the generator (``synth.study._ovary_scene``, 16 mm, five follicles)
in one of the six style families, scanned at 0.25 mm a pixel; every frame is rendered anew
(speckle redrawn, as a probe held still gives), its look taken as a run takes it (the scan area
found in its pixels). The cines of each scene:

- ``one-way``: 12, 20, 30, 45 and 60 frames 0.3, 0.6 and 1.0 mm apart through the ovary's
  middle, and 30 frames 0.6 mm apart started 4 mm before or after it; ``one-way slowing`` (a
  cosine to a stop at the end, or slowing to a near stop at the middle, 40 frames);
- 40 frames 0.5 mm apart with a nuisance (``one-way`` and the nuisance): ``pause`` (6 frames
  held at the middle), ``gain`` (grey levels x1.4 from the middle on), ``dropped`` (2 frames left
  out), ``duplicated`` (2 frames stored twice, the same pixels), ``tremor`` (each frame shifted
  in the plane by 0.3 mm each way, its plane by 0.1 mm: standard deviations), ``breathing`` (the tissue
  shifted 2 mm up and down in the plane, a period of 40 frames);
- ``back``: 20 or 30 frames there, 0.7 mm apart, and a return of 4, 6, 8, 12, 20 or 40 frames
  (the return retraces the way and goes on beyond the start), the turn on the last frame there;
  ``back half``: the return half the way; ``back`` with a nuisance at 24 frames there and 18 back:
  ``pause`` (4 frames held at the turn), ``tilt`` (the return 0.35 mm off the way there and its
  frames 1.5 mm to the side in the plane), ``gain`` (the return x1.4), ``dropped``,
  ``duplicated``, ``tremor``, ``breathing``; ``back slow`` (a cosine turn, 7 mm each way, 70
  frames); ``one-way 70 frames`` (0.3 and 0.6 mm apart, long enough for 32 frames a side). The
  turns 20 frames there lie 6.65 mm from the ovary's middle, 30 frames there 10.15 mm, with
  nuisances 8.05 mm (``turn_from_middle_mm`` in the JSON); the ovary reaches 5.3-6.5 mm from its
  middle along the sweep in the 6 scenes (``ovary_half_extent_mm``).

Each cine is judged under each ``--setting`` (``SCALES:RATIO``, e.g. ``8,16,32:0.3``, the
detector's; ``passes.TURN_SCALES`` and ``passes.TURN_RATIO`` set for the call): a one-way cine
``ok`` (no turn) or ``split``; a cine with a turn ``told`` (one turn, its middle within 3 frames
of the true turn's, or within a pause held there), ``missed`` (none), ``misplaced`` (none near
it) or ``extra`` (more than one). Also, at each scale, the lowest ratio over a one-way cine and
the ratio at the true turn (the margins to the threshold). Writes a JSON list of cases (their
outcome and error in frames under each setting, the ratios, where the turn and the ovary's edge
lie) and prints a table per cine name (its outcomes under each setting). Nothing is trained.

``--keep-speckle`` renders the grid with the speckle kept between planes under about 2 mm apart
(as a beam 2-3 mm thick sees it; a return gets its plane's speckle back) and the scanner state
(TGC error, reverberation, taper) fixed through each cine, as on a real scanner
(:class:`KeptSpeckle`).

Example (about 2-4 minutes each for the 6 scenes, 294 cines, on the shared 2-core CPU)::

    python scripts/measure_turns.py --scenes 6 --out runs/turns.json
    python scripts/measure_turns.py --scenes 6 --keep-speckle --out runs/turns_kept.json

Measured so (docs/measurement.md, "Sweeps"): as shipped, no one-way cine of the 162 split
(lowest ratio 0.552, a 70-frame cine at 32 frames a side), 74 of the 108 turns with a return of
8 frames or more told (within a frame of the true turn); none of the 24 shorter, nor can they be
(the detector needs 8 frames beyond a turn). With ``--keep-speckle``: none split (0.543), 97 told.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from follicle_seg import passes
from follicle_seg.model.preprocess import scan_area
from follicle_seg.synth.anatomy import Scene
from follicle_seg.synth.render import ScanSetup, prepare_scan, render_plane
from follicle_seg.synth.study import _ovary_scene
from follicle_seg.synth.styles import STYLE_FAMILIES, sample_params

SPACING_MM = 0.25
TOLERANCE_FRAMES = 3
KNOT_MM = 0.5  # --keep-speckle: speckle fields this far apart along the sweep


@dataclass
class Cine:
    """A cine to render: each frame's plane (mm along the sweep), in-plane shift (rows, cols in
    mm) and gain; the frames that are a copy of the one before (stored twice); the true turn
    (its first and last frame)."""

    name: str
    planes: list[float]
    shifts: list[tuple[float, float]] = field(default_factory=list)
    gains: list[float] = field(default_factory=list)
    turn: tuple[int, int] | None = None
    copies: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        self.shifts = self.shifts or [(0.0, 0.0)] * len(self.planes)
        self.gains = self.gains or [1.0] * len(self.planes)

    def frames(self, keep: list[int], name: str) -> Cine:
        """The cine of frames ``keep`` (in order; one listed twice is stored twice); the true turn
        from the last kept frame at or before its first to the first kept at or after its last."""
        turn = None
        if self.turn:
            lo, hi = max(k for k in keep if k <= self.turn[0]), min(k for k in keep if k >= self.turn[1])
            turn = (keep.index(lo), len(keep) - 1 - keep[::-1].index(hi))
        copies = frozenset(i for i in range(1, len(keep)) if keep[i] == keep[i - 1])
        return Cine(name, [self.planes[k] for k in keep], [self.shifts[k] for k in keep],
                    [self.gains[k] for k in keep], turn, copies)  # fmt: skip


class KeptSpeckle:
    """The random draws of ``render_plane`` for one cine with the speckle kept (``--keep-speckle``):
    the speckle (its one 3-D normal draw) a blend of fields on knots :data:`KNOT_MM` apart,
    Gaussian-weighted (standard deviation :data:`KNOT_MM`) about the plane: correlated 0.78 between
    planes 0.5 mm apart, 0.37 at 1 mm, 0.02 at 2 mm, and a return to a plane gets its speckle back;
    every other draw (TGC error, reverberation, taper, texture) the same on each frame."""

    def __init__(self, seed: int) -> None:
        self.seed, self.plane, self.fields = seed, 0.0, {}
        self.state = np.random.default_rng(seed)

    def at(self, plane: float) -> KeptSpeckle:
        """Ready to render ``plane``: the scanner state drawn from the start again."""
        self.plane, self.state = plane, np.random.default_rng(self.seed)
        return self

    def standard_normal(self, shape, dtype=np.float32) -> np.ndarray:
        if not (isinstance(shape, tuple) and len(shape) == 3):
            return self.state.standard_normal(shape, dtype=dtype)
        first = int(np.floor(self.plane / KNOT_MM))
        total, weights = np.zeros(shape, np.float32), 0.0
        for j in range(first - 3, first + 5):
            w = float(np.exp(-((self.plane - j * KNOT_MM) ** 2) / (2 * KNOT_MM**2)))
            if (j, shape) not in self.fields:
                self.fields[j, shape] = np.random.default_rng([self.seed, j + 100000]).standard_normal(shape, dtype=np.float32)
            total += w * self.fields[j, shape]
            weights += w * w
        return total / np.float32(np.sqrt(weights))

    def __getattr__(self, name: str):
        return getattr(self.state, name)


def there_and_back(start: float, step: float, n_there: int, n_back: int) -> tuple[list[float], tuple[int, int]]:
    """Planes of a sweep of ``n_there`` frames and ``n_back`` back; the turn (the last frame there)."""
    there = [start + k * step for k in range(n_there)]
    return there + [there[-1] - k * step for k in range(1, n_back + 1)], (n_there - 1, n_there - 1)


def with_nuisance(cine: Cine, nuisance: str, rng: np.random.Generator) -> Cine:
    """``cine`` with a nuisance (module docstring) over all its frames, or from its turn or middle."""
    n, name = len(cine.planes), f"{cine.name} {nuisance}"
    at = cine.turn[1] if cine.turn else n // 2  # the turn, or the middle
    if nuisance == "pause":  # the frame at the turn or middle held (rendered anew each time)
        hold = 4 if cine.turn else 6
        turn = (cine.turn[0], cine.turn[1] + hold) if cine.turn else None
        return Cine(name, cine.planes[: at + 1] + [cine.planes[at]] * hold + cine.planes[at + 1 :], turn=turn)
    if nuisance in ("dropped", "duplicated"):
        picks = [int(k) for k in rng.choice(np.arange(2, n - 2), 2, replace=False)]
        keep = sorted(range(n) if nuisance == "dropped" else [*range(n), *picks])
        return cine.frames([k for k in keep if nuisance == "duplicated" or k not in picks], name)
    planes, shifts, gains = list(cine.planes), list(cine.shifts), list(cine.gains)
    if nuisance == "gain":
        gains = [1.0 if k <= at else 1.4 for k in range(n)]
    elif nuisance == "tilt":
        planes = [p + (0.35 if k > at else 0.0) for k, p in enumerate(planes)]
        shifts = [(0.0, 1.5 if k > at else 0.0) for k in range(n)]
    elif nuisance == "tremor":
        planes = [p + float(rng.normal(0, 0.1)) for p in planes]
        shifts = [(float(rng.normal(0, 0.3)), float(rng.normal(0, 0.3))) for _ in range(n)]
    elif nuisance == "breathing":
        phase = rng.uniform(0, 2 * np.pi)
        shifts = [(2.0 * float(np.sin(2 * np.pi * k / 40 + phase)), 0.0) for k in range(n)]
    return Cine(name, planes, shifts, gains, cine.turn)


def cines(centre: float, rng: np.random.Generator) -> list[Cine]:
    """The cines of one scene (module docstring), planes about the ovary's ``centre``."""
    out = []
    for n in (12, 20, 30, 45, 60):
        for step in (0.3, 0.6, 1.0):
            out.append(Cine(f"one-way {n} frames {step} mm", [centre + (k - (n - 1) / 2) * step for k in range(n)]))
    for offset in (-4.0, 4.0):
        out.append(Cine("one-way 30 frames off-centre", [centre + offset + (k - 14.5) * 0.6 for k in range(30)]))
    out.append(Cine("one-way slowing", [centre - 8 + 12 * float(np.sin(np.pi / 2 * k / 39)) for k in range(40)]))
    out.append(Cine("one-way slowing", [centre + 6 * float(np.sin(np.pi * (k / 39 - 0.5))) ** 3 for k in range(40)]))
    base = Cine("one-way", [centre + (k - 19.5) * 0.5 for k in range(40)])
    out += [with_nuisance(base, name, rng) for name in ("pause", "gain", "dropped", "duplicated", "tremor", "breathing")]
    for n_there in (20, 30):
        start = centre - (n_there - 1) * 0.7 / 2
        for n_back in (4, 6, 8, 12, 20, 40):
            planes, turn = there_and_back(start, 0.7, n_there, n_back)
            out.append(Cine(f"back {n_back} frames", planes, turn=turn))
        planes, turn = there_and_back(start, 0.7, n_there, n_there // 2)
        out.append(Cine("back half", planes, turn=turn))
    planes, turn = there_and_back(centre - 23 * 0.7 / 2, 0.7, 24, 18)
    base = Cine("back", planes, turn=turn)
    out += [with_nuisance(base, name, rng) for name in
            ("pause", "tilt", "gain", "dropped", "duplicated", "tremor", "breathing")]  # fmt: skip
    out.append(Cine("back slow", [centre + 7 * float(np.cos(2 * np.pi * k / 140)) for k in range(35, 105)], turn=(35, 35)))
    for step in (0.3, 0.6):  # long enough for the largest scale (32 frames a side)
        out.append(Cine(f"one-way 70 frames {step} mm", [centre + (k - 34.5) * step for k in range(70)]))
    return out


def render(cine: Cine, setup: ScanSetup, scene: Scene, rng: np.random.Generator, keep_speckle: bool = False) -> list[np.ndarray]:
    """The frames of ``cine``: each plane rendered anew (a frame stored twice, once); its speckle
    drawn anew, or kept between nearby planes (:class:`KeptSpeckle`)."""
    kept = KeptSpeckle(int(rng.integers(2**32))) if keep_speckle else None
    frames: list[np.ndarray] = []
    for k, (plane, (dy, dx), gain) in enumerate(zip(cine.planes, cine.shifts, cine.gains)):
        if k in cine.copies:
            frames.append(frames[-1])
            continue
        grey = render_plane(setup, scene, plane, kept.at(plane) if kept else rng)[0]
        if dy or dx:
            shift = np.array([[1, 0, dx / SPACING_MM], [0, 1, dy / SPACING_MM]], np.float32)
            grey = cv2.warpAffine(grey, shift, grey.shape[::-1], borderMode=cv2.BORDER_REFLECT) * setup.fan
        frames.append(np.clip(grey.astype(np.float32) * gain, 0, 255).astype(np.uint8))
    return frames


def parse_setting(text: str) -> tuple[tuple[int, ...], float]:
    """``"8,16,32:0.3"`` -> ((8, 16, 32), 0.3)."""
    scales, ratio = text.split(":")
    return tuple(int(k) for k in scales.split(",")), float(ratio)


def judge(turns: list[tuple[int, int]], truth: tuple[int, int] | None) -> tuple[str, float | None]:
    """The outcome (module docstring) and the told turn's error in frames (middle to middle)."""
    if truth is None:
        return ("split" if turns else "ok"), None
    if not turns:
        return "missed", None
    middle = (truth[0] + truth[1]) / 2
    errors = [(lo + hi) / 2 - middle for lo, hi in turns]
    near = [e for e in errors if abs(e) <= TOLERANCE_FRAMES + (truth[1] - truth[0]) / 2]
    if len(turns) > 1:
        return "extra", min(errors, key=abs)
    return ("told" if near else "misplaced"), errors[0]


def with_setting(setting: tuple[tuple[int, ...], float], told: Callable[[], list[tuple[int, int]]]) -> list[tuple[int, int]]:
    """``told()`` with ``passes.TURN_SCALES`` and ``passes.TURN_RATIO`` set to ``setting``."""
    saved = {"TURN_SCALES": passes.TURN_SCALES, "TURN_RATIO": passes.TURN_RATIO}
    vars(passes).update(TURN_SCALES=setting[0], TURN_RATIO=setting[1])
    try:
        return told()
    finally:
        vars(passes).update(saved)


def ratios(looks: list[tuple[np.ndarray, np.ndarray]], scales: tuple[int, ...], truth: tuple[int, int] | None) -> dict[str, float]:
    """At each scale the cine is long enough for: the lowest ratio (one-way) or the lowest within
    the tolerance of the true turn (the looks all usable here)."""
    d = passes.differences(looks)
    out = {}
    for k in scales:
        found = passes._ratios(d, k)
        if truth is not None:
            found = [r for r in found if abs((r[1] + r[2]) / 2 - (truth[0] + truth[1]) / 2) <= TOLERANCE_FRAMES]
        if found:
            out[str(k)] = round(float(min(r[0] for r in found)), 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=6, help="scenes (ovaries), one style family each in turn")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--setting", action="append", help="SCALES:RATIO judged (default: the detector's)")
    ap.add_argument("--out", type=Path, required=True, help="the JSON written")
    ap.add_argument("--keep-speckle", action="store_true",
                    help="speckle kept between planes under 2 mm apart, the scanner state fixed per cine")  # fmt: skip
    args = ap.parse_args()
    settings = [parse_setting(s) for s in args.setting or []] or [(passes.TURN_SCALES, passes.TURN_RATIO)]
    all_scales = tuple(sorted({k for scales, _ in settings for k in scales}))
    families = list(STYLE_FAMILIES)
    cases = []
    for s in range(args.scenes):
        rng = np.random.default_rng([args.seed, s])
        scene, probe, half_extent = _ovary_scene(rng, 16.0, [4.0, 6.0, 8.0, 5.0, 3.0])
        setup = prepare_scan(probe, SPACING_MM, sample_params(STYLE_FAMILIES[families[s % len(families)]], rng), rng)
        assert scene.ovary is not None
        centre = float(scene.ovary.centre[1])
        for cine in cines(centre, rng):
            frames = render(cine, setup, scene, rng, args.keep_speckle)
            looks = [passes.frame_look(g, scan_area(g), SPACING_MM, SPACING_MM) for g in frames]
            case: dict[str, object] = {"scene": s, "family": families[s % len(families)], "cine": cine.name,
                                       "frames": len(frames), "turn": cine.turn,
                                       "ovary_half_extent_mm": round(half_extent, 2),
                                       "turn_from_middle_mm": round(cine.planes[cine.turn[0]] - centre, 2) if cine.turn else None,
                                       "ratios": ratios(looks, all_scales, cine.turn)}  # fmt: skip
            for setting in settings:
                turns = with_setting(setting, partial(passes.turning_points, looks))
                outcome, error = judge(turns, cine.turn)
                case[_name(setting)] = {"outcome": outcome, "error": error, "turns": turns}
            cases.append(case)
        print(f"scene {s + 1} of {args.scenes} done", flush=True)
    args.out.write_text(json.dumps(cases, indent=1))
    print_table(cases, settings)


def _name(setting: tuple[tuple[int, ...], float]) -> str:
    return f"{','.join(map(str, setting[0]))}:{setting[1]}"


def print_table(cases: list[dict], settings: list[tuple[tuple[int, ...], float]]) -> None:
    """Per cine name (its frame count and step are part of it): its cases, outcomes per setting
    and ratio range per scale."""
    kinds: dict[str, list[dict]] = defaultdict(list)
    for c in cases:
        kinds[c["cine"]].append(c)
    for kind, group in kinds.items():
        cells = []
        for setting in settings:
            counts = Counter(c[_name(setting)]["outcome"] for c in group)
            cells.append(f"{_name(setting)} " + " ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        spans = defaultdict(list)
        for c in group:
            for k, r in c["ratios"].items():
                spans[k].append(r)
        ranges = " ".join(f"{k}: {min(v):.2f}-{max(v):.2f}" for k, v in sorted(spans.items(), key=lambda kv: int(kv[0])))
        print(f"{kind} ({len(group)}): " + " | ".join(cells) + f" | ratios {ranges}")


if __name__ == "__main__":
    main()
