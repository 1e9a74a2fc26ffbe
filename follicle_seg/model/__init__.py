"""The segmentation network: preprocessing, MONAI bundle, inference, training and evaluation.

Import the submodules directly (``follicle_seg.model.infer.Segmenter``); importing this package
does not import torch.
"""
