"""What sub-sampling keeps and loses, where the answers are known: the facts table of the synthetic corpora.

Each evaluated caption is scored on its clip's ground truth (:mod:`aac_subsampling.data.synthetic.facts`:
events named, counts, order, loudness). Per M, a fact's score is the mean over the clips where it applies
(NaN elsewhere: order needs two events, counts a counted event), averaged over seeds; its interval resamples
the clips, every seed on the same draw, as Table 1's intervals do. The floors' captions are scored the same
way, so the table shows what a caption that ignores the audio gets right by chance.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd

from aac_subsampling.analysis import resampling
from aac_subsampling.analysis.floors import FLOOR_NAMES
from aac_subsampling.data.synthetic.facts import FACT_NAMES
from aac_subsampling.experiment import layout

__all__ = ["FACTS_COLUMNS", "facts_table", "read_facts"]

FACTS_COLUMNS = ["fact", "system", "M", "mean", "std", "ci_low", "ci_high", "n_seeds", "n_clips_applicable"]


def read_facts(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={"clip_id": str}, keep_default_na=False, na_values=[""]).set_index("clip_id")
    missing = [name for name in FACT_NAMES if name not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks the fact column(s) {missing}")
    return frame


def _weighted_nanmean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per replicate (rows of ``weights``): the weighted mean of the finite values."""
    finite = np.isfinite(values)
    total = weights[:, finite].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, weights[:, finite] @ values[finite] / total, np.nan)


def facts_table(
    results_dir: Path | str,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    seeds: Collection[int] | None = None,
):
    """``facts.csv``: one row per (fact, system): each evaluated M (``system`` "M=<m>") and each floor. Empty
    when no run has facts (a corpus without ground truth, e.g. Clotho). ``seeds``: only those runs (None: all)."""
    runs: dict[tuple[str, int | None], list[pd.DataFrame]] = {}
    for run_seed, factor in layout.completed_runs(results_dir):
        if seeds is not None and run_seed not in seeds:
            continue
        path = layout.facts(results_dir, run_seed, factor)
        if path.is_file():
            runs.setdefault((f"M={factor}", factor), []).append(read_facts(path))
    if not runs:
        return pd.DataFrame(columns=FACTS_COLUMNS)
    for name in FLOOR_NAMES:
        path = layout.floor_dir(results_dir, name) / layout.FACTS_FILE
        if path.is_file():
            runs[(name, None)] = [read_facts(path)]
    clips = next(iter(runs.values()))[0].index
    weights = resampling.draw_weights(len(clips), n_resamples, seed)
    everything = resampling.full_weights(len(clips))
    tail = (1.0 - confidence) / 2.0
    rows = []
    for fact in FACT_NAMES:
        for (system, factor), frames in runs.items():
            columns = []
            for frame in frames:
                if set(frame.index) != set(clips):
                    raise ValueError(f"the facts of {system} cover other clips than the first run's")
                columns.append(frame.loc[clips, fact].to_numpy(dtype=float))
            per_seed = np.array([_weighted_nanmean(values, everything)[0] for values in columns])
            replicates = np.mean([_weighted_nanmean(values, weights) for values in columns], axis=0)
            finite = replicates[np.isfinite(replicates)]
            low, high = np.quantile(finite, [tail, 1.0 - tail]) if finite.size else (np.nan, np.nan)
            rows.append(
                {
                    "fact": fact,
                    "system": system,
                    "M": factor,
                    "mean": float(np.mean(per_seed)),
                    "std": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else np.nan,
                    "ci_low": float(low),
                    "ci_high": float(high),
                    "n_seeds": len(frames),
                    "n_clips_applicable": int(np.isfinite(columns[0]).sum()),
                }
            )
    table = pd.DataFrame(rows, columns=FACTS_COLUMNS)
    table["M"] = table["M"].astype("Int64")  # empty for the floors' rows
    return table
