"""The run engine in-process, with the notebooks replaced by a fake that writes the records they would:
what runs, what is skipped and why, seeds, the epoch cap, --force, parallel trainings, the lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aac_subsampling.experiment import layout
from aac_subsampling.experiment.lock import ResultsFolderBusyError, RunLock
from aac_subsampling.experiment.pipeline import write_json
from aac_subsampling.run import Engine, RunOptions, StageFailed, parse_arguments

from helpers import FakeNotebooks, engine_for

ROOT = Path(__file__).resolve().parents[1]


def test_first_run_runs_every_stage_and_a_second_skips_them_all(tmp_path, corpus, capsys):
    notebooks = FakeNotebooks()
    engine_for(tmp_path, corpus, notebooks).run()
    assert [c[0][:2] for c in notebooks.calls] == ["01", "02", "03", "02", "03", "04"]
    again = FakeNotebooks()
    engine = engine_for(tmp_path, corpus, again)
    engine.run()
    assert again.calls == []
    assert [outcome for _, outcome in engine.summary] == ["skipped"] * 6


def test_another_seed_retrains_instead_of_reusing(tmp_path, corpus):
    engine_for(tmp_path, corpus, FakeNotebooks(), seeds=[0]).run()
    notebooks = FakeNotebooks()
    engine_for(tmp_path, corpus, notebooks, seeds=[1]).run()
    assert notebooks.ran("01") == []  # the data are shared by every seed
    assert notebooks.ran("02") == [("02_training", 1, 1), ("02_training", 1, 4)]
    assert layout.training_record(tmp_path / "results", 0, 4).exists()  # seed 0 kept beside seed 1


def test_several_seeds_each_get_their_own_records(tmp_path, corpus):
    notebooks = FakeNotebooks()
    engine_for(tmp_path, corpus, notebooks, seeds=[0, 1, 2], factors=[16]).run()
    assert sorted(call[1] for call in notebooks.ran("02")) == [0, 1, 2]
    assert layout.completed_runs(tmp_path / "results") == [(0, 16), (1, 16), (2, 16)]


def test_a_changed_setting_reruns_the_stage_and_says_what_changed(tmp_path, corpus, capsys):
    engine_for(tmp_path, corpus, FakeNotebooks()).run()
    capsys.readouterr()
    notebooks = FakeNotebooks()
    engine_for(tmp_path, corpus, notebooks, max_epochs=1).run()
    out = capsys.readouterr().out
    assert notebooks.ran("01") == []
    assert len(notebooks.ran("02")) == 2 and len(notebooks.ran("03")) == 2  # and what builds on them
    assert "train.max_epochs: 2 -> 1" in out and "max_epochs_cap: None -> 1" in out


def test_a_changed_corpus_reruns_everything_downstream(tmp_path, corpus, capsys):
    engine_for(tmp_path, corpus, FakeNotebooks()).run()
    (corpus / "clotho_captions_evaluation.csv").write_text("file_name,caption_1\nb.wav,rain falls\n")
    capsys.readouterr()
    notebooks = FakeNotebooks()
    engine_for(tmp_path, corpus, notebooks).run()
    assert [c[0][:2] for c in notebooks.calls] == ["01", "02", "03", "02", "03", "04"]
    assert "corpus.captions.evaluation" in capsys.readouterr().out


def test_a_record_without_a_key_is_not_trusted(tmp_path, corpus):
    """Records committed by an older version (the bug: a fresh clone skipped every stage)."""
    results = tmp_path / "results"
    write_json(results / layout.PREPARED_RECORD, {"profile": "smoke"})
    notebooks = FakeNotebooks()
    engine_for(tmp_path, corpus, notebooks).run()
    assert len(notebooks.ran("01")) == 1


def test_force_redoes_every_stage_and_trains_from_scratch(tmp_path, corpus):
    engine_for(tmp_path, corpus, FakeNotebooks()).run()
    notebooks = FakeNotebooks()
    engine_for(tmp_path, corpus, notebooks, force=True).run()
    assert len(notebooks.calls) == 6
    record = json.loads(layout.training_record(tmp_path / "results", 0, 1).read_text())
    assert record["resume"] is False


def test_a_failed_stage_is_named_and_leaves_no_record(tmp_path, corpus):
    with pytest.raises(StageFailed, match=r"training seed=0 M=4.*diverged"):
        engine_for(tmp_path, corpus, FakeNotebooks(fail_on=(0, 4))).run()
    assert not layout.training_record(tmp_path / "results", 0, 4).exists()
    assert layout.evaluation_record(tmp_path / "results", 0, 1).exists()  # finished before the failure


def test_parallel_trainings_finish_the_others_when_one_fails(tmp_path, corpus):
    notebooks = FakeNotebooks(fail_on=(1, 4))
    engine = engine_for(tmp_path, corpus, notebooks, seeds=[0, 1], jobs=2)
    assert engine.options.lanes == ["auto", "auto"]
    with pytest.raises(StageFailed, match=r"training seed=1 M=4"):
        engine.run()
    for seed, factor in [(0, 1), (0, 4), (1, 1)]:
        assert layout.training_record(tmp_path / "results", seed, factor).exists()


def test_lanes_are_used_only_when_two_or_more_trainings_are_due(tmp_path, corpus, monkeypatch):
    parallel_runs = []
    original = Engine.train_in_parallel
    monkeypatch.setattr(
        Engine, "train_in_parallel", lambda self, pairs: parallel_runs.append(pairs) or original(self, pairs)
    )
    engine_for(tmp_path, corpus, FakeNotebooks(), factors=[4], jobs=2).run()
    assert parallel_runs == []  # one training: in the engine's process, with all the cores
    engine_for(tmp_path, corpus, FakeNotebooks(), factors=[1, 4, 16], jobs=2).run()
    assert parallel_runs == [[(0, 1), (0, 4), (0, 16)]]  # M = 4 is reused; two are due
    engine_for(tmp_path, corpus, FakeNotebooks(), factors=[1, 4, 16], jobs=2, force=True).run()
    assert len(parallel_runs) == 2


def test_gpus_give_one_lane_per_gpu_and_job(tmp_path, corpus):
    options = RunOptions(profile="smoke", data_dir=corpus, results_dir=tmp_path, gpus=[0, 1], jobs=2)
    assert options.lanes == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]
    with pytest.raises(ValueError, match="--gpus"):
        RunOptions(profile="smoke", data_dir=corpus, results_dir=tmp_path, gpus=[0], device="cpu")


def test_default_jobs_two_on_a_multicore_cpu_one_per_gpu(monkeypatch):
    from aac_subsampling import run

    monkeypatch.setattr(run.os, "cpu_count", lambda: 2)
    assert run.default_jobs("cpu", []) == 2
    assert run.default_jobs("cuda", []) == 1 and run.default_jobs("cpu", [0, 1]) == 1
    monkeypatch.setattr(run.os, "cpu_count", lambda: 1)
    assert run.default_jobs("cpu", []) == 1


def test_arguments(tmp_path):
    options = parse_arguments(
        [
            "--profile",
            "smoke",
            "--seeds",
            "0",
            "1",
            "2",
            "--m",
            "1,16",
            "--max-epochs",
            "3",
            "--results-dir",
            str(tmp_path),
        ]
    )
    assert (options.seeds, options.factors, options.max_epochs) == ([0, 1, 2], [1, 16], 3)
    assert parse_arguments(["--m", "4 8", "--seed", "7"]).seeds == [7]
    for bad in (["--max-epochs", "0"], ["--m", "0"], ["--jobs", "0"], ["--seeds", "x"], ["--profile", "nope"]):
        with pytest.raises(SystemExit):
            parse_arguments(bad)


def test_a_second_run_on_the_same_folder_refuses_at_once(tmp_path):
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    with RunLock(results):
        completed = subprocess.run(  # a run that waited for the lock instead of refusing would time out
            [
                sys.executable,
                "-m",
                "aac_subsampling.run",
                "--profile",
                "smoke",
                "--results-dir",
                str(results),
                "--no-preflight",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert completed.returncode == 3, completed.stdout + completed.stderr
    assert f"pid {os.getpid()}" in completed.stderr and "another run is working on" in completed.stderr


def test_a_stale_lock_of_a_killed_run_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / layout.LOCK_FILE).write_text(json.dumps({"pid": dead.pid, "started_utc": "then"}))
    with RunLock(tmp_path) as lock:
        assert lock.took_over["pid"] == dead.pid
        with pytest.raises(ResultsFolderBusyError):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / layout.LOCK_FILE).exists()
