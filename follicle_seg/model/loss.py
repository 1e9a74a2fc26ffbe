"""Training loss: Dice + cross-entropy, also for ovary outlines whose follicles are not drawn.

Sites often have the ovary outlined and the follicles inside it not drawn. Scoring such a mask as
"all ovary" would teach the network that follicles are ovary. Label :data:`OUTLINE` (3) marks
pixels known to be ovary *or* follicle; for a frame holding it, the loss scores the merged
foreground probability (ovary + follicle) against background, the marginal loss of Shi et al.
("Marginal loss and exclusion loss for partially supervised multi-organ segmentation", Medical
Image Analysis 2021). The split between ovary and follicle inside the outline is then left to
what the network already knows and to fully labelled frames trained alongside.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss, DiceLoss

OUTLINE = 3
"""Mask value: inside the ovary outline, ovary or follicle (follicles not drawn)."""


class MarginalDiceCELoss(torch.nn.Module):
    """``DiceCELoss`` over background / ovary / follicle; frames holding :data:`OUTLINE` pixels are
    scored on background against merged foreground instead. The two parts are weighted by their
    number of frames in the batch.

    Examples
    --------
    >>> loss = MarginalDiceCELoss()
    >>> logits = torch.zeros(1, 3, 4, 4)
    >>> logits[:, 2] = 5.0  # the network says "follicle" everywhere
    >>> outline = torch.full((1, 1, 4, 4), float(OUTLINE))
    >>> bool(loss(logits, outline) < loss(logits, torch.ones(1, 1, 4, 4)))  # follicle fits an outline
    True
    """

    def __init__(self) -> None:
        super().__init__()
        self.full = DiceCELoss(to_onehot_y=True, softmax=True)
        self.merged_dice = DiceLoss(to_onehot_y=True, softmax=False)

    def forward(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        partial = (label == OUTLINE).flatten(1).any(1)
        if not bool(partial.any()):
            return self.full(logits, label)
        n_partial = int(partial.sum())
        total = self._merged(logits[partial], label[partial]) * n_partial
        if n_partial < len(partial):
            total = total + self.full(logits[~partial], label[~partial]) * (len(partial) - n_partial)
        return total / len(partial)

    def _merged(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        log_probs = F.log_softmax(logits, dim=1)
        merged_log = torch.stack([log_probs[:, 0], torch.logsumexp(log_probs[:, 1:], dim=1)], dim=1)
        target = (label > 0).long()
        cross_entropy = F.nll_loss(merged_log, target[:, 0])
        return cross_entropy + self.merged_dice(merged_log.exp(), target)
