"""Token-weighted cross-entropy (Eq. 9-10).

Rare words get larger weights: Phi_w = max(min(f) / f_w, beta), with f_w the count of word w in the
development captions. The paper calls the loss binary cross-entropy; the authors' code used the
multi-class cross-entropy with these class weights, which is what is implemented here.
``LossConfig.class_weights=False`` turns the weights off (all 1), as in the runs behind the paper's numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def token_weights(frequencies: Sequence[int], beta: float = 0.5, class_weights: bool = True) -> Tensor:
    """Eq. (10): Phi_w = max(min_v f_v / f_w, beta) for every token w of the vocabulary.

    ``class_weights=False`` gives every token the weight 1, i.e. plain cross-entropy: what the authors'
    runs behind the paper's numbers used (``use_class_weights: No``, see docs/deviations.md). The
    frequencies are checked either way, so a broken vocabulary count is caught in both cases.
    """
    counts = torch.as_tensor(list(frequencies), dtype=torch.float64)
    if counts.numel() == 0:
        raise ValueError("token_weights needs at least one frequency")
    if (counts <= 0).any():
        bad = torch.nonzero(counts <= 0).flatten().tolist()[:5]
        raise ValueError(f"token frequencies must be positive; tokens at indices {bad} have count <= 0")
    if not class_weights:
        return torch.ones(counts.numel(), dtype=torch.float32)
    return (counts.min() / counts).clamp(min=beta).to(torch.float32)


def padding_mask(target_lengths: Tensor, n_steps: int) -> Tensor:
    """True at the steps that belong to a caption (its words and its own <eos>), False at padding."""
    steps = torch.arange(n_steps, device=target_lengths.device)
    return steps.unsqueeze(0) < target_lengths.unsqueeze(1)


def weighted_cross_entropy(
    logits: Tensor,
    targets: Tensor,
    weights: Tensor,
    target_lengths: Tensor | None = None,
    ignore_padding: bool = False,
) -> Tensor:
    """Eq. (9): cross-entropy of every output step, each step weighted by its target's Phi.

    logits (N, S, D), targets (N, S). As in torch's ``CrossEntropyLoss(weight=...)`` (what the authors
    ran) the mean divides by the sum of the weights of the targets counted. By default the ``<eos>``
    padding after each caption is trained too (paper and code); ``ignore_padding`` leaves it out.
    """
    per_step = F.cross_entropy(logits.transpose(1, 2), targets, weight=weights, reduction="none")
    step_weights = weights[targets]
    if ignore_padding:
        if target_lengths is None:
            raise ValueError("ignore_padding=True needs target_lengths")
        mask = padding_mask(target_lengths, targets.shape[1]).to(per_step.dtype)
        per_step = per_step * mask
        step_weights = step_weights * mask
    return per_step.sum() / step_weights.sum()
