"""Paired bootstrap against M = 1: exact by construction on hand-made per-clip scores."""

import numpy as np
import pandas as pd
import pytest
from fake_results import evaluate_fake, fake_record, fake_references, write_run

from aac_subsampling.analysis.paired import COMPARISON_COLUMNS, compare_to_baseline
from aac_subsampling.evaluation import METRIC_NAMES
from aac_subsampling.experiment import layout

CLIPS = pd.Index([f"clip {i}.wav" for i in range(30)], name="clip_id")


def _write(root, seed, factor, rouge, cider):
    per_clip = pd.DataFrame({m: np.nan for m in METRIC_NAMES}, index=CLIPS)
    per_clip["ROUGE_L"], per_clip["CIDEr"] = rouge, cider
    metrics = {"ROUGE_L": float(np.mean(rouge)), "CIDEr": float(np.mean(cider))}
    write_run(root, seed, factor, per_clip, None, fake_record(factor, metrics, seed, len(CLIPS)))


def _noise(seed, scale=0.2):
    return np.random.default_rng(seed).uniform(0, scale, len(CLIPS))


def test_identical_systems_differ_by_nothing(tmp_path):
    for seed in (0, 1):
        for factor in (1, 2):
            _write(tmp_path, seed, factor, _noise(seed), _noise(seed + 10, 1.0))
    table = compare_to_baseline(tmp_path, n_resamples=200).set_index("metric")
    assert list(compare_to_baseline(tmp_path, n_resamples=10).columns) == COMPARISON_COLUMNS
    for metric in ("ROUGE_L", "CIDEr"):
        row = table.loc[metric]
        assert (row["difference"], row["ci_low"], row["ci_high"], row["share_better"]) == (0.0, 0.0, 0.0, 0.0)
        assert row["n_seeds"] == 2 and row["n_clips"] == 30 and row["n_resamples"] == 200 and row["M"] == 2


def test_a_system_better_on_every_clip_wins_every_resample(tmp_path):
    for seed in (0, 1, 2):
        base = _noise(seed)
        _write(tmp_path, seed, 1, base, base)
        _write(tmp_path, seed, 4, base + 0.05, base + _noise(seed + 20, 0.1) + 1e-3)
    table = compare_to_baseline(tmp_path, n_resamples=300).set_index("metric")
    rouge = table.loc["ROUGE_L"]
    assert rouge["difference"] == pytest.approx(0.05) and rouge["share_better"] == 1.0
    # A constant shift on every clip: every resample sees exactly that shift.
    assert rouge["ci_low"] == pytest.approx(0.05) and rouge["ci_high"] == pytest.approx(0.05)
    cider = table.loc["CIDEr"]
    assert cider["share_better"] == 1.0 and 0 < cider["ci_low"] < cider["difference"] < cider["ci_high"]


def test_pairing_removes_the_clip_to_clip_variation(tmp_path):
    for seed in (0, 1):
        base = np.random.default_rng(seed).uniform(0, 1, len(CLIPS))  # clips differ a lot
        _write(tmp_path, seed, 1, base, base)
        _write(tmp_path, seed, 2, base + 0.01 * np.random.default_rng(seed + 5).standard_normal(len(CLIPS)), base)
    row = compare_to_baseline(tmp_path, n_resamples=300).set_index("metric").loc["ROUGE_L"]
    assert row["ci_high"] - row["ci_low"] < 0.02  # an unpaired interval would be ~0.2 wide


def test_deterministic_for_a_seed_and_difference_is_score_minus_baseline(tmp_path):
    references = fake_references(30, rng_seed=1)
    for seed in (0, 1):
        for factor in (1, 8):
            rng = np.random.default_rng([seed, factor])
            predictions = {
                c: refs[rng.integers(5)] if rng.random() < 0.2 + 0.04 * factor else "a car passes by"
                for c, refs in references.items()
            }
            corpus, per_clip, stats = evaluate_fake(predictions, references)
            write_run(tmp_path, seed, factor, per_clip, stats, fake_record(factor, corpus, seed, 30))
    first = compare_to_baseline(tmp_path, n_resamples=100, seed=3)
    pd.testing.assert_frame_equal(first, compare_to_baseline(tmp_path, n_resamples=100, seed=3))
    assert not first.equals(compare_to_baseline(tmp_path, n_resamples=100, seed=4))
    from aac_subsampling.analysis import tables

    table1 = tables.write_tables(tmp_path, n_resamples=0).table1
    for row in first.dropna(subset=["difference"]).itertuples():
        assert row.difference == pytest.approx(row.score - row.baseline_score, abs=1e-15)
        # BLEU and METEOR from summed statistics, ROUGE_L and CIDEr as means: the records' corpus scores.
        assert row.difference == pytest.approx(table1.loc[row.metric, "M=8"] - table1.loc[row.metric, "M=1"], abs=1e-9)
    spice = first.set_index("metric").loc["SPICE"]
    assert np.isnan(spice["difference"]) and spice["n_seeds"] == 0 and "SPICE not computed" in spice["unavailable"]


def test_only_seeds_evaluated_on_both_sides_are_paired(tmp_path):
    _write(tmp_path, 0, 1, _noise(0), _noise(0))
    _write(tmp_path, 0, 2, _noise(0) + 0.1, _noise(0))
    _write(tmp_path, 1, 2, _noise(1) - 0.5, _noise(1))  # no M=1 for seed 1: left out
    row = compare_to_baseline(tmp_path, n_resamples=50).set_index("metric").loc["ROUGE_L"]
    assert row["n_seeds"] == 1 and row["seeds"] == "0" and row["difference"] == pytest.approx(0.1)


def test_missing_baseline_is_an_error(tmp_path):
    _write(tmp_path, 0, 2, _noise(0), _noise(0))
    with pytest.raises(ValueError, match="no evaluated run of M=1"):
        compare_to_baseline(tmp_path, n_resamples=10)
    assert not layout.table_file(tmp_path, layout.COMPARISONS_FILE).exists()
