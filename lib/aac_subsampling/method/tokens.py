"""Caption normalisation, the vocabulary and word frequencies.

The vocabulary follows the authors' code (paper Sec. 3.1; docs/method.md, section 2): every caption is wrapped as
``<sos> caption <eos>``, lower-cased, the characters ``, . ! ? ; : "`` are removed, the rest is split
on white space, and words are numbered in order of first appearance over the development captions
only. On Clotho v1 this gives D = 4367 (4365 words, ``<sos>``, ``<eos>``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SOS = "<sos>"
EOS = "<eos>"
_REMOVED_CHARACTERS = str.maketrans("", "", ',.!?;:"')


def normalise_caption(caption: str) -> list[str]:
    """Lower-case, drop ``, . ! ? ; : "`` and split on white space (no ``<sos>``/``<eos>``).

    The project's one caption-to-words normaliser (vocabulary, synthetic captions' lengths, diversity). Not the
    metrics' tokenisation (:mod:`aac_subsampling.evaluation.tokenization`, PTB), which splits rather than
    deletes: "dog's" stays one word here, and a glued "a,b" becomes "ab".
    """
    return caption.lower().translate(_REMOVED_CHARACTERS).split()


class UnknownWordError(KeyError):
    """A caption holds a word that the (development-split) vocabulary does not know."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


@dataclass
class Vocabulary:
    """Words in order of first appearance and their counts over the captions it was built from."""

    words: list[str]
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {word: i for i, word in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("vocabulary words must be unique")

    @classmethod
    def build(cls, captions: Iterable[str]) -> Vocabulary:
        """Count words (with one ``<sos>`` and one ``<eos>`` per caption) in first-appearance order."""
        counts: Counter[str] = Counter()
        order: dict[str, None] = {}
        for caption in captions:
            for word in (SOS, *normalise_caption(caption), EOS):
                counts[word] += 1
                order.setdefault(word, None)
        return cls(words=list(order), counts=dict(counts))

    def __len__(self) -> int:
        return len(self.words)

    @property
    def eos_index(self) -> int:
        return self.index[EOS]

    @property
    def sos_index(self) -> int:
        return self.index[SOS]

    def frequencies(self) -> list[int]:
        """Counts aligned with the word indices (f_w of Eq. 10)."""
        return [self.counts.get(word, 0) for word in self.words]

    def encode(self, caption: str) -> list[int]:
        """Token indices of ``caption`` followed by ``<eos>`` (the training target; ``<sos>`` is never
        a target, since the decoder gets no previous-word input)."""
        indices = []
        for word in normalise_caption(caption):
            if word not in self.index:
                raise UnknownWordError(
                    f"word {word!r} of caption {caption!r} is not in the vocabulary "
                    "(built from the development captions only)"
                )
            indices.append(self.index[word])
        indices.append(self.eos_index)
        return indices

    def decode(self, indices: Sequence[int]) -> str:
        """Words up to (not including) the first ``<eos>``; ``<sos>`` is dropped."""
        words = []
        for i in indices:
            word = self.words[int(i)]
            if word == EOS:
                break
            if word != SOS:
                words.append(word)
        return " ".join(words)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"words": self.words, "counts": self.counts}, indent=0))

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        data = json.loads(Path(path).read_text())
        return cls(words=data["words"], counts=data["counts"])
