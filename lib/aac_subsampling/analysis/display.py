"""Tables as the notebooks show them: at the reported precision, and narrow enough to read.

The CSV files keep every digit; what a reader sees goes through :func:`for_display` first:

* floats rounded to ``decimals`` (3 by default, the precision every table of the project reports), in fixed
  notation (never ``1.668254e-17``), and never ``-0.000`` (a tiny negative rounds to ``0.000``);
* a float column of whole numbers (M, seeds, counts read back from a CSV with empty cells) shown as integers
  (``27``, not ``27.0`` or ``27.0000``) when its name says so (:data:`INTEGER_NAMES`, ``n_*``) or a value
  exceeds 1 (a score or share that is 0 on every row keeps ``0.000``); so are the whole values of the ``counts``
  columns (a mean over seeds beside them keeps its decimals);
* a missing value (NaN, None: a metric not available here, an empty caption read back as NaN) as an empty
  cell, never ``NaN``; a path inside the project in a text cell (a reason) relative to the project root;
* index and column labels that are whole floats (``M`` read as 1.0) as integers.

It returns a frame of strings, so that the notebook shows the same text in JupyterLab (HTML) and in a headless
run's log (text), where a pandas ``Styler`` would print as an object's name.

The notebooks' other read-outs live here too: the evaluations of several M side by side (notebook 03), a
paired difference with its interval as one cell (notebooks 04 and 05), a reason made project-relative.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aac_subsampling.analysis.records import load_predictions, reference_columns
from aac_subsampling.base import paths
from aac_subsampling.experiment import layout

REPORTED_DECIMALS = 3

__all__ = [
    "REPORTED_DECIMALS",
    "bootstrap_overview",
    "captions_beside_references",
    "evaluation_overview",
    "facts_overview",
    "fixed",
    "for_display",
    "interval_cell",
    "interval_table",
    "listening_overview",
    "project_relative",
    "unavailable_notes",
]


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isnan(float(value))


def fixed(value: Any, decimals: int = REPORTED_DECIMALS, sign: bool = False) -> str:
    """``value`` in fixed notation at ``decimals`` places; '' when missing; never a negative zero
    (``-1e-17`` -> ``0.000``). ``sign``: always a sign (``+0.012``), as paired differences are written."""
    if _missing(value):
        return ""
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    number = round(number, decimals) + 0.0  # -0.0 + 0.0 == 0.0: the sign of a rounded zero goes
    return f"{number:+.{decimals}f}" if sign else f"{number:.{decimals}f}"


def _whole(value: Any) -> bool:
    return not _missing(value) and math.isfinite(float(value)) and float(value) == int(float(value))


def _integer(value: Any) -> str:
    return "" if _missing(value) else str(int(float(value)))


def _tidy_labels(index: pd.Index) -> pd.Index:
    """Whole float labels (``1.0``) as integers; anything else unchanged."""
    if isinstance(index, pd.MultiIndex):
        return index.set_levels([_tidy_labels(level) for level in index.levels])
    if pd.api.types.is_float_dtype(index.dtype) and len(index) and all(_whole(v) for v in index):
        return index.astype("int64")
    return index


#: Columns that hold whole numbers by their name (read back from a CSV with empty cells they are floats).
INTEGER_NAMES = frozenset({"M", "seed", "step", "epoch", "steps", "clips", "seeds", "layers"})


def _integer_name(name: Any) -> bool:
    parts = name if isinstance(name, tuple) else (name,)
    return any(str(part) in INTEGER_NAMES or str(part).startswith("n_") for part in parts)


def _format_column(column: pd.Series, decimals: int, counts: bool, root: str, name: Any = None) -> pd.Series:
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.astype(object).where(column.notna(), "").astype(str)
    if pd.api.types.is_integer_dtype(column.dtype):
        return column.map(_integer)
    if pd.api.types.is_float_dtype(column.dtype):
        present = column.dropna()
        # whole numbers as integers: an M, a seed or a count; but a score or share that happens to be 0 or 1 on
        # every row (BLEU4 of an untrained model) keeps its decimals
        whole = len(present) and all(_whole(v) for v in present)
        if whole and (_integer_name(name) or counts or (present.abs() > 1).any()):
            return column.map(_integer)
        if counts:
            return column.map(lambda v: _integer(v) if _whole(v) else fixed(v, decimals))
        return column.map(lambda v: fixed(v, decimals))
    # text (or mixed) columns: a missing caption or note is an empty cell, a path in a note project-relative; a
    # number among text keeps its precision
    return column.map(
        lambda v: (
            ""
            if _missing(v)
            else fixed(v, decimals)
            if isinstance(v, float) and not _whole(v)
            else project_relative(str(v), root)
        )
    )


def for_display(
    frame: pd.DataFrame | pd.Series,
    decimals: int | Mapping[Any, int] = REPORTED_DECIMALS,
    counts: Iterable[Any] = (),
) -> pd.DataFrame:
    """``frame`` as the notebooks show it (see the module docstring): a frame of strings.

    ``decimals``: places for every float column, or a mapping column -> places (the rest get
    :data:`REPORTED_DECIMALS`). ``counts``: columns of whole numbers that may hold a mean among them (the
    diversity table's counts beside their mean over seeds): whole values as integers, the others at ``decimals``.
    """
    shown = frame.to_frame() if isinstance(frame, pd.Series) else frame.copy()
    counted, root = set(counts), str(paths.project_root())
    columns = []
    for position, name in enumerate(shown.columns):
        places = decimals.get(name, REPORTED_DECIMALS) if isinstance(decimals, Mapping) else int(decimals)
        columns.append(_format_column(shown.iloc[:, position], places, name in counted, root, name))
    result = pd.concat(columns, axis=1) if columns else pd.DataFrame(index=shown.index)
    result.columns = _tidy_labels(shown.columns)
    result.index = _tidy_labels(shown.index)
    return result


def interval_cell(difference: Any, low: Any, high: Any, decimals: int = REPORTED_DECIMALS, sign: bool = True) -> str:
    """A value with its interval as one cell, ``+0.012 [-0.003, +0.027]``; '' when the value is missing."""
    if _missing(difference):
        return ""
    text = fixed(difference, decimals, sign)
    if not (_missing(low) or _missing(high)):
        text += f" [{fixed(low, decimals, sign)}, {fixed(high, decimals, sign)}]"
    return text


def interval_table(
    frame: pd.DataFrame,
    index: str | Sequence[str],
    columns: str,
    value: str = "difference",
    low: str = "ci_low",
    high: str = "ci_high",
    decimals: int = REPORTED_DECIMALS,
    sign: bool = True,
) -> pd.DataFrame:
    """A long table of values with intervals (``comparisons.csv``, ``floors.csv``, ...) as a narrow wide one:
    rows ``index``, columns ``columns``, each cell :func:`interval_cell`. Rows and text columns keep their
    first-seen order; numeric columns (M) are sorted."""
    keys = [index] if isinstance(index, str) else list(index)
    cells = frame.assign(
        _cell=[interval_cell(d, lo, hi, decimals, sign) for d, lo, hi in zip(frame[value], frame[low], frame[high])]
    )
    wide = cells.pivot_table(index=keys, columns=columns, values="_cell", aggfunc="first", sort=False)
    labels = list(wide.columns)
    if all(isinstance(label, numbers.Real) for label in labels):
        labels = sorted(labels)  # M in numeric order
    wide = wide.reindex(columns=labels).fillna("")
    wide.columns.name = columns
    wide.columns = _tidy_labels(wide.columns)
    return wide


def project_relative(text: str, root: str | None = None) -> str:
    """``text`` with every absolute path inside the project written relative to its root (as records store
    paths): ``/home/me/aac/.venv/lib/...`` -> ``.venv/lib/...``. ``root``: the project root, when known."""
    root = str(paths.project_root()) if root is None else root
    return text.replace(root + "/", "")


def unavailable_notes(evaluations: Mapping[int, Mapping[str, Any]] | Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per distinct reason a metric is not available over the evaluations (of one or several M),
    paths project-relative. SPIDEr's reason that repeats SPICE's ("needs SPICE: <SPICE's reason>") joins
    SPICE's line instead of printing the reason twice."""
    records = list(evaluations.values()) if isinstance(evaluations, Mapping) else list(evaluations)
    by_reason: dict[str, list[str]] = {}
    for record in records:
        unavailable = record.get("unavailable") or {}
        spice_reason = unavailable.get("SPICE")
        for metric, reason in unavailable.items():
            reason = str(reason)
            if metric == "SPIDEr" and spice_reason is not None and reason.endswith(str(spice_reason)):
                reason = str(spice_reason)
                metric = "SPIDEr (which needs SPICE)"
            names = by_reason.setdefault(project_relative(reason), [])
            if metric not in names:
                names.append(metric)
    return [f"{' and '.join(names)} not available: {reason}" for reason, names in by_reason.items()]


def _label(factor: int) -> str:
    return f"M={factor}"


def evaluation_overview(evaluations: Mapping[int, Mapping[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Notebook 03's read-out of the evaluations of one or several M (``{M: evaluate_subsampling_model(...)}``):
    the corpus metrics (rows metric, columns ``M=<m>``; empty where not available) and, per M, the clips,
    distinct captions, inference time and device."""
    metrics = pd.DataFrame(
        {_label(factor): pd.Series(record["metrics"], dtype=float) for factor, record in evaluations.items()}
    )
    metrics.index.name = "metric"
    runs = pd.DataFrame(
        [
            {
                "M": factor,
                "clips": record["n_clips"],
                "distinct captions": record.get("distinct_captions"),
                "inference time (s)": record["inference_time_s"],
                "device": record.get("device"),
            }
            for factor, record in evaluations.items()
        ]
    ).set_index("M")
    return metrics, runs


LISTENING_METRICS = ("BLEU1", "ROUGE_L", "METEOR", "CIDEr")


def listening_overview(
    evaluations: Mapping[int, Mapping[str, Any]], metrics: Sequence[str] = LISTENING_METRICS
) -> pd.DataFrame:
    """Each M's score with the clips' own audio and with another clip's (rows (M, metric)); empty where the
    metric is not available or there was no swapped-audio decode."""
    rows = []
    for factor, record in evaluations.items():
        swapped = (record.get("swapped_audio") or {}).get("metrics") or {}
        for metric in metrics:
            own, other = record["metrics"].get(metric), swapped.get(metric)
            own = np.nan if own is None else float(own)
            other = np.nan if other is None else float(other)
            rows.append(
                {
                    "M": factor,
                    "metric": metric,
                    "own audio": own,
                    "another clip's audio": other,
                    "difference": own - other,
                }
            )
    return pd.DataFrame(rows).set_index(["M", "metric"])


def facts_overview(evaluations: Mapping[int, Mapping[str, Any]]) -> pd.DataFrame:
    """Facts right per M (rows fact, columns ``M=<m>``; the mean over the clips where each applies), from the
    evaluation records of a synthetic corpus; an empty frame where no record has facts (Clotho)."""
    columns = {
        _label(factor): pd.Series(record["facts"], dtype=float)
        for factor, record in evaluations.items()
        if record.get("facts") is not None
    }
    frame = pd.DataFrame(columns)
    frame.index.name = "fact"
    return frame


def captions_beside_references(
    results_dir: Path | str, seed: int, factors: Sequence[int], n_clips: int = 4, n_references: int = 2
) -> pd.DataFrame:
    """The first ``n_clips`` evaluation clips, each with ``n_references`` of its references and every M's
    caption (and, for a single M, its caption made from another clip's audio): rows (clip, source), one
    column of text, so that it reads down instead of running off the panel. Empty captions stay ''."""
    tables = {factor: load_predictions(results_dir, seed, factor) for factor in factors}
    first = tables[factors[0]]
    rows = []
    for position in range(min(n_clips, len(first))):
        name = first["file_name"].iloc[position]
        for column in reference_columns(first)[:n_references]:
            rows.append((name, f"reference {column.removeprefix('caption_')}", first[column].iloc[position]))
        for factor, table in tables.items():
            by_name = table.set_index("file_name")
            rows.append((name, _label(factor), by_name.at[name, "prediction"]))
            if len(tables) == 1 and "prediction_swapped_audio" in by_name:
                swapped = by_name.at[name, "prediction_swapped_audio"]
                rows.append((name, f"{_label(factor)}, another clip's audio", swapped))
    frame = pd.DataFrame(rows, columns=["clip", "source", "caption"]).set_index(["clip", "source"])
    return frame.fillna("")


def bootstrap_overview(
    results_dir: Path | str, seed: int, factors: Sequence[int], decimals: int = REPORTED_DECIMALS
) -> tuple[pd.DataFrame, list[str]]:
    """Each M's bootstrap 95 % intervals over clips (``bootstrap_ci.csv``) as one table, rows metric, columns
    ``M=<m>``, each cell ``estimate [low, high]``; and the lines that say how each metric was resampled."""
    cells: dict[str, dict[str, str]] = {}
    notes: dict[tuple[str, int, int], list[str]] = {}
    order: list[str] = []
    for factor in factors:
        path = layout.run_dir(results_dir, seed, factor) / layout.BOOTSTRAP_FILE
        table = pd.read_csv(path)
        for row in table.itertuples():
            if row.metric not in order:
                order.append(row.metric)
            resampled = notes.setdefault((str(row.method), int(row.n_resamples), int(row.n_clips)), [])
            if row.metric not in resampled:
                resampled.append(row.metric)
        cells[_label(factor)] = {
            row.metric: interval_cell(row.estimate, row.low, row.high, decimals, sign=False)
            for row in table.itertuples()
        }
    frame = pd.DataFrame(cells).reindex(order).fillna("")
    frame.index.name = "metric"
    lines = [
        f"{', '.join(metrics)}: {method} ({resamples} resamples of {clips} clips)"
        for (method, resamples, clips), metrics in notes.items()
    ]
    return frame, lines
