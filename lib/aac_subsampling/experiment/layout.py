"""The one place that knows how a results folder is laid out.

A results folder (``results/<profile>/`` for a working run, ``results/published/<profile>/`` for
published results) holds::

    prepared.json, vocabulary.json        data preparation (shared by every seed and M)
    seed<S>/M<M>/training.json            one training (checkpoint.pt and model.pt beside it)
    seed<S>/M<M>/evaluation.json          its evaluation (predictions.csv, metrics_*.csv, bootstrap_ci.csv)
    table1.csv, table2.csv, ...           tables over every seed and M (table1_seeds.csv, comparisons.csv,
                                          diversity.csv, claims.csv, clotho_context.csv/.json)
    figures/*.png                         the figures of this folder's run
    executed/*.ipynb                      the executed notebooks
    run.lock                              held while a run works on the folder

Every other module asks this one for a path instead of spelling it.
"""

from __future__ import annotations

import re
from pathlib import Path

PREPARED_RECORD = "prepared.json"
VOCABULARY_FILE = "vocabulary.json"
TRAINING_RECORD = "training.json"
EVALUATION_RECORD = "evaluation.json"
CHECKPOINT_FILE = "checkpoint.pt"
MODEL_FILE = "model.pt"
TRAINING_FIGURE = "training_history.png"  # notebook 02 draws it beside the model
PREDICTIONS_FILE = "predictions.csv"
BOOTSTRAP_FILE = "bootstrap_ci.csv"
METRICS_STEM = "metrics"  # metrics_per_clip.csv, metrics_stats.csv
SWAPPED_METRICS_STEM = "metrics_swapped"  # the same clips decoded from other clips' audio (swapped_audio)
FACTS_FILE = "facts_per_clip.csv"  # synthetic corpora: events, counts, order, loudness of each caption
FLOORS_DIR = "floors"  # floors/<name>/metrics_per_clip.csv: audio-blind captions said for every clip
FLOORS_RECORD = "floors.json"
FIGURES_DIR = "figures"
EXECUTED_DIR = "executed"
LOCK_FILE = "run.lock"
SUMMARY_RECORD = "summary.json"  # written with the tables: which evaluations they summarise
# Tables over every seed and M (written by aac_subsampling.analysis.tables and aac_subsampling.analysis).
TABLE1_FILE = "table1.csv"  # metric x M, the seed-mean (the paper's shape)
TABLE1_SEEDS_FILE = "table1_seeds.csv"  # long form: mean, std, n_seeds, pooled bootstrap CI, each seed
TABLE2_FILE = "table2.csv"
COMPARISONS_FILE = "comparisons.csv"  # paired bootstrap of each M against M = 1
DIVERSITY_FILE = "diversity.csv"
CLAIMS_FILE = "claims.csv"
CLOTHO_CONTEXT_FILE = "clotho_context.csv"  # paper, constant caption, human ceiling (+ .json beside it)
FLOOR_COMPARISONS_FILE = "floors.csv"  # paired bootstrap of each M against each audio-blind floor
AUDIO_DEPENDENCE_FILE = "audio_dependence.csv"  # paired bootstrap of each M's own audio against swapped audio
FACTS_TABLE_FILE = "facts.csv"  # synthetic corpora: share of events, counts, order, loudness right, per M
LEARNING_CURVES_FILE = "learning_curves.csv"  # validation CIDEr-D (own and swapped audio) over training steps

_RUN_DIR = re.compile(r"^seed(\d+)/M(\d+)$")


def run_dir(results_dir: Path | str, seed: int, factor: int) -> Path:
    """The folder of one (seed, M) training and its evaluation."""
    return Path(results_dir) / f"seed{int(seed)}" / f"M{int(factor)}"


def training_record(results_dir: Path | str, seed: int, factor: int) -> Path:
    return run_dir(results_dir, seed, factor) / TRAINING_RECORD


def evaluation_record(results_dir: Path | str, seed: int, factor: int) -> Path:
    return run_dir(results_dir, seed, factor) / EVALUATION_RECORD


def per_clip_scores(results_dir: Path | str, seed: int, factor: int) -> Path:
    return run_dir(results_dir, seed, factor) / f"{METRICS_STEM}_per_clip.csv"


def per_clip_stats(results_dir: Path | str, seed: int, factor: int) -> Path:
    return run_dir(results_dir, seed, factor) / f"{METRICS_STEM}_stats.csv"


def predictions(results_dir: Path | str, seed: int, factor: int) -> Path:
    return run_dir(results_dir, seed, factor) / PREDICTIONS_FILE


def swapped_clip_scores(results_dir: Path | str, seed: int, factor: int) -> Path:
    return run_dir(results_dir, seed, factor) / f"{SWAPPED_METRICS_STEM}_per_clip.csv"


def facts(results_dir: Path | str, seed: int, factor: int) -> Path:
    return run_dir(results_dir, seed, factor) / FACTS_FILE


def floor_dir(results_dir: Path | str, name: str) -> Path:
    return Path(results_dir) / FLOORS_DIR / name


def floor_clip_scores(results_dir: Path | str, name: str) -> Path:
    return floor_dir(results_dir, name) / f"{METRICS_STEM}_per_clip.csv"


def figures_dir(results_dir: Path | str) -> Path:
    return Path(results_dir) / FIGURES_DIR


def executed_dir(results_dir: Path | str) -> Path:
    return Path(results_dir) / EXECUTED_DIR


def table_file(results_dir: Path | str, name: str) -> Path:
    """A table over every seed and M (one of the ``*_FILE`` names above), at the folder's top level."""
    return Path(results_dir) / name


def clotho_context_record(results_dir: Path | str) -> Path:
    """The JSON beside ``clotho_context.csv``: constant caption, caption source, fingerprint, reasons."""
    return table_file(results_dir, CLOTHO_CONTEXT_FILE).with_suffix(".json")


def completed_runs(results_dir: Path | str, record: str = EVALUATION_RECORD) -> list[tuple[int, int]]:
    """Every (seed, M) of the folder that has ``record``, sorted by seed then M."""
    root = Path(results_dir)
    found = []
    for path in root.glob(f"seed*/M*/{record}"):
        match = _RUN_DIR.match(path.parent.relative_to(root).as_posix())
        if match:
            found.append((int(match.group(1)), int(match.group(2))))
    return sorted(found)
