"""Which build of the program made a run's results: the hash of the modules whose code shapes
what a run stores of each file (:meth:`follicle_seg.state.StateStore.record`) and a later run
resumes. An edit elsewhere (the tables, the report, the commands, training) is not another
build: the tables and the report are made again from the stored results on every run.

Every module of the package is named in :data:`RESULT_SOURCE` or :data:`OTHER_SOURCE`, each
with why (``tests/test_build.py`` checks it): a new module must be decided.
"""

from __future__ import annotations

from pathlib import Path

from follicle_seg.filehash import source_sha256

#: The modules (``fnmatch`` globs under the package) whose code shapes a stored result, with why.
RESULT_SOURCE = {
    "types.py": "the fields of a result",
    "state.py": "how a result is stored and read back",
    "errors.py": "the reasons a rejected file's result keeps",
    "filehash.py": "the content hash a result is stored under",
    "privacy.py": "the pseudonyms a pseudonymised result holds",
    "intake.py": "the header pass (a file's record or its rejection) and the frames given to the engine",
    "io/__init__.py": "the reading functions the intake calls",
    "io/calibration.py": "the pixel spacing: every size in mm",
    "io/dicom.py": "a file's record and frames",
    "io/grey.py": "the grey levels segmented",
    "io/header.py": "the header read",
    "io/laterality.py": "the side of the ovary",
    "io/marks.py": "the burned-in graphics a follicle's dent is measured past (caliper marks, colour pixels) and the area calipers span (the ovary kept)",
    "io/pixel_data.py": "the pixel data decoded",
    "io/region.py": "the ultrasound region segmented",
    "io/rejection.py": "a rejected file's reason and identity",
    "io/tags.py": "the tags read, the UIDs checked",
    "io/truncation.py": "a truncated file's frames",
    "engine.py": "segments, measures and finishes each file",
    "analyse.py": "a file's follicles, ovary and flags from its frames",
    "passes.py": "the passes of the network over a frame",
    "instances.py": "the follicles of a label map",
    "measure.py": "their diameters and the ovary's volume",
    "tracking.py": "a follicle followed through a sweep",
    "artefacts.py": "the outlines kept with a result",
    "model/bundle.py": "the weights loaded into the network",
    "model/network.py": "the network's layers",
    "model/preprocess.py": "the frames as the network takes them",
    "model/infer.py": "the label maps and scores of a batch",
}

#: The modules that do not shape a stored result, with why.
OTHER_SOURCE = {
    "__init__.py": "the version, a part of the analysis identity of its own",
    "__main__.py": "the command line",
    "cli.py": "the command line",
    "cliargs.py": "the command line",
    "build.py": "these lists: a module moved into or out of RESULT_SOURCE changes the hash by its name",
    "pipeline.py": "runs the engine and records its results; a result it fails (a file changed while read) is "
    "read again next run, and the pseudonymisation is told by its pseudonym in the identity",
    "options.py": "the settings of a run; the network is told by its weights' and network_def's hashes",
    "distributed.py": "where the files are analysed (the workers' build is compared with this one's)",
    "isolation.py": "where a file is decoded; a file failed there is read again next run",
    "cpus.py": "how many threads run",
    "memory.py": "how much is cached",
    "interrupt.py": "how a run stops",
    "atomic.py": "how an output is written",
    "progress.py": "the progress bar",
    "outdir.py": "the output folder's files",
    "outnames.py": "the output files' names",
    "io/discover.py": "which files are read (one found is analysed by the build running)",
    "io/inspect.py": "the inspect command",
    "io/tables.py": "the tables, made again from the stored results on every run",
    "io/write.py": "writes synthetic DICOM files",
    "series.py": "stills joined into sweeps, made again on every run",
    "studyday.py": "the visits' days, made again on every run",
    "visits.py": "the tables, made again on every run",
    "review.py": "the review, applied again on every run",
    "send.py": "the send command",
    "report/*.py": "the report, made again on every run, and each file's overlays and DICOM SEG and SR, written "
    "when it is analysed (a resumed file's stay as written: --no-resume writes them all again)",
    "synth/*.py": "synthetic studies",
    "model/__init__.py": "the package of the network",
    "model/paths.py": "where the bundle lies; the network is told by its weights' and network_def's hashes",
    "model/metadata.py": "the bundle's metadata and network_def; the network is told by its weights' and "
    "network_def's hashes, both in the analysis identity",
    "model/cli.py": "training, evaluation and export commands",
    "model/train.py": "training",
    "model/mixstyle.py": "training",
    "model/loss.py": "training",
    "model/data.py": "training data",
    "model/dicom_pairs.py": "training data",
    "model/nifti.py": "training data",
    "model/evaluate.py": "evaluation",
    "model/baseline.py": "the classical segmenter evaluation compares with",
    "model/bundle_run.py": "the bundle's own run",
}


def build_sha256() -> str:
    """SHA-256 of the source of :data:`RESULT_SOURCE` in this package."""
    return source_sha256(Path(__file__).parent, RESULT_SOURCE)
