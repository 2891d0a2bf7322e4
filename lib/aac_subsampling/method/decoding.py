"""Greedy decoding: the most likely token at each of up to 22 steps, cut at the first <eos>.

The decoder gets z at every step and never its own previous word, so greedy decoding is one decoder
pass of ``max_steps`` steps followed by an arg-max; no step-by-step loop is needed (the attention
decoder's query is the GRU output, so the same holds for it).

A model in packed mode gets every clip's real frame count, so a clip's caption does not depend on the
other clips of its batch; in padded mode (the paper) it does, through the amount of front padding.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from aac_subsampling.method.batching import FeatureSource, PadValue, feature_getter, front_pad_with_lengths
from aac_subsampling.method.model import CaptioningModel
from aac_subsampling.method.tokens import Vocabulary


@torch.no_grad()
def greedy_token_indices(
    model: CaptioningModel, features: torch.Tensor, max_steps: int = 22, lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """(clips, T, F) -> (clips, max_steps) arg-max token indices; ``lengths``: real frame counts."""
    return model(features, max_steps, lengths=lengths).argmax(dim=-1)


def greedy_decode(
    model: CaptioningModel,
    clip_ids: Sequence[str],
    features: FeatureSource,
    vocabulary: Vocabulary,
    max_steps: int = 22,
    batch_size: int = 16,
    progress: bool = True,
    pad_value: PadValue | None = None,
) -> dict[str, str]:
    """Caption every clip, in batches of ``batch_size`` clips taken in the given order.

    Clips of a batch are front-padded to the longest one with ``pad_value``, as in training (use the
    same value, :func:`aac_subsampling.method.batching.pad_value_for`; None: zeros, which a model trained
    with ``padding="silence"`` refuses); keep ``clip_ids`` in a fixed order (sorted names) so that the
    captions do not depend on directory listing order. A packed-mode model also gets the clips' frame
    counts.
    """
    if pad_value is None:
        if model.config.padding != "zeros":
            raise ValueError(
                f"the model was trained with padding={model.config.padding!r}: pass greedy_decode the same "
                f"pad_value (aac_subsampling.method.batching.pad_value_for)"
            )
        pad_value = 0.0
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    get = feature_getter(features)
    captions: dict[str, str] = {}
    packed = model.config.sequence_mode == "packed"
    try:
        starts = range(0, len(clip_ids), batch_size)
        for start in tqdm(starts, desc="decoding", disable=not progress):
            chunk = list(clip_ids[start : start + batch_size])
            batch, lengths = front_pad_with_lengths([get(c) for c in chunk], pad_value)
            indices = greedy_token_indices(model, batch.to(device), max_steps, lengths if packed else None)
            indices = indices.cpu().tolist()
            captions.update({clip: vocabulary.decode(row) for clip, row in zip(chunk, indices)})
    finally:
        model.train(was_training)
    return captions
