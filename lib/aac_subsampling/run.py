"""The run engine: ``python -m aac_subsampling.run`` (``./run_all.sh`` sets up the environment, then
runs this). It executes the notebooks with papermill, in order::

    01_data_preparation                       -> <results>/prepared.json
    for each seed, for each M:
        02_training   (seed, M)               -> <results>/seed<S>/M<M>/training.json
        03_evaluation (seed, M)               -> <results>/seed<S>/M<M>/evaluation.json
    04_results                                -> <results>/table1.csv, table2.csv, ... and figures/
    05_open_questions (--open-questions)      -> <results>/open_questions/study.json, comparisons.csv, ...

A stage is skipped only when its record holds the run key the stage would write now (see
:mod:`.runkey`); otherwise it runs, and the line says which part of the key changed. An unfinished
training resumes from its checkpoint. One run at a time per results folder (:mod:`.lock`).
``--publish`` copies the results meant to be read into ``results/published/<profile>/`` (see
:mod:`.publish`). ``--executor slurm`` sends the trainings and evaluations to SLURM as jobs (:mod:`.cluster`).
Its options and command line: :mod:`.run_options`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aac_subsampling.base import paths
from aac_subsampling.base.progress import text_progress_for_children
from aac_subsampling.experiment import layout, runkey
from aac_subsampling.experiment.leftovers import old_layout_files, remove_old_layout, remove_stale_scratch
from aac_subsampling.run_options import (  # noqa: F401 - the engine's command line, re-exported
    NOTEBOOKS,
    RunOptions,
    check_arguments,
    default_jobs,
    notebook_parameters,
    parse_arguments,
)

BOOTSTRAP_RESAMPLES = 1000

log = logging.getLogger("aac_subsampling.run")


# -------------------------------------------------------------------------------------- stages


@dataclass
class Stage:
    """One notebook run: what it writes and the key that record must hold to be reused."""

    name: str  # e.g. "training seed=0 M=4"
    notebook: str
    executed_name: str
    record: Path
    expected_key: Callable[[], dict[str, Any]]  # computed when the stage is reached (after its upstream)
    parameters: dict[str, Any]


def _common_parameters(options: RunOptions) -> dict[str, Any]:
    return {
        "profile": options.profile,
        "data_dir": str(options.data_dir),
        "results_dir": str(options.results_dir),
        "device": options.device,
        "max_epochs": options.max_epochs,
        "headless": True,
    }


def prepare_stage(options: RunOptions) -> Stage:
    return Stage(
        "data preparation",
        NOTEBOOKS["prepare"],
        NOTEBOOKS["prepare"],
        Path(options.results_dir) / layout.PREPARED_RECORD,
        lambda: runkey.prepare_key(options.profile, options.data_dir, options.skip_bad),
        {**_common_parameters(options), "seed": options.seeds[0], **({"skip_bad": True} if options.skip_bad else {})},
    )


def training_stage(options: RunOptions, seed: int, factor: int, device: str | None = None) -> Stage:
    results = Path(options.results_dir)
    return Stage(
        f"training seed={seed} M={factor}",
        NOTEBOOKS["training"],
        f"{NOTEBOOKS['training']}_seed{seed}_M{factor}",
        layout.training_record(results, seed, factor),
        lambda: runkey.training_key(
            options.profile, options.data_dir, factor, seed, options.max_epochs, results / layout.PREPARED_RECORD
        ),
        {**_common_parameters(options), "seed": seed, "M": factor, "resume": True, "device": device or options.device},
    )


def evaluation_stage(options: RunOptions, seed: int, factor: int) -> Stage:
    results = Path(options.results_dir)
    return Stage(
        f"evaluation seed={seed} M={factor}",
        NOTEBOOKS["evaluation"],
        f"{NOTEBOOKS['evaluation']}_seed{seed}_M{factor}",
        layout.evaluation_record(results, seed, factor),
        lambda: runkey.evaluation_key(layout.training_record(results, seed, factor), BOOTSTRAP_RESAMPLES),
        {**_common_parameters(options), "seed": seed, "M": factor, "bootstrap_resamples": BOOTSTRAP_RESAMPLES},
    )


def results_stage(options: RunOptions) -> Stage:
    return Stage(
        "results tables",
        NOTEBOOKS["results"],
        NOTEBOOKS["results"],
        Path(options.results_dir) / layout.SUMMARY_RECORD,
        lambda: runkey.results_key(options.results_dir),
        _common_parameters(options),
    )


def open_questions_stage(options: RunOptions) -> Stage:
    from aac_subsampling.open_questions import variants

    results = Path(options.results_dir)
    return Stage(
        "open questions",
        NOTEBOOKS["open_questions"],
        NOTEBOOKS["open_questions"],
        variants.study_record_path(results),
        lambda: variants.study_key(
            options.profile,
            results,
            variants.default_seeds(options.profile),
            variants.DEFAULT_FACTORS,
            options.max_epochs,
            questions=options.questions,
        ),
        {**_common_parameters(options), "questions": options.questions},
    )


def why_run(stage: Stage, force: bool) -> str | None:
    """None when the stage's record can be reused; else the reason to run it, truthfully: no record yet, the
    record is corrupt (not valid JSON, or no JSON object), it has no run key (an older version's), it was made
    with other settings (which ones), or a file it stands for is missing or corrupt (e.g. ``model.pt``)."""
    if force:
        return "--force"
    key, problem = runkey.record_key(stage.record)
    if problem == "missing":
        return "no record yet"
    if problem is not None:
        return f"{stage.record.name} is {problem}"
    changes = runkey.key_changes(key, stage.expected_key())
    if changes:
        return "; ".join(changes) if key is None else "settings changed: " + "; ".join(changes)
    return runkey.artefact_problem(stage.record)


# ------------------------------------------------------------------------------------ execution


def execute_notebook(notebook: Path, output: Path, parameters: dict[str, Any], kernel: str) -> None:
    """Run one notebook with papermill (its cell outputs go to the log, one line each)."""
    import papermill

    with text_progress_for_children():  # the saved notebook keeps text bars, not widgets without state
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name=kernel,
            cwd=str(notebook.parent),
            log_output=True,
            progress_bar=False,
            extra_arguments=quiet_kernel_arguments(kernel),
        )


def quiet_kernel_arguments(kernel: str) -> list[str]:
    """Kernel arguments that keep an IPython kernel's own warnings out of the log, errors kept.

    The kernel writes ``[IPKernelApp] WARNING | Kernel is running over TCP without encryption...`` straight to
    the stderr it inherits, before any cell, so no logging filter of this process sees it; the kernel's log
    level is the only switch (the notebooks' own output and warnings are cell output, not the kernel's log).
    Not passed to a kernel that is not ipykernel (another kernel would not know the option)."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        argv = KernelSpecManager().get_kernel_spec(kernel).argv
    except Exception:  # an unknown kernel: papermill names it
        return []
    return ["--IPKernelApp.log_level=ERROR"] if any("ipykernel" in part for part in argv) else []


class StageFailed(RuntimeError):
    pass


@dataclass
class Engine:
    options: RunOptions
    executor: Callable[[Path, Path, dict[str, Any], str], None] = execute_notebook
    summary: list[tuple[str, str]] = field(default_factory=list)  # (stage, outcome) for the closing table

    @property
    def notebooks_dir(self) -> Path:
        return paths.project_root(Path(__file__).parent) / "notebooks"

    def executed_path(self, stage: Stage) -> Path:
        return layout.executed_dir(self.options.results_dir) / f"{stage.executed_name}.ipynb"

    def invocation(self, stage: Stage) -> tuple[Path, Path, dict[str, Any]]:
        """(notebook, executed copy, parameters) of a stage that runs; ``--force`` trains from scratch."""
        parameters = dict(stage.parameters)
        if self.options.force and "resume" in parameters:
            parameters["resume"] = False
        return self.notebooks_dir / f"{stage.notebook}.ipynb", self.executed_path(stage), parameters

    def run_stage(self, stage: Stage, log_path: Path | None = None) -> bool:
        """Run the stage unless its record can be reused; True when it ran. With ``log_path`` the notebook runs
        in a process of its own, its output going to that file (for trainings run side by side)."""
        reason = why_run(stage, self.options.force)
        if reason is None:
            print(
                f"run: [skipped] {stage.name}: {_relative(stage.record, self.options.results_dir)} matches", flush=True
            )
            self.summary.append((stage.name, "skipped"))
            return False
        where = f" on {stage.parameters['device']}; log: {log_path}" if log_path else ""
        print(f"run: ==> {stage.name} ({reason}): notebooks/{stage.notebook}.ipynb{where}", flush=True)
        notebook, output, parameters = self.invocation(stage)
        stage.record.unlink(missing_ok=True)  # a stage that fails must not leave the old record looking valid
        started = time.perf_counter()
        output.parent.mkdir(parents=True, exist_ok=True)
        try:
            if log_path is None or self.executor is not execute_notebook:  # tests replace the executor
                self.executor(notebook, output, parameters, self.options.kernel)
            else:
                execute_in_subprocess(
                    notebook, output, parameters, self.options.kernel, log_path, self.options.cpu_threads_per_lane
                )
            problem = record_problem(stage)
            if problem is not None:
                raise RuntimeError(problem)
        except Exception as error:  # papermill raises PapermillExecutionError with the cell's traceback
            # A stage is valid only when it finished: a record written before a later cell failed must not be
            # taken for a finished stage by the next run.
            stage.record.unlink(missing_ok=True)
            self.summary.append((stage.name, f"FAILED after {format_duration(time.perf_counter() - started)}"))
            last_line = str(error).strip().splitlines()[-1] if str(error).strip() else ""
            raise StageFailed(
                f"{stage.name}: notebooks/{stage.notebook}.ipynb failed ({type(error).__name__}: "
                f"{last_line}); the executed copy: {output}" + (f"; log: {log_path}" if log_path else "")
            ) from error
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): the stage did not finish either
            stage.record.unlink(missing_ok=True)
            raise
        took = format_duration(time.perf_counter() - started)
        self.summary.append((stage.name, took))
        print(f"run: <== {stage.name} done in {took}", flush=True)
        return True

    def run(self) -> None:
        options = self.options
        self.run_stage(prepare_stage(options))
        if not options.open_questions_only:
            self.run_main()
        if options.open_questions or options.open_questions_only:
            if options.executor == "slurm":
                self.raise_failures(self.run_as_jobs([open_questions_stage(options)]))
            else:
                self.run_stage(open_questions_stage(options))

    def run_main(self) -> None:
        options = self.options
        pairs = [(seed, factor) for seed in options.seeds for factor in options.factors]
        if options.executor == "slurm":
            self.run_main_as_jobs(pairs)
            return
        to_train = [pair for pair in pairs if why_run(training_stage(options, *pair), options.force) is not None]
        if len(options.lanes) > 1 and len(to_train) > 1:  # a lone training gets every core, not one lane's share
            self.train_in_parallel(pairs)
            for seed, factor in pairs:  # one at a time: Table 2's inference time is measured alone
                self.run_stage(evaluation_stage(options, seed, factor))
        else:
            for seed, factor in pairs:
                self.run_stage(training_stage(options, seed, factor))
                self.run_stage(evaluation_stage(options, seed, factor))
        self.run_stage(results_stage(options))

    def train_in_parallel(self, pairs: list[tuple[int, int]]) -> None:
        """Trainings on ``options.lanes`` at once (a lane: one device slot), each in its own process with its own
        log; a failure is named at the end and does not stop the others."""
        lanes: queue.Queue[str] = queue.Queue()
        for lane in self.options.lanes:
            lanes.put(lane)
        failures: list[str] = []

        def train(pair: tuple[int, int]) -> None:
            lane = lanes.get()
            try:
                stage = training_stage(self.options, *pair, device=lane)
                self.run_stage(stage, Path(self.options.results_dir) / "logs" / f"{stage.executed_name}.log")
            except StageFailed as error:
                failures.append(str(error))
            finally:
                lanes.put(lane)

        threads = [threading.Thread(target=train, args=(pair,), daemon=True) for pair in pairs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise StageFailed(" | ".join(failures))

    # ---------------------------------------------------- --executor slurm: stages as cluster jobs (.cluster)

    def run_main_as_jobs(self, pairs: list[tuple[int, int]]) -> None:
        """The trainings that must run as one job array, then the evaluations of every training that is now
        valid as another, then the tables here. A failed job is named at the end; the others' stages are kept."""
        from aac_subsampling import cluster

        options = self.options
        cluster.write_record(Path(options.results_dir), options.cluster)
        failures = self.run_as_jobs([training_stage(options, *pair) for pair in pairs])
        trained = [pair for pair in pairs if why_run(training_stage(options, *pair), False) is None]
        for seed, factor in (pair for pair in pairs if pair not in trained):
            name = evaluation_stage(options, seed, factor).name
            print(f"run: [not run] {name}: its training did not finish", flush=True)
            self.summary.append((name, "not run (its training failed)"))
        failures += self.run_as_jobs([evaluation_stage(options, *pair) for pair in trained])
        self.raise_failures(failures)
        self.run_stage(results_stage(options))

    def run_as_jobs(self, stages: list[Stage]) -> list[str]:
        """Each stage whose record cannot be reused (:func:`why_run`, as :meth:`run_stage` decides) as a job of
        one array; the failures, named (job id, state, last error line, logs)."""
        due = []
        for stage in stages:
            reason = why_run(stage, self.options.force)
            if reason is None:
                record = _relative(stage.record, self.options.results_dir)
                print(f"run: [skipped] {stage.name}: {record} matches", flush=True)
                self.summary.append((stage.name, "skipped"))
            else:
                due.append((stage, reason))
        if not due:
            return []
        from aac_subsampling import cluster

        return cluster.run_array(self, due)

    @staticmethod
    def raise_failures(failures: list[str]) -> None:
        if failures:
            raise StageFailed(" | ".join(failures))


def record_problem(stage: Stage) -> str | None:
    """None when a stage that ran left its record and the files it stands for; else what is wrong."""
    if not stage.record.exists():
        return f"the notebook finished but wrote no {stage.record}"
    problem = runkey.artefact_problem(stage.record)
    return None if problem is None else f"the notebook finished but {problem}"


def _notebook_job(
    notebook: str, output: str, parameters: dict[str, Any], kernel: str, log_path: str, threads: int | None
) -> None:
    """In a child process: run one notebook, its log to a file."""
    if threads is not None:  # the kernel inherits it: CPU trainings side by side share the cores, not oversubscribe
        os.environ["OMP_NUM_THREADS"] = str(threads)
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    handler.addFilter(_QuietPapermill())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    execute_notebook(Path(notebook), Path(output), parameters, kernel)


def execute_in_subprocess(
    notebook: Path, output: Path, parameters: dict[str, Any], kernel: str, log_path: Path, threads: int | None = None
) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    process = multiprocessing.get_context("spawn").Process(
        target=_notebook_job, args=(str(notebook), str(output), parameters, kernel, str(log_path), threads)
    )
    process.start()
    try:
        process.join()
    except BaseException:  # Ctrl-C or SIGTERM sent to this process alone: stop the notebook too, then re-raise
        stop_process(process)
        raise
    if process.exitcode != 0:
        raise RuntimeError(f"the notebook's process ended with exit code {process.exitcode}")


def stop_process(process: multiprocessing.process.BaseProcess, grace_s: float = 10.0) -> None:
    """SIGINT first (papermill then shuts its kernel down), SIGTERM after ``grace_s``, SIGKILL last.

    Without this an interrupted engine waited for its notebook: multiprocessing joins live children at exit.
    """
    for stop in (lambda: os.kill(process.pid, signal.SIGINT), process.terminate, process.kill):
        if not process.is_alive():
            return
        stop()
        process.join(grace_s)


# -------------------------------------------------------------------------------------- helpers


def format_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min {int(seconds % 60):02d} s"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{seconds:.1f} s"


def _relative(path: Path, base: Path | None) -> str:
    try:
        return Path(path).relative_to(base).as_posix() if base else str(path)
    except ValueError:
        return str(path)


def print_summary(engine: Engine, started: float, stream=sys.stdout) -> None:
    if engine.summary:
        print("run: stages:", file=stream)
        width = max(len(name) for name, _ in engine.summary)
        for name, outcome in engine.summary:
            print(f"  {name:<{width}}  {outcome}", file=stream)
    print(f"run: total wall time {format_duration(time.perf_counter() - started)}", file=stream, flush=True)


def run_preflight(options: RunOptions) -> bool:
    """The checks of :mod:`.preflight` for this run (its device, corpus, results folder, and every M it trains
    against the corpus's shortest clip), printed; True when the run may start."""
    from aac_subsampling.experiment import preflight

    device = None if options.device == "auto" else options.device
    main_sweep = not options.open_questions_only
    factors = list(options.factors) if main_sweep else []
    extra = 0
    if options.open_questions or options.open_questions_only:
        from aac_subsampling.open_questions import study, variants

        factors += variants.DEFAULT_FACTORS
        trained = len(study.study_variants(options.questions))
        extra = trained * len(variants.default_seeds(options.profile)) * len(variants.DEFAULT_FACTORS)
    report = preflight.run_checks(
        options.profile,
        options.data_dir,
        device,
        results_dir=options.results_dir,
        factors=factors,
        trainings=[(seed, factor) for seed in options.seeds for factor in options.factors] if main_sweep else [],
        extra_trainings=extra,
        cuda=None if options.cluster is None else options.cluster.cuda_check(),  # the jobs' GPUs, not this machine's
    )
    if options.cluster is not None:  # --executor slurm: can jobs be submitted from here?
        report.errors += options.cluster.preflight_errors()
    return preflight.print_report(report, options.profile, device)


class _QuietPapermill(logging.Filter):
    """Keep the notebooks' own output; drop papermill's per-cell banners and the kernel's transport notice."""

    NOISE = ("Executing Cell", "Ending Cell", "Kernel is running over TCP", "Passed unknown parameter")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(noise in message for noise in self.NOISE)


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(_QuietPapermill())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# ----------------------------------------------------------------------------- --publish, checked first


def rerun_command(arguments: list[str]) -> str:
    """The command a user typed, to be given back in advice."""
    return shlex.join(["./run_all.sh", *arguments])


def check_publishable(options: RunOptions, arguments: list[str]) -> str | None:
    """What ``--publish`` can check before the lock and any stage (:func:`.publish.check_before_run`): None
    when the run may go on, else the refusal with what to do. Prints a note on records of other commits."""
    from aac_subsampling import publish

    results_dir = Path(options.results_dir)
    own, _ = old_layout_files(results_dir)  # removed before the stages: not part of what is published
    main_sweep = not options.open_questions_only
    try:
        publish.check_before_run(
            results_dir,
            options.profile,
            options.data_dir,
            rerun_command=rerun_command(arguments),
            ignore=own,
            command_runs={(seed, factor) for seed in options.seeds for factor in options.factors}
            if main_sweep
            else set(),
            command_open_questions=options.open_questions or options.open_questions_only,
            main_part=True if main_sweep else None,
        )
    except publish.PublishError as error:
        return str(error)
    note = publish.other_commits_note(results_dir)
    if note:
        print(f"run: note: {note}", flush=True)
    return None


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    started = time.perf_counter()
    arguments = list(sys.argv[1:] if argv is None else argv)
    options = parse_arguments(argv)
    if options.publish:  # in seconds, not after the trainings
        refusal = check_publishable(options, arguments)
        if refusal is not None:
            print(f"run: --publish refused before any work: {refusal}", file=sys.stderr)
            return 4
    if options.preflight and not run_preflight(options):
        print(
            f"run: stopped before any work (preflight failed); nothing was written to {options.results_dir}",
            file=sys.stderr,
        )
        return 2
    from aac_subsampling.experiment.lock import ResultsFolderBusyError, RunLock
    from aac_subsampling.publish import PublishError

    engine = Engine(options)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with RunLock(Path(options.results_dir)) as held:
            if held.took_over:
                print(
                    f"run: took over a stale lock left by pid {held.took_over.get('pid')} "
                    f"(started {held.took_over.get('started_utc')}), which is no longer running",
                    flush=True,
                )
            print(
                f"run: profile={options.profile} results={options.results_dir} device={options.device} "
                f"seeds={options.seeds} M={options.factors}"
                + (f" max_epochs={options.max_epochs}" if options.max_epochs else "")
                + (f" lanes={options.lanes}" if len(options.lanes) > 1 else "")
                + (" --force: every stage is redone" if options.force else ""),
                flush=True,
            )
            if options.cluster is not None:  # --executor slurm; also in <results>/cluster.json
                print(f"run: executor=slurm cluster: {options.cluster.describe()}", flush=True)
            remove_stale_scratch(Path(options.results_dir))  # under the lock: no evaluation of this folder is running
            remove_old_layout(Path(options.results_dir))
            engine.run()
            if options.publish:
                from aac_subsampling.publish import publish

                destination = publish(
                    Path(options.results_dir), options.profile, rerun_command=rerun_command(arguments)
                )
                print(f"run: published into {paths.relative_to_project(destination)}", flush=True)
    except ResultsFolderBusyError as error:
        print(f"run: {error}", file=sys.stderr)
        return 3
    except PublishError as error:  # the tree or a record changed during the run
        print(f"run: the run finished but was not published: {error}", file=sys.stderr)
        print_summary(engine, started, sys.stderr)
        return 4
    except StageFailed as error:
        print(f"run: FAILED: {error}", file=sys.stderr)
        print_summary(engine, started, sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "\nrun: interrupted. Run the same command again to continue: finished stages are skipped and an "
            "unfinished training resumes from its checkpoint.",
            file=sys.stderr,
        )
        print_summary(engine, started, sys.stderr)
        return 130
    print(f"run: done; tables in {options.results_dir}")
    print_summary(engine, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
