"""CIDEr-D as pycocoevalcap's ``Cider``, reported as "CIDEr" as the paper does.

pycocoevalcap 1.2 ships no separate ``CiderD`` class; its ``Cider`` *is* CIDEr-D (n = 1..4, n-gram tf-idf with
document frequencies from the evaluated references, clipped hypothesis weights, Gaussian length penalty
sigma = 6, x10), and it is the class the DCASE 2020 caption-evaluation tools call through ``COCOEvalCap``. The
corpus score is the mean of the per-clip scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .coco import as_coco

__all__ = ["CIDER_NOTE", "cider_scores"]

#: How the reported "CIDEr" is computed (kept in each result's notes).
CIDER_NOTE = "CIDEr-D as implemented by pycocoevalcap's Cider (sigma=6, clipped, x10)"


def cider_scores(references: Sequence[Sequence[str]], predictions: Sequence[str]) -> tuple[float, np.ndarray]:
    """Corpus and per-clip CIDEr-D (pycocoevalcap ``Cider``; see module docstring)."""
    from pycocoevalcap.cider.cider import Cider

    corpus, per_clip = Cider().compute_score(*as_coco(references, predictions))
    return float(corpus), np.asarray(per_clip, dtype=float)
