"""Every figure is drawn by seaborn (issue "The reader's notebooks"): its lines and points come from seaborn's
functions, the intervals are the tables' own (seaborn computes none), no axis carries an offset label and every
legend lies outside the data."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.axes
import numpy as np
import pandas as pd
import pytest
import seaborn as sns
import seaborn.objects as so
from matplotlib.collections import LineCollection, PathCollection

from aac_subsampling.analysis import figures, tables

SEABORN_FUNCTIONS = ("lineplot", "scatterplot")
# what a figure would call to draw its data by hand; axhline/axvline (reference lines) and text stay allowed
BY_HAND = ("plot", "errorbar", "bar", "barh", "scatter", "fill_between", "fill_betweenx", "vlines", "hlines", "step")
FACTORS = (1, 2, 4, 16)


# ------------------------------------------------------------------------------------------------ small tables


def _summary() -> pd.DataFrame:
    """``table1_seeds`` with two seeds: a metric whose scores differ in the fifth decimal (matplotlib would put an
    offset above its axis), an ordinary one and an unavailable one."""
    rows = []
    for k, m in enumerate(FACTORS):
        for metric, mean in (("BLEU1", 2.0001 + 1e-5 * k), ("CIDEr", 0.1 * (k + 1)), ("SPICE", np.nan)):
            spread = 1e-5 if metric == "BLEU1" else 0.02
            rows.append(
                {
                    "metric": metric,
                    "M": m,
                    "n_seeds": 2 if np.isfinite(mean) else 0,
                    "mean": mean,
                    "ci_low": mean - 2 * spread,
                    "ci_high": mean + 3 * spread,
                    "seed0": mean - spread,
                    "seed1": mean + spread,
                }
            )
    return pd.DataFrame(rows)


def _comparisons() -> pd.DataFrame:
    rows = [
        {"metric": metric, "M": m, "difference": d, "ci_low": d - 0.03, "ci_high": d + 0.05, "share_better": 0.7}
        for metric in ("BLEU1", "CIDEr")
        for m, d in zip(FACTORS[1:], (0.01, 0.02, -0.01))
    ]
    rows.append({"metric": "SPICE", "M": 2, "difference": np.nan, "ci_low": np.nan, "ci_high": np.nan})
    return pd.DataFrame(rows).assign(n_seeds=2)


def _histories() -> pd.DataFrame:
    """Two seeds per M; seed 1 stops one epoch early (early stopping); validation every other epoch."""
    rows = []
    for m in (1, 16):
        for seed, epochs in ((0, 4), (1, 3)):
            for epoch in range(epochs):
                rows.append(
                    {
                        "seed": seed,
                        "M": m,
                        "epoch": epoch,
                        "loss": 2.0001 + 1e-5 * epoch + 1e-6 * seed,  # tiny changes: matplotlib would add an offset
                        "step": (epoch + 1) * 25,
                        "validation_cider": 0.5 + 0.1 * epoch + 0.01 * seed if epoch % 2 else np.nan,
                        "validation_cider_swapped": 0.1 + 0.01 * seed if epoch % 2 else np.nan,
                    }
                )
    return pd.DataFrame(rows)


def _table2() -> pd.DataFrame:
    paper = tables.paper_table2().set_index("M")
    return pd.DataFrame(
        {
            "M": list(FACTORS),
            "T_L_min": [int(paper.loc[m, "T_L_min"]) for m in FACTORS],
            "T_L_max": [int(paper.loc[m, "T_L_max"]) for m in FACTORS],
            "inference_time_s": [60.0, 40.0, 30.0, 25.0],
        }
    )


def _per_seed() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"seed": s, "M": m, "inference_time_s": t + (-1) ** s}
            for s in (0, 1)
            for m, t in zip(FACTORS, (60, 40, 30, 25))
        ]
    )


def _audio_dependence() -> pd.DataFrame:
    rows = [
        {"metric": "CIDEr", "M": m, "seed": "pooled", "score": 0.3 + 0.01 * m, "swapped_score": 0.1} for m in FACTORS
    ]
    rows += [{"metric": "CIDEr", "M": 1, "seed": 0, "score": 9.0, "swapped_score": 9.0}]  # a seed's row: not drawn
    return pd.DataFrame(rows)


def _floors() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"metric": "CIDEr", "floor": "constant", "floor_score": 0.05},
            {"metric": "CIDEr", "floor": "language_prior", "floor_score": 0.02},
        ]
    )


def _facts() -> pd.DataFrame:
    rows = [
        {"fact": fact, "system": f"M={m}", "M": m, "mean": mean, "ci_low": mean - 0.1, "ci_high": mean + 0.05}
        for fact in ("event_recall", "order_right")
        for m, mean in zip(FACTORS, (0.4, 0.5, 0.6, 0.7))
    ]
    rows += [
        {"fact": "event_recall", "system": "constant", "M": np.nan, "mean": 0.2, "ci_low": 0.2, "ci_high": 0.2},
        {"fact": "loudness_right", "system": "M=1", "M": 1, "mean": np.nan, "ci_low": np.nan, "ci_high": np.nan},
    ]
    return pd.DataFrame(rows)


def _one_training() -> list[dict[str, float]]:
    history = _histories()
    one = history[(history["M"] == 16) & (history["seed"] == 0)].drop(columns=["seed", "M"])
    return one.assign(best_epoch=2).to_dict("records")


def _study_comparisons() -> pd.DataFrame:
    """notebook 05's comparisons.csv: two comparisons at two M, one metric unavailable."""
    rows = [
        {"comparison": c, "M": m, "metric": metric, "difference": d, "ci_low": d - 0.02, "ci_high": d + 0.03}
        for c, m, d in (("attention - paper", 1, 0.1), ("attention - paper", 16, -0.05), ("paper: M=16 - M=1", 16, 0.2))
        for metric in ("METEOR", "CIDEr")
    ]
    rows.append({"comparison": "attention - paper", "M": 1, "metric": "SPICE", "difference": np.nan})
    return pd.DataFrame(rows)


FLOOR_SCORES = {"constant": {"BLEU1": 2.0, "CIDEr": 0.05}, "language_prior": {"CIDEr": 0.01}}

CASES = {
    "metrics_vs_m": lambda out: figures.metrics_vs_m(_summary(), out, "test", FLOOR_SCORES),
    "relative_change_vs_m": lambda out: figures.relative_change_vs_m(_summary(), tables.paper_table1(), out, "test"),
    "paired_differences_vs_m": lambda out: figures.paired_differences_vs_m(_comparisons(), out),
    "paired_differences_by_comparison": lambda out: figures.paired_differences_by_comparison(
        _study_comparisons(), out, ("BLEU4", "METEOR", "CIDEr")
    ),
    "training_loss_vs_epoch": lambda out: figures.training_loss_vs_epoch(_histories(), out),
    "inference_time_vs_m": lambda out: figures.inference_time_vs_m(
        _table2(), tables.paper_table2(), out, _per_seed(), "test"
    ),
    "encoder_length_vs_m": lambda out: figures.encoder_length_vs_m(_table2(), out, tables.paper_table2()),
    "learning_curves": lambda out: figures.learning_curves(_histories(), out),
    "listening_vs_m": lambda out: figures.listening_vs_m(_audio_dependence(), _floors(), out),
    "facts_vs_m": lambda out: figures.facts_vs_m(_facts(), out),
    "training_history": lambda out: figures.training_history(_one_training(), "M = 16", out),
}


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def drawing(monkeypatch):
    """What drew: the seaborn calls (name, keyword arguments) and the matplotlib data-drawing calls made from
    the figures package itself (seaborn's own calls to matplotlib are not counted)."""
    calls: dict[str, list] = {"seaborn": [], "by_hand": []}

    def recorded(name, original):
        def record(*args, **kwargs):
            calls["seaborn"].append((name, kwargs))
            return original(*args, **kwargs)

        return record

    for name in SEABORN_FUNCTIONS:
        monkeypatch.setattr(sns, name, recorded(name, getattr(sns, name)))
    monkeypatch.setattr(so.Plot, "plot", recorded("so.Plot", so.Plot.plot))

    def watched(name, original):
        def draw(self, *args, **kwargs):
            if Path(sys._getframe(1).f_code.co_filename).parent == Path(figures.__file__).parent:
                calls["by_hand"].append(name)
            return original(self, *args, **kwargs)

        return draw

    for name in BY_HAND:
        monkeypatch.setattr(matplotlib.axes.Axes, name, watched(name, getattr(matplotlib.axes.Axes, name)))
    return calls


def _offsets(figure) -> list[str]:
    figure.canvas.draw()
    return [axis.get_major_formatter().get_offset() for axes in figure.axes for axis in (axes.xaxis, axes.yaxis)]


def _outside(box, data) -> bool:
    """Whether the display box ``box`` lies wholly beside, above or below the display box ``data``."""
    return box.x0 >= data.x1 or box.x1 <= data.x0 or box.y0 >= data.y1 or box.y1 <= data.y0


def _draw(name: str, tmp_path, kept_figures):
    path = CASES[name](tmp_path / f"{name}.png")
    assert path == tmp_path / f"{name}.png" and path.read_bytes()[:4] == b"\x89PNG"
    (figure,) = kept_figures
    figure.canvas.draw()
    return figure


# ------------------------------------------------------------------------------------------------ every figure


def test_every_figure_of_the_module_is_checked_here():
    drawn = {name for name, value in vars(figures).items() if callable(value) and hasattr(value, "__wrapped__")}
    assert drawn == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_seaborn_draws_the_data_and_computes_no_interval(name, tmp_path, kept_figures, drawing):
    _draw(name, tmp_path, kept_figures)
    assert drawing["seaborn"], f"{name}: nothing drawn by seaborn"
    assert drawing["by_hand"] == [], f"{name} draws by hand with matplotlib: {drawing['by_hand']}"
    for function, options in drawing["seaborn"]:
        if function == "lineplot":  # either the table's values as they are, or a mean without an interval
            assert options.get("estimator", "mean") is None or options.get("errorbar", "ci") is None, name


@pytest.mark.parametrize("name", sorted(CASES))
def test_no_offset_labels_and_legends_outside_the_data(name, tmp_path, kept_figures):
    figure = _draw(name, tmp_path, kept_figures)
    assert set(_offsets(figure)) <= {""}, name
    data_areas = [axes.get_window_extent() for axes in figure.axes if axes.get_visible() and axes.axison]
    legends = [axes.get_legend() for axes in figure.axes if axes.get_legend() is not None] + figure.legends
    if name not in ("paired_differences_vs_m", "paired_differences_by_comparison", "facts_vs_m"):  # one series
        assert legends, name
    for legend in legends:
        box = legend.get_window_extent()
        assert all(_outside(box, data) for data in data_areas), name


# ------------------------------------------------------------------------------------------------ what is drawn


def _segments(axes) -> set[tuple[float, float, float]]:
    """The vertical bars of seaborn.objects' Range: (x, low, high)."""
    found = set()
    for collection in axes.collections:
        if isinstance(collection, LineCollection):
            for (x0, low), (x1, high) in collection.get_segments():
                assert x0 == x1
                found.add((float(x0), round(float(low), 9), round(float(high), 9)))
    return found


def test_paired_differences_show_the_tables_own_intervals(tmp_path, kept_figures):
    figure = _draw("paired_differences_vs_m", tmp_path, kept_figures)
    comparisons = _comparisons().dropna(subset=["difference"])
    assert [axes.get_title() for axes in figure.axes if axes.get_visible()] == ["BLEU1: M - M=1", "CIDEr: M - M=1"]
    axes = figure.axes[1]
    cider = comparisons[comparisons["metric"] == "CIDEr"]
    expected = {(float(r.M), round(r.ci_low, 9), round(r.ci_high, 9)) for r in cider.itertuples()}
    assert _segments(axes) == expected
    (points,) = [c for c in axes.collections if isinstance(c, PathCollection)]
    assert sorted(map(tuple, points.get_offsets().tolist())) == sorted(zip(cider["M"], cider["difference"]))
    assert axes.get_xscale() == "log"  # M on a log2 axis, set after seaborn.objects' own scales


def test_metrics_band_is_the_pooled_interval_and_points_are_the_seeds(tmp_path, kept_figures):
    figure = _draw("metrics_vs_m", tmp_path, kept_figures)
    summary = _summary()
    cider = summary[summary["metric"] == "CIDEr"]
    axes = next(a for a in figure.axes if a.get_title().startswith("CIDEr"))
    (band,) = [p for p in axes.patches if p.get_label() == "95 % interval (clips)"]
    corners = {(round(x, 9), round(y, 9)) for x, y in band.get_xy().tolist()}
    assert corners == {
        (m, round(v, 9)) for m, lo, hi in zip(cider["M"], cider["ci_low"], cider["ci_high"]) for v in (lo, hi)
    }
    (seeds,) = [c for c in axes.collections if c.get_label() == "each seed"]
    expected = sorted((m, v) for column in ("seed0", "seed1") for m, v in zip(cider["M"], cider[column]))
    np.testing.assert_allclose(sorted(map(tuple, seeds.get_offsets().tolist())), expected)
    (mean,) = [line for line in axes.get_lines() if line.get_label() == "seed-mean (test)"]
    assert mean.get_ydata().tolist() == pytest.approx(cider["mean"].tolist())
    assert not any(a.get_title().startswith("SPICE") for a in figure.axes)  # unavailable: named, not drawn as 0
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert labels == [
        "95 % interval (clips)",
        "seed-mean (test)",
        "each seed",
        "constant caption",
        "language-prior caption",
    ]


def test_facts_show_the_tables_own_intervals(tmp_path, kept_figures):
    figure = _draw("facts_vs_m", tmp_path, kept_figures)
    facts = _facts()
    recall = facts[(facts["fact"] == "event_recall") & facts["M"].notna()]
    expected = {(float(r.M), round(r.ci_low, 9), round(r.ci_high, 9)) for r in recall.itertuples()}
    assert _segments(figure.axes[0]) == expected
    assert [t.get_text() for t in figure.axes[2].texts] == ["applies to no\nevaluated caption"]


def test_training_loss_means_only_the_epochs_every_seed_reached(tmp_path, kept_figures):
    figure = _draw("training_loss_vs_epoch", tmp_path, kept_figures)
    axes = figure.axes[0]
    thick = [line for line in axes.get_lines() if len(line.get_xdata()) and line.get_linewidth() == 2]
    thin = [line for line in axes.get_lines() if len(line.get_xdata()) and line.get_linewidth() < 1]
    assert len(thin) == 4  # 2 M x 2 seeds, each as it ran
    assert sorted(len(line.get_xdata()) for line in thin) == [3, 3, 4, 4]
    assert [list(line.get_xdata()) for line in thick] == [[1, 2, 3], [1, 2, 3]]  # seed 1 stopped after epoch 3
    history = _histories()
    expected = history[(history["M"] == 1) & (history["epoch"] < 3)].groupby("epoch")["loss"].mean()
    assert list(thick[0].get_ydata()) == pytest.approx(expected.tolist())
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    assert labels == ["M=1 (mean of 2 seeds)", "M=16 (mean of 2 seeds)"]  # numeric M order


def test_learning_curves_mean_the_seeds_where_all_validated(tmp_path, kept_figures):
    figure = _draw("learning_curves", tmp_path, kept_figures)
    axes = figure.axes[0]
    drawn = [line for line in axes.get_lines() if len(line.get_xdata())]
    assert len(drawn) == 4  # 2 M x (own, swapped audio)
    # validated epochs (from 1): 2 by both seeds, 4 by seed 0 only: the mean stops at 2
    assert all(list(line.get_xdata()) == [2] for line in drawn)
    own = sorted(line.get_ydata()[0] for line in drawn if line.get_linestyle() == "-")
    assert own == pytest.approx([0.605, 0.605])
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    assert {"1", "16", "own audio", "another clip's audio"} <= set(labels)


def test_relative_change_colours_a_metric_alike_in_both_panels(tmp_path, kept_figures):
    figure = _draw("relative_change_vs_m", tmp_path, kept_figures)
    (legend,) = figure.legends
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels == list(tables.paper_table1().index)  # reporting order, each metric once
    ours, paper = figure.axes

    def ending_at(axes, change):  # the line of the metric whose change at M = 16 is ``change``
        return next(line for line in axes.get_lines() if len(line.get_ydata()) and line.get_ydata()[-1] == change)

    ours_cider = ending_at(ours, pytest.approx(300.0))  # 0.1 at M = 1, 0.4 at M = 16
    paper_cider = ending_at(paper, pytest.approx((0.093 / 0.074 - 1) * 100))
    assert ours_cider.get_color() == paper_cider.get_color()


def test_listening_draws_the_pooled_rows_and_the_floors(tmp_path, kept_figures):
    figure = _draw("listening_vs_m", tmp_path, kept_figures)
    axes = figure.axes[0]
    drawn = [line for line in axes.get_lines() if len(line.get_xdata()) == len(FACTORS)]  # not the floors
    np.testing.assert_allclose(
        sorted(list(line.get_ydata()) for line in drawn), [[0.1] * 4, [0.3 + 0.01 * m for m in FACTORS]]
    )
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    assert labels == ["own audio", "another clip's audio", "constant caption", "language-prior caption"]


def test_the_studys_figure_shows_each_comparison_with_its_tables_interval(tmp_path, kept_figures):
    figure = _draw("paired_differences_by_comparison", tmp_path, kept_figures)
    assert [axes.get_title() for axes in figure.axes] == ["METEOR", "CIDEr"]  # BLEU4: not in the table
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert labels == ["attention - paper (M=1)", "attention - paper (M=16)", "paper: M=16 - M=1"]
    assert not any(label.get_visible() and label.get_text() for label in figure.axes[1].get_yticklabels())
    found = set()
    for collection in figure.axes[1].collections:
        if isinstance(collection, LineCollection):
            for (low, y0), (high, y1) in collection.get_segments():
                assert y0 == y1
                found.add((int(y0), round(float(low), 9), round(float(high), 9)))
    assert found == {(0, 0.08, 0.13), (1, -0.07, -0.02), (2, 0.18, 0.23)}
