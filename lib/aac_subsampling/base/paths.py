"""Where things live: the project root, and paths relative to it (records hold project-relative paths).

Relative paths are taken relative to the project root (not to the current directory), so that a notebook
running with ``notebooks/`` as its working directory and a script started from the repository root agree on
where ``results/quick`` is. Each profile's folders: :mod:`aac_subsampling.experiment.folders`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PROJECT_NAME = "aac-subsampling"

_NAME_LINE = re.compile(r"""^\s*name\s*=\s*["']([^"']+)["']\s*(#.*)?$""", re.MULTILINE)


def _is_project_root(directory: Path) -> bool:
    pyproject = directory / "pyproject.toml"
    if not pyproject.is_file():
        return False
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return False
    # Only the [project] table's name counts; a tool table may also have a `name` key.
    match = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
    if match is None:
        return False
    name = _NAME_LINE.search(match.group(1))
    return name is not None and name.group(1) == PROJECT_NAME


def project_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: the current directory) whose
    ``pyproject.toml`` declares the project ``aac-subsampling``; ``start`` itself if none does."""
    here = Path(start if start is not None else os.getcwd()).expanduser().resolve()
    for directory in (here, *here.parents):
        if _is_project_root(directory):
            return directory
    return here


def resolve(path: str | os.PathLike[str], root: Path) -> Path:
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = root / candidate
    return candidate.resolve()


def relative_to_project(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the project root (POSIX form) when it lies inside it, else absolute.

    Records store paths this way, so that a results folder stays valid when the project is cloned
    elsewhere and published results hold no machine's absolute paths.
    """
    resolved = Path(path).expanduser().resolve()
    try:
        return resolved.relative_to(project_root()).as_posix()
    except ValueError:
        return str(resolved)


def from_project(path: str | os.PathLike[str]) -> Path:
    """The inverse of :func:`relative_to_project`: a recorded path made absolute again."""
    return resolve(path, project_root())
