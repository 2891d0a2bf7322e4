"""Paired differences with the tables' own 95 % intervals over clips: each M against M = 1 (``comparisons.csv``),
and notebook 05's comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import seaborn.objects as so

from aac_subsampling.analysis.figures._style import (
    OURS_COLOR,
    log2_axis,
    panels,
    save,
    styled,
    table_interval,
)


@styled
def paired_differences_vs_m(comparisons: pd.DataFrame, path: Path | str) -> Path:
    """One panel per available metric of ``comparisons.csv``: M - M=1 (seed-mean, all clips) with its paired
    95 % bootstrap interval; a zero line; the share of resamples in which M was better above each point."""
    available = comparisons.dropna(subset=["difference"])
    metrics = list(dict.fromkeys(available["metric"]))
    figure, axes = panels(len(metrics))
    factors = sorted(comparisons["M"].unique().tolist())
    for axis, metric in zip(axes, metrics):
        data = available[available["metric"] == metric].sort_values("M")
        table_interval(axis, data, so.Range(color=OURS_COLOR, linewidth=1.5))
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
        log2_axis(axis, factors)
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
    return save(figure, path)


@styled
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
        table_interval(axis, data, so.Range(color=OURS_COLOR, linewidth=1.5), rows="row")
        sns.scatterplot(data, x="difference", y="row", color=OURS_COLOR, s=28, legend=False, ax=axis)
        axis.axvline(0.0, color="0.5", lw=0.8)
        axis.set_title(metric, fontsize=9)
        axis.set(xlabel="paired difference", ylabel="")
    axes[0][0].set_yticks(range(len(labels)), labels)
    axes[0][0].set_ylim(len(labels) - 0.5, -0.5)  # the first comparison on top
    for axis in axes[0][1:]:  # Plot.on shows every panel's tick labels again: the first panel's are enough
        axis.tick_params(labelleft=False)
    figure.tight_layout()
    return save(figure, path)
