"""Table 2: inference time relative to M = 1, and the encoder output length, ours beside the paper's."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from aac_subsampling.analysis.figures._style import (
    OURS_COLOR,
    PAPER_COLOR,
    SEED_POINTS,
    TABLE_LINE,
    legend_outside,
    log2_axis,
    save,
    styled,
)
from aac_subsampling.data.clotho_card import CLIP_SECONDS
from aac_subsampling.method.paper import PAPER_LABEL, TABLE2_INPUT_FRAMES


@styled
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
    log2_axis(axis, factors)
    axis.set_xlabel("M")
    axis.set_ylabel("inference time / time at M = 1")
    axis.set_title("Table 2: time to caption the evaluation split")
    legend_outside(axis)
    return save(figure, path)


@styled
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
    log2_axis(axis, sorted(set(data["M"]) | (set(paper_table2["M"]) if paper_table2 is not None else set())))
    axis.set_xlabel("M")
    axis.set_ylabel("encoder output length T_L")
    axis.set_title("Table 2: sequence length after the encoder")
    legend_outside(axis, fontsize=7)
    return save(figure, path)
