"""A complete Clotho-format corpus other than Clotho v1 (a Clotho-shaped or long synthetic corpus) is taken as it
is by the paper profile; a partly extracted Clotho v1 never is."""

from __future__ import annotations

from pathlib import Path

import pytest

from aac_subsampling.data.clotho import other_clotho_format_corpus
from aac_subsampling.data.clotho_card import captions_file

HEADER = "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"


def _corpus(root: Path, names: dict[str, list[str]]) -> Path:
    for split, files in names.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        rows = "".join(f"{name},a,b,c,d,e\n" for name in files)
        (root / captions_file(split)).write_text(HEADER + rows, encoding="utf-8")
        for name in files:
            (root / split / name).write_bytes(b"RIFF")
    return root


@pytest.fixture
def small(tmp_path):
    return _corpus(tmp_path / "corpus", {"development": ["a.wav", "b c.wav"], "evaluation": ["d.wav"]})


def test_a_complete_small_corpus_is_described_with_its_counts(small):
    found = other_clotho_format_corpus(small)
    assert found is not None and "2 + 1 clips, not 2893 + 1045" in found


def test_a_corpus_missing_a_listed_wav_is_not_taken(small):
    (small / "development" / "a.wav").unlink()
    assert other_clotho_format_corpus(small) is None


def test_a_wav_not_listed_in_the_captions_is_not_taken(small):
    (small / "evaluation" / "extra.wav").write_bytes(b"RIFF")
    assert other_clotho_format_corpus(small) is None


def test_clotho_v1_counts_are_clotho_v1_not_another_corpus(small):
    assert other_clotho_format_corpus(small, expected_counts={"development": 2, "evaluation": 1}) is None


def test_the_marker_of_a_generated_corpus_is_named(small):
    (small / "clotho_shaped_corpus.json").write_text("{}")
    assert "clotho_shaped_corpus.json" in other_clotho_format_corpus(small)
