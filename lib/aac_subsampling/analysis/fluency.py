"""Fluency, the crudest way: how often a caption says a word twice in a row ("a dog dog barks").

The paper's decoder never sees the word it emitted, so it cannot know it has just said "dog"; a decoder fed its
previous word can. The share of captions with a word repeated back to back is the symptom a reader notices
first in the paper's decoder's output. Words are compared after the project's caption normalisation
(:func:`aac_subsampling.method.tokens.normalise_caption`), as the diversity counts are.
"""

from __future__ import annotations

from collections.abc import Iterable

from aac_subsampling.method.tokens import normalise_caption

__all__ = ["repeats_a_word", "repeated_word_share"]


def repeats_a_word(caption: str) -> bool:
    """Whether some word of the caption is followed by itself."""
    words = normalise_caption(caption)
    return any(first == second for first, second in zip(words, words[1:]))


def repeated_word_share(captions: Iterable[str]) -> float:
    """The share of captions that repeat a word back to back (NaN for no captions)."""
    flags = [repeats_a_word(caption) for caption in captions]
    return sum(flags) / len(flags) if flags else float("nan")
