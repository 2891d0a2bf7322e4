"""Table 1 against M: each metric with its interval, seeds and floors; and the change relative to M = 1, ours
beside the paper's."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import seaborn.objects as so

from aac_subsampling.analysis.figures._style import (
    OURS_COLOR,
    SEED_POINTS,
    TABLE_LINE,
    available_metrics,
    floor_lines,
    legend_entries,
    log2_axis,
    panels,
    save,
    seed_columns,
    styled,
    table_interval,
)
from aac_subsampling.method.paper import PAPER_LABEL


@styled
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
    metrics, missing = available_metrics(summary)
    figure, axes = panels(len(metrics))
    seeds = seed_columns(summary)
    factors = sorted(summary["M"].unique().tolist())
    for axis, metric in zip(axes, metrics):
        data = summary[summary["metric"] == metric].sort_values("M")
        table_interval(axis, data, so.Band(color=OURS_COLOR, alpha=0.2, edgewidth=0), "95 % interval (clips)")
        sns.lineplot(data, x="M", y="mean", color=OURS_COLOR, label=f"seed-mean ({our_label})", ax=axis, **TABLE_LINE)
        per_seed = data.melt(id_vars="M", value_vars=seeds, var_name="seed", value_name="score").dropna()
        if not per_seed.empty:
            sns.scatterplot(per_seed, x="M", y="score", label="each seed", legend=False, ax=axis, **SEED_POINTS)
        floor_lines(axis, {name: scores.get(metric) for name, scores in (floors or {}).items()})
        log2_axis(axis, factors)
        n = int(data["n_seeds"].max())
        axis.set_title(f"{metric} (n={n} seed{'s' * (n != 1)})", fontsize=9)
        axis.set(xlabel="M", ylabel="")
    if axes:
        handles, labels = legend_entries(axes)
        figure.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=5)
    note = f"not available: {', '.join(missing)}" if missing else ""
    figure.suptitle("Table 1: caption metrics vs sub-sampling factor M", y=1.0)
    figure.tight_layout()
    if note:
        figure.text(0.5, -0.06, note, ha="center", fontsize=8, color="0.3")
    return save(figure, path)


def _relative_change(wide: pd.DataFrame) -> pd.DataFrame:
    """Metric x M table -> percent change relative to the M = 1 column."""
    return (wide.div(wide[1], axis=0) - 1.0) * 100.0


@styled
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
        log2_axis(axis, sorted(change["M"].unique().tolist()))
        axis.set_title(title, fontsize=9)
        axis.set(xlabel="M", ylabel="relative change vs M=1 (%)")
    handles = dict(zip(*reversed(legend_entries([left, right]))))  # label -> handle, each metric once
    labels = [m for m in order if m in handles]
    figure.legend([handles[m] for m in labels], labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    figure.suptitle("Change relative to M = 1, each source on its own scale")
    figure.tight_layout()
    return save(figure, path)
