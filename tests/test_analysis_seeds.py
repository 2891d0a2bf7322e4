"""Table 1 over seeds: the pooled bootstrap reuses bootstrap.py's draws and corpus formulas exactly."""

import numpy as np
import pandas as pd
import pytest
from fake_results import evaluate_fake, fake_record, fake_references, write_run

from aac_subsampling.analysis import resampling, seeds
from aac_subsampling.analysis.records import load_clip_scores
from aac_subsampling.evaluation.bootstrap import bootstrap_ci, resample_indices

REFERENCES = fake_references(40, rng_seed=3)


def _predictions(seed: int) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    return {clip: refs[rng.integers(5)] if rng.random() < 0.5 else "a dog barks" for clip, refs in REFERENCES.items()}


def _write(root, seed, factor, predictions):
    corpus, per_clip, stats = evaluate_fake(predictions, REFERENCES)
    write_run(root, seed, factor, per_clip, stats, fake_record(factor, corpus, seed, len(per_clip)))
    return per_clip, stats


def test_draw_weights_count_the_draws_of_resample_indices():
    weights = resampling.draw_weights(7, 50, seed=4)
    draws = resample_indices(7, 50, seed=4)
    assert weights.shape == (50, 7) and (weights.sum(axis=1) == 7).all()
    for row, drawn in zip(weights, draws):
        np.testing.assert_array_equal(row, np.bincount(drawn, minlength=7))


def test_one_seed_gives_bootstrap_cis_interval(tmp_path):
    per_clip, stats = _write(tmp_path, 0, 1, _predictions(0))
    summary = seeds.seed_summary(tmp_path, n_resamples=300, seed=5).set_index("metric")
    expected = bootstrap_ci(per_clip, 300, seed=5, stats=stats).set_index("metric")
    for metric in ("BLEU1", "BLEU4", "ROUGE_L", "METEOR", "CIDEr"):
        assert summary.loc[metric, "mean"] == pytest.approx(expected.loc[metric, "estimate"], abs=1e-12)
        assert summary.loc[metric, "ci_low"] == pytest.approx(expected.loc[metric, "low"], abs=1e-12)
        assert summary.loc[metric, "ci_high"] == pytest.approx(expected.loc[metric, "high"], abs=1e-12)
        assert summary.loc[metric, "method"] == expected.loc[metric, "method"]
        assert np.isnan(summary.loc[metric, "std"]) and summary.loc[metric, "n_seeds"] == 1


def test_pooled_interval_is_the_interval_of_the_seed_mean(tmp_path):
    per_clip = [_write(tmp_path, s, 1, _predictions(s))[0] for s in (0, 1, 2)]
    summary = seeds.seed_summary(tmp_path, n_resamples=300, seed=1).set_index("metric")
    # For a mean metric, the seed-mean of each replicate's means is the replicate mean of the per-clip
    # seed-mean: bootstrap_ci on the averaged per-clip scores must give the same interval.
    averaged = sum(frame[["ROUGE_L", "CIDEr"]] for frame in per_clip) / 3
    expected = bootstrap_ci(averaged, 300, seed=1).set_index("metric")
    for metric in ("ROUGE_L", "CIDEr"):
        assert summary.loc[metric, "ci_low"] == pytest.approx(expected.loc[metric, "low"], abs=1e-12)
        assert summary.loc[metric, "ci_high"] == pytest.approx(expected.loc[metric, "high"], abs=1e-12)
        values = [frame[metric].mean() for frame in per_clip]
        assert summary.loc[metric, "mean"] == pytest.approx(np.mean(values))
        assert summary.loc[metric, "std"] == pytest.approx(np.std(values, ddof=1))
        assert [summary.loc[metric, f"seed{s}"] for s in (0, 1, 2)] == pytest.approx(values)


def test_identical_seeds_give_the_single_seed_interval_and_zero_spread(tmp_path):
    for s in (0, 1):
        _write(tmp_path / "two", s, 1, _predictions(7))
    _write(tmp_path / "one", 0, 1, _predictions(7))
    two = seeds.seed_summary(tmp_path / "two", n_resamples=200).set_index("metric")
    one = seeds.seed_summary(tmp_path / "one", n_resamples=200).set_index("metric")
    for metric in ("BLEU2", "METEOR", "CIDEr"):
        assert two.loc[metric, "std"] == 0.0
        assert two.loc[metric, ["mean", "ci_low", "ci_high"]].tolist() == pytest.approx(
            one.loc[metric, ["mean", "ci_low", "ci_high"]].tolist(), abs=1e-12
        )


def test_unavailable_metrics_stay_empty_and_skip_the_bootstrap(tmp_path):
    _write(tmp_path, 0, 1, _predictions(0))
    summary = seeds.seed_summary(tmp_path, n_resamples=50).set_index("metric")
    for metric in ("SPICE", "SPIDEr"):
        assert summary.loc[metric, "n_seeds"] == 0
        assert summary.loc[metric, ["mean", "std", "ci_low", "ci_high"]].isna().all()
        assert "SPICE not computed" in summary.loc[metric, "unavailable"]
    no_bootstrap = seeds.seed_summary(tmp_path, n_resamples=0).set_index("metric")
    assert no_bootstrap["ci_low"].isna().all() and no_bootstrap.loc["BLEU1", "mean"] == summary.loc["BLEU1", "mean"]


def test_runs_on_different_clips_are_refused(tmp_path):
    _write(tmp_path, 0, 1, _predictions(0))
    per_clip, stats = _write(tmp_path, 1, 1, _predictions(1))
    write_run(tmp_path, 1, 1, per_clip.iloc[:-1], stats.iloc[:-1], fake_record(1, {}, 1, 39))
    with pytest.raises(ValueError, match="cover different evaluation clips"):
        seeds.seed_summary(tmp_path, n_resamples=10)


def test_partly_scored_metric_is_named(tmp_path):
    per_clip, stats = _write(tmp_path, 0, 1, _predictions(0))
    per_clip.iloc[3, per_clip.columns.get_loc("CIDEr")] = np.nan
    write_run(tmp_path, 0, 1, per_clip, stats, fake_record(1, {"CIDEr": 0.5}, 0, 40))
    with pytest.raises(ValueError, match="CIDEr is missing for 1 clip"):
        load_clip_scores(tmp_path, 0, 1)


def test_clip_ids_are_read_as_text(tmp_path):
    index = pd.Index(["NA", "1e3", "007.wav"], name="clip_id")
    frame = pd.DataFrame({"ROUGE_L": [0.1, 0.2, 0.3]}, index=index)
    write_run(tmp_path, 0, 1, frame, None, fake_record(1, {"ROUGE_L": 0.2}, 0, 3))
    assert load_clip_scores(tmp_path, 0, 1).per_clip.index.tolist() == ["NA", "1e3", "007.wav"]
