"""Plain helpers shared by several test files (no fixtures, no tests).

Test files import these with ``from helpers import ...`` (pytest puts ``tests/`` on ``sys.path``); a script
started by a test in a fresh interpreter does the same after adding ``tests/`` to its ``sys.path``. Test files
never import from each other.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from aac_subsampling.experiment import layout, runkey
from aac_subsampling.experiment.pipeline import write_json
from aac_subsampling.method.batching import CaptionDataset
from aac_subsampling.method.config import Config
from aac_subsampling.method.tokens import Vocabulary
from aac_subsampling.run import Engine, RunOptions

# A model small enough to learn four captions in seconds on one CPU core.
TINY = {
    "model": {"n_mels": 8, "encoder_hidden": 16, "decoder_hidden": 16, "subsampling_factor": 2, "dropout": 0.0},
    "train": {"batch_size": 2, "learning_rate": 1e-2, "max_epochs": 60, "patience": 60, "seed": 1},
    "device": "cpu",
}
CAPTIONS = {
    "dog.wav": "a dog barks twice",
    "bell.wav": "a bell rings loudly",
    "rain.wav": "rain falls on a roof",
    "car.wav": "a car engine idles",
}


def tiny_problem(config_overrides=TINY):
    """(config, vocabulary, dataset, features) of four clips, one caption each."""
    rng = np.random.default_rng(0)
    vocabulary = Vocabulary.build(CAPTIONS.values())
    # Each clip: a distinct random pattern repeated in time plus a little noise.
    features = {
        name: (np.tile(rng.normal(size=(1, 8)), (12 + 2 * i, 1)) + 0.1 * rng.normal(size=(12 + 2 * i, 8))).astype(
            np.float32
        )
        for i, name in enumerate(CAPTIONS)
    }
    captions = {name: [vocabulary.encode(text)] for name, text in CAPTIONS.items()}
    dataset = CaptionDataset(sorted(CAPTIONS), captions, features, vocabulary.eos_index)
    return Config().with_overrides(config_overrides), vocabulary, dataset, features


def write_evaluation_files(directory: Path) -> None:
    """The files an evaluation record stands for (runkey.artefact_problem checks them), one clip each."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{layout.METRICS_STEM}_per_clip.csv").write_text("clip_id,CIDEr\na.wav,0.5\n")
    (directory / f"{layout.METRICS_STEM}_stats.csv").write_text("clip_id,bleu_1_match\na.wav,1\n")
    (directory / layout.PREDICTIONS_FILE).write_text("file_name,prediction,caption_1\na.wav,a dog,a dog barks\n")
    (directory / layout.BOOTSTRAP_FILE).write_text("metric,low,high\nCIDEr,0.4,0.6\n")


class FakeNotebooks:
    """Writes each stage's record with the key the real pipeline writes; remembers what ran."""

    def __init__(self, fail_on: tuple[int, int] | None = None):
        self.calls: list[tuple[str, int | None, int | None]] = []
        self.fail_on = fail_on

    def __call__(self, notebook: Path, output: Path, parameters: dict, kernel: str) -> None:
        seed, factor = parameters.get("seed"), parameters.get("M")
        self.calls.append((notebook.stem, seed if notebook.stem[:2] in ("02", "03") else None, factor))
        results, data = Path(parameters["results_dir"]), Path(parameters["data_dir"])
        stem = notebook.stem
        if stem.startswith("01"):
            key = runkey.prepare_key(parameters["profile"], data)
            write_json(results / layout.VOCABULARY_FILE, {"words": [], "counts": []})
            write_json(results / layout.PREPARED_RECORD, {"key": key, "made": time.time()})
        elif stem.startswith("02"):
            if (seed, factor) == self.fail_on:
                raise RuntimeError(f"training seed={seed} M={factor} diverged")
            key = runkey.training_key(
                parameters["profile"], data, factor, seed, parameters["max_epochs"], results / layout.PREPARED_RECORD
            )
            layout.run_dir(results, seed, factor).mkdir(parents=True, exist_ok=True)
            torch.save({"weight": torch.zeros(1)}, layout.run_dir(results, seed, factor) / layout.MODEL_FILE)
            write_json(
                layout.training_record(results, seed, factor),
                {"key": key, "made": time.time(), "resume": parameters["resume"]},
            )
        elif stem.startswith("03"):
            key = runkey.evaluation_key(
                layout.training_record(results, seed, factor), parameters["bootstrap_resamples"]
            )
            write_evaluation_files(layout.run_dir(results, seed, factor))
            write_json(layout.evaluation_record(results, seed, factor), {"key": key, "made": time.time()})
        else:
            key = runkey.results_key(results)
            write_json(results / layout.SUMMARY_RECORD, {"key": key})

    def ran(self, stem: str) -> list[tuple]:
        return [call for call in self.calls if call[0].startswith(stem)]


def engine_for(tmp_path, corpus, notebooks, **options) -> Engine:
    """A run engine on the smoke profile (M = 1 and 4, one lane) whose stages ``notebooks`` runs."""
    settings = {
        "profile": "smoke",
        "data_dir": corpus,
        "results_dir": tmp_path / "results",
        "factors": [1, 4],
        "jobs": 1,
    }
    return Engine(RunOptions(**{**settings, **options}), executor=notebooks)


class PipelineStages:
    """A run-engine executor that runs each notebook's own library call (what ``notebooks/0*.ipynb`` call) in the
    calling process, without papermill: the engine's decisions and the pipeline's numbers, at a fraction of a
    kernel start per stage. Module-level and picklable, so that cluster jobs can run it (``tests/`` on their
    PYTHONPATH). ``ran`` lists the stages it ran in this process."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def __call__(self, notebook: Path, output: Path, parameters: dict, kernel: str) -> None:
        from aac_subsampling.analysis import summary
        from aac_subsampling.experiment import pipeline

        p, stem = parameters, Path(notebook).stem
        results, data = Path(p["results_dir"]), Path(p["data_dir"])
        if stem.startswith("01"):
            self.ran.append("prepare")
            pipeline.prepare_data(
                p["profile"], data, results, seed=p["seed"], device=p["device"], skip_bad=p.get("skip_bad", False),
                progress=False,
            )  # fmt: skip
        elif stem.startswith("02"):
            self.ran.append("training")
            pipeline.train_subsampling_model(
                p["profile"], p["M"], results, seed=p["seed"], device=p["device"], resume=p["resume"],
                progress=False, max_epochs=p["max_epochs"],
            )  # fmt: skip
        elif stem.startswith("03"):
            self.ran.append("evaluation")
            pipeline.evaluate_subsampling_model(
                p["profile"], p["M"], results, seed=p["seed"], device=p["device"],
                bootstrap_resamples=p["bootstrap_resamples"], progress=False, max_epochs=p["max_epochs"],
            )  # fmt: skip
        else:
            self.ran.append("results")
            summary.summarise_results(p["profile"], results, progress=False, context=False)
