"""Bootstrap confidence intervals over clips: the resampling, and which statistic each metric resamples.

Resampling scheme (:func:`bootstrap_ci`): the unit is the clip. Each of the ``n_resamples`` replicates draws
``n`` clip positions uniformly *with replacement* (``numpy.random.default_rng(seed).integers(0, n,
(n_resamples, n))``), and every metric is recomputed on the same draws (paired resampling), so the intervals
of different metrics are directly comparable. The interval is the percentile interval: the
``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles (numpy's default linear interpolation) of the
replicate statistics.

The statistic per metric is how that metric's corpus score is built:

* ROUGE_L, CIDEr (CIDEr-D), SPICE, SPIDEr: the corpus score *is* the mean of the per-clip scores, so each
  replicate is the mean over the drawn clips: exact.
* BLEU1-4: corpus BLEU is built from n-gram counts summed over clips (matches, candidate n-grams, candidate
  and effective reference lengths, then one brevity penalty). When the per-clip counts are given (``stats``,
  as :class:`~.evaluate.EvaluationResult` keeps them), each replicate sums the drawn clips' counts and
  recomputes corpus BLEU exactly as pycocoevalcap's ``BleuScorer`` does (:func:`~.bleu.bleu_from_stats`).
  Without them the mean of per-clip BLEU is used, which is an approximation and is flagged in the
  ``method`` column.
* METEOR: likewise, METEOR 1.5's corpus score comes from alignment statistics summed over segments. With
  ``stats`` each replicate sums the drawn clips' 23 statistics and applies METEOR's scoring formula
  (:func:`~.meteor.meteor_from_stats`); without them the mean of segment scores is used (approximation,
  flagged).

What is *not* resampled: each clip's per-clip scores (and counts) are those computed once on the full
evaluation set. In particular CIDEr-D's document frequencies (and its ``log(N)`` term) come from the full set
of references; a replicate does not recompute them from the drawn clips. The intervals thus describe
variation over which clips are evaluated, with the scorers fixed.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .bleu import BLEU_ORDER, BLEU_STAT_COLUMNS, bleu_from_stats
from .meteor import METEOR_STAT_COLUMNS, meteor_from_stats

__all__ = ["ZeroWidthIntervalWarning", "bootstrap_ci", "resample_indices"]


class ZeroWidthIntervalWarning(UserWarning):
    """A bootstrap over one clip: every replicate is that clip, so every interval has zero width."""


_MEAN_METRICS = ("ROUGE_L", "CIDEr", "SPICE", "SPIDEr")
_BLEU_METRICS = tuple(f"BLEU{k}" for k in range(1, BLEU_ORDER + 1))
_CI_COLUMNS = ("metric", "estimate", "mean", "low", "high", "n_clips", "n_resamples", "method")


def resample_indices(n_items: int, n_resamples: int, seed: int) -> np.ndarray:
    """``(n_resamples, n_items)`` positions drawn with replacement (seeded PCG64)."""
    if n_items < 1:
        raise ValueError("cannot resample an empty set")
    if n_items == 1:
        warnings.warn(
            "bootstrap over a split of 1 clip: every resample draws that same clip, so every interval has zero "
            "width (low = high = the score); it says nothing about how the score varies over clips. Evaluate on "
            "more clips for an interval.",
            ZeroWidthIntervalWarning,
            stacklevel=2,
        )
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_items, size=(n_resamples, n_items))


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def _has_columns(frame: pd.DataFrame | None, columns: Sequence[str]) -> bool:
    return frame is not None and all(c in frame.columns for c in columns)


def _metric_replicates(
    metric: str, per_clip: pd.DataFrame, stats: pd.DataFrame | None, draws: np.ndarray
) -> tuple[float, np.ndarray, str]:
    """(full-set statistic, replicate statistics, method) for one metric."""
    if metric in _BLEU_METRICS and _has_columns(stats, BLEU_STAT_COLUMNS):
        counts = stats.loc[:, list(BLEU_STAT_COLUMNS)].to_numpy(dtype=float)
        order = int(metric[-1]) - 1
        estimate = float(bleu_from_stats(counts.sum(0))[order])
        replicates = bleu_from_stats(counts[draws].sum(1))[:, order]
        return estimate, replicates, "corpus BLEU from n-gram counts"
    if metric == "METEOR" and _has_columns(stats, METEOR_STAT_COLUMNS):
        counts = stats.loc[:, list(METEOR_STAT_COLUMNS)].to_numpy(dtype=float)
        estimate = float(meteor_from_stats(counts.sum(0)))
        replicates = meteor_from_stats(counts[draws].sum(1))
        return estimate, replicates, "corpus METEOR from alignment statistics"
    values = per_clip[metric].to_numpy(dtype=float)
    method = "mean of per-clip scores"
    if metric not in _MEAN_METRICS:
        method += " (approximation: corpus score is not a mean)"
    return float(values.mean()), values[draws].mean(1), method


def bootstrap_ci(
    per_clip: pd.DataFrame,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    *,
    stats: pd.DataFrame | None = None,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Percentile bootstrap confidence intervals over clips (see module docstring).

    ``per_clip``: one row per clip, one column per metric (as ``EvaluationResult.per_clip``). ``stats``:
    optional per-clip sufficient statistics with the same index (``EvaluationResult.stats``); with them, BLEU
    and METEOR are recomputed corpus-style. Metrics whose column is entirely missing (metric unavailable) are
    skipped.

    Returns one row per metric with columns ``metric``, ``estimate`` (the statistic on all clips, i.e. the
    corpus score), ``mean`` (mean of the replicates), ``low``, ``high``, ``n_clips``, ``n_resamples`` and
    ``method``.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    if n_resamples < 1:
        raise ValueError("n_resamples must be positive")
    if stats is not None and not stats.index.equals(per_clip.index):
        stats = stats.reindex(per_clip.index)
    names = list(metrics) if metrics is not None else list(per_clip.columns)
    draws = resample_indices(len(per_clip), n_resamples, seed)
    rows = []
    for metric in names:
        if per_clip[metric].isna().all():
            continue
        estimate, replicates, method = _metric_replicates(metric, per_clip, stats, draws)
        low, high = _percentiles(replicates, confidence)
        rows.append(
            {
                "metric": metric,
                "estimate": estimate,
                "mean": float(np.mean(replicates)),
                "low": low,
                "high": high,
                "n_clips": len(per_clip),
                "n_resamples": n_resamples,
                "method": method,
            }
        )
    return pd.DataFrame(rows, columns=list(_CI_COLUMNS))
