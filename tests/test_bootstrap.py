"""Bootstrap CIs over clips and corpus scores from sufficient statistics (no Java needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aac_subsampling.evaluation.bleu import BLEU_STAT_COLUMNS, bleu_from_stats, bleu_scores
from aac_subsampling.evaluation.bootstrap import bootstrap_ci, resample_indices
from aac_subsampling.evaluation.meteor import METEOR_STAT_COLUMNS, meteor_from_stats

WORDS = "a the dog cat bird car rain wind water man woman child door bell barks sings falls blows runs".split()


def _captions(rng: np.random.Generator, n: int, low: int = 3, high: int = 10) -> list[str]:
    return [" ".join(rng.choice(WORDS, size=rng.integers(low, high))) for _ in range(n)]


def _per_clip(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.Index([f"clip{i:05d}" for i in range(n)], name="clip_id")
    return pd.DataFrame(
        {
            "ROUGE_L": rng.beta(4, 5, n),
            "CIDEr": rng.gamma(2.0, 0.4, n),
            "SPICE": np.full(n, np.nan),  # unavailable metric: skipped
        },
        index=index,
    )


def test_resample_indices_are_seeded():
    a, b = resample_indices(20, 5, seed=3), resample_indices(20, 5, seed=3)
    assert a.shape == (5, 20) and a.min() >= 0 and a.max() < 20
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, resample_indices(20, 5, seed=4))


def test_bootstrap_is_reproducible_and_skips_unavailable():
    frame = _per_clip(100)
    first = bootstrap_ci(frame, n_resamples=300, seed=7)
    pd.testing.assert_frame_equal(first, bootstrap_ci(frame, n_resamples=300, seed=7))
    assert not first.equals(bootstrap_ci(frame, n_resamples=300, seed=8))
    assert list(first["metric"]) == ["ROUGE_L", "CIDEr"]
    assert list(first.columns[:5]) == ["metric", "estimate", "mean", "low", "high"]


def test_interval_contains_the_corpus_mean():
    frame = _per_clip(200, seed=1)
    ci = bootstrap_ci(frame, n_resamples=500, seed=0).set_index("metric")
    for metric in ("ROUGE_L", "CIDEr"):
        corpus = frame[metric].mean()
        assert ci.loc[metric, "estimate"] == pytest.approx(corpus, abs=1e-12)
        assert ci.loc[metric, "low"] < corpus < ci.loc[metric, "high"]
        assert ci.loc[metric, "mean"] == pytest.approx(corpus, abs=0.01)
        assert ci.loc[metric, "method"] == "mean of per-clip scores"


def test_interval_narrows_with_more_clips():
    small = bootstrap_ci(_per_clip(50, seed=2), n_resamples=400).set_index("metric")
    large = bootstrap_ci(_per_clip(2000, seed=2), n_resamples=400).set_index("metric")
    for metric in ("ROUGE_L", "CIDEr"):
        width_small = small.loc[metric, "high"] - small.loc[metric, "low"]
        width_large = large.loc[metric, "high"] - large.loc[metric, "low"]
        # Standard error ~ 1/sqrt(n): 40x the clips -> about 6x narrower.
        assert width_large < width_small / 3


def test_wider_confidence_gives_wider_interval():
    frame = _per_clip(100, seed=5)
    narrow = bootstrap_ci(frame, confidence=0.5).set_index("metric")
    wide = bootstrap_ci(frame, confidence=0.99).set_index("metric")
    assert wide.loc["CIDEr", "low"] < narrow.loc["CIDEr", "low"]
    assert wide.loc["CIDEr", "high"] > narrow.loc["CIDEr", "high"]


@pytest.mark.parametrize("kwargs", [{"confidence": 1.0}, {"confidence": 0.0}, {"n_resamples": 0}])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        bootstrap_ci(_per_clip(10), **kwargs)


def test_bleu_from_stats_reproduces_pycocoevalcap():
    from pycocoevalcap.bleu.bleu import Bleu

    rng = np.random.default_rng(11)
    n = 60
    preds = _captions(rng, n, 1, 9)
    refs = [_captions(rng, 5) for _ in range(n)]
    corpus, per_clip, counts = bleu_scores(refs, preds)
    expected, expected_clip = Bleu(4).compute_score(
        {i: r for i, r in enumerate(refs)}, {i: [p] for i, p in enumerate(preds)}, verbose=0
    )
    np.testing.assert_allclose(corpus, expected, atol=1e-12, rtol=0)
    np.testing.assert_allclose(per_clip, np.asarray(expected_clip).T, atol=1e-12, rtol=0)
    np.testing.assert_allclose(bleu_from_stats(counts.sum(0)), expected, atol=1e-12, rtol=0)
    assert counts.shape == (n, len(BLEU_STAT_COLUMNS))


def test_bleu_bootstrap_uses_counts_when_given():
    rng = np.random.default_rng(12)
    n = 80
    preds = _captions(rng, n, 1, 9)
    refs = [_captions(rng, 5) for _ in range(n)]
    corpus, per_clip, counts = bleu_scores(refs, preds)
    index = pd.Index(range(n), name="clip_id")
    frame = pd.DataFrame(per_clip, columns=["BLEU1", "BLEU2", "BLEU3", "BLEU4"], index=index)
    stats = pd.DataFrame(counts, columns=list(BLEU_STAT_COLUMNS), index=index)

    exact = bootstrap_ci(frame, 200, seed=0, stats=stats).set_index("metric")
    approx = bootstrap_ci(frame, 200, seed=0).set_index("metric")
    for k in range(4):
        metric = f"BLEU{k + 1}"
        assert exact.loc[metric, "estimate"] == pytest.approx(corpus[k], abs=1e-12)
        assert exact.loc[metric, "low"] <= corpus[k] <= exact.loc[metric, "high"]
        assert exact.loc[metric, "method"] == "corpus BLEU from n-gram counts"
        assert "approximation" in approx.loc[metric, "method"]
    # Corpus BLEU-2 is not the mean of per-clip BLEU-2: the approximation differs.
    assert approx.loc["BLEU2", "estimate"] != pytest.approx(corpus[1], rel=1e-2)
    # Replicate by hand: the first resample's corpus BLEU from summed counts.
    draws = resample_indices(n, 200, seed=0)
    first = bleu_from_stats(counts[draws[0]].sum(0))
    assert np.all(np.isfinite(first))


def test_meteor_from_stats_simple_cases():
    perfect = np.zeros(len(METEOR_STAT_COLUMNS))
    # 3-word hypothesis identical to a 3-word reference (1 function word), one chunk.
    perfect[[0, 1, 2, 3]] = [3, 3, 1, 1]
    perfect[[4, 5, 6, 7]] = [2, 2, 1, 1]  # exact module: content t/r, function t/r
    perfect[[20, 21, 22]] = [1, 3, 3]
    assert meteor_from_stats(perfect) == pytest.approx(1.0)
    empty = np.zeros(len(METEOR_STAT_COLUMNS))
    empty[[1, 3]] = [2, 1]  # empty hypothesis
    assert meteor_from_stats(empty) == 0.0
    # Two chunks for 3 matches: penalty gamma * (2/3)^beta.
    split = perfect.copy()
    split[20] = 2
    assert meteor_from_stats(split) == pytest.approx(1 - 0.6 * (2 / 3) ** 0.2)
