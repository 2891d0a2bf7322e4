"""Audio-blind floors: captions said for every clip, which a model that listens must beat.

* ``constant``: the development caption most typical of the others (:func:`.context.constant_caption`), the
  best single caption a model could learn to say without listening.
* ``language_prior``: what the paper's decoder says when it has learnt only which word is common where
  (:func:`language_prior_caption`). Its decoder gets z at every step and never its previous word, so a model
  whose z carries nothing about the audio can at best emit the most frequent word at each position. The
  published models of the earlier quick profile sat exactly there ("a car is then the a in in").

:func:`compare_to_floors` pairs every M (seed-mean, seed-matched clips) with each floor on the same
evaluation clips, as :mod:`.paired` pairs M with M = 1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from aac_subsampling.analysis import resampling
from aac_subsampling.analysis.context import constant_caption
from aac_subsampling.analysis.paired import paired_difference
from aac_subsampling.analysis.records import (
    ClipScores,
    RunKey,
    align_clips,
    load_evaluation_records,
    read_clip_scores,
    seeds_by_factor,
)
from aac_subsampling.analysis.seeds import load_all_clip_scores
from aac_subsampling.evaluation import METRIC_NAMES
from aac_subsampling.experiment import layout
from aac_subsampling.method.tokens import EOS, normalise_caption

__all__ = ["FLOOR_NAMES", "FLOOR_COLUMNS", "language_prior_caption", "floor_captions", "compare_to_floors"]

FLOOR_NAMES = ("constant", "language_prior")
FLOOR_COLUMNS = [
    "metric",
    "M",
    "floor",
    "difference",
    "ci_low",
    "ci_high",
    "share_better",
    "score",
    "floor_score",
    "n_seeds",
    "n_clips",
    "n_resamples",
    "seeds",
]


def language_prior_caption(captions: Sequence[str]) -> str:
    """The most frequent normalised word at each position over ``captions``, up to (not including) the first
    position where ``<eos>`` (a caption that has ended) is the most frequent token.

    Ties go to the word seen first in the captions' order, so the result depends only on the captions.
    """
    sequences = [normalise_caption(caption) for caption in captions]
    if not sequences:
        raise ValueError("no captions to build a language-prior caption from")
    words: list[str] = []
    for position in range(max(len(s) for s in sequences) + 1):
        counts = Counter(s[position] if position < len(s) else EOS for s in sequences)
        best = max(counts.values())
        word = next(w for w in counts if counts[w] == best)  # Counter keeps first-seen order
        if word == EOS:
            break
        words.append(word)
    return " ".join(words)


def floor_captions(development_captions: Sequence[str], seed: int = 0) -> dict[str, str]:
    """Each floor's caption, made from the development captions only."""
    return {
        "constant": constant_caption(list(development_captions), seed=seed),
        "language_prior": language_prior_caption(development_captions),
    }


def load_floor_scores(results_dir: Path | str, name: str) -> ClipScores:
    """A floor's per-clip scores (written by :func:`aac_subsampling.analysis.summary.evaluate_floors`)."""
    return read_clip_scores(layout.floor_clip_scores(results_dir, name), seed=-1, factor=0)


def compare_to_floors(
    results_dir: Path | str,
    records: Mapping[RunKey, Mapping[str, Any]] | None = None,
    *,
    floors: Sequence[str] = FLOOR_NAMES,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """``floors.csv``: one row per (metric, M, floor): seed-mean score of M minus the floor's, with its paired
    percentile interval (both scored on the same drawn clips in every replicate)."""
    records = dict(records) if records is not None else load_evaluation_records(results_dir)
    runs = load_all_clip_scores(results_dir, sorted(records))
    floor_scores = {name: load_floor_scores(results_dir, name) for name in floors}
    n_clips = next(iter(runs.values())).n_clips
    weights = resampling.draw_weights(n_clips, n_resamples, seed)
    rows = []
    for metric in METRIC_NAMES:
        for factor, seeds in seeds_by_factor(records).items():
            ours = [runs[(s, factor)] for s in seeds]
            for name, floor in floor_scores.items():
                if not all(resampling.is_available(r, metric) for r in [*ours, floor]):
                    continue
                floor_run = align_clips([ours[0], floor])[1]  # the runs' clip order; an error if other clips
                result = paired_difference(ours, [floor_run] * len(ours), metric, weights, confidence=confidence)
                rows.append(
                    {
                        "metric": metric,
                        "M": factor,
                        "floor": name,
                        **result,
                        "floor_score": result["baseline_score"],
                        "n_seeds": len(seeds),
                        "n_clips": n_clips,
                        "n_resamples": n_resamples,
                        "seeds": " ".join(str(s) for s in seeds),
                    }
                )
    return pd.DataFrame(rows, columns=FLOOR_COLUMNS)
