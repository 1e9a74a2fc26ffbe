"""Review outputs: overlays (``overlay``), the HTML report (``html``, ``plots``), DICOM SEG
(``dicom_seg``) and Structured Report (``dicom_sr``).

Submodules are imported on use (matplotlib and highdicom are slow to import).
"""
