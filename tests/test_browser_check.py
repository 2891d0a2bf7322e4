"""scripts/browser_check.py, the parts that need no browser and no JupyterLab: its arguments, the port, address,
token, command and environment it starts JupyterLab with, where it looks for Chromium and what it says when there
is none, how it judges an executed notebook (errors, NaN shown), and how it goes through several notebooks and
reports them (with a stand-in for the browser). Nothing here starts a browser or a server."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import sys
from pathlib import Path
from types import SimpleNamespace

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
    assert args.notebooks == [ROOT / "notebooks" / "01_data_preparation.ipynb"]
    assert args.screenshots == [ROOT / "results" / "browser_check" / "01_data_preparation.png"]
    assert args.screenshot is None
    assert args.chromium is None and args.profile == "smoke" and not args.headed and not args.allow_nan
    assert args.timeout > 0 and args.startup_timeout > 0


def test_arguments_given(bc, tmp_path):
    args = bc.parse_args(
        ["--notebook", "notebooks/02_training.ipynb", "--chromium", "/opt/chrome", "--screenshot",
         str(tmp_path / "shot.png"), "--timeout", "60", "--startup-timeout", "30", "--profile", "quick"]
    )  # fmt: skip
    assert args.notebooks == [ROOT / "notebooks" / "02_training.ipynb"]
    assert args.chromium == "/opt/chrome" and args.screenshots == [tmp_path / "shot.png"]
    assert (args.timeout, args.startup_timeout, args.profile) == (60.0, 30.0, "quick")
    # the default screenshot follows the notebook
    assert bc.parse_args(["--notebook", "notebooks/03_evaluation.ipynb"]).screenshots[0].name == "03_evaluation.png"
    assert bc.parse_args(["--allow-nan"]).allow_nan


def test_several_notebooks_keep_their_order_and_each_gets_its_screenshot(bc):
    given = ["notebooks/03_evaluation.ipynb", "notebooks/01_data_preparation.ipynb", "notebooks/02_training.ipynb"]
    args = bc.parse_args(["--notebook", *given, "--timeout", "1800"])
    assert args.notebooks == [ROOT / name for name in given]
    assert [shot.name for shot in args.screenshots] == [
        "03_evaluation.png",
        "01_data_preparation.png",
        "02_training.png",
    ]
    assert args.timeout == 1800.0  # per notebook


def test_screenshot_with_several_notebooks_is_refused(bc, capsys):
    with pytest.raises(SystemExit) as stopped:
        bc.parse_args(["--notebook", "notebooks/01_data_preparation.ipynb", "notebooks/02_training.ipynb",
                       "--screenshot", "/tmp/shot.png"])  # fmt: skip
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "--screenshot" in err and "single --notebook" in err


def test_every_notebook_given_is_checked(bc, capsys):
    with pytest.raises(SystemExit):
        bc.parse_args(["--notebook", "notebooks/01_data_preparation.ipynb", "README.md"])
    assert "--notebook README.md: not a .ipynb" in capsys.readouterr().err


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


def _shown(text, kind="execute_result", mime="text/plain"):
    if kind == "stream":
        return {"output_type": "stream", "name": "stdout", "text": text}
    return {"output_type": kind, "data": {mime: text}, "metadata": {}}


DATAFRAME_HTML = """<div><style scoped>
    .dataframe tbody tr th:only-of-type { vertical-align: middle; }
</style>
<table border="1" class="dataframe">
  <thead><tr><th>method</th><th>M</th></tr></thead>
  <tbody>
    <tr><th>random</th><td>0.412</td></tr>
    <tr><th>entropy</th><td>NaN</td></tr>
  </tbody>
</table></div>"""


def test_nan_shown_in_a_table_cell_and_in_text(bc):
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": "NaN in prose is not an output", "metadata": {}},
            _code("x = 1", 1, [_shown("fine: 0.5\n", "stream")]),
            _code("table", 2, [_shown(DATAFRAME_HTML, "display_data", "text/html")]),
            _code("print(M)", 3, [_shown(["method   M\n", "random   NaN\n"])]),
            _code("log", 4, [_shown("loss NaN at step 3\n", "stream")]),
        ]
    }
    found = bc.nan_outputs(notebook)
    assert [message.split(":")[0] for message in found] == ["code cell 2 shows NaN", "code cell 3 shows NaN",
                                                            "code cell 4 shows NaN"]  # fmt: skip
    assert "entropy NaN" in found[0] and "<td>" not in found[0]  # the text the reader sees, not the markup
    assert "random NaN" in found[1]


def test_nan_only_as_a_whole_word_and_only_where_a_reader_sees_it(bc):
    hidden = '<script>var x = NaN;</script><style>/* NaN */</style><td title="NaN">0.5</td>'
    notebook = {
        "cells": [
            _code("a", 1, [_shown("NaNo rimo\n"), _shown("a nano second, NaNs counted: 0\n", "stream")]),
            _code("b", 2, [_shown(hidden, "display_data", "text/html")]),
            _code("c", 3, [{"output_type": "display_data", "data": {"image/png": "TmFOCg=="}, "metadata": {}}]),
        ]
    }
    assert bc.nan_outputs(notebook) == []


def test_nan_is_reported_once_a_cell_with_a_short_excerpt(bc):
    long_text = "x" * 300 + " M = NaN " + "y" * 300
    table = {"text/plain": "   M\n0  NaN", "text/html": "<td>NaN</td>"}
    notebook = {
        "cells": [
            _code("a", 1, [_shown(long_text)]),
            _code("b", 2, [{"output_type": "execute_result", "data": table, "metadata": {}, "execution_count": 2}]),
        ]
    }
    first, second = bc.nan_outputs(notebook)
    assert first.startswith("code cell 1 shows NaN: '...") and "M = NaN" in first and len(first) < 140
    assert second.startswith("code cell 2 shows NaN:")


def test_html_text_drops_style_scripts_and_tags(bc):
    assert bc.html_text("<style>td { x: NaN }</style><b>a &amp; b</b><script>NaN</script>").split() == ["a", "&", "b"]


def _result(bc, name, *errors):
    return bc.NotebookResult(ROOT / "notebooks" / name, errors=list(errors))


NOTEBOOKS = [ROOT / "notebooks" / name for name in ("01_a.ipynb", "02_b.ipynb", "03_c.ipynb", "04_d.ipynb")]


def test_notebooks_not_run_after_the_first_failure(bc):
    passed, failed = _result(bc, "01_a.ipynb"), _result(bc, "02_b.ipynb", "code cell 3 shows NaN: 'NaN'")
    assert bc.notebooks_not_run(NOTEBOOKS, [passed, failed]) == NOTEBOOKS[2:]
    assert bc.notebooks_not_run(NOTEBOOKS, [passed]) == NOTEBOOKS[1:]  # stopped (e.g. the browser failed)
    assert bc.notebooks_not_run(NOTEBOOKS, []) == NOTEBOOKS
    all_passed = [_result(bc, path.name) for path in NOTEBOOKS]
    assert bc.notebooks_not_run(NOTEBOOKS, all_passed) == []


def test_report_one_line_a_notebook_and_the_ones_not_run(bc, capsys):
    passed = _result(bc, "01_a.ipynb")
    passed.model = {"cells": [_code("x", 1, timing=("2026-01-01T10:00:00Z", "2026-01-01T10:00:04Z"))]}
    passed.seconds = 4.2
    failed = _result(bc, "02_b.ipynb", "code cell 1 raised ValueError: bad")
    assert bc.report(NOTEBOOKS[:3], [passed, failed]) is False
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("browser_check: notebooks/01_a.ipynb: OK; 1 of 1 code cells ran in 4.2 s; "
                               "slowest: code cell 1 4.0 s")  # fmt: skip
    assert lines[1].startswith("browser_check: notebooks/02_b.ipynb: FAILED;")
    assert "not run" in lines[2] and "notebooks/03_c.ipynb" in lines[2]
    assert lines[-1] == "browser_check: FAILED"
    assert "FAILED: notebooks/02_b.ipynb: code cell 1 raised ValueError: bad" in err

    assert bc.report(NOTEBOOKS[:1], [passed]) is True
    assert capsys.readouterr().out.splitlines()[-1] == "browser_check: OK"
    assert bc.report(NOTEBOOKS[:1], [passed], failure="the browser step failed: gone") is False


def _fake_playwright(launched):
    browser = SimpleNamespace(new_page=lambda **options: "page", close=lambda: launched.append("closed"))
    chromium = SimpleNamespace(launch=lambda **options: launched.append("launched") or browser)
    return SimpleNamespace(
        Error=type("Error", (Exception,), {}),
        sync_playwright=lambda: contextlib.nullcontext(SimpleNamespace(chromium=chromium)),
    )


def test_notebooks_run_in_order_in_one_browser_until_one_fails(bc, monkeypatch):
    launched, run = [], []

    def run_notebook(api, page, lab, notebook, screenshot, original, args, first):
        run.append((notebook.name, screenshot.name, original, first))
        return bc.NotebookResult(notebook, errors=["code cell 1 shows NaN: 'NaN'"] if notebook.name == "02_b.ipynb"
                                 else [])  # fmt: skip

    monkeypatch.setattr(bc, "_playwright", lambda: _fake_playwright(launched))
    monkeypatch.setattr(bc, "_run_notebook", run_notebook)
    monkeypatch.setattr("builtins.print", lambda *args, **kwargs: None)
    args = SimpleNamespace(notebooks=NOTEBOOKS, screenshots=[bc.default_screenshot(n) for n in NOTEBOOKS],
                           headed=False)  # fmt: skip
    originals = {notebook: notebook.name.encode() for notebook in NOTEBOOKS}
    results = []
    bc.run_in_browser(None, "/usr/bin/chromium", args, originals, results)
    assert run == [("01_a.ipynb", "01_a.png", b"01_a.ipynb", True), ("02_b.ipynb", "02_b.png", b"02_b.ipynb", False)]
    assert [result.notebook.name for result in results] == ["01_a.ipynb", "02_b.ipynb"]
    assert launched == ["launched", "closed"]  # one browser for all, closed afterwards


def test_checkpoint_path(bc):
    assert bc.checkpoint_path(ROOT / "notebooks" / "01_data_preparation.ipynb") == (
        ROOT / "notebooks" / ".ipynb_checkpoints" / "01_data_preparation-checkpoint.ipynb"
    )


def test_widget_outputs_counts_the_live_progress_bars_in_the_model():
    module = _load()
    widget = {"output_type": "display_data", "data": {module.WIDGET_MIME: {"model_id": "x"}, "text/plain": "bar"}}
    text = {"output_type": "stream", "name": "stderr", "text": "epochs: 100%"}
    notebook = {
        "cells": [
            {"cell_type": "code", "outputs": [widget, text]},
            {"cell_type": "markdown", "source": "no outputs"},
            {"cell_type": "code", "outputs": [widget, widget]},
        ]
    }
    assert module.widget_outputs(notebook) == 3
    assert module.widget_outputs({"cells": []}) == 0
