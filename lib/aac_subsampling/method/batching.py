"""Batches of (features, captions): X front-padded with zero frames, Y end-padded with <eos>.

Two batch modes (``TrainConfig.batch_mode``):

- ``clip``: a batch holds clips with *all* their captions. The encoder runs once per clip and its
  summary is shared by that clip's captions (``caption_to_clip``). The authors' paper-era runs
  grouped the five captions of a clip like this, but ran the encoder once per caption.
- ``caption``: a batch holds (clip, caption) pairs, one encoder pass per caption.

Epoch order is a permutation drawn from ``numpy.random.default_rng([seed, epoch])``, so an epoch's
batches depend only on the seed and the epoch number: a resumed run sees exactly the same batches.
``drop_last`` leaves out the last, partial batch of an epoch (what the authors' code did).

Every batch also carries its clips' real frame counts (``Batch.lengths``), which the packed encoder
needs to process each clip at its own length. The value in front of shorter clips is zero (paper) or,
with ``ModelConfig.padding = "silence"``, the log-mel frame of digital silence (:func:`pad_value_for`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from aac_subsampling.method.config import BatchMode, FeatureConfig, Padding

PadValue = float | np.ndarray  # one value for every band, or one per band (shape (F,))


class Standardiser(Protocol):
    """What :func:`silence_frame` needs of the band statistics (``features.BandStatistics``)."""

    def apply(self, features: np.ndarray) -> np.ndarray: ...


@dataclass
class Batch:
    features: Tensor  # (clips, T_max, F), zero frames in front of shorter clips
    targets: Tensor  # (captions, S_max), <eos> after the end of shorter captions
    target_lengths: Tensor  # (captions,) tokens of each caption including its own <eos>
    caption_to_clip: Tensor  # (captions,) index into ``features`` of each caption's clip
    clip_ids: list[str]
    # (clips,) real frames of each clip: they are the last ``lengths[i]`` frames of row i. None only
    # for batches built by hand without them.
    lengths: Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.features.to(device),
            self.targets.to(device),
            self.target_lengths.to(device),
            self.caption_to_clip.to(device),
            self.clip_ids,
            None if self.lengths is None else self.lengths.to(device),
        )


def silence_frame(config: FeatureConfig, statistics: Standardiser | None = None) -> np.ndarray:
    """The (F,) log-mel frame of digital silence: log(0 + eps) in every band, as features.py computes it.

    With per-band standardisation (``statistics``, applied when features are read) the frame is
    standardised the same way, so padding still reads as silence to the encoder. Peak normalisation
    does not change it (0 / peak = 0).
    """
    frame = np.full((1, config.n_mels), np.log(np.float64(0.0) + config.log_eps), dtype=np.float64)
    frame = frame.astype(np.float32)
    if statistics is not None:
        frame = np.asarray(statistics.apply(frame), dtype=np.float32)
    return frame[0]


def pad_value_for(padding: Padding, config: FeatureConfig, statistics: Standardiser | None = None) -> PadValue:
    """What fills the frames in front of shorter clips: 0.0 for "zeros" (paper), the silence frame for
    "silence". ``statistics``: the band statistics when ``config.standardise`` is on, else None."""
    if padding == "zeros":
        return 0.0
    if padding == "silence":
        if config.standardise and statistics is None:
            raise ValueError("padding='silence' with standardise=True needs the band statistics")
        return silence_frame(config, statistics if config.standardise else None)
    raise ValueError(f"padding must be 'zeros' or 'silence', got {padding!r}")


def front_pad_with_lengths(features: Sequence[np.ndarray], pad_value: PadValue = 0.0) -> tuple[Tensor, Tensor]:
    """Stack (T_i, F) arrays into (B, T_max, F), ``pad_value`` frames *before* the shorter ones (as the
    paper does, with zeros), so that the last time step z sits at the end of every clip; also return
    the real frame counts T_i as a LongTensor."""
    longest = max(f.shape[0] for f in features)
    n_features = features[0].shape[1]
    pad = np.asarray(pad_value, dtype=np.float32)
    if pad.ndim > 1 or (pad.ndim == 1 and pad.shape[0] != n_features):
        raise ValueError(f"pad_value must be a number or one value per band ({n_features}), got shape {pad.shape}")
    batch = np.empty((len(features), longest, n_features), dtype=np.float32)
    batch[...] = pad
    for row, clip in enumerate(features):
        batch[row, longest - clip.shape[0] :] = clip
    lengths = torch.as_tensor([f.shape[0] for f in features], dtype=torch.long)
    return torch.from_numpy(batch), lengths


def front_pad_features(features: Sequence[np.ndarray], pad_value: PadValue = 0.0) -> Tensor:
    """:func:`front_pad_with_lengths` without the lengths (zeros before shorter clips by default)."""
    return front_pad_with_lengths(features, pad_value)[0]


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
    ``pad_value`` fills the frames in front of shorter clips (see :func:`pad_value_for`).
    """

    def __init__(
        self,
        clip_ids: Sequence[str],
        captions: Mapping[str, Sequence[Sequence[int]]],
        features: FeatureSource,
        eos_index: int,
        pad_value: PadValue = 0.0,
    ):
        missing = [c for c in clip_ids if c not in captions or not captions[c]]
        if missing:
            raise ValueError(f"{len(missing)} clip(s) have no captions, e.g. {missing[:3]}")
        self.clip_ids = list(clip_ids)
        self.captions = captions
        self.features_of = feature_getter(features)
        self.eos_index = eos_index
        self.pad_value = pad_value

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
        features, frame_counts = front_pad_with_lengths([self.features_of(c) for c in clip_ids], self.pad_value)
        targets, lengths = end_pad_targets(captions, self.eos_index)
        return Batch(features, targets, lengths, torch.as_tensor(caption_to_clip), clip_ids, frame_counts)

    def batches(
        self, batch_size: int, mode: BatchMode, seed: int, epoch: int, shuffle: bool = True, drop_last: bool = False
    ) -> Iterator[Batch]:
        """The batches of one epoch, in an order fixed by (seed, epoch); ``drop_last``: without the last
        partial one (the order, hence every full batch, is the same either way)."""
        items = self.items(mode)
        count = self.n_batches(batch_size, mode, drop_last)
        order = np.random.default_rng([seed, epoch]).permutation(len(items)) if shuffle else np.arange(len(items))
        for start in range(0, count * batch_size, batch_size):
            yield self.make_batch([items[i] for i in order[start : start + batch_size]])

    def n_batches(self, batch_size: int, mode: BatchMode, drop_last: bool = False) -> int:
        """Batches per epoch: ceil(items / batch_size), or floor with ``drop_last`` (which must leave one)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        n_items = len(self.items(mode))
        if not drop_last:
            return -(-n_items // batch_size)
        if n_items < batch_size:
            raise ValueError(
                f"drop_last=True with {n_items} item(s) and batch_size {batch_size} leaves no batch; "
                f"lower batch_size or turn drop_last off"
            )
        return n_items // batch_size
