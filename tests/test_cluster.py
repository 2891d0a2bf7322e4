"""``--executor slurm`` (aac_subsampling.cluster) without a cluster: the settings, the sbatch file submitit
writes (line by line, with submitit's own mocked SLURM), sweeps through fake ``sbatch``/``srun``/``sacct``
scripts that really run each job in a process of its own, named failures, and submitit's local executor.

The jobs run :class:`FakeStage` (it writes the records the notebooks would) instead of the notebooks, except
one slow test that runs notebook 01 in a job. What no test here can show (queueing, GPU allocation, the nodes'
environment, a real requeue) is listed in docs/cluster.md.
"""

from __future__ import annotations

import json
import os
import pickle
import shlex
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from submitit.core.core import Job
from submitit.slurm import slurm as submitit_slurm
from submitit.slurm.test_slurm import mocked_slurm

from aac_subsampling import cluster, run
from aac_subsampling.base.atomic import write_json_atomic
from aac_subsampling.experiment import layout, runkey
from aac_subsampling.run import Engine, RunOptions, StageFailed, parse_arguments, prepare_stage, why_run

from helpers import PipelineStages

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

# ----------------------------------------------------------------------------------- the fakes


class FakeStage:
    """Stands for the notebooks in a job process: writes each stage's record with the key the real notebook
    writes, and notes where it ran. Module-level and free of torch at import, so that a job process unpickles
    it by reference cheaply (``tests/`` is on the jobs' PYTHONPATH)."""

    def __init__(self, model_file: Path, fail_on: tuple[int, int] | None = None):
        self.model_file = Path(model_file)
        self.fail_on = fail_on

    def __call__(self, notebook: Path, output: Path, parameters: dict, kernel: str) -> None:
        stem, seed, factor = Path(notebook).stem, parameters.get("seed"), parameters.get("M")
        results, data = Path(parameters["results_dir"]), Path(parameters["data_dir"])
        print(f"fake {stem} seed={seed} M={factor}", flush=True)  # the job's log
        where = {
            "pid": os.getpid(),
            "env": {name: os.environ.get(name) for name in ENV_SEEN},
        }
        if stem.startswith("01"):
            write_json_atomic(results / layout.VOCABULARY_FILE, {"words": [], "counts": []})
            key = runkey.prepare_key(parameters["profile"], data)
            write_json_atomic(results / layout.PREPARED_RECORD, {"key": key, **where})
        elif stem.startswith("02"):
            if (seed, factor) == self.fail_on:
                raise RuntimeError(f"training seed={seed} M={factor} diverged")
            key = runkey.training_key(
                parameters["profile"], data, factor, seed, parameters["max_epochs"], results / layout.PREPARED_RECORD
            )
            run_dir = layout.run_dir(results, seed, factor)
            run_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.model_file, run_dir / layout.MODEL_FILE)
            record = {"key": key, "resume": parameters["resume"], "device": parameters["device"], **where}
            write_json_atomic(layout.training_record(results, seed, factor), record)
        elif stem.startswith("03"):
            key = runkey.evaluation_key(
                layout.training_record(results, seed, factor), parameters["bootstrap_resamples"]
            )
            run_dir = layout.run_dir(results, seed, factor)
            (run_dir / f"{layout.METRICS_STEM}_per_clip.csv").write_text("clip_id,CIDEr\na.wav,0.5\n")
            (run_dir / f"{layout.METRICS_STEM}_stats.csv").write_text("clip_id,bleu_1_match\na.wav,1\n")
            (run_dir / layout.PREDICTIONS_FILE).write_text("file_name,prediction,caption_1\na.wav,a dog,a dog\n")
            (run_dir / layout.BOOTSTRAP_FILE).write_text("metric,low,high\nCIDEr,0.4,0.6\n")
            write_json_atomic(layout.evaluation_record(results, seed, factor), {"key": key, **where})
        else:
            write_json_atomic(results / layout.SUMMARY_RECORD, {"key": runkey.results_key(results), **where})
        Path(output).write_text(json.dumps({"executed": stem, **where}))


ENV_SEEN = ("SUBMITIT_EXECUTOR", "SLURM_ARRAY_TASK_ID", "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "FAKE_SETUP")

# Fake SLURM commands, first on PATH. sbatch runs the submission file's tasks (one after another, in the
# background, as SLURM would set their variables) and keeps each task's state for sacct; a task named in
# $FAKE_SLURM_TIMEOUT is not run but ends as TIMEOUT, with SLURM's line in its error log; with
# $FAKE_SLURM_HOLD set the tasks stay PENDING. The tasks run sbatch's own copy of the submission file: submitit
# renames its file once sbatch has answered, so a task that starts late would not find it (a job FAILED with no log).
FAKE_SBATCH = r"""#!/usr/bin/env bash
set -euo pipefail
file="$1"; dir="$FAKE_SLURM_DIR"
id=$(cat "$dir/next_id" 2>/dev/null || echo 100); echo $((id + 1)) > "$dir/next_id"
cp "$file" "$dir/$id.sbatch"
last=$(sed -n 's/^#SBATCH --array=0-\([0-9]*\)%.*/\1/p' "$file")
errors=$(sed -n 's/^#SBATCH --error=//p' "$file")
if [[ -z "$last" ]]; then tasks=("$id"); else tasks=(); for i in $(seq 0 "$last"); do tasks+=("${id}_$i"); done; fi
for task in "${tasks[@]}"; do echo PENDING > "$dir/$task.state"; done
if [[ -n "${FAKE_SLURM_HOLD:-}" ]]; then echo "Submitted batch job $id"; exit 0; fi  # queued for ever
(
    for task in "${tasks[@]}"; do
        index="${task#*_}"; [[ "$task" == *_* ]] || index=""
        if [[ " ${FAKE_SLURM_TIMEOUT:-} " == *" $task "* ]]; then
            err=$(echo "$errors" | sed -e "s/%A/$id/g" -e "s/%a/$index/g" -e "s/%j/$id/g")
            echo "slurmstepd: error: *** JOB $task ON fakenode CANCELLED AT now DUE TO TIME LIMIT ***" >> "$err"
            echo TIMEOUT > "$dir/$task.state"; continue
        fi
        echo RUNNING > "$dir/$task.state"
        if [[ -n "$index" ]]; then export SLURM_ARRAY_JOB_ID="$id" SLURM_ARRAY_TASK_ID="$index"; fi
        if SLURM_JOB_ID="$id" SLURM_PROCID=0 SLURM_LOCALID=0 SLURM_NTASKS=1 SLURM_CPUS_PER_TASK=3 bash "$dir/$id.sbatch"
        then echo COMPLETED > "$dir/$task.state"; else echo FAILED > "$dir/$task.state"; fi
    done
) </dev/null >/dev/null 2>&1 &
echo "Submitted batch job $id"
"""
FAKE_SRUN = r"""#!/usr/bin/env bash
out=/dev/null; err=/dev/null
while [[ $# -gt 0 ]]; do
    case "$1" in --output) out="$2"; shift 2;; --error) err="$2"; shift 2;; --*) shift;; *) break;; esac
done
expand() { echo "$1" | sed -e "s/%A/${SLURM_ARRAY_JOB_ID:-}/g" -e "s/%a/${SLURM_ARRAY_TASK_ID:-}/g" \
    -e "s/%j/$SLURM_JOB_ID/g" -e "s/%t/0/g"; }
exec "$@" >>"$(expand "$out")" 2>>"$(expand "$err")"
"""
FAKE_SACCT = r"""#!/usr/bin/env bash
echo "JobID|State|NodeList"
while [[ $# -gt 0 ]]; do
    if [[ "$1" == "-j" ]]; then
        for f in "$FAKE_SLURM_DIR/$2".state "$FAKE_SLURM_DIR/$2"_*.state; do
            [[ -f "$f" ]] && echo "$(basename "$f" .state)|$(cat "$f")|fakenode"
        done
        shift 2
    else
        shift
    fi
done
exit 0
"""
FAKE_SCANCEL = r"""#!/usr/bin/env bash
echo "$@" >> "$FAKE_SLURM_DIR/scancel.log"
"""


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    import torch  # here, not at import: a job process imports this module

    path = tmp_path_factory.mktemp("model") / "model.pt"
    torch.save({"weight": torch.zeros(1)}, path)
    return path


@pytest.fixture
def fresh_watcher():
    """submitit caches finished jobs' states by id in one watcher per process: each test starts afresh."""
    submitit_slurm.SlurmJob.watcher.clear()
    yield
    submitit_slurm.SlurmJob.watcher.clear()


@pytest.fixture
def job_env(monkeypatch):
    """The jobs' processes import this module (FakeStage) and the package, as a node would."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), str(ROOT / "lib")]))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch, fresh_watcher, job_env) -> Path:
    """sbatch, srun, sacct and scancel first on PATH; returns their state folder."""
    bin_dir, state = tmp_path / "fake_bin", tmp_path / "fake_slurm"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("srun", FAKE_SRUN), ("sacct", FAKE_SACCT), ("scancel", FAKE_SCANCEL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(state))
    return state


def options_for(tmp_path, corpus, **overrides) -> RunOptions:
    settings = {"time_min": 30, "gpus_per_job": 0, "cpus_per_job": 3, "poll_s": 0.2, "setup": ["export FAKE_SETUP=1"]}
    settings.update(overrides.pop("cluster", {}))
    values = {
        "profile": "smoke",
        "data_dir": corpus,
        "results_dir": tmp_path / "results",
        "factors": [1, 4],
        "executor": "slurm",
        "cluster": cluster.ClusterSettings(**settings),
    }
    return RunOptions(**{**values, **overrides})


def record(path: Path) -> dict:
    return json.loads(path.read_text())


def submissions(state: Path) -> list[Path]:
    return sorted(state.glob("*.sbatch"))


# -------------------------------------------------------------------------------- the settings


def test_the_default_executor_is_the_engine_as_before(tmp_path):
    options = parse_arguments(["--results-dir", str(tmp_path)], resolve_jobs=False)
    assert options.executor == "local" and options.cluster is None


def test_settings_come_from_a_toml_or_json_file_and_options_override_them(tmp_path):
    toml = tmp_path / "cluster.toml"
    toml.write_text(
        'partition = "gpu"\naccount = "proj42"\ntime_min = 600\ngpus_per_job = 1\ncpus_per_job = 8\n'
        'mem_gb = 32\narray_parallelism = 5\nsetup = ["module load cuda/12.1", "source /shared/venv/bin/activate"]\n'
        'extra_sbatch = { qos = "normal" }\n'
    )
    options = parse_arguments(
        ["--executor", "slurm", "--cluster-config", str(toml), "--partition", "a100", "--time-min", "90"],
        resolve_jobs=False,
    )
    settings = options.cluster
    assert (settings.partition, settings.account, settings.time_min, settings.mem_gb) == ("a100", "proj42", 90, 32)
    assert settings.setup == ["module load cuda/12.1", "source /shared/venv/bin/activate"]
    assert settings.extra_sbatch == {"qos": "normal"} and settings.backend == "slurm"
    as_json = tmp_path / "cluster.json"
    as_json.write_text(json.dumps({"gpus_per_job": 0, "cpus_per_job": 2, "setup": ["module load java"]}))
    options = parse_arguments(
        ["--executor", "slurm", "--cluster-config", str(as_json), "--setup", "module load python"], resolve_jobs=False
    )
    assert (options.cluster.gpus_per_job, options.cluster.cpus_per_job) == (0, 2)
    assert options.cluster.setup == ["module load python"]  # the command line's list replaces the file's
    assert parse_arguments(["--executor", "slurm"], resolve_jobs=False).cluster == cluster.ClusterSettings()


@pytest.mark.parametrize(
    ("arguments", "config", "message"),
    [
        (["--partition", "gpu"], None, "--partition: cluster settings need --executor slurm"),
        (["--executor", "slurm", "--time-min", "0"], None, "time_min must be a positive integer"),
        (["--executor", "slurm", "--gpus", "0,1"], None, "--gpus and --jobs share this machine's devices"),
        (["--executor", "slurm"], {"partiton": "gpu"}, "unknown setting(s) partiton; known: partition"),
        (["--executor", "slurm"], {"setup": "module load x"}, "setup must be a list of shell lines"),
        (["--executor", "slurm"], {"backend": "pbs"}, "backend must be one of slurm, local"),
    ],
)
def test_bad_settings_are_refused_by_name(tmp_path, capsys, arguments, config, message):
    if config is not None:
        path = tmp_path / "settings.json"
        path.write_text(json.dumps(config))
        arguments = [*arguments, "--cluster-config", str(path)]
    with pytest.raises(SystemExit) as exit_info:
        parse_arguments(arguments, resolve_jobs=False)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_settings_file_that_does_not_parse_is_named(tmp_path, capsys):
    path = tmp_path / "cluster.toml"
    path.write_text("partition = \n")
    with pytest.raises(SystemExit):
        parse_arguments(["--executor", "slurm", "--cluster-config", str(path)], resolve_jobs=False)
    assert f"--cluster-config {path} does not parse" in capsys.readouterr().err


def test_the_preflight_asks_about_the_jobs_gpus_not_this_machines():
    assert cluster.ClusterSettings(gpus_per_job=2).cuda_check()()[0] is True
    assert cluster.ClusterSettings(gpus_per_job=0).cuda_check()()[0] is False
    assert cluster.ClusterSettings(backend="local").cuda_check() is None  # local jobs: this machine is probed


def test_the_preflight_refuses_a_machine_without_slurm_before_any_work(tmp_path, corpus, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    options = options_for(tmp_path, corpus)
    assert run.run_preflight(options) is False
    captured = capsys.readouterr()
    assert "sbatch, srun, sacct not found on PATH" in captured.out + captured.err
    assert cluster.ClusterSettings(backend="local").preflight_errors() == []


def test_a_refused_submission_is_a_named_failure(tmp_path, corpus, fake_slurm, model_file):
    (tmp_path / "fake_bin" / "sbatch").write_text(
        "#!/usr/bin/env bash\necho 'sbatch: error: invalid partition' >&2\nexit 1\n"
    )
    engine = Engine(options_for(tmp_path, corpus, factors=[4]), executor=FakeStage(model_file))
    with pytest.raises(StageFailed, match=r"could not submit training seed=0 M=4 \(.*\); none of them ran"):
        engine.run()


# ------------------------------------------------------------------------- the sbatch file, line by line


def test_the_sbatch_file_line_by_line(tmp_path, fresh_watcher):
    settings = cluster.ClusterSettings(
        partition="gpu",
        account="proj42",
        time_min=600,
        gpus_per_job=1,
        cpus_per_job=8,
        mem_gb=32,
        array_parallelism=2,
        setup=["module load cuda/12.1", "source /shared/aac/.venv/bin/activate"],
        extra_sbatch={"qos": "normal"},
    )
    folder = tmp_path / "slurm_logs"
    with mocked_slurm():
        executor = cluster.make_executor(settings, folder, "aac-02_training")
        jobs = executor.map_array(cluster.StageJob(), ["a.ipynb"] * 3, ["o.ipynb"] * 3, [{}] * 3, ["k"] * 3)
    array_id = jobs[0].job_id.split("_")[0]
    assert [job.job_id for job in jobs] == [f"{array_id}_{index}" for index in range(3)]
    lines = Job(folder, job_id=array_id).paths.submission_file.read_text().splitlines()
    python = shlex.quote(sys.executable)
    assert lines == [
        "#!/bin/bash",
        "",
        "# Parameters",
        "#SBATCH --account=proj42",
        "#SBATCH --array=0-2%2",
        "#SBATCH --cpus-per-task=8",
        f"#SBATCH --error={folder}/%A_%a_0_log.err",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --job-name=aac-02_training",
        "#SBATCH --mem=32GB",
        "#SBATCH --nodes=1",
        "#SBATCH --open-mode=append",
        f"#SBATCH --output={folder}/%A_%a_0_log.out",
        "#SBATCH --partition=gpu",
        "#SBATCH --qos=normal",
        "#SBATCH --signal=USR2@90",
        "#SBATCH --time=600",
        "#SBATCH --wckey=submitit",
        "",
        "# setup",
        "module load cuda/12.1",
        "source /shared/aac/.venv/bin/activate",
        "",
        "# command",
        "export SUBMITIT_EXECUTOR=slurm",
        f"srun --unbuffered --output {folder}/%A_%a_%t_log.out --error {folder}/%A_%a_%t_log.err "
        f"{python} -u -m submitit.core._submit {folder}",
    ]


def test_defaults_leave_partition_account_memory_and_gpus_to_the_cluster(tmp_path, fresh_watcher):
    folder = tmp_path / "slurm_logs"
    with mocked_slurm():
        executor = cluster.make_executor(cluster.ClusterSettings(gpus_per_job=0), folder, "aac-03_evaluation")
        job = executor.submit(cluster.StageJob(), "a.ipynb", "o.ipynb", {}, "k")  # one stage: no array
    flags = {line.split("=")[0] for line in job.paths.submission_file.read_text().splitlines() if "#SBATCH" in line}
    assert not flags & {"#SBATCH --partition", "#SBATCH --account", "#SBATCH --mem", "#SBATCH --gpus-per-node"}
    assert not flags & {"#SBATCH --array"} and "#SBATCH --time" in flags


def test_the_job_function_is_the_packages_and_a_requeue_resumes():
    """A node unpickles the job by name (aac_subsampling.cluster.StageJob), never a test's function; a job
    requeued after its time limit runs again with resume=True, even in a --force run (resume=False)."""
    assert b"aac_subsampling.cluster" in pickle.dumps(cluster.StageJob())  # by name, as cloudpickle too
    parameters = {"seed": 0, "M": 4, "resume": False}
    again = cluster.StageJob().checkpoint("02_training.ipynb", "out.ipynb", parameters, "kernel")
    assert again.args == ("02_training.ipynb", "out.ipynb", {**parameters, "resume": True}, "kernel")
    assert isinstance(again.function, cluster.StageJob) and parameters["resume"] is False


def test_a_failing_notebook_becomes_one_line_naming_its_error(tmp_path):
    def failing(notebook, output, parameters, kernel):
        raise RuntimeError("Exception encountered\n---\n\x1b[0;31mValueError\x1b[0m: M must be positive\n")

    with pytest.raises(cluster.StageJobError, match=r"^RuntimeError: ValueError: M must be positive$"):
        cluster.run_stage_job("nb.ipynb", tmp_path / "out.ipynb", {}, "kernel", executor=failing)


def test_a_job_that_fails_outside_the_notebook_is_named_by_its_tracebacks_last_line(tmp_path):
    """E.g. a node whose Python cannot import the package: the error is submitit's, not the notebook's."""
    from submitit.core.utils import FailedJobError

    rule = "-" * 22
    trace = "Traceback (most recent call last):\n  ...\nModuleNotFoundError: No module named 'aac_subsampling'"
    message = f"Job (task=0) failed during processing with trace:\n{rule}\n{trace}\n{rule}\nYou can check full logs"

    class Failed:
        def exception(self):
            return FailedJobError(message)

    assert cluster.job_problem(Failed()) == "ModuleNotFoundError: No module named 'aac_subsampling'"


# ------------------------------------------------------------------- sweeps through fake SLURM commands


def test_a_sweep_through_fake_slurm_runs_each_stage_as_a_job_and_a_second_run_skips_them(
    tmp_path, corpus, fake_slurm, model_file, capsys
):
    options = options_for(tmp_path, corpus)
    results = Path(options.results_dir)
    engine = Engine(options, executor=FakeStage(model_file))
    engine.run()
    out = capsys.readouterr().out
    # one array per stage kind: the two trainings, then the two evaluations
    arrays = submissions(fake_slurm)
    assert [path.stem for path in arrays] == ["100", "101"]
    assert "#SBATCH --job-name=aac-02_training" in arrays[0].read_text()
    assert "#SBATCH --array=0-1%2" in arrays[0].read_text() and "export FAKE_SETUP=1" in arrays[0].read_text()
    assert "#SBATCH --job-name=aac-03_evaluation" in arrays[1].read_text()
    assert "#SBATCH --array=0-1%1" in arrays[1].read_text()  # evaluations one at a time (Table 2's timing)
    for index, factor in enumerate([1, 4]):
        training = record(layout.training_record(results, 0, factor))
        assert training["pid"] != os.getpid() and training["resume"] is True
        assert training["env"] == {
            "SUBMITIT_EXECUTOR": "slurm",
            "SLURM_ARRAY_TASK_ID": str(index),
            "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "OMP_NUM_THREADS": "3",  # the job's cores (SLURM_CPUS_PER_TASK), not the node's
            "FAKE_SETUP": "1",  # the setup lines ran before the job
        }
        assert record(layout.evaluation_record(results, 0, factor))["pid"] != os.getpid()
        assert (results / "executed" / f"02_training_seed0_M{factor}.ipynb").exists()
        # the job's log holds the notebook's text output
        assert f"fake 02_training seed=0 M={factor}" in (results / "slurm_logs" / f"100_{index}_0_log.out").read_text()
    # data preparation and the tables ran here
    assert record(results / layout.PREPARED_RECORD)["pid"] == os.getpid()
    assert record(results / layout.SUMMARY_RECORD)["pid"] == os.getpid()
    assert "run: ==> training seed=0 M=4 (no record yet): notebooks/02_training.ipynb as job 100_1" in out
    written = record(results / cluster.CLUSTER_RECORD)
    assert written["settings"] == options.cluster.record()
    assert [[job["outcome"] for job in array["jobs"]] for array in written["arrays"]] == [["done"] * 2] * 2
    assert written["arrays"][0]["jobs"][1]["job_id"] == "100_1"

    again = Engine(options_for(tmp_path, corpus), executor=FakeStage(model_file))
    again.run()
    assert len(submissions(fake_slurm)) == 2  # nothing submitted: every record matches
    assert [outcome for _, outcome in again.summary] == ["skipped"] * 6
    assert record(results / cluster.CLUSTER_RECORD)["arrays"] == []


def test_failed_and_timed_out_jobs_are_named_and_the_others_kept_then_resubmission_resumes(
    tmp_path, corpus, fake_slurm, model_file, monkeypatch
):
    monkeypatch.setattr(Job, "_results_timeout_s", 0)  # no result pickle: say so at once, not after 15 s
    monkeypatch.setenv("FAKE_SLURM_TIMEOUT", "100_2")
    options = options_for(tmp_path, corpus, factors=[1, 4, 16])
    results = Path(options.results_dir)
    engine = Engine(options, executor=FakeStage(model_file, fail_on=(0, 4)))
    with pytest.raises(StageFailed) as failed:
        engine.run()
    message = str(failed.value)
    logs = results / "slurm_logs"
    assert (
        "training seed=0 M=4: job 100_1 failed (RuntimeError: training seed=0 M=4 diverged); the executed "
        f"copy: {results}/executed/02_training_seed0_M4.ipynb; logs: {logs}/100_1_0_log.out, {logs}/100_1_0_log.err"
    ) in message
    assert (
        "training seed=0 M=16: job 100_2 failed (the job ended without a result, state TIMEOUT: "
        "slurmstepd: error: *** JOB 100_2 ON fakenode CANCELLED AT now DUE TO TIME LIMIT ***)"
    ) in message
    # the finished job's stages are kept: M = 1 trained and evaluated; no tables from an incomplete sweep
    assert layout.evaluation_record(results, 0, 1).exists()
    assert not layout.training_record(results, 0, 4).exists() and not (results / layout.SUMMARY_RECORD).exists()
    summary = dict(engine.summary)
    assert summary["evaluation seed=0 M=4"] == summary["evaluation seed=0 M=16"] == "not run (its training failed)"
    assert summary["training seed=0 M=4"].startswith("FAILED (job 100_1)")
    outcomes = [job["outcome"] for job in record(results / cluster.CLUSTER_RECORD)["arrays"][0]["jobs"]]
    assert outcomes[0] == "done" and outcomes[1].startswith("FAILED: RuntimeError") and "TIMEOUT" in outcomes[2]

    monkeypatch.delenv("FAKE_SLURM_TIMEOUT")
    again = Engine(options_for(tmp_path, corpus, factors=[1, 4, 16]), executor=FakeStage(model_file))
    again.run()
    assert [path.stem for path in submissions(fake_slurm)] == ["100", "101", "102", "103"]
    assert "#SBATCH --array=0-1%2" in (fake_slurm / "102.sbatch").read_text()  # only the two to redo
    assert record(layout.training_record(results, 0, 16))["resume"] is True  # from its checkpoint, if any
    assert dict(again.summary)["training seed=0 M=1"] == "skipped"
    assert (results / layout.SUMMARY_RECORD).exists()


def test_force_resubmits_every_stage_and_trains_from_scratch(tmp_path, corpus, fake_slurm, model_file):
    Engine(options_for(tmp_path, corpus, factors=[4]), executor=FakeStage(model_file)).run()
    Engine(options_for(tmp_path, corpus, factors=[4], force=True), executor=FakeStage(model_file)).run()
    assert len(submissions(fake_slurm)) == 4
    assert record(layout.training_record(tmp_path / "results", 0, 4))["resume"] is False


def test_an_interrupted_run_cancels_its_jobs(tmp_path, corpus, fake_slurm, model_file, monkeypatch):
    """The lock goes with the submitting process: jobs left running would write into a folder nobody holds."""

    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(cluster.time, "sleep", interrupted)
    monkeypatch.setenv("FAKE_SLURM_HOLD", "1")  # the job is still queued when the run is interrupted
    engine = Engine(options_for(tmp_path, corpus, factors=[4]), executor=FakeStage(model_file))
    with pytest.raises(KeyboardInterrupt):
        engine.run()
    assert (fake_slurm / "scancel.log").read_text().split() == ["100"]
    jobs = record(tmp_path / "results" / cluster.CLUSTER_RECORD)["arrays"][0]["jobs"]
    assert jobs[0]["outcome"] == "cancelled"


def test_the_command_prints_the_cluster_in_its_header_and_names_a_failed_job(
    tmp_path, corpus, fake_slurm, model_file, monkeypatch, capsys
):
    original = run.Engine
    monkeypatch.setattr(run, "Engine", lambda options: original(options, executor=FakeStage(model_file, (0, 16))))
    settings = tmp_path / "cluster.json"
    settings.write_text(json.dumps({"partition": "debug", "gpus_per_job": 0, "time_min": 20, "poll_s": 0.2}))
    arguments = ["--profile", "smoke", "--data-dir", str(corpus), "--results-dir", str(tmp_path / "results")]
    arguments += ["--m", "16", "--no-preflight", "--executor", "slurm", "--cluster-config", str(settings)]
    assert run.main(arguments) == 1
    captured = capsys.readouterr()
    assert (
        "run: executor=slurm cluster: backend=slurm partition=debug account=(default) time_min=20 gpus_per_job=0 "
        "cpus_per_job=4 mem_gb=(default) array_parallelism=16 evaluation_parallelism=1 max_requeues=3 setup=[]"
    ) in captured.out
    assert "run: FAILED: training seed=0 M=16: job 100 failed (RuntimeError: training seed=0 M=16 diverged)" in (
        captured.err
    )
    assert record(tmp_path / "results" / cluster.CLUSTER_RECORD)["settings"]["partition"] == "debug"


@pytest.mark.slow
def test_a_real_notebook_runs_in_a_job(tmp_path, fake_slurm):
    """Notebook 01 of the smoke profile, through papermill and its kernel, in a fake SLURM job."""
    options = RunOptions(
        profile="smoke",
        data_dir=tmp_path / "data",
        results_dir=tmp_path / "results",
        factors=[1],
        executor="slurm",
        cluster=cluster.ClusterSettings(gpus_per_job=0, time_min=30, poll_s=0.5),
    )
    engine = Engine(options)
    stage = prepare_stage(options)
    assert engine.run_as_jobs([stage]) == []
    assert why_run(stage, False) is None  # its record holds the run key this engine expects
    job_log = (tmp_path / "results" / "slurm_logs" / "100_0_log.out").read_text()
    assert "profile 'smoke'" in job_log and "Executing Cell" not in job_log  # the notebook's output, quietly
    assert (tmp_path / "results" / "executed" / "01_data_preparation.ipynb").exists()


# ----------------------------------------------------------------------- submitit's local executor


def test_the_local_executor_runs_the_sweep_as_processes_here(tmp_path, corpus, model_file, job_env):
    """cluster="local": the job path without SLURM. Every job is a process on this machine, started at once,
    each with the same CUDA_VISIBLE_DEVICES (docs/cluster.md); the time limit is set (submitit's default
    would kill a job after about 2 minutes)."""
    options = options_for(tmp_path, corpus, cluster={"backend": "local", "gpus_per_job": 1})
    results = Path(options.results_dir)
    Engine(options, executor=FakeStage(model_file)).run()
    seen = []
    for factor in (1, 4):
        training = record(layout.training_record(results, 0, factor))
        assert training["pid"] != os.getpid() and training["env"]["SUBMITIT_EXECUTOR"] == "local"
        seen.append(training["env"]["CUDA_VISIBLE_DEVICES"])
        assert layout.evaluation_record(results, 0, factor).exists()
    assert seen == ["0", "0"]  # one GPU each, and it is the same GPU
    assert record(results / layout.SUMMARY_RECORD)["pid"] == os.getpid()
    executor = cluster.make_executor(options.cluster, tmp_path / "probe", "probe")
    assert executor.parameters["timeout_min"] == 30


# ------------------------------------------------------------------------- the same tables either way


@pytest.mark.slow
def test_a_smoke_sweep_as_jobs_gives_the_tables_of_a_local_run(tmp_path, fake_slurm):
    """`--profile smoke --executor slurm` against the fake SLURM commands, and with submitit's local executor:
    the trainings and evaluations run as jobs in processes of their own, and Table 1 equals the in-process run's.
    The stages run the notebooks' library calls (helpers.PipelineStages); notebook 01 through papermill in a job
    is the test above."""
    data = tmp_path / "corpus"

    def sweep(name: str, **options) -> pd.DataFrame:
        settings = RunOptions(
            profile="smoke", data_dir=data, results_dir=tmp_path / name, factors=[16], max_epochs=1, device="cpu",
            jobs=1, **options,
        )  # fmt: skip
        Engine(settings, executor=PipelineStages()).run()
        return pd.read_csv(tmp_path / name / "table1.csv")

    local = sweep("local")
    jobs = {"time_min": 30, "gpus_per_job": 0, "poll_s": 0.5}
    slurm = sweep("slurm", executor="slurm", cluster=cluster.ClusterSettings(**jobs))
    arrays = record(tmp_path / "slurm" / cluster.CLUSTER_RECORD)["arrays"]
    assert [len(array["jobs"]) for array in arrays] == [1, 1], arrays  # the training, then the evaluation: jobs
    pd.testing.assert_frame_equal(slurm, local)
    local_executor = sweep("submitit_local", executor="slurm", cluster=cluster.ClusterSettings(backend="local", **jobs))
    pd.testing.assert_frame_equal(local_executor, local)
