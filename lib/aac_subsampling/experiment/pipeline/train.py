"""Step 2, notebook 02: one model for one (seed, M), resumable from its checkpoint, validated on the corpus's
validation split where the profile says so; ``training.json``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aac_subsampling.base.atomic import atomic_path
from aac_subsampling.base.devices import peak_memory, reset_peak_memory, resolve_device
from aac_subsampling.base.paths import from_project, relative_to_project
from aac_subsampling.data.clotho_card import captions_file
from aac_subsampling.evaluation.swapped_audio import audio_partners, swap_audio
from aac_subsampling.experiment import layout, runkey
from aac_subsampling.experiment.pipeline.prepare import VALIDATION_SPLIT, PreparedData, corpus_splits, load_prepared
from aac_subsampling.experiment.pipeline.records import write_json
from aac_subsampling.experiment.runinfo import run_metadata
from aac_subsampling.method.batching import CaptionDataset
from aac_subsampling.method.config import Config
from aac_subsampling.method.decoding import greedy_decode
from aac_subsampling.method.tokens import normalise_caption
from aac_subsampling.method.training import Validator, build_model, train_model

Overrides = dict[str, dict[str, Any]]


def run_config(
    profile_name: str,
    factor: int,
    seed: int,
    device: str,
    max_epochs: int | None = None,
    overrides: Overrides | None = None,
) -> Config:
    """One training's configuration: the profile's, a variant's overrides, the epoch cap, where to compute."""
    return runkey.training_config(profile_name, factor, seed, max_epochs, overrides).with_overrides({"device": device})


def training_dataset(prepared: PreparedData, config: Config) -> CaptionDataset:
    development = prepared.clips["development"]
    captions = {clip.file_name: [prepared.vocabulary.encode(c) for c in clip.captions] for clip in development}
    features = prepared.features("development", config.features)
    return CaptionDataset(
        [c.file_name for c in development],
        captions,
        features,
        prepared.vocabulary.eos_index,
        pad_value=prepared.pad_value(config),
    )


def checkpoint_problem(checkpoint: Path, config: Config) -> str | None:
    """None when a checkpoint may be resumed (written under the same settings, device aside); else why not, as a
    phrase after its name: ``"is corrupt (...)"`` (truncated or damaged, e.g. by a kill during a copy), ``"was
    written by an older version (...)"``, or ``"was made with other settings"``."""
    saved, problem = runkey.load_torch_file(checkpoint)  # as training.load_checkpoint reads it
    if problem is not None:
        return problem
    if not isinstance(saved, dict):
        return f"is corrupt (it holds {type(saved).__name__}, not a checkpoint)"
    saved_config = saved.get("config")
    if not isinstance(saved_config, dict):
        return "was written by an older version (it records no configuration)"
    saved_config, current = dict(saved_config), config.to_dict()
    saved_config.pop("device", None)
    current.pop("device", None)
    return None if saved_config == current else "was made with other settings"


def checkpoint_matches(checkpoint: Path, config: Config) -> bool:
    """Whether a checkpoint was written under the same settings (device aside): only then may it be resumed."""
    return checkpoint_problem(checkpoint, config) is None


def discard_unusable_checkpoint(checkpoint: Path, config: Config, resume: bool) -> str | None:
    """Delete the checkpoint unless the training is to resume from it and it can be (:func:`checkpoint_problem`);
    with ``resume`` the reason is printed and returned (e.g. ``"... is corrupt (...); training starts from
    scratch"``)."""
    if not checkpoint.exists():
        return None
    if not resume:
        checkpoint.unlink()
        return None
    problem = checkpoint_problem(checkpoint, config)
    if problem is None:
        return None
    message = f"{relative_to_project(checkpoint)} {problem}; training starts from scratch"
    print(message)
    checkpoint.unlink()
    return message


def epoch_logger(factor: int, seed: int, max_epochs: int) -> Callable[[dict[str, float]], None]:
    """One line per epoch, for headless runs (a per-batch bar would be a log line per refresh)."""

    def log(record: dict[str, float]) -> None:
        validation = ""
        best_epoch = str(int(record["best_epoch"]) + 1) if record["best_epoch"] >= 0 else "none yet"
        if "validation_cider" in record:
            validation = (
                f"; validation CIDEr {record['validation_cider']:.3f} "
                f"(swapped audio {record['validation_cider_swapped']:.3f})"
            )
        print(
            f"M={factor} seed={seed} epoch {int(record['epoch']) + 1}/{max_epochs} (step {int(record['step'])}): "
            f"loss {record['loss']:.4f}{validation}; best epoch {best_epoch} in {record['seconds']:.1f} s",
            flush=True,
        )

    return log


def normalised_references(references: dict[str, list[str]]) -> dict[str, list[str]]:
    """References as the vocabulary writes captions (lower case, no punctuation), for in-training CIDEr-D
    without the metrics' Java tokeniser."""
    return {
        clip: [" ".join(normalise_caption(caption)) for caption in captions] for clip, captions in references.items()
    }


def validation_scorer(prepared: PreparedData, config: Config, seed: int) -> Validator:
    """The training's validator: greedy captions of the validation split, with each clip's own audio and with
    another clip's (:mod:`.swapped_audio`, seeded by the training seed), scored by CIDEr-D."""
    from aac_subsampling.evaluation.cider import cider_scores

    clip_ids = sorted(clip.file_name for clip in prepared.clips[VALIDATION_SPLIT])
    load = prepared.features(VALIDATION_SPLIT, config.features)
    features = {clip: load(clip) for clip in clip_ids}
    swapped = swap_audio(features, audio_partners(clip_ids, seed))
    references = normalised_references(prepared.references(VALIDATION_SPLIT))
    pad_value = prepared.pad_value(config)

    def cider(model, source: dict[str, np.ndarray]) -> float:
        captions = greedy_decode(
            model,
            clip_ids,
            source,
            prepared.vocabulary,
            config.decode.max_steps,
            config.train.batch_size,
            progress=False,
            pad_value=pad_value,
            beam_size=config.decode.beam_size,
        )
        return cider_scores([references[c] for c in clip_ids], [captions[c] for c in clip_ids])[0]

    def validate(model) -> dict[str, float]:
        return {"validation_cider": cider(model, features), "validation_cider_swapped": cider(model, swapped)}

    return validate


def train_subsampling_model(
    profile_name: str,
    factor: int,
    results_dir: Path,
    seed: int = 0,
    device: str = "auto",
    resume: bool = True,
    progress: bool = True,
    max_epochs: int | None = None,
    overrides: Overrides | None = None,
    prepared_dir: Path | None = None,
) -> dict[str, Any]:
    """Train the model for one (seed, M), resuming from its checkpoint; writes its ``training.json``.

    ``progress``: per-batch bars (interactive) when True, one printed line per epoch when False.
    ``max_epochs``: caps the profile's schedule (recorded in the run key).
    ``overrides``: a variant's settings on top of the profile's (notebook 05), recorded in the run key;
    ``prepared_dir``: where ``prepared.json`` is when it is not ``results_dir`` (a variant's folder).
    """
    started = time.perf_counter()
    results_dir = Path(results_dir)
    prepared_dir = Path(prepared_dir) if prepared_dir is not None else results_dir
    prepared = load_prepared(prepared_dir)
    config = run_config(profile_name, factor, seed, device, max_epochs, overrides)
    target = resolve_device(device)
    reset_peak_memory(target)
    directory = layout.run_dir(results_dir, seed, factor)
    directory.mkdir(parents=True, exist_ok=True)
    checkpoint = directory / layout.CHECKPOINT_FILE
    discard_unusable_checkpoint(checkpoint, config, resume)
    model = build_model(config, len(prepared.vocabulary))
    on_epoch_end = None if progress else epoch_logger(factor, seed, config.train.max_epochs)
    validate = None
    if config.train.validate_every > 0 or config.train.stop_on == "validation_cider":
        if VALIDATION_SPLIT not in prepared.clips:
            if prepared.data_dir is not None and VALIDATION_SPLIT in corpus_splits(prepared.data_dir):
                raise ValueError(
                    f"the corpus {prepared.record['data_dir']} has a {VALIDATION_SPLIT} split but the prepared data "
                    f"({layout.PREPARED_RECORD}) were made without it: re-run notebook 01 (or delete "
                    f"{layout.PREPARED_RECORD}) so that training can validate"
                )
            raise ValueError(
                f"the {profile_name} profile validates during training (stop_on={config.train.stop_on!r}, "
                f"validate_every={config.train.validate_every}) but the corpus "
                f"{prepared.record['data_dir']} has no {VALIDATION_SPLIT} split ({captions_file(VALIDATION_SPLIT)})"
            )
        validate = validation_scorer(prepared, config, seed)
    result = train_model(
        model,
        training_dataset(prepared, config),
        prepared.vocabulary.frequencies(),
        config,
        checkpoint,
        resume=resume,
        progress=progress,
        on_epoch_end=on_epoch_end,
        validate=validate,
    )
    with atomic_path(directory / layout.MODEL_FILE) as model_file:  # never half a model.pt under its name
        torch.save(model.state_dict(), model_file)
    key = runkey.training_key(
        profile_name,
        from_project(prepared.record["data_dir"]),
        factor,
        seed,
        max_epochs,
        prepared_dir / layout.PREPARED_RECORD,
        overrides,
    )
    record = {
        "M": factor,
        "seed": seed,
        "profile": profile_name,
        "config": config.to_dict(),
        **result.to_dict(),
        "vocabulary_size": len(prepared.vocabulary),
        "run": run_metadata(seed, str(target)),
        "wall_time_s": time.perf_counter() - started,
        "peak_memory": peak_memory(target),
        "key": key,
    }
    write_json(directory / layout.TRAINING_RECORD, record)
    return record
