"""Each profile's folders: its corpus, its working results folder and its figures.

Every path is absolute; a relative override is taken relative to the project root (:mod:`aac_subsampling.base.paths`),
so that a notebook running in ``notebooks/`` and a script started from the root agree on where ``results/quick`` is.
"""

from __future__ import annotations

import os
from pathlib import Path

from aac_subsampling.base.paths import project_root, resolve
from aac_subsampling.experiment.profiles import get_profile


def results_dir(profile: str, override: str | os.PathLike[str] | None = None) -> Path:
    """``<project root>/results/<profile>``, or ``override`` (relative to the project root)."""
    name = get_profile(profile).name
    root = project_root()
    if override is not None and str(override) != "":
        return resolve(override, root)
    return (root / "results" / name).resolve()


def data_dir(profile: str, override: str | os.PathLike[str] | None = None) -> Path:
    """The profile's corpus folder (``Profile.default_data_dir``), or ``override`` (relative to
    the project root)."""
    chosen = get_profile(profile)
    root = project_root()
    if override is not None and str(override) != "":
        return resolve(override, root)
    return resolve(chosen.default_data_dir, root)


def figures_dir(profile: str) -> Path:
    """``<project root>/figures/<profile>``."""
    name = get_profile(profile).name
    return (project_root() / "figures" / name).resolve()
