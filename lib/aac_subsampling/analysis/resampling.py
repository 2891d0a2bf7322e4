"""Corpus scores of resampled clip sets, pooled over seeds: the engine of :mod:`.seeds` and :mod:`.paired`.

A bootstrap replicate draws ``n`` clip positions with replacement
(:func:`aac_subsampling.evaluation.bootstrap.resample_indices`, seeded). Here a replicate is kept as
*weights*: how often each clip was drawn. A corpus score of the drawn clips is then a weighted sum,
which is exact and needs no ``(n_resamples, n_clips, n_stats)`` array:

* ROUGE_L, CIDEr, SPICE, SPIDEr: the weighted mean of the per-clip scores (their corpus score is the
  mean of per-clip scores);
* BLEU1-4: :func:`~aac_subsampling.evaluation.bleu.bleu_from_stats` of the weighted sum of the
  per-clip n-gram counts (corpus BLEU is built from summed counts, not a mean);
* METEOR: :func:`~aac_subsampling.evaluation.meteor.meteor_from_stats` of the weighted sum of the
  per-clip alignment statistics.

With the same seed these are the replicates :func:`~aac_subsampling.evaluation.bootstrap.bootstrap_ci`
computes, up to floating-point summation order. Without the statistics, BLEU and METEOR fall back
to the mean of per-clip scores and the ``method`` says so (an approximation).

Pooling over seeds: a replicate's statistic is the *mean over seeds* of the corpus scores, each seed
scored on the same drawn clips. The interval thus holds the clip-sampling uncertainty of the
seed-mean; the seed-to-seed spread is reported beside it as a standard deviation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aac_subsampling.analysis.records import ClipScores
from aac_subsampling.evaluation.bleu import BLEU_STAT_COLUMNS, bleu_from_stats
from aac_subsampling.evaluation.bootstrap import resample_indices
from aac_subsampling.evaluation.meteor import METEOR_STAT_COLUMNS, meteor_from_stats

_BLEU = ("BLEU1", "BLEU2", "BLEU3", "BLEU4")


def draw_weights(n_clips: int, n_resamples: int, seed: int) -> np.ndarray:
    """``(n_resamples, n_clips)``: how often each clip is drawn in each replicate (seeded)."""
    draws = resample_indices(n_clips, n_resamples, seed)
    offsets = draws + np.arange(n_resamples)[:, None] * n_clips  # one bincount for every replicate
    return np.bincount(offsets.ravel(), minlength=n_resamples * n_clips).reshape(n_resamples, n_clips).astype(float)


def full_weights(n_clips: int) -> np.ndarray:
    """The single "replicate" holding every clip once: the statistic on all clips."""
    return np.ones((1, n_clips))


def is_available(run: ClipScores, metric: str) -> bool:
    """Whether the run scored ``metric`` (a per-clip column with values)."""
    return metric in run.per_clip.columns and not run.per_clip[metric].isna().all()


def _has(run: ClipScores, columns: Sequence[str]) -> bool:
    return all(c in run.stats.columns for c in columns)


def method(run: ClipScores, metric: str) -> str:
    """How ``metric``'s corpus score of a clip set is computed for this run (words, for the tables)."""
    if metric in _BLEU and _has(run, BLEU_STAT_COLUMNS):
        return "corpus BLEU from n-gram counts"
    if metric == "METEOR" and _has(run, METEOR_STAT_COLUMNS):
        return "corpus METEOR from alignment statistics"
    if metric in _BLEU or metric == "METEOR":
        return "mean of per-clip scores (approximation: statistics missing)"
    return "mean of per-clip scores"


def corpus_scores(run: ClipScores, metric: str, weights: np.ndarray) -> np.ndarray:
    """``metric``'s corpus score for each weighting of the run's clips: shape ``(len(weights),)``."""
    if not is_available(run, metric):
        raise ValueError(f"{run.source}: {metric} is not available for seed {run.seed}, M={run.factor}")
    if weights.shape[-1] != run.n_clips:
        raise ValueError(f"{run.source}: weights cover {weights.shape[-1]} clips, the run {run.n_clips}")
    if metric in _BLEU and _has(run, BLEU_STAT_COLUMNS):
        summed = weights @ run.stats.loc[:, list(BLEU_STAT_COLUMNS)].to_numpy(dtype=float)
        return bleu_from_stats(summed)[:, int(metric[-1]) - 1]
    if metric == "METEOR" and _has(run, METEOR_STAT_COLUMNS):
        return meteor_from_stats(weights @ run.stats.loc[:, list(METEOR_STAT_COLUMNS)].to_numpy(dtype=float))
    values = run.per_clip[metric].to_numpy(dtype=float)
    return (weights @ values) / weights.sum(axis=1)


def seed_mean_scores(runs: Sequence[ClipScores], metric: str, weights: np.ndarray) -> np.ndarray:
    """Mean over the runs (seeds) of their corpus scores, each run on the same weighted clips."""
    if not runs:
        raise ValueError(f"no runs to pool for {metric}")
    return np.mean([corpus_scores(run, metric, weights) for run in runs], axis=0)


def percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile interval (numpy's linear quantiles), as :mod:`~aac_subsampling.evaluation.bootstrap`."""
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(replicates, [tail, 1.0 - tail])
    return float(low), float(high)
