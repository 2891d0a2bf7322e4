"""What every notebook does first and last: resolve its parameters, and print its run record.

The notebooks' ``parameters`` cells hold plain values (papermill replaces them); ``None`` means "the
default", which is taken here, once: the profile from ``AAC_PROFILE`` (so that the test command can run
the notebooks in the ``smoke`` profile through nbval) or ``quick``, the folders from ``AAC_DATA_DIR`` /
``AAC_RESULTS_DIR`` or the profile's.

Notebooks 02 and 03 take ``M`` as the run engine passes it, one sub-sampling factor (``M = 4``), or as a reader
running them by hand sets it: ``"all"`` (the default there: the paper's five M in turn, or in notebook 03 every
M trained for the seed) or a list (``[1, 16]``). :func:`factors_to_train` and :func:`factors_to_evaluate` turn
it into the M to run, one library call each, so that one M by hand is exactly the engine's stage.
"""

from __future__ import annotations

import json
import operator
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aac_subsampling.base import paths
from aac_subsampling.experiment import folders, layout
from aac_subsampling.experiment.profiles import SUBSAMPLING_FACTORS, Profile, get_profile

ALL = "all"


@dataclass
class NotebookRun:
    profile: Profile
    data_dir: Path
    results_dir: Path
    seed: int
    device: str
    headless: bool
    started: float = field(default_factory=time.perf_counter)

    @property
    def progress(self) -> bool:
        """Per-batch progress bars for a person; one log line per epoch for a headless run."""
        return not self.headless

    def record(self) -> None:
        """Print the run record: code version, packages, device, seed, the notebook's wall time."""
        from aac_subsampling.experiment.runinfo import run_metadata

        wall_time = round(time.perf_counter() - self.started, 1)
        print(json.dumps({**run_metadata(self.seed, self.device), "notebook_wall_time_s": wall_time}, indent=1))


def setup(
    profile: str | None = None,
    data_dir: str | None = None,
    results_dir: str | None = None,
    seed: int = 0,
    device: str = "auto",
    headless: bool = False,
) -> NotebookRun:
    """Resolve a notebook's parameters and say where it reads and writes."""
    name = profile or os.environ.get("AAC_PROFILE") or "quick"
    chosen = get_profile(name)
    run = NotebookRun(
        profile=chosen,
        data_dir=folders.data_dir(name, data_dir or os.environ.get("AAC_DATA_DIR")),
        results_dir=folders.results_dir(name, results_dir or os.environ.get("AAC_RESULTS_DIR")),
        seed=int(seed),
        device=device,
        headless=bool(headless),
    )
    run.results_dir.mkdir(parents=True, exist_ok=True)
    # Before the first parallel torch operation: threads inherit the flag only from the thread that creates them.
    from aac_subsampling.base.devices import resolve_device
    from aac_subsampling.method.training import flush_denormals

    flush_denormals(resolve_device(device))
    print(f"profile {name!r}: {chosen.description}")
    print(
        f"corpus folder: {paths.relative_to_project(run.data_dir)}; "
        f"results folder: {paths.relative_to_project(run.results_dir)}"
    )
    return run


def _factor(value: Any) -> int:
    """One M: a positive integer (or its digits, as a command line may pass it)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not hasattr(value, "__index__") or operator.index(value) < 1:
        raise ValueError(f'M must be a positive integer, "all" or a list of positive integers, not {value!r}')
    return operator.index(value)


def factors_to_train(M: Any) -> list[int]:
    """The M that notebook 02 trains, in order: ``4`` -> ``[4]`` (the run engine's one stage); ``"all"`` -> the
    paper's five, 1 to 16; a list (``[1, 16]``) -> those, in its order, each once. ``ValueError`` for anything
    else (0, a negative number, a float, an empty list)."""
    if isinstance(M, str) and M.strip().lower() == ALL:
        return list(SUBSAMPLING_FACTORS)
    if isinstance(M, Sequence) and not isinstance(M, str):
        factors = [_factor(value) for value in M]
        if not factors:
            raise ValueError('M is an empty list: give one M, a list such as [1, 16], or "all"')
        return list(dict.fromkeys(factors))
    return [_factor(M)]


def trained_factors(results_dir: Path | str, seed: int) -> list[int]:
    """Every M trained for ``seed`` in ``results_dir`` (``seed<S>/M<M>/training.json``), ascending."""
    return sorted(m for s, m in layout.completed_runs(results_dir, record=layout.TRAINING_RECORD) if s == int(seed))


def factors_to_evaluate(M: Any, results_dir: Path | str, seed: int) -> list[int]:
    """The M that notebook 03 evaluates: ``"all"`` -> every M trained for ``seed`` (``FileNotFoundError`` naming
    the folder when there is none: run notebook 02 first); one M or a list -> as :func:`factors_to_train`."""
    if isinstance(M, str) and M.strip().lower() == ALL:
        trained = trained_factors(results_dir, seed)
        if not trained:
            raise FileNotFoundError(
                f"no trained model for seed {seed} in {paths.relative_to_project(results_dir)}: run notebook 02 "
                f'(M = "all" trains the paper\'s five M) with this seed and results folder first'
            )
        return trained
    return factors_to_train(M)


def describe_factors(factors: Sequence[int]) -> str:
    """``"M = 4"`` for one M; ``"M = 1, 2, 4, 8, 16, one after another"`` for several."""
    if len(factors) == 1:
        return f"M = {factors[0]}"
    return f"M = {', '.join(map(str, factors))}, one after another"


def describe_settings(factors: Sequence[int], config: Any) -> str:
    """Notebook 02's opening lines: the M it trains and the settings (``Config``) of the first; every other M
    differs from it only in ``subsampling_factor``."""
    which = "" if len(factors) == 1 else f" of M = {factors[0]} (every other M differs only in subsampling_factor)"
    return f"{describe_factors(factors)}\nmodel settings{which}: {config.model}\ntraining settings: {config.train}"


def training_line(training: Mapping[str, Any]) -> str:
    """One training's record (``train_subsampling_model``'s) in a line: epochs and steps, why it stopped, the
    kept epoch (counted from 1) with its watched value, and the time of this call."""
    by_loss = training["stop_on"] == "training_loss"
    watched = "training loss" if by_loss else "validation CIDEr-D"
    best_value = training["best_loss"] if by_loss else -training["best_loss"]
    return (
        f"{training['epochs_completed']} epochs ({training['steps']} steps), stopped by {training['stop_reason']}; "
        f"kept epoch {training['best_epoch'] + 1} (step {training['best_step']}), {watched} {best_value:.4f}; "
        f"{training['wall_time_s']:.0f} s"
    )
