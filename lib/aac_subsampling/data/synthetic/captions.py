"""Caption grammar of the synthetic corpus: five differently worded, truthful captions per clip.

A clip is a sequence of *slots* (played one after the other); each slot has a main event and
optionally a continuous *companion* sounding at the same time. Every event mention states what the
audio holds: which event, its loudness (``quiet`` / ``loud``; ``normal`` is left unsaid) and, for
impulsive events, how many times it occurs (once / twice / three times / four times). Slots are joined with
"then"-style connectives, companions with "while"-style ones, so the captions describe order and
overlap. Wording varies through per-event synonym patterns and sentence templates; every word
comes from the fixed lists below, which keeps the vocabulary near two hundred words.

Two styles (``CorpusPreset.caption_style``):

- ``varied``: Clotho-like; sentence templates move the events around ("in this recording ...",
  "we can hear ...", "first ..., then ...", nominal forms).
- ``regular``: the events are always said first-to-last, each as a clause, joined by "then" / "while";
  only the words vary (synonyms, loudness and count wordings). The paper's decoder gets no previous
  word, so it must learn which word comes at which step; with regular captions a few hundred CPU
  training steps are enough to learn that, which the ``smoke`` and ``quick`` profiles need.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aac_subsampling.method.tokens import normalise_caption

__all__ = [
    "Mention",
    "Slot",
    "LEXICON",
    "COUNT_WORDS",
    "MIN_WORDS",
    "MAX_WORDS",
    "make_captions",
    "caption_words",
    "captions_fit",
    "vocabulary",
]

MIN_WORDS, MAX_WORDS = 8, 20


@dataclass(frozen=True)
class Mention:
    """One event as the captions describe it."""

    event: str
    loudness: str  # "quiet" | "normal" | "loud"
    count: int = 0  # occurrences of an impulsive event; 0 for continuous events


@dataclass(frozen=True)
class Slot:
    main: Mention
    companion: Mention | None = None  # a continuous event sounding during the whole slot


@dataclass(frozen=True)
class Lexicon:
    """Ways to say one event. Placeholders: ``{a}`` article (+ loudness adjective), ``{adj}``
    loudness adjective with a trailing space (mass nouns), ``{adv}`` loudness adverb with a leading
    space, ``{count}`` the number of occurrences with a leading space."""

    clauses: tuple[str, ...]  # finite clauses: "{a} dog barks{adv}{count}"
    nominals: tuple[str, ...]  # noun phrases: "{a} dog barking{adv}{count}"
    loud_adj: tuple[str, ...] = ("loud",)
    quiet_adj: tuple[str, ...] = ("quiet", "faint", "distant", "soft")
    loud_adv: tuple[str, ...] = ("loudly",)
    quiet_adv: tuple[str, ...] = ("quietly", "softly", "faintly", "in the distance")


LEXICON: dict[str, Lexicon] = {
    "dog_bark": Lexicon(
        (
            "{a} dog barks{adv}{count}",
            "{a} dog is barking{adv}{count}",
            "{a} dog can be heard barking{adv}{count}",
            "{a} dog woofs{adv}{count}",
        ),
        ("{a} dog barking{adv}{count}", "{a} dog woofing{adv}{count}"),
    ),
    "bird_chirp": Lexicon(
        (
            "{a} bird chirps{adv}{count}",
            "{a} bird tweets{adv}{count}",
            "{a} bird is chirping{adv}{count}",
            "{a} bird can be heard tweeting{adv}{count}",
        ),
        ("{a} bird chirping{adv}{count}", "{a} bird tweeting{adv}{count}"),
    ),
    "bell": Lexicon(
        (
            "{a} bell rings{adv}{count}",
            "{a} bell is ringing{adv}{count}",
            "{a} bell chimes{adv}{count}",
            "{a} church bell rings{adv}{count}",
        ),
        ("{a} bell ringing{adv}{count}", "{a} bell chiming{adv}{count}"),
    ),
    "knocking": Lexicon(
        (
            "someone knocks on a door{adv}{count}",
            "someone is knocking on the door{adv}{count}",
            "{a} person knocks on a door{adv}{count}",
            "someone knocks on wood{adv}{count}",
        ),
        ("someone knocking on a door{adv}{count}", "knocking on a door{adv}{count}"),
    ),
    "car_horn": Lexicon(
        (
            "{a} car horn honks{adv}{count}",
            "{a} car honks its horn{adv}{count}",
            "{a} horn beeps{adv}{count}",
            "{a} car horn is honking{adv}{count}",
        ),
        ("{a} car horn honking{adv}{count}", "{a} horn beeping{adv}{count}"),
    ),
    "rain": Lexicon(
        ("{adj}rain falls{adv}", "{adj}rain is falling{adv}", "{adj}rain pours down{adv}", "{adj}rain patters{adv}"),
        ("{adj}rain falling{adv}", "{adj}rainfall", "{adj}rain pattering{adv}"),
        loud_adj=("heavy", "loud"),
        quiet_adj=("light", "gentle", "quiet"),
    ),
    "wind": Lexicon(
        ("{adj}wind blows{adv}", "{adj}wind is blowing{adv}", "{adj}wind howls{adv}", "{adj}wind gusts{adv}"),
        ("{adj}wind blowing{adv}", "{adj}gusts of wind", "{adj}wind howling{adv}"),
        loud_adj=("strong", "loud"),
        quiet_adj=("gentle", "light", "soft"),
    ),
    "car_engine": Lexicon(
        ("{a} car engine runs{adv}", "{a} car engine is idling{adv}", "{a} engine rumbles{adv}", "{a} motor hums{adv}"),
        ("{a} car engine running{adv}", "{a} idling engine", "{a} motor humming{adv}"),
    ),
    "footsteps": Lexicon(
        ("someone walks{adv}", "someone is walking{adv}", "{a} person walks{adv}", "{adj}footsteps are heard{adv}"),
        ("{adj}footsteps", "someone walking{adv}", "{a} person walking{adv}"),
    ),
    "siren": Lexicon(
        ("{a} siren wails{adv}", "{a} siren is wailing{adv}", "{a} police siren sounds{adv}", "{a} siren blares{adv}"),
        ("{a} siren wailing{adv}", "{a} wailing siren", "{a} police siren"),
    ),
    "running_water": Lexicon(
        ("{adj}water is running{adv}", "{adj}water flows{adv}", "{a} stream babbles{adv}", "{a} tap is running{adv}"),
        ("{adj}running water", "{adj}water flowing{adv}", "{a} babbling stream"),
    ),
    "applause": Lexicon(
        ("{a} crowd applauds{adv}", "people clap{adv}", "{a} crowd is clapping{adv}", "{a} audience claps{adv}"),
        ("{adj}applause", "{a} crowd clapping{adv}", "people clapping{adv}"),
    ),
}

COUNT_WORDS = {
    1: ("once", "one time", "a single time"),
    2: ("twice", "two times"),
    3: ("three times", "thrice"),
    4: ("four times",),
}  # 4: only the ``long`` preset counts that far (``CorpusPreset.max_count``)

SINGLE_CLAUSE = ("{p}", "in this recording {p}", "in this clip {p}", "in the audio {p}")
SINGLE_ALONE = (
    "{p} in an otherwise quiet recording",
    "{p} and nothing else can be heard",
    "in a quiet place {p}",
)  # only true when the clip holds one event
SINGLE_NOMINAL = (
    "the sound of {n} can be heard",
    "we can hear {n}",
    "there is the sound of {n}",
    "{n} can be heard in this recording",
    "this is a recording of {n}",
)
THROUGHOUT = (" throughout the recording", " the whole time", " for the entire clip", " without stopping")
COMPANION = (
    "{m} while {c}",
    "{m} as {c}",
    "{m} with {cn} in the background",
    "{m} over the sound of {cn}",
    "while {c}, {m}",
    "{c} and meanwhile {m}",
)
TWO_SLOTS = (
    "{p1}, then {p2}",
    "{p1} and then {p2}",
    "first {p1}, then {p2}",
    "{p1}, after that {p2}",
    "{p1} before {p2}",
    "{p1}, followed by {n2}",
    "{n1} is followed by {n2}",
)
REGULAR_COMPANION = ("{m} while {c}", "{m} as {c}")
REGULAR_JOIN = (" then ", ", then ")
REGULAR_ALONE = (" in an otherwise quiet recording", " and nothing else can be heard", " in a quiet place")
THREE_SLOTS = (
    "{p1}, then {p2}, and finally {p3}",
    "first {p1}, then {p2}, and then {p3}",
    "{p1}, then {p2}, followed by {n3}",
    "{p1}, after that {p2}, and then {p3}",
)
_ARTICLE = re.compile(r"\ba (?=[aeiou])")


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _usable(pattern: str, mention: Mention) -> bool:
    """A pattern can state the mention's loudness and count (never leave them unsaid)."""
    if mention.count and "{count}" not in pattern:
        return False
    if mention.loudness != "normal" and not any(p in pattern for p in ("{a}", "{adj}", "{adv}")):
        return False
    return True


def _render(patterns: Sequence[str], mention: Mention, rng: np.random.Generator) -> str:
    lex = LEXICON[mention.event]
    pattern = _pick(rng, [p for p in patterns if _usable(p, mention)])
    fill = {"a": "a", "adj": "", "adv": "", "count": ""}
    if mention.loudness != "normal":
        modes = [m for m, marks in (("adj", ("{a}", "{adj}")), ("adv", ("{adv}",))) if any(k in pattern for k in marks)]
        if _pick(rng, modes) == "adj":
            word = _pick(rng, lex.loud_adj if mention.loudness == "loud" else lex.quiet_adj)
            fill["a"], fill["adj"] = f"a {word}", f"{word} "
        else:
            fill["adv"] = " " + _pick(rng, lex.loud_adv if mention.loudness == "loud" else lex.quiet_adv)
    if mention.count:
        fill["count"] = " " + _pick(rng, COUNT_WORDS[mention.count])
    return pattern.format(**fill)


def _clause(m: Mention, rng: np.random.Generator) -> str:
    return _render(LEXICON[m.event].clauses, m, rng)


def _nominal(m: Mention, rng: np.random.Generator) -> str:
    return _render(LEXICON[m.event].nominals, m, rng)


def _slot_clause(slot: Slot, rng: np.random.Generator) -> str:
    main = _clause(slot.main, rng)
    if slot.companion is None:
        return main
    template = _pick(rng, COMPANION)
    return template.format(m=main, c=_clause(slot.companion, rng), cn=_nominal(slot.companion, rng))


def _slot_nominal(slot: Slot, rng: np.random.Generator) -> str:
    main = _nominal(slot.main, rng)
    if slot.companion is None:
        return main
    return f"{main} with {_nominal(slot.companion, rng)} in the background"


def _sentence(slots: Sequence[Slot], rng: np.random.Generator) -> str:
    if len(slots) == 1:
        slot = slots[0]
        alone = slot.companion is None
        kind = _pick(rng, ("clause", "nominal", "alone") if alone else ("clause", "nominal"))
        if kind == "nominal":
            return _pick(rng, SINGLE_NOMINAL).format(n=_slot_nominal(slot, rng))
        clause = _slot_clause(slot, rng)
        if alone and slot.main.count == 0 and rng.random() < 0.5:
            clause += _pick(rng, THROUGHOUT)
        return _pick(rng, SINGLE_ALONE if kind == "alone" else SINGLE_CLAUSE).format(p=clause)
    fills = {}
    for i, slot in enumerate(slots, start=1):
        fills[f"p{i}"] = _slot_clause(slot, rng)
        fills[f"n{i}"] = _slot_nominal(slot, rng)
    return _pick(rng, TWO_SLOTS if len(slots) == 2 else THREE_SLOTS).format(**fills)


def _regular_sentence(slots: Sequence[Slot], rng: np.random.Generator) -> str:
    """Events in their order, each a clause; companions after their main event."""
    clauses = []
    for slot in slots:
        main = _clause(slot.main, rng)
        if slot.companion is not None:
            main = _pick(rng, REGULAR_COMPANION).format(m=main, c=_clause(slot.companion, rng))
        clauses.append(main)
    sentence = clauses[0]
    for clause in clauses[1:]:
        sentence += _pick(rng, REGULAR_JOIN) + clause
    if len(slots) == 1 and slots[0].companion is None:  # one event alone: say so, at the end
        if slots[0].main.count == 0:
            sentence += _pick(rng, THROUGHOUT)
        sentence += _pick(rng, REGULAR_ALONE)
    return sentence


CAPTION_STYLES = {"varied": _sentence, "regular": _regular_sentence}


def caption_words(caption: str) -> list[str]:
    """Words of a caption as the vocabulary sees them: :func:`aac_subsampling.method.tokens.normalise_caption`."""
    return normalise_caption(caption)


def _finish(sentence: str) -> str:
    sentence = _ARTICLE.sub("an ", " ".join(sentence.split()))
    return sentence[0].upper() + sentence[1:] + "."


def make_captions(
    slots: Sequence[Slot], rng: np.random.Generator, n: int = 5, attempts: int = 400, style: str = "varied"
) -> list[str]:
    """``n`` distinct captions of the clip, each ``MIN_WORDS``..``MAX_WORDS`` words when the grammar allows.

    Draws random wordings until ``n`` distinct ones fall in the length range; if the grammar cannot
    produce enough (very short or very long clips), the closest lengths fill the rest.
    """
    if not 1 <= len(slots) <= 3:
        raise ValueError(f"a clip has 1 to 3 slots, got {len(slots)}")
    if style not in CAPTION_STYLES:
        raise ValueError(f"caption style must be one of {sorted(CAPTION_STYLES)}, got {style!r}")
    sentence = CAPTION_STYLES[style]
    good: list[str] = []
    spare: dict[str, int] = {}
    for _ in range(attempts):
        caption = _finish(sentence(slots, rng))
        words = len(caption_words(caption))
        if MIN_WORDS <= words <= MAX_WORDS:
            if caption not in good:
                good.append(caption)
                if len(good) == n:
                    return good
        else:
            spare[caption] = max(MIN_WORDS - words, words - MAX_WORDS)
    extra = sorted(spare, key=lambda c: (spare[c], c))
    return (good + extra)[:n]


def captions_fit(captions: Sequence[str], n: int = 5) -> bool:
    """``n`` distinct captions, each ``MIN_WORDS``..``MAX_WORDS`` words (what :func:`make_captions` aims for)."""
    return len(set(captions)) == len(captions) == n and all(
        MIN_WORDS <= len(caption_words(c)) <= MAX_WORDS for c in captions
    )


def vocabulary() -> set[str]:
    """Every word the grammar can emit (an upper bound of the corpus vocabulary)."""
    texts: list[str] = []
    for lex in LEXICON.values():
        texts += [*lex.clauses, *lex.nominals, *lex.loud_adj, *lex.quiet_adj, *lex.loud_adv, *lex.quiet_adv]
    for group in (
        SINGLE_CLAUSE,
        SINGLE_ALONE,
        SINGLE_NOMINAL,
        THROUGHOUT,
        COMPANION,
        TWO_SLOTS,
        THREE_SLOTS,
        REGULAR_COMPANION,
        REGULAR_JOIN,
        REGULAR_ALONE,
        *COUNT_WORDS.values(),
    ):
        texts += list(group)
    words = set()
    for text in texts:
        words.update(caption_words(re.sub(r"\{\w+\}", " ", text)))
    return words | {"an"}
