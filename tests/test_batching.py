"""Front padding of X, <eos> end padding of Y, and one encoder pass per clip in 'clip' mode."""

import numpy as np
import pytest
import torch

from aac_subsampling.batching import CaptionDataset, end_pad_targets, front_pad_features


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
    assert order(3, 1) != order(3, 2) or order(3, 1) != order(4, 1)
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
