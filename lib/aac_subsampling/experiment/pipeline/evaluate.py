"""Step 3, notebook 03: captions of the evaluation split, their metrics with intervals, the same clips decoded
from other clips' audio, the facts the captions get right, and Table 2's columns; ``evaluation.json``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aac_subsampling.base.devices import peak_memory, reset_peak_memory, resolve_device, synchronize
from aac_subsampling.evaluation.swapped_audio import audio_partners, swap_audio
from aac_subsampling.experiment import layout, runkey
from aac_subsampling.experiment.pipeline.prepare import PreparedData, load_prepared
from aac_subsampling.experiment.pipeline.records import write_json
from aac_subsampling.experiment.pipeline.train import Overrides, run_config
from aac_subsampling.experiment.runinfo import run_metadata
from aac_subsampling.method.config import Config
from aac_subsampling.method.decoding import greedy_decode
from aac_subsampling.method.model import encoder_output_length, measure_encoder_lengths, paper_parameter_count
from aac_subsampling.method.paper import CLOTHO_FRAME_RANGE, PAPER_VOCABULARY_SIZE
from aac_subsampling.method.tokens import Vocabulary
from aac_subsampling.method.training import build_model


def load_trained_model(results_dir: Path, seed: int, factor: int, config: Config, vocabulary_size: int):
    model = build_model(config, vocabulary_size)
    state = torch.load(
        layout.run_dir(results_dir, seed, factor) / layout.MODEL_FILE, map_location="cpu", weights_only=True
    )
    model.load_state_dict(state)
    return model.to(resolve_device(config.device))


def timed_decode(
    model,
    clip_ids: list[str],
    features: dict[str, np.ndarray],
    vocabulary: Vocabulary,
    max_steps: int,
    batch_size: int,
    progress: bool,
    pad_value=None,
    beam_size: int = 1,
) -> tuple[dict[str, str], float]:
    """Captions (greedy, or beam search with ``beam_size`` > 1) and the wall time they took, after one untimed
    warm-up batch (the first batch pays for lazy initialisation: kernels, allocator, thread pools) and
    synchronised on a GPU."""
    device = next(model.parameters()).device
    warm_up = clip_ids[:batch_size]
    greedy_decode(
        model, warm_up, features, vocabulary, max_steps, batch_size, False, pad_value=pad_value, beam_size=beam_size
    )
    synchronize(device)
    started = time.perf_counter()
    predictions = greedy_decode(
        model, clip_ids, features, vocabulary, max_steps, batch_size, progress, pad_value=pad_value, beam_size=beam_size
    )
    synchronize(device)
    return predictions, time.perf_counter() - started


def evaluate_subsampling_model(
    profile_name: str,
    factor: int,
    results_dir: Path,
    seed: int = 0,
    device: str = "auto",
    bootstrap_resamples: int = 1000,
    progress: bool = True,
    max_epochs: int | None = None,
    overrides: Overrides | None = None,
    prepared_dir: Path | None = None,
) -> dict[str, Any]:
    """Caption the evaluation split with one (seed, M) model, score it and measure Table 2's columns;
    writes its ``evaluation.json``. ``overrides`` and ``prepared_dir``: as for :func:`train_subsampling_model`."""
    from aac_subsampling.evaluation import evaluate_captions

    results_dir = Path(results_dir)
    prepared = load_prepared(Path(prepared_dir) if prepared_dir is not None else results_dir)
    config = run_config(profile_name, factor, seed, device, max_epochs, overrides)
    target = resolve_device(config.device)
    reset_peak_memory(target)
    model = load_trained_model(results_dir, seed, factor, config, len(prepared.vocabulary))
    directory = layout.run_dir(results_dir, seed, factor)

    clip_ids = sorted(clip.file_name for clip in prepared.clips["evaluation"])
    load = prepared.features("evaluation", config.features)
    features = {clip: load(clip) for clip in clip_ids}  # in memory: time the model, not the disk
    predictions, inference_time = timed_decode(
        model,
        clip_ids,
        features,
        prepared.vocabulary,
        config.decode.max_steps,
        config.train.batch_size,
        progress,
        pad_value=prepared.pad_value(config),
        beam_size=config.decode.beam_size,
    )

    references = prepared.references("evaluation")
    evaluation = evaluate_captions(predictions, references, work_dir=directory)
    evaluation.write(directory, stem=layout.METRICS_STEM)
    intervals = evaluation.bootstrap(n_resamples=bootstrap_resamples, seed=seed)
    intervals.to_csv(directory / layout.BOOTSTRAP_FILE, index=False)

    # Does the model listen? The same clips decoded from other clips' audio (the pairing depends on the seed
    # only, so every M of a seed sees the same swaps), scored against the clips' own references.
    swapped, swapped_predictions, partners = None, None, None
    if len(clip_ids) >= 2:
        partners = audio_partners(clip_ids, seed)
        swapped_predictions = greedy_decode(
            model,
            clip_ids,
            swap_audio(features, partners),
            prepared.vocabulary,
            config.decode.max_steps,
            config.train.batch_size,
            progress=False,
            pad_value=prepared.pad_value(config),
            beam_size=config.decode.beam_size,
        )
        swapped = evaluate_captions(swapped_predictions, references, work_dir=directory)
        swapped.write(directory, stem=layout.SWAPPED_METRICS_STEM)
    else:
        print("one evaluation clip: no other clip's audio to decode it from; the audio-dependence check is skipped")
        for stale in directory.glob(f"{layout.SWAPPED_METRICS_STEM}_*"):  # an earlier evaluation's
            stale.unlink()
    write_predictions(directory / layout.PREDICTIONS_FILE, predictions, references, swapped_predictions, partners)
    facts = score_corpus_facts(prepared, "evaluation", predictions)
    if facts is not None:
        facts.to_csv(directory / layout.FACTS_FILE, float_format="%.6g")
    else:
        (directory / layout.FACTS_FILE).unlink(missing_ok=True)

    frames = [len(features[c]) for c in clip_ids]
    n_layers = config.model.encoder_layers
    lengths = measure_encoder_lengths(model.encoder, CLOTHO_FRAME_RANGE)
    record = {
        "M": factor,
        "seed": seed,
        "profile": profile_name,
        "n_clips": len(clip_ids),
        "max_epochs": config.train.max_epochs,
        "metrics": evaluation.corpus,
        "unavailable": evaluation.unavailable,
        "tokenizer": evaluation.tokenizer,
        "swapped_audio": None
        if swapped is None
        else {"metrics": swapped.corpus, "partner_seed": seed, "files": layout.SWAPPED_METRICS_STEM},
        "facts": None if facts is None else {name: finite_mean(facts[name]) for name in facts.columns},
        "distinct_captions": len(set(predictions.values())),
        "inference_time_s": inference_time,
        "device": str(target),
        "encoder_lengths": {str(k): v for k, v in lengths.items()},
        "corpus_encoder_lengths": {
            "min": encoder_output_length(min(frames), factor, n_layers, config.model.subsampling_mode),
            "max": encoder_output_length(max(frames), factor, n_layers, config.model.subsampling_mode),
            "frames_min": min(frames),
            "frames_max": max(frames),
        },
        "n_layers": n_layers,
        "parameters_D4367": paper_parameter_count(PAPER_VOCABULARY_SIZE, config.model),
        "parameters_trained": sum(p.numel() for p in model.parameters()),
        "run": run_metadata(seed, str(target)),
        "peak_memory": peak_memory(target),
        "key": runkey.evaluation_key(directory / layout.TRAINING_RECORD, bootstrap_resamples),
    }
    write_json(directory / layout.EVALUATION_RECORD, record)
    return record


def write_predictions(
    path: Path,
    predictions: dict[str, str],
    references: dict[str, list[str]],
    swapped: dict[str, str] | None = None,
    partners: dict[str, str] | None = None,
) -> None:
    """``predictions.csv``: each clip's caption, its references and, where given, the caption decoded from its
    audio partner's features (``prediction_swapped_audio``, ``audio_from``)."""
    import pandas as pd

    rows = []
    for clip, text in predictions.items():
        row = {"file_name": clip, "prediction": text}
        if swapped is not None and partners is not None:
            row |= {"prediction_swapped_audio": swapped[clip], "audio_from": partners[clip]}
        rows.append(row | {f"caption_{i + 1}": r for i, r in enumerate(references[clip])})
    pd.DataFrame(rows).to_csv(path, index=False)


def finite_mean(values) -> float | None:
    """Mean of the finite values (facts are NaN where they do not apply); None when there is none."""
    array = np.asarray(values, dtype=float)
    array = array[np.isfinite(array)]
    return float(array.mean()) if array.size else None


def score_corpus_facts(prepared: PreparedData, split: str, predictions: dict[str, str]):
    """Per-clip facts (events named, counts, order, loudness) of ``predictions`` where the corpus records its
    ground truth (``events_<split>.json`` of the synthetic corpora); None for other corpora (Clotho)."""
    from aac_subsampling.data.synthetic.facts import load_clip_facts, score_predictions

    if prepared.data_dir is None or not (prepared.data_dir / f"events_{split}.json").is_file():
        return None
    return score_predictions(predictions, load_clip_facts(prepared.data_dir, split))
