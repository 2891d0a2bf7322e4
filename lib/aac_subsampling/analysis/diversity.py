"""Diversity beside accuracy: how many different captions and words each M produces on the evaluation split.

A model can score well on n-gram metrics by saying a few safe captions; these counts show whether it
does. Captions and words are compared after the project's caption normalisation
(:func:`aac_subsampling.method.tokens.normalise_caption`: lower-cased, ``, . ! ? ; : "`` removed, split on white
space), so "A dog barks." and "a dog barks" are one caption. ``distinct_words`` is what aac-metrics
calls "vocab". The references' figures sit beside the models': over all references of every clip, and
over one reference per clip (``caption_1``), the fair comparison to one prediction per clip.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from aac_subsampling.analysis.records import load_predictions, reference_columns
from aac_subsampling.experiment import layout
from aac_subsampling.method.tokens import normalise_caption

DIVERSITY_COLUMNS = ["source", "M", "seed", "n_captions", "distinct_captions", "distinct_words", "mean_words"]
PREDICTIONS, MEAN_OVER_SEEDS = "predictions", "predictions (mean over seeds)"


def caption_diversity(captions: Iterable[str]) -> dict[str, float]:
    """``n_captions``, ``distinct_captions``, ``distinct_words`` (vocabulary size) and ``mean_words`` of a
    set of captions, compared after normalisation (an empty caption counts as a caption with no words)."""
    normalised = [tuple(normalise_caption(c)) for c in captions]
    words = {w for caption in normalised for w in caption}
    return {
        "n_captions": len(normalised),
        "distinct_captions": len(set(normalised)),
        "distinct_words": len(words),
        "mean_words": float(np.mean([len(c) for c in normalised])) if normalised else np.nan,
    }


def reference_diversity(predictions: pd.DataFrame) -> list[dict[str, object]]:
    """Rows for the references of a predictions table: all of them, and ``caption_1`` alone."""
    columns = reference_columns(predictions)
    if not columns:
        raise ValueError("the predictions table has no caption_<i> reference columns")
    everything = [c for column in columns for c in predictions[column]]
    return [
        {"source": f"references (all {len(columns)} per clip)", **caption_diversity(everything)},
        {"source": f"references ({columns[0]} per clip)", **caption_diversity(predictions[columns[0]])},
    ]


def diversity_table(results_dir: Path | str) -> pd.DataFrame:
    """``diversity.csv``: per (seed, M) the predictions' figures, per M their mean over seeds (``seed``
    empty), and the references' rows (``M`` and ``seed`` empty), from each run's ``predictions.csv``."""
    rows: list[dict[str, object]] = []
    first = None
    for seed, factor in layout.completed_runs(results_dir):
        predictions = load_predictions(results_dir, seed, factor)
        first = predictions if first is None else first
        rows.append({"source": PREDICTIONS, "M": factor, "seed": seed, **caption_diversity(predictions["prediction"])})
    per_seed = pd.DataFrame(rows, columns=DIVERSITY_COLUMNS)
    means = []
    for factor, group in per_seed.groupby("M", sort=True):
        means.append(
            {
                "source": MEAN_OVER_SEEDS,
                "M": factor,
                "seed": np.nan,
                **{c: float(group[c].mean()) for c in DIVERSITY_COLUMNS[3:]},
            }
        )
    references = reference_diversity(first) if first is not None else []
    frame = pd.concat(
        [per_seed, pd.DataFrame(means, columns=DIVERSITY_COLUMNS), pd.DataFrame(references, columns=DIVERSITY_COLUMNS)],
        ignore_index=True,
    )
    return frame.astype({"M": "Int64", "seed": "Int64"})
