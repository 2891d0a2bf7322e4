"""The executed notebooks under results/published/ are the current notebooks run: their code cells equal the
notebooks' (the parameters cell and papermill's injected parameters aside). A published notebook that the
notebooks have moved past is listed in STALE with what republishes it, as an expected failure that must
fail: once republished, the test says so and the entry must go."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = sorted((ROOT / "results" / "published").glob("*/executed/*.ipynb"))
SKIPPED_TAGS = {"parameters", "injected-parameters"}

# (profile, notebook) -> why its published copy is older than the notebook, and the command that republishes it
STALE: dict[tuple[str, str], str] = {}  # none now; keys are (profile, notebook stem) or (profile, "*")


def code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [
        "".join(cell["source"]).strip()
        for cell in cells
        if cell["cell_type"] == "code" and not SKIPPED_TAGS & set(cell.get("metadata", {}).get("tags", []))
    ]


def source_notebook(published: Path) -> Path:
    """notebooks/02_training.ipynb for .../executed/02_training_seed0_M16.ipynb."""
    return ROOT / "notebooks" / (re.sub(r"_seed\d+_M\d+$", "", published.stem) + ".ipynb")


def _case(path: Path):
    profile, stem = path.parents[1].name, source_notebook(path).stem
    reason = STALE.get((profile, stem)) or STALE.get((profile, "*"))
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(path, marks=marks, id=f"{profile}/{path.name}")


def test_there_are_published_notebooks():
    assert PUBLISHED, "no executed notebooks under results/published/*/executed/"
    assert all(source_notebook(path).is_file() for path in PUBLISHED)


@pytest.mark.parametrize("published", [_case(p) for p in PUBLISHED])
def test_published_notebook_runs_the_current_code(published):
    assert code_cells(published) == code_cells(source_notebook(published))
