"""The caption-facts parser and scores (aac_subsampling.data.synthetic.facts)."""

from __future__ import annotations

import csv
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from aac_subsampling.data.clotho_card import captions_file
from aac_subsampling.data.synthetic import PRESETS, Mention, Slot, generate_corpus, make_captions, plan_clip
from aac_subsampling.data.synthetic import captions as grammar
from aac_subsampling.data.synthetic.facts import (
    FACT_NAMES,
    StatedEvent,
    clip_facts,
    load_clip_facts,
    parse_caption,
    score_facts,
    score_predictions,
)


def _meta(*slots: Slot) -> dict:
    """An events-json entry for ``slots`` (main, then companion, slot by slot; times are not used)."""
    events = []
    for i, slot in enumerate(slots):
        for mention, role in ((slot.main, "main"), (slot.companion, "companion")):
            if mention is not None:
                events.append(
                    {
                        "event": mention.event,
                        "role": role,
                        "loudness": mention.loudness,
                        "count": mention.count,
                        "start": float(i),
                        "end": float(i + 1),
                        "onsets": [],
                    }
                )
    return {"duration": float(len(slots)), "n_samples": 0, "slots": len(slots), "events": events, "scaled_by": 1.0}


def _applicable(meta: dict) -> set[str]:
    """The facts that must not be NaN for a caption naming the clip's events."""
    facts = {"event_recall", "event_precision", "loudness_right"}
    if any(e["count"] > 0 for e in meta["events"]):
        facts.add("count_right")
    if sum(e["role"] == "main" for e in meta["events"]) >= 2:
        facts.add("order_right")
    return facts


def _assert_reference_scores_one(caption: str, meta: dict, where: str) -> None:
    assert parse_caption(caption) == clip_facts(meta), f"{where}: {caption!r}"
    scores = score_facts(caption, meta)
    applicable = _applicable(meta)
    for name in FACT_NAMES:
        if name in applicable:
            assert scores[name] == 1.0, f"{where}: {name}={scores[name]} for {caption!r}"
        else:
            assert math.isnan(scores[name]), f"{where}: {name} should not apply: {scores[name]}"


def _read_captions(root, split) -> dict[str, list[str]]:
    with open(root / captions_file(split), newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return {row[0]: row[1:] for row in rows[1:]}


# --- the parser's proof: every caption the corpus writes states exactly its clip's facts ------------------------


def test_every_concrete_event_phrase_parses_to_its_event_loudness_and_count():
    n = 0
    for event, lex in grammar.LEXICON.items():
        for pattern in (*lex.clauses, *lex.nominals):
            loudness_fills = [("normal", {})]
            for level, adjectives, adverbs in (
                ("loud", lex.loud_adj, lex.loud_adv),
                ("quiet", lex.quiet_adj, lex.quiet_adv),
            ):
                if "{a}" in pattern or "{adj}" in pattern:
                    loudness_fills += [(level, {"a": f"a {w}", "adj": f"{w} "}) for w in adjectives]
                if "{adv}" in pattern:
                    loudness_fills += [(level, {"adv": f" {w}"}) for w in adverbs]
            count_fills = [(0, "")]
            if "{count}" in pattern:
                count_fills += [(c, f" {w}") for c, words in grammar.COUNT_WORDS.items() for w in words]
            for (level, fill), (count, count_words) in itertools.product(loudness_fills, count_fills):
                text = pattern.format(**{"a": "a", "adj": "", "adv": "", **fill, "count": count_words})
                caption = grammar._finish(text)
                assert parse_caption(caption) == [StatedEvent(event, level, count)], caption
                n += 1
    assert n > 1000


@pytest.mark.parametrize(
    ("preset", "overrides"),
    [
        ("smoke", {"n_development": 40, "n_evaluation": 20}),
        ("quick", {"n_development": 40, "n_evaluation": 20}),
        ("long", {"n_development": 3, "n_evaluation": 3}),
        ("smoke", {"n_development": 40, "n_evaluation": 20, "caption_style": "varied"}),
        ("quick", {"n_development": 20, "n_evaluation": 10, "caption_style": "varied"}),
    ],
)
def test_every_reference_caption_of_a_generated_corpus_scores_one(tmp_path, preset, overrides):
    generate_corpus(tmp_path, preset, seed=0, **overrides)
    n = 0
    for split in ("development", "evaluation"):
        metadata = load_clip_facts(tmp_path, split)
        captions = _read_captions(tmp_path, split)
        assert set(captions) == set(metadata)
        for name, clip_captions in captions.items():
            for caption in clip_captions:
                _assert_reference_scores_one(caption, metadata[name], f"{preset} {split} {name}")
                n += 1
    assert n == 5 * (overrides["n_development"] + overrides["n_evaluation"])


@pytest.mark.parametrize("style", ["regular", "varied"])
def test_captions_of_many_drawn_plans_parse_to_their_facts(style):
    """Far more plans than the corpora above (no audio): three events, companions, every loudness and count."""
    rng = np.random.default_rng(7)
    preset = PRESETS["smoke"]
    for k in range(300):
        slots = plan_clip(rng, 30.0, preset)
        meta = _meta(*slots)
        for caption in make_captions(slots, rng, style=style):
            _assert_reference_scores_one(caption, meta, f"{style} plan {k}")


def test_companion_first_templates_are_put_back_in_time_order():
    dog, rain, bell = Mention("dog_bark", "loud", 2), Mention("rain", "quiet"), Mention("bell", "normal", 1)
    truth = clip_facts(_meta(Slot(dog, rain), Slot(bell)))
    assert [f.event for f in truth] == ["dog_bark", "rain", "bell"]
    for caption in (
        "While light rain falls, a loud dog barks twice, then a bell rings once.",
        "Gentle rain patters and meanwhile a dog barks loudly twice, followed by a bell ringing once.",
        "A loud dog barking twice with light rain falling in the background is followed by a bell ringing once.",
        "First a dog barks loudly two times over the sound of gentle rainfall, then a bell chimes a single time.",
    ):
        assert parse_caption(caption) == truth, caption
        assert all(score_facts(caption, _meta(Slot(dog, rain), Slot(bell)))[f] == 1.0 for f in FACT_NAMES)


# --- wrong facts score below one --------------------------------------------------------------------------------

DOG = Mention("dog_bark", "loud", 2)
RAIN = Mention("rain", "normal")
BELL = Mention("bell", "quiet", 1)
CLIP = _meta(Slot(DOG, RAIN), Slot(BELL))
RIGHT = "A loud dog barks twice while rain falls, then a quiet bell rings once."


def test_the_right_caption_scores_one():
    assert score_facts(RIGHT, CLIP) == dict.fromkeys(FACT_NAMES, 1.0)


def test_another_clips_caption_scores_low_on_events():
    other = score_facts("A car engine runs then wind blows loudly.", CLIP)
    assert other["event_recall"] == 0.0 and other["event_precision"] == 0.0
    assert other["count_right"] == 0.0 and other["order_right"] == 0.0
    assert math.isnan(other["loudness_right"])  # none of the clip's events named
    partly = score_facts("A loud dog barks twice then a car engine runs.", CLIP)
    assert partly["event_recall"] == pytest.approx(1 / 3) and partly["event_precision"] == 0.5
    extra = score_facts(RIGHT[:-1] + " then a siren wails.", CLIP)
    assert extra["event_recall"] == 1.0 and extra["event_precision"] == 0.75


def test_a_wrong_count_is_wrong():
    scores = score_facts("A loud dog barks three times while rain falls, then a quiet bell rings once.", CLIP)
    assert scores["count_right"] == 0.5  # the bell's count is right, the dog's is not
    assert scores["event_recall"] == scores["loudness_right"] == scores["order_right"] == 1.0
    one_counted = _meta(Slot(DOG))
    assert score_facts("A loud dog barks once.", one_counted)["count_right"] == 0.0
    assert score_facts("A loud dog barks.", one_counted)["count_right"] == 0.0  # no count said
    assert score_facts("A loud dog barks two times.", one_counted)["count_right"] == 1.0


def test_a_swapped_order_is_wrong():
    swapped = score_facts("A quiet bell rings once, then a loud dog barks twice while rain falls.", CLIP)
    assert swapped["order_right"] == 0.0
    assert swapped["event_recall"] == swapped["count_right"] == swapped["loudness_right"] == 1.0
    assert score_facts("A loud dog barks twice.", CLIP)["order_right"] == 0.0  # one main event cannot show order
    # the companion is not a main event: its place does not matter to the order
    assert (
        score_facts("Rain falls, then a loud dog barks twice, then a quiet bell rings once.", CLIP)["order_right"] == 1
    )


def test_a_missing_or_wrong_loudness_word_is_wrong():
    missing = score_facts("A dog barks twice while rain falls, then a quiet bell rings once.", CLIP)
    assert missing["loudness_right"] == pytest.approx(2 / 3)
    assert missing["event_recall"] == missing["count_right"] == 1.0
    added = score_facts("A loud dog barks twice while heavy rain falls, then a bell rings quietly once.", CLIP)
    assert added["loudness_right"] == pytest.approx(2 / 3)  # rain is normal: "heavy" is wrong


def test_facts_that_do_not_apply_are_nan():
    rain_alone = _meta(Slot(Mention("rain", "quiet")))
    scores = score_facts("Light rain falls the whole time in a quiet place.", rain_alone)
    assert math.isnan(scores["count_right"]) and math.isnan(scores["order_right"])
    assert scores["event_recall"] == scores["event_precision"] == scores["loudness_right"] == 1.0
    assert (
        score_facts("Rain falls in a quiet place.", rain_alone)["loudness_right"] == 0.0
    )  # "quiet place" is no loudness
    nothing = score_facts("", rain_alone)
    assert nothing["event_recall"] == nothing["event_precision"] == 0.0 and math.isnan(nothing["loudness_right"])


# --- robustness on predicted captions ---------------------------------------------------------------------------

WORD_SOUP = " ".join(np.random.default_rng(3).permutation(sorted(grammar.vocabulary()))[:40])


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        ("", []),
        ("a a a a", []),
        ("zorp glib the of in a quiet", []),
        (
            "a dog barks barks twice then then a bell",
            [StatedEvent("dog_bark", "normal", 2), StatedEvent("bell", "normal")],
        ),
        ("a dog dog barks loudly loudly", [StatedEvent("dog_bark", "loud", 0)]),
        ("a car horn honks once then a car", [StatedEvent("car_horn", "normal", 1)]),  # "car": horn or engine?
        ("a dog barks loudly a quiet bell rings", [StatedEvent("dog_bark", "loud"), StatedEvent("bell", "quiet")]),
        (
            "a dog barks then a dog barks twice",
            [StatedEvent("dog_bark", "normal"), StatedEvent("dog_bark", "normal", 2)],
        ),
        ("while", []),
        ("and meanwhile a dog barks", [StatedEvent("dog_bark", "normal")]),
        ("while rain falls", [StatedEvent("rain", "normal")]),
    ],
)
def test_predicted_captions_parse_robustly(caption, expected):
    assert parse_caption(caption) == expected


@pytest.mark.parametrize(
    "caption",
    ["", "a a a a", "a dog barks barks twice then then a bell", WORD_SOUP, "  ,.;: ", "ÉÀ 日本 \t\n", "twice " * 500],
)
def test_scores_of_odd_predictions_are_in_range(caption):
    for meta in (CLIP, _meta(Slot(Mention("wind", "normal"))), _meta(Slot(DOG), Slot(BELL))):
        scores = score_facts(caption, meta)
        assert set(scores) == set(FACT_NAMES)
        assert all(math.isnan(v) or 0.0 <= v <= 1.0 for v in scores.values()), scores
    stutter = score_facts("a dog barks barks twice then then a bell", _meta(Slot(DOG), Slot(BELL)))
    assert stutter == {
        "event_recall": 1.0,
        "event_precision": 1.0,
        "count_right": 0.5,
        "order_right": 1.0,
        "loudness_right": 0.0,
    }
    assert parse_caption(None) == []  # type: ignore[arg-type]


# --- files and frames -------------------------------------------------------------------------------------------


def test_load_clip_facts_names_the_file_when_missing_or_malformed(tmp_path):
    with pytest.raises(FileNotFoundError, match="events_evaluation.json"):
        load_clip_facts(tmp_path, "evaluation")
    path = tmp_path / "events_evaluation.json"
    for text in ("{not json", json.dumps({"split": "evaluation"}), json.dumps({"clips": {"a.wav": {"events": 3}}})):
        path.write_text(text)
        with pytest.raises(ValueError, match="events_evaluation.json"):
            load_clip_facts(tmp_path, "evaluation")
    path.write_text(json.dumps({"clips": {"a.wav": CLIP}}))
    assert load_clip_facts(tmp_path, "evaluation") == {"a.wav": CLIP}


def test_score_predictions_gives_one_row_per_clip_and_names_unknown_clips():
    metadata = {"a.wav": CLIP, "b v1.3.wav": _meta(Slot(Mention("wind", "normal")))}
    frame = score_predictions({"b v1.3.wav": "Wind blows.", "a.wav": RIGHT}, metadata)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(FACT_NAMES) and frame.index.name == "clip_id"
    assert list(frame.index) == ["b v1.3.wav", "a.wav"]
    assert (frame.loc["a.wav"] == 1.0).all()
    assert frame.loc["b v1.3.wav", "event_recall"] == 1.0 and math.isnan(frame.loc["b v1.3.wav", "count_right"])
    empty = score_predictions({}, metadata)
    assert list(empty.columns) == list(FACT_NAMES) and len(empty) == 0
    with pytest.raises(ValueError, match="missing.wav"):
        score_predictions({"a.wav": RIGHT, "missing.wav": "a dog barks"}, metadata)
