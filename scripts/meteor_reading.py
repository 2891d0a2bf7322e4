"""Why a model scores below the constant caption on METEOR: ``python scripts/meteor_reading.py [--profile quick]``.

Reads the published predictions and METEOR statistics (``results/published/<profile>/seed*/M*/``, the constant
caption's under ``floors/constant/``) and prints, per M and seed mean, next to the constant caption: METEOR;
METEOR again with each word said back to back kept once (:func:`~aac_subsampling.analysis.fluency.without_repeats`,
re-scored with METEOR 1.5, so it needs Java); the captions' length; the share of the references' words METEOR
aligned (its recall); and its chunks per aligned word (fragmentation). The difference between the first two
columns is what the stutter alone costs. A diagnostic of published results, not a stage of the run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from aac_subsampling.analysis.fluency import meteor_alignment, without_repeats
from aac_subsampling.analysis.records import load_predictions, reference_columns
from aac_subsampling.evaluation.evaluate import evaluate_captions
from aac_subsampling.evaluation.java import find_java
from aac_subsampling.evaluation.meteor import METEOR_STAT_COLUMNS, MeteorScorer, meteor_from_stats
from aac_subsampling.experiment import layout
from aac_subsampling.publish import published_dir


def run_row(folder: Path, seed: int, factor: int, meteor: MeteorScorer) -> dict[str, float]:
    """One run's METEOR, its METEOR without back-to-back repeats, and its alignment summary."""
    predictions = load_predictions(folder, seed, factor)
    captions = dict(zip(predictions["file_name"], predictions["prediction"]))
    columns = reference_columns(predictions)
    references = {row["file_name"]: [row[c] for c in columns if row[c]] for _, row in predictions.iterrows()}
    as_said = evaluate_captions(captions, references, spice=False, meteor=meteor)
    no_repeats = evaluate_captions(
        {clip: without_repeats(caption) for clip, caption in captions.items()}, references, spice=False, meteor=meteor
    )
    return {
        "METEOR": as_said.corpus["METEOR"],
        "METEOR without repeats": no_repeats.corpus["METEOR"],
        **meteor_alignment(as_said.stats),
    }


def meteor_reading(folder: Path, meteor: MeteorScorer) -> pd.DataFrame:
    """Rows per M (seed means, with the seeds counted) and one for the constant caption."""
    runs = layout.completed_runs(folder)
    if not runs:
        raise SystemExit(f"no evaluated run (seed*/M*/{layout.EVALUATION_RECORD}) under {folder}")
    rows = []
    for seed, factor in runs:
        print(f"scoring seed {seed}, M = {factor}", file=sys.stderr, flush=True)
        rows.append({"M": factor, "seed": seed, **run_row(folder, seed, factor, meteor)})
    per_run = pd.DataFrame(rows)
    table = per_run.groupby("M").mean(numeric_only=True).drop(columns="seed")
    table.insert(0, "seeds", per_run.groupby("M")["seed"].count().astype("Int64"))
    table.index = [f"M={m}" for m in table.index]
    constant = folder / "floors" / "constant" / "metrics_stats.csv"
    if constant.is_file():
        stats = pd.read_csv(constant)
        # One caption said for every clip: nothing to re-score, its METEOR comes from its summed statistics.
        said = float(meteor_from_stats(stats[list(METEOR_STAT_COLUMNS)].sum().to_numpy()))
        table.loc["constant caption"] = {
            "seeds": float("nan"),
            "METEOR": said,
            "METEOR without repeats": said,
            **meteor_alignment(stats),
        }
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", help="published profile to read (default: quick)")
    parser.add_argument("--folder", type=Path, help="a results folder instead of results/published/<profile>")
    args = parser.parse_args(argv)
    folder = args.folder or published_dir(args.profile)
    java = find_java()
    if java is None:
        raise SystemExit("METEOR needs Java: install a Java runtime (apt-get install default-jre-headless)")
    with MeteorScorer(java) as meteor:
        table = meteor_reading(folder, meteor)
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 200):
        print(table.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
