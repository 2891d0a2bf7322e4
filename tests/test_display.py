"""The reader's notebooks: tables at the reported precision, the M a folder holds and how to add the others, the
M that notebooks 02 and 03 run, and figures without offsets, with outside legends and epochs from 1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fake_results import write_fake_results

from aac_subsampling.analysis import coverage, display, figures, tables
from aac_subsampling.base import paths
from aac_subsampling.experiment import layout, notebook
from aac_subsampling.method.paper import SUBSAMPLING_FACTORS

# ------------------------------------------------------------------------------------------------ for_display


def test_for_display_rounds_and_writes_fixed_notation_never_scientific_nor_negative_zero():
    frame = pd.DataFrame({"low": [1.668254e-17, -1e-17, -0.0004, 0.12345], "estimate": [3.4e-2, 6.4e-10, 0.5, 1.0]})
    shown = display.for_display(frame)
    assert shown["low"].tolist() == ["0.000", "0.000", "0.000", "0.123"]
    assert shown["estimate"].tolist() == ["0.034", "0.000", "0.500", "1.000"]
    assert not shown.apply(lambda column: column.str.contains("e-|-0.000|nan", regex=True)).any().any()


def test_for_display_writes_whole_columns_and_labels_as_integers_and_missing_as_empty():
    diversity = pd.DataFrame(
        {
            "source": ["predictions", "predictions (mean over seeds)", "references"],
            "M": [1.0, 1.0, np.nan],
            "seed": [0.0, np.nan, np.nan],
            "n_captions": [60.0, 60.0, 300.0],
            "distinct_captions": [27.0, 52.6667, 283.0],
            "mean_words": [9.2, 9.27222, 10.7767],
        }
    )
    shown = display.for_display(diversity, counts=["distinct_captions"])
    assert shown["M"].tolist() == ["1", "1", ""]
    assert shown["seed"].tolist() == ["0", "", ""]
    assert shown["n_captions"].tolist() == ["60", "60", "300"]
    assert shown["distinct_captions"].tolist() == ["27", "52.667", "283"]
    assert shown["mean_words"].tolist() == ["9.200", "9.272", "10.777"]
    shares = display.for_display(pd.DataFrame({"CIDEr": [0.0, 0.0], "share": [1.0, 0.0], "clips": [4.0, 4.0]}))
    assert shares.values.tolist() == [["0.000", "1.000", "4"], ["0.000", "0.000", "4"]]  # scores keep decimals
    assert display.for_display(pd.DataFrame({"seed": [0.0, np.nan]}))["seed"].tolist() == ["0", ""]
    pivot = pd.DataFrame([[0.5, np.nan]], index=pd.Index([4.0], name="M"), columns=pd.Index([1.0, 16.0], name="M"))
    shown = display.for_display(pivot)
    assert shown.index.tolist() == [4] and shown.columns.tolist() == [1, 16]
    assert shown.iloc[0].tolist() == ["0.500", ""]


def test_for_display_leaves_empty_captions_empty_and_takes_decimals_per_column():
    frame = pd.DataFrame({"prediction": ["a dog barks", np.nan, None], "seconds": [395.83, 0.0043, np.nan]})
    shown = display.for_display(frame, decimals={"seconds": 1})
    assert shown["prediction"].tolist() == ["a dog barks", "", ""]
    assert shown["seconds"].tolist() == ["395.8", "0.0", ""]
    assert display.for_display(pd.Series([1.0, 2.0], name="M")).iloc[:, 0].tolist() == ["1", "2"]


def test_interval_cells_have_a_sign_and_no_negative_zero():
    assert display.interval_cell(0.0123, -0.0031, 0.0272) == "+0.012 [-0.003, +0.027]"
    assert display.interval_cell(-1e-9, -2e-5, 1e-5) == "+0.000 [+0.000, +0.000]"
    assert display.interval_cell(0.4756, 0.4346, 0.51852, sign=False) == "0.476 [0.435, 0.519]"
    assert display.interval_cell(np.nan, 0.1, 0.2) == ""
    comparisons = pd.DataFrame(
        {
            "metric": ["CIDEr", "CIDEr", "BLEU1"],
            "M": [16, 2, 2],
            "difference": [0.214, -0.0001, 0.1],
            "ci_low": [0.097, -0.106, 0.05],
            "ci_high": [0.329, 0.017, 0.15],
        }
    )
    wide = display.interval_table(comparisons, "metric", "M")
    assert wide.index.tolist() == ["CIDEr", "BLEU1"] and wide.columns.tolist() == [2, 16]
    assert wide.loc["CIDEr", 2] == "+0.000 [-0.106, +0.017]" and wide.loc["BLEU1", 16] == ""


def test_format_cell_never_writes_a_negative_zero():
    assert tables.format_cell(-1e-9, 0.0, -1e-5, 0.001) == "0.000 ± 0.000 [0.000, 0.001]"


def test_unavailable_reasons_are_said_once_with_project_relative_paths():
    lib = paths.project_root() / ".venv" / "lib" / "spice" / "lib"
    reason = f"Stanford CoreNLP 3.6.0 jars unusable (jar missing) in {lib}; run fetch_corenlp()"
    record = {"unavailable": {"SPICE": reason, "SPIDEr": f"needs SPICE: {reason}"}}
    notes = display.unavailable_notes({1: record, 4: record})
    assert notes == [
        "SPICE and SPIDEr (which needs SPICE) not available: Stanford CoreNLP 3.6.0 jars unusable (jar missing) "
        "in .venv/lib/spice/lib; run fetch_corenlp()"
    ]
    assert display.unavailable_notes({4: {"unavailable": {}}}) == []
    assert display.project_relative("/elsewhere/x") == "/elsewhere/x"


# ------------------------------------------------------------------------- notebook 03's read-outs of several M


def _evaluation(factor: int, cider: float) -> dict:
    lengths = tables.paper_table2().set_index("M")
    known = factor in lengths.index
    return {
        "metrics": {"BLEU1": 0.5, "CIDEr": cider, "SPICE": None},
        "swapped_audio": {"metrics": {"BLEU1": 0.3, "CIDEr": 0.1, "SPICE": None}},
        "n_clips": 4,
        "distinct_captions": 3,
        "inference_time_s": 1.23456,
        "device": "cpu",
        "facts": {"event_recall": 0.5, "loudness_right": None},
        "encoder_lengths": {
            "1292": int(lengths.loc[factor, "T_L_min"]) if known else 7,
            "2584": int(lengths.loc[factor, "T_L_max"]) if known else 14,
        },
        "parameters_D4367": 4573711,
    }


def test_evaluation_overview_puts_every_m_side_by_side():
    evaluations = {1: _evaluation(1, 0.7), 16: _evaluation(16, 0.9)}
    metrics, runs = display.evaluation_overview(evaluations)
    assert metrics.columns.tolist() == ["M=1", "M=16"]
    assert display.for_display(metrics).loc["SPICE"].tolist() == ["", ""]
    assert display.for_display(runs, decimals=2).loc[16, "inference time (s)"] == "1.23"
    listening = display.listening_overview(evaluations, ["BLEU1", "CIDEr"])
    assert listening.loc[(16, "CIDEr"), "difference"] == pytest.approx(0.8)
    assert display.facts_overview(evaluations).columns.tolist() == ["M=1", "M=16"]
    assert display.facts_overview({4: {**_evaluation(4, 0.1), "facts": None}}).empty


def test_encoder_lengths_beside_the_papers_table2():
    evaluations = {1: _evaluation(1, 0.7), 16: _evaluation(16, 0.9), 3: _evaluation(3, 0)}
    shown = tables.encoder_lengths_beside_paper(evaluations)
    assert shown.loc[16].tolist() == ["5, 10", "5, 10", "yes", "4,573,711"]
    assert shown.loc[3, "T_L (paper)"] == "" and shown.loc[3, "equal"] == ""


def test_captions_and_bootstrap_overviews_read_each_m(tmp_path):
    results = write_fake_results(tmp_path / "results", seeds=(0,), factors=(1, 16), n_clips=6)
    predictions = layout.predictions(results, 0, 16)
    table = pd.read_csv(predictions, dtype=str, keep_default_na=False)
    table.loc[0, "prediction"] = ""  # an empty caption stays an empty string
    table.to_csv(predictions, index=False)
    shown = display.captions_beside_references(results, 0, [1, 16], n_clips=2)
    first = shown.index.get_level_values("clip")[0]
    assert shown.loc[first].index.tolist() == ["reference 1", "reference 2", "M=1", "M=16"]
    assert shown.loc[(first, "M=16"), "caption"] == ""
    for factor in (1, 16):
        rows = [
            {"metric": "BLEU1", "estimate": 0.4756, "mean": 0.47, "low": 1.668254e-17, "high": 0.51852},
            {"metric": "CIDEr", "estimate": 0.66, "mean": 0.66, "low": 0.55, "high": 0.78},
        ]
        methods = ["corpus BLEU from n-gram counts", "mean of per-clip scores"]
        frame = pd.DataFrame(rows).assign(n_clips=6, n_resamples=1000, method=methods)
        frame.to_csv(layout.run_dir(results, 0, factor) / layout.BOOTSTRAP_FILE, index=False)
    overview, notes = display.bootstrap_overview(results, 0, [1, 16])
    assert overview.loc["BLEU1", "M=16"] == "0.476 [0.000, 0.519]"
    assert notes == [
        "BLEU1: corpus BLEU from n-gram counts (1000 resamples of 6 clips)",
        "CIDEr: mean of per-clip scores (1000 resamples of 6 clips)",
    ]


# -------------------------------------------------------------------------------------------- Table 2, narrow


def _table2(factors=(1, 4)) -> pd.DataFrame:
    paper = tables.paper_table2().set_index("M")
    rows = [
        {
            "M": m,
            "T_L_min": paper.loc[m, "T_L_min"],
            "T_L_max": paper.loc[m, "T_L_max"],
            "reduction_percent": tables.reduction_percent(m),
            "inference_time_s": 0.953,
            "parameters_D4367": 4573711,
            "inference_time_s_std": 0.051,
            "n_seeds": 3,
            "corpus_T_L_min": 260,
            "corpus_T_L_max": 344,
            "eval_clips": 60,
            "n_layers": 3,
            "device": "cpu",
        }
        for m in factors
    ]
    return pd.DataFrame(rows)


def test_table2_is_shown_as_two_narrow_tables_with_the_paper_beside_ours():
    main, run = tables.display_table2(_table2())
    assert main.loc[4, ("T_L for 1292", "ours")] == "80" and main.loc[4, ("T_L for 1292", "paper")] == "80"
    assert main.loc[4, ("removed (%)", "ours")] == "93.75"
    assert main.loc[1, ("inference (s)", "ours")] == "0.953 ± 0.051"
    assert main.loc[1, ("inference (s)", "paper")] == "58.81"
    assert run.loc[1].tolist() == ["3", "60", "260", "344", "3", "cpu"]
    for frame in (main, run):  # the panel's width: no line of the text form wider than 100 characters
        assert max(map(len, frame.to_string().splitlines())) <= 100


def test_table2_verdict_is_said_after_the_table_and_names_what_differs():
    assert tables.table2_lengths_verdict(_table2()) == (
        "T_L of the evaluated M (1, 4) equals the paper's Table 2; parameters at D = 4367: 4,573,711"
    )
    off = _table2().assign(T_L_min=[1292, 81])
    assert "differs from the paper's Table 2 for M = 4" in tables.table2_lengths_verdict(off)


# ----------------------------------------------------------------------------- the M a folder holds (notebook 04)


def test_coverage_says_which_m_and_seeds_and_how_to_add_the_others(tmp_path):
    results = write_fake_results(tmp_path / "results", seeds=(0,), factors=(4,), n_clips=5)
    found = coverage.coverage(results)
    assert (found.seeds, found.factors, found.missing_factors()) == ([0], [4], [1, 2, 8, 16])
    text = coverage.summary(found, "smoke", results, results / "figures", results)
    assert "seed 0, M = 4; the tables below show these M only" in text
    assert "not evaluated here: M = 1, 2, 8, 16" in text
    assert 'To add M = 1, 2, 8, 16: run notebooks 02 and 03 with M = "all"' in text
    assert f"./run_all.sh --profile smoke --results-dir {paths.relative_to_project(results)}" in text
    assert "--seeds 0 1 2" in text  # one seed: how to get intervals over seeds
    every = coverage.Coverage(tuple((s, m) for s in (0, 1, 2) for m in SUBSAMPLING_FACTORS))
    assert coverage.how_to_add(every, "quick") == ""
    assert "To add" not in coverage.summary(every, "quick", results, results)
    gaps = coverage.Coverage(((0, 1), (0, 4), (1, 1)))
    assert "seed 1 M=4 missing" in coverage.summary(gaps, "quick", results, results)
    assert "no evaluated run" in coverage.summary(coverage.Coverage(()), "quick", results, results)


def test_found_columns_drop_the_m_not_evaluated_and_keep_the_rest():
    table1 = pd.DataFrame(
        np.ones((2, 5)), index=["BLEU1", "CIDEr"], columns=[f"M={m}" for m in SUBSAMPLING_FACTORS]
    ).assign(**{"constant caption": 0.3})
    assert coverage.found_columns(table1, [4]).columns.tolist() == ["M=4", "constant caption"]
    beside = tables.side_by_side(coverage.found_columns(table1, [1, 16]).drop(columns="constant caption"),
                                 tables.paper_table1())  # fmt: skip
    assert [m for m, _ in beside.columns] == ["M=1", "M=1", "M=16", "M=16"]
    numeric = pd.DataFrame([[1, 2, 3]], columns=pd.MultiIndex.from_tuples([(1, "a"), (2, "a"), (16, "b")]))
    assert coverage.found_columns(numeric, [2]).columns.tolist() == [(2, "a")]


# ----------------------------------------------------------------------- the M notebooks 02 and 03 run


def test_one_m_is_the_run_engines_stage_and_all_is_the_sweep_in_order():
    assert notebook.factors_to_train(4) == [4]  # the engine passes one int: one stage, as before
    assert notebook.factors_to_train(np.int64(8)) == [8]
    assert notebook.factors_to_train("all") == [1, 2, 4, 8, 16] == list(SUBSAMPLING_FACTORS)
    assert notebook.factors_to_train(" All ") == [1, 2, 4, 8, 16]
    assert notebook.factors_to_train([16, 1, 16]) == [16, 1]
    assert notebook.factors_to_train("2") == [2]
    for bad in (0, -4, 4.0, True, [], "some", [1, "x"], None):
        with pytest.raises(ValueError, match="M"):
            notebook.factors_to_train(bad)
    assert notebook.describe_factors([4]) == "M = 4"
    assert notebook.describe_factors([1, 16]) == "M = 1, 16, one after another"


def test_notebook_03_evaluates_every_m_trained_for_its_seed(tmp_path):
    results = write_fake_results(tmp_path / "results", seeds=(0, 1), factors=(1, 16), n_clips=5)
    (layout.training_record(results, 1, 16)).unlink()
    assert notebook.factors_to_evaluate("all", results, 0) == [1, 16]
    assert notebook.factors_to_evaluate("all", results, 1) == [1]
    assert notebook.factors_to_evaluate(4, results, 0) == [4]
    assert notebook.factors_to_evaluate([16], results, 1) == [16]
    with pytest.raises(FileNotFoundError, match="no trained model for seed 2 .* run notebook 02"):
        notebook.factors_to_evaluate("all", results, 2)


# ------------------------------------------------------------------------------------------------ figures


def _histories(steps_per_epoch: int = 25) -> pd.DataFrame:
    rows = []
    for factor in (1, 16):
        for seed in (0, 1):
            for epoch in range(4):
                rows.append(
                    {
                        "seed": seed,
                        "M": factor,
                        "epoch": epoch,
                        "loss": 2.0001 + 1e-5 * epoch,  # tiny changes: matplotlib would add an offset
                        "step": (epoch + 1) * steps_per_epoch,
                        "validation_cider": 0.5 + 1e-6 * epoch if epoch % 2 else np.nan,
                        "validation_cider_swapped": 0.1 if epoch % 2 else np.nan,
                    }
                )
    return pd.DataFrame(rows)


def _offsets(figure) -> list[str]:
    figure.canvas.draw()
    return [axis.get_offset_text().get_text() for axes in figure.axes for axis in (axes.xaxis, axes.yaxis)]


def test_loss_and_learning_curves_count_epochs_from_one_with_steps_above(tmp_path, kept_figures):
    assert figures.epoch_numbers(pd.DataFrame({"epoch": [0, 1, 2]})).tolist() == [1, 2, 3]
    histories = _histories()
    figures.training_loss_vs_epoch(histories, tmp_path / "loss.png")
    figures.learning_curves(histories, tmp_path / "curves.png")
    history = histories[(histories["M"] == 16) & (histories["seed"] == 0)].drop(columns=["seed", "M"])
    figures.training_history(history.assign(best_epoch=2).to_dict("records"), "M = 16", tmp_path / "one.png")
    loss, curves, one = kept_figures
    for figure in (loss, curves):
        axis = figure.axes[0]
        assert axis.get_xlabel() == "epoch (from 1)"
        drawn = [line.get_xdata() for line in axis.get_lines() if len(line.get_xdata())]  # not legend stand-ins
        assert min(min(x) for x in drawn) >= 1
        assert max(max(x) for x in drawn) == 4
        assert any("optimiser steps (25 per epoch)" == child.get_xlabel() for child in axis.child_axes)
    assert [list(line.get_xdata()) for line in loss.axes[0].get_lines()][:1] == [[1, 2, 3, 4]]
    assert one.axes[0].get_lines()[0].get_xdata().tolist() == [1, 2, 3, 4]
    one.canvas.draw()
    (steps,) = one.axes[0].child_axes
    assert all(float(tick).is_integer() for tick in steps.get_xticks())  # whole optimiser steps
    kept_line = [line for line in one.axes[0].get_lines() if line.get_linestyle() == ":"]
    assert kept_line and kept_line[0].get_xdata()[0] == 3  # record's best_epoch 2 is the reader's epoch 3


def test_figures_have_no_offset_text_and_their_legends_lie_outside_the_data(tmp_path, kept_figures):
    histories = _histories()
    figures.training_loss_vs_epoch(histories, tmp_path / "loss.png")
    one_m = histories[histories["M"] == 1].drop(columns=["M"]).to_dict("records")
    figures.training_history(one_m, "t", tmp_path / "t.png")
    table2 = _table2((1, 4, 16))
    figures.inference_time_vs_m(table2, tables.paper_table2(), tmp_path / "time.png")
    figures.encoder_length_vs_m(table2, tmp_path / "length.png", tables.paper_table2())
    for figure in kept_figures:
        assert set(_offsets(figure)) <= {""}, figure.axes[0].get_title()
        for axes in figure.axes:
            legend = axes.get_legend()
            if legend is None:
                continue
            box, data = legend.get_window_extent(), axes.get_window_extent()
            assert not box.overlaps(data) or box.y1 <= data.y0 or box.x0 >= data.x1, axes.get_title()


def test_tiny_differences_get_short_plain_labels(tmp_path, kept_figures):
    comparisons = pd.DataFrame(
        {
            "metric": ["BLEU4"] * 2,
            "M": [2, 16],
            "difference": [2e-13, -1e-13],
            "ci_low": [-3e-13, -4e-13],
            "ci_high": [5e-13, 3e-13],
            "share_better": [0.5, 0.4],
            "n_seeds": [1, 1],
        }
    )
    figures.paired_differences_vs_m(comparisons, tmp_path / "paired.png")
    (figure,) = kept_figures
    assert set(_offsets(figure)) <= {""}
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert labels and max(len(label) for label in labels) <= len("-0.00050"), labels


def test_figures_without_seaborn_style_leak(tmp_path):
    before = dict(figures.plt.rcParams)
    figures.training_loss_vs_epoch(_histories(), tmp_path / "loss.png")
    assert dict(figures.plt.rcParams) == before  # the style is the figure's, not the notebook's
