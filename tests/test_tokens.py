"""Vocabulary of paper Sec. 3.1 as docs/method.md (section 2) describes it: <sos>/<eos>, lower case,
punctuation removed, first-appearance order."""

import pytest

from aac_subsampling.method.tokens import EOS, SOS, UnknownWordError, Vocabulary, normalise_caption


def test_normalise_caption_strips_the_listed_characters_only():
    assert normalise_caption('A dog, barks! "Loudly"; then: quiet? yes.') == [
        "a",
        "dog",
        "barks",
        "loudly",
        "then",
        "quiet",
        "yes",
    ]
    assert normalise_caption("rock-and-roll   isn't\tbad") == ["rock-and-roll", "isn't", "bad"]


def test_vocabulary_order_counts_and_codec():
    vocabulary = Vocabulary.build(["A dog barks.", "The dog, sleeps"])
    assert vocabulary.words == [SOS, "a", "dog", "barks", EOS, "the", "sleeps"]
    assert vocabulary.frequencies() == [2, 1, 2, 1, 2, 1, 1]
    assert vocabulary.encode("the DOG barks") == [5, 2, 3, 4]
    assert vocabulary.decode([5, 2, 4, 1, 1]) == "the dog"
    assert vocabulary.decode([0, 1, 2]) == "a dog"


def test_unknown_word_names_word_and_caption():
    vocabulary = Vocabulary.build(["a dog barks"])
    with pytest.raises(UnknownWordError, match="'cat'.*'a cat barks'"):
        vocabulary.encode("a cat barks")


def test_save_and_load_round_trip(tmp_path):
    vocabulary = Vocabulary.build(["one two", "two three"])
    vocabulary.save(tmp_path / "v.json")
    loaded = Vocabulary.load(tmp_path / "v.json")
    assert loaded.words == vocabulary.words and loaded.frequencies() == vocabulary.frequencies()
