"""The run engine's options and its command line (``./run_all.sh --help``): :class:`RunOptions`, checked when
made, and :func:`parse_arguments`, which exits naming a bad argument before any work. Standard library only at
import, so that ``run_all.sh`` can check the arguments (:func:`check_arguments`) before it builds the environment."""

from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aac_subsampling.base import paths
from aac_subsampling.experiment import folders
from aac_subsampling.experiment.profiles import PROFILES, SUBSAMPLING_FACTORS, get_profile
from aac_subsampling.open_questions.variants import QUESTION_KEYS

NOTEBOOKS = {
    "prepare": "01_data_preparation",
    "training": "02_training",
    "evaluation": "03_evaluation",
    "results": "04_results",
    "open_questions": "05_open_questions",
}


@dataclass
class RunOptions:
    profile: str = "quick"
    data_dir: Path | None = None
    results_dir: Path | None = None
    device: str = "auto"
    seeds: list[int] = field(default_factory=lambda: [0])
    factors: list[int] = field(default_factory=lambda: list(SUBSAMPLING_FACTORS))
    max_epochs: int | None = None
    force: bool = False
    publish: bool = False
    gpus: list[int] = field(default_factory=list)
    jobs: int | None = None  # None: default_jobs()
    kernel: str = "aac-subsampling"
    preflight: bool = True
    open_questions: bool = False  # also run notebook 05 (its seeds and M are the notebook's defaults)
    open_questions_only: bool = False  # data preparation and notebook 05, no main sweep
    questions: list[str] | None = None  # notebook 05's questions by key (open_questions.study.QUESTION_KEYS); None: all
    skip_bad: bool = False  # notebook 01 leaves out development clips the reader finds bad (docs/bad_inputs.md)
    executor: str = "local"  # "slurm": trainings and evaluations as cluster jobs (aac_subsampling.cluster)
    cluster: Any = None  # cluster.ClusterSettings with --executor slurm (defaults when None)

    def __post_init__(self) -> None:
        get_profile(self.profile)  # names the profile when unknown
        self.data_dir = folders.data_dir(self.profile, self.data_dir)
        self.results_dir = folders.results_dir(self.profile, self.results_dir)
        if not self.seeds or any(seed < 0 for seed in self.seeds):
            raise ValueError(f"seeds must be non-negative integers, not {self.seeds}")
        if not self.factors or any(factor < 1 for factor in self.factors):
            raise ValueError(f"sub-sampling factors must be positive integers, not {self.factors}")
        if self.max_epochs is not None and self.max_epochs < 1:
            raise ValueError(f"--max-epochs must be a positive integer, not {self.max_epochs}")
        self._check_executor()
        if self.jobs is None:
            self.jobs = default_jobs(self.device, self.gpus)
        if self.jobs < 1:
            raise ValueError(f"--jobs must be at least 1, not {self.jobs}")
        if self.gpus and self.device not in ("auto", "cuda"):
            raise ValueError(f"--gpus runs on CUDA devices; it cannot be combined with --device {self.device}")
        self.seeds = list(dict.fromkeys(self.seeds))
        self.factors = list(dict.fromkeys(self.factors))

    def _check_executor(self) -> None:
        """--executor slurm: the cluster's settings (defaults when none are given); --gpus and --jobs, which
        share this machine's devices, do not apply to jobs (each job gets its own: --gpus-per-job)."""
        if self.executor not in ("local", "slurm"):
            raise ValueError(f"--executor must be local or slurm, not {self.executor!r}")
        if self.executor == "local":
            if self.cluster is not None:
                raise ValueError("cluster settings need --executor slurm")
            return
        if self.gpus or self.jobs not in (None, 1):
            raise ValueError(
                "--gpus and --jobs share this machine's devices; with --executor slurm each job gets "
                "its own (--gpus-per-job, --array-parallelism)"
            )
        if self.cluster is None:
            from aac_subsampling.cluster import ClusterSettings

            self.cluster = ClusterSettings()
        self.jobs = 1

    @property
    def lanes(self) -> list[str]:
        """One device name per concurrent training: ``jobs`` per GPU of ``--gpus``, else ``jobs`` on the device."""
        if self.gpus:
            return [f"cuda:{gpu}" for gpu in self.gpus for _ in range(self.jobs)]
        return [self.device] * self.jobs

    @property
    def cpu_threads_per_lane(self) -> int | None:
        """Torch threads of each of several CPU trainings at once (the cores divided among them)."""
        if self.gpus or self.jobs == 1 or self.device.startswith("cuda"):
            return None
        return max(1, (os.cpu_count() or 1) // self.jobs)


def default_jobs(device: str, gpus: list[int]) -> int:
    """Trainings at once when --jobs is not given: one per device, except on a CPU of two or more cores,
    where two at a time with one thread each. Why: one training of this GRU model keeps about 1.1 of 2
    cores busy; two single-threaded trainings side by side finished 1.46x as many steps in the same time
    (measured on the project's 2-core machine), and nothing is oversubscribed."""
    if gpus or device.startswith("cuda"):
        return 1
    if device == "auto":
        from aac_subsampling.base.devices import resolve_device  # imports torch: only when "auto" must be resolved

        if resolve_device("auto").type == "cuda":
            return 1
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by spaces or commas, not {text!r}") from None


def _flat(lists: list[list[int]]) -> list[int]:
    return [value for values in lists for value in values]


def notebook_parameters(name: str) -> set[str]:
    """The names the ``parameters`` cell of ``notebooks/<name>.ipynb`` assigns: what papermill can set there."""
    path = paths.project_root(Path(__file__).parent) / "notebooks" / f"{name}.ipynb"
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return set()
    for cell in cells:
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return set(re.findall(r"^([A-Za-z_]\w*)\s*=", "".join(cell.get("source", "")), re.MULTILINE))
    return set()


def _unrunnable_factors(factors: list[int]) -> str | None:
    """Why the M outside the paper's five cannot run end to end (None when all are the paper's): notebook 03 prints
    each model's encoder lengths beside the paper's Table 2 row of its M (``paper_table2().set_index("M").loc[M]``)
    and notebook 04 compares every evaluated M with those rows (``paper_lengths.loc[ours.index]``), both a KeyError
    for an M the paper did not run, after that M's training. Refused at parsing instead, before any work."""
    other = [factor for factor in factors if factor >= 1 and factor not in SUBSAMPLING_FACTORS]
    if not other:
        return None
    return (
        f"--m {' '.join(map(str, other))}: only the paper's sub-sampling factors "
        f"({' '.join(map(str, SUBSAMPLING_FACTORS))}) can run end to end; notebooks 03 and 04 look each M up in "
        "the paper's Table 2, which has no row for another M"
    )


def parse_arguments(argv: list[str] | None = None, *, resolve_jobs: bool = True) -> RunOptions:
    """The command line as :class:`RunOptions`; a bad argument exits with status 2 and a message naming it.
    ``resolve_jobs=False`` (for :func:`check_arguments`) leaves an unset ``--jobs`` at 1 instead of asking torch
    whether ``auto`` is a GPU, so that the arguments can be checked with the standard library alone."""
    parser = argparse.ArgumentParser(
        prog="./run_all.sh",
        description="Run the reproduction headlessly (papermill over notebooks/01-04): data preparation, training "
        "and evaluation for every seed and sub-sampling factor M, then Tables 1 and 2 and the figures.",
        epilog="A stage is skipped when its record was made with the same settings (profile, seed, M, every config "
        "switch, corpus, package version); an interrupted run continues where it stopped when started again.",
    )
    parser.add_argument(
        "--profile",
        default="quick",
        choices=sorted(PROFILES),
        help="smoke (CI, about 2 min), quick (default; synthetic corpus, CPU, about 45 min), "
        "long (Clotho-length synthetic clips), paper (Clotho v1, the paper's settings; GPU) or as_run (Clotho v1, "
        "the settings of the authors' runs behind the paper's numbers, see docs/deviations.md; GPU; also called "
        "authors_code)",
    )
    parser.add_argument("--data-dir", type=Path, help="corpus folder in Clotho's layout (default: the profile's)")
    parser.add_argument("--results-dir", type=Path, help="working results folder (default: results/<profile>)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, help="one training seed (default 0)")
    seeds.add_argument("--seeds", type=_int_list, nargs="+", help="several seeds, e.g. 0 1 2; each its own run key")
    parser.add_argument(
        "--m",
        dest="factors",
        type=_int_list,
        nargs="+",
        default=[list(SUBSAMPLING_FACTORS)],
        help="sub-sampling factors to run: any of the paper's 1 2 4 8 16 (default: all five)",
    )
    parser.add_argument("--max-epochs", type=int, help="cap the profile's training schedule at N epochs")
    parser.add_argument("--force", action="store_true", help="redo every stage (trainings start from scratch)")
    parser.add_argument(
        "--publish",
        action="store_true",
        help="after the run, copy its results into results/published/<profile>/; checked before any work: a clean "
        "git tree and no record made from a dirty one (the refusal prints the rm line that makes the next run redo "
        "just those stages)",
    )
    parser.add_argument("--gpus", type=_int_list, default=[], help='run trainings in parallel, one per GPU: "0,1"')
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="trainings at once per device (default: 2 on a CPU of 2+ cores, one thread each; 1 per GPU)",
    )
    parser.add_argument("--kernel", default="aac-subsampling", help="Jupyter kernel that runs the notebooks")
    extra = parser.add_mutually_exclusive_group()
    extra.add_argument(
        "--open-questions",
        action="store_true",
        help="after the tables, run notebook 05 (batches, padding, the authors' code, attention, a decoder that "
        "forms sentences: 6 variants x seeds 0-2 x M 1 and 16; several hours on 2 CPU cores with quick)",
    )
    extra.add_argument(
        "--open-questions-only",
        action="store_true",
        help="data preparation and notebook 05 only (its baseline reuses the main sweep's trainings where their "
        "settings match, and trains them otherwise)",
    )
    parser.add_argument(
        "--questions",
        nargs="+",
        choices=QUESTION_KEYS,
        metavar="KEY",
        help="notebook 05 asks only these questions: batch (a), padding (b), authors_code (c), attention (d), decoder "
        "(e); default all. E.g. --open-questions-only --questions decoder trains the paper's model and the two "
        "autoregressive decoders only",
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out development clips that the corpus reader finds bad (missing, empty, unreadable or truncated "
        "audio; captions missing or with no words) with a warning, instead of stopping; an evaluation reference with "
        "no words is refused always (docs/bad_inputs.md)",
    )
    from aac_subsampling import cluster  # --executor and the cluster's settings (docs/cluster.md)

    cluster.add_arguments(parser)
    parser.add_argument("--no-preflight", dest="preflight", action="store_false", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    chosen_seeds = _flat(args.seeds) if args.seeds is not None else [args.seed if args.seed is not None else 0]
    if (why := _unrunnable_factors(_flat(args.factors))) is not None:
        parser.error(why)
    if args.questions and not (args.open_questions or args.open_questions_only):
        parser.error("--questions chooses notebook 05's questions: add --open-questions or --open-questions-only")
    if args.skip_bad and "skip_bad" not in notebook_parameters(NOTEBOOKS["prepare"]):
        parser.error(
            f"--skip-bad: notebooks/{NOTEBOOKS['prepare']}.ipynb takes no skip_bad parameter, so this run could not "
            "leave bad clips out; fix or remove the clips the reader names (docs/bad_inputs.md), or prepare the data "
            "with aac_subsampling.experiment.pipeline.prepare_data(..., skip_bad=True)"
        )
    jobs = args.jobs if args.jobs is not None or resolve_jobs else 1
    try:
        return RunOptions(
            profile=args.profile,
            data_dir=args.data_dir,
            results_dir=args.results_dir,
            device=args.device,
            seeds=chosen_seeds,
            factors=_flat(args.factors),
            max_epochs=args.max_epochs,
            force=args.force,
            publish=args.publish,
            gpus=args.gpus,
            jobs=jobs,
            kernel=args.kernel,
            preflight=args.preflight,
            open_questions=args.open_questions,
            open_questions_only=args.open_questions_only,
            questions=args.questions,
            skip_bad=args.skip_bad,
            executor=args.executor,
            cluster=cluster.settings_from_arguments(args),
        )
    except ValueError as error:
        parser.error(str(error))
        raise  # unreachable: parser.error exits


def check_arguments(argv: list[str] | None = None) -> int:
    """Check the command line with the standard library alone and exit 2 naming a bad argument (an unknown
    profile, an M that cannot run, ...); 0 when it is good. ``run_all.sh`` calls it before it builds the
    environment, so that a typo is not answered after minutes of installing."""
    parse_arguments(argv, resolve_jobs=False)
    return 0
