"""Facts a caption states about a synthetic clip, and how many of them are right.

The synthetic corpus knows each clip's ground truth (``events_<split>.json``: which events, in which order, how
loud, how many times), and its captions come from a closed grammar (:mod:`.captions`). So a predicted caption can be
checked fact by fact, which n-gram metrics cannot: does it name the clip's events, with the right counts, in the
right order, at the right loudness? That is what a model that keeps fewer time steps may lose.

The parser reads that grammar back. Its phrase tables are derived from :mod:`.captions`' own lists (never retyped),
so they follow the grammar when it changes:

- *event phrases*: every Lexicon pattern (clauses and nominals) with its placeholders left empty, e.g. "dog barks",
  "dog can be heard barking", "gusts of wind"; an unambiguous *start* of one ("bell", "car horn") also names its
  event, so that truncated predictions ("... then a bell") still count;
- *loudness words*: the events' loud/quiet adjectives (said before the event phrase) and adverbs (after it);
- *count words*: :data:`COUNT_WORDS`;
- *connectives*: the fixed text of every sentence template (``THROUGHOUT``, ``COMPANION``, ``TWO_SLOTS``, ...).

Words are normalised as the vocabulary does (:func:`.captions.caption_words`) and matched longest-first, left to
right. Predicted captions may be ungrammatical, truncated or stutter ("a dog barks barks twice then then a bell"):
the parser never raises; it finds event mentions in word order and gives each the loudness and count words of its
clause (the words between connectives): an adjective right before the event phrase, otherwise words after it up to
the next mention or connective. The first loudness word and the first count word of a mention win.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from aac_subsampling.data.synthetic import captions as grammar
from aac_subsampling.data.synthetic.captions import COUNT_WORDS, LEXICON, caption_words

__all__ = [
    "FACT_NAMES",
    "StatedEvent",
    "parse_caption",
    "clip_facts",
    "score_facts",
    "load_clip_facts",
    "score_predictions",
]

FACT_NAMES = ("event_recall", "event_precision", "count_right", "order_right", "loudness_right")
LOUDNESS_LEVELS = ("quiet", "normal", "loud")


@dataclass(frozen=True)
class StatedEvent:
    """One event as a caption states it (or as a clip holds it): the unit that facts are compared in."""

    event: str
    loudness: str  # "quiet" | "normal" | "loud"; "normal" is what a caption says by saying no loudness word
    count: int = 0  # occurrences said (impulsive events); 0 when no count is said / the event is continuous


# --- phrase tables, derived from the grammar's own lists -------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\w+\}")
# Template groups whose fixed text are connectives (clause boundaries). Templates of several slots state the
# events first-to-last (also "{n1} is followed by {n2}"); only two companion templates put the companion first.
_TEMPLATE_GROUPS = (
    "SINGLE_CLAUSE",
    "SINGLE_ALONE",
    "SINGLE_NOMINAL",
    "THROUGHOUT",
    "COMPANION",
    "TWO_SLOTS",
    "THREE_SLOTS",
    "REGULAR_COMPANION",
    "REGULAR_JOIN",
    "REGULAR_ALONE",
)
_COMPANION_FIRST = "while {c}, {m}"  # "while" opening a slot: the next event is the companion
_COMPANION_BEFORE = "{c} and meanwhile {m}"  # the event before "and meanwhile" is the companion


def _words(text: str) -> tuple[str, ...]:
    return tuple(caption_words(text))


def _fragments(template: str) -> list[tuple[str, ...]]:
    """The fixed word runs of a template, e.g. "{m} over the sound of {cn}" -> [("over", "the", "sound", "of")]."""
    return [w for w in (_words(part) for part in _PLACEHOLDER.split(template)) if w]


def _one_fragment(template: str) -> tuple[str, ...]:
    (fragment,) = _fragments(template)
    return fragment


def _build_tables() -> tuple[dict[tuple[str, ...], tuple[str, Any]], int]:
    """Phrase (word tuple) -> (kind, value) for kinds "event", "prefix", "adj", "adv", "count", "conn"."""
    table: dict[tuple[str, ...], tuple[str, Any]] = {}
    events: dict[tuple[str, ...], set[str]] = {}
    for name, lex in LEXICON.items():
        for pattern in (*lex.clauses, *lex.nominals):
            events.setdefault(_words(_PLACEHOLDER.sub(" ", pattern)), set()).add(name)
    ambiguous = sorted(" ".join(p) for p, names in events.items() if len(names) > 1)
    if ambiguous:  # the grammar itself would be ambiguous: fail loudly rather than score wrongly
        raise ValueError(f"event phrases shared by several events: {ambiguous}")
    prefixes: dict[tuple[str, ...], set[str]] = {}
    for phrase, names in events.items():
        for k in range(1, len(phrase)):
            prefixes.setdefault(phrase[:k], set()).update(names)
    for phrase, names in prefixes.items():
        if len(names) == 1 and phrase not in events:
            table[phrase] = ("prefix", next(iter(names)))
    for name in LEXICON:  # loudness words: the same word never means loud for one event and quiet for another
        lex = LEXICON[name]
        for kind, level, options in (
            ("adj", "loud", lex.loud_adj),
            ("adj", "quiet", lex.quiet_adj),
            ("adv", "loud", lex.loud_adv),
            ("adv", "quiet", lex.quiet_adv),
        ):
            for option in options:
                previous = table.setdefault(_words(option), (kind, level))
                if previous != (kind, level):
                    raise ValueError(f"loudness word {option!r} is both {previous} and {(kind, level)}")
    for n, options in COUNT_WORDS.items():
        for option in options:
            table[_words(option)] = ("count", n)
    for group in _TEMPLATE_GROUPS:
        for template in getattr(grammar, group):
            for fragment in _fragments(template):
                table[fragment] = ("conn", fragment)
    for phrase, names in events.items():  # last: an event phrase wins over any other reading of the same words
        table[phrase] = ("event", next(iter(names)))
    return table, max(len(p) for p in table)


_TABLE, _LONGEST = _build_tables()
_WHILE = _one_fragment(_COMPANION_FIRST)
_MEANWHILE = _one_fragment(_COMPANION_BEFORE)


def _lex(words: list[str]) -> list[tuple[str, Any]]:
    """Greedy longest-first segmentation into (kind, value) tokens; unknown words are ("other", word)."""
    tokens: list[tuple[str, Any]] = []
    i = 0
    while i < len(words):
        for length in range(min(_LONGEST, len(words) - i), 0, -1):
            hit = _TABLE.get(tuple(words[i : i + length]))
            if hit is not None:
                kind, value = hit
                tokens.append(("event" if kind == "prefix" else kind, value))
                i += length
                break
        else:
            tokens.append(("other", words[i]))
            i += 1
    return tokens


@dataclass
class _Mention:
    event: str
    loudness: str | None = None
    count: int | None = None

    def take(self, kind: str, value: Any) -> None:
        if kind in ("adj", "adv") and self.loudness is None:
            self.loudness = value
        elif kind == "count" and self.count is None:
            self.count = value


def parse_caption(caption: str) -> list[StatedEvent]:
    """The events a caption states, in the time order it states them; never raises.

    Why: the facts of a caption are compared with the clip's ground truth (:func:`clip_facts`), so both must be in
    the same order: slot after slot, a slot's companion after its main event. The two templates that word a
    companion first ("while {c}, {m}" opening a slot and "{c} and meanwhile {m}") are put back in that order;
    everything else is word order (also for predicted captions). An event said twice in a row without a
    connective between ("a dog barks barks", "a dog dog barks") is one mention; said again after a connective it is
    a new one.
    """
    if not isinstance(caption, str):
        caption = "" if caption is None else str(caption)
    tokens = _lex(caption_words(caption))
    mentions: list[_Mention] = []
    swaps: list[tuple[int, int]] = []  # (companion, main) mention indices said companion-first
    clause: list[int] = []  # indices of this clause's mentions
    pending: list[tuple[str, Any]] = []  # modifiers of this clause said before its first mention
    for k, (kind, value) in enumerate(tokens):
        if kind == "conn":
            if value == _WHILE and (k == 0 or tokens[k - 1][0] == "conn"):
                swaps.append((len(mentions), len(mentions) + 1))  # the next two mentions
            elif value == _MEANWHILE:
                swaps.append((len(mentions) - 1, len(mentions)))
            clause, pending = [], []
        elif kind == "event":
            if clause and mentions[clause[-1]].event == value:
                continue  # a repeated word of the same mention
            mention = _Mention(value)
            for modifier in pending:
                mention.take(*modifier)
            pending = []
            mentions.append(mention)
            clause.append(len(mentions) - 1)
        elif kind in ("adj", "adv", "count"):
            if kind == "adj" and k + 1 < len(tokens) and tokens[k + 1][0] == "event":
                if not (clause and mentions[clause[-1]].event == tokens[k + 1][1]):
                    pending.append((kind, value))  # an adjective belongs to the event phrase right after it
                    continue
            if clause:
                mentions[clause[-1]].take(kind, value)
            else:
                pending.append((kind, value))
    order = list(range(len(mentions)))
    done: set[int] = set()
    for companion, main in swaps:
        if 0 <= companion < main < len(mentions) and not done & {companion, main}:
            i, j = order.index(companion), order.index(main)
            order[i], order[j] = order[j], order[i]
            done.update((companion, main))
    return [StatedEvent(m.event, m.loudness or "normal", m.count or 0) for m in (mentions[i] for i in order)]


# --- ground truth ------------------------------------------------------------------------------------------------


def clip_facts(meta: Mapping[str, Any]) -> list[StatedEvent]:
    """The ground truth of one clip (its ``events_<split>.json`` entry) as :class:`StatedEvent`\\ s.

    Why: the same shape and order as :func:`parse_caption` (slot by slot, the main event before its companion, as
    the json lists them), so a caption's facts and the clip's can be compared directly. Raises ValueError on an
    entry that is not one.
    """
    try:
        events = meta["events"]
        facts = [StatedEvent(str(e["event"]), str(e["loudness"]), int(e["count"])) for e in events]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a synthetic clip's events entry ({error!r}): {str(meta)[:200]}") from error
    bad = [f for f in facts if f.loudness not in LOUDNESS_LEVELS or f.count < 0]
    if bad:
        raise ValueError(f"events with an unknown loudness or a negative count: {bad}")
    return facts


def _main_events(meta: Mapping[str, Any]) -> list[str]:
    return [str(e["event"]) for e in meta["events"] if e.get("role", "main") == "main"]


def _first_statements(stated: Iterable[StatedEvent]) -> tuple[list[str], dict[str, str], dict[str, int]]:
    """Events in order of first mention, and per event the first loudness / count any of its mentions states."""
    order: list[str] = []
    loudness: dict[str, str] = {}
    count: dict[str, int] = {}
    for s in stated:
        if s.event not in order:
            order.append(s.event)
        if s.loudness != "normal":
            loudness.setdefault(s.event, s.loudness)
        if s.count:
            count.setdefault(s.event, s.count)
    return order, loudness, count


def _share(hits: int, total: int) -> float:
    return hits / total if total else math.nan


def score_facts(prediction: str, meta: Mapping[str, Any]) -> dict[str, float]:
    """How many of a clip's facts one caption gets right, each in [0, 1] or NaN where it does not apply.

    Why: n-gram metrics reward the grammar's filler words; these ask whether the content is right. The caption is
    read by :func:`parse_caption`; an event it mentions several times states the first loudness word and the first
    count word found over its mentions ("normal" / no count when none). With T the clip's distinct events and N the
    distinct events the caption names:

    - ``event_recall`` = |T ∩ N| / |T|.
    - ``event_precision`` = |T ∩ N| / |N|; 0.0 when the caption names no event (saying nothing must not look good).
    - ``count_right``: share of the clip's counted events (impulsive, count > 0) that the caption names with exactly
      that count (an unnamed or uncounted one is wrong); NaN when the clip has no counted event.
    - ``order_right``: 1.0 when at least two of the clip's main events (one per slot, companions left out) are named
      and their first mentions follow the clip's slot order, else 0.0 (fewer than two named cannot show the
      order); NaN when the clip has fewer than two main events.
    - ``loudness_right``: share of the events in T ∩ N whose stated loudness equals the truth (no loudness word is
      "normal"); NaN when the caption names none of the clip's events.
    """
    truth = clip_facts(meta)
    order, loudness, count = _first_statements(parse_caption(prediction))
    clip_events = list(dict.fromkeys(f.event for f in truth))
    named = [e for e in clip_events if e in order]
    counted = [f for f in truth if f.count > 0]
    mains = list(dict.fromkeys(_main_events(meta)))
    if len(mains) < 2:
        order_right = math.nan
    else:
        said = [e for e in mains if e in order]
        order_right = float(len(said) >= 2 and sorted(said, key=order.index) == said)
    return {
        "event_recall": _share(len(named), len(clip_events)),
        "event_precision": len(named) / len(order) if order else 0.0,
        "count_right": _share(sum(count.get(f.event) == f.count for f in counted), len(counted)),
        "order_right": order_right,
        "loudness_right": _share(
            sum(loudness.get(f.event, "normal") == f.loudness for f in truth if f.event in named), len(named)
        ),
    }


def load_clip_facts(corpus_dir: str | Path, split: str) -> dict[str, dict[str, Any]]:
    """Clip file name -> events entry, from ``<corpus_dir>/events_<split>.json`` (the corpus' ground truth).

    Why: the facts are scored against what the corpus generator wrote, not against its captions. Errors name the
    file: FileNotFoundError when it is missing, ValueError when it is not such a file.
    """
    path = Path(corpus_dir) / f"events_{split}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the ground truth of a synthetic corpus' {split} split")
    try:
        clips = json.loads(path.read_text(encoding="utf-8"))["clips"]
        if not isinstance(clips, dict):
            raise TypeError(f"'clips' is a {type(clips).__name__}, not an object")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a synthetic corpus' events file: {error!r}") from error
    for clip_id, meta in clips.items():
        try:
            clip_facts(meta)
            _main_events(meta)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{path}: clip {clip_id!r} is not a synthetic clip's events entry: {error}") from error
    return clips


def score_predictions(predictions: Mapping[str, str], metadata: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """:func:`score_facts` of every prediction: a frame indexed by ``clip_id`` with one column per fact.

    Why: per-clip scores, so that models can be compared clip by clip (paired) and averaged with ``mean()`` (which
    skips the NaN of facts that do not apply). Raises ValueError naming the clip ids that have no metadata.
    """
    missing = [clip_id for clip_id in predictions if clip_id not in metadata]
    if missing:
        shown = ", ".join(repr(c) for c in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ValueError(f"{len(missing)} prediction(s) have no ground truth (events metadata): {shown}")
    rows = [score_facts(caption, metadata[clip_id]) for clip_id, caption in predictions.items()]
    index = pd.Index(list(predictions), name="clip_id", dtype=object)
    return pd.DataFrame(rows, index=index, columns=list(FACT_NAMES), dtype=float)
