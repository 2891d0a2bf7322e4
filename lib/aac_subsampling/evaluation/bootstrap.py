"""Bootstrap confidence intervals over clips, and corpus scores from sufficient statistics.

Resampling scheme (:func:`bootstrap_ci`): the unit is the clip. Each of the
``n_resamples`` replicates draws ``n`` clip positions uniformly *with
replacement* (``numpy.random.default_rng(seed).integers(0, n, (n_resamples, n))``),
and every metric is recomputed on the same draws (paired resampling), so the
intervals of different metrics are directly comparable. The interval is the
percentile interval: the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
quantiles (numpy's default linear interpolation) of the replicate statistics.

The statistic per metric is how that metric's corpus score is built:

* ROUGE_L, CIDEr (CIDEr-D), SPICE, SPIDEr: the corpus score *is* the mean of
  the per-clip scores, so each replicate is the mean over the drawn clips:
  exact.
* BLEU1-4: corpus BLEU is *not* the mean of per-clip BLEU; it is built from
  n-gram counts summed over clips (matches, candidate n-grams, candidate and
  effective reference lengths, then one brevity penalty). When the per-clip
  counts are given (``stats``, as :class:`EvaluationResult` keeps them), each
  replicate sums the drawn clips' counts and recomputes corpus BLEU exactly as
  pycocoevalcap's ``BleuScorer`` does. Without them the mean of per-clip
  BLEU is used, which is an approximation and is flagged in the ``method``
  column.
* METEOR: likewise, METEOR 1.5's corpus score comes from alignment statistics
  summed over segments, not from the mean of segment scores. With ``stats``
  each replicate sums the drawn clips' 23 statistics and applies METEOR's
  scoring formula (English, default "rank" task parameters, reproduced in
  :func:`meteor_from_stats` and checked against the METEOR jar in the tests);
  without them the mean of segment scores is used (approximation, flagged).

What is *not* resampled: each clip's per-clip scores (and counts) are those
computed once on the full evaluation set. In particular CIDEr-D's document
frequencies (and its ``log(N)`` term) come from the full set of references;
a replicate does not recompute them from the drawn clips. The intervals thus
describe variation over which clips are evaluated, with the scorers fixed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "BLEU_STAT_COLUMNS",
    "METEOR_PARAMETERS",
    "METEOR_STAT_COLUMNS",
    "bleu_from_stats",
    "bootstrap_ci",
    "meteor_from_stats",
    "resample_indices",
]

BLEU_ORDER = 4
#: Per-clip BLEU sufficient statistics (pycocoevalcap ``BleuScorer``, 'closest' ref length).
BLEU_STAT_COLUMNS = (
    "bleu_testlen",
    "bleu_reflen",
    *(f"bleu_guess_{k}" for k in range(1, BLEU_ORDER + 1)),
    *(f"bleu_correct_{k}" for k in range(1, BLEU_ORDER + 1)),
)

_METEOR_MODULES = ("exact", "stem", "synonym", "paraphrase")
#: The 23 numbers METEOR 1.5 prints for one segment (``SCORE`` reply), in order.
METEOR_STAT_COLUMNS = (
    "meteor_test_length",
    "meteor_ref_length",
    "meteor_test_function_words",
    "meteor_ref_function_words",
    *(
        f"meteor_{side}_{kind}_{module}"
        for module in _METEOR_MODULES
        for kind, side in (
            ("content", "test"),
            ("content", "ref"),
            ("function", "test"),
            ("function", "ref"),
        )
    ),
    "meteor_chunks",
    "meteor_test_word_matches",
    "meteor_ref_word_matches",
)

#: METEOR 1.5, English, default ("rank") task: alpha, beta, gamma, delta and
#: the weights of the exact, stem, synonym and paraphrase modules.
METEOR_PARAMETERS = {
    "alpha": 0.85,
    "beta": 0.20,
    "gamma": 0.60,
    "delta": 0.75,
    "weights": (1.0, 0.6, 0.8, 0.6),
}

_MEAN_METRICS = ("ROUGE_L", "CIDEr", "SPICE", "SPIDEr")
_BLEU_METRICS = tuple(f"BLEU{k}" for k in range(1, BLEU_ORDER + 1))


def bleu_from_stats(stats: np.ndarray) -> np.ndarray:
    """Corpus BLEU1-4 from summed counts, as pycocoevalcap's ``BleuScorer``.

    ``stats`` has shape ``(..., 10)`` in :data:`BLEU_STAT_COLUMNS` order, each
    row already summed over the clips of one corpus. Returns shape ``(..., 4)``.
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


def meteor_from_stats(stats: np.ndarray) -> np.ndarray:
    """METEOR 1.5 score from (summed) segment statistics.

    ``stats`` has shape ``(..., 23)`` in :data:`METEOR_STAT_COLUMNS` order. A
    single segment's row gives its segment score; a row summed over segments
    gives the corpus score METEOR's ``EVAL`` reports. Mirrors METEOR's own
    formula: weighted precision and recall (function words weighted
    ``1 - delta``), harmonic mean with ``alpha``, fragmentation penalty
    ``gamma * (chunks / mean matches) ** beta`` (zero for a perfect one-chunk
    match), NaN mapped to 0 and negatives clipped to 0.
    """
    p = METEOR_PARAMETERS
    alpha, beta, gamma, delta = p["alpha"], p["beta"], p["gamma"], p["delta"]
    weights = np.asarray(p["weights"])
    stats = np.asarray(stats, dtype=float)
    tlen, rlen, tfunc, rfunc = (stats[..., i] for i in range(4))
    per_module = stats[..., 4:20].reshape(stats.shape[:-1] + (4, 4))
    t_content, r_content = per_module[..., 0], per_module[..., 1]
    t_function, r_function = per_module[..., 2], per_module[..., 3]
    chunks, t_words, r_words = stats[..., 20], stats[..., 21], stats[..., 22]

    t_weighted_len = delta * (tlen - tfunc) + (1 - delta) * tfunc
    r_weighted_len = delta * (rlen - rfunc) + (1 - delta) * rfunc
    t_weighted = (t_content * weights * delta).sum(-1) + (t_function * weights * (1 - delta)).sum(-1)
    r_weighted = (r_content * weights * delta).sum(-1) + (r_function * weights * (1 - delta)).sum(-1)
    t_total = (t_content + t_function).sum(-1)
    r_total = (r_content + r_function).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = t_weighted / t_weighted_len
        recall = r_weighted / r_weighted_len
        f_mean = 1.0 / ((1 - alpha) / precision + alpha / recall)
        perfect = (t_total == tlen) & (r_total == rlen) & (chunks == 1)
        frag = np.where(perfect, 0.0, chunks / ((t_words + r_words) / 2.0))
        score = f_mean * (1 - gamma * frag**beta)
    return np.where(np.isnan(score), 0.0, np.maximum(score, 0.0))


def resample_indices(n_items: int, n_resamples: int, seed: int) -> np.ndarray:
    """``(n_resamples, n_items)`` positions drawn with replacement (seeded PCG64)."""
    if n_items < 1:
        raise ValueError("cannot resample an empty set")
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_items, size=(n_resamples, n_items))


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def _has_columns(frame: pd.DataFrame | None, columns: Sequence[str]) -> bool:
    return frame is not None and all(c in frame.columns for c in columns)


def _metric_replicates(
    metric: str,
    per_clip: pd.DataFrame,
    stats: pd.DataFrame | None,
    draws: np.ndarray,
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

    ``per_clip``: one row per clip, one column per metric (as
    ``EvaluationResult.per_clip``). ``stats``: optional per-clip sufficient
    statistics with the same index (``EvaluationResult.stats``); with them,
    BLEU and METEOR are recomputed corpus-style. Metrics whose column is
    entirely missing (metric unavailable) are skipped.

    Returns one row per metric with columns ``metric``, ``estimate`` (the
    statistic on all clips, i.e. the corpus score), ``mean`` (mean of the
    replicates), ``low``, ``high``, ``n_clips``, ``n_resamples`` and
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
    columns = ["metric", "estimate", "mean", "low", "high", "n_clips", "n_resamples", "method"]
    return pd.DataFrame(rows, columns=columns)
