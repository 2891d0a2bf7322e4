"""Figures of a results folder that carry their uncertainty, beside the paper's numbers.

Every function takes tables already computed (by :mod:`aac_subsampling.analysis.tables` and
:mod:`aac_subsampling.analysis`) and the path of the PNG to write, and returns that path:

* :func:`metrics_vs_m`: each metric against M: seed-mean line, 95 % pooled bootstrap band, seed points;
* :func:`relative_change_vs_m`: ours and the paper's change relative to M = 1, each in its own panel;
* :func:`paired_differences_vs_m`: M - M=1 with its paired 95 % interval (``comparisons.csv``);
* :func:`training_loss_vs_epoch`: training loss per M (numeric legend order), every seed;
* :func:`inference_time_vs_m`, :func:`encoder_length_vs_m`: Table 2;
* :func:`learning_curves`, :func:`listening_vs_m`, :func:`facts_vs_m`: whether the models listen, and what
  they get right (issue "Models that caption").

Seaborn draws every line and point (``sns.lineplot``, ``sns.scatterplot``; long-form tables where a figure
has groups). The intervals are the tables' own, computed over clips by the bootstrap of
:mod:`aac_subsampling.analysis`: seaborn is never asked to compute one (``estimator=None``: the tables' values
as they are), and seaborn.objects' ``Band`` and ``Range`` draw the interval columns from ``ymin``/``ymax``.
Horizontal reference lines (zero, the audio-blind floors) are matplotlib's ``axhline``.

Every figure has one style (seaborn's ``whitegrid``, applied per figure so that nothing else a notebook draws
changes), tick labels in plain numbers (no offset such as ``+1e-3`` above an axis, whatever the values), its
legend outside the data, and epochs counted from 1 (the records count from 0; notebook 02 says "kept epoch 1"
for the first), with the optimiser steps on a second axis where every epoch has the same number of them.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: papermill and CI have no display

import functools  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Sequence  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import seaborn.objects as so  # noqa: E402
from matplotlib.ticker import MaxNLocator, ScalarFormatter  # noqa: E402

from aac_subsampling.data.clotho_card import CLIP_SECONDS  # noqa: E402
from aac_subsampling.method.paper import PAPER_LABEL, TABLE2_INPUT_FRAMES  # noqa: E402

OURS_COLOR, PAPER_COLOR = "tab:blue", "tab:orange"
SEED_POINTS = {"color": "0.25", "s": 8, "alpha": 0.6, "linewidth": 0}  # each seed's value, behind its mean
# a table's values joined as they are (estimator=None: seaborn aggregates nothing), a marker per M
TABLE_LINE = {"estimator": None, "marker": "o", "markersize": 5, "legend": False}


def _log2_axis(axis: plt.Axes, factors: list[int]) -> None:
    axis.set_xscale("log", base=2)
    axis.set_xticks(factors, labels=[str(m) for m in factors])
    axis.minorticks_off()


FIGURE_STYLE = "whitegrid"  # seaborn's: light grid on white, for every figure of this module


def _styled(function):
    """Draw the figure under :data:`FIGURE_STYLE` (a context: the notebook's own plots keep their style)."""

    @functools.wraps(function)
    def styled(*args, **kwargs):
        with sns.axes_style(FIGURE_STYLE):
            return function(*args, **kwargs)

    return styled


MIN_SPAN = 1e-3  # the reported precision: an axis spans at least this much, so tiny values read as 0.000


def _plain_numbers(figure: plt.Figure) -> None:
    """Tick labels as plain numbers on every linear axis with numeric ticks: no offset ("+1e-3", "1e-17") that a
    reader must add to each label in their head. An axis whose data span less than :data:`MIN_SPAN` (differences
    of 1e-13 between models that caption alike) is widened to it, so that its labels stay short instead of
    showing thirteen decimals; log and labelled axes are left as they are."""
    for axes in figure.axes:
        for which, axis in (("x", axes.xaxis), ("y", axes.yaxis)):
            if not isinstance(axis.get_major_formatter(), ScalarFormatter) or axis.get_scale() != "linear":
                continue
            low, high = axes.get_xlim() if which == "x" else axes.get_ylim()
            if abs(high - low) < MIN_SPAN:
                middle = (low + high) / 2
                limits = (middle - MIN_SPAN / 2, middle + MIN_SPAN / 2)
                axes.set_xlim(limits) if which == "x" else axes.set_ylim(limits)
            axes.ticklabel_format(axis=which, useOffset=False, style="plain")


def _legend_entries(axes: list[plt.Axes]) -> tuple[list, list[str]]:
    """Every labelled artist of ``axes``, once per label, for one legend; the axes' own legends removed. Seaborn
    puts a data-less stand-in on the axes for each hue and style level (and an invisible one for each section
    title), so its entries and those of artists labelled by hand (an interval, a floor) come out together."""
    entries: dict[str, object] = {}
    for axis in axes:
        if axis.get_legend() is not None:
            axis.get_legend().remove()
        for handle, label in zip(*axis.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    return list(entries.values()), list(entries)


def _legend_outside(axis: plt.Axes, **options) -> None:
    """The legend to the right of the axes, off the data."""
    handles, labels = _legend_entries([axis])
    if handles:
        axis.legend(handles, labels, loc="center left", bbox_to_anchor=(1.01, 0.5), **{"fontsize": 8, **options})


def epoch_numbers(history: pd.DataFrame) -> pd.Series:
    """The epochs of a history as a reader counts them, from 1 (the records count from 0)."""
    return history["epoch"].astype(int) + 1


def _steps_per_epoch(history: pd.DataFrame) -> int | None:
    """The optimiser steps in one epoch where every row of the history agrees on it, else None."""
    if "step" not in history or history["step"].isna().any() or history.empty:
        return None
    ratios = set((history["step"].astype(float) / epoch_numbers(history)).round(9))
    if len(ratios) != 1:
        return None
    (ratio,) = ratios
    return int(ratio) if float(ratio).is_integer() and ratio > 0 else None


def _epoch_axis(axis: plt.Axes, histories: pd.DataFrame | None) -> None:
    """An x axis of whole epochs counted from 1; with the plotted ``histories`` (None: nothing plotted), the
    optimiser steps on a top axis and the legend outside the data."""
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("epoch (from 1)")
    if histories is not None:
        _steps_axis(axis, _steps_per_epoch(histories))
        _legend_outside(axis)


def _steps_axis(axis: plt.Axes, steps_per_epoch: int | None) -> None:
    """Optimiser steps on a secondary x axis above an epoch axis."""
    if steps_per_epoch:
        top = axis.secondary_xaxis("top", functions=(lambda e: e * steps_per_epoch, lambda s: s / steps_per_epoch))
        top.xaxis.set_major_locator(MaxNLocator(integer=True))
        top.set_xlabel(f"optimiser steps ({steps_per_epoch} per epoch)", fontsize=8)
        top.tick_params(labelsize=8)


def _save(figure: plt.Figure, path: Path | str) -> Path:
    _plain_numbers(figure)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


def _panels(n: int, columns: int = 3, size: tuple[float, float] = (3.3, 2.5)) -> tuple[plt.Figure, list[plt.Axes]]:
    rows = max(1, -(-n // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False)
    flat = list(axes.flat)
    for axis in flat[n:]:
        axis.set_visible(False)
    return figure, flat[:n]


def _available_metrics(summary: pd.DataFrame) -> tuple[list[str], list[str]]:
    available = summary.groupby("metric", sort=False)["mean"].apply(lambda v: v.notna().any())
    return [m for m, ok in available.items() if ok], [m for m, ok in available.items() if not ok]


def _seed_columns(summary: pd.DataFrame) -> list[str]:
    return [c for c in summary.columns if c.startswith("seed") and c.removeprefix("seed").isdigit()]


FLOOR_STYLES = {"constant": ("tab:gray", ":"), "language_prior": ("black", "-.")}
AUDIO = {"own": "own audio", "swapped": "another clip's audio"}  # the two curves of the listening figures


def _by_m_colors(factors: list[int]) -> dict[int, tuple[float, ...]]:
    """One viridis colour per M in numeric order (dark: the smallest M), as seaborn's ``palette``."""
    colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, max(len(factors), 1)))
    return {factor: tuple(color) for factor, color in zip(factors, colors)}


def _table_interval(
    axis: plt.Axes, data: pd.DataFrame, mark: so.Mark, label: str | None = None, rows: str | None = None
) -> None:
    """Draw ``data``'s own interval columns (``ci_low`` to ``ci_high`` against ``M``) as they are; with ``rows``
    (a column of row positions), horizontally, one interval per row.

    Seaborn's ``errorbar=`` computes an interval from the observations it is given; these intervals come from
    the tables' bootstrap over clips, so seaborn.objects draws them from ``ymin``/``ymax`` (``so.Band``: a band,
    ``so.Range``: a bar per M), in the figure's style rather than seaborn.objects' default theme. ``Plot.on`` sets
    its own scales and axis labels: the scales go back to linear here, and callers draw the interval first and set
    their log axes and labels afterwards."""
    data = data.dropna(subset=["ci_low", "ci_high"])
    if data.empty:  # a table without a bootstrap (n_resamples = 0)
        return
    before = {*axis.patches, *axis.collections}
    theme = {**sns.axes_style(), **sns.plotting_context()}  # the style in force, i.e. FIGURE_STYLE
    if rows is None:
        placed = {"x": "M", "ymin": "ci_low", "ymax": "ci_high"}
    else:
        placed = {"y": rows, "xmin": "ci_low", "xmax": "ci_high"}
    with warnings.catch_warnings():  # seaborn 0.13's own pd.concat(copy=False), deprecated by pandas 3: not ours
        warnings.filterwarnings("ignore", "The copy keyword is deprecated", DeprecationWarning)
        so.Plot(data, **placed).add(mark).theme(theme).on(axis).plot()
    axis.set_xscale("linear")  # Plot leaves identity "function" scales that _plain_numbers would not touch
    axis.set_yscale("linear")
    if label:  # seaborn.objects labels nothing without a mapped variable: label the new artists for the legend
        for artist in {*axis.patches, *axis.collections} - before:
            artist.set_label(label)


def _floor_lines(axis: plt.Axes, scores: dict[str, float | None]) -> None:
    """The audio-blind captions' scores (floor name -> score) as horizontal reference lines."""
    for name, value in scores.items():
        if value is not None and np.isfinite(value):
            color, style = FLOOR_STYLES.get(name, ("tab:gray", ":"))
            axis.axhline(value, color=color, ls=style, lw=1.1, label=f"{name.replace('_', '-')} caption")


@_styled
def metrics_vs_m(
    summary: pd.DataFrame,
    path: Path | str,
    our_label: str = "this run",
    floors: dict[str, dict[str, float | None]] | None = None,
) -> Path:
    """One panel per available metric of ``table1_seeds`` (:func:`~aac_subsampling.analysis.seeds.seed_summary`):
    the seed-mean against M (log2 axis), a band for the pooled 95 % bootstrap interval over clips, and each
    seed's score as a point; ``floors`` (name -> metric -> score), the audio-blind captions, as horizontal
    lines. Unavailable metrics are named under the figure, not drawn as 0."""
    metrics, missing = _available_metrics(summary)
    figure, axes = _panels(len(metrics))
    seeds = _seed_columns(summary)
    factors = sorted(summary["M"].unique().tolist())
    for axis, metric in zip(axes, metrics):
        data = summary[summary["metric"] == metric].sort_values("M")
        _table_interval(axis, data, so.Band(color=OURS_COLOR, alpha=0.2, edgewidth=0), "95 % interval (clips)")
        sns.lineplot(data, x="M", y="mean", color=OURS_COLOR, label=f"seed-mean ({our_label})", ax=axis, **TABLE_LINE)
        per_seed = data.melt(id_vars="M", value_vars=seeds, var_name="seed", value_name="score").dropna()
        if not per_seed.empty:
            sns.scatterplot(per_seed, x="M", y="score", label="each seed", legend=False, ax=axis, **SEED_POINTS)
        _floor_lines(axis, {name: scores.get(metric) for name, scores in (floors or {}).items()})
        _log2_axis(axis, factors)
        n = int(data["n_seeds"].max())
        axis.set_title(f"{metric} (n={n} seed{'s' * (n != 1)})", fontsize=9)
        axis.set(xlabel="M", ylabel="")
    if axes:
        handles, labels = _legend_entries(axes)
        figure.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=5)
    note = f"not available: {', '.join(missing)}" if missing else ""
    figure.suptitle("Table 1: caption metrics vs sub-sampling factor M", y=1.0)
    figure.tight_layout()
    if note:
        figure.text(0.5, -0.06, note, ha="center", fontsize=8, color="0.3")
    return _save(figure, path)


def _relative_change(wide: pd.DataFrame) -> pd.DataFrame:
    """Metric x M table -> percent change relative to the M = 1 column."""
    return (wide.div(wide[1], axis=0) - 1.0) * 100.0


@_styled
def relative_change_vs_m(
    summary: pd.DataFrame, paper_table1: pd.DataFrame, path: Path | str, our_label: str = "this run"
) -> Path:
    """Each metric's change relative to M = 1 (%), ours (seed-mean) and the paper's in two panels, each on
    its own y scale: the corpora and score levels differ, the direction and shape of the trend compare."""
    order = list(dict.fromkeys([*paper_table1.index, *summary["metric"]]))  # reporting order, BLEU1 first
    ours = summary.pivot(index="metric", columns="M", values="mean").reindex(order).dropna(how="all")
    paper = paper_table1.rename(columns=lambda c: int(str(c).removeprefix("M=")))
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    colors = dict(zip(order, sns.color_palette("tab10", len(order))))  # a metric has one colour in both panels
    for axis, table, title in ((left, ours, our_label), (right, paper, PAPER_LABEL)):
        if 1 not in table.columns:
            axis.text(0.5, 0.5, f"{title}: M = 1 not evaluated", ha="center", transform=axis.transAxes)
            axis.set_axis_off()
            continue
        change = _relative_change(table).rename_axis(index="metric").reset_index()
        change = change.melt(id_vars="metric", var_name="M", value_name="change").astype({"M": int})
        shown = [m for m in order if m in set(change["metric"])]
        sns.lineplot(
            change,
            x="M",
            y="change",
            hue="metric",
            hue_order=shown,
            palette=colors,
            estimator=None,
            marker="o",
            markersize=4,
            ax=axis,
        )
        axis.axhline(0, color="0.5", lw=0.8)
        _log2_axis(axis, sorted(change["M"].unique().tolist()))
        axis.set_title(title, fontsize=9)
        axis.set(xlabel="M", ylabel="relative change vs M=1 (%)")
    handles = dict(zip(*reversed(_legend_entries([left, right]))))  # label -> handle, each metric once
    labels = [m for m in order if m in handles]
    figure.legend([handles[m] for m in labels], labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    figure.suptitle("Change relative to M = 1, each source on its own scale")
    figure.tight_layout()
    return _save(figure, path)


@_styled
def paired_differences_vs_m(comparisons: pd.DataFrame, path: Path | str) -> Path:
    """One panel per available metric of ``comparisons.csv``: M - M=1 (seed-mean, all clips) with its paired
    95 % bootstrap interval; a zero line; the share of resamples in which M was better above each point."""
    available = comparisons.dropna(subset=["difference"])
    metrics = list(dict.fromkeys(available["metric"]))
    figure, axes = _panels(len(metrics))
    factors = sorted(comparisons["M"].unique().tolist())
    for axis, metric in zip(axes, metrics):
        data = available[available["metric"] == metric].sort_values("M")
        _table_interval(axis, data, so.Range(color=OURS_COLOR, linewidth=1.5))
        sns.scatterplot(data, x="M", y="difference", color=OURS_COLOR, s=28, legend=False, ax=axis)
        axis.axhline(0, color="0.5", lw=0.8)
        for row in data.itertuples():
            axis.annotate(
                f"{row.share_better:.0%}",
                (row.M, row.ci_high),
                textcoords="offset points",
                xytext=(0, 3),
                ha="center",
                fontsize=6,
                color="0.3",
            )
        _log2_axis(axis, factors)
        axis.set_title(f"{metric}: M - M=1", fontsize=9)
        axis.set(xlabel="M", ylabel="")
        axis.margins(y=0.15)
    missing = sorted(set(comparisons["metric"]) - set(metrics), key=list(comparisons["metric"]).index)
    n_seeds = int(available["n_seeds"].max()) if not available.empty else 0
    figure.suptitle(
        f"Paired differences vs M = 1 with 95 % intervals over clips (seed-mean of {n_seeds} seeds; "
        "label: share of resamples where M is better)",
        y=1.0,
        fontsize=10,
    )
    if missing:
        figure.text(0.5, -0.01, f"not available: {', '.join(missing)}", ha="center", fontsize=8, color="0.3")
    figure.tight_layout()
    return _save(figure, path)


@_styled
def paired_differences_by_comparison(comparisons: pd.DataFrame, path: Path | str, metrics: Sequence[str]) -> Path:
    """Notebook 05's figure: one panel per metric, one row per comparison and M (``comparisons.csv`` of the
    study: ``comparison``, ``M``, ``metric``, ``difference``, ``ci_low``, ``ci_high``), each paired difference
    with its 95 % interval over clips, as the table gives it; a zero line."""
    frame = comparisons.dropna(subset=["difference"]).copy()
    # "paper: M=16 - M=1" names its M already; "attention - paper" is asked at each M
    frame["label"] = [c if "M=" in c else f"{c} (M={m})" for c, m in zip(frame["comparison"], frame["M"])]
    labels = list(dict.fromkeys(frame["label"]))
    frame["row"] = [labels.index(label) for label in frame["label"]]
    shown = [m for m in metrics if m in set(frame["metric"])]
    panels = max(len(shown), 1)
    figure, axes = plt.subplots(1, panels, figsize=(3.2 * panels, 0.45 * len(labels) + 1.4), sharey=True, squeeze=False)
    for axis, metric in zip(axes[0], shown):
        data = frame[frame["metric"] == metric]
        _table_interval(axis, data, so.Range(color=OURS_COLOR, linewidth=1.5), rows="row")
        sns.scatterplot(data, x="difference", y="row", color=OURS_COLOR, s=28, legend=False, ax=axis)
        axis.axvline(0.0, color="0.5", lw=0.8)
        axis.set_title(metric, fontsize=9)
        axis.set(xlabel="paired difference", ylabel="")
    axes[0][0].set_yticks(range(len(labels)), labels)
    axes[0][0].set_ylim(len(labels) - 0.5, -0.5)  # the first comparison on top
    for axis in axes[0][1:]:  # Plot.on shows every panel's tick labels again: the first panel's are enough
        axis.tick_params(labelleft=False)
    figure.tight_layout()
    return _save(figure, path)


def _seeds_label(factor: int, n: int) -> str:
    return f"M={factor} (mean of {n} seed{'s' * (n != 1)})"


@_styled
def training_loss_vs_epoch(histories: pd.DataFrame | Path | str, path: Path | str) -> Path:
    """Epoch-mean training loss per M: a thin line per seed and a thick mean over seeds up to the last epoch
    every seed reached (later, seeds have stopped early and a mean would jump). Legend in numeric M order,
    outside the data; integer epoch ticks, from 1. ``histories``: ``analysis.records.load_training_histories``'s
    table, or a results folder to read it from."""
    if not isinstance(histories, pd.DataFrame):
        from aac_subsampling.analysis.records import load_training_histories

        histories = load_training_histories(histories)
    figure, axis = plt.subplots(figsize=(6, 3.6))
    factors = sorted(histories["M"].unique().tolist()) if not histories.empty else []
    if factors:
        runs = histories.assign(epoch_number=epoch_numbers(histories))
        colors = _by_m_colors(factors)
        # each seed as it ran: units= draws one line per seed, estimator=None leaves its values alone
        sns.lineplot(
            runs,
            x="epoch_number",
            y="loss",
            hue="M",
            palette=colors,
            units="seed",
            estimator=None,
            lw=0.7,
            alpha=0.45,
            legend=False,
            ax=axis,
        )
        last = runs.groupby(["M", "seed"])["epoch_number"].transform("max")  # each seed's last epoch
        shared = runs[runs["epoch_number"] <= last.groupby(runs["M"]).transform("min")]
        n_seeds = runs.groupby("M")["seed"].nunique()
        labels = {factor: _seeds_label(factor, int(n_seeds[factor])) for factor in factors}
        sns.lineplot(  # seaborn's mean over the seeds, no interval: the thin lines show the spread
            shared.assign(curve=shared["M"].map(labels)),
            x="epoch_number",
            y="loss",
            hue="curve",
            hue_order=list(labels.values()),
            palette={labels[m]: colors[m] for m in factors},
            errorbar=None,
            lw=2,
            ax=axis,
        )
    axis.set_ylabel("epoch-mean weighted cross-entropy")
    axis.set_title("Training loss (thin: each seed)")
    _epoch_axis(axis, runs if factors else None)
    return _save(figure, path)


@_styled
def inference_time_vs_m(
    table2: pd.DataFrame,
    paper_table2: pd.DataFrame,
    path: Path | str,
    per_seed: pd.DataFrame | None = None,
    our_label: str = "this run",
) -> Path:
    """Inference time relative to M = 1 (different hardware and corpus: only the ratios compare): our
    seed-mean, each seed's time (``tables.inference_times``) as points, and the paper's."""
    figure, axis = plt.subplots(figsize=(5.2, 3.4))
    factors = sorted(set(table2["M"]) | set(paper_table2["M"]))
    sources = ((table2, f"{our_label}, seed-mean", OURS_COLOR), (paper_table2, PAPER_LABEL, PAPER_COLOR))
    for table, label, color in sources:
        if table.empty or 1 not in set(table["M"]):
            continue
        base = float(table.loc[table["M"] == 1, "inference_time_s"].iloc[0])
        data = table.sort_values("M")
        data = data.assign(ratio=data["inference_time_s"] / base)
        sns.lineplot(data, x="M", y="ratio", color=color, label=label, ax=axis, **TABLE_LINE)
        if table is table2 and per_seed is not None and not per_seed.empty:
            seeds = per_seed.assign(ratio=per_seed["inference_time_s"] / base)
            sns.scatterplot(seeds, x="M", y="ratio", label="each seed", legend=False, ax=axis, **SEED_POINTS)
    _log2_axis(axis, factors)
    axis.set_xlabel("M")
    axis.set_ylabel("inference time / time at M = 1")
    axis.set_title("Table 2: time to caption the evaluation split")
    _legend_outside(axis)
    return _save(figure, path)


@_styled
def encoder_length_vs_m(table2: pd.DataFrame, path: Path | str, paper_table2: pd.DataFrame | None = None) -> Path:
    """Measured encoder output length T_L for Table 2's inputs (the shortest and longest clip), with the paper's
    Table 2 lengths as crosses when given (structural: identical for every seed)."""
    figure, axis = plt.subplots(figsize=(5.2, 3.4))
    data = table2.sort_values("M")
    inputs = [
        (column, f"{frames} frames ({seconds:g} s)", color)
        for (column, frames), seconds, color in zip(
            TABLE2_INPUT_FRAMES.items(), CLIP_SECONDS, ("tab:green", "tab:purple")
        )
    ]
    for column, label, color in inputs:
        sns.lineplot(data, x="M", y=column, color=color, label=f"measured, {label}", ax=axis, **TABLE_LINE)
        if paper_table2 is not None:
            sns.scatterplot(
                paper_table2,
                x="M",
                y=column,
                marker="x",
                s=49,
                linewidth=1.5,
                color=color,
                label=f"paper, {label}",
                legend=False,
                ax=axis,
            )
    axis.set_yscale("log")
    _log2_axis(axis, sorted(set(data["M"]) | (set(paper_table2["M"]) if paper_table2 is not None else set())))
    axis.set_xlabel("M")
    axis.set_ylabel("encoder output length T_L")
    axis.set_title("Table 2: sequence length after the encoder")
    _legend_outside(axis, fontsize=7)
    return _save(figure, path)


@_styled
def learning_curves(histories: pd.DataFrame, path: Path | str) -> Path:
    """Validation CIDEr-D against the epoch (from 1; the optimiser steps on the top axis), per M: with the clips'
    own audio (solid) and with other clips' audio (dashed), the mean over seeds; the gap between them is what the
    model takes from the audio."""
    data = histories.dropna(subset=["validation_cider"])
    data = data.assign(epoch_number=epoch_numbers(data))
    figure, axis = plt.subplots(figsize=(6.4, 3.8))
    factors = sorted(data["M"].unique().tolist())
    if factors:
        # the mean only where every seed still trained (early stopping ends seeds at different epochs)
        seeds_there = data.groupby(["M", "epoch_number"])["seed"].transform("nunique")
        shared = data[seeds_there == data.groupby("M")["seed"].transform("nunique")]
        curves = shared.melt(
            id_vars=["M", "seed", "epoch_number"],
            value_vars=["validation_cider", "validation_cider_swapped"],
            var_name="audio",
            value_name="cider",
        )
        curves["audio"] = curves["audio"].map(
            {"validation_cider": AUDIO["own"], "validation_cider_swapped": AUDIO["swapped"]}
        )
        sns.lineplot(  # seaborn's mean over the seeds, no interval
            curves,
            x="epoch_number",
            y="cider",
            hue="M",
            hue_order=factors,
            palette=_by_m_colors(factors),
            style="audio",
            style_order=list(AUDIO.values()),
            errorbar=None,
            lw=1.4,
            ax=axis,
        )
    axis.set_ylabel("validation CIDEr-D")
    axis.set_title("Learning curves (mean over seeds; dashed: another clip's audio)")
    _epoch_axis(axis, data if factors else None)
    return _save(figure, path)


@_styled
def listening_vs_m(
    audio_dependence: pd.DataFrame, floors: pd.DataFrame, path: Path | str, metric: str = "CIDEr"
) -> Path:
    """``metric`` per M with the clips' own audio and with swapped audio (seed-mean over the pooled rows of
    ``audio_dependence.csv``, own-audio interval from the paired table) and the audio-blind floors as lines."""
    figure, axis = plt.subplots(figsize=(6.0, 3.6))
    pooled = audio_dependence[(audio_dependence["metric"] == metric) & (audio_dependence["seed"] == "pooled")]
    pooled = pooled.sort_values("M")
    factors = pooled["M"].astype(int).tolist()
    if factors:
        scores = pooled.melt(id_vars="M", value_vars=["score", "swapped_score"], var_name="audio", value_name="value")
        scores["audio"] = scores["audio"].map({"score": AUDIO["own"], "swapped_score": AUDIO["swapped"]})
        sns.lineplot(  # estimator=None: the table's seed-means as they are
            scores,
            x="M",
            y="value",
            hue="audio",
            style="audio",
            hue_order=list(AUDIO.values()),
            style_order=list(AUDIO.values()),
            palette=[OURS_COLOR, "tab:red"],
            markers=["o", "s"],
            markersize=5,
            estimator=None,
            ax=axis,
        )
        _log2_axis(axis, factors)
    rows = floors[floors["metric"] == metric].drop_duplicates("floor")
    _floor_lines(axis, dict(zip(rows["floor"], rows["floor_score"])))
    axis.set_xlabel("sub-sampling factor M")
    axis.set_ylabel(metric)
    axis.set_title(f"Does each M listen? {metric} (seed-mean)")
    _legend_outside(axis)
    return _save(figure, path)


@_styled
def facts_vs_m(facts: pd.DataFrame, path: Path | str) -> Path:
    """One panel per fact of ``facts.csv``: each M's seed-mean share right with its 95 % interval, and the
    floors' shares as lines."""
    names = list(dict.fromkeys(facts["fact"]))
    figure, axes = _panels(len(names), columns=len(names), size=(2.6, 2.6))
    factors = sorted(facts["M"].dropna().astype(int).unique().tolist())
    for axis, fact in zip(axes, names):
        data = facts[(facts["fact"] == fact) & facts["M"].notna() & facts["mean"].notna()].sort_values("M")
        if data.empty:
            axis.text(0.5, 0.5, "applies to no\nevaluated caption", ha="center", va="center", transform=axis.transAxes)
        else:
            data = data.astype({"M": int})
            _table_interval(axis, data, so.Range(color=OURS_COLOR, linewidth=1.5))
            sns.lineplot(data, x="M", y="mean", color=OURS_COLOR, ax=axis, **TABLE_LINE)
        for row in facts[(facts["fact"] == fact) & facts["M"].isna() & facts["mean"].notna()].itertuples():
            axis.axhline(row.mean, color="gray", ls=":" if row.system == "constant" else "-.", lw=1.0)
        if factors:
            _log2_axis(axis, factors)
        axis.set_ylim(-0.03, 1.03)
        axis.set_title(fact.replace("_", " "), fontsize=9)
        axis.set(xlabel="M", ylabel="")
    figure.suptitle("Facts right per M (lines: constant dotted, language prior dash-dot)", fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


@_styled
def training_history(history: list[dict[str, float]], title: str, path: Path | str) -> Path:
    """One training's record for notebook 02: the epoch-mean loss against the epoch (from 1; the optimiser steps
    on the top axis) and, where the training validated, validation CIDEr-D with the clips' own and with swapped
    audio (right axis); the best epoch, whose weights are kept, marked."""
    data = pd.DataFrame(history)
    epochs = epoch_numbers(data)
    figure, axis = plt.subplots(figsize=(6.4, 3.4))
    sns.lineplot(
        x=epochs, y=data["loss"], estimator=None, color=OURS_COLOR, label="training loss", legend=False, ax=axis
    )
    axes = [axis]
    if "validation_cider" in data and data["validation_cider"].notna().any():
        validated = data.dropna(subset=["validation_cider"])
        right = axis.twinx()
        right.grid(False)  # one grid, the loss axis's
        x = epoch_numbers(validated)
        for column, color, style, label in (
            ("validation_cider", "tab:green", "-", "validation CIDEr-D"),
            ("validation_cider_swapped", "tab:red", "--", "... with swapped audio"),
        ):
            sns.lineplot(
                x=x,
                y=validated[column],
                estimator=None,
                marker="o",
                markersize=4,
                color=color,
                linestyle=style,
                label=label,
                legend=False,
                ax=right,
            )
        right.set_ylabel("validation CIDEr-D")
        axes.append(right)
    axis.set_xlabel("epoch (from 1)")
    axis.set_ylabel("epoch-mean weighted cross-entropy")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    _steps_axis(axis, _steps_per_epoch(data))
    best = int(data["best_epoch"].iloc[-1]) if "best_epoch" in data else -1
    if best >= 0 and (data["epoch"] == best).any():
        axis.axvline(best + 1, color="gray", ls=":", lw=1.0)
    axis.set_title(f"{title} (dotted: the kept epoch)", fontsize=10)
    handles, labels = _legend_entries(axes)
    axis.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    return _save(figure, path)
