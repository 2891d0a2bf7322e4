"""How the models trained: the training loss per M, the validation learning curves with own and swapped audio, and
one training's record for notebook 02."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from aac_subsampling.analysis.figures._style import (
    AUDIO,
    OURS_COLOR,
    by_m_colors,
    epoch_axis,
    epoch_numbers,
    legend_entries,
    save,
    steps_axis,
    steps_per_epoch,
    styled,
)


def _seeds_label(factor: int, n: int) -> str:
    return f"M={factor} (mean of {n} seed{'s' * (n != 1)})"


@styled
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
        colors = by_m_colors(factors)
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
    epoch_axis(axis, runs if factors else None)
    return save(figure, path)


@styled
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
            palette=by_m_colors(factors),
            style="audio",
            style_order=list(AUDIO.values()),
            errorbar=None,
            lw=1.4,
            ax=axis,
        )
    axis.set_ylabel("validation CIDEr-D")
    axis.set_title("Learning curves (mean over seeds; dashed: another clip's audio)")
    epoch_axis(axis, data if factors else None)
    return save(figure, path)


@styled
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
    steps_axis(axis, steps_per_epoch(data))
    best = int(data["best_epoch"].iloc[-1]) if "best_epoch" in data else -1
    if best >= 0 and (data["epoch"] == best).any():
        axis.axvline(best + 1, color="gray", ls=":", lw=1.0)
    axis.set_title(f"{title} (dotted: the kept epoch)", fontsize=10)
    handles, labels = legend_entries(axes)
    axis.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    return save(figure, path)
