"""Reading a results folder laid out per seed (``seed<S>/M<M>/...``, see :mod:`aac_subsampling.experiment.layout`).

Every reader checks what it reads and names the file at fault: a record whose ``M`` or seed disagrees
with its folder, per-clip scores and statistics that cover different clips, runs evaluated on different
clip sets. The analyses (:mod:`.seeds`, :mod:`.paired`, :mod:`.diversity`) only ever see checked data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aac_subsampling.evaluation import METRIC_NAMES
from aac_subsampling.experiment import layout

RunKey = tuple[int, int]  # (seed, M)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc


def load_evaluation_records(results_dir: Path | str) -> dict[RunKey, dict[str, Any]]:
    """Every ``seed<S>/M<M>/evaluation.json`` of the folder, keyed by (seed, M), sorted.

    Raises ``ValueError`` naming the file when a record's ``M`` (or ``run.seed``, when present)
    disagrees with the folder it lies in: such a record would silently land in the wrong column.
    """
    records = {}
    for seed, factor in layout.completed_runs(results_dir):
        path = layout.evaluation_record(results_dir, seed, factor)
        record = _read_json(path)
        if int(record.get("M", factor)) != factor:
            raise ValueError(f"{path}: record says M={record['M']} but lies in the folder of M={factor}")
        recorded_seed = (record.get("run") or {}).get("seed")
        if recorded_seed is not None and int(recorded_seed) != seed:
            raise ValueError(f"{path}: record says seed {recorded_seed} but lies in the folder of seed {seed}")
        records[(seed, factor)] = record
    return records


def seeds_by_factor(keys: Iterable[RunKey]) -> dict[int, list[int]]:
    """M -> sorted seeds evaluated for it."""
    grouped: dict[int, list[int]] = {}
    for seed, factor in sorted(keys):
        grouped.setdefault(factor, []).append(seed)
    return dict(sorted(grouped.items()))


def metric_value(record: Mapping[str, Any], metric: str) -> float:
    """A record's corpus score as a float; NaN when the metric is null (unavailable), never 0."""
    value = (record.get("metrics") or {}).get(metric)
    return float("nan") if value is None else float(value)


def unavailable_reason(records: Iterable[Mapping[str, Any]], metric: str) -> str:
    """The distinct reasons the records give for a null metric, joined ('' when none is given)."""
    reasons = []
    for record in records:
        reason = (record.get("unavailable") or {}).get(metric)
        if reason and reason not in reasons:
            reasons.append(str(reason))
    return "; ".join(reasons)


@dataclass(frozen=True)
class ClipScores:
    """One run's per-clip scores and per-clip sufficient statistics, rows in the same clip order.

    ``per_clip``: index ``clip_id``, one float column per metric (NaN for unavailable metrics).
    ``stats``: same index, BLEU/METEOR sufficient statistics (see
    :mod:`aac_subsampling.evaluation.bleu`, :mod:`~aac_subsampling.evaluation.meteor`); may have no columns.
    """

    seed: int
    factor: int
    per_clip: pd.DataFrame
    stats: pd.DataFrame
    source: Path  # the per-clip file, for error messages

    @property
    def n_clips(self) -> int:
        return len(self.per_clip)


def _read_clip_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (written by the evaluation step beside evaluation.json)")
    # Clip ids are file names: read them as text, never as numbers or NA markers.
    frame = pd.read_csv(path, dtype={"clip_id": str}, keep_default_na=False, na_values=[""])
    if "clip_id" not in frame.columns:
        raise ValueError(f"{path} has no clip_id column (found {list(frame.columns)[:5]})")
    frame = frame.set_index("clip_id")
    duplicated = frame.index[frame.index.duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"{path} lists clip ids more than once: {duplicated[:5]}")
    return frame


def load_clip_scores(results_dir: Path | str, seed: int, factor: int) -> ClipScores:
    """``metrics_per_clip.csv`` and ``metrics_stats.csv`` of one run, checked to cover the same clips."""
    return read_clip_scores(layout.per_clip_scores(results_dir, seed, factor), seed, factor)


def read_clip_scores(scores_path: Path, seed: int, factor: int) -> ClipScores:
    """``<stem>_per_clip.csv`` and the ``<stem>_stats.csv`` beside it (any stem: a run's own audio, its
    swapped audio, a floor caption), checked to cover the same clips."""
    scores_path = Path(scores_path)
    stats_path = scores_path.with_name(scores_path.name.replace("_per_clip.csv", "_stats.csv"))
    per_clip = _read_clip_table(scores_path)
    stats = _read_clip_table(stats_path) if stats_path.is_file() else pd.DataFrame(index=per_clip.index)
    if set(stats.index) != set(per_clip.index):
        raise ValueError(
            f"{stats_path} and {scores_path} cover different clips ({len(stats)} and {len(per_clip)} rows)"
        )
    for metric in per_clip.columns:
        column = per_clip[metric]
        if metric in METRIC_NAMES and column.isna().any() and not column.isna().all():
            missing = column.index[column.isna()].tolist()
            raise ValueError(
                f"{scores_path}: {metric} is missing for {len(missing)} clip(s) only "
                f"(e.g. {missing[:3]}); a metric is either scored for every clip or for none"
            )
    return ClipScores(seed, factor, per_clip, stats.loc[per_clip.index], scores_path)


def align_clips(runs: Sequence[ClipScores]) -> list[ClipScores]:
    """The runs with their rows in the first run's clip order; raises if any covers other clips.

    Pooling over seeds and pairing M with M = 1 both need the very same evaluation clips.
    """
    if not runs:
        return []
    reference = runs[0]
    order = reference.per_clip.index
    aligned = []
    for run in runs:
        if set(run.per_clip.index) != set(order):
            only_here = sorted(set(run.per_clip.index) - set(order))[:3]
            only_there = sorted(set(order) - set(run.per_clip.index))[:3]
            raise ValueError(
                f"{run.source} and {reference.source} cover different evaluation clips "
                f"({run.n_clips} vs {reference.n_clips}; only in the first: {only_here}, "
                f"only in the second: {only_there})"
            )
        aligned.append(ClipScores(run.seed, run.factor, run.per_clip.loc[order], run.stats.loc[order], run.source))
    return aligned


#: History fields of newer records (NaN where a record lacks them): the optimiser steps done after the epoch,
#: and the validation split's CIDEr-D with its own and with swapped audio (learning curves).
HISTORY_EXTRA_COLUMNS = ("step", "validation_cider", "validation_cider_swapped")


def load_training_histories(results_dir: Path | str) -> pd.DataFrame:
    """Every ``seed<S>/M<M>/training.json`` history as rows (seed, M, epoch, loss, seconds, best_loss, and
    :data:`HISTORY_EXTRA_COLUMNS`)."""
    rows = []
    for seed, factor in layout.completed_runs(results_dir, record=layout.TRAINING_RECORD):
        path = layout.training_record(results_dir, seed, factor)
        record = _read_json(path)
        if int(record.get("M", factor)) != factor:
            raise ValueError(f"{path}: record says M={record['M']} but lies in the folder of M={factor}")
        for entry in record.get("history", []):
            rows.append(
                {
                    "seed": seed,
                    "M": factor,
                    "epoch": int(entry["epoch"]),
                    "loss": float(entry["loss"]),
                    "seconds": entry.get("seconds"),
                    "best_loss": entry.get("best_loss"),
                    **{column: entry.get(column, np.nan) for column in HISTORY_EXTRA_COLUMNS},
                }
            )
    return pd.DataFrame(rows, columns=["seed", "M", "epoch", "loss", "seconds", "best_loss", *HISTORY_EXTRA_COLUMNS])


def load_predictions(results_dir: Path | str, seed: int, factor: int) -> pd.DataFrame:
    """``predictions.csv`` of one run (file_name, prediction, caption_1..); empty captions stay ''."""
    path = layout.predictions(results_dir, seed, factor)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (written by the evaluation step)")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not {"file_name", "prediction"} <= set(frame.columns):
        raise ValueError(f"{path} needs the columns file_name and prediction (found {list(frame.columns)})")
    return frame


def reference_columns(frame: pd.DataFrame) -> list[str]:
    """The ``caption_<i>`` columns of a predictions table, in numeric order."""
    columns = [c for c in frame.columns if c.startswith("caption_") and c.removeprefix("caption_").isdigit()]
    return sorted(columns, key=lambda c: int(c.removeprefix("caption_")))


def finite_or_none(value: float) -> float | None:
    """JSON-friendly: NaN -> None."""
    return None if value is None or not np.isfinite(value) else float(value)


def _training_seconds(record: Mapping[str, Any]) -> float:
    """A training's time over all its calls (a resumed run's record holds only its last call's wall time): the
    history's epoch and validation seconds."""
    history = record.get("history") or []
    if not history:
        return float(record.get("wall_time_s") or 0.0)
    return float(sum((entry.get("seconds") or 0.0) + (entry.get("validation_seconds") or 0.0) for entry in history))


def training_summary(results_dir: Path | str) -> pd.DataFrame:
    """How long each M trained: one row per M, each seed's figure in seed order ("1000 / 950 / 900"): optimiser
    steps trained, the step whose weights were kept, minutes of training and validation (all calls of a resumed
    run), and why each training stopped."""
    per_factor: dict[int, list[dict[str, Any]]] = {}
    for seed, factor in layout.completed_runs(results_dir, record=layout.TRAINING_RECORD):
        record = _read_json(layout.training_record(results_dir, seed, factor))
        per_factor.setdefault(factor, []).append(record | {"seed": seed})
    rows = []
    for factor, records in sorted(per_factor.items()):

        def each(field: str, fmt: str = "{}", records: list[dict[str, Any]] = records) -> str:
            return " / ".join("-" if r.get(field) is None else fmt.format(r[field]) for r in records)

        rows.append(
            {
                "M": factor,
                "seeds": each("seed"),
                "steps": each("steps"),
                "kept step": each("best_step"),
                "minutes": " / ".join(f"{_training_seconds(r) / 60:.1f}" for r in records),
                "stopped by": ", ".join(sorted({str(r.get("stop_reason")) for r in records})),
                "watched": ", ".join(sorted({str(r.get("stop_on", "training_loss")) for r in records})),
            }
        )
    return pd.DataFrame(rows, columns=["M", "seeds", "steps", "kept step", "minutes", "stopped by", "watched"])
