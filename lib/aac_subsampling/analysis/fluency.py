"""Fluency, the crudest way: how often a caption says a word twice in a row ("a dog dog barks").

The paper's decoder never sees the word it emitted, so it cannot know it has just said "dog"; a decoder fed its
previous word can. The share of captions with a word repeated back to back is the symptom a reader notices
first in the paper's decoder's output. Words are compared after the project's caption normalisation
(:func:`aac_subsampling.method.tokens.normalise_caption`), as the diversity counts are.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from aac_subsampling.method.tokens import normalise_caption

__all__ = ["meteor_alignment", "repeated_word_share", "repeats_a_word", "without_repeats"]


def repeats_a_word(caption: str) -> bool:
    """Whether some word of the caption is followed by itself."""
    words = normalise_caption(caption)
    return any(first == second for first, second in zip(words, words[1:]))


def repeated_word_share(captions: Iterable[str]) -> float:
    """The share of captions that repeat a word back to back (NaN for no captions)."""
    flags = [repeats_a_word(caption) for caption in captions]
    return sum(flags) / len(flags) if flags else float("nan")


def without_repeats(caption: str) -> str:
    """The caption with each word said back to back kept once ("a dog dog barks" -> "a dog barks").

    A diagnostic, never a decoding step: scoring captions with and without their repeats measures how much of a
    metric's gap the stutter alone explains. Words are compared as :func:`repeats_a_word` compares them
    (normalised), and the caption's own spelling is kept.
    """
    words = caption.split()
    keys = [" ".join(normalise_caption(word)) for word in words]
    return " ".join(word for i, word in enumerate(words) if i == 0 or keys[i] != keys[i - 1])


def meteor_alignment(stats: pd.DataFrame) -> dict[str, float]:
    """What METEOR saw, summed over a split's clips, from its per-clip statistics (``metrics_stats.csv``).

    ``words_per_caption``: the predicted captions' mean length in METEOR's tokens; ``reference_words_matched``:
    the share of the (best-matching) references' words aligned with the caption, the recall that METEOR's
    harmonic mean weights 0.85 against precision's 0.15 (alpha); ``chunks_per_match``: contiguous aligned runs
    per aligned word, the fragmentation METEOR penalises (1 = every word its own run).
    """
    total = stats[["meteor_test_length", "meteor_ref_length", "meteor_ref_word_matches", "meteor_chunks"]].sum()
    matches = total["meteor_ref_word_matches"]
    return {
        "words_per_caption": total["meteor_test_length"] / len(stats),
        "reference_words_matched": matches / total["meteor_ref_length"],
        "chunks_per_match": total["meteor_chunks"] / matches if matches else float("nan"),
    }
