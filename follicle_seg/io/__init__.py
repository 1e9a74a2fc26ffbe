"""Ingestion: DICOM files -> calibrated frames of the ultrasound region.

``discover`` finds the files, ``read_record`` reads and checks one file's header (region,
calibration, side, metadata) and ``iter_frames`` decodes its frames one at a time as grey uint8
of the region. Every unusable file raises :class:`follicle_seg.errors.RejectedInput`.
"""

from follicle_seg.io.dicom import iter_frames, read_record
from follicle_seg.io.discover import discover

__all__ = ["discover", "iter_frames", "read_record"]
