"""Tables 1 and 2 built from a run's per-M evaluation records, and the paper's own tables as data.

Nothing here types a number: every cell of our tables is read from ``<results>/M<M>/evaluation.json``
files written by the evaluation step. The paper's numbers are package data
(``paper_data/paper_table*.csv``), used only for side-by-side columns and always labelled as the
paper's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from aac_subsampling.evaluation import METRIC_NAMES
from aac_subsampling.profiles import SUBSAMPLING_FACTORS

TABLE2_COLUMNS = ["M", "T_L_min", "T_L_max", "reduction_percent", "inference_time_s", "parameters_D4367"]


def reduction_percent(factor: int, n_layers: int = 3) -> float:
    """Share of the last layer's input steps removed by sub-sampling: 1 - M^-(L-1), in percent."""
    return 100.0 * (1.0 - factor ** -(n_layers - 1))


def paper_table1() -> pd.DataFrame:
    """The paper's Table 1 (Clotho v1 evaluation split), index = metric, columns M=1 .. M=16."""
    with resources.files("aac_subsampling").joinpath("paper_data/paper_table1.csv").open() as handle:
        return pd.read_csv(handle, index_col="metric")


def paper_table2() -> pd.DataFrame:
    """The paper's Table 2 (lengths, reduction, inference time on the authors' GPU)."""
    with resources.files("aac_subsampling").joinpath("paper_data/paper_table2.csv").open() as handle:
        return pd.read_csv(handle)


def evaluation_path(results_dir: Path, factor: int) -> Path:
    return Path(results_dir) / f"M{factor}" / "evaluation.json"


def load_evaluations(results_dir: Path, factors: Iterable[int] = SUBSAMPLING_FACTORS) -> dict[int, dict[str, Any]]:
    """The evaluation record of every M that has one (missing M are simply absent)."""
    records = {}
    for factor in factors:
        path = evaluation_path(results_dir, factor)
        if path.exists():
            records[factor] = json.loads(path.read_text())
    return records


def table1(evaluations: dict[int, dict[str, Any]], factors: Iterable[int] = SUBSAMPLING_FACTORS) -> pd.DataFrame:
    """Rows BLEU1 .. SPIDEr, columns M=1 .. M=16; NaN (an empty CSV cell) where a metric is not
    available or an M was not evaluated."""
    columns = {}
    for factor in factors:
        metrics = evaluations.get(factor, {}).get("metrics", {})
        columns[f"M={factor}"] = [metrics.get(name) for name in METRIC_NAMES]
    frame = pd.DataFrame(columns, index=pd.Index(METRIC_NAMES, name="metric"), dtype=float)
    return frame


def table2(evaluations: dict[int, dict[str, Any]]) -> pd.DataFrame:
    """One row per evaluated M: measured encoder lengths, reduction, inference time, parameters."""
    rows = []
    for factor, record in sorted(evaluations.items()):
        lengths = record["encoder_lengths"]
        rows.append({
            "M": factor,
            "T_L_min": lengths["1292"],
            "T_L_max": lengths["2584"],
            "reduction_percent": round(reduction_percent(factor, record["n_layers"]), 4),
            "inference_time_s": round(record["inference_time_s"], 3),
            "parameters_D4367": record["parameters_D4367"],
            "corpus_T_L_min": record["corpus_encoder_lengths"]["min"],
            "corpus_T_L_max": record["corpus_encoder_lengths"]["max"],
            "eval_clips": record["n_clips"],
            "device": record["device"],
        })
    return pd.DataFrame(rows, columns=[*TABLE2_COLUMNS, "corpus_T_L_min", "corpus_T_L_max", "eval_clips", "device"])


def side_by_side(ours: pd.DataFrame, paper: pd.DataFrame, our_label: str = "this run") -> pd.DataFrame:
    """Table 1 with two column levels: (M, our_label) next to (M, 'paper (Clotho v1)')."""
    paper = paper.reindex(index=ours.index, columns=ours.columns)
    columns = {}
    for column in ours.columns:
        columns[(column, our_label)] = ours[column]
        columns[(column, "paper (Clotho v1)")] = paper[column]
    return pd.DataFrame(columns)


def write_tables(results_dir: Path, factors: Iterable[int] = SUBSAMPLING_FACTORS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write ``table1.csv`` and ``table2.csv`` into ``results_dir`` and return them."""
    evaluations = load_evaluations(results_dir, factors)
    first, second = table1(evaluations, factors), table2(evaluations)
    first.to_csv(Path(results_dir) / "table1.csv", float_format="%.6f")
    second.to_csv(Path(results_dir) / "table2.csv", index=False)
    return first, second
