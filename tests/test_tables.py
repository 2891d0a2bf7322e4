"""Tables are read from per-seed evaluation records, never typed; the paper's tables are kept as data."""

import numpy as np
import pandas as pd
import pytest
from fake_results import fake_record, write_run

from aac_subsampling.analysis import tables
from aac_subsampling.experiment import layout
from aac_subsampling.experiment.pipeline import check_minimum_length


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


CLIPS = pd.Index([f"clip {i}.wav" for i in range(6)], name="clip_id")


def _write(root, seed, factor, rouge, time=10.0, **record_changes):
    """A run whose only metric is ROUGE_L (per-clip values ``rouge``; corpus score their mean)."""
    per_clip = pd.DataFrame({m: np.nan for m in tables.METRIC_NAMES}, index=CLIPS)
    per_clip["ROUGE_L"] = rouge
    record = fake_record(factor, {"ROUGE_L": float(np.mean(rouge))}, seed, len(CLIPS), time) | record_changes
    write_run(root, seed, factor, per_clip, None, record)


def _folder(root):
    for seed, shift in ((0, 0.0), (1, 0.1), (2, 0.2)):
        _write(root, seed, 1, np.linspace(0.2, 0.4, 6) + shift, time=10.0 + seed)
        _write(root, seed, 4, np.linspace(0.3, 0.5, 6) + shift, time=4.0 + seed)
    return root


def test_table1_is_the_seed_mean_and_keeps_the_papers_shape(tmp_path):
    written = tables.write_tables(_folder(tmp_path), n_resamples=200)
    first = written.table1
    assert first.loc["ROUGE_L", "M=1"] == pytest.approx(0.4) and first.loc["ROUGE_L", "M=4"] == pytest.approx(0.5)
    assert np.isnan(first.loc["ROUGE_L", "M=2"]) and np.isnan(first.loc["BLEU1", "M=1"])
    lines = layout.table_file(tmp_path, layout.TABLE1_FILE).read_text().splitlines()
    assert lines[0] == "metric,M=1,M=2,M=4,M=8,M=16"
    assert lines[1] == "BLEU1,,,,,"  # unavailable: empty, never 0
    assert lines[5].startswith("ROUGE_L,0.400000,,0.500000,,")
    assert [line.split(",")[0] for line in lines[1:]] == list(tables.METRIC_NAMES)


def test_table1_seeds_long_form(tmp_path):
    summary = tables.write_tables(_folder(tmp_path), n_resamples=200).table1_seeds
    on_disk = pd.read_csv(layout.table_file(tmp_path, layout.TABLE1_SEEDS_FILE))
    assert list(on_disk.columns[:7]) == ["metric", "M", "mean", "std", "n_seeds", "ci_low", "ci_high"]
    assert {"seed0", "seed1", "seed2"} <= set(on_disk.columns)
    row = summary.set_index(["metric", "M"]).loc[("ROUGE_L", 1)]
    assert row["mean"] == pytest.approx(0.4) and row["std"] == pytest.approx(0.1) and row["n_seeds"] == 3
    assert (row["seed0"], row["seed1"], row["seed2"]) == pytest.approx((0.3, 0.4, 0.5))
    assert row["ci_low"] < 0.4 < row["ci_high"]
    bleu = summary.set_index(["metric", "M"]).loc[("BLEU1", 4)]
    assert bleu["n_seeds"] == 0 and np.isnan(bleu["mean"]) and np.isnan(bleu["ci_low"])
    assert bleu["unavailable"] == ""  # the fake records give reasons only for SPICE and SPIDEr
    spice = summary.set_index(["metric", "M"]).loc[("SPICE", 1)]
    assert "SPICE not computed" in spice["unavailable"]


def test_table2_is_structural_and_averages_time(tmp_path):
    second = tables.write_tables(_folder(tmp_path), n_resamples=0).table2
    assert second["M"].tolist() == [1, 4] and second["T_L_min"].tolist() == [1292, 80]
    assert second["inference_time_s"].tolist() == [11.0, 5.0] and second["inference_time_s_std"].tolist() == [1.0, 1.0]
    assert second["parameters_D4367"].tolist() == [4573711, 4573711] and second["n_seeds"].tolist() == [3, 3]
    header = layout.table_file(tmp_path, layout.TABLE2_FILE).read_text().splitlines()[0]
    assert header.startswith("M,T_L_min,T_L_max,reduction_percent,inference_time_s,parameters_D4367")


def test_table2_refuses_seeds_that_disagree_on_structure(tmp_path):
    _folder(tmp_path)
    _write(tmp_path, 3, 4, np.linspace(0.3, 0.5, 6), parameters_D4367=123)
    with pytest.raises(ValueError, match="M=4: parameters_D4367 differs between seeds"):
        tables.table2(tables.load_records(tmp_path))


def test_record_in_the_wrong_folder_is_named(tmp_path):
    _write(tmp_path, 0, 2, np.linspace(0.3, 0.5, 6), M=4)
    with pytest.raises(ValueError, match=r"seed0/M2/evaluation.json: record says M=4"):
        tables.load_records(tmp_path)


def test_format_cell_and_display():
    assert tables.format_cell(0.5834, 0.0213, 0.52, 0.64) == "0.583 ± 0.021 [0.520, 0.640]"
    assert tables.format_cell(0.5834) == "0.583"
    assert tables.format_cell(0.5834, np.nan, 0.52, 0.64, digits=2) == "0.58 [0.52, 0.64]"
    assert tables.format_cell(np.nan, 0.1, 0.0, 1.0) == ""
    summary = pd.DataFrame(
        {
            "metric": ["BLEU1", "SPICE"],
            "M": [1, 1],
            "mean": [0.5, np.nan],
            "std": [0.01, np.nan],
            "ci_low": [0.4, np.nan],
            "ci_high": [0.6, np.nan],
            "n_seeds": [3, 0],
        }
    )
    shown = tables.display_table1(summary)
    assert list(shown.columns) == ["M=1 (n=3)"]
    assert shown.loc["BLEU1", "M=1 (n=3)"] == "0.500 ± 0.010 [0.400, 0.600]" and shown.loc["SPICE", "M=1 (n=3)"] == ""


def test_side_by_side_labels_the_paper(tmp_path):
    first = tables.write_tables(_folder(tmp_path), n_resamples=0).table1
    both = tables.side_by_side(first, tables.paper_table1())
    assert both[("M=4", "paper (Clotho v1)")]["BLEU1"] == 0.418
    assert both[("M=4", "this run")]["ROUGE_L"] == pytest.approx(0.5)


def test_short_clips_are_named_before_training():
    with pytest.raises(ValueError, match="fewer than 256 frames.*'short.wav'"):
        check_minimum_length({"ok.wav": 300, "short.wav": 255}, "development")
    check_minimum_length({"ok.wav": 256}, "development")
