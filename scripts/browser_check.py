"""Browser check: notebooks opened and run through JupyterLab's UI in a real browser (Chromium via Playwright).

What it checks, for each notebook given (default ``notebooks/01_data_preparation.ipynb`` alone):

* JupyterLab (the project's pinned one, ``requirements-jupyterlab.txt``) starts from the project root and
  answers, on 127.0.0.1, on a free port, with a random token;
* the notebook opens with the project's kernel, "Python (aac-subsampling)" (installed by
  ``scripts/setup_env.sh``), and no dialog asks for another one;
* Run > Run All Cells, clicked in the menu, runs every code cell and the kernel goes back to idle within
  ``--timeout`` seconds (for each notebook);
* no cell shows an error: no ``error`` output in the notebook's model, no stderr output holding a
  "Traceback", no "Error displaying widget" (the progress bars are live widgets here, as for a reader);
* no cell output shows NaN as a value: the word "NaN" (not "NaNo" or "nano") in an output's text/plain or
  text/html (the text a reader sees of it, e.g. a table cell) or in a stream; ``--allow-nan`` turns this off;
* the notebook file on disk is byte for byte what it was before (autosave is off; nothing is saved).

Several notebooks (``--notebook A B ...``) are a reader's path through the project: they run one after the
other, in the order given, in the same JupyterLab and browser page. Each one's tab is closed (its changes
discarded) and its kernel shut down before the next one is opened, as from the file browser; a later notebook
reads what the earlier ones wrote. The check stops at the first notebook that fails (the later ones need what
it writes) and says which were not run.

It keeps a screenshot of each executed notebook (``results/browser_check/<notebook stem>.png``, or
``--screenshot PATH`` for a single notebook; ``results/`` is not committed), also of one that failed, and
prints a short report: one line per notebook (cells run, seconds, the slowest cells), the stderr outputs that
are not errors, what failed, and OK or FAILED overall; it exits 0 if every notebook passed, else 1. JupyterLab
is always stopped, also on Ctrl-C.

It changes nothing of the user's: JupyterLab's settings, workspaces and runtime files, the Jupyter
configuration and data folders (the notebook-trust database) and IPython's folder (history) are temporary
folders, deleted afterwards (the kernel and JupyterLab's extensions come from the environment), and the
checkpoints JupyterLab writes under ``notebooks/.ipynb_checkpoints/`` are removed again if they were not there
before. The kernels get ``AAC_PROFILE=smoke`` (``--profile``), so the notebooks run the tiny profile and
write where a smoke run writes (``results/smoke/``, or ``$AAC_RESULTS_DIR`` when set): a later notebook run
alone (``--notebook notebooks/02_training.ipynb`` ...) needs what the earlier ones wrote there.

Needs, besides the project's environment with JupyterLab (``pip install -r requirements-jupyterlab.txt``):

* Playwright's Python package, which is not one of the project's pins (only this check uses it):
  ``pip install playwright``. Playwright's own browser download (``playwright install``) is not needed;
* a Chromium installed by the system, e.g. ``apt-get install chromium`` (Debian) or Google Chrome; found
  as ``chromium``, ``chromium-browser``, ``google-chrome`` or ``google-chrome-stable`` on PATH, or given with
  ``--chromium PATH``.

Run it from the project's environment (takes a minute or two for notebook 01 on the smoke profile):

    source .venv/bin/activate
    python scripts/browser_check.py
    python scripts/browser_check.py --notebook notebooks/02_training.ipynb --timeout 1800
    python scripts/browser_check.py --chromium /usr/bin/chromium --screenshot /tmp/01.png

and a reader's whole path, notebooks 01 to 04 in one JupyterLab (``--timeout`` is per notebook):

    python scripts/browser_check.py --notebook notebooks/0[1-4]*.ipynb --timeout 1800

It is not part of CI (no room in its time budget); ``tests/test_browser_check.py`` tests the parts that need
no browser.
"""

from __future__ import annotations

import argparse
import html
import importlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aac_subsampling.base.progress import TEXT_PROGRESS_ENV  # set, the kernel would draw text bars

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NOTEBOOK = "notebooks/01_data_preparation.ipynb"
EXPECTED_KERNEL = "Python (aac-subsampling)"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HOST = "127.0.0.1"
# JupyterLab user settings written into the temporary settings folder: nothing may save the notebook, no news
# toast may cover it, every cell is in the page (so the checks and the screenshot see them all), and each
# cell's run time is recorded in the (unsaved) model for the report.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "recordTiming": True},
}
VIEWPORT = {"width": 1400, "height": 900}
MAX_SCREENSHOT_HEIGHT = 16000  # Chromium's limit on one capture is about 16384 pixels
STDERR_SELECTOR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# NaN shown as a value (a failed metric, a hole in a table); a whole word, so "NaNo" or "nano" is not one.
NAN_PATTERN = re.compile(r"\bNaN\b")
# The parts of an HTML output a reader does not see as text: its stylesheet, its scripts, its tags.
HTML_HIDDEN_PATTERN = re.compile(r"<(style|script)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)


class CheckFailed(Exception):
    """A check failed, or the check could not be run; the message says which and what to do."""


# --- arguments, and what needs no browser ------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Open notebooks in JupyterLab in Chromium (Playwright), one after the other, run all their "
        "cells through the UI, check that none fails, shows NaN or is changed on disk, and keep screenshots.",
    )
    parser.add_argument(
        "--notebook",
        dest="notebooks",
        nargs="+",
        default=[DEFAULT_NOTEBOOK],
        metavar="NOTEBOOK",
        help="the notebooks, relative to the project root or absolute, inside the project; several are run one "
        "after the other, in the order given, in one JupyterLab, stopping at the first that fails "
        f"(default {DEFAULT_NOTEBOOK})",
    )
    parser.add_argument(
        "--chromium",
        default=None,
        metavar="PATH",
        help=f"the Chromium (or Chrome) executable; default: the first of {', '.join(CHROMIUM_NAMES)} on PATH",
    )
    parser.add_argument(
        "--screenshot",
        default=None,
        metavar="PATH",
        help="where to save the screenshot, with a single --notebook only "
        "(default results/browser_check/<notebook stem>.png, for each notebook)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="how long all cells of one notebook may take, until the kernel is idle again; per notebook (default 900)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long JupyterLab may take to answer, and each notebook to open with its kernel (default 120)",
    )
    parser.add_argument(
        "--profile", default="smoke", help="AAC_PROFILE for the kernel (default smoke: a run of a minute or two)"
    )
    parser.add_argument(
        "--allow-nan",
        action="store_true",
        help="do not fail when a cell output shows NaN (by default the word NaN in any output fails the check)",
    )
    parser.add_argument(
        "--headed", action="store_true", help="show the browser window (needs a display) instead of running headless"
    )
    args = parser.parse_args(argv)
    if args.timeout <= 0 or args.startup_timeout <= 0:
        parser.error("--timeout and --startup-timeout must be positive")
    if args.screenshot and len(args.notebooks) > 1:
        parser.error(
            f"--screenshot: only with a single --notebook (got {len(args.notebooks)}); "
            "with several, each gets results/browser_check/<notebook stem>.png"
        )
    notebooks = []
    for given in args.notebooks:
        notebook = Path(given)
        notebook = (notebook if notebook.is_absolute() else ROOT / notebook).resolve()
        if notebook.suffix != ".ipynb":
            parser.error(f"--notebook {given}: not a .ipynb file")
        if not notebook.is_relative_to(ROOT):
            parser.error(f"--notebook {given}: not inside the project ({ROOT}), where JupyterLab serves files")
        notebooks.append(notebook)
    args.notebooks = notebooks
    args.screenshot = Path(args.screenshot) if args.screenshot else None
    args.screenshots = [args.screenshot] if args.screenshot else [default_screenshot(n) for n in notebooks]
    return args


def default_screenshot(notebook: Path) -> Path:
    return ROOT / "results" / "browser_check" / f"{notebook.stem}.png"


def checkpoint_path(notebook: Path) -> Path:
    """Where JupyterLab keeps the notebook's checkpoint (it writes one when it opens a notebook without one)."""
    return notebook.parent / ".ipynb_checkpoints" / f"{notebook.stem}-checkpoint{notebook.suffix}"


def find_chromium(explicit: str | None = None) -> str:
    """The Chromium to drive: ``explicit`` if given (it must exist), else the first of CHROMIUM_NAMES on PATH."""
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        found = shutil.which(explicit)
        if found:
            return found
        raise CheckFailed(f"--chromium {explicit}: no such executable")
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise CheckFailed(
        f"no Chromium found: none of {', '.join(CHROMIUM_NAMES)} is on PATH. Install one "
        "(Debian/Ubuntu: apt-get install chromium) or give its executable with --chromium PATH."
    )


def free_port(host: str = HOST) -> int:
    """A TCP port free on ``host`` now (the system picks it); JupyterLab is told not to try others."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def new_token() -> str:
    return secrets.token_hex(24)


def base_url(port: int) -> str:
    return f"http://{HOST}:{port}"


def notebook_url(port: int, token: str, notebook: Path, root: Path = ROOT) -> str:
    """The address that opens ``notebook`` (inside ``root``, which JupyterLab serves) in JupyterLab."""
    relative = notebook.resolve().relative_to(root.resolve()).as_posix()
    return f"{base_url(port)}/lab/tree/{quote(relative)}?token={token}"


def lab_command(port: int, token: str, root: Path = ROOT) -> list[str]:
    """JupyterLab from this interpreter's environment: local only, on ``port``, with ``token``, no browser."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: the checks read the notebook's model
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # a container's root: local only, behind a token
        command.append("--allow-root")
    return command


def lab_environment(scratch: Path, profile: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of JupyterLab and of its kernels: the profile, and the user's Jupyter folders replaced
    by folders under ``scratch`` (a temporary folder), so that nothing of the user's is read or written."""
    env = dict(os.environ if base is None else base)
    env["AAC_PROFILE"] = profile
    env.pop(TEXT_PROGRESS_ENV, None)  # widgets, as a reader gets them
    for variable, folder in (
        ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),  # the notebook-trust database (the kernels and extensions are the env's)
        ("IPYTHONDIR", "ipython"),
    ):
        env[variable] = str(scratch / folder)
    return env


def write_lab_settings(settings_dir: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2) + "\n")


def _iso_seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def cell_seconds(cell: dict[str, Any]) -> float | None:
    """How long a code cell ran, from the timing JupyterLab records in its metadata (recordTiming)."""
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        return _iso_seconds(timing["shell.execute_reply"]) - _iso_seconds(timing["iopub.execute_input"])
    except (KeyError, TypeError, ValueError):
        return None


def notebook_code_cells(notebook: dict[str, Any]) -> list[dict[str, Any]]:
    """The code cells of a notebook's model (nbformat JSON), in order: the cells every check numbers from 1."""
    return [cell for cell in notebook.get("cells", []) if cell.get("cell_type") == "code"]


def widget_outputs(notebook: dict[str, Any]) -> int:
    """How many outputs of an executed notebook's model are widgets (the progress bars, live)."""
    cells = notebook_code_cells(notebook)
    return sum(WIDGET_MIME in output.get("data", {}) for cell in cells for output in cell.get("outputs", []))


def notebook_problems(notebook: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(errors, notes) about an executed notebook's model (nbformat JSON): error outputs, tracebacks on stderr
    and code cells that did not run are errors; other stderr outputs (warnings) are notes. Cells are numbered
    among the code cells, from 1."""
    errors: list[str] = []
    notes: list[str] = []
    code_cells = notebook_code_cells(notebook)
    for index, cell in enumerate(code_cells, start=1):
        if not "".join(cell.get("source", "")).strip():
            continue
        if cell.get("execution_count") is None:
            errors.append(f"code cell {index} did not run")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                errors.append(f"code cell {index} raised {output.get('ename')}: {output.get('evalue')}")
            elif output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = "".join(output.get("text", ""))
                if "Traceback" in text:
                    errors.append(f"code cell {index} printed a traceback: {_first_line(text, 'Traceback')}")
                else:
                    notes.append(f"code cell {index} wrote to stderr: {_first_line(text)}")
    return errors, notes


def _first_line(text: str, containing: str = "") -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and containing in line]
    line = lines[0] if lines else text.strip()
    return line if len(line) <= 160 else line[:157] + "..."


def nan_outputs(notebook: dict[str, Any]) -> list[str]:
    """Code cells of an executed notebook's model (nbformat JSON) whose outputs show NaN as a value, one message
    per cell with an excerpt around the first one. Read: the text/plain and text/html of results and displays
    (of HTML, the text a reader sees) and streams. Cells are numbered among the code cells, from 1."""
    found: list[str] = []
    code_cells = notebook_code_cells(notebook)
    for index, cell in enumerate(code_cells, start=1):
        for text in _output_texts(cell):
            match = NAN_PATTERN.search(text)
            if match:
                found.append(f"code cell {index} shows NaN: {_excerpt(text, match.start(), match.end())!r}")
                break  # one message a cell: a table with NaN shows it in its text/plain and its text/html
    return found


def html_text(markup: str) -> str:
    """The text of an HTML output as a reader sees it: without its style sheet, scripts and tags."""
    return html.unescape(HTML_HIDDEN_PATTERN.sub(" ", markup))


def _output_texts(cell: dict[str, Any]):
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            yield "".join(output.get("text", ""))
        elif output.get("output_type") in ("execute_result", "display_data"):
            data = output.get("data", {})
            if "text/plain" in data:
                yield "".join(data["text/plain"])
            if "text/html" in data:
                yield html_text("".join(data["text/html"]))


def _excerpt(text: str, start: int, end: int, context: int = 40) -> str:
    before, after = max(start - context, 0), min(end + context, len(text))
    excerpt = " ".join(text[before:after].split())
    return ("..." if before else "") + excerpt + ("..." if after < len(text) else "")


# --- JupyterLab -----------------------------------------------------------------------------------------


@dataclass
class Lab:
    process: subprocess.Popen
    port: int
    token: str
    log: Path

    def api(self, path: str, timeout: float = 5.0) -> Any:
        request = urllib.request.Request(
            f"{base_url(self.port)}{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def start_lab(scratch: Path, profile: str) -> Lab:
    port, token = free_port(), new_token()
    env = lab_environment(scratch, profile)
    for variable in ("JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR",
                     "IPYTHONDIR"):  # fmt: skip
        Path(env[variable]).mkdir(parents=True, exist_ok=True)
    write_lab_settings(Path(env["JUPYTERLAB_SETTINGS_DIR"]))
    log = scratch / "jupyterlab.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            lab_command(port, token),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C reaches this script, which stops it
        )
    return Lab(process, port, token, log)


def wait_until_answering(lab: Lab, timeout: float) -> str:
    """Wait until JupyterLab's server answers an authenticated request; its version."""
    deadline = time.monotonic() + timeout
    while True:
        if lab.process.poll() is not None:
            raise CheckFailed(f"JupyterLab exited with status {lab.process.returncode}; its log:\n{lab.log_tail()}")
        try:
            lab.api("/api/status", timeout=2)
            return lab.api("/api").get("version", "?")
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            pass
        if time.monotonic() > deadline:
            raise CheckFailed(f"JupyterLab did not answer on port {lab.port} within {timeout:.0f} s; its log:\n"
                              f"{lab.log_tail()}")  # fmt: skip
        time.sleep(0.5)


def stop_lab(lab: Lab, grace: float = 20.0) -> None:
    """Stop JupyterLab (SIGTERM: it shuts its kernels down), then its process group if anything is left."""
    if lab.process.poll() is None:
        lab.process.send_signal(signal.SIGTERM)
        try:
            lab.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:  # the group of the process started above: JupyterLab and the kernels it started
        os.killpg(lab.process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    lab.process.wait(timeout=grace)


# --- the browser --------------------------------------------------------------------------------------


@dataclass
class NotebookResult:
    """What the check found for one notebook; it passed if ``errors`` is empty."""

    notebook: Path
    kernel: str = ""
    seconds: float = 0.0
    widgets: int = 0
    model: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    screenshot: Path | None = None


def _playwright():
    """``playwright.sync_api``. Imported by name at run time: Playwright is not one of the project's pins (only
    this optional check uses it), and the tests of this script run without it."""
    try:
        return importlib.import_module("playwright.sync_api")
    except ModuleNotFoundError:
        raise CheckFailed(
            "Playwright is not installed: `pip install playwright` into this environment "
            "(no `playwright install` needed: the system's Chromium is used)"
        ) from None


def _visible_dialog(page) -> str | None:
    dialogs = page.locator(".jp-Dialog")
    if dialogs.count() and dialogs.first.is_visible():
        return " ".join(dialogs.first.inner_text().split())
    return None


def _kernel_name(page) -> str:
    names = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar-kernelName")
    return " ".join(names.first.inner_text().split()) if names.count() else ""


def _execution_status(page) -> str:
    indicator = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator")
    return (indicator.first.get_attribute("data-status") or "") if indicator.count() else ""


def _prompts(page) -> list[str]:
    return page.eval_on_selector_all(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt",
        "nodes => nodes.map(node => node.textContent.trim())",
    )


# The notebook's tab in the page, found by its path (JupyterLab's, relative to the project root); the current tab
# if none matches (one notebook is open at a time, and Run All ran in the current one).
NOTEBOOK_WIDGET_JS = """(app, path) =>
    Array.from(app.shell.widgets('main')).find(widget => widget.context && widget.context.path === path)
    || app.shell.currentWidget"""


def _lab_path(notebook: Path) -> str:
    """The notebook's path as JupyterLab names it: relative to the project root, which it serves."""
    return notebook.resolve().relative_to(ROOT).as_posix()


def _has_app(page) -> bool:
    return page.evaluate("() => Boolean(window.jupyterapp)")


def _model(page, path: str) -> dict[str, Any] | None:
    """The notebook's model as nbformat JSON (what saving would write), from window.jupyterapp."""
    return page.evaluate(
        f"""path => {{
            const app = window.jupyterapp;
            const widget = app && ({NOTEBOOK_WIDGET_JS})(app, path);
            return widget && widget.context ? widget.context.model.toJSON() : null;
        }}""",
        path,
    )


def _open_in_lab(page, path: str) -> None:
    """Open a notebook in the JupyterLab already in the page, as a double click in its file browser does."""
    page.evaluate("path => window.jupyterapp.commands.execute('docmanager:open', {path}).then(() => null)", path)


def _close_and_shut_down(page, path: str) -> None:
    """Close the notebook's tab, discarding what Run All changed in it, and shut its kernel down; waits until
    the server has stopped the kernel, so the next notebook runs alone."""
    page.evaluate(
        f"""async path => {{
            const app = window.jupyterapp;
            const widget = ({NOTEBOOK_WIDGET_JS})(app, path);
            if (!widget || !widget.context) return;
            const session = widget.context.sessionContext.session;
            const sessionId = session ? session.id : null;
            // dispose, not close: closing a changed notebook opens a dialog asking whether to save it
            widget.dispose();
            if (sessionId) await app.serviceManager.sessions.shutdown(sessionId);
        }}""",
        path,
    )


def _wait(condition, timeout: float, poll: float = 0.5) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


def _screenshot(page, path: Path) -> None:
    """The whole notebook: the window is made as tall as the notebook's scrolled content, then captured."""
    extra = page.evaluate(
        """() => {
            const scroller = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');
            return scroller ? scroller.scrollHeight - scroller.clientHeight : 0;
        }"""
    )
    height = min(VIEWPORT["height"] + max(int(extra), 0) + 40, MAX_SCREENSHOT_HEIGHT)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    page.wait_for_timeout(500)
    page.evaluate(  # Run All leaves the notebook scrolled to its last cell
        """() => {
            const scroller = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');
            if (scroller) scroller.scrollTop = 0;
        }"""
    )
    page.wait_for_timeout(1000)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


def _keep_screenshot(api, page, path: Path, result: NotebookResult) -> None:
    try:
        _screenshot(page, path)
        result.screenshot = path
    except api.Error as error:  # a failed screenshot must not hide the check's own failure
        print(f"browser_check: no screenshot: {_first_line(error.message)}", file=sys.stderr)


def run_in_browser(
    lab: Lab, chromium: str, args: argparse.Namespace, originals: dict[Path, bytes], results: list[NotebookResult]
) -> None:
    """Run ``args.notebooks`` one after the other in one browser page, appending each one's result to
    ``results``; stop after the first that fails (the later ones need what it writes). ``originals``: each
    notebook's file as it was before."""
    api = _playwright()
    try:
        with api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=not args.headed)
            try:
                page = browser.new_page(viewport=VIEWPORT)
                for position, (notebook, screenshot) in enumerate(zip(args.notebooks, args.screenshots)):
                    if len(args.notebooks) > 1:
                        print(f"browser_check: [{position + 1}/{len(args.notebooks)}] {_lab_path(notebook)}")
                    result = _run_notebook(api, page, lab, notebook, screenshot, originals[notebook], args,
                                           first=position == 0)  # fmt: skip
                    results.append(result)
                    if result.errors:
                        break
            finally:
                browser.close()
    except api.Error as error:
        raise CheckFailed(f"the browser step failed: {error.message.strip()}") from None


def _run_notebook(
    api, page, lab: Lab, notebook: Path, screenshot: Path, original: bytes, args: argparse.Namespace, first: bool
) -> NotebookResult:
    """Open one notebook, run all its cells and check them, keep its screenshot and, if it passed, close it."""
    result = NotebookResult(notebook)
    path = _lab_path(notebook)
    try:
        page.set_viewport_size(VIEWPORT)  # the previous notebook's screenshot made the window tall
        if first:
            page.goto(notebook_url(lab.port, lab.token, notebook), timeout=args.startup_timeout * 1000)
        else:  # the page stays: the reader opens the next notebook in the same JupyterLab
            _open_in_lab(page, path)
        _drive(page, path, result, args.timeout, args.startup_timeout)
        if not args.allow_nan:
            result.errors.extend(nan_outputs(result.model))
    except CheckFailed as error:
        result.errors.append(str(error))
    except api.Error as error:
        result.errors.append(f"the browser step failed: {_first_line(error.message)}")
    _keep_screenshot(api, page, screenshot, result)  # also of a failure: it shows what went wrong
    try:
        _page_problems(page, result)
    except api.Error as error:
        result.errors.append(f"reading the page failed: {_first_line(error.message)}")
    if not result.errors:
        try:
            _close_and_shut_down(page, path)
        except api.Error as error:
            result.errors.append(f"closing the notebook and shutting its kernel down failed: "
                                 f"{_first_line(error.message)}")  # fmt: skip
    if notebook.read_bytes() != original:
        result.errors.append(changed_on_disk(path))
    return result


def _drive(page, path: str, result: NotebookResult, timeout: float, startup_timeout: float) -> None:
    def opened() -> bool:
        dialog = _visible_dialog(page)
        if dialog:
            raise CheckFailed(f"a dialog is open instead of the notebook's kernel: {dialog!r}")
        # "No Kernel" until the session exists; the indicator is idle once the kernel has started
        return _kernel_name(page) not in ("", "No Kernel") and _execution_status(page) == "idle"

    if not _wait(opened, startup_timeout):
        raise CheckFailed(f"the notebook did not open with an idle kernel within {startup_timeout:.0f} s "
                          f"(kernel shown: {_kernel_name(page)!r}, status {_execution_status(page)!r})")  # fmt: skip
    result.kernel = _kernel_name(page)
    if result.kernel != EXPECTED_KERNEL:
        raise CheckFailed(f"the notebook opened with the kernel {result.kernel!r}, not {EXPECTED_KERNEL!r} "
                          "(scripts/setup_env.sh installs it)")  # fmt: skip
    if not _has_app(page):
        raise CheckFailed("window.jupyterapp is missing: JupyterLab did not expose its app to the page")
    if _model(page, path) is None:
        raise CheckFailed(f"JupyterLab's app in the page has no notebook {path} open")

    # Run > Run All Cells, through the menu bar.
    page.locator(".lm-MenuBar-itemLabel").filter(has_text=re.compile(r"^Run$")).first.click()
    page.locator(".lm-Menu-itemLabel").filter(has_text=re.compile(r"^Run All Cells$")).first.click()
    started = time.monotonic()

    stable = 0

    def finished() -> bool:
        nonlocal stable
        dialog = _visible_dialog(page)
        if dialog:
            raise CheckFailed(f"a dialog opened while the cells ran: {dialog!r}")
        status = _execution_status(page)
        if status in ("dead", "restarting", "autorestarting"):
            raise CheckFailed(f"the kernel died while the cells ran (status {status!r})")
        busy = status != "idle" or any("*" in prompt for prompt in _prompts(page))
        stable = 0 if busy else stable + 1
        return stable >= 3 and time.monotonic() - started > 2  # idle, and no cell queued, for 3 polls in a row

    if not _wait(finished, timeout):
        pending = [index for index, prompt in enumerate(_prompts(page), start=1) if "*" in prompt]
        raise CheckFailed(f"the cells did not finish within {timeout:.0f} s (--timeout, per notebook); code "
                          f"cells still queued or running (numbered from 1): {pending}")  # fmt: skip
    result.seconds = time.monotonic() - started
    result.model = _model(page, path) or {}
    result.errors, result.notes = notebook_problems(result.model)
    result.widgets = widget_outputs(result.model)


def _page_problems(page, result: NotebookResult) -> None:
    """What the reader sees: tracebacks and broken widgets in the page itself. Called once the window is as tall
    as the notebook (the screenshot's): JupyterLab keeps only the cells near the window in the page."""
    for text in page.locator(STDERR_SELECTOR).all_inner_texts():
        if "Traceback" in text:
            result.errors.append(f"an output in the page shows a traceback: {_first_line(text, 'Traceback')}")
    body = page.locator("body").inner_text()
    if "Error displaying widget" in body:
        result.errors.append(f"the page shows {_first_line(body, 'Error displaying widget')!r}")


# --- the whole check ------------------------------------------------------------------------------------


def changed_on_disk(path: str) -> str:
    return f"{path} changed on disk: opening and running it must not save it"


def notebooks_not_run(notebooks: list[Path], results: list[NotebookResult]) -> list[Path]:
    """The notebooks the check did not run: those after the first one that failed (each needs what the earlier
    ones wrote), and those after where the check stopped."""
    ran = next((position + 1 for position, result in enumerate(results) if result.errors), len(results))
    return list(notebooks[ran:])


def _slowest(notebook: dict[str, Any], count: int = 3) -> list[str]:
    code_cells = notebook_code_cells(notebook)
    timed = [(cell_seconds(cell), index) for index, cell in enumerate(code_cells, start=1)]
    timed = sorted(((s, i) for s, i in timed if s is not None), reverse=True)[:count]
    return [f"code cell {index} {seconds:.1f} s" for seconds, index in timed]


def check(args: argparse.Namespace, results: list[NotebookResult]) -> None:
    """Run the whole check, appending to ``results`` one result per notebook run; CheckFailed when it cannot
    run (no Chromium, no Playwright, JupyterLab does not answer, the browser fails outside a notebook)."""
    missing = [str(notebook) for notebook in args.notebooks if not notebook.is_file()]
    if missing:
        raise CheckFailed(f"no notebook {', '.join(missing)}")
    chromium = find_chromium(args.chromium)
    _playwright()  # fail before starting anything when Playwright is missing
    originals = {notebook: notebook.read_bytes() for notebook in args.notebooks}
    checkpoints_existed = {checkpoint_path(n): checkpoint_path(n).exists() for n in args.notebooks}
    checkpoint_folders_existed = {checkpoint.parent: checkpoint.parent.exists() for checkpoint in checkpoints_existed}
    print(f"browser_check: {', '.join(_lab_path(n) for n in args.notebooks)} in JupyterLab, "
          f"AAC_PROFILE={args.profile}, browser {chromium}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="aac-browser-check-") as scratch:
        lab = start_lab(Path(scratch), args.profile)
        try:
            version = wait_until_answering(lab, args.startup_timeout)
            print(f"browser_check: JupyterLab (server {version}) answers on {base_url(lab.port)}")
            run_in_browser(lab, chromium, args, originals, results)
        finally:
            stop_lab(lab)
            for checkpoint, existed in checkpoints_existed.items():
                if not existed and checkpoint.exists():
                    checkpoint.unlink()
            for folder, existed in checkpoint_folders_existed.items():
                if not existed and folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
            changed = {notebook for notebook, before in originals.items() if notebook.read_bytes() != before}
            for notebook in changed:  # said here too, in case the check stopped earlier with another failure
                print(f"browser_check: FAILED: {_lab_path(notebook)} changed on disk (it must not be saved)",
                      file=sys.stderr)  # fmt: skip
    for result in results:  # a change after the notebook's own check (JupyterLab saving it on the way out)
        message = changed_on_disk(_lab_path(result.notebook))
        if result.notebook in changed and message not in result.errors:
            result.errors.append(message)


def report(notebooks: list[Path], results: list[NotebookResult], failure: str | None = None) -> bool:
    """Print one line per notebook run, its notes and errors, the notebooks not run and OK or FAILED overall
    (``failure``: what stopped the check outside a notebook); whether all passed."""
    for result in results:
        path = _lab_path(result.notebook)
        code_cells = notebook_code_cells(result.model)
        ran = sum(cell.get("execution_count") is not None for cell in code_cells)
        print(f"browser_check: {path}: {'FAILED' if result.errors else 'OK'}; {ran} of {len(code_cells)} code "
              f"cells ran in {result.seconds:.1f} s; slowest: {', '.join(_slowest(result.model)) or '-'}; "
              f"kernel {result.kernel!r}; widgets shown: {result.widgets}")  # fmt: skip
        for note in result.notes:
            print(f"browser_check: {path}: note: {note}")
        if result.screenshot:
            print(f"browser_check: {path}: screenshot {result.screenshot}")
        for error in result.errors:
            print(f"browser_check: FAILED: {path}: {error}", file=sys.stderr)
    if failure:
        print(f"browser_check: FAILED: {failure}", file=sys.stderr)
    not_run = notebooks_not_run(notebooks, results)
    if not_run:
        print(f"browser_check: not run (each needs what the earlier ones write): "
              f"{', '.join(_lab_path(n) for n in not_run)}")  # fmt: skip
    passed = not failure and not not_run and all(not result.errors for result in results)
    print("browser_check: " + ("OK" if passed else "FAILED"))
    return passed


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[NotebookResult] = []
    # SIGTERM as Ctrl-C: the `finally` blocks stop JupyterLab either way.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        check(args, results)
    except CheckFailed as error:
        if not results:  # nothing ran: the failure is all there is to say
            print(f"browser_check: FAILED: {error}", file=sys.stderr)
            return 1
        report(args.notebooks, results, failure=str(error))
        return 1
    except KeyboardInterrupt:
        print("browser_check: interrupted (JupyterLab, if it had started, is stopped)", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0 if report(args.notebooks, results) else 1


if __name__ == "__main__":
    sys.exit(main())
