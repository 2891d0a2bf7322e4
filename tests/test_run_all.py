"""End to end: ./run_all.sh --profile smoke writes Tables 1 and 2 from real runs; a killed run continues.

These run the real notebooks through papermill (a few minutes on 2 cores); marked ``slow``.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAPER_LENGTHS = {1: (1292, 2584), 2: (323, 646), 4: (80, 161), 8: (20, 40), 16: (5, 10)}
pytestmark = pytest.mark.slow


def _run_all(results: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["./run_all.sh", "--profile", "smoke", "--results-dir", str(results), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def smoke_sweep(tmp_path_factory, env_using_this_interpreter):
    results = tmp_path_factory.mktemp("smoke_results")
    env = env_using_this_interpreter()
    completed = _run_all(results, env=env)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return results, completed, env


def test_sweep_writes_tables_from_the_runs(smoke_sweep):
    results, completed, _ = smoke_sweep
    assert "total wall time" in completed.stdout
    with open(results / "table1.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["metric", "M=1", "M=2", "M=4", "M=8", "M=16"]
    assert [r[0] for r in rows[1:]] == [
        "BLEU1",
        "BLEU2",
        "BLEU3",
        "BLEU4",
        "ROUGE_L",
        "METEOR",
        "CIDEr",
        "SPICE",
        "SPIDEr",
    ]
    with open(results / "table2.csv") as handle:
        table2 = list(csv.DictReader(handle))
    assert [int(r["M"]) for r in table2] == [1, 2, 4, 8, 16]
    for row in table2:
        assert (int(row["T_L_min"]), int(row["T_L_max"])) == PAPER_LENGTHS[int(row["M"])]
        assert int(row["parameters_D4367"]) == 4573711
        assert float(row["inference_time_s"]) > 0
    for m in (1, 2, 4, 8, 16):
        evaluation = json.loads((results / "seed0" / f"M{m}" / "evaluation.json").read_text())
        assert rows[1][[1, 2, 4, 8, 16].index(m) + 1] == f"{evaluation['metrics']['BLEU1']:.6f}"
        assert (results / "executed" / f"02_training_seed0_M{m}.ipynb").exists()
        assert evaluation["key"]["training"]["M"] == m  # every record holds its run key
        training = json.loads((results / "seed0" / f"M{m}" / "training.json").read_text())
        for record in (training, evaluation):  # peak memory of the process (torch alone is over 100 MB)
            assert record["peak_memory"]["host_rss_bytes"] > 100 * 2**20
            on_cpu = evaluation["device"] == "cpu"  # no GPU count there; on CUDA, bytes
            assert (record["peak_memory"]["gpu_allocated_bytes"] is None) == on_cpu
    for figure in ("metrics_vs_M.png", "inference_time_vs_M.png", "encoder_length_vs_M.png"):
        assert (results / "figures" / figure).stat().st_size > 1000
    executed = json.loads((results / "executed" / "03_evaluation_seed0_M4.ipynb").read_text())
    text = json.dumps(executed)
    assert "git_commit" in text and "torch_threads" in text  # run metadata recorded in the notebook


def test_second_run_skips_every_stage(smoke_sweep):
    results, _, env = smoke_sweep
    before = (results / "seed0" / "M4" / "training.json").stat().st_mtime
    completed = _run_all(results, env=env)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.count("[skipped]") == 12  # data, 5 x (training, evaluation), tables
    assert (results / "seed0" / "M4" / "training.json").stat().st_mtime == before


def test_killed_run_continues_from_its_checkpoint(smoke_sweep, tmp_path):
    _, _, env = smoke_sweep
    results = tmp_path / "killed"
    command = ["./run_all.sh", "--profile", "smoke", "--results-dir", str(results), "--m", "2"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    checkpoint, marker = results / "seed0" / "M2" / "checkpoint.pt", results / "seed0" / "M2" / "training.json"
    deadline = time.monotonic() + 600
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the shell, papermill and the kernel, mid-training
    process.wait()
    assert checkpoint.exists(), "training never wrote a checkpoint"
    finished_before_kill = marker.exists()
    prepared_before = (results / "prepared.json").stat().st_mtime

    completed = _run_all(results, "--m", "2", env=env)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "[skipped] data preparation" in completed.stdout
    assert (results / "prepared.json").stat().st_mtime == prepared_before
    training = json.loads(marker.read_text())
    if finished_before_kill:
        assert "[skipped] training seed=0 M=2" in completed.stdout
    else:
        assert training["resumed_from_epoch"] >= 1  # continued, not started over
    assert (results / "table2.csv").exists()
