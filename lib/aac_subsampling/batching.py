"""Batches of (features, captions): X front-padded with zero frames, Y end-padded with <eos>.

Two batch modes (``TrainConfig.batch_mode``):

- ``clip``: a batch holds clips with *all* their captions. The encoder runs once per clip and its
  summary is shared by that clip's captions (``caption_to_clip``). The authors' paper-era runs
  grouped the five captions of a clip like this, but ran the encoder once per caption.
- ``caption``: a batch holds (clip, caption) pairs, one encoder pass per caption.

Epoch order is a permutation drawn from ``numpy.random.default_rng([seed, epoch])``, so an epoch's
batches depend only on the seed and the epoch number: a resumed run sees exactly the same batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from aac_subsampling.config import BatchMode


@dataclass
class Batch:
    features: Tensor  # (clips, T_max, F), zero frames in front of shorter clips
    targets: Tensor  # (captions, S_max), <eos> after the end of shorter captions
    target_lengths: Tensor  # (captions,) tokens of each caption including its own <eos>
    caption_to_clip: Tensor  # (captions,) index into ``features`` of each caption's clip
    clip_ids: list[str]

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(
            self.features.to(device),
            self.targets.to(device),
            self.target_lengths.to(device),
            self.caption_to_clip.to(device),
            self.clip_ids,
        )


def front_pad_features(features: Sequence[np.ndarray]) -> Tensor:
    """Stack (T_i, F) arrays into (B, T_max, F), zeros *before* the shorter ones (as the paper does),
    so that the last time step z sits at the end of every clip."""
    longest = max(f.shape[0] for f in features)
    n_features = features[0].shape[1]
    batch = np.zeros((len(features), longest, n_features), dtype=np.float32)
    for row, clip in enumerate(features):
        batch[row, longest - clip.shape[0] :] = clip
    return torch.from_numpy(batch)


def end_pad_targets(captions: Sequence[Sequence[int]], eos_index: int) -> tuple[Tensor, Tensor]:
    """Stack token lists into (N, S_max), padding with <eos> after each caption's end."""
    longest = max(len(c) for c in captions)
    targets = torch.full((len(captions), longest), eos_index, dtype=torch.long)
    for row, caption in enumerate(captions):
        targets[row, : len(caption)] = torch.as_tensor(caption, dtype=torch.long)
    lengths = torch.as_tensor([len(c) for c in captions], dtype=torch.long)
    return targets, lengths


FeatureSource = Mapping[str, np.ndarray] | Callable[[str], np.ndarray]


def feature_getter(source: FeatureSource) -> Callable[[str], np.ndarray]:
    """clip id -> (T, F) features, from a mapping or a loading function (e.g. a feature cache)."""
    return source if callable(source) else source.__getitem__


class CaptionDataset:
    """Clips, their encoded captions and a way to get each clip's features.

    ``features`` maps a clip id to a (T, F) array; it may load lazily (e.g. a feature cache).
    """

    def __init__(
        self,
        clip_ids: Sequence[str],
        captions: Mapping[str, Sequence[Sequence[int]]],
        features: FeatureSource,
        eos_index: int,
    ):
        missing = [c for c in clip_ids if c not in captions or not captions[c]]
        if missing:
            raise ValueError(f"{len(missing)} clip(s) have no captions, e.g. {missing[:3]}")
        self.clip_ids = list(clip_ids)
        self.captions = captions
        self.features_of = feature_getter(features)
        self.eos_index = eos_index

    def __len__(self) -> int:
        return len(self.clip_ids)

    def items(self, mode: BatchMode) -> list[tuple[str, int | None]]:
        """The units shuffled and batched: clips (mode 'clip') or (clip, caption index) pairs."""
        if mode == "clip":
            return [(clip, None) for clip in self.clip_ids]
        if mode == "caption":
            return [(clip, i) for clip in self.clip_ids for i in range(len(self.captions[clip]))]
        raise ValueError(f"batch_mode must be 'clip' or 'caption', got {mode!r}")

    def make_batch(self, items: Sequence[tuple[str, int | None]]) -> Batch:
        """One encoder row per item: a clip with all its captions (clip mode) or one caption."""
        clip_ids: list[str] = []
        captions: list[Sequence[int]] = []
        caption_to_clip: list[int] = []
        for clip, caption_index in items:
            all_captions = self.captions[clip]
            chosen = list(all_captions) if caption_index is None else [all_captions[caption_index]]
            captions.extend(chosen)
            caption_to_clip.extend([len(clip_ids)] * len(chosen))
            clip_ids.append(clip)
        features = front_pad_features([self.features_of(c) for c in clip_ids])
        targets, lengths = end_pad_targets(captions, self.eos_index)
        return Batch(features, targets, lengths, torch.as_tensor(caption_to_clip), clip_ids)

    def batches(
        self, batch_size: int, mode: BatchMode, seed: int, epoch: int, shuffle: bool = True
    ) -> Iterator[Batch]:
        """The batches of one epoch, in an order fixed by (seed, epoch)."""
        items = self.items(mode)
        order = np.random.default_rng([seed, epoch]).permutation(len(items)) if shuffle else np.arange(len(items))
        for start in range(0, len(items), batch_size):
            yield self.make_batch([items[i] for i in order[start : start + batch_size]])

    def n_batches(self, batch_size: int, mode: BatchMode) -> int:
        return -(-len(self.items(mode)) // batch_size)
