"""Nothing is silently reused: a mutation test of the run engine.

A complete smoke run (one seed, M = 16, one epoch), then one input changed at a time (an artefact, a record, a
config field, a caption, a wav, the scoring environment), each followed by the same command: exactly the stages
that depend on the change run again. At the end a clean run on the same inputs, into a fresh folder, gives the
same Table 1 as the folder that was updated step by step.

The stages run the notebooks' own library calls in this process (``helpers.PipelineStages``), not through
papermill: the engine's decisions are what is tested, and a kernel start per stage would triple the time.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from aac_subsampling import run
from aac_subsampling.evaluation import environment
from aac_subsampling.experiment import layout, profiles

from helpers import PipelineStages

pytestmark = pytest.mark.slow

SEED, M = 0, 16


def run_once(data_dir: Path, results_dir: Path) -> list[str]:
    """The same command every time; the stages it ran, in order."""
    options = run.parse_arguments(
        ["--profile", "smoke", "--data-dir", str(data_dir), "--results-dir", str(results_dir), "--device", "cpu"]
        + ["--seed", str(SEED), "--m", str(M), "--max-epochs", "1", "--jobs", "1"]
    )
    stages = PipelineStages()
    run.Engine(options, executor=stages).run()
    return stages.ran


def without_java(monkeypatch, tmp_path: Path) -> None:
    """As on a machine without Java: every PATH folder that holds a ``java`` replaced by a folder of links to its
    other programs (git and the rest still run), no JAVA_HOME."""
    folders = []
    for index, folder in enumerate(os.environ["PATH"].split(os.pathsep)):
        if not (Path(folder) / "java").exists():
            folders.append(folder)
            continue
        stand_in = tmp_path / f"path{index}"
        stand_in.mkdir(parents=True)
        for program in Path(folder).iterdir():
            if program.name != "java":
                (stand_in / program.name).symlink_to(program)
        folders.append(str(stand_in))
    monkeypatch.setenv("PATH", os.pathsep.join(folders))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert shutil.which("java") is None
    environment._environment_for.cache_clear()


def table1(results_dir: Path) -> pd.DataFrame:
    return pd.read_csv(results_dir / "table1.csv")


def test_each_changed_input_reruns_exactly_its_stages_and_the_tables_equal_a_clean_run(tmp_path, monkeypatch):
    if shutil.which("java") is None:
        pytest.skip("the scoring-environment change installs Java back: needs Java on PATH")
    java_path = os.environ["PATH"]
    without_java(monkeypatch, tmp_path / "bin")  # faster evaluations; Java "installed" at the end is one of the changes
    data, results = tmp_path / "corpus", tmp_path / "results"
    everything = ["prepare", "training", "evaluation", "results"]
    run_dir = layout.run_dir(results, SEED, M)

    assert run_once(data, results) == everything
    assert run_once(data, results) == [], "an unchanged rerun must skip every stage"

    # an artefact: the model the training record stands for
    (run_dir / layout.MODEL_FILE).write_bytes((run_dir / layout.MODEL_FILE).read_bytes()[:100])
    assert run_once(data, results) == ["training", "evaluation", "results"]

    # a record: the evaluation's, emptied
    layout.evaluation_record(results, SEED, M).write_text("null")
    assert run_once(data, results) == ["evaluation", "results"]

    # a config field (one that changes no number: the log interval)
    smoke = profiles.PROFILES["smoke"]
    changed = {**smoke.overrides, "train": {**smoke.overrides["train"], "log_every": 5}}
    monkeypatch.setitem(profiles.PROFILES, "smoke", profiles.Profile(**{**smoke.__dict__, "overrides": changed}))
    assert run_once(data, results) == ["training", "evaluation", "results"]

    # a caption: the synthetic corpus is the generator's, so data preparation restores it, and says so by
    # rerunning; everything built on the prepared data follows
    captions = data / "clotho_captions_evaluation.csv"
    captions.write_text(captions.read_text().replace("a ", "the ", 1))
    assert run_once(data, results) == everything

    # a wav: the first evaluation clip replaced by the second (captions unchanged)
    first, second = sorted((data / "evaluation").glob("*.wav"))[:2]
    shutil.copyfile(second, first)
    assert run_once(data, results) == everything

    # the scoring environment: Java installed since the last evaluation
    monkeypatch.setenv("PATH", java_path)
    environment._environment_for.cache_clear()
    assert run_once(data, results) == ["evaluation", "results"]
    assert run_once(data, results) == []

    # the folder updated change by change holds what a clean run on the same inputs gives
    clean = tmp_path / "clean"
    assert run_once(data, clean) == everything
    pd.testing.assert_frame_equal(table1(results), table1(clean))
    assert pd.notna(table1(results).set_index("metric").loc["METEOR", f"M={M}"]), "Java is back: METEOR is scored"
