"""Token weights (Eq. 10) and the weighted cross-entropy (Eq. 9) against hand computations."""

import math

import pytest
import torch

from aac_subsampling.method.loss import token_weights, weighted_cross_entropy


def test_token_weights_by_hand():
    # min f = 2: Phi = [2/2, 2/4, 2/8 -> clamped to 0.5, 2/3]
    weights = token_weights([2, 4, 8, 3], beta=0.5)
    assert weights.tolist() == pytest.approx([1.0, 0.5, 0.5, 2 / 3])
    assert token_weights([2, 4, 8], beta=0.1).tolist() == pytest.approx([1.0, 0.5, 0.25])


def test_token_weights_reject_zero_counts():
    with pytest.raises(ValueError, match="indices \\[1\\]"):
        token_weights([3, 0, 2])


def test_weighted_cross_entropy_by_hand():
    # One caption, two steps, three tokens. Step 0 target 1, step 1 target 2 (padding <eos> = 2).
    logits = torch.tensor([[[0.0, math.log(3.0), 0.0], [0.0, 0.0, 0.0]]])
    targets = torch.tensor([[1, 2]])
    weights = torch.tensor([1.0, 0.5, 2.0])
    nll0 = -math.log(3.0 / 5.0)
    nll1 = -math.log(1.0 / 3.0)
    expected = (0.5 * nll0 + 2.0 * nll1) / (0.5 + 2.0)
    assert weighted_cross_entropy(logits, targets, weights).item() == pytest.approx(expected, rel=1e-6)
    # Same as torch's CrossEntropyLoss(weight=w), what the authors ran.
    reference = torch.nn.CrossEntropyLoss(weight=weights)(logits.view(-1, 3), targets.view(-1))
    assert weighted_cross_entropy(logits, targets, weights).item() == pytest.approx(reference.item(), rel=1e-6)
    # Ignoring the padding leaves only step 0 (caption length 1).
    ignored = weighted_cross_entropy(logits, targets, weights, torch.tensor([1]), ignore_padding=True)
    assert ignored.item() == pytest.approx(nll0, rel=1e-6)


def test_ignore_padding_needs_lengths():
    with pytest.raises(ValueError, match="target_lengths"):
        weighted_cross_entropy(
            torch.zeros(1, 2, 3), torch.zeros(1, 2, dtype=torch.long), torch.ones(3), ignore_padding=True
        )
