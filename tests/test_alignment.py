"""Packed vs padded sequences: in packed mode a clip's z and caption do not depend on its batch.

Padded mode (the paper) front-pads every clip to the batch's longest and runs the encoder over the
padding, so Eq. 4 keeps steps 0, M, 2M, ... of the padded row: the amount of padding, set by the
other clips, decides which real frames survive. Packed mode runs each clip at its own length.
"""

import numpy as np
import pytest
import torch

from aac_subsampling.method.batching import front_pad_with_lengths
from aac_subsampling.method.config import ModelConfig
from aac_subsampling.method.decoding import greedy_decode
from aac_subsampling.method.model import (
    CaptioningModel,
    Encoder,
    encoder_output_length,
    measure_encoder_lengths,
    real_frames_first,
    subsample,
)
from aac_subsampling.method.tokens import Vocabulary

FACTORS = [1, 2, 4, 8, 16]
TABLE2_LENGTHS = {1: (1292, 2584), 2: (323, 646), 4: (80, 161), 8: (20, 40), 16: (5, 10)}
CEIL_LENGTHS = {1: (1292, 2584), 2: (323, 646), 4: (81, 162), 8: (21, 41), 16: (6, 11)}
N_MELS = 8
TOLERANCE = 1e-5
CAPTIONS = ["a dog barks twice", "a bell rings loudly", "rain falls on a roof", "a car engine idles"]


def small_config(factor: int, mode: str = "packed", **extra) -> ModelConfig:
    return ModelConfig(
        n_mels=N_MELS, encoder_hidden=16, decoder_hidden=16, subsampling_factor=factor, sequence_mode=mode, **extra
    )


def clip(frames: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((frames, N_MELS)).astype(np.float32)


def small_model(factor: int, mode: str = "packed", vocabulary_size: int = 30, **extra) -> CaptioningModel:
    torch.manual_seed(factor)
    return CaptioningModel(small_config(factor, mode, **extra), vocabulary_size).eval()


def summary_alone(model: CaptioningModel, features: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return model.encode(torch.from_numpy(features)[None])[0]


def summaries_in_batch(model: CaptioningModel, clips: list[np.ndarray]) -> torch.Tensor:
    features, lengths = front_pad_with_lengths(clips)
    with torch.no_grad():
        return model.encode(features, lengths)


# Clip "target" (437 frames, not a multiple of any M > 1) among shorter and longer ones; the shortest
# clip (300 frames) is above M^(L-1) = 256 for M = 16.
BATCHES = [[437], [600, 437], [437, 300], [300, 437, 600, 512], [599, 311, 437]]


@pytest.mark.parametrize("factor", FACTORS)
@pytest.mark.parametrize("method", ["pack", "split"])
def test_packed_summary_does_not_depend_on_the_batch(factor, method):
    model = small_model(factor)
    model.encoder.packing = method
    target = clip(437, seed=0)
    reference = summary_alone(model, target)
    for frame_counts in BATCHES:
        clips = [target if n == 437 else clip(n, seed=n) for n in frame_counts]
        batch = summaries_in_batch(model, clips)
        row = frame_counts.index(437)
        assert torch.allclose(batch[row], reference, atol=TOLERANCE), (factor, frame_counts)
        for index, features in enumerate(clips):  # every clip of the batch, not only the target
            assert torch.allclose(batch[index], summary_alone(model, features), atol=TOLERANCE)


@pytest.mark.parametrize("factor", FACTORS)
@pytest.mark.parametrize("decoder", ["paper", "attention"])
def test_packed_greedy_caption_does_not_depend_on_the_batch(factor, decoder):
    vocabulary = Vocabulary.build(CAPTIONS)
    model = small_model(factor, vocabulary_size=len(vocabulary), decoder=decoder)
    features = {f"clip{n}": clip(n, seed=n) for n in (300, 437, 512, 600)}
    alone = {name: greedy_decode(model, [name], features, vocabulary, progress=False)[name] for name in features}
    together = greedy_decode(model, sorted(features), features, vocabulary, batch_size=4, progress=False)
    assert together == alone
    with torch.no_grad():  # the scores too, not only their arg-max
        padded, lengths = front_pad_with_lengths([features[name] for name in sorted(features)])
        scores = model(padded, 22, lengths=lengths)
        for row, name in enumerate(sorted(features)):
            single = model(torch.from_numpy(features[name])[None], 22)[0]
            assert torch.allclose(scores[row], single, atol=TOLERANCE)


def test_padded_summary_depends_on_the_amount_of_front_padding():
    """The paper's padded mode, M = 4: padding by a number of frames that is not a multiple of
    M^(L-1) = 16 changes which real frames are kept, and z changes."""
    factor = 4
    model = small_model(factor, mode="padded")
    target = clip(437, seed=0)
    alone = summary_alone(model, target)
    for padding in (1, 2, 3, 5, 7):
        padded = np.concatenate([np.zeros((padding, N_MELS), np.float32), target])
        assert not torch.allclose(summary_alone(model, padded), alone, atol=1e-3), padding
    # ... and the same clip in a batch with a longer clip (163 frames of padding) gets another z.
    batch = summaries_in_batch(model, [clip(600, seed=1), target])
    assert not torch.allclose(batch[1], alone, atol=1e-3)
    # Packed mode with the same weights is unaffected.
    packed = CaptioningModel(small_config(factor), 30).eval()
    packed.load_state_dict(model.state_dict())
    assert torch.allclose(summaries_in_batch(packed, [clip(600, seed=1), target])[1], alone, atol=TOLERANCE)


def test_padded_subsampling_keeps_real_frames_set_by_the_padding():
    """Eq. 4 on a front-padded row keeps real frames j with j = -padding (mod M)."""
    real = torch.arange(20, dtype=torch.float32)
    for padding in (0, 1, 2, 3):
        row = torch.cat([torch.full((padding,), -1.0), real]).view(1, -1, 1)
        kept = [int(v) for v in subsample(row, 4).flatten().tolist() if v >= 0]
        assert all((j + padding) % 4 == 0 for j in kept), (padding, kept)
    assert subsample(real.view(1, -1, 1), 4).flatten().tolist() == [0, 4, 8, 12, 16]


@pytest.mark.parametrize("factor", [1, 4, 16])
def test_packed_and_padded_agree_for_a_batch_of_one_clip(factor):
    padded = small_model(factor, mode="padded")
    packed = CaptioningModel(small_config(factor), 30).eval()
    packed.load_state_dict(padded.state_dict())
    features = torch.from_numpy(clip(437, seed=3))[None]
    with torch.no_grad():
        z_padded = padded.encode(features)
        assert torch.allclose(packed.encode(features), z_padded, atol=TOLERANCE)  # no lengths: no padding
        assert torch.allclose(packed.encode(features, torch.tensor([437])), z_padded, atol=TOLERANCE)
        assert torch.allclose(padded.encode(features, torch.tensor([437])), z_padded)  # padded ignores lengths


@pytest.mark.parametrize("factor", FACTORS)
def test_packed_lengths_are_table2s(factor):
    encoder = Encoder(ModelConfig(encoder_hidden=4, subsampling_factor=factor, sequence_mode="packed")).eval()
    assert tuple(measure_encoder_lengths(encoder, (1292, 2584)).values()) == TABLE2_LENGTHS[factor]
    lengths = torch.tensor([1292, 2584])
    assert encoder.output_lengths(lengths).tolist() == list(TABLE2_LENGTHS[factor])
    features = torch.zeros(2, 2584, 64)
    with torch.no_grad():
        states = encoder(features, lengths)
    assert states.shape[1] == TABLE2_LENGTHS[factor][1]
    short = TABLE2_LENGTHS[factor][0]
    assert states[0, short:].abs().sum() == 0  # nothing after the 15 s clip's own T_L steps
    ceil = Encoder(
        ModelConfig(encoder_hidden=4, subsampling_factor=factor, sequence_mode="packed", subsampling_mode="ceil")
    )
    assert ceil.output_lengths(lengths).tolist() == list(CEIL_LENGTHS[factor])
    assert tuple(encoder_output_length(t, factor) for t in (1292, 2584)) == TABLE2_LENGTHS[factor]


def test_packed_mode_keeps_each_clips_own_frames_0_m_2m():
    """With an identity-like probe: the real frames moved first are the clip's frames in order."""
    features, lengths = front_pad_with_lengths(
        [np.arange(5, dtype=np.float32)[:, None] + 1, np.arange(3, dtype=np.float32)[:, None] + 1]
    )
    moved = real_frames_first(features, lengths)
    assert moved[:, :, 0].tolist() == [[1, 2, 3, 4, 5], [1, 2, 3, 0, 0]]
    assert subsample(moved, 2)[:, :, 0].tolist() == [[1, 3], [1, 3]]


def test_packed_training_mode_runs_and_backpropagates():
    model = small_model(4)
    model.train()
    features, lengths = front_pad_with_lengths([clip(300, 1), clip(437, 2)])
    scores = model(features, 5, torch.tensor([0, 0, 1]), lengths)
    assert scores.shape == (3, 5, 30)
    scores.sum().backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_packed_lengths_are_checked():
    model = small_model(16)
    features = torch.zeros(2, 300, N_MELS)
    with pytest.raises(ValueError, match="at least M\\^\\(L-1\\) = 256"):
        model.encode(features, torch.tensor([300, 255]))  # the short clip, not the padded width, counts
    with pytest.raises(ValueError, match="lengths must hold one frame count per clip"):
        model.encode(features, torch.tensor([300]))
    with pytest.raises(ValueError, match="lengths must lie in 1 .. 300"):
        model.encode(features, torch.tensor([300, 301]))
    with pytest.raises(ValueError, match="sequence_mode"):
        CaptioningModel(ModelConfig(sequence_mode="sorted"), 10)


def test_batch_lengths_feed_the_packed_model():
    from aac_subsampling.method.batching import CaptionDataset

    features = {"a": clip(300, 1), "b": clip(437, 2)}
    data = CaptionDataset(["a", "b"], {"a": [[1, 2]], "b": [[3, 2]]}, features, eos_index=2)
    batch = next(data.batches(2, "clip", seed=0, epoch=0, shuffle=False))
    assert batch.lengths.tolist() == [300, 437]
    model = small_model(4)
    with torch.no_grad():
        z = model.encode(batch.features, batch.lengths)
    assert torch.allclose(z[0], summary_alone(model, features["a"]), atol=TOLERANCE)


@pytest.mark.parametrize("factor", [1, 4, 16])
def test_both_packing_methods_agree_and_are_batch_independent(factor):
    """ "pack" (torch packed sequences) and "split" (used to train on a CPU) give the same H_L, z and
    gradients."""
    model = small_model(factor)
    model.train()  # dropout on: both methods must draw the same masks in the same order
    clips = [clip(n, seed=n) for n in (300, 437, 600)]
    features, lengths = front_pad_with_lengths(clips)
    results = {}
    for method in ("pack", "split"):
        model.encoder.packing = method
        model.zero_grad()
        torch.manual_seed(7)
        states = model.encoder(features, lengths)
        states.square().sum().backward()
        results[method] = (states.detach(), [p.grad.clone() for p in model.encoder.parameters()])
    assert torch.allclose(results["pack"][0], results["split"][0], atol=TOLERANCE)
    for pack_grad, split_grad in zip(results["pack"][1], results["split"][1]):
        assert torch.allclose(pack_grad, split_grad, atol=1e-4, rtol=1e-4)
    model.eval()
    model.encoder.packing = "pack"
    assert torch.allclose(summaries_in_batch(model, clips)[1], summary_alone(model, clips[1]), atol=TOLERANCE)
    assert model.encoder.packing_method(torch.device("cpu")) == "pack"
    model.encoder.packing = "auto"
    assert model.encoder.packing_method(torch.device("cpu")) == "split"  # training on a CPU
    assert model.encoder.packing_method(torch.device("cuda")) == "pack"
    with torch.no_grad():
        assert model.encoder.packing_method(torch.device("cpu")) == "pack"  # decoding
    model.encoder.packing = "sorted"
    with pytest.raises(ValueError, match="Encoder.packing"):
        model.encode(features, lengths)


def test_greedy_decode_pads_with_the_given_value_and_refuses_zeros_for_a_silence_model():
    vocabulary = Vocabulary.build(CAPTIONS)
    features = {"short": clip(300, 1), "long": clip(437, 2)}
    padded = small_model(4, mode="padded", vocabulary_size=len(vocabulary))
    zeros = greedy_decode(padded, sorted(features), features, vocabulary, progress=False)
    assert greedy_decode(padded, sorted(features), features, vocabulary, progress=False, pad_value=0.0) == zeros
    silence = CaptioningModel(small_config(4, "padded", padding="silence"), len(vocabulary)).eval()
    with pytest.raises(ValueError, match="padding='silence'"):
        greedy_decode(silence, sorted(features), features, vocabulary, progress=False)
    greedy_decode(silence, sorted(features), features, vocabulary, progress=False, pad_value=-36.04)
