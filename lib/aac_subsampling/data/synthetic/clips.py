"""One clip of the synthetic corpus: its plan (events, slots, captions) and its audio.

A clip holds 1-3 sound events of :mod:`.events` in 1-3 consecutive *slots*, optionally with a
continuous companion event during a slot; its five captions (:mod:`.captions`) state the events,
their order, overlap, loudness and repetition counts. :func:`draw_clip_plan` gives a clip's
duration, events and (for ``long``) captions without rendering any audio; :func:`synthesise_clip`
renders it. Each clip is a pure function of (seed, split, index): generating 8 clips gives the first
8 clips of a 200-clip corpus with the same seed. Every 10th file name holds an extra dot
(``... v1.3.wav``) so that code grouping by ``name.split('.')[0]`` would be caught.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aac_subsampling.data.synthetic.captions import Mention, Slot, captions_fit, make_captions
from aac_subsampling.data.synthetic.events import EVENTS, render_event, slot_min_seconds
from aac_subsampling.data.synthetic.presets import SYNTHETIC_SPLITS, CorpusPreset

__all__ = [
    "LOUDNESS_DB",
    "LOUD_PEAK",
    "LOUD_RMS",
    "NOISE_FLOOR_RMS",
    "HEADROOM_PEAK",
    "MAX_SPACING",
    "ClipPlan",
    "clip_name",
    "plan_clip",
    "draw_clip_plan",
    "synthesise_clip",
]

LOUDNESS_DB = {"quiet": -20.0, "normal": -10.0, "loud": 0.0}
LOUD_PEAK = 0.7  # impulsive events at "loud": peak amplitude
LOUD_RMS = 0.14  # continuous events at "loud": RMS
NOISE_FLOOR_RMS = 3e-4  # about -70 dBFS, so silence is never digital zero
HEADROOM_PEAK = 0.98
MAX_SPACING = 2.0  # seconds between spread occurrences of a counted event (``spread_counts``)


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
            Mention(
                name,
                _choose(rng, ("quiet", "normal", "loud"), p.loudness_weights),
                int(rng.integers(1, p.max_count + 1)) if EVENTS[name].impulsive else 0,
            )
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
    return {
        "event": m.event,
        "role": role,
        "loudness": m.loudness,
        "count": m.count,
        "start": round(start, 4),
        "end": round(end, 4),
        "onsets": [round(start + o, 4) for o in onsets],
    }


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
    split_id = SYNTHETIC_SPLITS.index(split)
    return np.random.default_rng([seed, split_id, index]), np.random.default_rng([seed, split_id, index, 1])


def _draw_plan(rng: np.random.Generator, caption_rng: np.random.Generator, p: CorpusPreset, where: str) -> ClipPlan:
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
    return ClipPlan(
        duration=n / sr, n_samples=n, slots=tuple(slots), bounds=tuple(float(b) for b in bounds), captions=captions
    )


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
            mix[s0 : s0 + audio.size] += _gain(mention) * audio
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
    meta = {
        "duration": round(n / sr, 6),
        "n_samples": n,
        "slots": len(plan.slots),
        "events": events,
        "scaled_by": round(min(1.0, HEADROOM_PEAK / peak), 4),
    }
    return samples, captions, meta
