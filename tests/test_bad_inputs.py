"""Bad inputs named before any work (issue "Runs that cannot lie", item 3): wordless captions and references,
captions longer than the decoder emits, a damaged feature-cache npy, sub-sampling factors the corpus or the
notebooks cannot take, a results folder that cannot hold the run, an unknown profile before the environment is
built, and a bootstrap over one clip. Each test fails on the code before these checks."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import warnings
from collections import namedtuple
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from aac_subsampling import run, run_options
from aac_subsampling.data.feature_cache import FeatureCacheError, cache_features
from aac_subsampling.data.reader import CSV_HEADER, Clip, ClothoFormatError, read_split
from aac_subsampling.evaluation.bootstrap import ZeroWidthIntervalWarning, bootstrap_ci, resample_indices
from aac_subsampling.experiment import pipeline, preflight
from aac_subsampling.method.config import FeatureConfig
from aac_subsampling.method.features import extract_features

ROOT = Path(__file__).resolve().parents[1]
CAPTIONS = (
    "a dog barks twice",
    "rain falls on a roof",
    "a bell rings loudly",
    "a car engine idles",
    "birds sing in the trees",
)
LONG_CAPTION = " ".join(["word"] * 25)
SECONDS = 3.1  # 267 frames: enough for every M of the paper (M = 16 needs 256)


def write_split(root: Path, split: str, rows: list[list[str]], seconds: float = SECONDS) -> Path:
    (root / split).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(rows))
    for row in rows:
        samples = (0.1 * rng.standard_normal(int(seconds * 44100))).astype(np.float32)
        sf.write(root / split / row[0], samples, 44100, subtype="PCM_16")
    with open(root / f"clotho_captions_{split}.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        writer.writerows(rows)
    return root


def good_rows(prefix: str, n: int) -> list[list[str]]:
    return [[f"{prefix} {i}.wav", *CAPTIONS] for i in range(n)]


# --- 1. captions with no words once punctuation is removed --------------------------------------------------


@pytest.mark.parametrize("wordless", ["...", " ?! ", "- -"])  # "- -": the metrics' tokeniser drops "-"
def test_wordless_development_caption_is_named_and_skip_bad_leaves_its_clip_out(tmp_path, wordless):
    rows = good_rows("good", 2) + [["odd one.wav", "a dog barks", "a cat", wordless, "rain", "wind blows"]]
    write_split(tmp_path, "development", rows)
    with pytest.raises(ClothoFormatError) as info:
        read_split(tmp_path, "development")
    assert info.value.problems == {"empty_caption": ["odd one.wav"]}
    message = str(info.value)
    assert f"odd one.wav: clotho_captions_development.csv, caption_3 = {wordless!r}" in message
    assert "no words once punctuation is removed" in message
    with pytest.warns(UserWarning, match="1 empty_caption"):
        result = read_split(tmp_path, "development", skip_bad=True)
    assert [clip.file_name for clip in result.clips] == ["good 0.wav", "good 1.wav"]
    assert result.report.problems == {"empty_caption": ["odd one.wav"]}


def test_wordless_evaluation_reference_is_refused_even_with_skip_bad(tmp_path):
    rows = good_rows("eval", 2) + [["no words.wav", *CAPTIONS[:4], "!!!"]]
    write_split(tmp_path, "evaluation", rows)
    for skip_bad in (False, True):
        with pytest.raises(ClothoFormatError) as info:
            read_split(tmp_path, "evaluation", skip_bad=skip_bad)
        assert info.value.problems == {"empty_reference": ["no words.wav"]}
        message = str(info.value)
        assert "no words.wav: clotho_captions_evaluation.csv, caption_5 = '!!!'" in message
        assert "ROUGE_L 1" in message and "skip_bad cannot" in message
        assert message.splitlines()[-1] == (  # the line the run engine shows of a failed notebook
            "At fault: empty_reference: 'no words.wav' (clotho_captions_evaluation.csv, caption_5 = '!!!': "
            "no words once punctuation is removed)"
        )


def test_real_clotho_captions_are_all_accepted(clotho_captions_dir):
    """No false alarm on Clotho v1 (every caption there has words, none is longer than 22 words)."""
    from aac_subsampling.data.reader import _read_rows, _wordless_captions

    for split in ("development", "evaluation"):
        rows = _read_rows(clotho_captions_dir / f"clotho_captions_{split}.csv")
        assert _wordless_captions(rows) == {}
        clips = [Clip(row[0], Path(row[0]), tuple(row[1:])) for row in rows]
        assert pipeline.long_captions(clips, 22) == []


@pytest.fixture
def small_corpus(tmp_path, monkeypatch) -> Path:
    """A two-split Clotho-format corpus of 3.1 s clips, taken as it is by prepare_data (no corpus is generated)."""
    data = tmp_path / "corpus"
    write_split(data, "development", good_rows("dev", 3))
    write_split(data, "evaluation", good_rows("eval", 2))
    monkeypatch.setattr(pipeline.prepare, "ensure_corpus", lambda *args, **kwargs: {"corpus": "test", "summary": None})
    return data


def _rewrite(data: Path, split: str, rows: list[list[str]]) -> None:
    with open(data / f"clotho_captions_{split}.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        writer.writerows(rows)


def test_prepare_data_names_a_wordless_reference_before_making_any_features(small_corpus, tmp_path):
    rows = good_rows("eval", 2)
    rows[1][2] = "..."
    _rewrite(small_corpus, "evaluation", rows)
    with pytest.raises(ClothoFormatError, match=r"eval 1.wav: clotho_captions_evaluation.csv, caption_2 = '...'"):
        pipeline.prepare_data("smoke", small_corpus, tmp_path / "results", progress=False, workers=1)
    assert not (small_corpus / "features").exists()  # every split is read before the development features


# --- 2. captions longer than the decoder emits --------------------------------------------------------------


def test_long_captions_are_a_warning_with_count_and_example_not_an_error(small_corpus, tmp_path, capsys):
    rows = good_rows("dev", 3)
    rows[1][2] = LONG_CAPTION
    _rewrite(small_corpus, "development", rows)
    with pytest.warns(pipeline.LongCaptionWarning) as caught:
        record = pipeline.prepare_data("smoke", small_corpus, tmp_path / "results", progress=False, workers=1)
    message = str(caught[0].message)
    assert "development: 1 of 15 captions have more than 22 words" in message
    assert "DecodeConfig.max_steps = 22" in message and "'dev 1.wav' caption_2 (25 words)" in message
    assert "WARNING: development: 1 of 15 captions" in capsys.readouterr().out  # in the notebook's log too
    assert record["splits"]["development"]["captions_longer_than_decoder"] == 1
    assert record["splits"]["evaluation"]["captions_longer_than_decoder"] == 0


# --- 3. a damaged feature-cache npy -------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeClip:
    file_name: str
    audio_path: Path


def _clips(tmp_path: Path) -> list[FakeClip]:
    folder = tmp_path / "audio"
    folder.mkdir()
    rng = np.random.default_rng(0)
    clips = []
    for i, name in enumerate(["a.wav", "Train: 10.15.wav"]):
        sf.write(folder / name, 0.1 * rng.standard_normal(22050 + 512 * i), 44100, subtype="PCM_16")
        clips.append(FakeClip(name, folder / name))
    return clips


def _cut(path: Path, keep: int = 5000) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def test_truncated_npy_is_named_and_extracted_again(tmp_path, capsys):
    clips, config = _clips(tmp_path), FeatureConfig()
    store = cache_features(clips, tmp_path / "cache", config, workers=1, progress=False)
    damaged = store.path("Train: 10.15.wav")
    _cut(damaged)
    capsys.readouterr()
    again = cache_features(clips, tmp_path / "cache", config, workers=1, progress=False)
    out = capsys.readouterr().out
    assert f"feature cache: {damaged} (clip 'Train: 10.15.wav') is damaged (cut short: 5000 bytes" in out
    assert "extracting it again" in out
    assert (again.stats.extracted, again.stats.reused) == (1, 1)
    expected = extract_features(clips[1].audio_path, config)
    np.testing.assert_array_equal(again.load("Train: 10.15.wav"), expected)
    # an npy that is not an npy at all
    damaged.write_bytes(b"not an npy")
    third = cache_features(clips, tmp_path / "cache", config, workers=1, progress=False)
    assert "not a readable .npy file" in capsys.readouterr().out and third.stats.extracted == 1


def test_npy_damaged_after_caching_is_extracted_again_on_load(tmp_path, capsys):
    clips, config = _clips(tmp_path), FeatureConfig()
    store = cache_features(clips, tmp_path / "cache", config, workers=1, progress=False)
    path = store.path("a.wav")
    _cut(path)
    features = store.load("a.wav")
    out = capsys.readouterr().out
    assert f"feature cache: {path} (clip 'a.wav') cannot be read (Failed to read all data" in out
    np.testing.assert_array_equal(features, extract_features(clips[0].audio_path, config))
    assert store.load("a.wav", mmap=True).shape == features.shape  # the file is whole again
    # when its wav is gone as well, the error names the file and the clip
    _cut(path)
    clips[0].audio_path.unlink()
    with pytest.raises(FeatureCacheError) as info:
        store.load("a.wav")
    assert info.value.failures.keys() == {"a.wav"}
    assert str(path) in str(info.value) and "is not there" in str(info.value)


# --- 4. sub-sampling factors: every M checked against the shortest clip; M outside the paper's refused -------


def test_factors_outside_the_papers_are_refused_at_parsing(capsys):
    for factors in (["3"], ["32"], ["1", "16", "32"]):
        with pytest.raises(SystemExit) as info:
            run.parse_arguments(["--m", *factors])
        assert info.value.code == 2
        error = capsys.readouterr().err
        assert "only the paper's sub-sampling factors (1 2 4 8 16)" in error and "Table 2" in error
    assert run.parse_arguments(["--m", "1", "16", "--device", "cpu"]).factors == [1, 16]


def _no_probes():
    return dict(
        network=lambda: False,
        cuda=lambda: (False, "no GPU here"),
        java=lambda: (True, "openjdk 17"),
    )


def test_preflight_names_clips_too_short_for_the_largest_requested_m(tmp_path):
    data = tmp_path / "corpus"
    write_split(data, "development", good_rows("dev", 2))
    write_split(data, "evaluation", [["short one.wav", *CAPTIONS]], seconds=1.0)  # 87 frames
    report = preflight.run_checks("smoke", data, "cpu", factors=[1, 4, 16], **_no_probes())
    assert not report.ok
    (error,) = report.errors
    assert "1 clip(s) of" in error and "evaluation/short one.wav (87 frames)" in error
    assert "M = 16 needs at least M^(L-1) = 16^2 = 256 frames" in error
    assert preflight.run_checks("smoke", data, "cpu", factors=[1, 4, 8], **_no_probes()).ok  # M = 8: 64 frames


def test_preflight_judges_a_synthetic_corpus_not_made_yet_by_its_preset(tmp_path):
    nothing = tmp_path / "not made yet"
    assert preflight.run_checks("quick", nothing, "cpu", factors=[1, 16], **_no_probes()).ok
    report = preflight.run_checks("quick", nothing, "cpu", factors=[32], **_no_probes())
    assert any("clips from 3.0 s (259 frames)" in e and "1024 frames" in e for e in report.errors), report.errors


def test_run_preflight_checks_every_requested_m(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(
        preflight, "run_checks", lambda *args, **kwargs: seen.update(kwargs) or preflight.PreflightReport()
    )
    options = run.RunOptions(profile="smoke", results_dir=tmp_path / "r", seeds=[0, 1], factors=[1, 16], jobs=1)
    assert run.run_preflight(options)
    assert seen["factors"] == [1, 16] and seen["results_dir"] == tmp_path / "r"
    assert seen["trainings"] == [(0, 1), (0, 16), (1, 1), (1, 16)]


# --- 5. the results folder ----------------------------------------------------------------------------------


def test_results_folder_that_is_a_file_or_under_one_is_named(tmp_path):
    a_file = tmp_path / "results.txt"
    a_file.write_text("not a folder")
    report = preflight.run_checks("smoke", tmp_path / "data", "cpu", results_dir=a_file, **_no_probes())
    assert report.errors == [f"--results-dir {a_file} is a file, not a folder: pass a folder (it is made when missing)"]
    under = a_file / "results"
    report = preflight.run_checks("smoke", tmp_path / "data", "cpu", results_dir=under, **_no_probes())
    assert report.errors == [f"--results-dir {under} cannot be made: {a_file} is a file, not a folder"]


def test_read_only_results_folder_is_named(tmp_path, monkeypatch):
    folder = tmp_path / "read only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.geteuid() == 0:  # root writes anywhere but on a read-only mount: answer as that mount would
            real_access = os.access
            monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == folder else real_access(p, mode))
        report = preflight.run_checks("smoke", tmp_path / "data", "cpu", results_dir=folder, **_no_probes())
        assert report.errors == [
            f"--results-dir {folder} is not writable by this user (read-only): pass a folder you can write"
        ]
        report = preflight.run_checks("smoke", tmp_path / "data", "cpu", results_dir=folder / "new", **_no_probes())
        assert report.errors == [
            f"--results-dir {folder / 'new'} cannot be made there: {folder} is not writable by this user (read-only): "
            "pass a folder you can write"
        ]
    finally:
        folder.chmod(0o755)


def test_results_folder_without_room_for_the_run_is_named(tmp_path, monkeypatch):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda path: Usage(10**12, 10**12 - 10**8, 10**8))
    results = tmp_path / "results"
    trainings = [(seed, factor) for seed in (0, 1, 2) for factor in (1, 2, 4, 8, 16)]
    report = preflight.run_checks(
        "paper", tmp_path / "data", "cpu", results_dir=results, trainings=trainings, **_no_probes()
    )
    space = [e for e in report.errors if "--results-dir" in e]
    assert len(space) == 1, report.errors
    assert "not enough disk space for the results of this run" in space[0] and str(results) in space[0]
    assert "has 0.1 GB free, about 1.3 GB are needed" in space[0]  # 0.1 + 15 x 0.08
    # a (seed, M) already trained counts nothing
    for seed, factor in trainings:
        folder = results / f"seed{seed}" / f"M{factor}"
        folder.mkdir(parents=True)
        (folder / "model.pt").write_bytes(b"")
    assert preflight.results_need_gb(results, trainings) == pytest.approx(0.1)


def test_run_refuses_a_results_file_before_any_work(tmp_path, monkeypatch, capsys):
    """Before: the preflight passed and the lock raised a bare FileExistsError."""
    a_file = tmp_path / "results"
    a_file.write_text("x")
    monkeypatch.setattr(preflight, "java_status", lambda: (True, "openjdk 17"))
    monkeypatch.setattr(run, "configure_logging", lambda: None)  # its handler would outlive capsys's stream
    status = run.main(
        ["--profile", "smoke", "--device", "cpu", "--data-dir", str(tmp_path / "d"), "--results-dir", str(a_file)]
    )
    assert status == 2
    err = capsys.readouterr().err
    assert f"--results-dir {a_file} is a file, not a folder" in err and "stopped before any work" in err


# --- 6. an unknown profile before the environment is built -------------------------------------------------


def test_check_arguments_needs_only_the_standard_library():
    code = (
        "import sys; from aac_subsampling.run import check_arguments; check_arguments(['--profile', 'smoke']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'torch', 'pandas')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT / "lib")},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_run_all_refuses_an_unknown_profile_before_building_the_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV")}
    venv = tmp_path / "fresh clone venv"
    env |= {"AAC_VENV_DIR": str(venv), "PIP_NO_INDEX": "1", "PYTHON": shutil.which("python3") or sys.executable}
    done = subprocess.run(
        ["bash", str(ROOT / "run_all.sh"), "--profile", "nope"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "invalid choice: 'nope'" in done.stderr
    assert "setup_env" not in done.stdout + done.stderr
    assert not venv.exists()


# --- 7. a bootstrap over one clip ---------------------------------------------------------------------------


def test_bootstrap_over_one_clip_warns_that_its_interval_has_zero_width():
    with pytest.warns(ZeroWidthIntervalWarning, match="split of 1 clip"):
        resample_indices(1, 10, seed=0)
    per_clip = pd.DataFrame({"ROUGE_L": [0.4]}, index=["only.wav"])
    with pytest.warns(ZeroWidthIntervalWarning, match="zero width"):
        table = bootstrap_ci(per_clip, n_resamples=20)
    assert (table["low"] == table["high"]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bootstrap_ci(pd.DataFrame({"ROUGE_L": [0.4, 0.6]}, index=["a", "b"]), n_resamples=20)


# --- --skip-bad on the command line -------------------------------------------------------------------------


def test_skip_bad_reaches_notebook_01_only_when_it_takes_the_parameter(monkeypatch, capsys):
    monkeypatch.setattr(run_options, "notebook_parameters", lambda name: {"profile", "seed"})
    with pytest.raises(SystemExit):
        run.parse_arguments(["--skip-bad", "--device", "cpu"])
    assert "01_data_preparation.ipynb takes no skip_bad parameter" in capsys.readouterr().err
    monkeypatch.setattr(run_options, "notebook_parameters", lambda name: {"profile", "seed", "skip_bad"})
    options = run.parse_arguments(["--skip-bad", "--device", "cpu"])
    assert options.skip_bad and run.prepare_stage(options).parameters["skip_bad"] is True
    assert "skip_bad" not in run.prepare_stage(run.parse_arguments(["--device", "cpu"])).parameters
    # leaving bad clips out makes another training set: the prepared data's key says which
    assert run.prepare_stage(options).expected_key()["skip_bad"] is True


def test_notebook_parameters_reads_the_parameters_cell():
    names = run.notebook_parameters(run.NOTEBOOKS["prepare"])
    assert {"profile", "data_dir", "results_dir", "seed", "device", "skip_bad"} <= names
