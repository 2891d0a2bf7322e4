"""``--executor slurm``: the sweep's trainings and evaluations as cluster jobs, submitted with submitit.

The run engine (:mod:`.run`) still decides what must run, exactly as without a cluster (:func:`.run.why_run`:
the same run keys, the same skips); only the stages that must run are submitted, one job array per stage kind
(the trainings, then the evaluations of the trainings that finished). The submitting process holds the results
folder's lock, waits for its jobs, checks each job's record as it would check a notebook it ran itself, and runs
data preparation and the tables locally. A job that fails is named (job id, state, the notebook's last error
line, its logs) and the others' finished stages are kept. ``docs/cluster.md`` has the command, the settings
file and the pitfalls.

On the node each job runs :class:`StageJob` (importable from the installed package, as submitit requires),
which calls :func:`run_stage_job`, which runs the notebook with the engine's own :func:`.run.execute_notebook`.
A training that is preempted or reaches its time limit is requeued by submitit (``max_requeues`` times for a
time-out) and resumes from its checkpoint (the notebook's ``resume=True``); so does a training submitted again
by running the same command after its job was lost.

This module imports submitit only when it submits: the command line (``parse_arguments``) is checked with the
standard library alone, before the environment is built.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aac_subsampling import run
from aac_subsampling.base.atomic import write_json_atomic

CLUSTER_RECORD = "cluster.json"  # <results>/cluster.json: the settings and every job of the last run
LOG_FOLDER = "slurm_logs"  # <results>/slurm_logs/: submitit's pickles, sbatch files and job logs
BACKENDS = ("slurm", "local")  # local: submitit's LocalExecutor, every job a process on this machine
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_JOB_ERROR = re.compile(r"StageJobError: (.+)")


# ------------------------------------------------------------------------------------- settings


@dataclass
class ClusterSettings:
    """Where and how the jobs run: a settings file (``--cluster-config``), then the command line's options."""

    partition: str | None = None  # sbatch --partition; None: the cluster's default
    account: str | None = None  # sbatch --account; None: the user's default
    time_min: int = 1440  # each job's time limit in minutes (a training past it is requeued and resumes)
    gpus_per_job: int = 1  # sbatch --gpus-per-node; 0: CPU-only jobs
    cpus_per_job: int = 4  # sbatch --cpus-per-task (also the job's OMP_NUM_THREADS)
    mem_gb: float | None = None  # sbatch --mem; None: the partition's default
    array_parallelism: int = 16  # at most this many trainings at once (sbatch --array=0-N%P)
    evaluation_parallelism: int = 1  # evaluations at once: 1 times Table 2's inference one at a time, as locally
    setup: list[str] = field(default_factory=list)  # shell lines before each job, e.g. "module load cuda/12.1"
    extra_sbatch: dict[str, str] = field(default_factory=dict)  # other sbatch flags, e.g. {"qos": "normal"}
    python: str | None = None  # the command that starts Python on the node; None: this interpreter's path
    max_requeues: int = 3  # time-outs after which a training is no longer requeued (preemptions always are)
    backend: str = "slurm"  # "local": the jobs as processes on this machine (submitit's LocalExecutor)
    poll_s: float = 10.0  # how often the submitting process looks at its jobs

    def __post_init__(self) -> None:
        problems = []
        for name in ("time_min", "cpus_per_job", "array_parallelism", "evaluation_parallelism"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                problems.append(f"{name} must be a positive integer, not {getattr(self, name)!r}")
        for name in ("gpus_per_job", "max_requeues"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 0:
                problems.append(f"{name} must be a non-negative integer, not {getattr(self, name)!r}")
        for name in ("mem_gb", "poll_s"):
            value = getattr(self, name)
            if (value is not None or name == "poll_s") and (not _is_number(value) or value <= 0):
                problems.append(f"{name} must be a positive number, not {value!r}")
        for name in ("partition", "account", "python"):
            if getattr(self, name) is not None and (
                not isinstance(getattr(self, name), str) or not getattr(self, name)
            ):
                problems.append(f"{name} must be a non-empty string, not {getattr(self, name)!r}")
        if not isinstance(self.setup, list) or not all(isinstance(line, str) for line in self.setup):
            problems.append(f"setup must be a list of shell lines (strings), not {self.setup!r}")
        if not isinstance(self.extra_sbatch, dict) or not all(
            isinstance(key, str) and isinstance(value, (str, int)) and not isinstance(value, bool)
            for key, value in self.extra_sbatch.items()
        ):
            problems.append(
                f"extra_sbatch must map sbatch flag names to strings or integers, not {self.extra_sbatch!r}"
            )
        if self.backend not in BACKENDS:
            problems.append(f"backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        if problems:
            raise ValueError("cluster settings: " + "; ".join(problems))
        if self.mem_gb is not None and float(self.mem_gb).is_integer():
            self.mem_gb = int(self.mem_gb)

    def record(self) -> dict[str, Any]:
        """The settings as JSON (``cluster.json``)."""
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """One line for the run's header."""
        parts = [
            f"backend={self.backend}",
            f"partition={self.partition or '(default)'}",
            f"account={self.account or '(default)'}",
            f"time_min={self.time_min}",
            f"gpus_per_job={self.gpus_per_job}",
            f"cpus_per_job={self.cpus_per_job}",
            f"mem_gb={self.mem_gb if self.mem_gb is not None else '(default)'}",
            f"array_parallelism={self.array_parallelism}",
            f"evaluation_parallelism={self.evaluation_parallelism}",
            f"max_requeues={self.max_requeues}",
        ]
        if self.extra_sbatch:
            parts.append("extra_sbatch=" + ",".join(f"{key}={value}" for key, value in self.extra_sbatch.items()))
        if self.python:
            parts.append(f"python={self.python}")
        parts.append(f"setup={self.setup}")
        return " ".join(parts)

    def preflight_errors(self) -> list[str]:
        """What stops jobs from being submitted from this machine: submitit missing, or SLURM's commands."""
        import importlib.util
        import shutil

        errors = []
        if importlib.util.find_spec("submitit") is None:
            errors.append("--executor slurm needs submitit: pip install -r requirements.txt (submitit==1.5.4)")
        missing = [command for command in ("sbatch", "srun", "sacct") if shutil.which(command) is None]
        if self.backend == "slurm" and missing:
            errors.append(
                f"--executor slurm: {', '.join(missing)} not found on PATH; run the command where SLURM jobs are "
                'submitted (a login node), or set backend = "local" to try the job path on this machine'
            )
        return errors

    def cuda_check(self) -> Callable[[], tuple[bool, str]] | None:
        """The preflight's CUDA probe: the jobs' GPUs, not this machine's (None with the local backend, whose
        jobs run here: the preflight then probes this machine)."""
        if self.backend == "local":
            return None
        if self.gpus_per_job > 0:
            found = True, f"{self.gpus_per_job} GPU(s) per job on the cluster's nodes (not checked from here)"
        else:
            found = False, "the jobs ask for no GPU (gpus_per_job = 0)"
        return lambda: found

    def executor_parameters(self, name: str, parallelism: int | None = None) -> dict[str, Any]:
        """``update_parameters`` of submitit's AutoExecutor for an array named ``name`` (``parallelism``: jobs
        at once, default ``array_parallelism``)."""
        parameters: dict[str, Any] = {
            "name": name,
            "timeout_min": int(self.time_min),
            "cpus_per_task": int(self.cpus_per_job),
            "slurm_array_parallelism": int(parallelism or self.array_parallelism),
        }
        if self.gpus_per_job:
            parameters["gpus_per_node"] = int(self.gpus_per_job)
        if self.mem_gb is not None:
            parameters["mem_gb"] = self.mem_gb
        if self.partition:
            parameters["slurm_partition"] = self.partition
        if self.account:
            parameters["slurm_account"] = self.account
        if self.setup:
            parameters["slurm_setup"] = list(self.setup)
        if self.extra_sbatch:
            parameters["slurm_additional_parameters"] = {key: str(value) for key, value in self.extra_sbatch.items()}
        return parameters


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


FIELDS = tuple(spec.name for spec in dataclasses.fields(ClusterSettings))


def read_config(path: Path) -> dict[str, Any]:
    """The settings in a ``.toml`` or ``.json`` file (flat: the field names of :class:`ClusterSettings`); an
    unknown field, a file that does not parse or a TOML file on Python 3.10 (no ``tomllib``) is a ValueError
    naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"--cluster-config {path}: cannot be read ({error.strerror or error})") from None
    try:
        if path.suffix.lower() == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                raise ValueError(f"--cluster-config {path}: TOML needs Python 3.11; write it as JSON") from None
            values = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            values = json.loads(text)
        else:
            raise ValueError(f"--cluster-config {path}: expected a .toml or .json file")
    except (ValueError, TypeError) as error:
        if str(error).startswith("--cluster-config"):
            raise
        raise ValueError(f"--cluster-config {path} does not parse: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"--cluster-config {path}: expected a table of settings, not {type(values).__name__}")
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ValueError(
            f"--cluster-config {path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}"
        )
    return values


# --------------------------------------------------------------------------------- command line

# option -> field, for the options that override the settings file
_OPTIONS = {
    "partition": "partition",
    "account": "account",
    "time_min": "time_min",
    "gpus_per_job": "gpus_per_job",
    "cpus_per_job": "cpus_per_job",
    "mem_gb": "mem_gb",
    "array_parallelism": "array_parallelism",
    "setup": "setup",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--executor`` and the cluster's settings (they override ``--cluster-config``'s)."""
    group = parser.add_argument_group("cluster (--executor slurm; docs/cluster.md)")
    group.add_argument(
        "--executor",
        choices=("local", "slurm"),
        default="local",
        help="local (default): every stage in this process, as always; slurm: each training and each evaluation "
        "a SLURM job (one job array per stage kind, submitted with submitit), data preparation and the tables here",
    )
    group.add_argument(
        "--cluster-config", type=Path, metavar="FILE", help="cluster settings, a .toml or .json file (docs/cluster.md)"
    )
    group.add_argument("--partition", help="SLURM partition of the jobs")
    group.add_argument("--account", help="SLURM account charged for the jobs")
    group.add_argument("--time-min", type=int, metavar="MIN", help="time limit of each job in minutes (default 1440)")
    group.add_argument("--gpus-per-job", type=int, metavar="N", help="GPUs of each job (default 1; 0: CPU only)")
    group.add_argument("--cpus-per-job", type=int, metavar="N", help="CPU cores of each job (default 4)")
    group.add_argument("--mem-gb", type=float, metavar="GB", help="memory of each job (default: the partition's)")
    group.add_argument(
        "--array-parallelism", type=int, metavar="N", help="jobs of one array at once at most (default 16)"
    )
    group.add_argument(
        "--setup",
        action="append",
        metavar="LINE",
        help="a shell line run before each job, e.g. 'module load cuda/12.1' (repeat for several; replaces the "
        "settings file's list)",
    )


def settings_from_arguments(args: argparse.Namespace) -> ClusterSettings | None:
    """The cluster settings of a parsed command line (None without ``--executor slurm``); ValueError when a
    setting is bad or given without ``--executor slurm``."""
    given = [option for option in ("cluster_config", *_OPTIONS) if getattr(args, option, None) is not None]
    if args.executor != "slurm":
        if given:
            names = ", ".join("--" + option.replace("_", "-") for option in given)
            raise ValueError(f"{names}: cluster settings need --executor slurm")
        return None
    values = read_config(args.cluster_config) if args.cluster_config is not None else {}
    for option, name in _OPTIONS.items():
        if getattr(args, option, None) is not None:
            values[name] = getattr(args, option)
    try:
        return ClusterSettings(**values)
    except TypeError as error:  # a settings file's value of the wrong shape
        raise ValueError(f"cluster settings: {error}") from None


# ------------------------------------------------------------------------------------ on the node


def run_stage_job(
    notebook: str | Path,
    output: str | Path,
    parameters: dict[str, Any],
    kernel: str,
    executor: Callable[[Path, Path, dict[str, Any], str], None] | None = None,
) -> str:
    """One stage in a cluster job: run ``notebook`` into ``output`` with the engine's own
    :func:`.run.execute_notebook` (``executor`` replaces it in the tests). A failure is re-raised as
    :class:`StageJobError` whose message is the notebook's last error line (the last line of the job's
    traceback, which the submitting process reads back)."""
    execute = run.execute_notebook if executor is None else executor
    try:
        execute(Path(notebook), Path(output), dict(parameters), kernel)
    except Exception as error:
        raise StageJobError(f"{type(error).__name__}: {last_line(str(error))}") from error
    return str(output)


class StageJobError(RuntimeError):
    """A stage's notebook failed in its job; the message is one line."""


class StageJob:
    """What each job runs: :func:`run_stage_job`, after the job's own set-up (the notebooks' text output into
    the job's log, ``OMP_NUM_THREADS`` from the job's cores). It has submitit's ``checkpoint`` method, so a job
    that reaches its time limit is requeued (at most ``max_requeues`` times) with ``resume=True``: a training
    continues from its checkpoint, even in a ``--force`` run."""

    def __init__(self, executor: Callable[[Path, Path, dict[str, Any], str], None] | None = None):
        self.executor = executor  # None: the real notebooks; the tests give a fake

    def __call__(self, notebook: str, output: str, parameters: dict[str, Any], kernel: str) -> str:
        prepare_job_process()
        return run_stage_job(notebook, output, parameters, kernel, self.executor)

    def checkpoint(self, notebook: str, output: str, parameters: dict[str, Any], kernel: str) -> Any:
        from submitit.helpers import DelayedSubmission

        resumed = {**parameters, "resume": True} if "resume" in parameters else dict(parameters)
        return DelayedSubmission(self, notebook, output, resumed, kernel)


def prepare_job_process() -> None:
    """In a job: log the notebooks' text output (papermill's ``log_output``) to the job's stdout file, and let
    torch use the job's cores, not every core of the node."""
    handler = logging.StreamHandler(sys.stdout)  # papermill's logger only: submitit logs its own lines already
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(run._QuietPapermill())
    papermill_log = logging.getLogger("papermill")
    papermill_log.handlers = [handler]
    papermill_log.setLevel(logging.INFO)
    papermill_log.propagate = False
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    if cpus and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = cpus  # the kernel that papermill starts inherits it


def last_line(text: str) -> str:
    """The last non-empty line of ``text``, colour codes removed."""
    lines = [line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    return lines[-1] if lines else ""


# ------------------------------------------------------------------------------- submitting side


def log_folder(results_dir: Path) -> Path:
    return Path(results_dir) / LOG_FOLDER


def make_executor(settings: ClusterSettings, folder: Path, name: str, parallelism: int | None = None) -> Any:
    """submitit's AutoExecutor for one array: its logs, pickles and sbatch file in ``folder``."""
    import submitit

    kwargs: dict[str, Any] = {"slurm_max_num_timeout": settings.max_requeues}
    if settings.python:
        kwargs["slurm_python"] = settings.python
    executor = submitit.AutoExecutor(folder=folder, cluster=settings.backend, **kwargs)
    executor.update_parameters(**settings.executor_parameters(name, parallelism))
    return executor


def write_record(results_dir: Path, settings: ClusterSettings, arrays: list[dict[str, Any]] | None = None) -> Path:
    """``<results>/cluster.json``: the settings, and each array of this run with its jobs and their outcome."""
    path = Path(results_dir) / CLUSTER_RECORD
    record = {
        "settings": settings.record(),
        "log_folder": str(log_folder(results_dir)),
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "arrays": [],
    }
    if arrays is not None and path.exists():
        try:
            record = {**json.loads(path.read_text()), "arrays": arrays}
        except ValueError:
            record["arrays"] = arrays
    write_json_atomic(path, record, indent=2, default=str)
    return path


def _read_arrays(results_dir: Path) -> list[dict[str, Any]]:
    try:
        return list(json.loads((Path(results_dir) / CLUSTER_RECORD).read_text()).get("arrays", []))
    except (OSError, ValueError, AttributeError):
        return []


@dataclass
class _Submitted:
    stage: run.Stage
    reason: str
    output: Path
    job: Any = None
    outcome: str = "submitted"


def run_array(engine: run.Engine, due: list[tuple[run.Stage, str]]) -> list[str]:
    """Submit ``due`` (stage, why it runs) as one job array, wait for every job, and check each record as
    :meth:`.run.Engine.run_stage` does; the engine's summary gets one line per stage. Returns the failures,
    one named line each (job id, state, the notebook's last error line, the executed copy, the logs); the
    stages that finished keep their records. Interrupted (Ctrl-C, SIGTERM): the unfinished jobs are cancelled."""
    options = engine.options
    settings: ClusterSettings = options.cluster
    results = Path(options.results_dir)
    kind = due[0][0].notebook
    submitted = []
    for stage, reason in due:
        notebook, output, parameters = engine.invocation(stage)
        stage.record.unlink(missing_ok=True)  # a stage that fails must not leave the old record looking valid
        output.parent.mkdir(parents=True, exist_ok=True)
        submitted.append((_Submitted(stage, reason, output), (str(notebook), str(output), parameters)))
    evaluations = kind == run.NOTEBOOKS["evaluation"]  # Table 2's inference time: measured one at a time
    parallelism = settings.evaluation_parallelism if evaluations else settings.array_parallelism
    function = StageJob(None if engine.executor is run.execute_notebook else engine.executor)
    arguments = [call for _, call in submitted]
    entries = [entry for entry, _ in submitted]
    started = time.perf_counter()
    try:
        executor = make_executor(settings, log_folder(results), f"aac-{kind}", parallelism)
        jobs = executor.map_array(
            function,
            [call[0] for call in arguments],
            [call[1] for call in arguments],
            [call[2] for call in arguments],
            [options.kernel] * len(arguments),
        )
    except Exception as error:  # no srun, sbatch refused the file (a bad partition or account), ...
        names = ", ".join(entry.stage.name for entry in entries)
        raise run.StageFailed(
            f"could not submit {names} ({type(error).__name__}: {last_line(str(error))}); none of them ran"
        ) from error
    for entry, job in zip(entries, jobs):
        entry.job = job
        print(
            f"run: ==> {entry.stage.name} ({entry.reason}): notebooks/{entry.stage.notebook}.ipynb as job "
            f"{job.job_id}; log: {job.paths.stdout}",
            flush=True,
        )
    arrays = _read_arrays(results)
    arrays.append({"stage": kind, "submitted_utc": _now(), "jobs": [_job_record(entry) for entry in entries]})
    write_record(results, settings, arrays)
    failures: list[str] = []
    pending = list(entries)
    try:
        while pending:
            for entry in list(pending):
                if not entry.job.done():
                    continue
                pending.remove(entry)
                failure = _finish(engine, entry, time.perf_counter() - started)
                if failure is not None:
                    failures.append(failure)
                arrays[-1]["jobs"] = [_job_record(item) for item in entries]
                write_record(results, settings, arrays)
            if pending:
                time.sleep(settings.poll_s)
    except BaseException:  # interrupted: the jobs would write into a folder no run holds the lock of
        for entry in pending:
            entry.job.cancel(check=False)
            entry.stage.record.unlink(missing_ok=True)
            entry.outcome = "cancelled"
        arrays[-1]["jobs"] = [_job_record(item) for item in entries]
        write_record(results, settings, arrays)
        if pending:
            names = ", ".join(f"{entry.stage.name} (job {entry.job.job_id})" for entry in pending)
            print(f"run: cancelled the unfinished jobs: {names}", file=sys.stderr, flush=True)
        raise
    return failures


def _finish(engine: run.Engine, entry: _Submitted, seconds: float) -> str | None:
    """Check a finished job's stage; None when it is good, else its failure, named."""
    job, stage = entry.job, entry.stage
    problem = job_problem(job)
    if problem is None:
        problem = run.record_problem(stage)
    took = run.format_duration(seconds)
    if problem is None:
        entry.outcome = "done"
        engine.summary.append((stage.name, f"{took} (job {job.job_id}, queue included)"))
        print(f"run: <== {stage.name} done (job {job.job_id}, {took} since submission)", flush=True)
        return None
    stage.record.unlink(missing_ok=True)  # a record written before a later cell failed is not a finished stage
    entry.outcome = f"FAILED: {problem}"
    engine.summary.append((stage.name, f"FAILED (job {job.job_id}) after {took}"))
    failure = (
        f"{stage.name}: job {job.job_id} failed ({problem}); the executed copy: {entry.output}; "
        f"logs: {job.paths.stdout}, {job.paths.stderr}"
    )
    print(f"run: FAILED {failure}", file=sys.stderr, flush=True)
    return failure


def job_problem(job: Any) -> str | None:
    """None when the job returned; else one line: the notebook's last error line, or what ended the job
    (killed, timed out, never started) with the last line of its error log."""
    from submitit.core.utils import FailedJobError, UncompletedJobError

    error = job.exception()
    if error is None:
        return None
    text = str(error)
    if isinstance(error, FailedJobError):
        found = _JOB_ERROR.findall(_ANSI.sub("", text))
        if found:
            return found[-1].strip()
        rule = "-" * 22  # submitit's FailedJobError: "... with trace:\n<rule>\n<traceback>\n<rule>\nYou can check ..."
        trace = text.split(f"with trace:\n{rule}\n", 1)[-1].split(f"\n{rule}\nYou can check", 1)[0]
        return last_line(trace) or "the job raised an error"
    if isinstance(error, UncompletedJobError):
        tail = last_line(_read(job.paths.stderr))
        return f"the job ended without a result, state {_state(job)}" + (f": {tail}" if tail else "")
    return last_line(text) or type(error).__name__


def _state(job: Any) -> str:
    try:
        return str(job.state)
    except Exception:  # the scheduler cannot be asked: the failure is still named
        return "UNKNOWN"


def _read(path: Path) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _job_record(entry: _Submitted) -> dict[str, Any]:
    job = entry.job
    return {
        "stage": entry.stage.name,
        "reason": entry.reason,
        "job_id": None if job is None else job.job_id,
        "stdout": None if job is None else str(job.paths.stdout),
        "stderr": None if job is None else str(job.paths.stderr),
        "executed": str(entry.output),
        "outcome": entry.outcome,
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
