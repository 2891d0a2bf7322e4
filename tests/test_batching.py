"""Front padding of X, <eos> end padding of Y, and one encoder pass per clip in 'clip' mode."""

import numpy as np
import pytest
import torch

from aac_subsampling.method.batching import (
    CaptionDataset,
    end_pad_targets,
    front_pad_features,
    front_pad_with_lengths,
    pad_value_for,
    silence_frame,
)
from aac_subsampling.method.config import FeatureConfig, ModelConfig, TrainConfig


def test_front_pad_puts_zeros_before_shorter_clips():
    batch = front_pad_features([np.ones((2, 3), np.float32), 2 * np.ones((4, 3), np.float32)])
    assert batch.shape == (2, 4, 3)
    assert batch[0, :2].abs().sum() == 0 and (batch[0, 2:] == 1).all()
    assert (batch[1] == 2).all()


def test_end_pad_uses_eos():
    targets, lengths = end_pad_targets([[5, 6, 9], [7, 9]], eos_index=9)
    assert targets.tolist() == [[5, 6, 9], [7, 9, 9]]
    assert lengths.tolist() == [3, 2]


def _dataset():
    features = {f"clip{i}": np.full((3 + i, 2), i, np.float32) for i in range(5)}
    captions = {f"clip{i}": [[i, 9], [i, i, 9], [9]] for i in range(5)}
    return CaptionDataset(sorted(features), captions, features, eos_index=9)


def test_clip_mode_holds_each_clip_once_with_all_captions():
    batch = next(_dataset().batches(batch_size=2, mode="clip", seed=0, epoch=0, shuffle=False))
    assert batch.features.shape[0] == 2 and batch.targets.shape[0] == 6
    assert batch.caption_to_clip.tolist() == [0, 0, 0, 1, 1, 1]
    assert batch.clip_ids == ["clip0", "clip1"]


def test_caption_mode_holds_one_clip_copy_per_caption():
    batch = next(_dataset().batches(batch_size=4, mode="caption", seed=0, epoch=0, shuffle=False))
    assert batch.features.shape[0] == 4 and batch.targets.shape[0] == 4
    assert batch.caption_to_clip.tolist() == [0, 1, 2, 3]
    assert batch.clip_ids == ["clip0", "clip0", "clip0", "clip1"]


def test_epoch_order_depends_only_on_seed_and_epoch():
    data = _dataset()
    order = lambda seed, epoch: [b.clip_ids for b in data.batches(2, "clip", seed, epoch)]  # noqa: E731
    assert order(3, 1) == order(3, 1)
    assert order(3, 1) != order(3, 2), "the order must change from one epoch to the next"
    assert order(3, 1) != order(4, 1), "the order must change with the seed"
    fresh = _dataset()  # not on any state left behind by earlier epochs
    assert [b.clip_ids for b in fresh.batches(2, "clip", 3, 1)] == order(3, 1)
    assert sorted(sum(order(3, 1), [])) == sorted(data.clip_ids)


def test_clip_without_captions_is_an_error():
    with pytest.raises(ValueError, match="no captions"):
        CaptionDataset(["a"], {"a": []}, {"a": np.zeros((2, 2))}, eos_index=0)


def test_lazy_feature_source():
    calls = []

    def load(clip):
        calls.append(clip)
        return np.zeros((2, 2), np.float32)

    data = CaptionDataset(["a", "b"], {"a": [[0]], "b": [[0]]}, load, eos_index=0)
    list(data.batches(2, "clip", 0, 0))
    assert sorted(calls) == ["a", "b"]


# ----------------------------------------------------- frame counts, pad value, drop_last (issue 12)


def test_batches_carry_each_clips_frame_count():
    batch = next(_dataset().batches(batch_size=3, mode="clip", seed=0, epoch=0, shuffle=False))
    assert batch.lengths.dtype == torch.long and batch.lengths.tolist() == [3, 4, 5]
    assert batch.to("cpu").lengths.tolist() == [3, 4, 5]
    caption_batch = next(_dataset().batches(batch_size=4, mode="caption", seed=0, epoch=0, shuffle=False))
    assert caption_batch.lengths.tolist() == [3, 3, 3, 4]
    features, lengths = front_pad_with_lengths([np.ones((2, 3), np.float32), np.ones((4, 3), np.float32)])
    assert lengths.tolist() == [2, 4] and torch.equal(
        features, front_pad_features([np.ones((2, 3), np.float32), np.ones((4, 3), np.float32)])
    )


def test_default_padding_stays_zeros():
    assert ModelConfig().padding == "zeros"
    assert pad_value_for("zeros", FeatureConfig()) == 0.0
    batch = next(_dataset().batches(batch_size=5, mode="clip", seed=0, epoch=0, shuffle=False))
    assert batch.features[0, :4].abs().sum() == 0  # clip0 has 3 of the 7 frames


def test_silence_padding_is_the_log_mel_of_digital_silence():
    from aac_subsampling.method.features import BandStatistics, log_mel_energies

    config = FeatureConfig()
    frame = silence_frame(config)
    silent = log_mel_energies(np.zeros(44100, np.float32), config)
    assert frame.shape == (64,) and np.array_equal(silent, np.broadcast_to(frame, silent.shape))
    assert np.allclose(frame, np.log(np.finfo(np.float64).eps))
    assert np.array_equal(silence_frame(FeatureConfig.authors_code()), frame)  # 0 / peak is still 0
    statistics = BandStatistics(np.full(64, -5.0), np.full(64, 2.0))
    standardised = pad_value_for("silence", FeatureConfig(standardise=True), statistics)
    assert np.allclose(standardised, (frame + 5.0) / 2.0)
    assert np.array_equal(pad_value_for("silence", config, statistics), frame)  # not standardised: ignored
    with pytest.raises(ValueError, match="needs the band statistics"):
        pad_value_for("silence", FeatureConfig(standardise=True))
    with pytest.raises(ValueError, match="padding must be 'zeros' or 'silence'"):
        pad_value_for("noise", config)


def test_pad_value_is_applied_before_shorter_clips():
    features = {"a": np.ones((2, 3), np.float32), "b": np.ones((4, 3), np.float32)}
    per_band = np.array([-1.0, -2.0, -3.0], np.float32)
    data = CaptionDataset(["a", "b"], {"a": [[0]], "b": [[0]]}, features, eos_index=0, pad_value=per_band)
    batch = next(data.batches(2, "clip", 0, 0, shuffle=False))
    assert batch.features[0, :2].tolist() == [[-1.0, -2.0, -3.0]] * 2
    assert (batch.features[0, 2:] == 1).all() and (batch.features[1] == 1).all()
    assert front_pad_features(list(features.values()), -36.0)[0, :2].eq(-36.0).all()
    with pytest.raises(ValueError, match="pad_value must be a number or one value per band"):
        front_pad_features(list(features.values()), np.zeros(4))


def _many_clips(n_clips):
    ids = [f"c{i:04d}" for i in range(n_clips)]
    return CaptionDataset(ids, {c: [[1, 0]] for c in ids}, lambda clip: np.zeros((2, 2), np.float32), eos_index=0)


def test_drop_last_gives_the_authors_180_batches_of_16():
    assert TrainConfig().drop_last is False
    data = _many_clips(2893)
    assert data.n_batches(16, "clip") == 181
    assert data.n_batches(16, "clip", drop_last=True) == 180


def test_drop_last_leaves_out_only_the_last_partial_batch():
    data = _many_clips(10)
    full = [b.clip_ids for b in data.batches(4, "clip", seed=1, epoch=2)]
    dropped = [b.clip_ids for b in data.batches(4, "clip", seed=1, epoch=2, drop_last=True)]
    assert [len(b) for b in full] == [4, 4, 2] and dropped == full[:2]
    exact = _many_clips(8)
    assert len(list(exact.batches(4, "clip", 0, 0, drop_last=True))) == exact.n_batches(4, "clip", True) == 2
    with pytest.raises(ValueError, match="drop_last=True with 3 item"):
        _many_clips(3).n_batches(4, "clip", drop_last=True)
