"""Presets of the synthetic corpus: its splits, sizes, durations and mix of events and captions.

``smoke`` (CI), ``quick`` (3-4 s clips, the offline default), ``long`` (Clotho's 15-30 s durations;
captions state the order of the events and how many times each countable one occurs, with the
occurrences spread over seconds, so the task needs the time axis) and ``clotho-shaped`` (Clotho's
sizes, for speed benchmarks). :func:`resolve_preset` applies overrides and checks the result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from aac_subsampling.data.clotho_card import CLIP_SECONDS, CLOTHO_V1_COUNTS, SPLITS
from aac_subsampling.data.synthetic.captions import COUNT_WORDS
from aac_subsampling.data.synthetic.events import EVENT_NAMES, EVENTS

__all__ = ["MIN_DURATION", "SPLITS", "SYNTHETIC_SPLITS", "CorpusPreset", "PRESETS", "resolve_preset"]

#: The synthetic corpora's splits: Clotho v1's two, then a validation split (Clotho v2 has one; v1 has none),
#: used only for decisions during training (early stopping, learning curves), never the evaluation split.
#: Appended last, so the clips of the first two splits keep their random streams (``clips._clip_rngs``).
SYNTHETIC_SPLITS: tuple[str, ...] = (*SPLITS, "validation")

MIN_DURATION = 3.0  # seconds; sub-sampling M = 16 needs 256 frames (~2.97 s at 44.1 kHz)


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
    n_validation: int = 0  # clips of the validation split (early stopping and learning curves); 0: none


PRESETS: dict[str, CorpusPreset] = {
    # seconds to make; for CI and tests
    "smoke": CorpusPreset(
        n_development=8, n_evaluation=4, min_duration=3.0, max_duration=3.5, caption_style="regular", n_validation=4
    ),
    # the offline default. Regular captions and at most two events (mostly at normal loudness): learnable
    # by the paper's decoder in the 500-1000 training steps per M that the quick profile trains.
    "quick": CorpusPreset(
        n_development=200,
        n_evaluation=60,
        min_duration=3.0,
        max_duration=4.0,
        max_events=2,
        event_count_weights=(0.5, 0.5, 0.0),
        loudness_weights=(0.2, 0.6, 0.2),
        companion_probability=0.2,
        caption_style="regular",
        n_validation=40,  # decoded twice (real and swapped audio) every few epochs: cheap beside training
    ),
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
    "long": CorpusPreset(
        n_development=120,
        n_evaluation=48,
        min_duration=15.0,
        max_duration=30.0,
        event_count_weights=(0.1, 0.45, 0.45),
        loudness_weights=(0.0, 1.0, 0.0),
        companion_probability=0.3,
        caption_style="regular",
        max_count=4,
        min_impulsive=1,
        spread_counts=True,
        slot_evenness=4.0,
        separate_caption_stream=True,
        n_validation=24,
    ),
    # Clotho v1's sizes and durations, for speed benchmarks only
    "clotho-shaped": CorpusPreset(
        n_development=CLOTHO_V1_COUNTS["development"],
        n_evaluation=CLOTHO_V1_COUNTS["evaluation"],
        min_duration=CLIP_SECONDS[0],
        max_duration=CLIP_SECONDS[1],
    ),
}


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
    if p.n_development < 0 or p.n_evaluation < 0 or p.n_validation < 0:
        raise ValueError("n_development, n_evaluation and n_validation must be >= 0")
    if p.n_validation == 1:
        raise ValueError(
            "n_validation must be 0 or at least 2 (each validation clip is also decoded from another's audio)"
        )
    bad = set(p.event_names) - set(EVENT_NAMES)
    if bad or len(p.event_names) < p.max_events:
        raise ValueError(f"event_names must hold at least max_events known events; unknown: {sorted(bad)}")
    if p.sample_rate != 44100:
        raise ValueError(f"the synthetic corpus is written at 44100 Hz, got sample_rate={p.sample_rate}")
    if not 1 <= p.max_count <= max(COUNT_WORDS):
        raise ValueError(
            f"max_count must be 1..{max(COUNT_WORDS)} (the captions have no words beyond), got {p.max_count}"
        )
    if not 0 <= p.min_impulsive <= p.max_events:
        raise ValueError(f"min_impulsive must be 0..max_events={p.max_events}, got {p.min_impulsive}")
    if p.min_impulsive and not any(EVENTS[name].impulsive for name in p.event_names):
        raise ValueError("min_impulsive > 0 needs at least one impulsive event in event_names")
    if p.slot_evenness <= 0:
        raise ValueError(f"slot_evenness must be > 0, got {p.slot_evenness}")
    return p
