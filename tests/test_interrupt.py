"""Interrupting the run engine alone (SIGINT or SIGTERM to its pid, not to its process group) stops the notebook
it is running: before, multiprocessing made the engine wait for the notebook's process to finish."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time

import psutil
import pytest

pytestmark = pytest.mark.slow

# A shell without job control (CI, `cmd &`) starts its children with SIGINT ignored; a terminal's Ctrl-C reaches a
# process that has Python's handler, so the driver restores it.
DRIVER = """
import signal
import sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from pathlib import Path
from aac_subsampling.run import execute_in_subprocess
execute_in_subprocess(Path(sys.argv[1]), Path(sys.argv[2]), {}, "python3", Path(sys.argv[3]))
"""

AS_MAIN_DOES = """
import signal
from aac_subsampling.run import _raise_interrupt
signal.signal(signal.SIGTERM, _raise_interrupt)
"""  # run.main's handler: SIGTERM raises KeyboardInterrupt


def _sleeping_notebook(path, marker):
    source = f"import os, time\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\ntime.sleep(300)"
    cell = {"cell_type": "code", "id": "sleeps", "metadata": {}, "execution_count": None, "outputs": []}
    notebook = {
        "cells": [{**cell, "source": source}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupting_the_engine_alone_stops_its_notebook(tmp_path, signum):
    notebook, marker = tmp_path / "sleeps.ipynb", tmp_path / "kernel.pid"
    _sleeping_notebook(notebook, marker)
    command = [sys.executable, "-c", DRIVER, str(notebook), str(tmp_path / "out.ipynb"), str(tmp_path / "log.txt")]
    if signum == signal.SIGTERM:
        command[2] = AS_MAIN_DOES + DRIVER
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    descendants: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marker.exists() and marker.read_text(), "the notebook's cell never started"
        descendants = psutil.Process(driver.pid).children(recursive=True)
        assert int(marker.read_text()) in {p.pid for p in descendants}  # the kernel runs below the engine

        driver.send_signal(signum)  # the engine's pid only: its children get nothing from the terminal
        output, _ = driver.communicate(timeout=60)
        assert driver.returncode != 0, output
        _, alive = psutil.wait_procs(descendants, timeout=30)
        assert not alive, f"left running after the engine stopped: {[p.pid for p in alive]}\n{output}"
    finally:  # a failing run leaves nothing behind
        driver.kill()  # nothing happens once it has been waited for
        for process in descendants:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
