"""Runs that cannot lie: a stage record is reused only when its key holds every input it depends on (the
corpus's audio, the scoring environment) and when the stage finished (its record is valid JSON, the files it
stands for are there and load); the reasons given name what is missing, corrupt or changed."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from aac_subsampling.evaluation import environment
from aac_subsampling.experiment import layout, runkey
from aac_subsampling.experiment.pipeline import checkpoint_problem, discard_unusable_checkpoint, write_json
from aac_subsampling.method.config import Config
from aac_subsampling.run import StageFailed, evaluation_stage, training_stage, why_run

from helpers import FakeNotebooks, engine_for


def stems(notebooks: FakeNotebooks) -> list[str]:
    return [call[0][:2] for call in notebooks.calls]


@pytest.fixture
def corpus_with_audio(corpus):
    """The engine tests' corpus with wavs (their bytes only matter here: the fingerprint hashes them)."""
    for split, names in (("development", ["d1.wav", "d2.wav"]), ("evaluation", ["clip_1.wav", "clip_2.wav"])):
        (corpus / split).mkdir()
        for i, name in enumerate(names):
            (corpus / split / name).write_bytes(b"RIFF" + bytes([i + 1]) * 64 + name.encode())
    (corpus / "evaluation" / "clip_3.wav").write_bytes(b"RIFF" + b"\x07" * 64 + b"clip_3.wav")
    return corpus


# ------------------------------------------------------------------------------------------ 1a. audio


def test_a_wav_copied_over_another_reruns_every_stage_and_names_the_file(tmp_path, corpus_with_audio, capsys):
    engine_for(tmp_path, corpus_with_audio, FakeNotebooks()).run()
    shutil.copyfile(corpus_with_audio / "evaluation" / "clip_1.wav", corpus_with_audio / "evaluation" / "clip_3.wav")
    capsys.readouterr()
    notebooks = FakeNotebooks()
    engine_for(tmp_path, corpus_with_audio, notebooks).run()
    assert stems(notebooks) == ["01", "02", "03", "02", "03", "04"]
    out = capsys.readouterr().out
    prepare_line = next(line for line in out.splitlines() if "==> data preparation" in line)
    assert "audio: 1 file changed (evaluation/clip_3.wav)" in prepare_line
    assert len(prepare_line) < 300  # one phrase, not a dump of every file's digest


def test_added_and_removed_wavs_are_named(tmp_path, corpus_with_audio):
    before = runkey.prepare_key("smoke", corpus_with_audio)
    (corpus_with_audio / "development" / "d3.wav").write_bytes(b"new clip")
    (corpus_with_audio / "evaluation" / "clip_2.wav").unlink()
    changes = runkey.key_changes(before, runkey.prepare_key("smoke", corpus_with_audio))
    assert changes == ["audio: 1 file added (development/d3.wav); 1 file removed (evaluation/clip_2.wav)"]


def test_a_rewrite_that_keeps_size_and_modification_time_is_still_seen(corpus_with_audio):
    """As after ``cp -p`` or ``touch -r``: the inode's change time still moves."""
    clip = corpus_with_audio / "evaluation" / "clip_2.wav"
    before = runkey.corpus_identity(corpus_with_audio)["audio"]
    stat = clip.stat()
    clip.write_bytes(bytes(reversed(clip.read_bytes())))  # same size, other content
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert clip.stat().st_size == stat.st_size and clip.stat().st_mtime_ns == stat.st_mtime_ns
    after = runkey.corpus_identity(corpus_with_audio)["audio"]
    assert after["evaluation"] != before["evaluation"] and after["development"] == before["development"]


def test_a_rerun_reads_no_audio_and_the_cache_is_a_hidden_file_beside_the_corpus(corpus_with_audio, monkeypatch):
    first = runkey.corpus_identity(corpus_with_audio)
    cache = corpus_with_audio / runkey.AUDIO_CACHE_FILE
    assert json.loads(cache.read_text())["version"] == 1
    runkey._audio_caches.clear()  # as a new process (a notebook's kernel) starts

    original = runkey.file_digest

    def no_audio_read(path):
        assert not str(path).endswith(".wav"), f"{path} was read again"
        return original(path)

    monkeypatch.setattr(runkey, "file_digest", no_audio_read)
    assert runkey.corpus_identity(corpus_with_audio) == first


def test_the_validation_split_is_fingerprinted_where_present(corpus_with_audio):
    assert sorted(runkey.corpus_identity(corpus_with_audio)["audio"]) == ["development", "evaluation"]
    (corpus_with_audio / "validation").mkdir()
    (corpus_with_audio / "validation" / "v.wav").write_bytes(b"v")
    audio = runkey.corpus_identity(corpus_with_audio)["audio"]
    assert audio["validation"]["n_files"] == 1


def test_without_the_earlier_file_list_the_change_is_still_seen_and_said_so(tmp_path, corpus_with_audio, capsys):
    engine_for(tmp_path, corpus_with_audio, FakeNotebooks()).run()
    (corpus_with_audio / runkey.AUDIO_CACHE_FILE).unlink()
    runkey._audio_caches.clear()
    (corpus_with_audio / "evaluation" / "clip_1.wav").write_bytes(b"other audio")
    capsys.readouterr()
    notebooks = FakeNotebooks()
    engine_for(tmp_path, corpus_with_audio, notebooks).run()
    assert stems(notebooks)[0] == "01"
    assert "the files of evaluation (3 -> 3 files) differ" in capsys.readouterr().out


def test_a_record_made_before_audio_fingerprints_is_redone(tmp_path, corpus_with_audio):
    key = runkey.prepare_key("smoke", corpus_with_audio)
    del key["corpus"]["audio"]
    assert runkey.key_changes(key, runkey.prepare_key("smoke", corpus_with_audio)) == [
        "audio: the record has no audio fingerprint (made by an older version)"
    ]


# ----------------------------------------------------------------------------- 1b. scoring environment


def with_environment(monkeypatch, **settings):
    scoring = {"java": None, "tokenizer": "fallback", "meteor": False, "spice": False, **settings}
    monkeypatch.setattr(environment, "scoring_environment", lambda java=None: dict(scoring))


def test_java_arriving_redoes_the_evaluations_but_not_the_trainings(tmp_path, corpus, monkeypatch, capsys):
    with_environment(monkeypatch)
    engine_for(tmp_path, corpus, FakeNotebooks()).run()
    record = json.loads(layout.evaluation_record(tmp_path / "results", 0, 1).read_text())
    assert record["key"]["scoring_environment"]["tokenizer"] == "fallback"  # the record says how it was scored
    with_environment(monkeypatch, java=17, tokenizer="ptb", meteor=True)
    capsys.readouterr()
    notebooks = FakeNotebooks()
    engine_for(tmp_path, corpus, notebooks).run()
    assert stems(notebooks) == ["03", "03", "04"]  # no training again
    out = capsys.readouterr().out
    assert "scoring_environment.tokenizer: 'fallback' -> 'ptb'" in out
    assert "scoring_environment.java: None -> 17" in out


def test_the_scoring_environment_follows_java(monkeypatch):
    found = environment.scoring_environment()
    assert set(found) == {"java", "tokenizer", "meteor", "spice"}
    json.dumps(found)  # small and plain: it goes into run keys
    monkeypatch.setattr(environment, "find_java", lambda java=None: None)
    assert environment.scoring_environment() == {"java": None, "tokenizer": "fallback", "meteor": False, "spice": False}


def test_the_java_probe_runs_once_per_process(monkeypatch, tmp_path):
    java = tmp_path / "java"
    java.write_text('#!/bin/sh\necho \'openjdk version "11.0.2"\' >&2\necho probed >> "$0.calls"\n')
    java.chmod(0o755)
    environment._environment_for.cache_clear()
    first = environment.scoring_environment(java)
    assert environment.scoring_environment(java) == first
    assert first["java"] == 11 and first["tokenizer"] == "ptb"
    assert (tmp_path / "java.calls").read_text().count("probed") == 1


# -------------------------------------------------------------------------- 2a. a stage must finish


class FailsAfterItsRecord(FakeNotebooks):
    """Writes the evaluation record, then a later cell fails (the stage did not finish)."""

    def __call__(self, notebook, output, parameters, kernel):
        super().__call__(notebook, output, parameters, kernel)
        if notebook.stem.startswith("03"):
            raise RuntimeError("a later cell failed")


def test_a_notebook_failing_after_writing_its_record_leaves_no_record(tmp_path, corpus):
    with pytest.raises(StageFailed, match="a later cell failed"):
        engine_for(tmp_path, corpus, FailsAfterItsRecord(), factors=[1]).run()
    assert layout.training_record(tmp_path / "results", 0, 1).exists()
    assert not layout.evaluation_record(tmp_path / "results", 0, 1).exists()
    notebooks = FakeNotebooks()
    engine_for(tmp_path, corpus, notebooks, factors=[1]).run()
    assert stems(notebooks) == ["03", "04"]


class ForgetsTheModel(FakeNotebooks):
    def __call__(self, notebook, output, parameters, kernel):
        super().__call__(notebook, output, parameters, kernel)
        if notebook.stem.startswith("02"):
            (
                layout.run_dir(parameters["results_dir"], parameters["seed"], parameters["M"]) / layout.MODEL_FILE
            ).unlink()


def test_a_notebook_that_writes_its_record_but_not_its_model_fails(tmp_path, corpus):
    with pytest.raises(StageFailed, match="model.pt is missing"):
        engine_for(tmp_path, corpus, ForgetsTheModel(), factors=[1]).run()
    assert not layout.training_record(tmp_path / "results", 0, 1).exists()


# --------------------------------------------------------------- 2b. a skip checks what the record names


def test_a_missing_model_reruns_its_training_and_names_the_file(tmp_path, corpus, capsys):
    engine_for(tmp_path, corpus, FakeNotebooks()).run()
    (layout.run_dir(tmp_path / "results", 0, 4) / layout.MODEL_FILE).unlink()
    capsys.readouterr()
    notebooks = FakeNotebooks()
    engine_for(tmp_path, corpus, notebooks).run()
    assert notebooks.ran("02") == [("02_training", 0, 4)]
    assert notebooks.ran("03") == [("03_evaluation", 0, 4)]  # it scores the new training
    assert "training seed=0 M=4 (model.pt is missing)" in capsys.readouterr().out


def test_a_truncated_model_reruns_its_training_and_says_it_is_corrupt(tmp_path, corpus, capsys):
    engine_for(tmp_path, corpus, FakeNotebooks()).run()
    model = layout.run_dir(tmp_path / "results", 0, 1) / layout.MODEL_FILE
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    capsys.readouterr()
    notebooks = FakeNotebooks()
    engine_for(tmp_path, corpus, notebooks).run()
    assert notebooks.ran("02") == [("02_training", 0, 1)]
    assert "training seed=0 M=1 (model.pt is corrupt (not a complete zip archive" in capsys.readouterr().out


def test_a_damaged_model_is_caught_by_its_checksum(tmp_path):
    model = tmp_path / "model.pt"
    torch.save({"weight": torch.arange(1000, dtype=torch.float32)}, model)
    data = bytearray(model.read_bytes())
    offset = data.index(torch.arange(1000, dtype=torch.float32).numpy().tobytes()[400:440])
    data[offset] ^= 0xFF
    model.write_bytes(bytes(data))
    assert "fails its checksum" in runkey.torch_file_problem(model, state_dict=True)
    torch.save([1, 2], model)
    assert runkey.torch_file_problem(model, state_dict=True) == "is corrupt (it holds list, not a model's weights)"


def test_a_missing_or_short_evaluation_file_reruns_the_evaluation_only(tmp_path, corpus, capsys):
    engine_for(tmp_path, corpus, FakeNotebooks()).run()
    (layout.run_dir(tmp_path / "results", 0, 1) / layout.PREDICTIONS_FILE).unlink()
    capsys.readouterr()
    notebooks = FakeNotebooks()
    engine_for(tmp_path, corpus, notebooks).run()
    assert stems(notebooks) == ["03", "04"]
    assert "evaluation seed=0 M=1 (predictions.csv is missing)" in capsys.readouterr().out
    record_path = layout.evaluation_record(tmp_path / "results", 0, 4)
    write_json(record_path, {**json.loads(record_path.read_text()), "n_clips": 2})  # the CSVs hold one clip
    stage = evaluation_stage(engine_for(tmp_path, corpus, FakeNotebooks()).options, 0, 4)
    assert why_run(stage, False) == "metrics_per_clip.csv is corrupt (1 rows, the record scores 2 clips)"


def test_a_truncated_record_is_named_corrupt_not_older(tmp_path, corpus):
    engine = engine_for(tmp_path, corpus, FakeNotebooks())
    engine.run()
    record = layout.training_record(tmp_path / "results", 0, 1)
    record.write_text(record.read_text()[:40])
    stage = training_stage(engine.options, 0, 1)
    assert why_run(stage, False) == "training.json is corrupt (not valid JSON)"
    record.write_bytes(b"\xff\xfe\x00garbage")
    assert why_run(stage, False) == "training.json is corrupt (not valid JSON)"
    # the evaluation built on it computes its key without crashing, and reruns
    assert why_run(evaluation_stage(engine.options, 0, 1), False).startswith("settings changed")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("null", "training.json is corrupt (holds null, not a JSON object)"),
        ("[1, 2]", "training.json is corrupt (holds a list, not a JSON object)"),
        ('{"key": null}', "the record has no run key (made by an older version or by hand)"),
        ('{"profile": "smoke"}', "the record has no run key (made by an older version or by hand)"),
        ('{"key": "abc"}', "training.json is corrupt (its key is a string, not a JSON object)"),
    ],
)
def test_a_record_that_is_not_an_object_is_named_corrupt(tmp_path, corpus, content, reason):
    engine = engine_for(tmp_path, corpus, FakeNotebooks(), factors=[1])
    engine.run()
    record = layout.training_record(tmp_path / "results", 0, 1)
    record.write_text(content)
    assert why_run(training_stage(engine.options, 0, 1), False) == reason
    assert runkey.read_key(record) is None  # no AttributeError
    runkey.evaluation_key(record, 10)  # nor here
    notebooks = FakeNotebooks()
    engine_for(tmp_path, corpus, notebooks, factors=[1]).run()
    assert notebooks.ran("02") == [("02_training", 0, 1)]


def test_key_changes_on_a_key_that_is_not_an_object():
    assert runkey.key_changes([1], {"stage": "training"}) == ["the record's key is corrupt (a list, not a JSON object)"]


# --------------------------------------------------------------------------- 2c. the checkpoint


class NotPlainData:
    pass


@pytest.fixture
def config():
    return Config().with_overrides({"device": "cpu"})


def test_a_truncated_checkpoint_is_named_corrupt_not_other_settings(tmp_path, config, capsys):
    checkpoint = tmp_path / layout.CHECKPOINT_FILE
    torch.save({"config": config.to_dict(), "model": {"w": torch.zeros(64)}}, checkpoint)
    assert checkpoint_problem(checkpoint, config) is None
    assert discard_unusable_checkpoint(checkpoint, config, resume=True) is None and checkpoint.exists()
    checkpoint.write_bytes(checkpoint.read_bytes()[:-30])
    assert checkpoint_problem(checkpoint, config).startswith("is corrupt")
    message = discard_unusable_checkpoint(checkpoint, config, resume=True)
    assert "checkpoint.pt is corrupt" in message and message.endswith("training starts from scratch")
    assert "other settings" not in message
    assert message in capsys.readouterr().out
    assert not checkpoint.exists()


def test_a_checkpoint_of_other_settings_or_an_older_version_says_so(tmp_path, config):
    checkpoint = tmp_path / layout.CHECKPOINT_FILE
    other = config.with_overrides({"train": {"learning_rate": 0.5}})
    torch.save({"config": other.to_dict()}, checkpoint)
    assert checkpoint_problem(checkpoint, config) == "was made with other settings"
    torch.save({"config": config.with_overrides({"device": "cuda"}).to_dict()}, checkpoint)
    assert checkpoint_problem(checkpoint, config) is None  # the device aside
    torch.save({"config": config.to_dict(), "extra": NotPlainData()}, checkpoint)
    assert checkpoint_problem(checkpoint, config).startswith("was written by an older version")
    checkpoint.write_bytes(b"")
    assert checkpoint_problem(checkpoint, config).startswith("is corrupt")
    discard_unusable_checkpoint(checkpoint, config, resume=False)
    assert not checkpoint.exists()
