"""A small, fully consistent fake results folder, for tests and for previewing tables and figures.

:func:`write_fake_results` writes, for every seed and M, the files the evaluation and training steps
write (``evaluation.json``, ``metrics_per_clip.csv``, ``metrics_stats.csv``, ``predictions.csv``,
``training.json``), with captions made from a few sound-event templates. Scores are *computed* from
those captions with the project's BLEU/ROUGE-L/CIDEr scorers (pure Python, no Java), so per-clip
scores, statistics and corpus scores agree as they do in a real run. METEOR's statistics are derived
from the BLEU unigram counts (exact matches only, a plausible stand-in for the jar's); SPICE and
SPIDEr are unavailable, as on a machine without the CoreNLP jars. Nothing here is a result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from aac_subsampling.evaluation import METRIC_NAMES
from aac_subsampling.evaluation.bleu import BLEU_STAT_COLUMNS, bleu_scores
from aac_subsampling.evaluation.cider import cider_scores
from aac_subsampling.evaluation.meteor import METEOR_STAT_COLUMNS, meteor_from_stats
from aac_subsampling.evaluation.rouge import rouge_scores
from aac_subsampling.experiment import layout
from aac_subsampling.method.paper import CLOTHO_FRAME_RANGE, PAPER_PARAMETERS, SUBSAMPLING_FACTORS

EVENTS = (
    "a dog barks",
    "rain falls on a metal roof",
    "a car passes by on a wet road",
    "birds sing in the trees",
    "people talk in a busy room",
    "water flows in a small stream",
    "a door creaks open slowly",
)
ENDINGS = ("", "loudly", "in the distance", "nearby", "over and over", "while wind blows")
SPICE_REASON = "fake run: SPICE not computed"

Quality = Callable[[int, int], float]  # (seed, M) -> share of clips captioned with their own event


def default_quality(seed: int, factor: int) -> float:
    """Improves with M (0.45 at M = 1 to 0.75 at M = 16) plus a small seed offset."""
    return 0.45 + 0.075 * np.log2(factor) + 0.02 * (seed % 3 - 1)


def fake_references(n_clips: int, rng_seed: int = 0) -> dict[str, list[str]]:
    """Five references per clip, each the clip's event with an ending; clip ids look like file names."""
    rng = np.random.default_rng(rng_seed)
    references = {}
    for i in range(n_clips):
        event = EVENTS[i % len(EVENTS)]
        references[f"clip {i:03d}.wav"] = [f"{event} {rng.choice(ENDINGS)}".strip() for _ in range(5)]
    return references


def _predictions(references: dict[str, list[str]], quality: float, rng: np.random.Generator) -> dict[str, str]:
    out = {}
    for i, clip in enumerate(references):
        own = rng.random() < quality
        event = EVENTS[i % len(EVENTS)] if own else EVENTS[rng.integers(len(EVENTS))]
        out[clip] = f"{event} {rng.choice(ENDINGS[:3])}".strip()
    return out


def _meteor_stats(bleu_counts: np.ndarray) -> np.ndarray:
    """Exact-match-only METEOR statistics from BLEU counts (columns of METEOR_STAT_COLUMNS)."""
    stats = np.zeros((len(bleu_counts), len(METEOR_STAT_COLUMNS)))
    matches = bleu_counts[:, 2 + 4]  # correct unigrams
    bigrams = bleu_counts[:, 2 + 5]
    stats[:, 0], stats[:, 1] = bleu_counts[:, 0], bleu_counts[:, 1]
    stats[:, 4] = stats[:, 5] = matches  # exact module, content words, test and reference side
    stats[:, 20] = np.where(matches > 0, np.maximum(1, matches - bigrams), 0)  # chunks
    stats[:, 21] = stats[:, 22] = matches
    return stats


def evaluate_fake(
    predictions: dict[str, str], references: dict[str, list[str]]
) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """(corpus metrics, per-clip scores, statistics) of already-tokenised captions, without Java."""
    ids = list(references)
    refs, preds = [references[c] for c in ids], [predictions[c] for c in ids]
    bleu_corpus, bleu_clip, counts = bleu_scores(refs, preds)
    rouge_corpus, rouge_clip = rouge_scores(refs, preds)
    cider_corpus, cider_clip = cider_scores(refs, preds)
    meteor = _meteor_stats(counts)
    index = pd.Index(ids, name="clip_id")
    per_clip = pd.DataFrame({m: np.nan for m in METRIC_NAMES}, index=index)
    for k in range(4):
        per_clip[f"BLEU{k + 1}"] = bleu_clip[:, k]
    per_clip["ROUGE_L"], per_clip["CIDEr"], per_clip["METEOR"] = rouge_clip, cider_clip, meteor_from_stats(meteor)
    stats = pd.concat(
        [
            pd.DataFrame(counts, columns=list(BLEU_STAT_COLUMNS), index=index),
            pd.DataFrame(meteor, columns=list(METEOR_STAT_COLUMNS), index=index),
        ],
        axis=1,
    )
    corpus = {
        **{f"BLEU{k + 1}": bleu_corpus[k] for k in range(4)},
        "ROUGE_L": rouge_corpus,
        "CIDEr": cider_corpus,
        "METEOR": float(meteor_from_stats(meteor.sum(0))),
        "SPICE": None,
        "SPIDEr": None,
    }
    return corpus, per_clip, stats


def _history(seed: int, factor: int, rng: np.random.Generator) -> list[dict[str, float]]:
    epochs = 12 + 3 * (seed % 3) + int(np.log2(factor))  # early stopping ends seeds at different epochs
    history, best = [], np.inf
    for epoch in range(epochs):
        loss = 1.2 + 2.5 * np.exp(-epoch / (2.5 + 0.4 * np.log2(factor))) + rng.normal(0, 0.03)
        best = min(best, loss)
        history.append({"epoch": epoch, "loss": float(loss), "seconds": 1.0 + epoch, "best_loss": float(best)})
    return history


def fake_record(
    factor: int, metrics: dict[str, float | None], seed: int, n_clips: int, inference_time_s: float = 10.0
) -> dict[str, object]:
    """An ``evaluation.json`` record with the paper's structural figures for ``factor`` (L = 3)."""
    shortest, longest = CLOTHO_FRAME_RANGE
    unavailable = {m: SPICE_REASON for m in ("SPICE",) if metrics.get(m) is None}
    if metrics.get("SPIDEr") is None:
        unavailable["SPIDEr"] = f"needs SPICE: {SPICE_REASON}"
    return {
        "M": factor,
        "metrics": {m: metrics.get(m) for m in METRIC_NAMES},
        "unavailable": unavailable,
        "inference_time_s": float(inference_time_s),
        "encoder_lengths": {str(frames): frames // factor // factor for frames in CLOTHO_FRAME_RANGE},
        "corpus_encoder_lengths": {
            "min": shortest // factor // factor,
            "max": longest // factor // factor,
            "frames_min": shortest,
            "frames_max": longest,
        },
        "n_layers": 3,
        "parameters_D4367": PAPER_PARAMETERS,
        "n_clips": n_clips,
        "device": "cpu",
        "run": {"seed": seed},
    }


def write_run(
    results_dir: Path | str,
    seed: int,
    factor: int,
    per_clip: pd.DataFrame,
    stats: pd.DataFrame | None,
    record: dict[str, object],
    predictions: pd.DataFrame | None = None,
    history: list[dict[str, float]] | None = None,
) -> Path:
    """Write one run's files where the layout puts them; return its folder."""
    folder = layout.run_dir(results_dir, seed, factor)
    folder.mkdir(parents=True, exist_ok=True)
    per_clip.to_csv(layout.per_clip_scores(results_dir, seed, factor), float_format="%.17g")
    if stats is not None:
        stats.to_csv(layout.per_clip_stats(results_dir, seed, factor), float_format="%.17g")
    if predictions is not None:
        predictions.to_csv(layout.predictions(results_dir, seed, factor), index=False)
    layout.evaluation_record(results_dir, seed, factor).write_text(json.dumps(record, indent=1))
    if history is not None:
        training = {"M": factor, "history": history}
        layout.training_record(results_dir, seed, factor).write_text(json.dumps(training, indent=1))
    return folder


def write_fake_results(
    results_dir: Path | str,
    seeds: Sequence[int] = (0, 1, 2),
    factors: Sequence[int] = SUBSAMPLING_FACTORS,
    n_clips: int = 70,
    quality: Quality = default_quality,
    rng_seed: int = 0,
    listening: bool = False,
) -> Path:
    """Write a fake per-seed results folder (see the module docstring) and return it. ``listening``: also each
    run's swapped-audio scores (captions that ignore the audio) and the two floors (one caption for every clip)."""
    results_dir = Path(results_dir)
    references = fake_references(n_clips, rng_seed)
    if listening:
        for name, caption in {"constant": f"{EVENTS[0]} {ENDINGS[0]}".strip(), "language_prior": "a"}.items():
            _, per_clip, stats = evaluate_fake({c: caption for c in references}, references)
            folder = layout.floor_dir(results_dir, name)
            folder.mkdir(parents=True, exist_ok=True)
            per_clip.to_csv(folder / f"{layout.METRICS_STEM}_per_clip.csv", float_format="%.17g")
            stats.to_csv(folder / f"{layout.METRICS_STEM}_stats.csv", float_format="%.17g")
    for seed in seeds:
        for factor in factors:
            rng = np.random.default_rng([rng_seed, seed, factor])
            predictions = _predictions(references, quality(seed, factor), rng)
            corpus, per_clip, stats = evaluate_fake(predictions, references)
            rows = [
                {"file_name": c, "prediction": predictions[c], **{f"caption_{i + 1}": r for i, r in enumerate(refs)}}
                for c, refs in references.items()
            ]
            seconds = 60.0 / (1 + np.log2(factor)) + rng.normal(0, 0.5)
            write_run(
                results_dir,
                seed,
                factor,
                per_clip,
                stats,
                fake_record(factor, corpus, seed, n_clips, seconds),
                pd.DataFrame(rows),
                _history(seed, factor, rng),
            )
            if listening:
                _, swapped, swapped_stats = evaluate_fake(_predictions(references, 0.0, rng), references)
                path = layout.swapped_clip_scores(results_dir, seed, factor)
                swapped.to_csv(path, float_format="%.17g")
                swapped_stats.to_csv(path.with_name(f"{layout.SWAPPED_METRICS_STEM}_stats.csv"), float_format="%.17g")
    return results_dir
