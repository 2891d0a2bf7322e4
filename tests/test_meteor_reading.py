"""What the stutter costs on METEOR: analysis/fluency's diagnostics and scripts/meteor_reading.py."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from aac_subsampling.analysis.fluency import meteor_alignment, without_repeats
from aac_subsampling.evaluation.java import find_java
from aac_subsampling.evaluation.meteor import MeteorScorer

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "results" / "published" / "quick"
JAVA = find_java()


def load_script():
    spec = importlib.util.spec_from_file_location("meteor_reading", ROOT / "scripts" / "meteor_reading.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_repeats_keeps_each_word_said_back_to_back_once():
    assert without_repeats("a dog dog barks barks loudly") == "a dog barks loudly"
    assert without_repeats("A bell bell. rings") == "A bell rings"  # compared after normalisation, spelling kept
    assert without_repeats("a dog barks and a dog runs") == "a dog barks and a dog runs"
    assert without_repeats("") == ""


def test_meteor_alignment_sums_the_clips_statistics():
    stats = pd.DataFrame(
        {
            "meteor_test_length": [4, 6],
            "meteor_ref_length": [5, 5],
            "meteor_ref_word_matches": [3, 5],
            "meteor_chunks": [1, 3],
        }
    )
    assert meteor_alignment(stats) == {
        "words_per_caption": 5.0,
        "reference_words_matched": 0.8,
        "chunks_per_match": 0.5,
    }


@pytest.mark.skipif(JAVA is None, reason="needs a Java runtime")
def test_meteor_reading_rescoring_the_published_captions_gives_their_published_scores(tmp_path):
    if not (PUBLISHED / "seed0" / "M16" / "predictions.csv").is_file():
        pytest.skip("no published quick results")
    for part in ("seed0/M16", "floors/constant"):
        shutil.copytree(PUBLISHED / part, tmp_path / part)
    with MeteorScorer(JAVA) as meteor:
        table = load_script().meteor_reading(tmp_path, meteor)
    assert list(table.index) == ["M=16", "constant caption"]
    published = json.loads((PUBLISHED / "seed0" / "M16" / "metrics_corpus.json").read_text())
    assert table.loc["M=16", "METEOR"] == pytest.approx(published["metrics"]["METEOR"], abs=1e-6)
    assert table.loc["M=16", "seeds"] == 1
    constant = json.loads((PUBLISHED / "floors.json").read_text())["floors"]["constant"]["metrics"]["METEOR"]
    assert table.loc["constant caption", "METEOR"] == pytest.approx(constant, abs=1e-6)
    predictions = pd.read_csv(PUBLISHED / "seed0" / "M16" / "predictions.csv", keep_default_na=False)
    if predictions["prediction"].map(lambda c: without_repeats(c) != c).any():
        assert table.loc["M=16", "METEOR without repeats"] != table.loc["M=16", "METEOR"]
