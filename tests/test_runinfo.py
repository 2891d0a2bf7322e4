from __future__ import annotations

import json
import platform
import random
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import torch

from aac_subsampling.experiment import runinfo
from aac_subsampling.method import seeding

ROOT = Path(__file__).resolve().parents[1]


def test_run_metadata_is_complete_and_json_serialisable():
    meta = runinfo.run_metadata(seed=7, device="cpu")
    json.dumps(meta)  # must be storable as is
    for key in (
        "git_commit", "git_dirty", "versions", "device", "device_name", "torch_threads", "seed",
        "timestamp_utc",
    ):  # fmt: skip
        assert key in meta, key
    assert "hostname" not in meta and "python_executable" not in meta  # records get published
    assert meta["seed"] == 7
    assert meta["device"] == "cpu"
    assert meta["device_name"]
    assert meta["torch_threads"] == torch.get_num_threads()
    assert meta["versions"]["python"] == platform.python_version()
    assert meta["versions"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert set(runinfo.VERSIONED_PACKAGES) <= set(meta["versions"])
    stamp = datetime.fromisoformat(meta["timestamp_utc"])
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0
    assert abs((datetime.now(timezone.utc) - stamp).total_seconds()) < 60


def test_auto_device_resolves():
    meta = runinfo.run_metadata(seed=None, device="auto")
    assert meta["device_requested"] == "auto"
    assert meta["device"] == ("cuda" if torch.cuda.is_available() else "cpu")


def test_git_state_in_this_checkout():
    if not (ROOT / ".git").exists():
        pytest.skip(f"{ROOT} is not a git checkout")
    if shutil.which("git") is None:
        pytest.skip("no git executable on PATH")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:  # e.g. no commit yet, or git refuses the folder (safe.directory)
        pytest.skip(f"git cannot read HEAD here: {head.stderr.strip()}")
    state = runinfo.git_state(ROOT)
    assert state["commit"] == head.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{40}", state["commit"])
    assert isinstance(state["dirty"], bool)


def test_git_state_tolerates_no_repository_and_no_git(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert runinfo.git_state(tmp_path) == {"commit": None, "dirty": None}
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable at all
    assert runinfo.git_state(ROOT) == {"commit": None, "dirty": None}


def test_missing_package_version_is_none():
    versions = runinfo.package_versions(("surely-not-an-installed-package-xyz",))
    assert versions["surely-not-an-installed-package-xyz"] is None


def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_seed_everything_repeats_the_draws():
    seeding.seed_everything(123)
    first = _draws()
    seeding.seed_everything(123)
    assert _draws() == first
    seeding.seed_everything(124)
    assert _draws() != first
    assert torch.backends.cudnn.deterministic is True
    assert torch.backends.cudnn.benchmark is False


def test_a_notebook_run_by_hand_does_not_make_the_tree_dirty(tmp_path):
    """Outputs stored by running (or opening) a notebook change no code: the record says clean and names the
    notebook; a changed cell is a dirty tree."""
    import json
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    notebook = tmp_path / "notebooks" / "02_training.ipynb"
    notebook.parent.mkdir()
    cells = [{"cell_type": "code", "source": ["x = 1\n"], "outputs": [], "execution_count": None, "metadata": {}}]
    content = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    notebook.write_text(json.dumps(content))
    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "notebook")
    assert runinfo.git_state(tmp_path)["dirty"] is False

    cells[0] |= {"outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}], "execution_count": 3}
    content["metadata"] = {"kernelspec": {"name": "aac-subsampling"}}
    notebook.write_text(json.dumps(content, indent=2))
    state = runinfo.git_state(tmp_path)
    assert state["dirty"] is False and state["notebook_outputs"] == ["notebooks/02_training.ipynb"]
    assert runinfo.changed_files(tmp_path) == []

    cells[0]["source"] = ["x = 2\n"]
    notebook.write_text(json.dumps(content))
    assert runinfo.git_state(tmp_path)["dirty"] is True
    assert runinfo.changed_files(tmp_path) == [" M notebooks/02_training.ipynb"]
