"""Progress bars: text in the notebooks run_all.sh saves, widgets (with their state saved) by hand."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import tqdm.notebook
import tqdm.std

from aac_subsampling import run
from aac_subsampling.base import progress


def test_headless_runs_draw_text_bars_at_a_slow_rate(monkeypatch):
    monkeypatch.setenv(progress.TEXT_PROGRESS_ENV, "1")
    bar = progress.progress_bar(range(3), file=io.StringIO())
    assert isinstance(bar, tqdm.std.tqdm) and not isinstance(bar, tqdm.notebook.tqdm)
    assert bar.mininterval == progress.TEXT_MIN_INTERVAL_S


def test_the_setting_reaches_child_processes_and_is_restored(monkeypatch):
    monkeypatch.delenv(progress.TEXT_PROGRESS_ENV, raising=False)
    probe = [sys.executable, "-c", "from aac_subsampling.base import progress; print(progress.text_progress())"]
    with progress.text_progress_for_children():
        inside = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()
    assert inside == "True"
    assert progress.TEXT_PROGRESS_ENV not in os.environ
    assert subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_papermill_kernels_get_text_bars(monkeypatch, tmp_path):
    import papermill

    seen = {}

    def fake_execute(*args, **kwargs):
        seen["text"] = os.environ.get(progress.TEXT_PROGRESS_ENV)

    monkeypatch.delenv(progress.TEXT_PROGRESS_ENV, raising=False)
    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    run.execute_notebook(tmp_path / "in.ipynb", tmp_path / "out.ipynb", {}, "python3")
    assert seen["text"] == "1"
    assert progress.TEXT_PROGRESS_ENV not in os.environ


def test_setup_env_tells_jupyterlab_to_save_widget_state():
    """run_tests.sh runs scripts/setup_env.sh first, which writes JupyterLab's settings overrides."""
    overrides = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert json.loads(overrides.read_text())["@jupyter-widgets/jupyterlab-manager:plugin"]["saveState"] is True
