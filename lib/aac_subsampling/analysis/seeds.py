"""Table 1 over seeds: for each metric and M, the seed-mean, its spread and a pooled bootstrap interval.

* ``mean``, ``std``, ``n_seeds``: over the seeds' corpus scores as their ``evaluation.json`` records
  give them (``std`` with ddof = 1, empty for a single seed). A metric a record gives as null
  (unavailable, e.g. SPICE without its jars) is left out of that seed's numbers, and a cell with no
  seed at all stays empty: never 0.
* ``ci_low``, ``ci_high``: the percentile bootstrap interval of the seed-mean corpus score over
  evaluation clips, pooled over seeds: each replicate draws one clip set and scores every seed on it
  (:mod:`.resampling`). It describes which clips happened to be in the evaluation split, for this
  set of seeds.
* ``seed<S>``: each seed's own score, so that nothing is hidden behind the mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aac_subsampling.analysis import resampling
from aac_subsampling.analysis.records import (
    ClipScores,
    RunKey,
    align_clips,
    load_clip_scores,
    load_evaluation_records,
    metric_value,
    seeds_by_factor,
    unavailable_reason,
)
from aac_subsampling.evaluation import METRIC_NAMES

SUMMARY_COLUMNS = [
    "metric",
    "M",
    "mean",
    "std",
    "n_seeds",
    "ci_low",
    "ci_high",
    "confidence",
    "n_clips",
    "n_resamples",
    "method",
    "unavailable",
]


def seed_column(seed: int) -> str:
    """Name of a seed's own column in ``table1_seeds.csv``."""
    return f"seed{int(seed)}"


def load_all_clip_scores(results_dir: Path | str, keys: list[RunKey]) -> dict[RunKey, ClipScores]:
    """Per-clip scores of every (seed, M), aligned to one clip order (they must cover the same clips)."""
    runs = [load_clip_scores(results_dir, seed, factor) for seed, factor in keys]
    return {(run.seed, run.factor): run for run in align_clips(runs)}


def seed_summary(
    results_dir: Path | str,
    records: Mapping[RunKey, Mapping[str, Any]] | None = None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Long-form Table 1 over seeds: one row per (metric, evaluated M); see the module docstring.

    ``records``: the folder's evaluation records (read from ``results_dir`` when omitted).
    ``n_resamples = 0`` skips the bootstrap (the interval columns stay empty and the per-clip files
    are not read). The same ``seed`` gives the same clip draws as :mod:`.paired`.
    """
    records = dict(records) if records is not None else load_evaluation_records(results_dir)
    all_seeds = sorted({s for s, _ in records})
    by_factor = seeds_by_factor(records)
    runs = load_all_clip_scores(results_dir, sorted(records)) if n_resamples > 0 and records else {}
    n_clips = next(iter(runs.values())).n_clips if runs else None
    weights = resampling.draw_weights(n_clips, n_resamples, seed) if runs else None
    rows = []
    for metric in METRIC_NAMES:
        for factor, seeds in by_factor.items():
            values = {s: metric_value(records[(s, factor)], metric) for s in seeds}
            scored = [s for s in seeds if np.isfinite(values[s])]
            row: dict[str, Any] = {
                "metric": metric,
                "M": factor,
                "n_seeds": len(scored),
                "confidence": confidence,
                "n_clips": n_clips,
                "n_resamples": n_resamples if runs else 0,
                "mean": float(np.mean([values[s] for s in scored])) if scored else np.nan,
                "std": float(np.std([values[s] for s in scored], ddof=1)) if len(scored) > 1 else np.nan,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "method": "",
                "unavailable": unavailable_reason([records[(s, factor)] for s in seeds if s not in scored], metric),
                **{seed_column(s): values.get(s, np.nan) for s in all_seeds},
            }
            if scored and runs:
                pooled = [_checked(runs[(s, factor)], metric) for s in scored]
                replicates = resampling.seed_mean_scores(pooled, metric, weights)
                row["ci_low"], row["ci_high"] = resampling.percentile_interval(replicates, confidence)
                row["method"] = resampling.method(pooled[0], metric)
            rows.append(row)
    return pd.DataFrame(rows, columns=[*SUMMARY_COLUMNS, *(seed_column(s) for s in all_seeds)])


def _checked(run: ClipScores, metric: str) -> ClipScores:
    # The record has a score, so the per-clip file must have the column to resample.
    if not resampling.is_available(run, metric):
        raise ValueError(f"{run.source}: evaluation.json gives {metric} a score but the per-clip file has none")
    return run


def seed_mean_table(summary: pd.DataFrame, factors: list[int]) -> pd.DataFrame:
    """The paper's shape from the long form: rows BLEU1..SPIDEr, columns ``M=1``..; cells the seed-mean."""
    wide = summary.pivot(index="metric", columns="M", values="mean") if not summary.empty else pd.DataFrame()
    columns = {f"M={m}": (wide[m] if m in wide.columns else np.nan) for m in factors}
    frame = pd.DataFrame(columns, index=pd.Index(METRIC_NAMES, name="metric"))
    return frame.reindex(pd.Index(METRIC_NAMES, name="metric")).astype(float)
