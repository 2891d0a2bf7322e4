"""Figures of a results folder that carry their uncertainty, beside the paper's numbers.

Every function takes tables already computed (by :mod:`aac_subsampling.analysis.tables` and
:mod:`aac_subsampling.analysis`) and the path of the PNG to write, and returns that path. One module per
family of figures (``table1``, ``differences``, ``table2``, ``training``, ``listening``), their shared style in
``_style``:

* :func:`metrics_vs_m`: each metric against M: seed-mean line, 95 % pooled bootstrap band, seed points;
* :func:`relative_change_vs_m`: ours and the paper's change relative to M = 1, each in its own panel;
* :func:`paired_differences_vs_m`: M - M=1 with its paired 95 % interval (``comparisons.csv``);
* :func:`paired_differences_by_comparison`: notebook 05's comparisons, each with its paired 95 % interval;
* :func:`training_loss_vs_epoch`: training loss per M (numeric legend order), every seed;
* :func:`training_history`: one training's loss and validation CIDEr-D (notebook 02);
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

import matplotlib

matplotlib.use("Agg")  # headless, before pyplot is imported anywhere: papermill and CI have no display

import matplotlib.pyplot as plt  # noqa: E402 - the figures' pyplot, which tests patch (plt.close)

from aac_subsampling.analysis.figures._style import epoch_numbers  # noqa: E402
from aac_subsampling.analysis.figures.differences import (  # noqa: E402
    paired_differences_by_comparison,
    paired_differences_vs_m,
)
from aac_subsampling.analysis.figures.listening import facts_vs_m, listening_vs_m  # noqa: E402
from aac_subsampling.analysis.figures.table1 import metrics_vs_m, relative_change_vs_m  # noqa: E402
from aac_subsampling.analysis.figures.table2 import encoder_length_vs_m, inference_time_vs_m  # noqa: E402
from aac_subsampling.analysis.figures.training import (  # noqa: E402
    learning_curves,
    training_history,
    training_loss_vs_epoch,
)

__all__ = [
    "encoder_length_vs_m",
    "epoch_numbers",
    "facts_vs_m",
    "inference_time_vs_m",
    "learning_curves",
    "listening_vs_m",
    "metrics_vs_m",
    "paired_differences_by_comparison",
    "paired_differences_vs_m",
    "plt",
    "relative_change_vs_m",
    "training_history",
    "training_loss_vs_epoch",
]
