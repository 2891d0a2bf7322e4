"""The committed notebooks are valid nbformat 4.5 files (every cell has an id) and store outputs only where nbval
checks them (cells marked ``# NBVAL_CHECK_OUTPUT``): executed copies live under results/."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_numbered_notebooks_are_found():
    assert [path.name[:2] for path in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_valid_with_cell_ids_and_only_checked_outputs(path):
    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(notebook)  # raises on a schema error
    assert (notebook.nbformat, notebook.nbformat_minor) >= (4, 5)
    ids = [cell.get("id") for cell in notebook.cells]
    assert all(ids) and len(set(ids)) == len(ids), f"{path.name}: cells without an id or with a repeated id"
    code = [(i, cell) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    unchecked = [i for i, cell in code if cell.outputs and "NBVAL_CHECK_OUTPUT" not in cell.source]
    assert not unchecked, f"{path.name}: outputs stored in cells {unchecked}, which nbval does not check"
    for i, cell in code:
        if "NBVAL_CHECK_OUTPUT" in cell.source:  # nbval compares nothing without an output, and refuses an unrun cell
            assert cell.outputs and cell.execution_count, f"{path.name}: checked cell {i} stores no run output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_names_the_projects_kernel(path):
    """JupyterLab opens it on the kernel scripts/setup_env.sh installs, so opening it rewrites nothing."""
    kernelspec = nbformat.read(path, as_version=4).metadata["kernelspec"]
    assert kernelspec == {"display_name": "Python (aac-subsampling)", "language": "python", "name": "aac-subsampling"}
    assert (
        '--name aac-subsampling \\\n            --display-name "Python (aac-subsampling)"'
        in (path.parents[1] / "scripts" / "setup_env.sh").read_text()
    )
