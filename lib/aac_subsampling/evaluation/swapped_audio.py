"""Does a model listen? Decode every clip from another clip's audio and compare (issue "Models that caption").

A model whose captions depend on the audio scores clearly lower when each clip's features are replaced by
another clip's; a model that learnt only which word is common where does not move. The pairing is a seeded
*derangement* (a permutation that leaves no clip with its own audio), so every caption is made from the
wrong audio, and it is the same for every M of a seed, so that the M are compared on the same swaps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

import numpy as np

__all__ = ["derangement", "audio_partners", "swap_audio"]

T = TypeVar("T")


def derangement(n: int, seed: int) -> np.ndarray:
    """A seeded permutation of ``range(n)`` with no fixed point: ``result[i] != i`` for every ``i``.

    Drawn uniformly by rejection (a random permutation is a derangement with probability about 1/e, so a
    few draws suffice). ``n`` must be at least 2: one clip has no other clip to borrow audio from.
    """
    if n < 2:
        raise ValueError(f"swapping audio needs at least 2 clips, got {n}")
    rng = np.random.default_rng(seed)
    while True:
        permutation = rng.permutation(n)
        if not np.any(permutation == np.arange(n)):
            return permutation


def audio_partners(clip_ids: Sequence[str], seed: int) -> dict[str, str]:
    """clip -> the clip whose audio it is decoded from; the clips are taken in sorted order, so the pairing
    depends only on the set of clips and the seed."""
    ordered = sorted(clip_ids)
    if len(set(ordered)) != len(ordered):
        raise ValueError("clip ids must be unique to swap their audio")
    permutation = derangement(len(ordered), seed)
    return {clip: ordered[int(j)] for clip, j in zip(ordered, permutation)}


def swap_audio(features: Mapping[str, T], partners: Mapping[str, str]) -> dict[str, T]:
    """Each clip's features replaced by its partner's (a new dict; the arrays are not copied)."""
    missing = sorted(set(partners.values()) - set(features))
    if missing:
        raise KeyError(f"no features for clip(s) {missing[:5]} named as audio partners")
    return {clip: features[partner] for clip, partner in partners.items()}
