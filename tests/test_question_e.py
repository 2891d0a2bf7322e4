"""Question (e) of notebook 05: the autoregressive decoders against the paper's, and sub-sampling within each."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fake_results import write_fake_results

from aac_subsampling.analysis.fluency import repeated_word_share, repeats_a_word
from aac_subsampling.experiment import layout, runkey
from aac_subsampling.open_questions import VARIANTS, batch, decoders, study, variants

CLIPS = [f"clip_{i:02d}.wav" for i in range(30)]


def test_fluency_counts_a_word_said_twice_in_a_row():
    assert repeats_a_word("a dog dog barks")
    assert repeats_a_word("A bell rings. Rings loudly")  # compared after normalisation
    assert not repeats_a_word("a dog barks and a dog runs")
    assert not repeats_a_word("")
    assert repeated_word_share(["a a", "a b", "b b", "c"]) == 0.5
    assert np.isnan(repeated_word_share([]))


def test_the_decoder_variants_switch_only_the_decoder():
    paper = runkey.training_config("quick", 16, 0)
    for name in ("autoregressive", "autoregressive_attention"):
        config = runkey.training_config("quick", 16, 0, None, VARIANTS[name].overrides)
        assert config.model.decoder == name
        assert config.features == paper.features and config.train == paper.train and config.decode == paper.decode
    jobs = study.training_jobs([0], [1, 16])
    assert {("autoregressive", 0, 1), ("autoregressive_attention", 0, 16)} <= set(jobs)


def test_no_interval_reads_minus_zero():
    row = pd.Series({"difference": -0.0001, "ci_low": -0.0004, "ci_high": 0.0002})
    assert study.interval_phrase(row) == "+0.000 [+0.000, +0.000]"
    assert study.signed(-0.0016) == "-0.002"


def _write_scores(folder, seed, factor, cider):
    directory = layout.run_dir(folder, seed, factor)
    directory.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"clip_id": CLIPS, "CIDEr": cider}).to_csv(
        directory / f"{layout.METRICS_STEM}_per_clip.csv", index=False
    )


@pytest.fixture
def sub_sampled(tmp_path):
    """M = 16 equals M = 1 for the paper's decoder and the attention one, and is 0.1 CIDEr worse on every clip
    for the autoregressive one; the autoregressive decoder is 0.2 better than the paper's at M = 1."""
    rng = np.random.default_rng(1)
    results = tmp_path / "results"
    for seed in (0, 1):
        base = rng.uniform(0.2, 1, len(CLIPS))
        for decode in batch.DECODES:  # question (a)'s decodes, which every study compares
            for factor in (1, 16):
                _write_scores(batch.decode_dir(results, decode), seed, factor, base)
        for name in VARIANTS:
            at_1 = base + (0.2 if name == "autoregressive" else 0.0)
            _write_scores(variants.variant_dir(results, name), seed, 1, at_1)
            _write_scores(
                variants.variant_dir(results, name), seed, 16, at_1 - (0.1 if name == "autoregressive" else 0)
            )
    return results


def test_question_e_compares_each_decoder_with_the_papers_and_m16_with_m1(sub_sampled):
    comparisons = study.compare_all(sub_sampled, [0, 1], [1, 16], n_resamples=200)
    comparisons = comparisons.dropna(subset=["difference"]).set_index(["question", "comparison", "M"])
    assert comparisons.loc[("decoder", "autoregressive - paper", 1), "difference"] == pytest.approx(0.2)
    assert comparisons.loc[("decoder", "autoregressive_attention - paper", 16), "difference"] == pytest.approx(0)
    within = comparisons.loc["decoder_subsampling"]
    assert set(within.index) == {(f"{d}: M=16 - M=1", 16) for d in decoders.DECODERS}
    assert within.loc[("autoregressive: M=16 - M=1", 16), "difference"] == pytest.approx(-0.1)
    assert within.loc[("autoregressive: M=16 - M=1", 16), "ci_high"] < 0
    assert within.loc[("paper: M=16 - M=1", 16), "difference"] == pytest.approx(0)


def test_question_e_verdicts_name_every_comparison(sub_sampled):
    changed = pd.DataFrame(
        [{"M": m, "decode": d, "n_changed": 0, "n_clips": 30} for m in (1, 16) for d in study.COMPARED_DECODES]
    )
    comparisons = study.compare_all(sub_sampled, [0, 1], [1, 16], n_resamples=200)
    table = study.verdicts_table(comparisons, changed, [1, 16]).set_index(["question", "M"])["verdict"]
    assert "autoregressive - paper: CIDEr +0.200" in table[("decoder", 1)]
    assert "autoregressive_attention - paper: CIDEr +0.000 [+0.000, +0.000]" in table[("decoder", 1)]
    assert "autoregressive: M=16 - M=1: CIDEr -0.100" in table[("decoder_subsampling", 16)]
    assert ("decoder_subsampling", 1) not in table.index  # asked at the largest M only
    one_m = study.verdicts_table(study.compare_all(sub_sampled, [0], [16], n_resamples=50), changed, [16])
    assert "decoder_subsampling" not in set(one_m["question"])  # one M: nothing to compare within a decoder


def test_decoder_table_reads_each_decoders_folder(tmp_path):
    results = tmp_path / "results"
    for decoder in decoders.DECODERS:
        write_fake_results(variants.variant_dir(results, decoder), seeds=(0, 1), factors=(1, 16), listening=True)
    folder = variants.variant_dir(results, "autoregressive")
    for seed in (0, 1):
        path = layout.predictions(folder, seed, 16)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame["prediction"] = ["a dog dog barks" if i % 4 == 0 else "a dog barks" for i in range(len(frame))]
        frame.to_csv(path, index=False)
        record = layout.training_record(folder, seed, 16)
        record.write_text(json.dumps(json.loads(record.read_text()) | {"steps": 1000 + 100 * seed}))
    table = decoders.decoder_table(results, [0, 1], [1, 16], n_resamples=100).set_index(["decoder", "M"])
    assert list(table.index) == [(d, m) for d in decoders.DECODERS for m in (1, 16)]
    assert (table["CIDEr drop, swapped audio"] > 0).all() and (table["drop ci_low"] > 0).all()
    assert table.loc[("autoregressive", 16), "repeated word"] == pytest.approx(np.mean([i % 4 == 0 for i in range(70)]))
    assert table.loc[("autoregressive", 16), "steps"] == 1050
    assert np.isnan(table.loc[("paper", 1), "event_recall"])  # no facts: not a synthetic corpus
    examples = decoders.decoder_examples(results, 0, 16, n_clips=3)
    assert list(examples.columns) == ["clip", "reference (caption_1)", *decoders.DECODERS]
    assert len(examples) == 3 and set(examples["autoregressive"]) <= {"a dog dog barks", "a dog barks"}
    with pytest.raises(FileNotFoundError, match="seed\\(s\\) \\[2\\] at M=1"):
        decoders.decoder_table(results, [0, 2], [1], n_resamples=10)


def test_the_facts_of_a_study_take_its_seeds_only(tmp_path):
    """A variant's folder may hold runs of more seeds than the study asks for (an earlier, larger study)."""
    from aac_subsampling.analysis.facts import facts_table
    from aac_subsampling.data.synthetic.facts import FACT_NAMES

    folder = write_fake_results(tmp_path / "results", seeds=(0, 1), factors=(16,), n_clips=10)
    for seed, value in ((0, 1.0), (1, 0.0)):
        frame = pd.DataFrame({name: value for name in FACT_NAMES}, index=pd.Index(CLIPS[:10], name="clip_id"))
        frame.to_csv(layout.facts(folder, seed, 16))
    recall = facts_table(folder, n_resamples=20)
    recall = recall[recall["fact"] == "event_recall"].iloc[0]
    assert (recall["mean"], recall["n_seeds"]) == (0.5, 2)
    only_0 = facts_table(folder, n_resamples=20, seeds=[0])
    only_0 = only_0[only_0["fact"] == "event_recall"].iloc[0]
    assert (only_0["mean"], only_0["n_seeds"]) == (1.0, 1)
