"""Greedy decoding: the most likely token at each of up to 22 steps, cut at the first <eos>.

The decoder gets z at every step and never its own previous word, so greedy decoding is one decoder
pass of ``max_steps`` steps followed by an arg-max; no step-by-step loop is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from aac_subsampling.batching import FeatureSource, feature_getter, front_pad_features
from aac_subsampling.model import CaptioningModel
from aac_subsampling.tokens import Vocabulary


@torch.no_grad()
def greedy_token_indices(model: CaptioningModel, features: torch.Tensor, max_steps: int = 22) -> torch.Tensor:
    """(clips, T, F) -> (clips, max_steps) arg-max token indices."""
    return model(features, max_steps).argmax(dim=-1)


def greedy_decode(
    model: CaptioningModel,
    clip_ids: Sequence[str],
    features: FeatureSource,
    vocabulary: Vocabulary,
    max_steps: int = 22,
    batch_size: int = 16,
    progress: bool = True,
) -> dict[str, str]:
    """Caption every clip, in batches of ``batch_size`` clips taken in the given order.

    Clips of a batch are front-padded to the longest one, as in training; keep ``clip_ids`` in a fixed
    order (sorted names) so that the captions do not depend on directory listing order.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    get = feature_getter(features)
    captions: dict[str, str] = {}
    try:
        starts = range(0, len(clip_ids), batch_size)
        for start in tqdm(starts, desc="decoding", disable=not progress):
            chunk = list(clip_ids[start : start + batch_size])
            batch = front_pad_features([get(c) for c in chunk]).to(device)
            indices = greedy_token_indices(model, batch, max_steps).cpu().tolist()
            captions.update({clip: vocabulary.decode(row) for clip, row in zip(chunk, indices)})
    finally:
        model.train(was_training)
    return captions
