"""ROUGE-L as pycocoevalcap's ``Rouge``: LCS-based F-measure (beta = 1.2); the corpus score is the mean."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .coco import as_coco

__all__ = ["rouge_scores"]


def rouge_scores(references: Sequence[Sequence[str]], predictions: Sequence[str]) -> tuple[float, np.ndarray]:
    """Corpus and per-clip ROUGE-L (pycocoevalcap ``Rouge``)."""
    from pycocoevalcap.rouge.rouge import Rouge

    corpus, per_clip = Rouge().compute_score(*as_coco(references, predictions))
    return float(corpus), np.asarray(per_clip, dtype=float)
