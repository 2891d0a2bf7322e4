"""The attention decoder (not in the paper): size, shapes, masking, and that it can learn."""

import numpy as np
import pytest
import torch

from aac_subsampling.method.batching import front_pad_with_lengths
from aac_subsampling.method.config import ModelConfig
from aac_subsampling.method.loss import token_weights, weighted_cross_entropy
from aac_subsampling.method.model import (
    AttentionDecoder,
    CaptioningModel,
    Decoder,
    attention_weights,
    count_parameters,
    paper_parameter_count,
    step_mask,
)

PAPER_VOCABULARY_SIZE = 4367
ATTENTION_PARAMETERS = 4_901_647  # 4,573,711 + keys 512 x 256 + combination (256 + 512) x 256 + 256


def tiny(factor: int = 2, mode: str = "packed", **extra) -> ModelConfig:
    return ModelConfig(
        n_mels=4,
        encoder_hidden=6,
        decoder_hidden=5,
        subsampling_factor=factor,
        sequence_mode=mode,
        decoder="attention",
        **extra,
    )


def test_parameter_count_at_clotho_vocabulary():
    config = ModelConfig(decoder="attention")
    assert paper_parameter_count(PAPER_VOCABULARY_SIZE, config) == ATTENTION_PARAMETERS
    assert paper_parameter_count(PAPER_VOCABULARY_SIZE) == 4_573_711
    model = CaptioningModel(config, PAPER_VOCABULARY_SIZE)
    assert count_parameters(model.decoder.key) == 512 * 256
    assert count_parameters(model.decoder.combine) == (256 + 512) * 256 + 256
    for factor in (1, 16):  # sub-sampling still adds nothing
        config = ModelConfig(decoder="attention", subsampling_factor=factor)
        assert paper_parameter_count(PAPER_VOCABULARY_SIZE, config) == ATTENTION_PARAMETERS


def test_decoder_choice_and_default():
    assert ModelConfig().decoder == "paper"
    assert isinstance(CaptioningModel(ModelConfig(), 10).decoder, Decoder)
    assert isinstance(CaptioningModel(ModelConfig(decoder="attention"), 10).decoder, AttentionDecoder)
    with pytest.raises(ValueError, match="decoder must be 'paper' or 'attention'"):
        CaptioningModel(ModelConfig(decoder="transformer"), 10)


def test_shapes_and_caption_sharing():
    model = CaptioningModel(tiny(), 7).eval()
    features, lengths = front_pad_with_lengths(
        [np.random.default_rng(i).standard_normal((n, 4)).astype(np.float32) for i, n in enumerate((9, 16))]
    )
    with torch.no_grad():
        shared = model(features, 4, torch.tensor([0, 0, 1, 1, 1]), lengths)
        separate = model(features[[0, 0, 1, 1, 1]], 4, lengths=lengths[[0, 0, 1, 1, 1]])
    assert shared.shape == (5, 4, 7)
    assert torch.allclose(shared, separate, atol=1e-6)


def test_weights_sum_to_one_and_padded_steps_get_none():
    torch.manual_seed(0)
    scores = torch.randn(3, 4, 6)
    lengths = torch.tensor([6, 2, 5])
    weights = attention_weights(scores, step_mask(lengths, 6))
    assert torch.allclose(weights.sum(-1), torch.ones(3, 4))
    assert weights[1, :, 2:].abs().sum() == 0 and weights[2, :, 5:].abs().sum() == 0
    assert (weights[0] > 0).all()
    assert torch.allclose(attention_weights(scores).sum(-1), torch.ones(3, 4))


def test_model_attention_is_masked_after_each_clips_last_encoder_step():
    model = CaptioningModel(tiny(factor=2), 7).eval()
    clips = [np.random.default_rng(i).standard_normal((n, 4)).astype(np.float32) for i, n in enumerate((20, 9, 13))]
    features, lengths = front_pad_with_lengths(clips)
    with torch.no_grad():
        states, step_lengths = model.encode_steps(features, lengths)
        assert step_lengths.tolist() == [5, 2, 3]  # floor(floor(T/2)/2)
        queries = torch.randn(3, 4, 5)
        _, weights = model.decoder.attend(queries, states, step_mask(step_lengths, states.shape[1]))
    assert weights.shape == (3, 4, 5)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 4))
    assert weights[1, :, 2:].abs().sum() == 0 and weights[2, :, 3:].abs().sum() == 0


def test_padded_mode_attends_over_every_step_of_the_padded_row():
    model = CaptioningModel(tiny(factor=2, mode="padded"), 7).eval()
    features, lengths = front_pad_with_lengths([np.ones((20, 4), np.float32), np.ones((9, 4), np.float32)])
    states, step_lengths = model.encode_steps(features, lengths)
    assert step_lengths is None and states.shape[1] == 5
    assert model(features, 3, lengths=lengths).shape == (2, 3, 7)


def test_subsampling_shortens_what_the_decoder_attends_over():
    for factor, expected in ((1, 64), (2, 16), (4, 4)):
        model = CaptioningModel(tiny(factor=factor), 7).eval()
        states, _ = model.encode_steps(torch.zeros(1, 64, 4), torch.tensor([64]))
        assert states.shape[1] == expected


def test_tiny_overfit_reduces_the_loss():
    torch.manual_seed(0)
    model = CaptioningModel(
        ModelConfig(
            n_mels=4,
            encoder_hidden=8,
            decoder_hidden=16,
            subsampling_factor=2,
            sequence_mode="packed",
            decoder="attention",
            dropout=0.0,
        ),
        6,
    )
    features, lengths = front_pad_with_lengths([np.full((12, 4), 1.0, np.float32), np.full((8, 4), -1.0, np.float32)])
    targets = torch.tensor([[1, 2, 5], [3, 4, 5]])
    weights = token_weights([1] * 6)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = weighted_cross_entropy(model(features, 3, lengths=lengths), targets, weights)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses[::10]
    assert model.eval()(features, 3, lengths=lengths).argmax(-1).tolist() == targets.tolist()
