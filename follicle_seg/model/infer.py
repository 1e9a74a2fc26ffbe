"""Batched inference: region crops in, label maps and probabilities on the region grid out.

A forward pass holds frames of one network-input shape, so a frame's result never depends on
what it is batched with. A frame without calibration is read at several assumed depths
(:data:`UNCALIBRATED_DEPTHS_MM`) and the reading that finds the most ovary is kept.

The same code runs on CPU and CUDA. On CUDA the batch goes through pinned memory with
``non_blocking`` copies, the network runs channels-last under autocast (bf16 where the GPU has
it in hardware, else fp16; :func:`autocast_dtype`); everything runs under
:func:`torch.inference_mode`. A pass that runs out of GPU memory is split in two.

The per-frame work around the forward pass (resampling, the fan mask, normalisation; mapping
back, out-of-distribution flags, keeping one ovary) runs on a pool of ``threads`` threads: it
costs more than the forward pass itself on CPU and is all that is left on a GPU, and the numpy,
scipy and torch calls it makes release the GIL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np
import torch
from skimage import measure

from follicle_seg.cpus import usable_cpus
from follicle_seg.instances import class_labels, convex_hull_mask, labels_from_probs, ovary_score
from follicle_seg.io.marks import caliper_marks, graphics_pixels, marked_area, measured_outline
from follicle_seg.model.bundle import load_network
from follicle_seg.model.preprocess import (
    ASSUMED_DEPTH_MM,
    TARGET_MM,
    InputGeometry,
    fan_mask,
    prepare,
    restore_probabilities,
    scan_area,
)
from follicle_seg.passes import frame_look
from follicle_seg.types import (
    FOLLICLE,
    NET_IMPLAUSIBLE_SHAPE,
    NET_LOW_CONFIDENCE,
    NET_NO_OVARY,
    OVARY,
    OVARY_BY_CALIPERS,
    Frame,
    FrameSegmentation,
)

log = logging.getLogger("follicle_seg")

T = TypeVar("T")
R = TypeVar("R")

#: An image to segment: ``(pixels, spacing_row_mm, spacing_col_mm)``, and its fan mask when known,
#: then the area its caliper marks span (:attr:`Calipers.area`; ``None``: none).
ImageToSegment = (tuple[np.ndarray, float | None, float | None]
                  | tuple[np.ndarray, float | None, float | None, np.ndarray]
                  | tuple[np.ndarray, float | None, float | None, np.ndarray, np.ndarray | None])

MIN_CONFIDENCE = 0.70
"""Flag ``network: unsure`` when the mean top-class probability over predicted structure is lower.

Set for network 0.3.0 with ``scripts/ood_calibration.py``: on held-out synthetic frames balanced
accuracy at catching failed frames (ovary Dice < 0.5) is flat (0.68-0.69) from 0.675 to 0.80;
0.70 flags 22 % of them against 49 % at 0.80. Re-checked for 0.4.0 (the same script): balanced
accuracy 0.73-0.74 from 0.625 to 0.725, 0.70 flags 39 % of frames; with the centre-weighted
ovary region 0.74-0.75 from 0.625 to 0.75, 0.70 still flags 39 %. See docs/model.md, "Inference"."""

MIN_OVARY_MM2 = 20.0
"""Flag ``no_ovary`` when less ovary (incl. follicles) than this is predicted."""

MIN_FOLLICLE_SOLIDITY = 0.75
"""Flag ``network: follicle shape`` when a follicle section >= 3 mm is less convex than this."""


UNCALIBRATED_DEPTHS_MM = (ASSUMED_DEPTH_MM, 50.0, 100.0)
"""Depths tried for a frame without calibration (its region height taken as each in turn). The
reading whose kept ovary region scores best (summed foreground probability weighted towards
the centre line, :func:`~follicle_seg.instances.ovary_score`; one the frame's calipers touch
first, :func:`pick_reading`) wins, the first on a tie: the
network is sensitive to scale, and a screen capture does not say how deep it is. The three span
the synthetic training depths (40-100 mm). On the 67 real captures of ``scripts/eval_real.py``
this raised network 0.4.0's mean ovary Dice from 0.45 to 0.52 (before the centre weighting),
and five networks' by 0.025 on average (docs/model.md, "Inference")."""


FRAME_PIXELS = 256 * 512
"""Network-input pixels of a typical frame (about 75 mm deep at 0.3 mm/px). One forward pass
holds at most ``batch_size`` frames of this size: deeper or wider frames go fewer at a time, so
peak memory is set by the batch size, not by the largest frame of an archive."""


def frames_per_pass(shape: tuple[int, int], batch_size: int) -> int:
    """How many frames of one padded network-input shape share a forward pass: at most
    ``batch_size``, and at most ``batch_size x FRAME_PIXELS`` pixels in all (larger frames come
    fewer to a pass); a single frame always goes.

    Examples
    --------
    >>> [frames_per_pass(s, 8) for s in ((256, 512), (384, 768), (2048, 2048))]
    [8, 3, 1]
    """
    return max(1, min(batch_size, batch_size * FRAME_PIXELS // (shape[0] * shape[1])))


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is available, else ``"cpu"``; others pass through.

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    cuda = re.fullmatch(r"cuda(?::(\d+))?", device)
    if cuda is None:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', not {device!r}.")
    if not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but no CUDA GPU is available.")
    if cuda[1] is not None and int(cuda[1]) >= torch.cuda.device_count():
        raise ValueError(f"device {device!r} requested but this machine has {torch.cuda.device_count()} "
                         "CUDA GPU(s), numbered from 0.")
    return device


def autocast_dtype(device: str) -> torch.dtype:
    """Mixed-precision type on a CUDA device: bf16 where the GPU has it in hardware (compute
    capability 8.0 on, or ROCm), else fp16. Older cards (T4, V100) only emulate bf16, and cuDNN
    has no bf16 convolutions there: ``torch.cuda.is_bf16_supported()`` says yes to them all the same.
    """
    if torch.version.hip or torch.cuda.get_device_capability(device)[0] >= 8:
        return torch.bfloat16
    return torch.float16


def ood_flags(probs: np.ndarray) -> tuple[str, ...]:
    """Reasons a frame looks unlike the training data, from probabilities at network scale.

    Parameters
    ----------
    probs
        ``(3, rows, cols)`` class probabilities at :data:`TARGET_MM` mm/px (padding removed).

    Returns
    -------
    tuple of str
        Any of ``"network: no ovary"``, ``"network: unsure"``, ``"network: follicle shape"``.
    """
    labels = class_labels(probs)
    structure = labels > 0
    flags: list[str] = []
    if structure.sum() * TARGET_MM**2 < MIN_OVARY_MM2:
        flags.append(NET_NO_OVARY)
    elif float(probs.max(0)[structure].mean()) < MIN_CONFIDENCE:
        flags.append(NET_LOW_CONFIDENCE)
    min_area_px = np.pi * (1.5 / TARGET_MM) ** 2
    for region in measure.regionprops(measure.label(labels == FOLLICLE)):
        # solidity, as skimage's regionprops has it, with the faster hull
        if region.area >= min_area_px and region.area / convex_hull_mask(region.image).sum() < MIN_FOLLICLE_SOLIDITY:
            flags.append(NET_IMPLAUSIBLE_SHAPE)
            break
    return tuple(flags)


def pick_reading(readings: Sequence[tuple[np.ndarray, tuple[str, ...]]],
                 marked: np.ndarray | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """The reading whose kept ovary region scores best (:func:`~follicle_seg.instances.ovary_score`;
    one touching ``marked``, the area the calipers span, before any other); the first of equal
    ones, so the assumed depth wins ties."""
    return readings[0] if len(readings) == 1 else max(readings, key=lambda r: ovary_score(r[0], marked))


class Calipers(NamedTuple):
    """What the sonographer's caliper marks inside the scan area of a grey frame say
    (``None``: nothing), for ``instances.labels_from_probs``."""

    #: The area they span (``io.marks.marked_area``): the ovary region it touches is the one kept.
    #: On the 67 real captures of ``scripts/eval_real.py`` it touches the expert's ovary outline
    #: in 55 of the 58 with marks (docs/model.md, "Inference").
    area: np.ndarray | None
    #: The ellipse of two crossing diameters (``io.marks.measured_outline``): the ovary kept
    #: where it is the ovary's (``instances.measures_the_ovary``).
    outline: np.ndarray | None


def calipers(pixels: np.ndarray, scan: np.ndarray | None = None) -> Calipers:
    """:class:`Calipers` of a grey frame (``scan``: its
    :func:`~follicle_seg.model.preprocess.scan_area` when known); the marks are looked for once."""
    marks = caliper_marks(pixels)
    within = scan_area(pixels) if scan is None else scan
    return Calipers(marked_area(marks, within), measured_outline(marks, within))


def check_image(k: int, pixels: np.ndarray, spacing_row_mm: float | None, spacing_col_mm: float | None,
                masks: Sequence[np.ndarray | None] = ()) -> None:
    """Refuse image ``k`` in one line where the network cannot read it: it sees uint8 grey
    levels (the scan fan is what is brighter than grey 4: a 0-1 float image has none) and a
    pixel size, or none at all; ``masks``, its fan mask and caliper area when given
    (:data:`ImageToSegment`), lie on its pixels' grid.

    >>> check_image(1, np.zeros((4, 4)), 0.2, 0.2)
    Traceback (most recent call last):
    ...
    ValueError: image 1: pixels of type float64: give uint8 grey levels 0-255 (a 0-1 image: times 255, then astype(uint8)).
    """
    shape, dtype = np.shape(pixels), np.asarray(pixels).dtype
    if len(shape) != 2 or min(shape) == 0:
        raise ValueError(f"image {k}: pixels of shape {shape}: give one grey 2-D array (rows x cols), not empty.")
    if dtype != np.uint8:
        raise ValueError(f"image {k}: pixels of type {dtype}: give uint8 grey levels 0-255 "
                         "(a 0-1 image: times 255, then astype(uint8)).")
    spacing = (spacing_row_mm, spacing_col_mm)
    if spacing != (None, None) and not all(s is not None and np.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"image {k}: pixel size {spacing} mm: give both (rows, columns) as positive numbers, "
                         "or both None (uncalibrated).")
    for name, mask in zip(("fan mask", "caliper area"), masks):
        if mask is not None and np.shape(mask) != shape:
            raise ValueError(f"image {k}: {name} of shape {np.shape(mask)}: give one of the pixels' shape {shape}.")


class Segmenter:
    """The shipped (or a fine-tuned) network, ready to segment frames.

    Parameters
    ----------
    weights
        ``models/model.pt`` inside a bundle folder; ``None`` for the shipped bundle. Its sha256
        must match the bundle's ``configs/metadata.json`` (else :class:`~follicle_seg.errors.ModelError`).
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda[:N]"``.
    batch_size
        Frames per forward pass (fewer when frames are larger than :data:`FRAME_PIXELS`); a
        pass holds frames of one network-input shape only.
    amp
        Mixed precision on CUDA (:func:`autocast_dtype`). Ignored on CPU.
    uncalibrated_depths_mm
        Depths tried for frames without calibration, the most confident reading kept
        (:data:`UNCALIBRATED_DEPTHS_MM`); ``(ASSUMED_DEPTH_MM,)`` reads them once.
    threads
        Threads for the per-frame work before and after the forward pass (default: the CPU
        count, at most 8); 1 does it in the calling thread. Results do not depend on it.

    Examples
    --------
    >>> seg = Segmenter(device="cpu")  # doctest: +SKIP
    >>> results = seg.segment(frames)  # doctest: +SKIP
    """

    def __init__(
        self,
        weights: Path | None = None,
        *,
        device: str = "auto",
        batch_size: int = 8,
        amp: bool = True,
        uncalibrated_depths_mm: Sequence[float] = UNCALIBRATED_DEPTHS_MM,
        threads: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}.")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}.")
        if not uncalibrated_depths_mm or min(uncalibrated_depths_mm) <= 0:
            raise ValueError(f"uncalibrated_depths_mm must be positive depths, not {uncalibrated_depths_mm!r}.")
        self.uncalibrated_depths_mm = tuple(float(d) for d in uncalibrated_depths_mm)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        cuda = self.device.startswith("cuda")
        self.amp_dtype: torch.dtype | None = None
        if cuda and amp:
            self.amp_dtype = autocast_dtype(self.device)
        net = load_network(weights).to(self.device)
        # CPU stays contiguous: channels-last is a third faster there, but oneDNN then keeps
        # memory for every input shape it meets, and peak memory grows with the archive (docs/batch.md)
        self.network = net.to(memory_format=torch.channels_last) if cuda else net  # type: ignore[call-overload]  # (torch's hints lack it)
        self.threads = threads or min(8, usable_cpus())
        # each pool thread runs torch's CPU ops on one core (OpenMP's thread count is per thread):
        # the pool is the parallelism, and 8 threads x all cores would oversubscribe the machine
        self._pool = (ThreadPoolExecutor(self.threads, thread_name_prefix="segmenter",
                                         initializer=torch.set_num_threads, initargs=(1,))
                      if self.threads > 1 else None)

    @property
    def precision(self) -> str:
        """What the network computes in: ``"float32"``, or on CUDA ``"bf16 autocast"`` or
        ``"fp16 autocast"`` (counts of one study may differ between precisions)."""
        if self.amp_dtype is None:
            return "float32"
        return f"{'bf16' if self.amp_dtype == torch.bfloat16 else 'fp16'} autocast"

    @property
    def runs_on(self) -> str:
        """The device and precision, as a run's summary names them (``"cpu, float32"``)."""
        return f"{self.device}, {self.precision}"

    def _map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(x) for x in items]``, on the thread pool when there is one (order kept)."""
        return list(self._pool.map(fn, items)) if self._pool else [fn(x) for x in items]

    def predict(
        self, images: Sequence[ImageToSegment]
    ) -> list[tuple[np.ndarray, tuple[str, ...]]]:
        """Class probabilities on each region grid, plus out-of-distribution flags.

        Parameters
        ----------
        images
            ``(pixels uint8 rows x cols, spacing_row_mm or None, spacing_col_mm or None)``: grey
            levels 0-255 (a frame from outside DICOM too), its pixel size in mm, both or neither.

        Returns
        -------
        list
            One ``(probs float32 (3, rows, cols), flags)`` per image, in order. An image without
            spacing is read once per depth of ``uncalibrated_depths_mm``; the reading with the
            largest :func:`~follicle_seg.instances.ovary_score` is returned (one whose ovary
            region touches the area the image's calipers span, its fifth item, before any other).

        Raises
        ------
        ValueError
            An image the network cannot read: not a 2-D uint8 array, a pixel size that is not
            two positive numbers (nor two ``None``), or a fan mask or caliper area not of its
            pixels' shape; the message names the image (from 1).
        """
        return [pick_reading(readings, image[4] if len(image) > 4 else None)
                for image, readings in zip(images, self._readings(images))]

    def _readings(self, images: Sequence[ImageToSegment]) -> list[list[tuple[np.ndarray, tuple[str, ...]]]]:
        """Every reading of each image: one at its pixel size, or one per depth of
        ``uncalibrated_depths_mm`` (in that order) without one."""
        for k, (px, sr, sc, *masks) in enumerate(images, 1):
            check_image(k, px, sr, sc, masks)
        spacings = [[(sr, sc)] if sr is not None and sc is not None
                    else [(d / max(np.shape(px)[0], 1),) * 2 for d in self.uncalibrated_depths_mm]
                    for px, sr, sc, *_ in images]
        flat = iter(self._predict_readings([(image[0], r, c, *image[3:4]) for image, ss in zip(images, spacings) for r, c in ss]))
        return [[next(flat) for _ in ss] for ss in spacings]

    def _predict_readings(
        self, images: Sequence[ImageToSegment]
    ) -> list[tuple[np.ndarray, tuple[str, ...]]]:
        """Forward passes over frames of one padded shape at a time: zero padding to a larger
        frame's size changes what the network sees near the edges (up to 0.74 in probability on
        a real capture), so a frame's result must not depend on the company it is batched with."""
        prepared = self._map(lambda image: prepare(np.asarray(image[0]), image[1], image[2], *image[3:]), images)
        by_shape: dict[tuple[int, int], list[int]] = {}
        for i, (*_, geom) in enumerate(prepared):
            by_shape.setdefault(geom.padded_shape, []).append(i)
        results: dict[int, tuple[np.ndarray, tuple[str, ...]]] = {}
        for shape, members in by_shape.items():
            start = 0
            while start < len(members):  # (the pass size shrinks after the GPU ran out of memory)
                chunk = members[start : start + frames_per_pass(shape, self.batch_size)]
                results.update(zip(chunk, self._predict_fitting([prepared[j] for j in chunk])))
                start += len(chunk)
        return [results[i] for i in range(len(prepared))]

    def _predict_fitting(
        self, prepared: Sequence[tuple[np.ndarray, np.ndarray, InputGeometry]]
    ) -> list[tuple[np.ndarray, tuple[str, ...]]]:
        """:meth:`_predict_batch`, the pass split in two while the GPU runs out of memory (a GPU
        shared with other jobs, a batch size set for a larger card); ``batch_size`` is halved
        for the passes after it. A single frame that does not fit fails as before."""
        try:
            return self._predict_batch(prepared)
        except torch.cuda.OutOfMemoryError:
            if len(prepared) == 1:
                raise
        # outside the except block, whose traceback holds the failed pass's tensors
        torch.cuda.empty_cache()
        self.batch_size = max(1, self.batch_size // 2)
        log.warning("%s ran out of memory with %d frames in a forward pass; batch size now %d",
                    self.device, len(prepared), self.batch_size)
        half = len(prepared) // 2
        return self._predict_fitting(prepared[:half]) + self._predict_fitting(prepared[half:])

    def segment(self, frames: Sequence[Frame]) -> list[FrameSegmentation]:
        """Segment frames; labels and probabilities lie on each frame's region grid, with its
        burned-in graphics for the measurement (:func:`~follicle_seg.io.marks.graphics_pixels`)."""
        fans = self._map(lambda f: fan_mask(np.asarray(f.pixels)), frames)  # once a frame: prepare and scan_area share it
        items = [
            (f.pixels, f.record.calibration.spacing_row_mm, f.record.calibration.spacing_col_mm, fan)
            for f, fan in zip(frames, fans)
        ]

        def result(frame: Frame, readings: list[tuple[np.ndarray, tuple[str, ...]]], fan: np.ndarray) -> FrameSegmentation:
            scan = scan_area(frame.pixels, fan)
            marks = calipers(frame.pixels, scan)  # 10 ms on a 500 x 700 frame
            probs, flags = pick_reading(readings, marks.area)
            cal = frame.record.calibration
            labels = labels_from_probs(probs, marked=marks.area, outline=marks.outline)
            kept = labels > 0
            if marks.area is not None and kept.any() and not (labels_from_probs(pick_reading(readings)[0]) > 0)[kept].any():
                flags += (OVARY_BY_CALIPERS,)  # the calipers kept a region the network would not have
            return FrameSegmentation(
                record=frame.record,
                index=frame.index,
                labels=labels,
                follicle_prob=probs[FOLLICLE],
                ovary_prob=probs[OVARY] + probs[FOLLICLE],
                flags=flags + frame.flags,
                scan=scan,
                look=frame_look(frame.pixels, scan, cal.spacing_row_mm, cal.spacing_col_mm) if frame.record.is_sweep else None,
                graphics=graphics_pixels(frame.pixels, frame.colour, labels == FOLLICLE),
            )

        return self._map(lambda triple: result(*triple), zip(frames, self._readings(items), fans))

    def _predict_batch(
        self, prepared: Sequence[tuple[np.ndarray, np.ndarray, InputGeometry]]
    ) -> list[tuple[np.ndarray, tuple[str, ...]]]:
        rows = max(x.shape[0] for x, _, _ in prepared)
        cols = max(x.shape[1] for x, _, _ in prepared)
        batch = torch.zeros((len(prepared), 1, rows, cols), dtype=torch.float32)
        outside = torch.ones((len(prepared), 1, rows, cols), dtype=torch.bool)
        for i, (x, fan, _) in enumerate(prepared):
            batch[i, 0, : x.shape[0], : x.shape[1]] = torch.from_numpy(x)
            outside[i, 0, : x.shape[0], : x.shape[1]] = torch.from_numpy(~fan)
        cuda = self.device.startswith("cuda")
        if cuda:
            batch = batch.pin_memory().to(self.device, non_blocking=True)
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            logits = self._forward(batch, self.amp_dtype)
            if self.amp_dtype is not None and not bool(torch.isfinite(logits).all()):
                # fp16's range (65504) overflowed on some activation: the pass again in float32
                log.warning("mixed precision (%s) gave non-finite network outputs on a pass of %d frame(s): "
                            "that pass run again in float32", self.precision, len(prepared))
                logits = self._forward(batch, None)
            if not bool(torch.isfinite(logits).all()):
                raise ValueError("the network's output holds NaN or infinite values (its weights, or the device?)")
            probs = torch.softmax(logits.float(), dim=1)
            # outside the scan sector (rulers, text, the black surround) is background, whatever
            # the network makes of the sector's edge
            background = torch.tensor([1.0, 0.0, 0.0], device=probs.device)[None, :, None, None]
            probs = torch.where(outside.to(probs.device), background, probs)
            return self._map(lambda i: self._restore(probs[i], prepared[i][2]), range(len(prepared)))

    def _forward(self, batch: torch.Tensor, amp_dtype: torch.dtype | None) -> torch.Tensor:
        """The network's logits of ``batch``, under autocast to ``amp_dtype`` when given."""
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        with torch.autocast(device_type=device_type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            return self.network(batch)

    @staticmethod
    def _restore(probs: torch.Tensor, geom: InputGeometry) -> tuple[np.ndarray, tuple[str, ...]]:
        rows, cols = geom.scaled_shape
        flags = ood_flags(probs[:, :rows, :cols].cpu().numpy())
        # float32 already: a copy only where the grid is the network's (a view into the batch)
        return np.ascontiguousarray(restore_probabilities(probs, geom).cpu().numpy()), flags
