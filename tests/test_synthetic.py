"""Synthetic Clotho-format corpus: determinism, format, caption shape, and events recoverable from audio."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aac_subsampling.data.reader import CSV_HEADER, read_split
from aac_subsampling.data.synthetic import (
    EVENT_NAMES,
    MAX_SPACING,
    MIN_DURATION,
    PRESETS,
    ClipPlan,
    draw_clip_plan,
    generate_corpus,
    resolve_preset,
    synthesise_clip,
)
from aac_subsampling.data.synthetic.captions import COUNT_WORDS, Mention, Slot, caption_words, vocabulary
from aac_subsampling.data.synthetic.events import EVENTS
from aac_subsampling.method.config import FeatureConfig
from aac_subsampling.method.features import extract_features, n_frames


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("smoke")
    generate_corpus(root, "smoke", seed=0)
    return root


def test_presets_and_events() -> None:
    assert set(PRESETS) >= {"smoke", "quick", "long", "clotho-shaped"}
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
    assert len([k for k in first if k.endswith(".wav")]) == 8 + 4 + 4  # development, evaluation, validation
    for name in first:
        assert first[name] == second[name], name
    other = tmp_path / "other seed"
    generate_corpus(other, "smoke", seed=1)
    assert (
        all_files(other)["development/synthetic development 0000.wav"]
        != first["development/synthetic development 0000.wav"]
    )


def test_the_validation_split_leaves_the_other_splits_unchanged_and_can_be_left_out(
    smoke: Path, tmp_path: Path
) -> None:
    """The validation split draws its own random streams: with or without it, development and evaluation are
    byte-identical; without it, no validation file is left behind (also when regenerating over a corpus with one)."""
    with_validation = all_files(smoke)
    assert sum(k.startswith("validation/") and k.endswith(".wav") for k in with_validation) == 4
    assert "clotho_captions_validation.csv" in with_validation and "events_validation.json" in with_validation
    root = tmp_path / "corpus"
    generate_corpus(root, "smoke", seed=0)
    generate_corpus(root, "smoke", seed=0, n_validation=0)
    without = all_files(root)
    assert not any("validation" in k for k in without), [k for k in without if "validation" in k]
    for name, data in without.items():
        if name.startswith(("development/", "evaluation/")) or name.endswith(("development.csv", "evaluation.csv")):
            assert data == with_validation[name], name


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


# Words by which a caption names each event kind of the synthetic corpora.
EVENT_KEYWORDS = {
    "dog_bark": ("dog",),
    "bird_chirp": ("bird",),
    "bell": ("bell",),
    "knocking": ("knock",),
    "car_horn": ("horn",),
    "rain": ("rain",),
    "wind": ("wind",),
    "car_engine": ("engine", "motor"),
    "footsteps": ("walk", "footsteps"),
    "siren": ("siren",),
    "running_water": ("water", "stream", "tap"),
    "applause": ("applau", "clap"),
}


def test_captions_state_the_events_of_the_ground_truth(smoke: Path) -> None:
    """Each caption names every event of its clip (by a keyword of that event)."""
    keywords = EVENT_KEYWORDS
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
    generate_corpus(
        tmp_path, "smoke", seed=4, n_development=60, n_evaluation=0, max_events=1, loudness_weights=(0.5, 0.0, 0.5)
    )
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
    checked_events = ("dog_bark", "bird_chirp", "bell", "knocking", "car_horn", "rain", "wind", "siren", "applause")
    keywords = {event: EVENT_KEYWORDS[event] for event in checked_events}
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


# --- the ``long`` preset: Clotho's durations, captions that state event order and counts -----------


def long_plans(seed: int = 0) -> list[tuple[str, ClipPlan]]:
    p = resolve_preset("long")
    return [
        (f"{split} {i}", draw_clip_plan(seed, split, i, p))
        for split, n in (("development", p.n_development), ("evaluation", p.n_evaluation))
        for i in range(n)
    ]


def stated_counts(text: str) -> set[int]:
    return {k for k, phrases in COUNT_WORDS.items() if any(re.search(rf"\b{ph}\b", text) for ph in phrases)}


def order_and_count_problems(slots: tuple[Slot, ...], caption: str) -> list[str]:
    """What a regular caption gets wrong about its slots: one clause per slot in slot order ("then"),
    each naming its main event with exactly its count, its companion after "while"/"as", uncounted."""
    text = caption.lower().rstrip(".")
    clauses = re.split(r",? then ", text)
    if len(clauses) != len(slots):
        return [f"{len(clauses)} clauses for {len(slots)} slots"]
    problems = []
    for clause, slot in zip(clauses, slots):
        pieces = re.split(r" (?:while|as) ", clause, maxsplit=1)
        main, companion = pieces[0], pieces[1] if len(pieces) > 1 else ""
        parts: list[tuple[Mention, str]] = [(slot.main, main)]
        if slot.companion is not None:
            parts.append((slot.companion, companion))
        elif companion:
            problems.append(f"companion {companion!r} but the slot has none")
        for mention, part in parts:
            if not any(k in part for k in EVENT_KEYWORDS[mention.event]):
                problems.append(f"{mention.event} not named in {part!r}")
            expected = {mention.count} if mention.count else set()
            if stated_counts(part) != expected:
                problems.append(f"{mention.event}: counts {stated_counts(part)} stated, {expected} true in {part!r}")
    return problems


def test_long_preset_has_clotho_durations_and_caption_lengths() -> None:
    p = resolve_preset("long")
    assert (p.min_duration, p.max_duration, p.caption_style) == (15.0, 30.0, "regular")
    assert 100 <= p.n_development <= 150 and 40 <= p.n_evaluation <= 60
    plans = long_plans()
    assert len(plans) == p.n_development + p.n_evaluation
    counts, slots = set(), []
    for where, plan in plans:
        assert 15.0 <= plan.duration <= 30.0, where
        assert 1292 <= n_frames(plan.n_samples) <= 2584, where  # T at 44.1 kHz, hop 512 (paper: 1292..2584)
        assert plan.bounds[0] == 0.0 and plan.bounds[-1] == pytest.approx(plan.duration, abs=1e-4), where
        assert plan.captions is not None and len(set(plan.captions)) == 5, where
        for caption in plan.captions:
            assert 8 <= len(caption_words(caption)) <= 20, (where, caption)
        counted = [m.count for s in plan.slots for m in (s.main, s.companion) if m is not None and m.count]
        assert counted, where  # every clip has something to count
        counts.update(counted)
        slots.append(len(plan.slots))
    assert counts == {1, 2, 3, 4}
    assert np.mean(np.array(slots) >= 2) > 0.6  # most clips have an order to state


def test_long_captions_state_event_order_and_counts() -> None:
    checked = reordered = recounted = 0
    for where, plan in long_plans():
        assert plan.captions is not None
        for caption in plan.captions:
            assert order_and_count_problems(plan.slots, caption) == [], (where, caption)
            checked += 1
        # the check has teeth: the same captions are wrong for the slots reversed or a count changed
        mains = [s.main.event for s in plan.slots]
        if len(set(mains)) == len(mains) > 1:
            reversed_slots = tuple(reversed(plan.slots))
            assert all(order_and_count_problems(reversed_slots, c) for c in plan.captions), where
            reordered += 1
        first_counted = next((i for i, s in enumerate(plan.slots) if s.main.count), None)
        if first_counted is not None:
            slot = plan.slots[first_counted]
            wrong = Slot(Mention(slot.main.event, slot.main.loudness, slot.main.count % 4 + 1), slot.companion)
            changed = plan.slots[:first_counted] + (wrong,) + plan.slots[first_counted + 1 :]
            assert all(order_and_count_problems(changed, c) for c in plan.captions), where
            recounted += 1
    assert checked == 5 * 168 and reordered > 50 and recounted > 50


def test_long_preset_is_deterministic_and_renders_what_it_plans(tmp_path: Path) -> None:
    """Plans repeat for a seed and differ across seeds; one rendered clip (of 15-30 s) matches its
    plan, its wav and its ground truth: counted occurrences spread, events in slot order."""
    p = resolve_preset("long")
    assert draw_clip_plan(0, "evaluation", 7, p) == draw_clip_plan(0, "evaluation", 7, p)
    assert [plan for _, plan in long_plans(1)] != [plan for _, plan in long_plans(0)]

    plan = draw_clip_plan(0, "development", 0, p)
    assert len(plan.slots) >= 2 and max(s.main.count for s in plan.slots) >= 2  # seed 0's clip 0: order and a count
    generate_corpus(tmp_path, "long", seed=0, n_development=1, n_evaluation=0)
    clip = read_split(tmp_path, "development").clips[0]
    assert clip.captions == plan.captions
    info = sf.info(str(clip.audio_path))
    assert (info.samplerate, info.subtype, info.frames) == (44100, "PCM_16", plan.n_samples)
    samples, captions, meta = synthesise_clip(0, "development", 0, p)
    assert tuple(captions) == plan.captions
    audio, _ = sf.read(clip.audio_path, dtype="int16")
    assert np.array_equal(audio, samples)  # the wav holds exactly what the clip function makes

    mains = [e for e in meta["events"] if e["role"] == "main"]
    assert [e["event"] for e in mains] == [s.main.event for s in plan.slots]
    assert [e["start"] for e in mains] == sorted(e["start"] for e in mains)
    for event in meta["events"]:
        if event["count"]:
            assert len(event["onsets"]) == event["count"]
            assert event["start"] <= event["onsets"][0] and event["onsets"][-1] < event["end"]
            gaps = np.diff(event["onsets"])
            assert np.all(gaps >= EVENTS[event["event"]].period - 0.031), event  # 30 ms onset jitter
            assert np.all(gaps <= MAX_SPACING + 0.031), event
