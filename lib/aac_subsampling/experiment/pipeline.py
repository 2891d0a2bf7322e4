"""The experiment's steps, one function each, called by the notebooks (which hold no logic).

1. :func:`prepare_data`: corpus (synthetic or Clotho v1), checks, features, vocabulary.
2. :func:`train_subsampling_model`: one model for one sub-sampling factor M, resumable.
3. :func:`evaluate_subsampling_model`: captions for the evaluation split, metrics, Table 2 columns.
4. The tables and figures (notebook 04): :func:`aac_subsampling.analysis.summary.summarise_results`, in the
   analysis layer above this one.

Each step writes a JSON record at its very end (``prepared.json``, ``seed<S>/M<M>/training.json``,
``seed<S>/M<M>/evaluation.json``; see :mod:`.layout`) holding the run key of what produced it
(:mod:`.runkey`); the run engine (:mod:`aac_subsampling.run`) skips a stage whose record has the key it expects.
Paths in records are relative to the project root, so that a results folder survives a new clone.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aac_subsampling.base.atomic import atomic_path, write_json_atomic
from aac_subsampling.base.devices import peak_memory, reset_peak_memory, resolve_device, synchronize
from aac_subsampling.base.paths import from_project, relative_to_project
from aac_subsampling.data.clotho_card import SPLITS, captions_file
from aac_subsampling.data.feature_cache import cache_features
from aac_subsampling.data.reader import Clip, read_split
from aac_subsampling.evaluation.swapped_audio import audio_partners, swap_audio
from aac_subsampling.experiment import layout, runkey
from aac_subsampling.experiment.profiles import SUBSAMPLING_FACTORS, get_profile
from aac_subsampling.experiment.runinfo import run_metadata
from aac_subsampling.method.batching import CaptionDataset, pad_value_for
from aac_subsampling.method.config import Config, FeatureConfig
from aac_subsampling.method.decoding import greedy_decode
from aac_subsampling.method.features import BandStatistics, band_statistics
from aac_subsampling.method.model import (
    encoder_output_length,
    measure_encoder_lengths,
    minimum_input_frames,
    paper_parameter_count,
)
from aac_subsampling.method.paper import CLOTHO_FRAME_RANGE, PAPER_VOCABULARY_SIZE
from aac_subsampling.method.tokens import Vocabulary, normalise_caption
from aac_subsampling.method.training import Validator, build_model, train_model

CORPUS_SEED = 0  # the synthetic corpus is the same for every training seed
#: Read when the corpus has it (the synthetic corpora do; Clotho v1 does not): early stopping and learning
#: curves are decided on it, never on the evaluation split.
VALIDATION_SPLIT = "validation"


def corpus_splits(data_dir: Path) -> tuple[str, ...]:
    """Clotho's two splits, plus the validation split where the corpus has its captions file."""
    has_validation = (Path(data_dir) / captions_file(VALIDATION_SPLIT)).is_file()
    return (*SPLITS, VALIDATION_SPLIT) if has_validation else SPLITS


def write_json(path: Path, record: dict[str, Any]) -> Path:
    """Write a stage record atomically, so a stage marker exists only when complete (values JSON cannot
    hold are written as text)."""
    return write_json_atomic(path, record, indent=2, default=str, newline=False)


def read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"{what} not found at {path}; run the earlier notebook (or ./run_all.sh) first")
    return json.loads(path.read_text())


# --------------------------------------------------------------------------------------- 1. data


def ensure_corpus(profile_name: str, data_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Make the synthetic corpus (deterministic; skipped when present) or find/fetch Clotho v1."""
    profile = get_profile(profile_name)
    if profile.corpus == "synthetic":
        from aac_subsampling.data.synthetic import generate_corpus

        summary = generate_corpus(data_dir, preset=profile.synthetic_preset, seed=CORPUS_SEED, workers=None)
        return {"corpus": f"synthetic ({profile.synthetic_preset} preset, seed {CORPUS_SEED})", "summary": summary}
    from aac_subsampling.data.clotho import fetch_clotho_v1, other_clotho_format_corpus

    other = other_clotho_format_corpus(data_dir)
    if other is not None:  # e.g. a dry run of the paper profile on a Clotho-shaped or long synthetic corpus
        print(
            f"{relative_to_project(data_dir)} holds {other}: the {profile_name} profile runs on it as it is "
            "(its numbers are not Clotho's)"
        )
        return {"corpus": other, "summary": None}
    fetch_clotho_v1(data_dir, progress=progress)
    return {"corpus": "Clotho v1", "summary": None}


def check_minimum_length(n_frames: dict[str, int], split: str, factors=SUBSAMPLING_FACTORS, n_layers: int = 3) -> None:
    """Every clip must leave the last encoder layer at least one step for every M of the sweep: an error naming
    the short clips (shortest first, with their frame counts) and what the largest M needs."""
    needed = minimum_input_frames(max(factors), n_layers)
    short = sorted((count, name) for name, count in n_frames.items() if count < needed)
    if short:
        named = ", ".join(f"{name!r} ({count} frames)" for count, name in short[:10])
        more = f" and {len(short) - 10} more" if len(short) > 10 else ""
        raise ValueError(
            f"{len(short)} {split} clip(s) have fewer than {needed} frames (M = {max(factors)} needs "
            f"M^(L-1) = {needed}, about {needed * 512 / 44100:.1f} s): {named}{more}; remove them, or run "
            f"only the M whose M^(L-1) they reach (--m)"
        )


class LongCaptionWarning(UserWarning):
    """Captions longer than the decoder's ``max_steps``: counted and warned about, not an error."""


def long_captions(clips: list[Clip], max_words: int) -> list[tuple[str, int, int]]:
    """(clip, caption number 1-5, words) of every caption with more words than the decoder emits (``max_words``,
    :attr:`~aac_subsampling.method.config.DecodeConfig.max_steps`), longest first."""
    found = [
        (clip.file_name, k + 1, len(normalise_caption(caption)))
        for clip in clips
        for k, caption in enumerate(clip.captions)
        if len(normalise_caption(caption)) > max_words
    ]
    return sorted(found, key=lambda item: -item[2])


def warn_long_captions(clips: list[Clip], split: str, max_words: int) -> int:
    """Warn (not an error) when captions of ``split`` are longer than the decoder can emit: a model can never say
    them in full, so they cap what any metric can reach. Returns how many there are."""
    found = long_captions(clips, max_words)
    if found:
        clip, column, words = found[0]
        total = sum(len(clip.captions) for clip in clips)
        message = (
            f"{split}: {len(found)} of {total} captions have more than {max_words} words, the most the decoder "
            f"emits (DecodeConfig.max_steps = {max_words}); no model can say them in full. Longest: "
            f"{clip!r} caption_{column} ({words} words)"
        )
        print(f"WARNING: {message}", flush=True)
        warnings.warn(message, LongCaptionWarning, stacklevel=2)
    return len(found)


@dataclass
class PreparedData:
    """What the later steps need, read back from ``prepared.json``."""

    record: dict[str, Any]
    vocabulary: Vocabulary
    clips: dict[str, list[Clip]]
    stores: dict[str, Any]
    data_dir: Path | None = None
    _other_stores: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    _other_statistics: dict[str, BandStatistics] = field(default_factory=dict, repr=False)

    def references(self, split: str = "evaluation") -> dict[str, list[str]]:
        return {clip.file_name: list(clip.captions) for clip in self.clips[split]}

    def _prepared_features(self, config: FeatureConfig) -> bool:
        return config.cache_key() == FeatureConfig(**self.record["features"]).cache_key()

    def store(self, split: str, config: FeatureConfig):
        """The feature cache of ``split`` computed with ``config``: the prepared one, or (for a variant with
        other feature settings, e.g. the authors' Hann window) one made now beside it and kept on disk."""
        if self._prepared_features(config):
            return self.stores[split]
        key = (split, json.dumps(config.cache_key(), sort_keys=True))
        if key not in self._other_stores:
            if self.data_dir is None:
                raise ValueError(
                    "these prepared data were built without their corpus folder; "
                    f"features with other settings ({config.cache_key()}) cannot be made"
                )
            print(
                f"{split}: features with other settings than the prepared ones ({config.window} window, peak "
                f"normalisation {'on' if config.peak_normalise else 'off'}): cached under "
                f"{relative_to_project(self.data_dir / 'features')}"
            )
            self._other_stores[key] = cache_features(
                self.clips[split], self.data_dir / "features", config, progress=False
            )
        return self._other_stores[key]

    def statistics(self, config: FeatureConfig) -> BandStatistics:
        """Per-band statistics of the development split's features computed with ``config``."""
        if self._prepared_features(config):
            return BandStatistics.from_dict(self.record["band_statistics"])
        key = json.dumps(config.cache_key(), sort_keys=True)
        if key not in self._other_statistics:
            store = self.store("development", config)
            self._other_statistics[key] = band_statistics(store.load(c.file_name) for c in self.clips["development"])
        return self._other_statistics[key]

    def features(self, split: str, config: FeatureConfig) -> Callable[[str], np.ndarray]:
        """clip id -> the encoder's input: cached features, standardised if the config says so."""
        load = self.store(split, config).load
        if not config.standardise:
            return load
        statistics = self.statistics(config)
        return lambda clip: statistics.apply(load(clip))

    def pad_value(self, config: Config) -> float | np.ndarray:
        """What padded frames hold (``ModelConfig.padding``), in the encoder's input representation."""
        statistics = self.statistics(config.features) if config.features.standardise else None
        return pad_value_for(config.model.padding, config.features, statistics)


def prepare_data(
    profile_name: str,
    data_dir: Path,
    results_dir: Path,
    seed: int = 0,
    device: str = "auto",
    skip_bad: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Corpus -> checked clips -> cached features -> vocabulary; writes ``prepared.json``."""
    started = time.perf_counter()
    data_dir, results_dir = Path(data_dir).resolve(), Path(results_dir).resolve()
    results_dir.mkdir(parents=True, exist_ok=True)
    corpus = ensure_corpus(profile_name, data_dir, progress)
    profile_config = get_profile(profile_name).config()
    feature_config = profile_config.features
    record: dict[str, Any] = {
        "profile": profile_name,
        "data_dir": relative_to_project(data_dir),
        **corpus,
        "features": feature_config.cache_key(),
        "splits": {},
    }
    clips, stores = {}, {}
    # Every split is read (and its captions checked) before any features are made: a bad caption of the
    # evaluation split is named at once, not after the development split's features.
    read = {split: read_split(data_dir, split, skip_bad=skip_bad) for split in corpus_splits(data_dir)}
    for split, result in read.items():
        clips[split] = result.clips
        warn_long_captions(result.clips, split, profile_config.decode.max_steps)
    for split, result in read.items():
        stores[split] = cache_features(
            result.clips, data_dir / "features", feature_config, workers=workers, progress=progress
        )
        n_frames = {clip.file_name: stores[split].n_frames(clip.file_name) for clip in result.clips}
        check_minimum_length(n_frames, split, n_layers=profile_config.model.encoder_layers)
        record["splits"][split] = {
            "n_clips": len(result.clips),
            "n_captions": sum(len(c.captions) for c in result.clips),
            "frames_min": min(n_frames.values()),
            "frames_max": max(n_frames.values()),
            "skipped": result.report.problems,
            "captions_longer_than_decoder": len(long_captions(result.clips, profile_config.decode.max_steps)),
            "feature_dir": relative_to_project(stores[split].directory),
        }
    development = clips["development"]
    statistics = band_statistics(stores["development"].load(clip.file_name) for clip in development)
    record["band_statistics"] = statistics.to_dict()  # used only where FeatureConfig.standardise is on
    vocabulary = Vocabulary.build(caption for clip in development for caption in clip.captions)
    vocabulary.save(results_dir / layout.VOCABULARY_FILE)
    record["vocabulary_size"] = len(vocabulary)
    record["run"] = run_metadata(seed, device)
    record["wall_time_s"] = time.perf_counter() - started
    record["key"] = runkey.prepare_key(profile_name, data_dir, skip_bad)  # after the corpus exists: it fingerprints it
    write_json(results_dir / layout.PREPARED_RECORD, record)
    return record


def load_prepared(results_dir: Path, skip_bad: bool | None = None) -> PreparedData:
    record = read_json(results_dir / layout.PREPARED_RECORD, "prepared data (notebook 01)")
    data_dir = from_project(record["data_dir"])
    feature_config = FeatureConfig(**record["features"])
    skip = bool(any(s["skipped"] for s in record["splits"].values())) if skip_bad is None else skip_bad
    clips, stores = {}, {}
    for split in record["splits"]:
        clips[split] = read_split(data_dir, split, skip_bad=skip, check_audio=False).clips
        stores[split] = cache_features(clips[split], data_dir / "features", feature_config, progress=False)
    vocabulary = Vocabulary.load(results_dir / layout.VOCABULARY_FILE)
    return PreparedData(record, vocabulary, clips, stores, data_dir)


# ------------------------------------------------------------------------------------ 2. training


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


# ---------------------------------------------------------------------------------- 3. evaluation


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
