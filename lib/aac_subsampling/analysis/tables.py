"""Tables 1 and 2 built from a results folder's per-seed evaluation records, and the paper's tables as data.

Nothing here types a number: every cell of our tables is read from the
``<results>/seed<S>/M<M>/evaluation.json`` records (and the per-clip files beside them) written by the
evaluation step. The paper's numbers are in :mod:`aac_subsampling.method.paper`, used only for side-by-side
columns and always labelled as the paper's.

Files (names from :mod:`aac_subsampling.experiment.layout`):

* ``table1.csv``: rows BLEU1..SPIDEr, columns ``M=1``..``M=16``, each cell the mean over seeds (the
  paper's shape, kept for compatibility);
* ``table1_seeds.csv``: the long form (metric, M, mean, std, n_seeds, pooled bootstrap interval, each
  seed's value), see :mod:`aac_subsampling.analysis.seeds`;
* ``table2.csv``: per M the encoder lengths, reduction and parameter count (structural: identical over
  seeds, checked) and the inference time (mean and std over seeds).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aac_subsampling.analysis.display import fixed
from aac_subsampling.analysis.records import RunKey, load_evaluation_records, seeds_by_factor
from aac_subsampling.analysis.seeds import seed_mean_table, seed_summary
from aac_subsampling.evaluation import METRIC_NAMES
from aac_subsampling.experiment import layout
from aac_subsampling.experiment.profiles import SUBSAMPLING_FACTORS
from aac_subsampling.method import paper
from aac_subsampling.method.paper import PAPER_LABEL

TABLE2_COLUMNS = ["M", "T_L_min", "T_L_max", "reduction_percent", "inference_time_s", "parameters_D4367"]
TABLE2_EXTRA_COLUMNS = [
    "inference_time_s_std",
    "n_seeds",
    "corpus_T_L_min",
    "corpus_T_L_max",
    "eval_clips",
    "n_layers",
    "device",
]

__all__ = [
    "METRIC_NAMES",
    "PAPER_LABEL",
    "TABLE2_COLUMNS",
    "Tables",
    "display_table1",
    "display_table2",
    "encoder_lengths_beside_paper",
    "factors_of",
    "format_cell",
    "inference_times",
    "load_records",
    "paper_table1",
    "paper_table2",
    "reduction_percent",
    "side_by_side",
    "table1",
    "table2",
    "table2_lengths_verdict",
    "write_tables",
]


def reduction_percent(factor: int, n_layers: int = 3) -> float:
    """Share of the last layer's input steps removed by sub-sampling: 1 - M^-(L-1), in percent."""
    return 100.0 * (1.0 - factor ** -(n_layers - 1))


def paper_table1() -> pd.DataFrame:
    """The paper's Table 1 (Clotho v1 evaluation split), index = metric, columns M=1 .. M=16."""
    frame = pd.DataFrame.from_dict(dict(paper.TABLE1), orient="index", columns=list(paper.TABLE1_COLUMNS))
    frame.index.name = "metric"
    return frame


def paper_table2() -> pd.DataFrame:
    """The paper's Table 2 (lengths, reduction, inference time on the authors' GPU)."""
    return pd.DataFrame(list(paper.TABLE2), columns=list(paper.Table2Row._fields))


def load_records(results_dir: Path | str) -> dict[RunKey, dict[str, Any]]:
    """Every evaluation record of the folder, keyed by (seed, M) (see ``analysis.records``)."""
    return load_evaluation_records(results_dir)


def factors_of(records: Iterable[RunKey], base: Iterable[int] = SUBSAMPLING_FACTORS) -> list[int]:
    """The paper's M values plus any other evaluated M, sorted: the columns of Table 1."""
    return sorted(set(base) | {factor for _, factor in records})


def table1(summary: pd.DataFrame, factors: Iterable[int] = SUBSAMPLING_FACTORS) -> pd.DataFrame:
    """Rows BLEU1 .. SPIDEr, columns M=1 .. M=16: the seed-mean of ``summary`` (:func:`seed_summary`'s
    long form); NaN (an empty CSV cell) where a metric is not available or an M was not evaluated."""
    return seed_mean_table(summary, list(factors))


def _single(values: list[Any], what: str, factor: int) -> Any:
    """The one value every seed agrees on; structural figures must not depend on the seed."""
    distinct = sorted({repr(v) for v in values})
    if len(distinct) != 1:
        raise ValueError(
            f"M={factor}: {what} differs between seeds ({', '.join(distinct)}); structural "
            "figures must be identical for every seed of an M"
        )
    return values[0]


def table2(records: Mapping[RunKey, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per evaluated M: measured encoder lengths, reduction and parameters (checked identical over
    seeds, ``ValueError`` otherwise), inference time as mean and std (ddof = 1) over seeds."""
    rows = []
    for factor, seeds in seeds_by_factor(records).items():
        runs = [records[(s, factor)] for s in seeds]
        n_layers = _single([r["n_layers"] for r in runs], "n_layers", factor)
        times = [float(r["inference_time_s"]) for r in runs]
        rows.append(
            {
                "M": factor,
                **{
                    column: _single(
                        [r["encoder_lengths"][str(frames)] for r in runs], f"T_L for {frames} frames", factor
                    )
                    for column, frames in paper.TABLE2_INPUT_FRAMES.items()
                },
                "reduction_percent": round(reduction_percent(factor, n_layers), 4),
                "inference_time_s": round(float(np.mean(times)), 3),
                "parameters_D4367": _single([r["parameters_D4367"] for r in runs], "parameters_D4367", factor),
                "inference_time_s_std": round(float(np.std(times, ddof=1)), 3) if len(times) > 1 else np.nan,
                "n_seeds": len(seeds),
                "corpus_T_L_min": _single([r["corpus_encoder_lengths"]["min"] for r in runs], "corpus T_L min", factor),
                "corpus_T_L_max": _single([r["corpus_encoder_lengths"]["max"] for r in runs], "corpus T_L max", factor),
                "eval_clips": _single([r["n_clips"] for r in runs], "n_clips", factor),
                "n_layers": n_layers,
                "device": " / ".join(sorted({str(r.get("device")) for r in runs})),
            }
        )
    return pd.DataFrame(rows, columns=[*TABLE2_COLUMNS, *TABLE2_EXTRA_COLUMNS])


def inference_times(records: Mapping[RunKey, Mapping[str, Any]]) -> pd.DataFrame:
    """Each run's inference time: rows (seed, M, inference_time_s), for seed points in the figures."""
    rows = [
        {"seed": s, "M": m, "inference_time_s": float(r["inference_time_s"])} for (s, m), r in sorted(records.items())
    ]
    return pd.DataFrame(rows, columns=["seed", "M", "inference_time_s"])


def format_cell(mean: float, std: float = np.nan, low: float = np.nan, high: float = np.nan, digits: int = 3) -> str:
    """``"0.583 ± 0.021 [0.520, 0.640]"``: seed-mean ± seed std [95 % interval]; parts that are NaN are
    left out (one seed: no ±; no bootstrap: no interval) and a missing mean gives '' (never 0)."""
    if mean is None or not np.isfinite(mean):
        return ""
    text = fixed(mean, digits)
    if std is not None and np.isfinite(std):
        text += f" ± {fixed(std, digits)}"
    if low is not None and high is not None and np.isfinite(low) and np.isfinite(high):
        text += f" [{fixed(low, digits)}, {fixed(high, digits)}]"
    return text


def display_table1(summary: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Table 1 for reading: rows metrics, columns ``M=<m> (n=<seeds>)``, cells :func:`format_cell`."""
    frame = pd.DataFrame(index=pd.Index(METRIC_NAMES, name="metric"))
    for factor, group in summary.groupby("M", sort=True):
        label = f"M={factor} (n={int(group['n_seeds'].max())})"
        cells = {
            row.metric: format_cell(row.mean, row.std, row.ci_low, row.ci_high, digits) for row in group.itertuples()
        }
        frame[label] = [cells.get(metric, "") for metric in METRIC_NAMES]
    return frame


def display_table2(table2: pd.DataFrame, digits: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 2 for reading, in two narrow tables instead of one of fifteen columns.

    The paper's columns, ours beside the paper's (rows M, two column levels: the quantity, then ``ours`` /
    ``paper``): T_L for inputs of 1292 and 2584 frames, the share of the last layer's input removed (%), the
    inference time (s; ours the seed mean ± std) and the parameters at D = 4367 (the paper gives none). Then what this
    run adds: seeds, clips, T_L on this corpus, layers, device. Cells are text at the reported precision;
    an M the paper did not run has empty paper cells."""
    paper = paper_table2().set_index("M")
    ours = table2.set_index("M")
    times = [
        format_cell(mean, std, digits=digits)
        for mean, std in zip(ours["inference_time_s"], ours.get("inference_time_s_std", pd.Series(np.nan, ours.index)))
    ]
    columns = {
        ("T_L for 1292", "ours"): ours["T_L_min"].map(_whole_text),
        ("T_L for 1292", "paper"): paper["T_L_min"].reindex(ours.index).map(_whole_text),
        ("T_L for 2584", "ours"): ours["T_L_max"].map(_whole_text),
        ("T_L for 2584", "paper"): paper["T_L_max"].reindex(ours.index).map(_whole_text),
        ("removed (%)", "ours"): ours["reduction_percent"].map(lambda v: fixed(v, 2)),
        ("removed (%)", "paper"): paper["reduction_percent"].reindex(ours.index).map(lambda v: fixed(v, 2)),
        ("inference (s)", "ours"): pd.Series(times, index=ours.index),
        ("inference (s)", "paper"): paper["inference_time_s"].reindex(ours.index).map(lambda v: fixed(v, 2)),
        ("parameters", "D=4367"): ours["parameters_D4367"].map(_whole_text),
    }
    main = pd.DataFrame(columns, index=ours.index)
    main.columns = pd.MultiIndex.from_tuples(main.columns)
    extra = {
        "seeds": "n_seeds",
        "clips": "eval_clips",
        "T_L min, this corpus": "corpus_T_L_min",
        "T_L max, this corpus": "corpus_T_L_max",
        "layers": "n_layers",
        "device": "device",
    }
    run = pd.DataFrame(
        {
            label: ours[column].map(_whole_text) if column != "device" else ours[column].fillna("").astype(str)
            for label, column in extra.items()
            if column in ours
        },
        index=ours.index,
    )
    return main, run


def _whole_text(value: Any) -> str:
    return "" if value is None or pd.isna(value) else str(int(value))


def table2_lengths_verdict(table2: pd.DataFrame) -> str:
    """One line: does every evaluated M's measured T_L equal the paper's Table 2 (naming the M that do not, and
    any M the paper did not run), with the parameter counts; said after Table 2 is shown, never instead of it."""
    paper = paper_table2().set_index("M")
    ours = table2.set_index("M")
    in_paper = [m for m in ours.index if m in paper.index]
    differ = [
        m for m in in_paper if (ours.loc[m, ["T_L_min", "T_L_max"]] != paper.loc[m, ["T_L_min", "T_L_max"]]).any()
    ]
    evaluated = ", ".join(map(str, ours.index))
    text = (
        f"T_L of the evaluated M ({evaluated}) equals the paper's Table 2"
        if not differ
        else f"T_L differs from the paper's Table 2 for M = {', '.join(map(str, differ))}"
    )
    others = [m for m in ours.index if m not in paper.index]
    if others:
        text += f" (M = {', '.join(map(str, others))}: not in the paper's Table 2)"
    counts = sorted({int(v) for v in ours["parameters_D4367"]})
    return f"{text}; parameters at D = 4367: {', '.join(f'{c:,}' for c in counts)}"


def encoder_lengths_beside_paper(evaluations: Mapping[int, Mapping[str, Any]]) -> pd.DataFrame:
    """Each trained encoder's T_L for Table 2's inputs, 1292 and 2584 frames (``{M: evaluation record}``,
    notebook 03), beside the paper's, with the parameter count at D = 4367: rows M; the paper's cells empty for
    an M it did not run."""
    published = paper_table2().set_index("M")
    inputs = paper.TABLE2_INPUT_FRAMES  # column -> frames
    rows = []
    for factor, record in evaluations.items():
        measured = [int(record["encoder_lengths"][str(frames)]) for frames in inputs.values()]
        expected = [int(published.loc[factor, column]) for column in inputs] if factor in published.index else None
        rows.append(
            {
                "M": factor,
                "T_L (ours)": ", ".join(map(str, measured)),
                "T_L (paper)": "" if expected is None else ", ".join(map(str, expected)),
                "equal": "" if expected is None else "yes" if measured == expected else "NO",
                "parameters at D = 4367": f"{int(record['parameters_D4367']):,}",
            }
        )
    return pd.DataFrame(rows).set_index("M")


def side_by_side(ours: pd.DataFrame, paper: pd.DataFrame, our_label: str = "this run") -> pd.DataFrame:
    """Table 1 with two column levels: (M, our_label) next to (M, 'paper (Clotho v1)')."""
    paper = paper.reindex(index=ours.index, columns=ours.columns)
    columns = {}
    for column in ours.columns:
        columns[(column, our_label)] = ours[column]
        columns[(column, PAPER_LABEL)] = paper[column]
    return pd.DataFrame(columns)


@dataclass(frozen=True)
class Tables:
    """What :func:`write_tables` wrote: the seed-mean Table 1, its long form, and Table 2."""

    table1: pd.DataFrame
    table1_seeds: pd.DataFrame
    table2: pd.DataFrame
    records: dict[RunKey, dict[str, Any]]


def write_tables(
    results_dir: Path | str, *, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> Tables:
    """Write ``table1.csv``, ``table1_seeds.csv`` and ``table2.csv`` into ``results_dir``; return them.

    ``n_resamples`` and ``seed``: the pooled bootstrap of Table 1's intervals (0 skips it).
    """
    records = load_records(results_dir)
    summary = seed_summary(results_dir, records, n_resamples=n_resamples, seed=seed, confidence=confidence)
    first, second = table1(summary, factors_of(records)), table2(records)
    first.to_csv(layout.table_file(results_dir, layout.TABLE1_FILE), float_format="%.6f")
    summary.to_csv(layout.table_file(results_dir, layout.TABLE1_SEEDS_FILE), index=False, float_format="%.6f")
    second.to_csv(layout.table_file(results_dir, layout.TABLE2_FILE), index=False)
    return Tables(first, summary, second, records)
