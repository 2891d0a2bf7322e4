"""BLEU1-4 as pycocoevalcap's ``Bleu``, with the per-clip sufficient statistics corpus BLEU is built from.

Scored by ``BleuScorer(n=4)`` with the 'closest' reference length. Corpus BLEU is *not* the mean of per-clip
BLEU: it comes from n-gram counts summed over clips and one brevity penalty. The per-clip counts
(:data:`BLEU_STAT_COLUMNS`) are therefore kept, and :func:`bleu_from_stats` recomputes corpus BLEU from any
sum of them (the bootstrap's replicates).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["BLEU_NOTE", "BLEU_ORDER", "BLEU_STAT_COLUMNS", "bleu_from_stats", "bleu_scores"]

BLEU_ORDER = 4
#: How the reported BLEU is computed (kept in each result's notes).
BLEU_NOTE = "pycocoevalcap BleuScorer, closest reference length"
#: Per-clip BLEU sufficient statistics (pycocoevalcap ``BleuScorer``, 'closest' ref length).
BLEU_STAT_COLUMNS = (
    "bleu_testlen",
    "bleu_reflen",
    *(f"bleu_guess_{k}" for k in range(1, BLEU_ORDER + 1)),
    *(f"bleu_correct_{k}" for k in range(1, BLEU_ORDER + 1)),
)


def bleu_scores(
    references: Sequence[Sequence[str]], predictions: Sequence[str]
) -> tuple[list[float], np.ndarray, np.ndarray]:
    """Corpus BLEU1-4, per-clip BLEU1-4 ``(n, 4)`` and per-clip counts ``(n, 10)``.

    Counts follow :data:`BLEU_STAT_COLUMNS`; the reference length is the 'closest' one pycocoevalcap's
    ``Bleu`` uses.
    """
    from pycocoevalcap.bleu.bleu_scorer import BleuScorer

    scorer = BleuScorer(n=BLEU_ORDER)
    for refs, pred in zip(references, predictions):
        scorer += (pred, list(refs))
    corpus, per_clip = scorer.compute_score(option="closest", verbose=0)
    counts = np.array(
        [
            [c["testlen"], scorer._single_reflen(c["reflen"], "closest", c["testlen"]), *c["guess"], *c["correct"]]
            for c in scorer.ctest
        ],
        dtype=float,
    ).reshape(len(predictions), len(BLEU_STAT_COLUMNS))
    return [float(s) for s in corpus], np.asarray(per_clip, dtype=float).T, counts


def bleu_from_stats(stats: np.ndarray) -> np.ndarray:
    """Corpus BLEU1-4 from summed counts, as pycocoevalcap's ``BleuScorer``.

    ``stats`` has shape ``(..., 10)`` in :data:`BLEU_STAT_COLUMNS` order, each row already summed over the
    clips of one corpus. Returns shape ``(..., 4)``.
    """
    small, tiny = 1e-9, 1e-15
    stats = np.asarray(stats, dtype=float)
    testlen, reflen = stats[..., 0], stats[..., 1]
    guess = stats[..., 2 : 2 + BLEU_ORDER]
    correct = stats[..., 2 + BLEU_ORDER : 2 + 2 * BLEU_ORDER]
    out = np.empty(stats.shape[:-1] + (BLEU_ORDER,))
    running = np.ones(stats.shape[:-1])
    for k in range(BLEU_ORDER):
        running = running * ((correct[..., k] + tiny) / (guess[..., k] + small))
        out[..., k] = running ** (1.0 / (k + 1))
    ratio = (testlen + tiny) / (reflen + small)
    with np.errstate(divide="ignore", over="ignore"):
        penalty = np.where(ratio < 1, np.exp(1 - 1 / ratio), 1.0)
    return out * penalty[..., None]
