"""Question (e) beside its paired comparisons: what each decoder's captions are like, per M.

The paired comparisons (:mod:`.study`) say whether the autoregressive decoders score differently from the
paper's and whether sub-sampling hurts each of them. This table says *how*: whether the captions depend on the
audio (own minus swapped audio, :mod:`aac_subsampling.analysis.audio_dependence`), which facts of the synthetic
clips they get right (:mod:`aac_subsampling.analysis.facts`), how often they repeat a word back to back
(:mod:`aac_subsampling.analysis.fluency`), and how long each trained. Every variant folder is laid out like a
results folder, so the main analyses read it unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from aac_subsampling.analysis.audio_dependence import POOLED, audio_dependence
from aac_subsampling.analysis.facts import facts_table
from aac_subsampling.analysis.fluency import repeated_word_share
from aac_subsampling.analysis.records import load_evaluation_records, load_predictions, metric_value
from aac_subsampling.experiment import layout
from aac_subsampling.open_questions.study import SUBSAMPLING_QUESTION
from aac_subsampling.open_questions.variants import variant_dir

__all__ = ["DECODERS", "decoder_examples", "decoder_table", "missing_decoder_runs"]

DECODERS = SUBSAMPLING_QUESTION.variants  # the paper's decoder first
TABLE_METRICS = ("CIDEr", "METEOR")
TABLE_FACTS = ("event_recall", "count_right", "order_right")


def _seed_mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def missing_decoder_runs(results_dir: Path | str, seeds: Sequence[int], factors: Sequence[int]) -> list[str]:
    """The (decoder, seed, M) runs of question (e) without an evaluation record (e.g. a study published before
    question (e) existed), as ``"autoregressive seed 0 M=16"``."""
    return [
        f"{decoder} seed {s} M={m}"
        for decoder in DECODERS
        for m in sorted(factors)
        for s in seeds
        if not layout.evaluation_record(variant_dir(results_dir, decoder), s, m).is_file()
    ]


def decoder_table(
    results_dir: Path | str, seeds: Sequence[int], factors: Sequence[int], n_resamples: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """One row per decoder and M: seed means of the corpus scores, the pooled CIDEr drop when the audio is
    swapped (with its interval), the facts' seed means, the share of captions repeating a word, and the optimiser
    steps trained (seed mean). Missing runs raise, naming the record."""
    rows = []
    for decoder in DECODERS:
        folder = variant_dir(results_dir, decoder)
        records = {key: r for key, r in load_evaluation_records(folder).items() if key[0] in seeds}
        dependence = audio_dependence(folder, records, n_resamples=n_resamples, seed=seed)
        facts = facts_table(folder, n_resamples=n_resamples, seed=seed, seeds=seeds)
        for factor in sorted(factors):
            missing = [s for s in seeds if (s, factor) not in records]
            if missing:
                raise FileNotFoundError(
                    f"{decoder}: no evaluation record for seed(s) {missing} at M={factor} under {folder}"
                )
            row: dict[str, object] = {"decoder": decoder, "M": factor}
            for metric in TABLE_METRICS:
                row[metric] = _seed_mean([metric_value(records[(s, factor)], metric) for s in seeds])
            drop = dependence[
                (dependence["metric"] == "CIDEr") & (dependence["M"] == factor) & (dependence["seed"] == POOLED)
            ]
            row["CIDEr drop, swapped audio"] = float(drop["difference"].iloc[0]) if len(drop) else np.nan
            row["drop ci_low"] = float(drop["ci_low"].iloc[0]) if len(drop) else np.nan
            row["drop ci_high"] = float(drop["ci_high"].iloc[0]) if len(drop) else np.nan
            for fact in TABLE_FACTS:
                value = facts[(facts["fact"] == fact) & (facts["M"] == factor)] if len(facts) else facts
                row[fact] = float(value["mean"].iloc[0]) if len(value) else np.nan
            row["repeated word"] = _seed_mean(
                [repeated_word_share(load_predictions(folder, s, factor)["prediction"]) for s in seeds]
            )
            trainings = [json.loads(layout.training_record(folder, s, factor).read_text()) for s in seeds]
            row["steps"] = _seed_mean([float(t.get("steps") or np.nan) for t in trainings])
            rows.append(row)
    return pd.DataFrame(rows)


def decoder_examples(results_dir: Path | str, seed: int, factor: int, n_clips: int = 5) -> pd.DataFrame:
    """Each decoder's caption for the first ``n_clips`` evaluation clips (file-name order) beside the clip's
    first reference, for one seed and M."""
    frames = {
        decoder: load_predictions(variant_dir(results_dir, decoder), seed, factor).set_index("file_name")
        for decoder in DECODERS
    }
    first = frames[DECODERS[0]]
    clips = sorted(first.index)[:n_clips]
    table = pd.DataFrame({"clip": clips, "reference (caption_1)": [first.loc[c, "caption_1"] for c in clips]})
    for decoder, frame in frames.items():
        table[decoder] = [frame.loc[c, "prediction"] if c in frame.index else "" for c in clips]
    return table
