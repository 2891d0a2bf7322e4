"""Tables are read from evaluation records, never typed; the paper's tables are kept as data."""

import json

import numpy as np
import pytest

from aac_subsampling import tables
from aac_subsampling.pipeline import check_minimum_length, constant_caption


def test_reduction_matches_the_papers_formula():
    assert [round(tables.reduction_percent(m), 4) for m in (1, 2, 4, 8, 16)] == [0.0, 75.0, 93.75, 98.4375, 99.6094]
    # The paper prints 98.43 and 99.60 (truncated, not rounded).
    paper = tables.paper_table2().set_index("M")["reduction_percent"]
    for m in (1, 2, 4, 8, 16):
        assert abs(tables.reduction_percent(m) - paper[m]) < 0.01


def test_paper_tables_are_the_papers():
    paper1 = tables.paper_table1()
    assert list(paper1.columns) == ["M=1", "M=2", "M=4", "M=8", "M=16"]
    assert paper1.loc["BLEU1", "M=1"] == 0.389 and paper1.loc["SPIDEr", "M=8"] == 0.067
    assert tables.paper_table2()["inference_time_s"].tolist() == [58.81, 34.13, 25.67, 21.73, 20.42]


def _record(m, metrics):
    return {"M": m, "metrics": metrics, "encoder_lengths": {"1292": 1292 // m // m, "2584": 2584 // m // m},
            "n_layers": 3, "inference_time_s": 10.0 / m, "parameters_D4367": 4573711,
            "corpus_encoder_lengths": {"min": 1, "max": 2}, "n_clips": 3, "device": "cpu"}


def test_tables_are_built_from_records(tmp_path):
    for m, bleu in ((1, 0.25), (4, 0.5)):
        (tmp_path / f"M{m}").mkdir()
        metrics = {name: None for name in tables.METRIC_NAMES} | {"BLEU1": bleu}
        (tmp_path / f"M{m}" / "evaluation.json").write_text(json.dumps(_record(m, metrics)))
    first, second = tables.write_tables(tmp_path)
    assert first.loc["BLEU1", "M=1"] == 0.25 and first.loc["BLEU1", "M=4"] == 0.5
    assert np.isnan(first.loc["BLEU1", "M=2"]) and np.isnan(first.loc["SPICE", "M=1"])
    assert second["M"].tolist() == [1, 4] and second["T_L_min"].tolist() == [1292, 80]
    written = (tmp_path / "table1.csv").read_text().splitlines()
    assert written[0] == "metric,M=1,M=2,M=4,M=8,M=16"
    assert written[1].startswith("BLEU1,0.250000,,0.500000,,")
    assert [line.split(",")[0] for line in written[1:]] == list(tables.METRIC_NAMES)
    assert (tmp_path / "table2.csv").read_text().splitlines()[0].startswith(
        "M,T_L_min,T_L_max,reduction_percent,inference_time_s,parameters_D4367")
    both = tables.side_by_side(first, tables.paper_table1())
    assert both[("M=4", "paper (Clotho v1)")]["BLEU1"] == 0.418


def test_short_clips_are_named_before_training():
    with pytest.raises(ValueError, match="fewer than 256 frames.*'short.wav'"):
        check_minimum_length({"ok.wav": 300, "short.wav": 255}, "development")
    check_minimum_length({"ok.wav": 256}, "development")


def test_constant_caption_is_the_most_typical():
    captions = ["a dog barks", "a dog barks loudly", "a dog barks twice", "rain falls on a roof"]
    assert constant_caption(captions) == "a dog barks"
