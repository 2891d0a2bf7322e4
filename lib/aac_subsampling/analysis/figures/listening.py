"""Whether each M listens (own against swapped audio, beside the audio-blind floors) and which facts of the clip its
captions get right."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import seaborn.objects as so

from aac_subsampling.analysis.figures._style import (
    AUDIO,
    OURS_COLOR,
    TABLE_LINE,
    floor_lines,
    legend_outside,
    log2_axis,
    panels,
    save,
    styled,
    table_interval,
)


@styled
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
        log2_axis(axis, factors)
    rows = floors[floors["metric"] == metric].drop_duplicates("floor")
    floor_lines(axis, dict(zip(rows["floor"], rows["floor_score"])))
    axis.set_xlabel("sub-sampling factor M")
    axis.set_ylabel(metric)
    axis.set_title(f"Does each M listen? {metric} (seed-mean)")
    legend_outside(axis)
    return save(figure, path)


@styled
def facts_vs_m(facts: pd.DataFrame, path: Path | str) -> Path:
    """One panel per fact of ``facts.csv``: each M's seed-mean share right with its 95 % interval, and the
    floors' shares as lines."""
    names = list(dict.fromkeys(facts["fact"]))
    figure, axes = panels(len(names), columns=len(names), size=(2.6, 2.6))
    factors = sorted(facts["M"].dropna().astype(int).unique().tolist())
    for axis, fact in zip(axes, names):
        data = facts[(facts["fact"] == fact) & facts["M"].notna() & facts["mean"].notna()].sort_values("M")
        if data.empty:
            axis.text(0.5, 0.5, "applies to no\nevaluated caption", ha="center", va="center", transform=axis.transAxes)
        else:
            data = data.astype({"M": int})
            table_interval(axis, data, so.Range(color=OURS_COLOR, linewidth=1.5))
            sns.lineplot(data, x="M", y="mean", color=OURS_COLOR, ax=axis, **TABLE_LINE)
        for row in facts[(facts["fact"] == fact) & facts["M"].isna() & facts["mean"].notna()].itertuples():
            axis.axhline(row.mean, color="gray", ls=":" if row.system == "constant" else "-.", lw=1.0)
        if factors:
            log2_axis(axis, factors)
        axis.set_ylim(-0.03, 1.03)
        axis.set_title(fact.replace("_", " "), fontsize=9)
        axis.set(xlabel="M", ylabel="")
    figure.suptitle("Facts right per M (lines: constant dotted, language prior dash-dot)", fontsize=9)
    figure.tight_layout()
    return save(figure, path)
