"""The GPU run of the `long` profile (benchmarks/gpu_long.py) works end to end on the CPU at tiny sizes.

The GPU machine allows one call of a few minutes and has torch and numpy but none of the data and evaluation
packages, so its half must work the first time there: here the three halves run on the smoke profile's corpus,
the train half in a subprocess in which librosa, soundfile, pandas, papermill, pycocoevalcap and tqdm cannot be
imported, and the score half reads what it wrote.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
SCRIPT = REPOSITORY / "benchmarks" / "gpu_long.py"
FACTORS = [1, 2, 4, 8, 16]
# Not on the GPU machine (tqdm is there, but the script must not need it either).
BLOCKED = ("librosa", "soundfile", "pandas", "papermill", "pycocoevalcap", "tqdm")
# `python -c RUNNER script args...`: the packages are made unimportable (a None entry in sys.modules makes
# `import` raise ImportError and importlib.util.find_spec answer None, as for a package that is not installed).
RUNNER = (
    "import runpy, sys\n"
    f"for name in {BLOCKED!r}:\n"
    "    sys.modules[name] = None\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)
TINY_TRAINING = ["--device", "cpu", "--hidden", "16", "--warmup-steps", "1", "--calibration-steps", "1"]
# What the device tool brings back from $OUT: at most 8 files, named in letters, digits, '.', '_' and '-'.
RETURNED_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPOSITORY / "lib"), "PYTHONUNBUFFERED": "1"}


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_long_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return load_script()


@pytest.fixture(scope="module")
def smoke_pack(tmp_path_factory, script):
    """The smoke profile's corpus (made in a temporary folder) packed as the long one is."""
    root = tmp_path_factory.mktemp("gpu_long")
    data_dir, pack_dir = root / "corpus", root / "pack"
    assert script.main(["pack", "--profile", "smoke", "--data-dir", str(data_dir), "--out", str(pack_dir)]) == 0
    return pack_dir, data_dir


@pytest.fixture(scope="module")
def trained(smoke_pack, tmp_path_factory):
    """The train half, run as on the GPU machine (no heavy package importable), for every M."""
    pack_dir, _ = smoke_pack
    out = tmp_path_factory.mktemp("gpu_long_out")
    command = [sys.executable, "-c", RUNNER, str(SCRIPT), "train", "--pack", str(pack_dir), "--out", str(out)]
    command += [*TINY_TRAINING, "--minutes", "1.5", "--max-epochs", "2", "--validation-points", "2"]
    completed = subprocess.run(command, cwd=REPOSITORY, env=environment(), capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads((out / "gpu_long.json").read_text()), out, completed.stdout


# ------------------------------------------------------------------------------------------ pack


def test_the_pack_holds_standardised_float16_features_the_vocabulary_and_digests(smoke_pack, script):
    pack_dir, _ = smoke_pack
    manifest = json.loads((pack_dir / "manifest.json").read_text())
    assert manifest["format"] == "gpu_long_pack/1" and manifest["profile"] == "smoke"
    config = manifest["config"]
    # the quick profile's learning settings, on the profile's model and features
    assert config["train"]["learning_rate"] == 3e-3 and config["train"]["lr_schedule"] == "cosine"
    assert config["train"]["batch_size"] == 8 and config["loss"]["ignore_padding"] is True
    assert config["features"]["standardise"] is True and config["train"]["stop_on"] == "training_loss"
    assert set(manifest["splits"]) == {"development", "validation", "evaluation"}
    for name, entry in manifest["files"].items():
        assert (pack_dir / name).stat().st_size == entry["bytes"] and script.sha256_of(pack_dir / name) == entry[
            "sha256"
        ]
    pack = script.load_pack(pack_dir)
    development = np.concatenate(list(pack.features["development"].values()))
    assert development.shape[1] == 64
    # standardised with the development split's statistics: mean 0 and deviation 1 per band, up to float16
    assert np.abs(development.mean(axis=0)).max() < 0.01 and np.abs(development.std(axis=0) - 1).max() < 0.01
    with np.load(pack_dir / "development.npz") as stored:
        assert stored["frames"].dtype == np.float16 and stored["lengths"].sum() == len(development)
    assert manifest["features"]["max_abs_rounding_error"] < 0.01
    # every development caption is tokenised with the packed vocabulary and ends with <eos>
    for clip in pack.clips("development"):
        assert len(pack.tokens[clip]) == 5 and all(
            tokens[-1] == pack.vocabulary.eos_index for tokens in pack.tokens[clip]
        )
    assert all(len(pack.references[split][clip]) == 5 for split in pack.references for clip in pack.references[split])
    assert manifest["vocabulary_size"] == manifest["prepared_vocabulary_size"] == len(pack.vocabulary)


def test_a_pack_over_the_limit_is_refused_by_size_and_nothing_is_written(smoke_pack, script, tmp_path):
    _, data_dir = smoke_pack
    out = tmp_path / "too_big"
    with pytest.raises(SystemExit) as refused:
        script.main(
            ["pack", "--profile", "smoke", "--data-dir", str(data_dir), "--out", str(out), "--limit-mib", "0.2"]
        )
    message = str(refused.value)
    assert "MiB" in message and "--development-clips" in message and "nothing was written" in message
    assert not out.exists() and not any(tmp_path.iterdir())  # no staging folder left behind either


def test_the_size_check_counts_the_working_tree_that_travels_with_the_pack(script):
    mib = 2**20
    script.check_pack_size(40 * mib, 64 * mib, 11 * mib, mib, 120)  # 51 MiB in all: fits
    script.check_pack_size(40 * mib, 64 * mib, None, mib, 120)  # no git: the pack alone
    with pytest.raises(script.PackTooLarge, match="beside the 30.0 MiB working tree") as refused:
        script.check_pack_size(40 * mib, 64 * mib, 30 * mib, mib, 120)
    assert "--development-clips 114" in str(refused.value)  # 6 MiB over at 1 MiB a clip
    with pytest.raises(script.PackTooLarge, match="over the limit of 64.0 MiB"):
        script.check_pack_size(70 * mib, 64 * mib, None, mib, 120)


def test_a_damaged_pack_is_refused_by_its_digests(smoke_pack, script, tmp_path):
    pack_dir, _ = smoke_pack
    copy = tmp_path / "pack"
    shutil.copytree(pack_dir, copy)
    data = bytearray((copy / "evaluation.npz").read_bytes())
    data[-100] ^= 0xFF
    (copy / "evaluation.npz").write_bytes(bytes(data))
    with pytest.raises(script.PackError, match="evaluation.npz differs from its manifest"):
        script.load_pack(copy)
    (copy / "evaluation.npz").unlink()
    with pytest.raises(script.PackError, match="missing"):
        script.load_pack(copy)


# ------------------------------------------------------------------------------------------ plan


def test_the_epoch_cap_fits_the_measured_speed_into_the_budget(script):
    epoch = {1: 2.0, 16: 0.5}  # seconds per epoch, summed 2.5
    decode = {1: 3.0, 16: 1.0}
    validation = {1: 0.2, 16: 0.1}
    plan = script.plan_epochs(300.0, epoch, decode, validation, points=8, max_epochs=1000, safety=1.0)
    # (300 - 4 - 8 x 0.3) / 2.5 = 117.4
    assert plan.epochs == 117 and plan.limited_by == "time budget"
    assert plan.validate_every == 15 and plan.validation_points == 8 and plan.predicted_s <= 300
    assert script.plan_epochs(300.0, epoch, decode, validation, 8, 50, 1.0).limited_by == "--max-epochs"
    short = script.plan_epochs(1.0, epoch, decode, validation, 8, 50, 1.0)
    assert short.epochs == 1 and short.limited_by == "one epoch at least"
    fixed = script.plan_epochs(300.0, epoch, decode, validation, 0, 50, 1.0, fixed_epochs=7)
    assert fixed.epochs == 7 and fixed.validate_every == 0 and fixed.validation_points == 0
    safer = script.plan_epochs(300.0, epoch, decode, validation, 8, 1000, safety=1.15)
    assert safer.epochs < plan.epochs and safer.predicted_s <= 300


# ------------------------------------------------------------------------------------------ train


def test_the_train_half_imports_no_heavy_package():
    """Import the script as a module (its main does not run) in a fresh interpreter without those packages."""
    probe = (
        f"import sys\nfor name in {BLOCKED!r}:\n    sys.modules[name] = None\n"
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('gpu_long', {str(SCRIPT)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules[spec.name] = module\n"
        "spec.loader.exec_module(module)\n"
        "print(module.TQDM_STUB, module.heavy_modules_loaded())\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], env=environment(), capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().splitlines()[-1] == "True []"


@pytest.mark.slow
def test_every_factor_trains_and_captions_both_splits_without_the_heavy_packages(trained, smoke_pack, script):
    data, out, stdout = trained
    assert data["finished"] and "error" not in data
    assert data["heavy_modules_loaded"] == [] and data["meta"]["tqdm"] == "stand-in (not installed)"
    assert data["meta"]["device"] == "cpu" and data["meta"]["m_values"] == FACTORS
    assert data["plan"]["epochs"] == 2 and data["plan"]["validate_every"] == 1
    pack = script.load_pack(smoke_pack[0], features=False)
    assert data["meta"]["pack"]["manifest_sha256"] == pack.digest
    for factor in map(str, FACTORS):
        record = data["per_m"][factor]
        assert "error" not in record, record.get("error")
        assert record["epochs_completed"] == 2 and record["stop_reason"] == "max epochs"
        assert [row["epoch"] for row in record["history"]] == [0, 1]
        assert all(math.isfinite(row["loss"]) and row["seconds"] > 0 for row in record["history"])
        # the cosine over 2 steps: the last step runs at half the rate, and the rate reaches 0 after it
        assert [row["learning_rate_end"] for row in record["history"]] == pytest.approx([3e-3, 1.5e-3])
        assert record["config"]["train"]["max_epochs"] == 2 and record["config"]["model"]["encoder_hidden"] == 16
        assert record["config"]["model"]["subsampling_factor"] == int(factor)
        assert record["parameters_trained"] > 0 and record["parameters_D4367"] > record["parameters_trained"]
        for split in ("evaluation", "validation"):
            clips = set(pack.clips(split))
            captions, partners = record["predictions"][split], record["partners"][split]
            assert set(captions["own"]) == set(captions["swapped"]) == set(partners) == clips
            assert all(partners[clip] != clip for clip in clips)  # every swapped caption comes from another clip
        assert set(record["validation_during_training"]) == {"1", "2"}
    assert data["per_m"]["16"]["encoder_steps_evaluation"]["max"] == 1  # smoke clips: ~300 frames, 300 / 256
    # what the device tool brings back: few files, plain names, nothing in subfolders
    returned = list(out.iterdir())
    assert len(returned) <= 8 and all(path.is_file() and RETURNED_NAME.match(path.name) for path in returned)
    assert {"gpu_long.json", "gpu_long_history.csv", "gpu_long_predictions.csv"} <= {p.name for p in returned}
    history = (out / "gpu_long_history.csv").read_text().splitlines()
    assert history[0].startswith("M,epoch,step,loss") and len(history) == 1 + 2 * len(FACTORS)
    assert "T_L eval" in stdout and "== plan:" in stdout


@pytest.mark.slow
def test_scoring_reads_what_training_wrote(trained, smoke_pack, script, tmp_path, capsys):
    _, out, _ = trained
    pack_dir, _ = smoke_pack
    scores = tmp_path / "scores"
    arguments = ["score", "--results", str(out), "--pack", str(pack_dir), "--out", str(scores)]
    assert script.main([*arguments, "--java", str(tmp_path / "no-java")]) == 0  # quick: no JVM in CI's time
    printed = capsys.readouterr().out
    assert "evaluation split (own audio | swapped audio)" in printed and "validation CIDEr-D along training" in printed
    lines = (scores / "gpu_long_scores.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert {"M", "split", "audio", "CIDEr", "METEOR", "BLEU4", "ROUGE_L", "fact_count_right"} <= set(header)
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    assert len(rows) == len(FACTORS) * 2 * 2
    assert {(r["M"], r["split"], r["audio"]) for r in rows} == {
        (str(m), s, a) for m in FACTORS for s in ("evaluation", "validation") for a in ("own", "swapped")
    }
    assert all(r["tokenizer"] == "fallback" and r["METEOR"] == "" and float(r["CIDEr"]) >= 0 for r in rows)
    curve = (scores / "gpu_long_validation.csv").read_text().splitlines()
    assert curve[0] == "M,epoch,cider_own,cider_swapped" and len(curve) == 1 + 2 * len(FACTORS)


@pytest.mark.slow
def test_scoring_refuses_captions_trained_on_another_pack(trained, smoke_pack, script, tmp_path):
    data, _, _ = trained
    other = tmp_path / "results"
    other.mkdir()
    data = json.loads(json.dumps(data))
    data["meta"]["pack"]["manifest_sha256"] = "0" * 64
    (other / "gpu_long.json").write_text(json.dumps(data))
    with pytest.raises(SystemExit, match="was trained on pack 0000"):
        script.main(["score", "--results", str(other), "--pack", str(smoke_pack[0]), "--java", "none"])


@pytest.mark.slow
def test_an_m_out_of_its_time_stops_early_and_keeps_its_best_epoch(smoke_pack, script, tmp_path):
    """--epochs far beyond the budget: the M stops at its share of the time, still decodes, and says why."""
    out = tmp_path / "out"
    arguments = ["train", "--pack", str(smoke_pack[0]), "--out", str(out), *TINY_TRAINING]
    assert script.main([*arguments, "--m", "16", "--epochs", "500", "--minutes", "0.15"]) == 0
    data = json.loads((out / "gpu_long.json").read_text())
    record = data["per_m"]["16"]
    assert "error" not in record, record.get("error")
    assert record["stop_reason"] == "time budget" and 1 <= record["epochs_completed"] < 500
    assert record["epochs_cap"] == 500 and data["plan"]["limited_by"] == "--epochs"
    assert set(record["predictions"]["evaluation"]["own"]) == set(
        script.load_pack(smoke_pack[0], False).clips("evaluation")
    )
    assert data["elapsed_s"] < 0.15 * 60 + 1


def test_a_missing_pack_is_reported_in_the_json(script, tmp_path):
    out = tmp_path / "out"
    assert script.main(["train", "--pack", str(tmp_path / "nowhere"), "--out", str(out), "--device", "cpu"]) == 2
    written = json.loads((out / "gpu_long.json").read_text())
    assert written["finished"] and "no pack at" in written["error"]


def test_bad_arguments_are_refused_by_name(script, capsys):
    for arguments, expected in ((["--m", "1 x"], "--m must be"), (["--epochs", "0"], "--epochs must be at least 1")):
        with pytest.raises(SystemExit):
            script.parse_arguments(["train", "--out", "x", *arguments])
        assert expected in capsys.readouterr().err
