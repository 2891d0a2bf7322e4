"""Which seeds and M a results folder holds, the columns of those M only, and how to add the others.

Notebook 04 opens with this: a reader who ran notebooks 02 and 03 for one M, or for all five, sees which M and
seeds the tables below are made of, no empty column for an M that was not evaluated, and the command that adds
the rest (notebooks 02 and 03 with ``M = "all"``, or ``./run_all.sh``).
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from aac_subsampling.base import paths
from aac_subsampling.experiment import folders, layout
from aac_subsampling.method.paper import SUBSAMPLING_FACTORS

__all__ = ["Coverage", "coverage", "found_columns", "how_to_add", "summary"]

_M_LABEL = re.compile(r"^M=(\d+)\b")


@dataclass(frozen=True)
class Coverage:
    """The evaluated (seed, M) runs of a folder."""

    runs: tuple[tuple[int, int], ...]

    @property
    def seeds(self) -> list[int]:
        return sorted({seed for seed, _ in self.runs})

    @property
    def factors(self) -> list[int]:
        return sorted({factor for _, factor in self.runs})

    def missing_factors(self, wanted: Iterable[int] = SUBSAMPLING_FACTORS) -> list[int]:
        """The M of ``wanted`` (the paper's five) with no evaluated run here."""
        return [factor for factor in wanted if factor not in self.factors]

    def incomplete(self) -> list[tuple[int, int]]:
        """(seed, M) pairs missing from the grid seeds x M that the folder holds (one seed ran fewer M)."""
        return [(s, m) for s in self.seeds for m in self.factors if (s, m) not in self.runs]


def coverage(results_dir: Path | str) -> Coverage:
    """The evaluated runs of ``results_dir`` (``seed<S>/M<M>/evaluation.json``)."""
    return Coverage(tuple(layout.completed_runs(results_dir)))


def _numbers(values: Sequence[int]) -> str:
    return ", ".join(map(str, values))


def found_columns(frame: pd.DataFrame, factors: Iterable[int]) -> pd.DataFrame:
    """``frame`` without the columns of an M not in ``factors``: a column (or, for two column levels, a first
    level) labelled ``M=<m>`` or ``<m>`` is kept only for the M found; other columns (a floor, the paper's) stay."""
    keep = set(factors)

    def kept(label: object) -> bool:
        first = label[0] if isinstance(label, tuple) else label
        if isinstance(first, numbers.Real) and not isinstance(first, bool):
            return int(first) in keep
        match = _M_LABEL.match(str(first))
        return match is None or int(match.group(1)) in keep

    return frame.loc[:, [kept(label) for label in frame.columns]]


def how_to_add(found: Coverage, profile: str, results_dir: Path | str | None = None) -> str:
    """What to run to add the paper's M that ``found`` lacks, and more seeds where there is one; '' when the
    folder has every M and several seeds. ``results_dir``: the working folder, named in the command when it
    is not the profile's own."""
    missing = found.missing_factors()
    option = ""
    if results_dir is not None and Path(results_dir).resolve() != folders.results_dir(profile):
        option = f" --results-dir {paths.relative_to_project(results_dir)}"
    lines = []
    if missing:
        lines.append(
            f'To add M = {_numbers(missing)}: run notebooks 02 and 03 with M = "all" (the default; an M already '
            f"trained returns at once from its checkpoint), then this notebook again; or, headless, "
            f"./run_all.sh --profile {profile}{option} (all five M, two trainings at a time on a CPU)."
        )
    if len(found.seeds) == 1:
        lines.append(
            f'For intervals over training seeds: run notebooks 02 and 03 with seed = 1, then 2 (M = "all"), or '
            f"./run_all.sh --profile {profile}{option} --seeds 0 1 2."
        )
    return "\n".join(lines)


def summary(
    found: Coverage,
    profile: str,
    shown: Path | str,
    figures_folder: Path | str,
    results_dir: Path | str | None = None,
) -> str:
    """Notebook 04's opening lines: which seeds and M it found (the tables show these only), where, and
    :func:`how_to_add` the others."""
    if not found.runs:
        return (
            f"no evaluated run in {paths.relative_to_project(shown)}: run notebooks 01-03 "
            f'(M = "all") or ./run_all.sh --profile {profile} first'
        )
    seeds = found.seeds
    lines = [
        f"found {len(found.runs)} evaluated run(s): seed{'s' * (len(seeds) != 1)} {_numbers(seeds)}, "
        f"M = {_numbers(found.factors)}; the tables below show these M only "
        f"(tables in {paths.relative_to_project(shown)}, figures in {paths.relative_to_project(figures_folder)})"
    ]
    missing = found.missing_factors()
    if missing:
        lines.append(f"not evaluated here: M = {_numbers(missing)} (of the paper's {_numbers(SUBSAMPLING_FACTORS)})")
    if found.incomplete():
        gaps = ", ".join(f"seed {s} M={m}" for s, m in found.incomplete())
        lines.append(f"not every seed has every M ({gaps} missing): each M's figures are over its own seeds")
    added = how_to_add(found, profile, results_dir)
    return "\n".join(lines + ([added] if added else []))
