"""Paired bootstrap of every M against M = 1 on the same evaluation clips, pooled over seeds.

For each M != 1 and each metric, the statistic is the difference of seed-mean corpus scores,
``mean_s score(M, s) - mean_s score(1, s)``, over the seeds evaluated for *both* M and M = 1 with
that metric (seed-matched, so that a seed missing on one side does not shift the comparison).
Each replicate draws one clip set (:func:`aac_subsampling.evaluation.bootstrap.resample_indices`)
and scores both sides, every seed, on it: the clip-to-clip variation common to both cancels, which
is what makes the comparison paired. Reported: the difference on all clips, its percentile
interval, and ``share_better``, the share of replicates in which M scores strictly higher (so
identical systems get 0, a system better on every draw gets 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aac_subsampling.analysis import resampling
from aac_subsampling.analysis.records import (
    ClipScores,
    RunKey,
    load_evaluation_records,
    metric_value,
    seeds_by_factor,
    unavailable_reason,
)
from aac_subsampling.analysis.seeds import load_all_clip_scores
from aac_subsampling.evaluation import METRIC_NAMES

COMPARISON_COLUMNS = [
    "metric",
    "M",
    "difference",
    "ci_low",
    "ci_high",
    "share_better",
    "n_seeds",
    "n_clips",
    "n_resamples",
    "baseline_M",
    "score",
    "baseline_score",
    "confidence",
    "seeds",
    "unavailable",
]


def compare_to_baseline(
    results_dir: Path | str,
    records: Mapping[RunKey, Mapping[str, Any]] | None = None,
    *,
    baseline: int = 1,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """``comparisons.csv``: one row per (metric, M != baseline); see the module docstring.

    ``score`` and ``baseline_score`` are the seed-mean corpus scores on all clips (recomputed from
    the per-clip files, so ``difference = score - baseline_score`` exactly); ``seeds`` lists the
    seeds used. A metric unavailable on either side gives an empty row with the reason. Raises
    ``ValueError`` when M = ``baseline`` was not evaluated. Deterministic for a given ``seed``.
    """
    if n_resamples < 1:
        raise ValueError("n_resamples must be positive")
    records = dict(records) if records is not None else load_evaluation_records(results_dir)
    by_factor = seeds_by_factor(records)
    if baseline not in by_factor:
        raise ValueError(
            f"{results_dir}: no evaluated run of M={baseline} to compare against (evaluated: {sorted(by_factor)})"
        )
    runs = load_all_clip_scores(results_dir, sorted(records))
    n_clips = next(iter(runs.values())).n_clips
    weights = resampling.draw_weights(n_clips, n_resamples, seed)
    everything = resampling.full_weights(n_clips)
    rows = []
    for metric in METRIC_NAMES:
        for factor, seeds in by_factor.items():
            if factor == baseline:
                continue
            both = [
                s
                for s in seeds
                if s in by_factor[baseline]
                and np.isfinite(metric_value(records[(s, factor)], metric))
                and np.isfinite(metric_value(records[(s, baseline)], metric))
            ]
            row: dict[str, Any] = {
                "metric": metric,
                "M": factor,
                "n_seeds": len(both),
                "n_clips": n_clips,
                "n_resamples": n_resamples,
                "baseline_M": baseline,
                "confidence": confidence,
                "seeds": " ".join(str(s) for s in both),
                "unavailable": "",
            }
            if not both:
                side_records = [records[(s, m)] for m in (factor, baseline) for s in by_factor[m]]
                row["unavailable"] = unavailable_reason(side_records, metric) or "no seed evaluated both sides"
                rows.append(row)
                continue
            ours = [runs[(s, factor)] for s in both]
            theirs = [runs[(s, baseline)] for s in both]
            rows.append(row | paired_difference(ours, theirs, metric, weights, everything, confidence))
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def paired_difference(
    ours: Sequence[ClipScores],
    theirs: Sequence[ClipScores],
    metric: str,
    weights: np.ndarray,
    everything: np.ndarray | None = None,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Seed-mean score of ``ours`` minus that of ``theirs`` (seed-matched runs on the same clips, in the same
    order), its percentile interval over the replicates ``weights`` (:func:`.resampling.draw_weights`) and
    the share of replicates in which ``ours`` scores strictly higher."""
    if len(ours) != len(theirs) or not ours:
        raise ValueError(f"paired runs must come in seed-matched pairs (got {len(ours)} and {len(theirs)})")
    everything = resampling.full_weights(ours[0].n_clips) if everything is None else everything
    score = float(resampling.seed_mean_scores(ours, metric, everything)[0])
    base = float(resampling.seed_mean_scores(theirs, metric, everything)[0])
    replicates = resampling.seed_mean_scores(ours, metric, weights) - resampling.seed_mean_scores(
        theirs, metric, weights
    )
    low, high = resampling.percentile_interval(replicates, confidence)
    return {
        "difference": score - base,
        "ci_low": low,
        "ci_high": high,
        "share_better": float(np.mean(replicates > 0)),
        "score": score,
        "baseline_score": base,
    }
