"""Publishing copies readable results with project-relative paths and refuses machine details."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aac_subsampling import publish
from aac_subsampling.base.paths import project_root
from aac_subsampling.experiment import layout
from aac_subsampling.experiment.pipeline import write_json

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "results" / "published"


def fake_results(folder: Path, **run: object) -> Path:
    root = project_root()
    write_json(
        folder / layout.PREPARED_RECORD,
        {"data_dir": "data/synthetic_smoke", "note": f"read from {root}/data/synthetic_smoke"},
    )
    record = layout.evaluation_record(folder, 0, 4)
    write_json(
        record, {"metrics": {"BLEU1": 0.5}, "run": {"git_dirty": False, **run}, "results": str(folder / "seed0" / "M4")}
    )
    (record.parent / layout.CHECKPOINT_FILE).write_bytes(b"weights")
    (folder / layout.LOCK_FILE).write_text("{}")
    (folder / "table1.csv").write_text("metric,M=4\nBLEU1,0.5\n")
    layout.executed_dir(folder).mkdir(parents=True, exist_ok=True)
    (layout.executed_dir(folder) / "04_results.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {"papermill": {"input_path": f"{root}/notebooks/04_results.ipynb"}}})
    )
    layout.figures_dir(folder).mkdir(parents=True, exist_ok=True)
    (layout.figures_dir(folder) / "metrics_vs_M.png").write_bytes(b"\x89PNG")
    return folder


def test_publish_copies_readable_results_with_relative_paths(tmp_path):
    results = fake_results(project_root() / "results" / "test_publish_tmp")
    try:
        target, figures = tmp_path / "published", tmp_path / "figures"
        publish.publish(results, "smoke", target, figures, require_clean_tree=False)
        names = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
        assert names == ["executed/04_results.ipynb", "prepared.json", "seed0/M4/evaluation.json", "table1.csv"]
        assert (figures / "metrics_vs_M.png").exists()
        for path in target.rglob("*.*"):
            text = path.read_text()
            assert str(project_root()) not in text
            assert publish.problems_in(text) == []
        evaluation = json.loads((target / "seed0/M4/evaluation.json").read_text())
        assert evaluation["results"] == "results/test_publish_tmp/seed0/M4"
        notebook = json.loads((target / "executed/04_results.ipynb").read_text())
        assert notebook["metadata"]["papermill"]["input_path"] == "notebooks/04_results.ipynb"
    finally:
        import shutil

        shutil.rmtree(results, ignore_errors=True)


# A top-level folder neither beside the project nor in the home folder, whose paths publish does not rewrite
# (a scratch path under /tmp is "beside the project" when the project itself is cloned into /tmp).
ELSEWHERE = "/" + next(
    name for name in ("tmp", "var", "opt", "srv") if name not in {project_root().parts[1], Path.home().parts[1]}
)


@pytest.mark.parametrize(
    "leak, message",
    [
        ({"git_dirty": True}, "dirty git tree"),
        ({"host": "build-host-42"}, "host name"),
        ({"scratch": f"{ELSEWHERE}/aac-eval-123/meteor"}, "absolute path"),
    ],
)
def test_publish_refuses_files_that_leak_machine_details(tmp_path, monkeypatch, leak, message):
    monkeypatch.setattr(publish.socket, "gethostname", lambda: "build-host-42")
    results = fake_results(tmp_path / "results", **leak)
    with pytest.raises(publish.PublishError, match=message):
        publish.publish(results, "smoke", tmp_path / "published", tmp_path / "figures", require_clean_tree=False)
    assert not (tmp_path / "published").exists()


def test_publish_needs_a_clean_tree(tmp_path, monkeypatch):
    monkeypatch.setattr(publish, "git_state", lambda: {"commit": "abc", "dirty": True})
    with pytest.raises(publish.PublishError, match="uncommitted changes"):
        publish.publish(fake_results(tmp_path / "results"), "smoke", tmp_path / "published", tmp_path / "figures")


def test_publish_needs_an_evaluation(tmp_path):
    (tmp_path / "results").mkdir()
    with pytest.raises(publish.PublishError, match="nothing to publish"):
        publish.publish(tmp_path / "results", "smoke", tmp_path / "p", tmp_path / "f", require_clean_tree=False)


def test_every_published_file_is_free_of_machine_details():
    files = [path for path in PUBLISHED.rglob("*") if path.is_file()] if PUBLISHED.exists() else []
    if not files:
        pytest.skip("nothing published yet")
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not publish.ABSOLUTE_PATH.search(text), f"{path}: absolute path"
        assert not publish.DIRTY_RECORD.search(text), f"{path}: made from a dirty tree"  # escaped in cell outputs too
        assert '"hostname"' not in text and '"python_executable"' not in text, path
