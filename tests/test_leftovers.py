"""What killed and older runs leave behind (issue "Runs that cannot lie", item 6): an evaluation's temporary folder
is removed however the evaluation ends (return, exception, Ctrl-C, SIGTERM); one left by SIGKILL is removed by the
engine at the start of its next run, saying so; a results folder in the older layout (M<M>/ without seed<S>/) loses
the project's own files of that layout with a line naming them and their size, and what else is there is named."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from aac_subsampling import run
from aac_subsampling.evaluation import evaluate
from aac_subsampling.experiment import layout

from helpers import FakeNotebooks

pytestmark = pytest.mark.filterwarnings("ignore:METEOR, SPICE and SPIDEr need Java")

SCRATCH_PREFIX = "aac-eval-"  # where evaluate_captions scores (tempfile.mkdtemp prefix)
PREDICTIONS = {"a.wav": "a dog barks"}
REFERENCES = {"a.wav": ["a dog barks", "a dog is barking"]}


def scratch_folders(folder):
    return sorted(folder.glob(f"{SCRATCH_PREFIX}*"))


def test_an_evaluation_leaves_no_temporary_folder(tmp_path):
    evaluate.evaluate_captions(PREDICTIONS, REFERENCES, work_dir=tmp_path, java=tmp_path / "no-java", spice=False)
    assert scratch_folders(tmp_path) == []


def test_an_interrupted_evaluation_removes_its_temporary_folder(tmp_path, monkeypatch):
    """Ctrl-C in the middle of scoring (the folder exists then)."""
    seen = []

    def interrupted(ids, predictions, references, java, run_dir):
        seen.append(run_dir.is_dir())
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate, "_tokenize_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        evaluate.evaluate_captions(PREDICTIONS, REFERENCES, work_dir=tmp_path, java=tmp_path / "no-java", spice=False)
    assert seen == [True] and scratch_folders(tmp_path) == []


SIGTERM_DURING_SCORING = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    from aac_subsampling.evaluation import evaluate

    def killed(ids, predictions, references, java, run_dir):
        print(run_dir, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)  # as a kernel shut down while it scores
        time.sleep(30)

    evaluate._tokenize_all = killed
    work = Path(sys.argv[1])
    evaluate.evaluate_captions({"a": "x"}, {"a": ["x"]}, work_dir=work, java=work / "no-java", spice=False)
    """
)


def test_sigterm_during_an_evaluation_removes_its_folder_and_still_ends_the_process(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-c", SIGTERM_DURING_SCORING, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == -signal.SIGTERM, completed.stderr  # ended by the signal, as without the handler
    assert SCRATCH_PREFIX in completed.stdout  # the folder existed
    assert scratch_folders(tmp_path) == []


def test_the_previous_sigterm_handler_is_back_afterwards(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    with evaluate.scratch_dir(tmp_path):
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


# ------------------------------------------------------------------------------------- the engine


@pytest.fixture
def engine(tmp_path, corpus, monkeypatch):
    original = run.Engine
    notebooks = FakeNotebooks()
    monkeypatch.setattr(run, "Engine", lambda options: original(options, executor=notebooks))

    def start() -> FakeNotebooks:
        arguments = ["--profile", "smoke", "--data-dir", str(corpus), "--results-dir", str(tmp_path / "results")]
        assert run.main([*arguments, "--jobs", "1", "--no-preflight", "--m", "16"]) == 0
        return notebooks

    return start


def test_the_engine_removes_temporary_folders_of_a_killed_evaluation_at_the_start(tmp_path, engine, capsys):
    results = tmp_path / "results"
    stale = [layout.run_dir(results, 0, 16) / "aac-eval-k1ll3d", results / "floors" / "constant" / "aac-eval-x"]
    for folder in stale:
        (folder / "meteor").mkdir(parents=True)
        (folder / "meteor" / "refs.txt").write_text("a dog barks\n")
    kept = layout.run_dir(results, 0, 16) / "aac-evaluation-notes"  # not a temporary folder's name
    kept.mkdir()
    engine()
    out = capsys.readouterr().out
    assert not any(folder.exists() for folder in stale) and kept.is_dir()
    assert "removed 2 temporary folder(s) left by a killed evaluation" in out
    assert "seed0/M16/aac-eval-k1ll3d" in out


def test_an_older_layout_loses_the_projects_own_files_saying_so(tmp_path, engine, capsys):
    results = tmp_path / "results"
    old = results / "M16"
    old.mkdir(parents=True)
    (old / layout.CHECKPOINT_FILE).write_bytes(b"\0" * 2_000_000)
    for name in (layout.MODEL_FILE, layout.TRAINING_RECORD, layout.EVALUATION_RECORD, "metrics_corpus.json"):
        (old / name).write_text("{}")
    (old / "my_notes.txt").write_text("keep me")
    (results / "baseline.json").write_text("{}")
    layout.executed_dir(results).mkdir()
    (layout.executed_dir(results) / "02_training_M16.ipynb").write_text("{}")
    notebooks = engine()
    out = capsys.readouterr().out
    assert "older layout" in out and "2.0 MB" in out
    for name in ("M16/checkpoint.pt", "M16/model.pt", "baseline.json", "executed/02_training_M16.ipynb"):
        assert name in out and not (results / name).exists()
    assert (old / "my_notes.txt").read_text() == "keep me" and "M16/my_notes.txt" in out  # named, left in place
    assert len(notebooks.calls) == 4  # the run itself, in the new layout
    assert layout.evaluation_record(results, 0, 16).is_file()


def test_a_folder_in_the_new_layout_is_left_alone(tmp_path, engine, capsys):
    engine()
    capsys.readouterr()
    engine()
    out = capsys.readouterr().out
    assert "older layout" not in out and "temporary folder" not in out
