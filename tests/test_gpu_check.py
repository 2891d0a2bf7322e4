"""The prepared GPU check runs end to end on the CPU (tiny sizes) and stays free of the heavy packages.

The GPU machine allows one call of a few minutes, so the script must work the first time there:
here it runs every section in a subprocess, exactly as it is started there, and the JSON is checked.
"""

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPOSITORY = Path(__file__).resolve().parent.parent
SCRIPT = REPOSITORY / "benchmarks" / "gpu_check.py"
FACTORS = [1, 2, 4, 8, 16]
# Packages of the data and evaluation steps that the GPU machine's check must not need.
HEAVY_MODULES = ("librosa", "soundfile", "pandas", "papermill", "pycocoevalcap")


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPOSITORY / "lib"), "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check") / "check.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--sizes",
            "tiny",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--m",
            " ".join(map(str, FACTORS)),
            "--time-budget-s",
            "240",
        ],
        cwd=REPOSITORY,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads(out.read_text()), out, completed.stdout


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN


@pytest.mark.slow
def test_every_section_ran_and_the_run_says_where_it_ran(tiny_run):
    data, _, stdout = tiny_run
    assert data["finished"] and not data["budget_exhausted"]
    statuses = {name: section["status"] for name, section in data["sections"].items()}
    assert statuses == {"resume": "ok", "training": "ok", "inference": "ok", "concurrent": "ok"}, data["sections"]
    meta = data["meta"]
    assert meta["device"] == "cpu" and meta["device_name"] == "cpu" and meta["torch"]
    assert "git_commit" in meta and meta["m_values"] == FACTORS
    assert "s/step" in stdout and "resume after kill" in stdout  # the readable table
    assert data["heavy_modules_loaded"] == []  # nothing imported them while the check ran either


@pytest.mark.slow
def test_training_and_inference_have_numbers_for_every_factor(tiny_run):
    data, _, _ = tiny_run
    training, inference = data["sections"]["training"]["per_m"], data["sections"]["inference"]["per_m"]
    for factor in map(str, FACTORS):
        assert is_number(training[factor]["seconds_per_step"]) and training[factor]["seconds_per_step"] > 0
        assert training[factor]["peak_memory_bytes"] is None  # no peak-memory count on a CPU
        assert training[factor]["captions_per_batch"] == 5 * data["meta"]["sizes"]["clips_per_batch"]
        assert is_number(inference[factor]["project_batching_seconds"])
        assert is_number(inference[factor]["sorted_batching_seconds"])
        assert is_number(inference[factor]["paper_seconds"])  # Table 2 has every M of the paper
    assert inference["1"]["paper_seconds"] == 58.81 and inference["16"]["paper_seconds"] == 20.42


@pytest.mark.slow
def test_resume_after_a_kill_gives_the_same_weights_on_cpu(tiny_run):
    resume = tiny_run[0]["sections"]["resume"]
    assert resume["killed_exit_code"] == -9
    assert resume["resumed_from_epoch"] == resume["killed_after_epochs"]
    assert resume["epochs_completed"] == resume["epochs"]
    assert resume["max_abs_diff"] < 1e-6 and resume["loss_histories_equal"]
    assert resume["optimiser_state_devices"]["exp_avg"] == ["cpu"]


@pytest.mark.slow
def test_concurrent_trainings_report_every_factor_and_a_ratio(tiny_run):
    concurrent = tiny_run[0]["sections"]["concurrent"]
    assert [process["m"] for process in concurrent["processes"]] == FACTORS
    assert all(is_number(process["seconds"]) for process in concurrent["processes"])
    assert is_number(concurrent["alone_seconds"]) and is_number(concurrent["ratio"]) and concurrent["ratio"] > 0


@pytest.mark.slow
def test_csv_has_one_row_per_factor(tiny_run):
    _, out, _ = tiny_run
    lines = out.with_suffix(".csv").read_text().splitlines()
    assert lines[0].startswith("M,train_seconds_per_step") and len(lines) == 1 + len(FACTORS)


def test_the_check_imports_no_heavy_package():
    """Import the script as a module (its main does not run) in a fresh interpreter."""
    probe = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('gpu_check', {str(SCRIPT)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules[spec.name] = module\n"
        "spec.loader.exec_module(module)\n"
        f"print([name for name in sys.modules if name.split('.')[0] in {HEAVY_MODULES!r}])\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], env=environment(), capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().splitlines()[-1] == "[]"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_a_failing_section_or_factor_is_recorded_and_the_rest_still_run(tmp_path):
    check = load_script()
    report = check.Report(tmp_path / "r.json", {"m_values": [1, 2]})
    budget = check.Budget(60)

    def broken(record):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (pretend)")

    def one_factor_fails(record):
        check.measure_per_m(report, record, [1, 2], lambda m: {"seconds_per_step": 1.0} if m == 1 else 1 / 0)

    check.run_section(report, "resume", broken, budget, 0)
    check.run_section(report, "training", one_factor_fails, budget, 0)
    written = json.loads((tmp_path / "r.json").read_text())["sections"]
    assert written["resume"]["status"] == "error" and "out of memory" in written["resume"]["error"]
    assert written["training"]["status"] == "partial"
    assert written["training"]["per_m"]["1"] == {"seconds_per_step": 1.0}
    assert "ZeroDivisionError" in written["training"]["per_m"]["2"]["error"]


def test_a_section_is_skipped_when_the_budget_is_spent(tmp_path):
    check = load_script()
    report = check.Report(tmp_path / "r.json", {"m_values": [1]})
    check.run_section(report, "inference", lambda record: record.update(ran=True), check.Budget(0), 0)
    section = json.loads((tmp_path / "r.json").read_text())["sections"]["inference"]
    assert section["status"] == "skipped" and "ran" not in section


def test_the_time_budget_interrupts_a_section_and_keeps_the_report(tmp_path):
    check = load_script()
    report = check.Report(tmp_path / "r.json", {"m_values": [1]})
    budget = check.Budget(0.5)
    budget.arm_alarm()
    try:
        check.run_section(report, "concurrent", lambda record: time.sleep(5), budget, 0)
    finally:
        budget.disarm_alarm()
    section = json.loads((tmp_path / "r.json").read_text())["sections"]["concurrent"]
    assert section["status"] == "error" and "TimeBudgetExceeded" in section["error"] and section["seconds"] < 4


def test_bad_factors_are_refused_by_name(capsys):
    check = load_script()
    for text in ("1 x", "0 2", "2 2"):
        with pytest.raises(SystemExit):
            check.parse_arguments(["--m", text])
        assert "--m must be" in capsys.readouterr().err


def test_a_missing_device_is_reported_in_the_json(tmp_path, monkeypatch):
    check = load_script()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "r.json"
    assert check.main(["--device", "cuda:3", "--sizes", "tiny", "--out", str(out)]) == 2
    written = json.loads(out.read_text())
    assert "cuda:3" in written["error"] and written["finished"]


def test_workers_start_safely_for_cuda_and_quickly_on_cpu():
    check = load_script()
    assert check.worker_context(torch.device("cuda")).get_start_method() == "spawn"  # never fork with CUDA
    assert check.worker_context(torch.device("cpu")).get_start_method() in ("forkserver", "spawn")
