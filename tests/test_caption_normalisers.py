"""Caption normalisers: one for the model's words, and the metrics' PTB tokenisation, which differs on purpose."""

from __future__ import annotations

import numpy as np

from aac_subsampling.data.synthetic.captions import Mention, Slot, caption_words, make_captions
from aac_subsampling.evaluation import fallback_tokenize
from aac_subsampling.method.tokens import normalise_caption


def test_synthetic_caption_words_are_the_vocabulary_normalisation():
    """The synthetic grammar counts words exactly as the vocabulary splits them, glued punctuation included."""
    for text in ('a dog,barks "x"y', "A Bell rings; then: rain.", "one?two!three"):
        assert caption_words(text) == normalise_caption(text)
    assert caption_words("a dog,barks") == ["a", "dogbarks"]  # deleted, not replaced by a space
    rng = np.random.default_rng(0)
    slots = [Slot(Mention("dog_bark", "loud", 2), Mention("rain", "quiet")), Slot(Mention("siren", "normal"))]
    for caption in make_captions(slots, rng, n=5) + make_captions(slots, rng, n=5, style="regular"):
        assert caption_words(caption) == normalise_caption(caption)


def test_vocabulary_normalisation_is_not_the_metrics_tokenisation():
    """The metrics' tokeniser (PTB, here its pure-Python stand-in) splits clitics, brackets and glued
    punctuation off; the vocabulary's normaliser only deletes ``, . ! ? ; : "``."""
    captions = ["A dog's bark, then rain.", "a dog,barks", "birds (far away) sing"]
    assert [normalise_caption(c) for c in captions] == [
        ["a", "dog's", "bark", "then", "rain"],
        ["a", "dogbarks"],
        ["birds", "(far", "away)", "sing"],
    ]
    assert fallback_tokenize(captions) == ["a dog 's bark then rain", "a dog barks", "birds -lrb- far away -rrb- sing"]
