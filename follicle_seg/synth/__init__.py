"""Synthetic transvaginal ultrasound with exact ground truth.

Modules, in the order data flows: ``geometry`` (quadrics and their exact plane cuts),
``anatomy`` (random ovary + surroundings scenes), ``materials`` (per-sample acoustic
properties), ``styles`` (scanner style families), ``render`` (beam-domain rendering and scan
conversion), ``canvas`` (calipers, text, display canvas), ``training`` (fast random frames for
the network), ``trial`` and ``study`` (a longitudinal trial written as DICOM + truth), ``cli``
(the ``follicle-seg synth`` command function).
"""
