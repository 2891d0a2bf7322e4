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

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator, ScalarFormatter  # noqa: E402

from aac_subsampling.data.clotho_card import CLIP_SECONDS  # noqa: E402
from aac_subsampling.method.paper import PAPER_LABEL, TABLE2_INPUT_FRAMES  # noqa: E402

OURS_COLOR, PAPER_COLOR = "tab:blue", "tab:orange"


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


def _legend_outside(axis: plt.Axes, **options) -> None:
    """The legend to the right of the axes, off the data."""
    axis.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), **{"fontsize": 8, **options})


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
        axis.fill_between(
            data["M"], data["ci_low"], data["ci_high"], color=OURS_COLOR, alpha=0.2, lw=0, label="95 % interval (clips)"
        )
        axis.plot(data["M"], data["mean"], "-o", color=OURS_COLOR, ms=4, label=f"seed-mean ({our_label})")
        for column in seeds:
            axis.plot(
                data["M"],
                data[column],
                "o",
                color="0.25",
                ms=2.5,
                alpha=0.6,
                label="each seed" if column == seeds[0] else None,
            )
        for name, scores in (floors or {}).items():
            value = scores.get(metric)
            if value is not None and np.isfinite(value):
                color, style = FLOOR_STYLES.get(name, ("tab:gray", ":"))
                axis.axhline(value, color=color, ls=style, lw=1.1, label=f"{name.replace('_', '-')} caption")
        _log2_axis(axis, factors)
        n = int(data["n_seeds"].max())
        axis.set_title(f"{metric} (n={n} seed{'s' * (n != 1)})", fontsize=9)
        axis.set_xlabel("M")
    if axes:
        handles, labels = axes[0].get_legend_handles_labels()
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
    colors = dict(zip(paper.index, plt.get_cmap("tab10").colors))
    for axis, table, title in ((left, ours, our_label), (right, paper, PAPER_LABEL)):
        if 1 not in table.columns:
            axis.text(0.5, 0.5, f"{title}: M = 1 not evaluated", ha="center", transform=axis.transAxes)
            axis.set_axis_off()
            continue
        change = _relative_change(table)
        for metric, values in change.iterrows():
            axis.plot(values.index, values.values, "-o", ms=3, color=colors.get(metric), label=metric)
        axis.axhline(0, color="0.5", lw=0.8)
        _log2_axis(axis, sorted(change.columns))
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("M")
        axis.set_ylabel("relative change vs M=1 (%)")
    handles = {
        h.get_label(): h for axis in (right, left) for h in axis.get_lines() if not h.get_label().startswith("_")
    }
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
        errors = np.vstack([data["difference"] - data["ci_low"], data["ci_high"] - data["difference"]])
        axis.errorbar(data["M"], data["difference"], yerr=errors, fmt="o", color=OURS_COLOR, capsize=3, ms=4)
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
        axis.set_xlabel("M")
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
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(len(factors), 1)))
    histories = histories.assign(epoch_number=epoch_numbers(histories)) if not histories.empty else histories
    for color, factor in zip(colors, factors):
        data = histories[histories["M"] == factor]
        for _, run in data.groupby("seed"):
            axis.plot(run["epoch_number"], run["loss"], color=color, lw=0.7, alpha=0.45)
        common = data.groupby("seed")["epoch_number"].max().min()
        mean = data[data["epoch_number"] <= common].groupby("epoch_number")["loss"].mean()
        n = data["seed"].nunique()
        axis.plot(mean.index, mean.values, color=color, lw=2, label=f"M={factor} (mean of {n} seed{'s' * (n != 1)})")
    axis.set_ylabel("epoch-mean weighted cross-entropy")
    axis.set_title("Training loss (thin: each seed)")
    _epoch_axis(axis, histories if factors else None)
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
        axis.plot(data["M"], data["inference_time_s"] / base, "-o", ms=4, color=color, label=label)
        if table is table2 and per_seed is not None and not per_seed.empty:
            axis.plot(
                per_seed["M"],
                per_seed["inference_time_s"] / base,
                "o",
                ms=2.5,
                color="0.25",
                alpha=0.6,
                label="each seed",
            )
    _log2_axis(axis, factors)
    axis.set_xlabel("M")
    axis.set_ylabel("inference time / time at M = 1")
    axis.set_title("Table 2: time to caption the evaluation split")
    if axis.get_legend_handles_labels()[0]:
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
        axis.plot(data["M"], data[column], "-o", ms=4, color=color, label=f"measured, {label}")
        if paper_table2 is not None:
            axis.plot(paper_table2["M"], paper_table2[column], "x", ms=7, color=color, label=f"paper, {label}")
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
    colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, max(1, len(factors))))
    for color, factor in zip(colors, factors):
        runs = data[data["M"] == factor]
        grouped = runs.groupby("epoch_number")
        # the mean only where every seed still trained (early stopping ends seeds at different epochs)
        reached = grouped["seed"].nunique() == runs["seed"].nunique()
        curve = grouped[["validation_cider", "validation_cider_swapped"]].mean()[reached]
        axis.plot(curve.index, curve["validation_cider"], "-", color=color, lw=1.6, label=f"M={factor}")
        axis.plot(curve.index, curve["validation_cider_swapped"], "--", color=color, lw=1.0)
    axis.set_ylabel("validation CIDEr-D")
    axis.set_title("Learning curves (solid: own audio; dashed: another clip's audio)")
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
        axis.plot(pooled["M"], pooled["score"], "-o", ms=4, color=OURS_COLOR, label="own audio")
        axis.plot(pooled["M"], pooled["swapped_score"], "--s", ms=4, color="tab:red", label="another clip's audio")
        _log2_axis(axis, factors)
    rows = floors[floors["metric"] == metric].drop_duplicates("floor")
    for row in rows.itertuples():
        color, style = FLOOR_STYLES.get(row.floor, ("tab:gray", ":"))
        axis.axhline(row.floor_score, color=color, ls=style, lw=1.2, label=f"{row.floor.replace('_', '-')} caption")
    axis.set_xlabel("sub-sampling factor M")
    axis.set_ylabel(metric)
    axis.set_title(f"Does each M listen? {metric} (seed-mean)")
    axis.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
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
        axis.errorbar(
            data["M"].astype(int),
            data["mean"],
            yerr=[data["mean"] - data["ci_low"], data["ci_high"] - data["mean"]],
            fmt="-o",
            ms=4,
            color=OURS_COLOR,
            capsize=2,
        )
        for row in facts[(facts["fact"] == fact) & facts["M"].isna() & facts["mean"].notna()].itertuples():
            axis.axhline(row.mean, color="gray", ls=":" if row.system == "constant" else "-.", lw=1.0)
        if factors:
            _log2_axis(axis, factors)
        axis.set_ylim(-0.03, 1.03)
        axis.set_title(fact.replace("_", " "), fontsize=9)
        axis.set_xlabel("M")
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
    axis.plot(epochs, data["loss"], "-", color=OURS_COLOR, label="training loss")
    axis.set_xlabel("epoch (from 1)")
    axis.set_ylabel("epoch-mean weighted cross-entropy")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = axis.get_legend_handles_labels()
    if "validation_cider" in data and data["validation_cider"].notna().any():
        validated = data.dropna(subset=["validation_cider"])
        right = axis.twinx()
        right.grid(False)  # one grid, the loss axis's
        x = epoch_numbers(validated)
        right.plot(x, validated["validation_cider"], "-o", ms=3, color="tab:green", label="validation CIDEr-D")
        right.plot(
            x, validated["validation_cider_swapped"], "--o", ms=3, color="tab:red", label="... with swapped audio"
        )
        right.set_ylabel("validation CIDEr-D")
        more_handles, more_labels = right.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    _steps_axis(axis, _steps_per_epoch(data))
    best = int(data["best_epoch"].iloc[-1]) if "best_epoch" in data else -1
    if best >= 0 and (data["epoch"] == best).any():
        axis.axvline(best + 1, color="gray", ls=":", lw=1.0)
    axis.set_title(f"{title} (dotted: the kept epoch)", fontsize=10)
    axis.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    return _save(figure, path)
