"""The settings of one batch run (:class:`RunOptions`, the ``run`` command's options) and what
it reports when it ends (:class:`RunSummary`)."""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass, field
from pathlib import Path

from follicle_seg.filehash import file_sha256
from follicle_seg.model.metadata import network_def_sha256
from follicle_seg.model.paths import METADATA, WEIGHTS, bundle_root_of, shipped_bundle_root
from follicle_seg.types import Network


#: The longest decoding time limit a run takes, s: a decoder call cannot wait longer (inf overflowed).
MAX_DECODE_TIMEOUT_S = 86400


@dataclass(frozen=True)
class RunOptions:
    """Settings of one batch run (the `run` command's options)."""

    out: Path
    cohort: Path | None = None
    device: str = "auto"
    batch_size: int = 8
    workers: int = 2
    resume: bool = True
    save_masks: bool = False
    overlays: bool = True
    dicom: bool = True
    report: bool = True
    # the whole first frame of each image of unknown side, for its side line of the worksheet:
    # off by default, since a machine's text around the scan area may hold the patient's name
    whole_frames: bool = False
    weights: Path | None = None
    pseudonymize: Path | None = None
    isolate: bool = True  # codecs in child processes (a crash or hang fails one file, not the run)
    decode_timeout_s: float = 300.0  # per chunk of frames, when isolated
    executor: str = "local"  # "local" | "dask"
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if self.executor not in ("local", "dask"):
            raise ValueError(f"executor must be 'local' or 'dask', not {self.executor!r}")
        if self.batch_size < 1 or self.workers < 1:
            raise ValueError(f"batch_size and workers must be at least 1 (got {self.batch_size}, {self.workers})")
        timeout = self.decode_timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not 0 < timeout <= MAX_DECODE_TIMEOUT_S:
            raise ValueError(f"decode_timeout_s must be a number of seconds above 0 and at most {MAX_DECODE_TIMEOUT_S} "
                             f"(a day), not {self.decode_timeout_s!r}")  # (NaN, inf: a decoder call cannot wait them)


@dataclass
class RunSummary:
    out: Path
    inputs: int = 0
    ok: int = 0
    rejected: int = 0
    failed: int = 0
    resumed: int = 0
    frames: int = 0
    seconds: float = 0.0
    device: str = ""
    rejected_reasons: list[str] = field(default_factory=list)
    needs_review: int = 0  # ovary-visits flagged, after the reviewer's decisions
    output_problems: list[str] = field(default_factory=list)  # analysed files short of an output
    cohort_notes: list[str] = field(default_factory=list)  # the cohort file against the scans
    left_out: list[str] = field(default_factory=list)  # files earlier runs analysed here, not among the inputs
    review: str = ""  # what the run says of the review: the decisions applied, or why none was

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        head = f"{self.inputs} files: {self.ok} ok, {self.rejected} rejected, {self.failed} failed ({self.resumed} already done)"
        if not self.device:  # nothing was segmented: the tables were rebuilt
            what = "no frame segmented" if self.failed else "nothing left to analyse"  # (files failed before it)
            return f"{head}; {what}, tables rebuilt in {self.seconds:.1f} s"
        return f"{head}; {self.frames} frames in {self.seconds:.1f} s ({self.frames_per_s:.1f} frames/s on {self.device})"


def weights_of(options: RunOptions) -> Path:
    """The weights a run segments with: ``--weights``, else the shipped bundle's."""
    return Path(options.weights) if options.weights else shipped_bundle_root() / WEIGHTS


def network_of(options: RunOptions) -> Network:
    """Which network a run's results come from: its bundle's version (``unknown`` when its
    metadata cannot be read), its weights' hash (their path when they are missing) and its
    ``network_def``'s (a ``configs/inference.json`` that cannot be read stops the run, as loading
    the network would)."""
    weights = weights_of(options)
    try:
        version = str(json.loads((bundle_root_of(weights) / METADATA).read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError, TypeError):
        version = "unknown"
    return Network(version, file_sha256(weights)[:16] if weights.is_file() else str(weights),
                   network_def_sha256(bundle_root_of(weights)))
