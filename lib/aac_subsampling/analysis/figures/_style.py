"""What every figure of :mod:`aac_subsampling.analysis.figures` shares: colours, one seaborn style, plain tick
labels, legends outside the data, epochs counted from 1 with the optimiser steps above them, the tables' own
intervals drawn by seaborn.objects, the audio-blind floors as lines, and saving."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import seaborn.objects as so
from matplotlib.ticker import MaxNLocator, ScalarFormatter

OURS_COLOR, PAPER_COLOR = "tab:blue", "tab:orange"
SEED_POINTS = {"color": "0.25", "s": 8, "alpha": 0.6, "linewidth": 0}  # each seed's value, behind its mean
# a table's values joined as they are (estimator=None: seaborn aggregates nothing), a marker per M
TABLE_LINE = {"estimator": None, "marker": "o", "markersize": 5, "legend": False}


def log2_axis(axis: plt.Axes, factors: list[int]) -> None:
    axis.set_xscale("log", base=2)
    axis.set_xticks(factors, labels=[str(m) for m in factors])
    axis.minorticks_off()


FIGURE_STYLE = "whitegrid"  # seaborn's: light grid on white, for every figure of this package


def styled(function):
    """Draw the figure under :data:`FIGURE_STYLE` (a context: the notebook's own plots keep their style)."""

    @functools.wraps(function)
    def drawn_in_style(*args, **kwargs):
        with sns.axes_style(FIGURE_STYLE):
            return function(*args, **kwargs)

    return drawn_in_style


MIN_SPAN = 1e-3  # the reported precision: an axis spans at least this much, so tiny values read as 0.000


def plain_numbers(figure: plt.Figure) -> None:
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


def legend_entries(axes: list[plt.Axes]) -> tuple[list, list[str]]:
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


def legend_outside(axis: plt.Axes, **options) -> None:
    """The legend to the right of the axes, off the data."""
    handles, labels = legend_entries([axis])
    if handles:
        axis.legend(handles, labels, loc="center left", bbox_to_anchor=(1.01, 0.5), **{"fontsize": 8, **options})


def epoch_numbers(history: pd.DataFrame) -> pd.Series:
    """The epochs of a history as a reader counts them, from 1 (the records count from 0)."""
    return history["epoch"].astype(int) + 1


def steps_per_epoch(history: pd.DataFrame) -> int | None:
    """The optimiser steps in one epoch where every row of the history agrees on it, else None."""
    if "step" not in history or history["step"].isna().any() or history.empty:
        return None
    ratios = set((history["step"].astype(float) / epoch_numbers(history)).round(9))
    if len(ratios) != 1:
        return None
    (ratio,) = ratios
    return int(ratio) if float(ratio).is_integer() and ratio > 0 else None


def epoch_axis(axis: plt.Axes, histories: pd.DataFrame | None) -> None:
    """An x axis of whole epochs counted from 1; with the plotted ``histories`` (None: nothing plotted), the
    optimiser steps on a top axis and the legend outside the data."""
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("epoch (from 1)")
    if histories is not None:
        steps_axis(axis, steps_per_epoch(histories))
        legend_outside(axis)


def steps_axis(axis: plt.Axes, steps_per_epoch: int | None) -> None:
    """Optimiser steps on a secondary x axis above an epoch axis."""
    if steps_per_epoch:
        top = axis.secondary_xaxis("top", functions=(lambda e: e * steps_per_epoch, lambda s: s / steps_per_epoch))
        top.xaxis.set_major_locator(MaxNLocator(integer=True))
        top.set_xlabel(f"optimiser steps ({steps_per_epoch} per epoch)", fontsize=8)
        top.tick_params(labelsize=8)


def save(figure: plt.Figure, path: Path | str) -> Path:
    plain_numbers(figure)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


def panels(n: int, columns: int = 3, size: tuple[float, float] = (3.3, 2.5)) -> tuple[plt.Figure, list[plt.Axes]]:
    rows = max(1, -(-n // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False)
    flat = list(axes.flat)
    for axis in flat[n:]:
        axis.set_visible(False)
    return figure, flat[:n]


def available_metrics(summary: pd.DataFrame) -> tuple[list[str], list[str]]:
    available = summary.groupby("metric", sort=False)["mean"].apply(lambda v: v.notna().any())
    return [m for m, ok in available.items() if ok], [m for m, ok in available.items() if not ok]


def seed_columns(summary: pd.DataFrame) -> list[str]:
    return [c for c in summary.columns if c.startswith("seed") and c.removeprefix("seed").isdigit()]


FLOOR_STYLES = {"constant": ("tab:gray", ":"), "language_prior": ("black", "-.")}
AUDIO = {"own": "own audio", "swapped": "another clip's audio"}  # the two curves of the listening figures


def by_m_colors(factors: list[int]) -> dict[int, tuple[float, ...]]:
    """One viridis colour per M in numeric order (dark: the smallest M), as seaborn's ``palette``."""
    colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, max(len(factors), 1)))
    return {factor: tuple(color) for factor, color in zip(factors, colors)}


def table_interval(
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
    axis.set_xscale("linear")  # Plot leaves identity "function" scales that plain_numbers would not touch
    axis.set_yscale("linear")
    if label:  # seaborn.objects labels nothing without a mapped variable: label the new artists for the legend
        for artist in {*axis.patches, *axis.collections} - before:
            artist.set_label(label)


def floor_lines(axis: plt.Axes, scores: dict[str, float | None]) -> None:
    """The audio-blind captions' scores (floor name -> score) as horizontal reference lines."""
    for name, value in scores.items():
        if value is not None and np.isfinite(value):
            color, style = FLOOR_STYLES.get(name, ("tab:gray", ":"))
            axis.axhline(value, color=color, ls=style, lw=1.1, label=f"{name.replace('_', '-')} caption")
