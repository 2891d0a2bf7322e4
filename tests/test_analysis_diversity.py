"""Distinct captions and words per M, beside the references'."""

import pandas as pd
import pytest
from fake_results import fake_record, write_run

from aac_subsampling.analysis import diversity

REFS = {
    "caption_1": ["A dog barks.", "rain falls", "a dog barks"],
    "caption_2": ["a dog howls", "heavy rain falls", "birds sing"],
}


def _write(root, seed, factor, predictions):
    frame = pd.DataFrame({"file_name": ["a.wav", "b.wav", "c.wav"], "prediction": predictions, **REFS})
    per_clip = pd.DataFrame({"ROUGE_L": [0.1, 0.2, 0.3]}, index=pd.Index(frame["file_name"], name="clip_id"))
    write_run(root, seed, factor, per_clip, None, fake_record(factor, {"ROUGE_L": 0.2}, seed, 3), frame)


def test_captions_and_words_are_compared_after_normalisation():
    figures = diversity.caption_diversity(["A dog barks.", "a dog barks", "a cat", ""])
    assert figures == {"n_captions": 4, "distinct_captions": 3, "distinct_words": 4, "mean_words": pytest.approx(2.0)}


def test_diversity_table(tmp_path):
    _write(tmp_path, 0, 1, ["a dog barks", "a dog barks", "a dog barks"])
    _write(tmp_path, 1, 1, ["a dog barks", "rain", "a dog barks"])
    _write(tmp_path, 0, 4, ["a dog barks", "rain falls", "birds sing"])
    table = diversity.diversity_table(tmp_path)
    assert list(table.columns) == diversity.DIVERSITY_COLUMNS
    runs = table[table["source"] == diversity.PREDICTIONS].set_index(["seed", "M"])
    assert runs.loc[(0, 1), "distinct_captions"] == 1 and runs.loc[(1, 1), "distinct_captions"] == 2
    assert runs.loc[(1, 1), "distinct_words"] == 4 and runs.loc[(0, 4), "distinct_words"] == 7
    means = table[table["source"] == diversity.MEAN_OVER_SEEDS].set_index("M")
    assert means.loc[1, "distinct_captions"] == 1.5 and pd.isna(means.loc[1, "seed"])
    references = table[table["source"].str.startswith("references")].set_index("source")
    everything = references.loc["references (all 2 per clip)"]
    assert everything["n_captions"] == 6 and everything["distinct_captions"] == 5  # "A dog barks." == "a dog barks"
    one = references.loc["references (caption_1 per clip)"]
    assert one["distinct_captions"] == 2 and one["distinct_words"] == 5 and pd.isna(one["M"])
