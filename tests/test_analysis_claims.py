"""The paper's claims get verdicts from the records; the structural ones are asserted."""

import numpy as np
import pandas as pd
import pytest
from fake_results import fake_record

from aac_subsampling.analysis import claims, tables

FACTORS = (1, 2, 4, 8, 16)


def _table2(times=(60.0, 34.0, 25.0, 21.0, 20.0), changes=None):
    """Table 2 of two seeds with the paper's structure; ``changes``: M -> record fields to override."""
    changes = changes or {}
    records = {}
    for seed in (0, 1):
        for factor, time in zip(FACTORS, times):
            record = fake_record(factor, {}, seed, 10, time)
            for key, value in changes.get(factor, {}).items():
                record[key] = value
            records[(seed, factor)] = record
    return tables.table2(records)


def _comparison(metric, difference, low, high):
    return {
        "metric": metric,
        "M": 16,
        "difference": difference,
        "ci_low": low,
        "ci_high": high,
        "share_better": 0.9,
        "n_seeds": 3,
        "n_clips": 1045,
        "n_resamples": 1000,
        "unavailable": "",
    }


def test_structural_claims_hold_on_the_papers_structure():
    checked = claims.assert_structural_claims(_table2())
    assert checked["verdict"].tolist() == [claims.HOLDS] * 3
    assert "4,573,711" in checked.loc[2, "evidence"]


def test_wrong_lengths_fail_loudly():
    wrong = {"encoder_lengths": {"1292": 6, "2584": 11}, "corpus_encoder_lengths": {"min": 6, "max": 11}}
    broken = _table2(changes={16: wrong})
    verdicts = claims.structural_claims(broken)["verdict"]
    assert (verdicts == claims.FAILS).sum() == 2  # lengths and the reduction they imply
    with pytest.raises(AssertionError, match=r"M=16: ours 6\.\.11, paper 5\.\.10"):
        claims.assert_structural_claims(broken)


def test_parameters_must_be_the_papers_for_every_m():
    broken = _table2(changes={4: {"parameters_D4367": 4_573_712}})
    row = claims.parameters_claim(broken)
    assert row["verdict"] == claims.FAILS and "M=4: 4,573,712" in row["evidence"]
    with pytest.raises(AssertionError, match="parameters unchanged"):
        claims.assert_structural_claims(broken)


def test_inference_time_claim():
    assert claims.inference_time_claim(_table2())["verdict"] == claims.HOLDS
    bumpy = claims.inference_time_claim(_table2(times=(60.0, 30.0, 35.0, 21.0, 20.0)))
    assert bumpy["verdict"] == claims.FAILS and "M=2 -> M=4" in bumpy["evidence"]
    slower = claims.inference_time_claim(_table2(times=(20.0, 30.0, 35.0, 40.0, 41.0)))
    assert slower["verdict"] == claims.FAILS and "not faster" in slower["evidence"]
    partial = _table2()[lambda t: t["M"] != 16]
    assert claims.inference_time_claim(partial)["verdict"] == claims.UNTESTABLE


def test_metric_verdicts_follow_the_paired_interval():
    comparisons = pd.DataFrame(
        [
            _comparison("BLEU1", 0.03, 0.01, 0.05),
            _comparison("BLEU2", 0.01, -0.01, 0.03),
            _comparison("BLEU3", -0.03, -0.05, -0.01),
            {**_comparison("SPICE", np.nan, np.nan, np.nan), "unavailable": "no CoreNLP jars"},
        ]
    )
    table = claims.check_claims(_table2(), comparisons).set_index("claim")
    assert table.loc["BLEU1 improves with M (M=16 vs M=1)", "verdict"] == claims.HOLDS
    assert table.loc["BLEU2 improves with M (M=16 vs M=1)", "verdict"] == claims.NOT_SHOWN
    assert table.loc["BLEU3 improves with M (M=16 vs M=1)", "verdict"] == claims.FAILS
    spice = table.loc["SPICE improves with M (M=16 vs M=1)"]
    assert spice["verdict"] == claims.UNTESTABLE and "no CoreNLP jars" in spice["evidence"]
    assert table.loc["CIDEr improves with M (M=16 vs M=1)", "verdict"] == claims.UNTESTABLE  # not compared
    assert "[+0.0100, +0.0500]" in table.loc["BLEU1 improves with M (M=16 vs M=1)", "evidence"]
    assert list(claims.check_claims(_table2()).columns) == claims.CLAIM_COLUMNS
