"""Does every M use the audio? Each run's captions with the clips' own audio against the same clips decoded
from other clips' audio (:mod:`aac_subsampling.evaluation.swapped_audio`), paired on the same clips and pooled
over seeds.

A model whose captions depend on the audio drops clearly when its audio is swapped (the interval of
``own - swapped`` lies above 0); a model that ignores the audio does not move.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from aac_subsampling.analysis import resampling
from aac_subsampling.analysis.paired import paired_difference
from aac_subsampling.analysis.records import (
    RunKey,
    align_clips,
    load_evaluation_records,
    read_clip_scores,
    seeds_by_factor,
)
from aac_subsampling.analysis.seeds import load_all_clip_scores
from aac_subsampling.evaluation import METRIC_NAMES
from aac_subsampling.experiment import layout

__all__ = ["AUDIO_DEPENDENCE_COLUMNS", "audio_dependence"]

AUDIO_DEPENDENCE_COLUMNS = [
    "metric",
    "M",
    "seed",
    "difference",
    "ci_low",
    "ci_high",
    "share_better",
    "score",
    "swapped_score",
    "n_seeds",
    "n_clips",
    "n_resamples",
]
POOLED = "pooled"  # the ``seed`` of the rows pooled over every seed of an M


def audio_dependence(
    results_dir: Path | str,
    records: Mapping[RunKey, Mapping[str, Any]] | None = None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """``audio_dependence.csv``: per metric and M, own-audio minus swapped-audio score, for each seed and pooled
    (``seed == "pooled"``: seed-mean of both sides, each replicate drawing one clip set for every seed).
    Runs evaluated without the swapped decode (older records, a one-clip split) are left out."""
    records = dict(records) if records is not None else load_evaluation_records(results_dir)
    keys = [key for key in sorted(records) if layout.swapped_clip_scores(results_dir, *key).is_file()]
    if not keys:
        return pd.DataFrame(columns=AUDIO_DEPENDENCE_COLUMNS)
    own = load_all_clip_scores(results_dir, keys)
    swapped = {
        key: align_clips([own[key], read_clip_scores(layout.swapped_clip_scores(results_dir, *key), *key)])[1]
        for key in keys
    }
    n_clips = next(iter(own.values())).n_clips
    weights = resampling.draw_weights(n_clips, n_resamples, seed)
    by_factor = seeds_by_factor(keys)
    rows = []
    for metric in METRIC_NAMES:
        for factor, seeds in sorted(by_factor.items()):
            if not all(resampling.is_available(own[(s, factor)], metric) for s in seeds):
                continue
            groups = [(str(s), [s]) for s in seeds] + [(POOLED, seeds)]
            for label, group in groups:
                result = paired_difference(
                    [own[(s, factor)] for s in group],
                    [swapped[(s, factor)] for s in group],
                    metric,
                    weights,
                    confidence=confidence,
                )
                rows.append(
                    {
                        "metric": metric,
                        "M": factor,
                        "seed": label,
                        **result,
                        "swapped_score": result["baseline_score"],
                        "n_seeds": len(group),
                        "n_clips": n_clips,
                        "n_resamples": n_resamples,
                    }
                )
    return pd.DataFrame(rows, columns=AUDIO_DEPENDENCE_COLUMNS)
