"""Every table and figure of a results folder in one call (what notebook 04 runs).

:func:`write_report` writes, into the results folder (names from :mod:`aac_subsampling.experiment.layout`):
``table1.csv``, ``table1_seeds.csv``, ``table2.csv`` (:mod:`aac_subsampling.analysis.tables`), ``comparisons.csv``
(:mod:`.paired`), ``floors.csv`` (:mod:`.floors`), ``audio_dependence.csv`` (:mod:`.audio_dependence`),
``facts.csv`` (:mod:`.facts`), ``learning_curves.csv``, ``diversity.csv`` (:mod:`.diversity`),
``claims.csv`` (:mod:`.claims`), ``clotho_context.csv`` and ``.json`` (:mod:`.context`, cached), and the
figures into ``figures_dir``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from aac_subsampling.analysis import figures, tables
from aac_subsampling.analysis.audio_dependence import audio_dependence
from aac_subsampling.analysis.claims import check_claims
from aac_subsampling.analysis.context import ClothoContext, clotho_context
from aac_subsampling.analysis.diversity import diversity_table
from aac_subsampling.analysis.facts import facts_table
from aac_subsampling.analysis.floors import FLOOR_NAMES, compare_to_floors
from aac_subsampling.analysis.paired import compare_to_baseline
from aac_subsampling.analysis.records import load_training_histories
from aac_subsampling.experiment import layout

FIGURE_FILES = {
    "metrics": "metrics_vs_M.png",
    "relative_change": "relative_change_vs_M.png",
    "paired_differences": "paired_differences_vs_M.png",
    "training_loss": "training_loss.png",
    "inference_time": "inference_time_vs_M.png",
    "encoder_length": "encoder_length_vs_M.png",
    "listening": "listening_vs_M.png",
    "learning_curves": "learning_curves.png",
    "facts": "facts_vs_M.png",
}


@dataclass
class Report:
    """What :func:`write_report` computed and wrote."""

    tables: tables.Tables
    comparisons: pd.DataFrame
    diversity: pd.DataFrame
    claims: pd.DataFrame
    context: ClothoContext | None
    figures: dict[str, Path] = field(default_factory=dict)
    floors: pd.DataFrame = field(default_factory=pd.DataFrame)
    audio_dependence: pd.DataFrame = field(default_factory=pd.DataFrame)
    facts: pd.DataFrame = field(default_factory=pd.DataFrame)
    learning_curves: pd.DataFrame = field(default_factory=pd.DataFrame)


def write_figures(
    results_dir: Path | str,
    figures_dir: Path | str,
    written: tables.Tables,
    comparisons: pd.DataFrame,
    our_label: str = "this run",
    floors: pd.DataFrame | None = None,
    audio_dependence: pd.DataFrame | None = None,
    facts: pd.DataFrame | None = None,
    histories: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """The figures of :data:`FIGURE_FILES` into ``figures_dir`` (each only where its table has rows);
    ``histories``: the training histories when the caller has read them already."""
    floors = pd.DataFrame(columns=["metric", "floor"]) if floors is None else floors
    audio_dependence = pd.DataFrame() if audio_dependence is None else audio_dependence
    facts = pd.DataFrame() if facts is None else facts
    out = Path(figures_dir)
    floors_record = Path(results_dir) / layout.FLOORS_RECORD
    floor_scores = (
        {name: floor["metrics"] for name, floor in json.loads(floors_record.read_text())["floors"].items()}
        if floors_record.is_file()
        else None
    )
    paths: dict[str, Path] = {
        "metrics": figures.metrics_vs_m(written.table1_seeds, out / FIGURE_FILES["metrics"], our_label, floor_scores),
        "relative_change": figures.relative_change_vs_m(
            written.table1_seeds, tables.paper_table1(), out / FIGURE_FILES["relative_change"], our_label
        ),
    }
    if not comparisons.empty:
        paths["paired_differences"] = figures.paired_differences_vs_m(
            comparisons, out / FIGURE_FILES["paired_differences"]
        )
    histories = load_training_histories(results_dir) if histories is None else histories
    if not histories.empty:
        paths["training_loss"] = figures.training_loss_vs_epoch(histories, out / FIGURE_FILES["training_loss"])
    if histories["validation_cider"].notna().any():
        paths["learning_curves"] = figures.learning_curves(histories, out / FIGURE_FILES["learning_curves"])
    if not audio_dependence.empty or not floors.empty:
        paths["listening"] = figures.listening_vs_m(audio_dependence, floors, out / FIGURE_FILES["listening"])
    if not facts.empty:
        paths["facts"] = figures.facts_vs_m(facts, out / FIGURE_FILES["facts"])
    paths["inference_time"] = figures.inference_time_vs_m(
        written.table2,
        tables.paper_table2(),
        out / FIGURE_FILES["inference_time"],
        tables.inference_times(written.records),
        our_label,
    )
    paths["encoder_length"] = figures.encoder_length_vs_m(
        written.table2, out / FIGURE_FILES["encoder_length"], tables.paper_table2()
    )
    return paths


def write_report(
    results_dir: Path | str,
    figures_dir: Path | str | None = None,
    *,
    our_label: str = "this run",
    n_resamples: int = 1000,
    seed: int = 0,
    context: bool = True,
    claim_factor: int = 16,
    captions_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    **context_options: Any,
) -> Report:
    """Write every table and figure of ``results_dir`` (see the module docstring) and return them.

    ``figures_dir``: default ``<results>/figures``. ``n_resamples``, ``seed``: the bootstraps of Table 1
    and of the comparisons (the same clip draws for both). ``context=False`` skips the Clotho context
    (about a minute the first time, cached afterwards); ``captions_dir`` and ``context_options``
    (``refresh``, ``java``, ``spice``) go to :func:`~aac_subsampling.analysis.context.clotho_context`.
    ``claim_factor``: the M that the claim check compares with M = 1 (16, the paper's largest).
    """
    figures_dir = layout.figures_dir(results_dir) if figures_dir is None else Path(figures_dir)
    written = tables.write_tables(results_dir, n_resamples=n_resamples, seed=seed)
    has_baseline = any(factor == 1 for _, factor in written.records)
    comparisons = (
        compare_to_baseline(results_dir, written.records, n_resamples=max(n_resamples, 1), seed=seed)
        if has_baseline
        else pd.DataFrame()
    )
    if has_baseline:
        comparisons.to_csv(layout.table_file(results_dir, layout.COMPARISONS_FILE), index=False, float_format="%.6f")
    diversity = diversity_table(results_dir)
    diversity.to_csv(layout.table_file(results_dir, layout.DIVERSITY_FILE), index=False, float_format="%.4f")
    floors = (
        compare_to_floors(results_dir, written.records, n_resamples=max(n_resamples, 1), seed=seed)
        if all(layout.floor_clip_scores(results_dir, name).is_file() for name in FLOOR_NAMES)
        else pd.DataFrame()
    )
    if not floors.empty:
        floors.to_csv(layout.table_file(results_dir, layout.FLOOR_COMPARISONS_FILE), index=False, float_format="%.6f")
    listening = audio_dependence(results_dir, written.records, n_resamples=max(n_resamples, 1), seed=seed)
    if not listening.empty:
        listening.to_csv(layout.table_file(results_dir, layout.AUDIO_DEPENDENCE_FILE), index=False, float_format="%.6f")
    facts = facts_table(results_dir, n_resamples=max(n_resamples, 1), seed=seed)
    if not facts.empty:
        facts.to_csv(layout.table_file(results_dir, layout.FACTS_TABLE_FILE), index=False, float_format="%.6f")
    histories = load_training_histories(results_dir)
    curves = histories.dropna(subset=["validation_cider"])
    if not curves.empty:
        curves.to_csv(layout.table_file(results_dir, layout.LEARNING_CURVES_FILE), index=False, float_format="%.6f")
    claims = check_claims(
        written.table2,
        comparisons,
        claim_factor,
        floors if not floors.empty else None,
        listening if not listening.empty else None,
    )
    claims.to_csv(layout.table_file(results_dir, layout.CLAIMS_FILE), index=False)
    found = (
        clotho_context(
            layout.table_file(results_dir, layout.CLOTHO_CONTEXT_FILE),
            captions_dir,
            progress=progress,
            **context_options,
        )
        if context
        else None
    )
    paths = write_figures(
        results_dir,
        figures_dir,
        written,
        comparisons,
        our_label,
        floors if not floors.empty else None,
        listening,
        facts,
        histories,
    )
    return Report(written, comparisons, diversity, claims, found, paths, floors, listening, facts, curves)
