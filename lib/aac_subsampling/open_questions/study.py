"""Notebook 05's study: train the variants, decode the paper's models every way, compare, write verdicts.

Every comparison is paired: the same evaluation clips, seed-matched runs, the difference of seed-mean
corpus scores and its percentile bootstrap interval over clips
(:func:`aac_subsampling.analysis.paired.paired_difference`, as for Table 1's comparisons with M = 1).
Written under ``<results>/open_questions/``: ``comparisons.csv``, ``changed_captions.csv``,
``verdicts.csv``, ``study.json``; the figure goes to the results folder's ``figures/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd

from aac_subsampling.analysis import resampling
from aac_subsampling.analysis.paired import paired_difference
from aac_subsampling.analysis.records import ClipScores, load_clip_scores
from aac_subsampling.base.paths import relative_to_project
from aac_subsampling.evaluation import METRIC_NAMES
from aac_subsampling.experiment import layout
from aac_subsampling.open_questions.batch import REFERENCE_DECODE, changed_captions_table, decode_dir
from aac_subsampling.open_questions.variants import (
    BASELINE,
    DEFAULT_RESAMPLES,
    QUESTION_KEYS,
    STUDY_RECORD,
    open_questions_dir,
    study_record_path,
    variant_dir,
)

COMPARISONS_FILE = "comparisons.csv"
CHANGED_FILE = "changed_captions.csv"
VERDICTS_FILE = "verdicts.csv"
LOGS_DIR = "logs"  # each training's epoch lines, under the study's folder; not published
FIGURE_FILE = "open_questions.png"
PRIMARY_METRIC = "CIDEr"  # the verdicts lead with it (SPIDEr needs SPICE, which may be unavailable)
FIGURE_METRICS = ("BLEU4", "METEOR", "ROUGE_L", "CIDEr")


@dataclass(frozen=True)
class Question:
    key: str
    title: str
    variants: tuple[str, ...] = ()  # each compared with the paper's model; none: question (a), decodes only


QUESTIONS: tuple[Question, ...] = (
    Question("batch", "(a) Does a clip's caption depend on the other clips of its batch?"),
    Question("padding", "(b) Zeros or the log-mel value of silence in front of shorter clips?", ("silence_padding",)),
    Question("authors_code", "(c) The paper's method or what the authors' code ran?", ("authors_code",)),
    Question("attention", "(d) The paper's decoder or an attention decoder?", ("attention",)),
    Question(
        "decoder",
        "(e) The paper's decoder or one that forms sentences (the previous word fed back)?",
        ("autoregressive", "autoregressive_attention"),
    ),
)
# Question (e)'s second half, the paper's claim asked again of each decoder: the largest M minus the smallest.
SUBSAMPLING_QUESTION = Question(
    "decoder_subsampling",
    "(e) Does sub-sampling hurt a decoder that forms sentences? (largest M minus smallest)",
    (BASELINE, "autoregressive", "autoregressive_attention"),
)
COMPARED_DECODES = ("padded_batched", "packed_alone", "packed_batched")  # each against REFERENCE_DECODE


def selected_questions(questions: Sequence[str] | None = None) -> tuple[Question, ...]:
    """The questions asked, in the study's order: every one (None), or those named by key (e.g. ``["decoder"]``,
    to ask question (e) alone: the baseline and its two variants, not the other three)."""
    if questions is None:
        return QUESTIONS
    unknown = sorted(set(questions) - set(QUESTION_KEYS))
    if unknown or not questions:
        raise ValueError(f"unknown question(s) {unknown or list(questions)}; choose from {list(QUESTION_KEYS)}")
    return tuple(q for q in QUESTIONS if q.key in questions)


def study_variants(questions: Sequence[str] | None = None) -> list[str]:
    """The variants the asked questions train: the paper's model (every comparison's baseline) and theirs."""
    return [BASELINE] + [v for q in selected_questions(questions) for v in q.variants]


def asks(question: str, questions: Sequence[str] | None) -> bool:
    return any(q.key == question for q in selected_questions(questions))


def training_jobs(
    seeds: Sequence[int], factors: Sequence[int], questions: Sequence[str] | None = None
) -> list[tuple[str, int, int]]:
    """Every (variant, seed, M) the study needs, the slowest (M = 1) first so that parallel lanes balance."""
    return [(v, s, m) for m in sorted(factors) for s in seeds for v in study_variants(questions)]


def logs_dir(results_dir: Path | str) -> Path:
    return open_questions_dir(results_dir) / LOGS_DIR


def training_log(results_dir: Path | str, variant: str, seed: int, factor: int) -> Path:
    """Where one study job's epoch lines go (appended: a resumed training continues its log)."""
    return logs_dir(results_dir) / f"{variant}_seed{seed}_M{factor}.log"


def _job(
    profile: str,
    variant: str,
    factor: int,
    seed: int,
    results_dir: str,
    device: str,
    max_epochs: int | None,
    threads: int,
) -> tuple[str, int, int, float]:
    import torch

    from aac_subsampling.open_questions.variants import train_and_evaluate

    torch.set_num_threads(threads)
    started = time.perf_counter()
    # A training's line per epoch goes to its own log, not into notebook 05 (18 trainings of up to 80 epochs,
    # two side by side, would interleave hundreds of lines there); the notebook gets a line per job.
    log = training_log(results_dir, variant, seed, factor)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as stream, contextlib.redirect_stdout(stream):
        train_and_evaluate(profile, variant, factor, seed, results_dir, device=device, max_epochs=max_epochs)
    now_s = time.perf_counter() - started
    training = json.loads(layout.training_record(variant_dir(results_dir, variant), seed, factor).read_text())
    # The training's own wall time, kept in its record, so that a rerun that reuses it still shows its cost.
    return variant, seed, factor, float(training["wall_time_s"]), now_s


def run_trainings(
    profile: str,
    results_dir: Path | str,
    seeds: Sequence[int],
    factors: Sequence[int],
    device: str = "auto",
    max_epochs: int | None = None,
    jobs: int = 1,
    questions: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Train and evaluate every variant (reusing current records), ``jobs`` at a time; one progress line per job
    as it ends. Returns the timings (seconds of training, over all calls, and of this call), one row per job:
    the notebook shows them once, as a table."""
    todo = training_jobs(seeds, factors, questions)
    jobs = max(1, min(int(jobs), len(todo)))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    arguments = [(profile, v, m, s, str(results_dir), device, max_epochs, threads) for v, s, m in todo]
    done = []
    logs = relative_to_project(logs_dir(results_dir))
    print(f"{len(todo)} jobs (each trained, or reused where current); a training's epoch lines: {logs}/", flush=True)

    def report(job: tuple) -> None:
        done.append(job)
        variant, seed, factor = job[:3]
        print(f"{variant} seed={seed} M={factor}: ready ({len(done)} of {len(todo)})", flush=True)

    if jobs == 1:
        for args in arguments:
            report(_job(*args))
    else:  # separate processes (spawned: a forked torch may deadlock), one thread each on a CPU
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            for future in as_completed([pool.submit(_job, *args) for args in arguments]):
                report(future.result())
    columns = ["variant", "seed", "M", "training_s", "this_call_s"]
    return pd.DataFrame(done, columns=columns).sort_values(["M", "variant", "seed"])


def _runs(folder: Path, seeds: Sequence[int], factor: int) -> list[ClipScores]:
    return [load_clip_scores(folder, seed, factor) for seed in seeds]


def _compare(
    question: str,
    label: str,
    ours: list[ClipScores],
    theirs: list[ClipScores],
    factor: int,
    seeds: Sequence[int],
    n_resamples: int,
    seed: int,
) -> list[dict[str, Any]]:
    weights = resampling.draw_weights(ours[0].n_clips, n_resamples, seed)
    rows = []
    for metric in METRIC_NAMES:
        row: dict[str, Any] = {
            "question": question,
            "comparison": label,
            "M": factor,
            "metric": metric,
            "n_seeds": len(ours),
            "n_clips": ours[0].n_clips,
            "n_resamples": n_resamples,
            "seeds": " ".join(str(s) for s in seeds),
        }
        if all(resampling.is_available(r, metric) for r in ours + theirs):
            row |= paired_difference(ours, theirs, metric, weights)
        rows.append(row)
    return rows


def compare_all(
    results_dir: Path | str,
    seeds: Sequence[int],
    factors: Sequence[int],
    n_resamples: int = 1000,
    seed: int = 0,
    questions: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Every paired comparison of the asked questions (one row per question, comparison, M and metric)."""
    rows: list[dict[str, Any]] = []
    paper = variant_dir(results_dir, BASELINE)
    for factor in sorted(factors):
        if asks("batch", questions):
            alone = _runs(decode_dir(results_dir, REFERENCE_DECODE), seeds, factor)
            for decode in COMPARED_DECODES:
                ours = _runs(decode_dir(results_dir, decode), seeds, factor)
                rows += _compare(
                    "batch", f"{decode} - {REFERENCE_DECODE}", ours, alone, factor, seeds, n_resamples, seed
                )
        for question in selected_questions(questions):
            for variant in question.variants:
                ours = _runs(variant_dir(results_dir, variant), seeds, factor)
                rows += _compare(
                    question.key,
                    f"{variant} - {BASELINE}",
                    ours,
                    _runs(paper, seeds, factor),
                    factor,
                    seeds,
                    n_resamples,
                    seed,
                )
    if len(set(factors)) > 1 and asks("decoder", questions):  # the paper's comparison within each decoder
        low, high = min(factors), max(factors)
        for variant in SUBSAMPLING_QUESTION.variants:
            folder = variant_dir(results_dir, variant)
            label = f"{variant}: M={high} - M={low}"
            rows += _compare(
                SUBSAMPLING_QUESTION.key,
                label,
                _runs(folder, seeds, high),
                _runs(folder, seeds, low),
                high,
                seeds,
                n_resamples,
                seed,
            )
    return pd.DataFrame(rows)


REPORTED_DECIMALS = 3  # metric differences are reported, and judged, at this precision


def signed(value: float) -> str:
    """``value`` at the reported precision with its sign, a value that rounds to 0 as +0.000 (never -0.000)."""
    rounded = round(float(value), REPORTED_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{rounded:+.{REPORTED_DECIMALS}f}"


def interval_phrase(row: pd.Series) -> str:
    """A paired difference and its interval as the tables show it: +0.012 [-0.003, +0.027]."""
    return f"{signed(row['difference'])} [{signed(row['ci_low'])}, {signed(row['ci_high'])}]"


def _excludes_zero(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose interval excludes 0 at the reported precision.

    A bootstrap interval can exclude 0 by 1e-15 when a few captions change a metric that is itself about 0
    (BLEU-4 of an under-trained model); such an interval reads [+0.000, +0.000] and is not a difference.
    """
    low = frame["ci_low"].round(REPORTED_DECIMALS)
    high = frame["ci_high"].round(REPORTED_DECIMALS)
    return frame[(low > 0) | (high < 0)]


def verdict(comparisons: pd.DataFrame, changed: pd.DataFrame, question: str, factor: int) -> str:
    """One sentence from the numbers: the primary metric's paired difference and which intervals exclude 0."""
    rows = comparisons[(comparisons["question"] == question) & (comparisons["M"] == factor)].dropna(
        subset=["difference"]
    )
    parts = []
    if question == "batch":
        at = changed[changed["M"] == factor].groupby("decode")[["n_changed", "n_clips"]].sum()
        for decode in COMPARED_DECODES:
            parts.append(
                f"{decode}: {int(at.loc[decode, 'n_changed'])} of {int(at.loc[decode, 'n_clips'])} "
                f"captions differ from the clip decoded alone"
            )
        rows = rows[rows["comparison"] == f"padded_batched - {REFERENCE_DECODE}"]
    for comparison, of_comparison in rows.groupby("comparison", sort=False):
        primary = of_comparison[of_comparison["metric"] == PRIMARY_METRIC]
        if len(primary):
            parts.append(f"{comparison}: {PRIMARY_METRIC} {interval_phrase(primary.iloc[0])}")
        clear = _excludes_zero(of_comparison)
        if len(clear):
            signs = ", ".join(f"{r.metric} {'+' if r.difference > 0 else '-'}" for r in clear.itertuples())
            parts.append(f"intervals exclude 0 for {len(clear)} of {len(of_comparison)} metrics ({signs})")
        else:
            parts.append(f"no metric's interval excludes 0 ({len(of_comparison)} metrics)")
    return "; ".join(parts)


def verdicts_table(
    comparisons: pd.DataFrame,
    changed: pd.DataFrame,
    factors: Sequence[int],
    questions: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per asked question and M (the sub-sampling half of (e) at the largest M only, where it is
    compared)."""
    asked = [(q, factor) for q in selected_questions(questions) for factor in sorted(factors)]
    if len(set(factors)) > 1 and asks("decoder", questions):
        asked.append((SUBSAMPLING_QUESTION, max(factors)))
    rows = [
        {"question": q.key, "title": q.title, "M": factor, "verdict": verdict(comparisons, changed, q.key, factor)}
        for q, factor in asked
    ]
    return pd.DataFrame(rows)


@dataclass
class StudyResults:
    comparisons: pd.DataFrame
    changed: pd.DataFrame
    verdicts: pd.DataFrame
    figure_path: Path | None


def write_study(
    results_dir: Path | str,
    seeds: Sequence[int],
    factors: Sequence[int],
    decode_records: list[dict],
    record: dict[str, Any],
    n_resamples: int = DEFAULT_RESAMPLES,
    figure: bool = True,
    questions: Sequence[str] | None = None,
) -> StudyResults:
    """Compare, write the tables, the verdicts, the figure and ``study.json`` (``record``: what to keep in it,
    with the study's run key, :func:`.variants.study_key`)."""
    from aac_subsampling.experiment.pipeline import write_json

    folder = open_questions_dir(results_dir)
    comparisons = compare_all(results_dir, seeds, factors, n_resamples, questions=questions)
    changed = changed_captions_table(decode_records)
    verdicts = verdicts_table(comparisons, changed, factors, questions)
    comparisons.to_csv(folder / COMPARISONS_FILE, index=False, float_format="%.6g")
    changed.to_csv(folder / CHANGED_FILE, index=False, float_format="%.6g")
    verdicts.to_csv(folder / VERDICTS_FILE, index=False)
    figure_path = None
    if figure:
        from aac_subsampling.analysis.figures import paired_differences_by_comparison

        figure_path = paired_differences_by_comparison(
            comparisons, layout.figures_dir(results_dir) / FIGURE_FILE, FIGURE_METRICS
        )
    write_json(
        folder / STUDY_RECORD,
        {
            **record,
            "seeds": list(seeds),
            "M": sorted(factors),
            "n_resamples": n_resamples,
            "questions": [q.key for q in selected_questions(questions)],
        },
    )
    return StudyResults(comparisons, changed, verdicts, figure_path)


def load_study(results_dir: Path | str) -> StudyResults | None:
    """A written study's tables (e.g. the published ones), or None when there is none."""
    folder = open_questions_dir(results_dir)
    if not (folder / VERDICTS_FILE).is_file():
        return None
    figure_path = layout.figures_dir(results_dir) / FIGURE_FILE
    return StudyResults(
        pd.read_csv(folder / COMPARISONS_FILE),
        pd.read_csv(folder / CHANGED_FILE),
        pd.read_csv(folder / VERDICTS_FILE),
        figure_path if figure_path.is_file() else None,
    )


def study_record(results_dir: Path | str) -> dict[str, Any]:
    return json.loads(study_record_path(results_dir).read_text())
