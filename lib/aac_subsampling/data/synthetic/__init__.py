"""Synthetic Clotho-format corpora: the offline default data set, and a Clotho-shaped one for dry runs.

- :mod:`.events`: twelve procedurally synthesised sound events (five countable, seven continuous).
- :mod:`.captions`: the caption grammar: five truthful, differently worded captions per clip.
- :mod:`.presets`: corpus presets (``smoke``, ``quick``, ``long``, ``clotho-shaped``) and their checks.
- :mod:`.clips`: one clip's plan (events in slots, captions) and audio, a pure function of (seed, split, index).
- :mod:`.corpus`: :func:`generate_corpus`, which writes the corpus deterministically in Clotho's layout,
  and the write helpers (unchanged files are not rewritten; foreign wavs are never overwritten).
- :mod:`.clotho_shaped`: Clotho v1's real names and captions with synthetic audio; its CLI is
  ``python -m aac_subsampling.data.synthetic.clotho_shaped``. Not imported here, so that running it
  with ``-m`` finds it unimported.

The captions state the events, their order ("then"), overlap ("while"), loudness and repetition
counts, so they are predictable from the audio. This package re-exports the public names of
:mod:`.presets`, :mod:`.clips` and :mod:`.corpus` and the event and caption names they build on.
"""

from __future__ import annotations

from aac_subsampling.data.synthetic.captions import (
    COUNT_WORDS,
    Mention,
    Slot,
    caption_words,
    captions_fit,
    make_captions,
)
from aac_subsampling.data.synthetic.clips import (
    HEADROOM_PEAK,
    LOUD_PEAK,
    LOUD_RMS,
    LOUDNESS_DB,
    MAX_SPACING,
    NOISE_FLOOR_RMS,
    ClipPlan,
    clip_name,
    draw_clip_plan,
    plan_clip,
    synthesise_clip,
)
from aac_subsampling.data.synthetic.corpus import (
    MARKER,
    CorpusSummary,
    captions_csv_bytes,
    generate_corpus,
    refuse_foreign_wavs,
    write_if_changed,
)
from aac_subsampling.data.synthetic.events import EVENT_NAMES, EVENTS, render_event, slot_min_seconds
from aac_subsampling.data.synthetic.presets import MIN_DURATION, PRESETS, SPLITS, CorpusPreset, resolve_preset

__all__ = [
    "CorpusPreset",
    "PRESETS",
    "EVENT_NAMES",
    "MIN_DURATION",
    "SPLITS",
    "CorpusSummary",
    "ClipPlan",
    "generate_corpus",
    "plan_clip",
    "draw_clip_plan",
    "synthesise_clip",
    "resolve_preset",
    "clip_name",
    "captions_csv_bytes",
    "write_if_changed",
    "refuse_foreign_wavs",
    "MARKER",
    "MAX_SPACING",
    "LOUDNESS_DB",
    "LOUD_PEAK",
    "LOUD_RMS",
    "NOISE_FLOOR_RMS",
    "HEADROOM_PEAK",
    "EVENTS",
    "render_event",
    "slot_min_seconds",
    "COUNT_WORDS",
    "Mention",
    "Slot",
    "caption_words",
    "captions_fit",
    "make_captions",
]
