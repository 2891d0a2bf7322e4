"""What every notebook does first and last: resolve its parameters, and print its run record.

The notebooks' ``parameters`` cells hold plain values (papermill replaces them); ``None`` means "the
default", which is taken here, once: the profile from ``AAC_PROFILE`` (so that the test command can run
the notebooks in the ``smoke`` profile through nbval) or ``quick``, the folders from ``AAC_DATA_DIR`` /
``AAC_RESULTS_DIR`` or the profile's.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from aac_subsampling.base import paths
from aac_subsampling.experiment import folders
from aac_subsampling.experiment.profiles import Profile, get_profile


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
