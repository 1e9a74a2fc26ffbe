"""Ingestion: DICOM files -> calibrated frames of the ultrasound region."""
