"""The kernel papermill starts prints no "[IPKernelApp] WARNING | Kernel is running over TCP without encryption"
into the run's log (issue "Runs that cannot lie", item 6): the kernel writes it to the stderr it inherits, before
any cell, so only the kernel's own log level keeps it out; the notebook's output still comes through."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from aac_subsampling import run

DRIVER = """
import sys
from pathlib import Path
from aac_subsampling.run import configure_logging, execute_notebook
configure_logging()
execute_notebook(Path(sys.argv[1]), Path(sys.argv[2]), {}, sys.argv[3])
"""


def _kernel() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    names = KernelSpecManager().find_kernel_specs()
    for name in ("aac-subsampling", "python3"):
        if name in names:
            return name
    pytest.skip("no Jupyter kernel for Python installed")


def test_a_notebook_run_logs_its_output_without_the_kernels_transport_warning(tmp_path):
    kernel = _kernel()
    cell = {"cell_type": "code", "id": "says", "metadata": {}, "execution_count": None, "outputs": []}
    notebook = {
        "cells": [{**cell, "source": "import warnings\nprint('the cell ran')\nwarnings.warn('a warning of the cell')"}],
        "metadata": {"kernelspec": {"name": kernel, "display_name": kernel, "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "says.ipynb"
    path.write_text(json.dumps(notebook))
    completed = subprocess.run(
        [sys.executable, "-c", DRIVER, str(path), str(tmp_path / "out.ipynb"), kernel],
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = completed.stdout + completed.stderr
    assert completed.returncode == 0, log
    assert "the cell ran" in log and "a warning of the cell" in log  # the notebook's own output and warnings stay
    assert "without encryption" not in log and "IPKernelApp] WARNING" not in log


def test_the_quieting_argument_goes_only_to_an_ipython_kernel():
    assert run.quiet_kernel_arguments("no-such-kernel") == []
    assert run.quiet_kernel_arguments(_kernel()) == ["--IPKernelApp.log_level=ERROR"]
