"""Synthetic Clotho-format corpus: the offline default data set.

``generate_corpus(root, preset="quick", seed=0)`` writes, deterministically (same seed and sizes ->
byte-identical files)::

    root/development/synthetic development 0000.wav ...   16-bit PCM mono 44.1 kHz
    root/evaluation/synthetic evaluation 0000.wav ...
    root/clotho_captions_development.csv                  Clotho's header and quoting
    root/clotho_captions_evaluation.csv
    root/events_development.json                          ground truth: events, order, onsets
    root/events_evaluation.json
    root/synthetic_corpus.json                            marker + settings + summary

Each clip holds 1-3 of twelve procedurally synthesised sound events (:mod:`.synth_events`) in
1-3 consecutive *slots*, optionally with a continuous companion event during a slot; its five
captions (:mod:`.synth_captions`) state the events, their order ("then"), overlap ("while"),
loudness and repetition counts, so they are predictable from the audio. Every 10th file name holds
an extra dot (``... v1.3.wav``) so that code grouping by ``name.split('.')[0]`` would be caught.

Presets: ``smoke`` (CI), ``quick`` (3-4 s clips, the offline default), ``long`` (Clotho's 15-30 s
durations; captions state the order of the events and how many times each countable one occurs,
with the occurrences spread over seconds, so the task needs the time axis) and ``clotho-shaped``
(Clotho's sizes, for speed benchmarks). :func:`draw_clip_plan` gives a clip's duration, events and
(for ``long``) captions without rendering any audio.

Each clip is a pure function of (seed, split, index): generating 8 clips gives the first 8 clips of
a 200-clip corpus with the same seed. Files whose bytes would not change are not rewritten, so a
regenerated corpus keeps its modification times (and the feature cache stays valid).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from aac_subsampling.data.reader import CSV_HEADER
from aac_subsampling.data.synth_captions import (
    COUNT_WORDS,
    Mention,
    Slot,
    caption_words,
    captions_fit,
    make_captions,
)
from aac_subsampling.data.synth_events import EVENT_NAMES, EVENTS, render_event, slot_min_seconds

__all__ = ["CorpusPreset", "PRESETS", "EVENT_NAMES", "MIN_DURATION", "SPLITS", "CorpusSummary", "ClipPlan",
           "generate_corpus", "plan_clip", "draw_clip_plan", "synthesise_clip", "resolve_preset", "clip_name",
           "captions_csv_bytes", "write_if_changed"]

MIN_DURATION = 3.0  # seconds; sub-sampling M = 16 needs 256 frames (~2.97 s at 44.1 kHz)
SPLITS = ("development", "evaluation")
MARKER = "synthetic_corpus.json"
LOUDNESS_DB = {"quiet": -20.0, "normal": -10.0, "loud": 0.0}
LOUD_PEAK = 0.7  # impulsive events at "loud": peak amplitude
LOUD_RMS = 0.14  # continuous events at "loud": RMS
NOISE_FLOOR_RMS = 3e-4  # about -70 dBFS, so silence is never digital zero
HEADROOM_PEAK = 0.98
MAX_SPACING = 2.0  # seconds between spread occurrences of a counted event (``spread_counts``)


@dataclass(frozen=True)
class CorpusPreset:
    """Sizes and shape of a synthetic corpus; every field can be overridden in :func:`generate_corpus`."""

    n_development: int
    n_evaluation: int
    min_duration: float  # seconds, at least MIN_DURATION
    max_duration: float
    max_events: int = 3  # events per clip: 1..max_events
    event_count_weights: tuple[float, float, float] = (0.3, 0.45, 0.25)  # P(1, 2, 3 events)
    loudness_weights: tuple[float, float, float] = (0.3, 0.4, 0.3)  # P(quiet, normal, loud)
    companion_probability: float = 0.4  # chance a slot pairs an event with a continuous one
    event_names: tuple[str, ...] = EVENT_NAMES
    sample_rate: int = 44100
    caption_style: str = "varied"  # "varied" (Clotho-like templates) or "regular" (events first-to-last)
    # The fields below were added for the ``long`` preset; their defaults draw exactly the random
    # numbers the earlier presets drew, so those corpora stay byte-identical.
    max_count: int = 3  # occurrences of a counted (impulsive) event: 1..max_count (at most 4)
    min_impulsive: int = 0  # at least this many counted events per clip (fewer only if the clip has fewer events)
    spread_counts: bool = False  # occurrences at a random regular gap of period..MAX_SPACING s, not back to back
    slot_evenness: float = 1.0  # Dirichlet concentration of the slots' spare time (larger: more even slots)
    separate_caption_stream: bool = False  # captions from their own random stream, drawn before the audio


PRESETS: dict[str, CorpusPreset] = {
    # seconds to make; for CI and tests
    "smoke": CorpusPreset(n_development=8, n_evaluation=4, min_duration=3.0, max_duration=3.5,
                          caption_style="regular"),
    # the offline default: the five-model training must fit ~15 min on 2 CPU cores
    # Regular captions and at most two events (mostly at normal loudness): learnable by the paper's
    # decoder in the ~500 training steps per M that 2 CPU cores allow in the quick profile.
    "quick": CorpusPreset(n_development=200, n_evaluation=60, min_duration=3.0, max_duration=4.0,
                          max_events=2, event_count_weights=(0.5, 0.5, 0.0), loudness_weights=(0.2, 0.6, 0.2),
                          companion_probability=0.2, caption_style="regular"),
    # Clotho v1's durations (15-30 s: T = 1292..2584 frames) and caption lengths (8-20 words), for the
    # ``long`` profile. The captions say which events happen in which order ("... then ...") and how
    # many times each countable one occurs (1-4, spread over up to ~6 s of its slot), so a model that
    # keeps fewer time steps could lose what the captions ask for. Every clip has a counted event;
    # loudness is always "normal" (left unsaid) and the captions are regular, to keep them short and
    # learnable by a decoder without previous-word input.
    # Size: the paper's model trains at about 600 frames/s at M = 1 and 1400 frames/s at M = 16 on
    # 2 CPU cores (measured, batch 8 of ~1940 frames), i.e. about 5 ms per frame summed over the five
    # M; 120 development clips (~22.5 s, ~230k frames) cost ~20 min per epoch for all five M, so an
    # hour buys about 3 epochs (45 steps of 8 clips per M). Fewer clips would buy more epochs of the
    # same steps; 120 keeps enough distinct event orders and counts to generalise from. 48 evaluation
    # clips (6 batches of 8) keep decoding the five models to a few minutes.
    "long": CorpusPreset(n_development=120, n_evaluation=48, min_duration=15.0, max_duration=30.0,
                         event_count_weights=(0.1, 0.45, 0.45), loudness_weights=(0.0, 1.0, 0.0),
                         companion_probability=0.3, caption_style="regular", max_count=4, min_impulsive=1,
                         spread_counts=True, slot_evenness=4.0, separate_caption_stream=True),
    # Clotho v1's sizes and durations, for speed benchmarks only
    "clotho-shaped": CorpusPreset(n_development=2893, n_evaluation=1045, min_duration=15.0, max_duration=30.0),
}


@dataclass
class CorpusSummary:
    """What :func:`generate_corpus` wrote."""

    root: Path
    preset: str
    seed: int
    settings: dict[str, Any]
    clips: dict[str, int]  # split -> number of clips
    seconds: dict[str, float]  # split -> total audio duration
    event_counts: dict[str, dict[str, int]]  # split -> event -> clips holding it
    vocabulary_size: int  # distinct words over all captions
    caption_words: tuple[int, int]  # (min, max) words per caption
    files_written: int = 0
    files_unchanged: int = 0
    files_removed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The summary without run-specific fields (root, files written), so identical corpora get identical markers."""
        data = dataclasses.asdict(self)
        for key in ("root", "files_written", "files_unchanged", "files_removed"):
            data.pop(key)
        return data


def resolve_preset(preset: str | CorpusPreset, **overrides: Any) -> CorpusPreset:
    """The named (or given) preset with ``overrides`` applied and checked; errors name the bad parameter."""
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise KeyError(f"unknown synthetic corpus preset {preset!r}; choose one of {sorted(PRESETS)}")
        preset = PRESETS[preset]
    known = {f.name for f in dataclasses.fields(CorpusPreset)}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"unknown synthetic corpus parameter(s) {sorted(unknown)}; known: {sorted(known)}")
    p = dataclasses.replace(preset, **overrides)
    if p.min_duration < MIN_DURATION:
        raise ValueError(f"min_duration={p.min_duration} s is below {MIN_DURATION} s (M = 16 needs 256 frames)")
    if p.max_duration < p.min_duration:
        raise ValueError(f"max_duration={p.max_duration} is below min_duration={p.min_duration}")
    if not 1 <= p.max_events <= 3:
        raise ValueError(f"max_events must be 1, 2 or 3, got {p.max_events}")
    if p.n_development < 0 or p.n_evaluation < 0:
        raise ValueError("n_development and n_evaluation must be >= 0")
    bad = set(p.event_names) - set(EVENT_NAMES)
    if bad or len(p.event_names) < p.max_events:
        raise ValueError(f"event_names must hold at least max_events known events; unknown: {sorted(bad)}")
    if p.sample_rate != 44100:
        raise ValueError(f"the synthetic corpus is written at 44100 Hz, got sample_rate={p.sample_rate}")
    if not 1 <= p.max_count <= max(COUNT_WORDS):
        raise ValueError(f"max_count must be 1..{max(COUNT_WORDS)} (the captions have no words beyond), "
                         f"got {p.max_count}")
    if not 0 <= p.min_impulsive <= p.max_events:
        raise ValueError(f"min_impulsive must be 0..max_events={p.max_events}, got {p.min_impulsive}")
    if p.min_impulsive and not any(EVENTS[name].impulsive for name in p.event_names):
        raise ValueError("min_impulsive > 0 needs at least one impulsive event in event_names")
    if p.slot_evenness <= 0:
        raise ValueError(f"slot_evenness must be > 0, got {p.slot_evenness}")
    return p


def clip_name(split: str, index: int) -> str:
    """File name of clip ``index``: spaces as in Clotho, and an extra dot in every 10th name."""
    suffix = f" v1.{index % 7}" if index % 10 == 3 else ""
    return f"synthetic {split} {index:04d}{suffix}.wav"


def _choose(rng: np.random.Generator, options: Sequence[Any], weights: Sequence[float] | None = None) -> Any:
    if weights is None:
        return options[int(rng.integers(len(options)))]
    w = np.asarray(weights, dtype=float)[: len(options)]
    return options[int(rng.choice(len(options), p=w / w.sum()))]


def plan_clip(rng: np.random.Generator, duration: float, p: CorpusPreset) -> list[Slot]:
    """Draw the clip's events: how many, which, loudness, counts, and their slot structure.

    Plans that cannot fit ``duration`` (e.g. three slow impulsive events in 3 s) are redrawn; the
    number of events falls back towards 1 after repeated misses, so the loop always ends.
    """
    for attempt in range(100):
        n_events = _choose(rng, range(1, p.max_events + 1), p.event_count_weights)
        n_events = max(1, n_events - attempt // 30)
        names = [p.event_names[i] for i in rng.permutation(len(p.event_names))[:n_events]]
        if sum(EVENTS[name].impulsive for name in names) < min(p.min_impulsive, n_events):
            continue  # no random draw before this test, so presets without min_impulsive are unaffected
        mentions = [
            Mention(name, _choose(rng, ("quiet", "normal", "loud"), p.loudness_weights),
                    int(rng.integers(1, p.max_count + 1)) if EVENTS[name].impulsive else 0)
            for name in names
        ]
        slots = _group_into_slots(rng, mentions, p.companion_probability)
        if sum(_slot_seconds(s) for s in slots) <= duration:
            return slots
    raise RuntimeError(f"could not plan a clip of {duration:.2f} s")  # unreachable with MIN_DURATION >= 3


def _group_into_slots(rng: np.random.Generator, mentions: list[Mention], companion_probability: float) -> list[Slot]:
    """Pair at most one event with a continuous companion, the rest play in sequence."""
    continuous = [m for m in mentions if m.count == 0]
    if len(mentions) >= 2 and continuous and rng.random() < companion_probability:
        companion = _choose(rng, continuous)
        rest = [m for m in mentions if m is not companion]
        host = int(rng.integers(len(rest)))
        return [Slot(m, companion if i == host else None) for i, m in enumerate(rest)]
    return [Slot(m) for m in mentions]


def _slot_seconds(slot: Slot) -> float:
    need = slot_min_seconds(slot.main.event, slot.main.count)
    if slot.companion is not None:
        need = max(need, slot_min_seconds(slot.companion.event, 0))
    return need


def _gain(mention: Mention) -> float:
    base = LOUD_PEAK if EVENTS[mention.event].impulsive else LOUD_RMS
    return base * 10.0 ** (LOUDNESS_DB[mention.loudness] / 20.0)


def _mention_json(m: Mention, start: float, end: float, onsets: list[float], role: str) -> dict[str, Any]:
    return {"event": m.event, "role": role, "loudness": m.loudness, "count": m.count,
            "start": round(start, 4), "end": round(end, 4), "onsets": [round(start + o, 4) for o in onsets]}


@dataclass(frozen=True)
class ClipPlan:
    """Everything about a clip that is decided before its audio is rendered."""

    duration: float  # seconds, n_samples / sample_rate
    n_samples: int
    slots: tuple[Slot, ...]
    bounds: tuple[float, ...]  # slot boundaries in seconds: 0.0, ..., duration (len(slots) + 1 values)
    captions: tuple[str, ...] | None  # set when the preset draws captions from their own stream


def _clip_rngs(seed: int, split: str, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The clip's main stream (plan, audio; and captions for the older presets) and its caption stream."""
    split_id = SPLITS.index(split)
    return np.random.default_rng([seed, split_id, index]), np.random.default_rng([seed, split_id, index, 1])


def _draw_plan(rng: np.random.Generator, caption_rng: np.random.Generator, p: CorpusPreset,
               where: str) -> ClipPlan:
    sr = p.sample_rate
    duration = float(rng.uniform(p.min_duration, p.max_duration))
    n = int(round(duration * sr))
    slots = plan_clip(rng, duration, p)
    captions = None
    if p.separate_caption_stream:
        # Redraw the events until the grammar gives five distinct captions of 8-20 words (three
        # counted events with long wordings can overflow); the caption stream makes this cheap.
        for _ in range(50):
            captions = tuple(make_captions(slots, caption_rng, style=p.caption_style))
            if captions_fit(captions):
                break
            slots = plan_clip(rng, duration, p)
        else:
            raise RuntimeError(f"{where}: no plan gave five distinct captions of 8-20 words")

    needs = np.array([_slot_seconds(s) for s in slots])
    shares = rng.dirichlet(np.full(len(slots), p.slot_evenness)) if len(slots) > 1 else np.ones(1)
    lengths = needs + shares * (duration - needs.sum())
    bounds = np.concatenate([[0.0], np.cumsum(lengths)])
    bounds[-1] = duration
    return ClipPlan(duration=n / sr, n_samples=n, slots=tuple(slots),
                    bounds=tuple(float(b) for b in bounds), captions=captions)


def draw_clip_plan(seed: int, split: str, index: int, p: CorpusPreset) -> ClipPlan:
    """The plan of clip ``index`` exactly as :func:`synthesise_clip` draws it, without rendering audio.

    ``captions`` is None for presets whose captions are drawn after the audio (``separate_caption_stream``
    False: smoke, quick, clotho-shaped).
    """
    rng, caption_rng = _clip_rngs(seed, split, index)
    return _draw_plan(rng, caption_rng, p, clip_name(split, index))


def _spacing(rng: np.random.Generator, mention: Mention, slot_seconds: float) -> float:
    """A regular gap between occurrences, from the event's period up to MAX_SPACING, that fits the slot."""
    period = EVENTS[mention.event].period
    room = max(0.0, slot_seconds - slot_min_seconds(mention.event, mention.count))
    top = min(MAX_SPACING, period + 0.9 * room / (mention.count - 1))
    return float(rng.uniform(period, max(top, period)))


def synthesise_clip(seed: int, split: str, index: int, p: CorpusPreset) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    """One clip: int16 samples, five captions and its ground-truth metadata.

    Its random streams are ``default_rng([seed, split, index])`` (plan and audio, and the captions
    unless ``separate_caption_stream``) and ``default_rng([seed, split, index, 1])`` (captions),
    independent of every other clip.
    """
    rng, caption_rng = _clip_rngs(seed, split, index)
    sr = p.sample_rate
    plan = _draw_plan(rng, caption_rng, p, clip_name(split, index))
    n = plan.n_samples

    mix = np.zeros(n + 2 * sr)  # room for decaying tails; cut to n below
    events = []
    for slot, start, end in zip(plan.slots, plan.bounds[:-1], plan.bounds[1:]):
        s0, s1 = int(round(start * sr)), int(round(end * sr))
        for mention, role in ((slot.main, "main"), (slot.companion, "companion")):
            if mention is None:
                continue
            delay, spacing = 0.0, None
            if mention.count:  # impulsive: start somewhere in the first part of the slot's spare time
                if p.spread_counts and mention.count > 1:
                    spacing = _spacing(rng, mention, end - start)
                spare = end - start - slot_min_seconds(mention.event, mention.count, spacing)
                delay = float(rng.uniform(0.0, 0.6 * spare)) if spare > 0 else 0.0
            audio, onsets = render_event(mention.event, rng, s1 - s0, sr, mention.count, delay, spacing)
            mix[s0:s0 + audio.size] += _gain(mention) * audio
            events.append(_mention_json(mention, start, end, onsets, role))
    mix = mix[:n] + NOISE_FLOOR_RMS * rng.standard_normal(n)
    peak = float(np.max(np.abs(mix)))
    if peak > HEADROOM_PEAK:
        mix *= HEADROOM_PEAK / peak
    samples = np.round(mix * 32767.0).astype(np.int16)

    if plan.captions is not None:
        captions = list(plan.captions)
    else:
        captions = make_captions(plan.slots, rng, style=p.caption_style)
    meta = {"duration": round(n / sr, 6), "n_samples": n, "slots": len(plan.slots), "events": events,
            "scaled_by": round(min(1.0, HEADROOM_PEAK / peak), 4)}
    return samples, captions, meta


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` atomically unless the file already holds exactly these bytes; True if written."""
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def _wav_bytes(samples: np.ndarray, sr: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, sr, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def _make_one(args: tuple[Path, int, str, int, CorpusPreset]) -> tuple[str, list[str], dict[str, Any], bool]:
    folder, seed, split, index, p = args
    samples, captions, meta = synthesise_clip(seed, split, index, p)
    name = clip_name(split, index)
    written = write_if_changed(folder / name, _wav_bytes(samples, p.sample_rate))
    return name, captions, meta, written


def captions_csv_bytes(rows: Sequence[tuple[str, Sequence[str]]]) -> bytes:
    """A captions CSV with Clotho's header; fields quoted only where needed (commas, quotes)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for name, captions in rows:
        writer.writerow([name, *captions])
    return buffer.getvalue().encode("utf-8")


def refuse_foreign_wavs(root: Path, marker: str, what: str) -> None:
    """Refuse to write into (and prune) a folder whose splits hold wavs but which lacks ``marker``: it may be
    another data set (the real Clotho audio, say)."""
    for split in SPLITS:
        folder = root / split
        if folder.is_dir() and any(e.name.lower().endswith(".wav") for e in os.scandir(folder)):
            raise FileExistsError(
                f"{folder} holds .wav files but {root} has no {marker}: refusing to write {what} over what may be "
                "another data set (the real Clotho audio?); choose an empty folder"
            )


def _check_root(root: Path) -> None:
    if not (root / MARKER).is_file():
        refuse_foreign_wavs(root, MARKER, "a synthetic corpus")


def generate_corpus(
    root: str | os.PathLike[str],
    preset: str | CorpusPreset = "quick",
    seed: int = 0,
    *,
    workers: int | None = 1,
    **overrides: Any,
) -> CorpusSummary:
    """Write a synthetic Clotho-format corpus under ``root`` and return a summary of it.

    ``preset`` names an entry of :data:`PRESETS` (``smoke``, ``quick``, ``long``, ``clotho-shaped``);
    keyword ``overrides`` change any :class:`CorpusPreset` field (e.g. ``n_development=16``).
    ``workers`` > 1 synthesises clips in that many processes (``None``: all cores); the output
    does not depend on it. Wavs left from an earlier, larger corpus in the same root are removed.
    """
    root = Path(root)
    preset_name = preset if isinstance(preset, str) else "custom"
    p = resolve_preset(preset, **overrides)
    _check_root(root)
    counts = {"development": p.n_development, "evaluation": p.n_evaluation}
    written = unchanged = 0
    removed: list[str] = []
    clips: dict[str, int] = {}
    seconds: dict[str, float] = {}
    event_counts: dict[str, dict[str, int]] = {}
    all_words: set[str] = set()
    lengths: list[int] = []
    workers = (os.cpu_count() or 1) if workers is None else workers
    for split in SPLITS:
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        jobs = [(folder, seed, split, i, p) for i in range(counts[split])]
        if workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
                results = list(pool.map(_make_one, jobs, chunksize=max(1, len(jobs) // (8 * workers))))
        else:
            results = [_make_one(job) for job in jobs]
        rows, metadata = [], {}
        for name, captions, meta, was_written in results:
            rows.append((name, captions))
            metadata[name] = meta
            written += was_written
            unchanged += not was_written
            for caption in captions:
                words = caption_words(caption)
                all_words.update(words)
                lengths.append(len(words))
        keep = {name for name, _ in rows}
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.lower().endswith(".wav") and entry.name not in keep:
                os.remove(entry.path)
                removed.append(f"{split}/{entry.name}")
        events_doc = {"split": split, "seed": seed, "sample_rate": p.sample_rate, "clips": metadata}
        for path, data in ((root / f"clotho_captions_{split}.csv", captions_csv_bytes(rows)),
                           (root / f"events_{split}.json", (json.dumps(events_doc, indent=1) + "\n").encode())):
            if write_if_changed(path, data):
                written += 1
            else:
                unchanged += 1
        clips[split] = len(rows)
        seconds[split] = round(sum(m["duration"] for m in metadata.values()), 3)
        event_counts[split] = dict(sorted(Counter(
            e["event"] for m in metadata.values() for e in m["events"]).items()))
    settings = dataclasses.asdict(p)
    settings["event_names"] = list(p.event_names)
    summary = CorpusSummary(
        root=root, preset=preset_name, seed=seed, settings=settings, clips=clips, seconds=seconds,
        event_counts=event_counts, vocabulary_size=len(all_words),
        caption_words=(min(lengths), max(lengths)) if lengths else (0, 0),
        files_written=written, files_unchanged=unchanged, files_removed=removed,
    )
    write_if_changed(root / MARKER, (json.dumps(summary.to_json(), indent=1, sort_keys=True) + "\n").encode())
    return summary
