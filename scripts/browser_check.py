"""Browser check: one notebook opened and run through JupyterLab's UI in a real browser (Chromium via Playwright).

What it checks, for one notebook (default ``notebooks/01_data_preparation.ipynb``):

* JupyterLab (the project's pinned one, ``requirements-jupyterlab.txt``) starts from the project root and
  answers, on 127.0.0.1, on a free port, with a random token;
* the notebook opens with the project's kernel, "Python (aac-subsampling)" (installed by
  ``scripts/setup_env.sh``), and no dialog asks for another one;
* Run > Run All Cells, clicked in the menu, runs every code cell and the kernel goes back to idle within
  ``--timeout`` seconds;
* no cell shows an error: no ``error`` output in the notebook's model, no stderr output holding a
  "Traceback", no "Error displaying widget" (the progress bars are live widgets here, as for a reader);
* the notebook file on disk is byte for byte what it was before (autosave is off; nothing is saved).

It then keeps a screenshot of the whole executed notebook (``--screenshot``, default
``results/browser_check/<notebook stem>.png``; ``results/`` is not committed), prints a short report (the
slowest cells, the stderr outputs that are not errors) and exits 0; on any failure it says what failed and
exits 1. JupyterLab is always stopped, also on Ctrl-C.

It changes nothing of the user's: JupyterLab's settings, workspaces and runtime files, the Jupyter
configuration and data folders (the notebook-trust database) and IPython's folder (history) are temporary
folders, deleted afterwards (the kernel and JupyterLab's extensions come from the environment), and a
checkpoint JupyterLab writes under ``notebooks/.ipynb_checkpoints/`` is removed again if it was not there
before. The kernel gets ``AAC_PROFILE=smoke`` (``--profile``), so the notebook runs the tiny profile and
writes where a smoke run writes (``results/smoke/``, or ``$AAC_RESULTS_DIR`` when set): later notebooks
(``--notebook notebooks/02_training.ipynb`` ...) need what the earlier ones wrote there.

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

It is not part of CI (no room in its time budget); ``tests/test_browser_check.py`` tests the parts that need
no browser.
"""

from __future__ import annotations

import argparse
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
WIDGET_SELECTOR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.widget-view+json"]'


class CheckFailed(Exception):
    """A check failed, or the check could not be run; the message says which and what to do."""


# --- arguments, and what needs no browser ------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Open a notebook in JupyterLab in Chromium (Playwright), run all its cells through the UI, "
        "check that none fails and that the file is unchanged, and keep a screenshot.",
    )
    parser.add_argument(
        "--notebook",
        default=DEFAULT_NOTEBOOK,
        help=f"the notebook, relative to the project root or absolute, inside the project (default {DEFAULT_NOTEBOOK})",
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
        help="where to save the screenshot (default results/browser_check/<notebook stem>.png)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="how long all cells may take, until the kernel is idle again (default 900)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long JupyterLab may take to answer, and the notebook to open with its kernel (default 120)",
    )
    parser.add_argument(
        "--profile", default="smoke", help="AAC_PROFILE for the kernel (default smoke: a run of a minute or two)"
    )
    parser.add_argument(
        "--headed", action="store_true", help="show the browser window (needs a display) instead of running headless"
    )
    args = parser.parse_args(argv)
    if args.timeout <= 0 or args.startup_timeout <= 0:
        parser.error("--timeout and --startup-timeout must be positive")
    notebook = Path(args.notebook)
    notebook = (notebook if notebook.is_absolute() else ROOT / notebook).resolve()
    if notebook.suffix != ".ipynb":
        parser.error(f"--notebook {args.notebook}: not a .ipynb file")
    if not notebook.is_relative_to(ROOT):
        parser.error(f"--notebook {args.notebook}: not inside the project ({ROOT}), where JupyterLab serves files")
    args.notebook = notebook
    args.screenshot = Path(args.screenshot) if args.screenshot else default_screenshot(notebook)
    return args


def default_screenshot(notebook: Path) -> Path:
    return ROOT / "results" / "browser_check" / f"{notebook.stem}.png"


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


def notebook_problems(notebook: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(errors, notes) about an executed notebook's model (nbformat JSON): error outputs, tracebacks on stderr
    and code cells that did not run are errors; other stderr outputs (warnings) are notes. Cells are numbered
    among the code cells, from 1."""
    errors: list[str] = []
    notes: list[str] = []
    code_cells = [cell for cell in notebook.get("cells", []) if cell.get("cell_type") == "code"]
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
class BrowserResult:
    kernel: str = ""
    seconds: float = 0.0
    widgets: int = 0
    notebook: dict[str, Any] = field(default_factory=dict)
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


def _model(page) -> dict[str, Any]:
    """The open notebook's model as nbformat JSON (what saving would write), from window.jupyterapp."""
    return page.evaluate(
        """() => {
            const app = window.jupyterapp;
            const widget = app && app.shell.currentWidget;
            return widget && widget.context ? widget.context.model.toJSON() : null;
        }"""
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


def _keep_screenshot(api, page, path: Path, result: BrowserResult) -> None:
    try:
        _screenshot(page, path)
        result.screenshot = path
    except api.Error as error:  # a failed screenshot must not hide the check's own failure
        print(f"browser_check: no screenshot: {_first_line(error.message)}", file=sys.stderr)


def run_in_browser(
    lab: Lab, chromium: str, notebook: Path, screenshot: Path, timeout: float, startup_timeout: float, headed: bool
) -> BrowserResult:
    result = BrowserResult()
    url = notebook_url(lab.port, lab.token, notebook)
    api = _playwright()
    try:
        with api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=not headed)
            try:
                page = browser.new_page(viewport=VIEWPORT)
                try:
                    _drive(page, url, result, timeout, startup_timeout)
                except (CheckFailed, api.Error):  # the screenshot shows what went wrong (not taken on Ctrl-C)
                    _keep_screenshot(api, page, screenshot, result)
                    raise
                _keep_screenshot(api, page, screenshot, result)
            finally:
                browser.close()
    except api.Error as error:
        raise CheckFailed(f"the browser step failed: {error.message.strip()}") from None
    return result


def _drive(page, url: str, result: BrowserResult, timeout: float, startup_timeout: float) -> None:
    page.goto(url, timeout=startup_timeout * 1000)

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
    if _model(page) is None:
        raise CheckFailed("window.jupyterapp is missing: JupyterLab did not expose its app to the page")

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
        raise CheckFailed(f"the cells did not finish within {timeout:.0f} s (--timeout); code cells still "
                          f"queued or running (numbered from 1): {pending}")  # fmt: skip
    result.seconds = time.monotonic() - started
    result.notebook = _model(page)
    result.errors, result.notes = notebook_problems(result.notebook)

    # What the reader sees: tracebacks and broken widgets in the page itself.
    for text in page.locator(STDERR_SELECTOR).all_inner_texts():
        if "Traceback" in text:
            result.errors.append(f"an output in the page shows a traceback: {_first_line(text, 'Traceback')}")
    result.widgets = page.locator(WIDGET_SELECTOR).count()
    body = page.locator("body").inner_text()
    if "Error displaying widget" in body:
        result.errors.append(f"the page shows {_first_line(body, 'Error displaying widget')!r}")


# --- the whole check ------------------------------------------------------------------------------------


def _slowest(notebook: dict[str, Any], count: int = 3) -> list[str]:
    code_cells = [cell for cell in notebook.get("cells", []) if cell.get("cell_type") == "code"]
    timed = [(cell_seconds(cell), index) for index, cell in enumerate(code_cells, start=1)]
    timed = sorted(((s, i) for s, i in timed if s is not None), reverse=True)[:count]
    return [f"code cell {index} {seconds:.1f} s" for seconds, index in timed]


def check(args: argparse.Namespace) -> BrowserResult:
    notebook: Path = args.notebook
    if not notebook.is_file():
        raise CheckFailed(f"no notebook {notebook}")
    chromium = find_chromium(args.chromium)
    _playwright()  # fail before starting anything when Playwright is missing
    before = notebook.read_bytes()
    checkpoint = notebook.parent / ".ipynb_checkpoints" / f"{notebook.stem}-checkpoint{notebook.suffix}"
    checkpoints_existed, checkpoint_existed = checkpoint.parent.exists(), checkpoint.exists()
    relative = notebook.relative_to(ROOT)
    print(f"browser_check: {relative} in JupyterLab, AAC_PROFILE={args.profile}, browser {chromium}")
    with tempfile.TemporaryDirectory(prefix="aac-browser-check-") as scratch:
        lab = start_lab(Path(scratch), args.profile)
        try:
            version = wait_until_answering(lab, args.startup_timeout)
            print(f"browser_check: JupyterLab (server {version}) answers on {base_url(lab.port)}")
            result = run_in_browser(
                lab, chromium, notebook, args.screenshot, args.timeout, args.startup_timeout, args.headed
            )
        finally:
            stop_lab(lab)
            if not checkpoint_existed and checkpoint.exists():
                checkpoint.unlink()
            if not checkpoints_existed and checkpoint.parent.is_dir() and not any(checkpoint.parent.iterdir()):
                checkpoint.parent.rmdir()
            changed = notebook.read_bytes() != before
            if changed:  # said here too, in case the check stopped earlier with another failure
                print(f"browser_check: FAILED: {relative} changed on disk (it must not be saved)", file=sys.stderr)
    if changed:
        result.errors.append(f"{relative} changed on disk: opening and running it must not save it")
    return result


def report(args: argparse.Namespace, result: BrowserResult) -> None:
    code_cells = [cell for cell in result.notebook.get("cells", []) if cell.get("cell_type") == "code"]
    ran = sum(cell.get("execution_count") is not None for cell in code_cells)
    print(f"browser_check: kernel {result.kernel!r}; {ran} of {len(code_cells)} code cells ran in "
          f"{result.seconds:.1f} s; slowest: {', '.join(_slowest(result.notebook)) or '-'}; "
          f"widgets shown: {result.widgets}")  # fmt: skip
    for note in result.notes:
        print(f"browser_check: note: {note}")
    print(f"browser_check: file on disk unchanged: {not any('changed on disk' in e for e in result.errors)}")
    if result.screenshot:
        print(f"browser_check: screenshot {result.screenshot}")
    for error in result.errors:
        print(f"browser_check: FAILED: {error}", file=sys.stderr)
    print("browser_check: " + ("FAILED" if result.errors else "OK"))


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM as Ctrl-C: the `finally` blocks stop JupyterLab either way.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = check(args)
    except CheckFailed as error:
        print(f"browser_check: FAILED: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("browser_check: interrupted (JupyterLab, if it had started, is stopped)", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    report(args, result)
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
