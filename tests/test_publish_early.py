"""--publish is checked before any work (issue "Runs that cannot lie", items 4 and 6): a dirty tree, a results
folder that is the published one, a corpus folder that records cannot name, and records made from a dirty tree
are refused in seconds, with what to do; the advice given for dirty records works (the stages it redoes are those,
and only those). Published files name folders beside the project and a results folder outside it without
absolute paths."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from aac_subsampling import publish, run
from aac_subsampling.experiment import layout
from aac_subsampling.experiment.pipeline import write_json

from helpers import FakeNotebooks

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A clone of the project in a temporary folder (its root found by pyproject.toml, as in a real clone), with a
    corpus inside it; the current directory is its root, as run_all.sh makes it."""
    root = tmp_path / "work" / "clone"
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "aac-subsampling"\n')
    corpus = root / "data" / "corpus"
    corpus.mkdir(parents=True)
    for split in ("development", "evaluation"):
        (corpus / f"clotho_captions_{split}.csv").write_text("file_name,caption_1\na.wav,a dog barks\n")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def git(monkeypatch):
    """The git state publishing sees, changed by the test (a clean tree at COMMIT to start with)."""
    state = {"commit": COMMIT, "dirty": False}
    monkeypatch.setattr(publish, "git_state", lambda: dict(state))
    monkeypatch.setattr(publish, "changed_files", lambda: [" M lib/aac_subsampling/method/training.py"], raising=False)
    return state


class RecordingNotebooks(FakeNotebooks):
    """The fake notebooks, with the git state the real ones record: in each stage record ("run") and in the
    executed notebook's output (notebook.NotebookRun.record prints it); trainings leave a checkpoint."""

    def __init__(self, state: dict):
        super().__init__()
        self.state = state

    def __call__(self, notebook: Path, output: Path, parameters: dict, kernel: str) -> None:
        super().__call__(notebook, output, parameters, kernel)
        results, stem = Path(parameters["results_dir"]), notebook.stem
        seed, factor = parameters.get("seed"), parameters.get("M")
        run_record = {"git_commit": self.state["commit"], "git_dirty": self.state["dirty"]}
        record = None
        if stem.startswith("01"):
            record = results / layout.PREPARED_RECORD
        elif stem[:2] in ("02", "03"):
            run_dir = layout.run_dir(results, seed, factor)
            record = run_dir / (layout.TRAINING_RECORD if stem.startswith("02") else layout.EVALUATION_RECORD)
        if record is not None:
            write_json(record, {**json.loads(record.read_text()), "run": run_record})
        if stem.startswith("02"):
            (record.parent / layout.CHECKPOINT_FILE).write_bytes(b"weights")
        printed = json.dumps(run_record, indent=1)
        cell = {"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stdout", "text": printed}]}
        output.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


@pytest.fixture
def engine_with(monkeypatch):
    original = run.Engine

    def install(notebooks):
        monkeypatch.setattr(run, "Engine", lambda options: original(options, executor=notebooks))

    return install


def no_engine(options):
    raise AssertionError("the run started: --publish should have been refused before any work")


BASE = ["--profile", "smoke", "--data-dir", "data/corpus", "--results-dir", "results/smoke", "--jobs", "1"]


def test_a_dirty_tree_refuses_publish_before_any_work(project, git, monkeypatch, capsys):
    git["dirty"] = True
    monkeypatch.setattr(run, "Engine", no_engine)
    assert run.main([*BASE, "--no-preflight", "--publish"]) == 4
    err = capsys.readouterr().err
    assert "refused before any work" in err and "uncommitted changes" in err
    assert "M lib/aac_subsampling/method/training.py" in err and "commit them (or stash them)" in err
    assert not (project / "results" / "smoke").exists()  # no lock, no folder: nothing was done


def test_publish_is_checked_before_the_preflight(project, git, monkeypatch, capsys):
    git["dirty"] = True
    monkeypatch.setattr(run, "run_preflight", lambda options: pytest.fail("the preflight ran first"))
    monkeypatch.setattr(run, "Engine", no_engine)
    assert run.main([*BASE, "--publish"]) == 4


def test_the_advice_for_dirty_records_redoes_exactly_their_stages(project, git, engine_with, capsys):
    # a clean run of M = 1, then M = 4 added from a dirty tree
    engine_with(RecordingNotebooks(git))
    assert run.main([*BASE, "--no-preflight", "--m", "1"]) == 0
    git["dirty"] = True
    engine_with(RecordingNotebooks(git))
    assert run.main([*BASE, "--no-preflight", "--m", "1", "4"]) == 0
    capsys.readouterr()

    # committed: --publish names the dirty stages at once and gives the commands that redo them
    git["dirty"] = False
    command = [*BASE, "--no-preflight", "--m", "1", "4", "--publish"]
    notebooks = RecordingNotebooks(git)
    engine_with(notebooks)
    assert run.main(command) == 4
    err = capsys.readouterr().err
    assert notebooks.calls == []
    for stage in ("training seed=0 M=4", "evaluation seed=0 M=4", "results tables"):
        assert stage in err
    assert "data preparation" not in err and "seed=0 M=1" not in err
    removal = next(line.strip() for line in err.splitlines() if line.strip().startswith("rm -f -- "))
    assert removal.split()[3:] == [
        "results/smoke/seed0/M4/training.json",
        "results/smoke/seed0/M4/checkpoint.pt",  # trains again from scratch, not from the dirty checkpoint
        "results/smoke/seed0/M4/model.pt",
        "results/smoke/seed0/M4/evaluation.json",
        "results/smoke/summary.json",
    ]
    assert f"./run_all.sh {' '.join(command)}" in err

    # the advice, followed: only those stages run, and the publication goes through
    subprocess.run(removal, shell=True, check=True, cwd=project)
    notebooks = RecordingNotebooks(git)
    engine_with(notebooks)
    assert run.main(command) == 0, capsys.readouterr().err
    assert notebooks.calls == [("02_training", 0, 4), ("03_evaluation", 0, 4), ("04_results", None, None)]
    published = project / "results" / "published" / "smoke"
    assert (published / "seed0" / "M4" / "evaluation.json").is_file()
    for path in published.rglob("*.*"):
        assert not publish.DIRTY_RECORD.search(path.read_text()), path


def test_a_dirty_run_outside_the_command_is_named_with_the_two_ways_out(project, git, engine_with, capsys):
    engine_with(RecordingNotebooks(git))
    assert run.main([*BASE, "--no-preflight", "--seed", "0", "--m", "4"]) == 0
    git["dirty"] = True
    engine_with(RecordingNotebooks(git))
    assert run.main([*BASE, "--no-preflight", "--seed", "1", "--m", "4"]) == 0
    git["dirty"] = False
    engine_with(no_engine)
    command = [*BASE, "--no-preflight", "--seed", "0", "--m", "4", "--publish"]
    assert run.main(command) == 4
    err = capsys.readouterr().err
    assert "seed=1 M=4 is not in this command" in err
    leave_out = next(line.strip() for line in err.splitlines() if line.strip().startswith("rm -rf -- "))
    assert leave_out.split()[3:] == [
        "results/smoke/seed1/M4",
        "results/smoke/executed/02_training_seed1_M4.ipynb",
        "results/smoke/executed/03_evaluation_seed1_M4.ipynb",
    ]
    subprocess.run(leave_out, shell=True, check=True, cwd=project)
    rm_tables = next(line.strip() for line in err.splitlines() if line.strip().startswith("rm -f -- "))
    assert rm_tables == "rm -f -- results/smoke/summary.json"  # notebook 04 ran from the dirty tree too
    subprocess.run(rm_tables, shell=True, check=True, cwd=project)
    notebooks = RecordingNotebooks(git)
    engine_with(notebooks)
    assert run.main(command) == 0, capsys.readouterr().err
    assert notebooks.calls == [("04_results", None, None)]  # the tables, now of seed 0 alone
    assert not (project / "results" / "published" / "smoke" / "seed1").exists()


def test_the_published_folder_as_results_folder_is_refused_at_once(project, git, monkeypatch, capsys):
    monkeypatch.setattr(run, "Engine", no_engine)
    arguments = ["--profile", "smoke", "--data-dir", "data/corpus", "--no-preflight", "--publish"]
    assert run.main([*arguments, "--results-dir", "results/published/smoke"]) == 4
    assert "published folder" in capsys.readouterr().err
    assert run.main([*arguments, "--results-dir", "results"]) == 4  # holds the published folder
    assert "published folder" in capsys.readouterr().err


def test_a_corpus_folder_that_records_cannot_name_is_refused_at_once(project, git, tmp_path, monkeypatch, capsys):
    corpus = tmp_path / "elsewhere" / "corpus"  # neither in the project nor beside it (that is ../<name>)
    if not publish.problems_in(str(corpus)):
        pytest.skip(f"{corpus} is not a path publishing refuses")
    corpus.mkdir(parents=True)
    monkeypatch.setattr(run, "Engine", no_engine)
    arguments = ["--profile", "smoke", "--data-dir", str(corpus), "--results-dir", "results/smoke"]
    assert run.main([*arguments, "--no-preflight", "--publish"]) == 4
    assert "the corpus folder" in capsys.readouterr().err


def test_a_dirty_record_found_at_the_end_is_refused_with_the_same_advice(project, git, engine_with, capsys):
    notebooks = RecordingNotebooks(git)
    engine_with(notebooks)
    original = notebooks.__call__

    def dirtied_midway(notebook, output, parameters, kernel):  # someone edits a tracked file during the run
        git["dirty"] = notebook.stem.startswith("03")
        original(notebook, output, parameters, kernel)
        git["dirty"] = False

    engine_with(dirtied_midway)
    assert run.main([*BASE, "--no-preflight", "--m", "4", "--publish"]) == 4
    err = capsys.readouterr().err
    assert "the run finished but was not published" in err
    assert "evaluation seed=0 M=4" in err and "rm -f -- results/smoke/seed0/M4/evaluation.json" in err


# ------------------------------------------------------------------- project-relative paths (item 6)


def fake_results(folder: Path, root: Path, **texts: str) -> Path:
    write_json(folder / layout.PREPARED_RECORD, {"key": {"corpus": {"data_dir": "data/corpus"}}})
    write_json(layout.evaluation_record(folder, 0, 4), {"metrics": {"BLEU1": 0.5}, "results": str(folder / "seed0/M4")})
    for name, text in texts.items():
        (folder / name).write_text(text)
    layout.executed_dir(folder).mkdir(parents=True, exist_ok=True)
    papermill = {
        "input_path": f"{root}/notebooks/04_results.ipynb",
        "output_path": f"{folder}/executed/04_results.ipynb",
        "parameters": {"results_dir": str(folder), "data_dir": f"{root}/data/corpus"},
    }
    (layout.executed_dir(folder) / "04_results.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {"papermill": papermill}})
    )
    return folder


def test_a_reason_naming_a_folder_beside_the_project_is_published_relative(project, tmp_path):
    """A clone without ../shared: the Clotho context's reason says where the captions were looked for."""
    reason = (
        "Clotho v1 caption files not found (no argument, $AAC_CLOTHO_CAPTIONS_DIR unset, not in "
        f"{project}/data/clotho_v1, {project.parent}/shared/clotho_v1_captions)"
    )
    results = fake_results(
        project / "results" / "smoke", project, **{"clotho_context.json": json.dumps({"reason": reason})}
    )
    target = publish.publish(results, "smoke", figures_destination=tmp_path / "figures", require_clean_tree=False)
    published = json.loads((target / "clotho_context.json").read_text())["reason"]
    assert "not in data/clotho_v1, ../shared/clotho_v1_captions)" in published


def test_scrub_leaves_a_path_that_only_looks_like_the_parent_alone(project):
    inside_another = f"/elsewhere{project.parent}/shared/x"
    assert publish.scrub(inside_another, project / "results" / "smoke") == inside_another


def test_a_results_folder_outside_the_project_is_published_with_its_paths_rewritten(project, git, tmp_path):
    results = fake_results(tmp_path / "outside" / "results", project)
    target = publish.publish(results, "smoke", figures_destination=tmp_path / "figures")
    assert target == project / "results" / "published" / "smoke"
    notebook = json.loads((target / "executed" / "04_results.ipynb").read_text())["metadata"]["papermill"]
    assert notebook["parameters"] == {"results_dir": "results/published/smoke", "data_dir": "data/corpus"}
    assert notebook["input_path"] == "notebooks/04_results.ipynb"
    assert notebook["output_path"] == "results/published/smoke/executed/04_results.ipynb"
    record = json.loads((target / "seed0" / "M4" / "evaluation.json").read_text())
    assert record["results"] == "results/published/smoke/seed0/M4"
    publish.check_before_run(results, "smoke", project / "data" / "corpus")  # nor refused at the start


def test_a_dirty_record_printed_into_an_executed_notebook_is_caught():
    """notebook.NotebookRun.record prints the run record into a cell's output, where its quotes are escaped."""
    cell_output = json.dumps({"text": json.dumps({"git_commit": COMMIT, "git_dirty": True}, indent=1)})
    assert '\\"git_dirty\\": true' in cell_output
    assert any("dirty git tree" in problem for problem in publish.problems_in(cell_output))
    assert publish.RECORD_COMMIT.findall(cell_output) == [COMMIT]


def test_records_of_another_commit_are_published_with_a_note(project, git, engine_with, capsys):
    engine_with(RecordingNotebooks(git))
    assert run.main([*BASE, "--no-preflight", "--m", "4"]) == 0
    git["commit"] = "f" * 40  # committed since: the records name the commit they were made at
    engine_with(RecordingNotebooks(git))
    assert run.main([*BASE, "--no-preflight", "--m", "4", "--publish"]) == 0
    out = capsys.readouterr().out
    assert "made at other commits than HEAD (fffffff)" in out and f"at {COMMIT[:7]} (not in this repository)" in out
    assert "run: published into results/published/smoke" in out


def test_a_dirty_study_of_notebook_05_is_redone_through_its_study_record(tmp_path):
    results = tmp_path / "results"
    variant = layout.run_dir(results / "open_questions" / "attention", 0, 1)
    write_json(variant / layout.TRAINING_RECORD, {"run": {"git_dirty": True}})
    (variant / layout.CHECKPOINT_FILE).write_bytes(b"weights")
    write_json(results / "open_questions" / "study.json", {"key": {}})
    (results / "open_questions" / "comparisons.csv").write_text("variant,M\nattention,1\n")
    stages = publish.dirty_stages(results)
    assert [stage.name for stage in stages] == ["open questions: attention training seed=0 M=1"]
    assert stages[0].remove == [
        "open_questions/attention/seed0/M1/training.json",
        "open_questions/attention/seed0/M1/checkpoint.pt",
        "open_questions/study.json",  # notebook 05 reruns only when its record is gone
    ]
    advice = publish.redo_advice(results, stages, "./run_all.sh --publish", set(), command_open_questions=False)
    assert "only with --open-questions or --open-questions-only" in advice
