"""The stage records: written atomically at a stage's very end, read back with an error naming the notebook
that makes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aac_subsampling.base.atomic import write_json_atomic


def write_json(path: Path, record: dict[str, Any]) -> Path:
    """Write a stage record atomically, so a stage marker exists only when complete (values JSON cannot
    hold are written as text)."""
    return write_json_atomic(path, record, indent=2, default=str, newline=False)


def read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"{what} not found at {path}; run the earlier notebook (or ./run_all.sh) first")
    return json.loads(path.read_text())
