"""Synthetic Clotho-format corpus: determinism, format, caption shape, and events recoverable from audio."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aac_subsampling.config import FeatureConfig
from aac_subsampling.data.reader import CSV_HEADER, read_split
from aac_subsampling.data.synth_captions import caption_words, vocabulary
from aac_subsampling.data.synthetic import EVENT_NAMES, MIN_DURATION, PRESETS, generate_corpus
from aac_subsampling.features import extract_features, n_frames


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("smoke")
    generate_corpus(root, "smoke", seed=0)
    return root


def test_presets_and_events() -> None:
    assert set(PRESETS) >= {"smoke", "quick", "clotho-shaped"}
    assert all(p.min_duration >= MIN_DURATION for p in PRESETS.values())
    assert (PRESETS["clotho-shaped"].n_development, PRESETS["clotho-shaped"].n_evaluation) == (2893, 1045)
    assert len(EVENT_NAMES) >= 10
    assert 100 <= len(vocabulary()) <= 300
    with pytest.raises(ValueError, match="min_duration"):
        generate_corpus("unused", "smoke", min_duration=2.0)
    with pytest.raises(TypeError, match="n_clips"):
        generate_corpus("unused", "smoke", n_clips=3)


def test_same_seed_gives_byte_identical_files(smoke: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_corpus(again, "smoke", seed=0, workers=2)  # worker count must not matter
    first, second = all_files(smoke), all_files(again)
    assert first.keys() == second.keys()
    assert len([k for k in first if k.endswith(".wav")]) == 12
    for name in first:
        assert first[name] == second[name], name
    other = tmp_path / "other seed"
    generate_corpus(other, "smoke", seed=1)
    assert all_files(other)["development/synthetic development 0000.wav"] != first[
        "development/synthetic development 0000.wav"]


def test_regenerating_rewrites_nothing_and_prunes_stale_clips(smoke: Path, tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    generate_corpus(root, "smoke", seed=0)
    mtimes = {p: p.stat().st_mtime_ns for p in root.rglob("*.wav")}
    summary = generate_corpus(root, "smoke", seed=0)
    assert summary.files_written == 0
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.wav")} == mtimes
    smaller = generate_corpus(root, "smoke", seed=0, n_development=5)
    assert len(smaller.files_removed) == 3
    assert len(read_split(root, "development").clips) == 5
    with pytest.raises(FileExistsError, match="refusing"):
        foreign = tmp_path / "foreign"
        (foreign / "development").mkdir(parents=True)
        sf.write(foreign / "development" / "real.wav", np.zeros(100, dtype=np.int16), 44100)
        generate_corpus(foreign, "smoke")


def test_output_is_clotho_format_and_passes_the_reader(smoke: Path) -> None:
    for split, expected in (("development", 8), ("evaluation", 4)):
        result = read_split(smoke, split)
        assert result.report.ok and len(result.clips) == expected
        with open(smoke / f"clotho_captions_{split}.csv", newline="", encoding="utf-8") as handle:
            assert tuple(next(csv.reader(handle))) == CSV_HEADER
        events = json.loads((smoke / f"events_{split}.json").read_text())["clips"]
        assert set(events) == {clip.file_name for clip in result.clips}
        for clip in result.clips:
            info = sf.info(str(clip.audio_path))
            assert (info.samplerate, info.channels, info.subtype) == (44100, 1, "PCM_16")
            assert 3.0 <= info.duration <= 3.5
            assert n_frames(info.frames) >= 258
            assert 1 <= len(events[clip.file_name]["events"]) <= 3
    assert any("." in name.removesuffix(".wav") for name in events)  # a dotted name is in the corpus


def test_captions_are_five_distinct_and_8_to_20_words(tmp_path: Path) -> None:
    generate_corpus(tmp_path, "smoke", seed=5, n_development=40, n_evaluation=0)
    clips = read_split(tmp_path, "development").clips
    lengths = []
    for clip in clips:
        assert len(clip.captions) == 5 and len(set(clip.captions)) == 5, clip.file_name
        lengths += [len(caption_words(c)) for c in clip.captions]
    assert min(lengths) >= 8 and max(lengths) <= 20
    assert set().union(*(caption_words(c) for clip in clips for c in clip.captions)) <= vocabulary()


def test_captions_state_the_events_of_the_ground_truth(smoke: Path) -> None:
    """Each caption names every event of its clip (by a keyword of that event)."""
    keywords = {"dog_bark": ("dog",), "bird_chirp": ("bird",), "bell": ("bell",), "knocking": ("knock",),
                "car_horn": ("horn",), "rain": ("rain",), "wind": ("wind",), "car_engine": ("engine", "motor"),
                "footsteps": ("walk", "footsteps"), "siren": ("siren",), "running_water": ("water", "stream", "tap"),
                "applause": ("applau", "clap")}
    counts = {1: ("once", "one time", "single"), 2: ("twice", "two times"), 3: ("three times", "thrice")}
    events = json.loads((smoke / "events_development.json").read_text())["clips"]
    assert set(keywords) == set(EVENT_NAMES)
    for clip in read_split(smoke, "development").clips:
        for caption in clip.captions:
            for event in events[clip.file_name]["events"]:
                assert any(k in caption.lower() for k in keywords[event["event"]]), (caption, event["event"])
                if event["count"]:
                    assert any(w in caption for w in counts[event["count"]]), caption


def test_dominant_event_is_recoverable_from_the_audio(tmp_path: Path) -> None:
    """Nearest-centroid on mean log-mel spectra (level removed) of single-event clips.

    Trained on development clips, scored on evaluation clips: 12 classes, chance ~8 %; measured
    94 % (34 of 36) with seed 3, required > 70 %. Shows captions follow from the audio, not noise.
    """
    generate_corpus(tmp_path, "smoke", seed=3, n_development=48, n_evaluation=36, max_events=1)
    cfg = FeatureConfig()

    def dataset(split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        truth = json.loads((tmp_path / f"events_{split}.json").read_text())["clips"]
        xs, ys, levels = [], [], []
        for clip in read_split(tmp_path, split).clips:
            feats = extract_features(clip.audio_path, cfg)
            energy = feats.max(axis=1)
            profile = feats[energy >= np.median(energy)].mean(axis=0)  # the louder half of the frames
            xs.append(profile - profile.mean())
            event = truth[clip.file_name]["events"][0]
            ys.append(EVENT_NAMES.index(event["event"]))
            levels.append(event["loudness"])
        return np.array(xs), np.array(ys), levels

    x_dev, y_dev, _ = dataset("development")
    x_eval, y_eval, _ = dataset("evaluation")
    classes = np.unique(y_dev)
    centroids = np.stack([x_dev[y_dev == k].mean(axis=0) for k in classes])
    predicted = classes[np.argmin(((x_eval[:, None] - centroids[None]) ** 2).sum(-1), axis=1)]
    known = np.isin(y_eval, classes)
    accuracy = float(np.mean(predicted[known] == y_eval[known]))
    assert accuracy > 0.7, accuracy


def test_loud_clips_are_louder_than_quiet_ones(tmp_path: Path) -> None:
    """The loudness words are true: same event, 'loud' clips have more energy than 'quiet' ones."""
    generate_corpus(tmp_path, "smoke", seed=4, n_development=60, n_evaluation=0, max_events=1,
                    loudness_weights=(0.5, 0.0, 0.5))
    truth = json.loads((tmp_path / "events_development.json").read_text())["clips"]
    levels: dict[tuple[str, str], list[float]] = {}
    for clip in read_split(tmp_path, "development").clips:
        audio, _ = sf.read(clip.audio_path)
        event = truth[clip.file_name]["events"][0]
        rms_db = 20 * np.log10(np.sqrt(np.mean(audio**2)))
        levels.setdefault((event["event"], event["loudness"]), []).append(rms_db)
    compared = 0
    for (event, loudness), values in levels.items():
        if loudness == "loud" and (event, "quiet") in levels:
            assert min(values) > max(levels[(event, "quiet")]) + 10, event
            compared += 1
    assert compared >= 5


@pytest.mark.parametrize("style", ["varied", "regular"])
def test_both_caption_styles_name_events_and_regular_keeps_their_order(tmp_path: Path, style: str) -> None:
    """Regular captions say the slots' main events first-to-last; both styles stay truthful."""
    keywords = {"dog_bark": ("dog",), "bird_chirp": ("bird",), "bell": ("bell",), "knocking": ("knock",),
                "car_horn": ("horn",), "rain": ("rain",), "wind": ("wind",), "siren": ("siren",),
                "applause": ("applau", "clap")}
    generate_corpus(tmp_path, "smoke", seed=5, n_development=30, n_evaluation=4, caption_style=style)
    events = json.loads((tmp_path / "events_development.json").read_text())["clips"]
    checked = 0
    for clip in read_split(tmp_path, "development").clips:
        mains = [e["event"] for e in events[clip.file_name]["events"] if e["role"] == "main"]
        words = [keywords.get(event) for event in mains]
        if len(mains) < 2 or None in words or len(set(words)) < len(words):
            continue
        for caption in clip.captions:
            found = [[caption.lower().find(k) for k in keys if k in caption.lower()] for keys in words]
            positions = [min(p) if p else -1 for p in found]
            assert min(positions) >= 0, (caption, mains)
            if style == "regular":
                assert positions == sorted(positions), (caption, mains)
            checked += 1
    assert checked >= 10
