"""Step 1, notebook 01: the corpus (synthetic, made here; or Clotho v1, found or fetched), its clips and captions
checked, features cached, the vocabulary built; ``prepared.json``, and :class:`PreparedData` to read it back."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aac_subsampling.base.paths import from_project, relative_to_project
from aac_subsampling.data.clotho_card import SPLITS, captions_file
from aac_subsampling.data.feature_cache import cache_features
from aac_subsampling.data.reader import Clip, read_split
from aac_subsampling.experiment import layout, runkey
from aac_subsampling.experiment.pipeline.records import read_json, write_json
from aac_subsampling.experiment.profiles import SUBSAMPLING_FACTORS, get_profile
from aac_subsampling.experiment.runinfo import run_metadata
from aac_subsampling.method.batching import pad_value_for
from aac_subsampling.method.config import Config, FeatureConfig
from aac_subsampling.method.features import BandStatistics, band_statistics
from aac_subsampling.method.model import minimum_input_frames
from aac_subsampling.method.tokens import Vocabulary, normalise_caption

CORPUS_SEED = 0  # the synthetic corpus is the same for every training seed
#: Read when the corpus has it (the synthetic corpora do; Clotho v1 does not): early stopping and learning
#: curves are decided on it, never on the evaluation split.
VALIDATION_SPLIT = "validation"


def corpus_splits(data_dir: Path) -> tuple[str, ...]:
    """Clotho's two splits, plus the validation split where the corpus has its captions file."""
    has_validation = (Path(data_dir) / captions_file(VALIDATION_SPLIT)).is_file()
    return (*SPLITS, VALIDATION_SPLIT) if has_validation else SPLITS


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
