"""SPIDEr (Liu et al., 2017): the mean of CIDEr-D (:mod:`.cider`) and SPICE (:mod:`.spice`).

Composed from the two scores already computed, per clip and for the corpus; it exists only where SPICE does.
"""

from __future__ import annotations

import numpy as np

__all__ = ["spider_scores", "spider_unavailable_reason"]


def spider_scores(
    cider_corpus: float, cider_per_clip: np.ndarray, spice_corpus: float, spice_per_clip: np.ndarray
) -> tuple[float, np.ndarray]:
    """Corpus and per-clip SPIDEr = (CIDEr-D + SPICE) / 2."""
    per_clip = (np.asarray(cider_per_clip, dtype=float) + np.asarray(spice_per_clip, dtype=float)) / 2.0
    return (cider_corpus + spice_corpus) / 2.0, per_clip


def spider_unavailable_reason(spice_reason: str) -> str:
    """Why SPIDEr is missing, given why SPICE is."""
    return f"needs SPICE: {spice_reason}"
