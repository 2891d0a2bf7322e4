"""scripts/browser_check.py, the parts that need no browser and no JupyterLab: its arguments, the port, address,
token, command and environment it starts JupyterLab with, where it looks for Chromium and what it says when there
is none, and how it judges an executed notebook. Nothing here starts a browser or a server."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "browser_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("browser_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(spec.name, None)
        raise
    return module


@pytest.fixture(scope="module")
def bc():
    try:
        yield _load()
    finally:
        sys.modules.pop("browser_check", None)


def test_importing_the_script_needs_no_playwright(monkeypatch):
    monkeypatch.setitem(sys.modules, "playwright", None)  # `import playwright` would fail
    monkeypatch.delitem(sys.modules, "browser_check", raising=False)
    module = _load()
    monkeypatch.setitem(sys.modules, "browser_check", module)  # removed again after the test
    assert "pip install playwright" in module.__doc__ and "apt-get install chromium" in module.__doc__
    with pytest.raises(module.CheckFailed, match="pip install playwright"):
        module._playwright()


def test_default_arguments(bc):
    args = bc.parse_args([])
    assert args.notebook == ROOT / "notebooks" / "01_data_preparation.ipynb"
    assert args.screenshot == ROOT / "results" / "browser_check" / "01_data_preparation.png"
    assert args.chromium is None and args.profile == "smoke" and not args.headed
    assert args.timeout > 0 and args.startup_timeout > 0


def test_arguments_given(bc, tmp_path):
    args = bc.parse_args(
        ["--notebook", "notebooks/02_training.ipynb", "--chromium", "/opt/chrome", "--screenshot",
         str(tmp_path / "shot.png"), "--timeout", "60", "--startup-timeout", "30", "--profile", "quick"]
    )  # fmt: skip
    assert args.notebook == ROOT / "notebooks" / "02_training.ipynb"
    assert args.chromium == "/opt/chrome" and args.screenshot == tmp_path / "shot.png"
    assert (args.timeout, args.startup_timeout, args.profile) == (60.0, 30.0, "quick")
    # the default screenshot follows the notebook
    assert bc.parse_args(["--notebook", "notebooks/03_evaluation.ipynb"]).screenshot.name == "03_evaluation.png"


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--notebook", "README.md"], "not a .ipynb"),
        (["--notebook", "/tmp/elsewhere.ipynb"], "not inside the project"),
        (["--timeout", "0"], "must be positive"),
        (["--startup-timeout", "-5"], "must be positive"),
    ],
)
def test_bad_arguments_are_refused(bc, capsys, argv, says):
    with pytest.raises(SystemExit) as stopped:
        bc.parse_args(argv)
    assert stopped.value.code == 2
    assert says in capsys.readouterr().err


def test_free_port_is_free_on_localhost(bc):
    port = bc.free_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", port))  # still free: JupyterLab can take it


def test_tokens_are_long_random_hex(bc):
    tokens = {bc.new_token() for _ in range(5)}
    assert len(tokens) == 5
    assert all(len(token) == 48 and int(token, 16) >= 0 for token in tokens)


def test_notebook_url(bc, tmp_path):
    notebook = ROOT / "notebooks" / "01_data_preparation.ipynb"
    assert bc.notebook_url(8123, "abc123", notebook) == (
        "http://127.0.0.1:8123/lab/tree/notebooks/01_data_preparation.ipynb?token=abc123"
    )
    spaced = tmp_path / "a folder" / "my notebook.ipynb"
    assert bc.notebook_url(9000, "t", spaced, root=tmp_path) == (
        "http://127.0.0.1:9000/lab/tree/a%20folder/my%20notebook.ipynb?token=t"
    )


def test_lab_command_is_local_with_the_token_and_no_browser(bc):
    command = bc.lab_command(8123, "abc123")
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    for argument in (
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=8123",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=abc123",
        f"--ServerApp.root_dir={ROOT}",
    ):
        assert argument in command
    assert ("--allow-root" in command) == (os.geteuid() == 0)


def test_lab_environment_sets_the_profile_and_hides_the_users_jupyter_folders(bc, tmp_path):
    base = {"PATH": "/usr/bin", "AAC_PROFILE": "paper", "AAC_TEXT_PROGRESS": "1", "JUPYTERLAB_SETTINGS_DIR": "/home/x"}
    env = bc.lab_environment(tmp_path, "smoke", base)
    assert env["AAC_PROFILE"] == "smoke" and env["PATH"] == "/usr/bin"
    assert "AAC_TEXT_PROGRESS" not in env  # live widgets, as a reader gets them
    for variable in ("JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_RUNTIME_DIR",
                     "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR"):  # fmt: skip
        assert Path(env[variable]).parent == tmp_path, variable
    assert base["AAC_PROFILE"] == "paper" and base["AAC_TEXT_PROGRESS"] == "1"  # the caller's copy is untouched


def test_lab_settings_turn_autosave_off(bc, tmp_path):
    bc.write_lab_settings(tmp_path)
    docmanager = tmp_path / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings"
    assert json.loads(docmanager.read_text()) == {"autosave": False}
    tracker = json.loads((tmp_path / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").read_text())
    assert tracker["windowingMode"] == "none"


def test_no_chromium_found_says_how_to_get_one(bc, monkeypatch):
    asked = []
    monkeypatch.setattr(bc.shutil, "which", lambda name: asked.append(name))
    with pytest.raises(bc.CheckFailed) as failed:
        bc.find_chromium()
    message = str(failed.value)
    assert "no Chromium found" in message and "apt-get install chromium" in message and "--chromium PATH" in message
    assert asked == list(bc.CHROMIUM_NAMES)


def test_chromium_found_on_path(bc, monkeypatch):
    monkeypatch.setattr(
        bc.shutil, "which", lambda name: "/usr/bin/chromium-browser" if name == "chromium-browser" else None
    )
    assert bc.find_chromium() == "/usr/bin/chromium-browser"


def test_chromium_given_explicitly(bc, monkeypatch, tmp_path):
    monkeypatch.setattr(bc.shutil, "which", lambda name: None)
    executable = tmp_path / "my-chrome"
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    assert bc.find_chromium(str(executable)) == str(executable)
    with pytest.raises(bc.CheckFailed, match="no such executable"):
        bc.find_chromium(str(tmp_path / "missing"))


def test_main_without_chromium_fails_with_the_message_and_starts_nothing(bc, monkeypatch, capsys):
    monkeypatch.setattr(bc.shutil, "which", lambda name: None)
    monkeypatch.setattr(bc, "start_lab", lambda *args: pytest.fail("JupyterLab must not start"))
    assert bc.main([]) == 1
    assert "FAILED: no Chromium found" in capsys.readouterr().err


def _code(source, count, outputs=(), timing=None):
    cell = {"cell_type": "code", "source": source, "execution_count": count, "outputs": list(outputs), "metadata": {}}
    if timing:
        cell["metadata"]["execution"] = {"iopub.execute_input": timing[0], "shell.execute_reply": timing[1]}
    return cell


def test_notebook_problems(bc):
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": "# title", "metadata": {}},
            _code("x = 1", 1, [{"output_type": "stream", "name": "stderr", "text": "UserWarning: careful\n"}]),
            _code("1/0", 2, [{"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero"}]),
            _code("run()", 3, [{"output_type": "stream", "name": "stderr", "text": "Traceback (most recent call)\n"}]),
            _code("print('never')", None),
            _code("", None),  # an empty cell need not run
        ]
    }
    errors, notes = bc.notebook_problems(notebook)
    assert errors == [
        "code cell 2 raised ZeroDivisionError: division by zero",
        "code cell 3 printed a traceback: Traceback (most recent call)",
        "code cell 4 did not run",
    ]
    assert notes == ["code cell 1 wrote to stderr: UserWarning: careful"]
    assert bc.notebook_problems({"cells": [_code("x = 1", 1)]}) == ([], [])


def test_cell_seconds_from_jupyterlabs_timing(bc):
    timed = _code("x", 1, timing=("2026-01-01T10:00:00.500Z", "2026-01-01T10:00:03.000Z"))
    assert bc.cell_seconds(timed) == pytest.approx(2.5)
    assert bc.cell_seconds(_code("x", 1)) is None
