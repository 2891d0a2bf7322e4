"""Notebook 05's study without training: its jobs, variant configurations, paired comparisons and verdicts
on hand-made per-clip scores, partial publishing, and the engine's --open-questions stages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from aac_subsampling import publish
from aac_subsampling.experiment import layout, runkey
from aac_subsampling.experiment.pipeline import write_json
from aac_subsampling.open_questions import VARIANTS, batch, study, variants
from aac_subsampling.run import Engine, RunOptions, parse_arguments

from helpers import FakeNotebooks

CLIPS = [f"clip_{i:02d}.wav" for i in range(30)]


def test_jobs_cover_every_variant_seed_and_m_slowest_first():
    jobs = study.training_jobs([0, 1], [16, 1])
    assert len(jobs) == len(VARIANTS) * 2 * 2 == len(set(jobs))
    assert {v for v, _, _ in jobs} == set(VARIANTS)
    assert [m for _, _, m in jobs] == sorted(m for _, _, m in jobs)  # M = 1 first


def test_each_variant_changes_exactly_its_switches():
    paper = runkey.training_config("quick", 16, 0, None, VARIANTS["paper"].overrides)
    assert paper == runkey.training_config("quick", 16, 0)
    silence = runkey.training_config("quick", 16, 0, None, VARIANTS["silence_padding"].overrides)
    assert silence.model.padding == "silence" and silence.features == paper.features
    authors = runkey.training_config("quick", 16, 0, None, VARIANTS["authors_code"].overrides)
    assert (authors.model.subsampling_mode, authors.model.residual_mode, authors.model.dropout_placement) == (
        "ceil",
        "code",
        "code",
    )
    assert (authors.features.window, authors.features.peak_normalise, authors.train.drop_last) == ("hann", True, True)
    assert authors.features.standardise == paper.features.standardise  # the profile's own settings stay
    attention = runkey.training_config("quick", 1, 0, None, VARIANTS["attention"].overrides)
    assert attention.model.decoder == "attention"
    hashes = {runkey.config_key(c)["config_hash"] for c in (paper, silence, authors, attention)}
    assert len(hashes) == 4


def test_study_key_names_its_settings(tmp_path):
    write_json(tmp_path / layout.PREPARED_RECORD, {"made": 1})
    key = variants.study_key("quick", tmp_path, [0, 1, 2], [16, 1], None)
    assert key["M"] == [1, 16] and key["seeds"] == [0, 1, 2] and set(key["variants"]) == set(VARIANTS)
    assert variants.study_key("quick", tmp_path, [0], [1, 16], None) != key
    write_json(tmp_path / layout.PREPARED_RECORD, {"made": 2})
    assert variants.study_key("quick", tmp_path, [0, 1, 2], [1, 16], None)["upstream"] != key["upstream"]
    assert variants.default_seeds("smoke") == [0] and variants.default_seeds("quick") == [0, 1, 2]


def _write_scores(folder: Path, seed: int, factor: int, cider: np.ndarray, rouge: np.ndarray) -> None:
    directory = layout.run_dir(folder, seed, factor)
    directory.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"clip_id": CLIPS, "CIDEr": cider, "ROUGE_L": rouge}).to_csv(
        directory / f"{layout.METRICS_STEM}_per_clip.csv", index=False
    )


@pytest.fixture
def study_folder(tmp_path):
    """Per-clip scores for 2 seeds at M = 1 and 16: attention better by exactly 0.1 CIDEr on every clip, the
    other variants equal to the paper's model; batched padded decodes worse by 0.05 ROUGE_L."""
    rng = np.random.default_rng(0)
    results = tmp_path / "results"
    for seed in (0, 1):
        for factor in (1, 16):
            cider, rouge = rng.uniform(0, 1, len(CLIPS)), rng.uniform(0, 1, len(CLIPS))
            for name in VARIANTS:
                bonus = 0.1 if name == "attention" else 0.0
                _write_scores(variants.variant_dir(results, name), seed, factor, cider + bonus, rouge)
            for decode in batch.DECODES:
                loss = 0.05 if decode == "padded_batched" else 0.0
                _write_scores(batch.decode_dir(results, decode), seed, factor, cider, rouge - loss)
    records = [
        {
            "seed": s,
            "M": m,
            "decodes": [
                {
                    "decode": d,
                    "sequence_mode": mode,
                    "batch_size": size or 16,
                    "n_clips": len(CLIPS),
                    "n_changed": 7 if d == "padded_batched" else 0,
                }
                for d, (mode, size) in batch.DECODES.items()
            ],
        }
        for s in (0, 1)
        for m in (1, 16)
    ]
    return results, records


def test_comparisons_find_the_planted_differences_and_only_those(study_folder):
    results, _ = study_folder
    comparisons = study.compare_all(results, [0, 1], [1, 16], n_resamples=200).dropna(subset=["difference"])
    attention = comparisons[(comparisons["question"] == "attention") & (comparisons["metric"] == "CIDEr")]
    assert len(attention) == 2
    assert np.allclose(attention["difference"], 0.1) and (attention["ci_low"] > 0).all()
    assert (attention["share_better"] == 1.0).all()
    padding = comparisons[comparisons["question"] == "padding"]
    assert np.allclose(padding["difference"], 0.0) and np.allclose(padding["ci_high"], 0.0)
    batched = comparisons[
        (comparisons["comparison"] == "padded_batched - padded_alone") & (comparisons["metric"] == "ROUGE_L")
    ]
    assert np.allclose(batched["difference"], -0.05) and (batched["ci_high"] < 0).all()
    assert set(comparisons["metric"]) == {"CIDEr", "ROUGE_L"}  # metrics without scores give no difference


def test_verdicts_are_written_from_the_numbers(study_folder):
    results, records = study_folder
    written = study.write_study(
        results, [0, 1], [1, 16], records, {"key": {"stage": "test"}}, n_resamples=200, figure=False
    )
    verdicts = written.verdicts.set_index(["question", "M"])["verdict"]
    assert "CIDEr +0.100 [+0.100, +0.100]" in verdicts[("attention", 16)]
    assert "intervals exclude 0 for 1 of 2 metrics (CIDEr +)" in verdicts[("attention", 1)]
    assert "no metric's interval excludes 0" in verdicts[("padding", 1)]
    assert "padded_batched: 14 of 60 captions differ" in verdicts[("batch", 16)]
    assert "ROUGE_L -" in verdicts[("batch", 16)]
    loaded = study.load_study(results)
    assert loaded is not None and loaded.verdicts.equals(written.verdicts)
    assert study.study_record(results)["key"] == {"stage": "test"}


def test_an_interval_that_excludes_0_only_below_the_reported_precision_is_no_difference():
    def row(metric, difference, low, high):
        return {
            "question": "padding",
            "comparison": "silence_padding - paper",
            "M": 1,
            "metric": metric,
            "difference": difference,
            "ci_low": low,
            "ci_high": high,
        }

    comparisons = pd.DataFrame([row("BLEU4", 2e-8, 5e-17, 6e-8), row("CIDEr", 0.0004, 0.0002, 0.0009)])
    assert "no metric's interval excludes 0 (2 metrics)" in study.verdict(comparisons, pd.DataFrame(), "padding", 1)
    comparisons.loc[1, ["difference", "ci_low", "ci_high"]] = (0.004, 0.0006, 0.009)
    assert "intervals exclude 0 for 1 of 2 metrics (CIDEr +)" in study.verdict(
        comparisons, pd.DataFrame(), "padding", 1
    )


def test_publishing_the_study_keeps_the_published_main_results_and_back(tmp_path):
    target, figures = tmp_path / "published", tmp_path / "figures"
    main = tmp_path / "main"
    write_json(main / layout.PREPARED_RECORD, {"made": "main"})
    write_json(layout.evaluation_record(main, 0, 1), {"metrics": {}, "run": {"git_dirty": False}})
    layout.figures_dir(main).mkdir(parents=True)
    (layout.figures_dir(main) / "metrics_vs_M.png").write_bytes(b"png")
    publish.publish(main, "smoke", target, figures, require_clean_tree=False)

    only_study = tmp_path / "study"
    write_json(only_study / layout.PREPARED_RECORD, {"made": "study"})
    write_json(layout.evaluation_record(variants.variant_dir(only_study, "paper"), 0, 1), {"metrics": {}})
    write_json(variants.study_record_path(only_study), {"key": {}})
    layout.figures_dir(only_study).mkdir(parents=True)
    (layout.figures_dir(only_study) / study.FIGURE_FILE).write_bytes(b"png")
    publish.publish(only_study, "smoke", target, figures, require_clean_tree=False)

    assert json.loads((target / layout.PREPARED_RECORD).read_text())["made"] == "main"
    assert layout.evaluation_record(target, 0, 1).is_file()
    assert variants.study_record_path(target).is_file()
    assert sorted(p.name for p in figures.iterdir()) == ["metrics_vs_M.png", study.FIGURE_FILE]

    publish.publish(main, "smoke", target, figures, require_clean_tree=False)  # the main sweep again
    assert variants.study_record_path(target).is_file() and (figures / study.FIGURE_FILE).is_file()


class FakeWithStudy(FakeNotebooks):
    def __call__(self, notebook: Path, output: Path, parameters: dict, kernel: str) -> None:
        if notebook.stem.startswith("05"):
            self.calls.append((notebook.stem, None, None))
            results = Path(parameters["results_dir"])
            key = variants.study_key(
                parameters["profile"],
                results,
                variants.default_seeds(parameters["profile"]),
                variants.DEFAULT_FACTORS,
                parameters["max_epochs"],
                questions=parameters["questions"],
            )
            self.questions = parameters["questions"]
            write_json(variants.study_record_path(results), {"key": key})
            return
        super().__call__(notebook, output, parameters, kernel)


def test_engine_runs_the_study_after_the_tables_or_alone(tmp_path, corpus):
    options = {"profile": "smoke", "data_dir": corpus, "results_dir": tmp_path / "results", "factors": [1], "jobs": 1}
    notebooks = FakeWithStudy()
    Engine(RunOptions(**options, open_questions=True), executor=notebooks).run()
    assert [c[0][:2] for c in notebooks.calls] == ["01", "02", "03", "04", "05"]
    again = FakeWithStudy()
    Engine(RunOptions(**options, open_questions=True), executor=again).run()
    assert again.calls == []  # the study's key matches: skipped
    alone = FakeWithStudy()
    Engine(RunOptions(**{**options, "results_dir": tmp_path / "other"}, open_questions_only=True), executor=alone).run()
    assert [c[0][:2] for c in alone.calls] == ["01", "05"]
    assert parse_arguments(["--open-questions-only"]).open_questions_only
    with pytest.raises(SystemExit):
        parse_arguments(["--open-questions", "--open-questions-only"])
    one = FakeWithStudy()
    Engine(
        RunOptions(**{**options, "results_dir": tmp_path / "other"}, open_questions_only=True, questions=["decoder"]),
        executor=one,
    ).run()
    assert [c[0][:2] for c in one.calls] == ["05"] and one.questions == ["decoder"]  # another study: rerun


def test_questions_are_chosen_by_key_and_need_the_study(capsys):
    assert parse_arguments(["--open-questions-only", "--questions", "decoder", "batch"]).questions == [
        "decoder",
        "batch",
    ]
    for argv in (["--questions", "decoder"], ["--open-questions", "--questions", "spice"]):
        with pytest.raises(SystemExit):
            parse_arguments(argv)
    assert "--open-questions" in capsys.readouterr().err
    assert variants.QUESTION_KEYS == tuple(q.key for q in study.QUESTIONS)  # the option's choices, in order
    assert study.study_variants(["decoder"]) == ["paper", "autoregressive", "autoregressive_attention"]
    assert {v for v, _, _ in study.training_jobs([0], [1, 16], ["padding"])} == {"paper", "silence_padding"}
    with pytest.raises(ValueError, match="unknown question\\(s\\) \\['spice'\\]"):
        study.selected_questions(["spice"])


def test_a_study_of_question_e_alone_needs_no_batch_decodes(study_folder):
    results, _ = study_folder
    for decode in batch.DECODES:  # question (a) not asked: its decodes are not read
        shutil.rmtree(batch.decode_dir(results, decode))
    written = study.write_study(
        results, [0, 1], [1, 16], [], {"key": {}}, n_resamples=50, figure=False, questions=["decoder"]
    )
    assert set(written.comparisons["question"]) == {"decoder", "decoder_subsampling"}
    assert set(written.verdicts["question"]) == {"decoder", "decoder_subsampling"}
    assert written.changed.empty and study.study_record(results)["questions"] == ["decoder"]


def _main_training(results: Path, key: dict, model: bytes | None = None) -> Path:
    record = layout.training_record(results, 0, 16)
    record.parent.mkdir(parents=True, exist_ok=True)
    if model is None:
        torch.save({"weight": torch.zeros(2)}, record.parent / layout.MODEL_FILE)
    else:
        (record.parent / layout.MODEL_FILE).write_bytes(model)
    write_json(record, {"key": key, "steps": 100})
    return record


def test_the_baseline_reuses_the_main_sweeps_training_when_its_key_matches(tmp_path):
    key = {"stage": "training", "M": 16, "seed": 0}
    main = _main_training(tmp_path, key)
    copied = layout.training_record(variants.variant_dir(tmp_path, variants.BASELINE), 0, 16)
    assert not variants.reuse_main_training(tmp_path, "attention", 0, 16, key)  # a variant trains its own
    assert not variants.reuse_main_training(tmp_path, variants.BASELINE, 0, 16, key | {"seed": 1})
    assert not copied.exists()
    assert variants.reuse_main_training(tmp_path, variants.BASELINE, 0, 16, key)
    assert variants.is_current(copied, key)
    assert (copied.parent / layout.MODEL_FILE).read_bytes() == (main.parent / layout.MODEL_FILE).read_bytes()


def test_a_main_training_whose_model_does_not_load_is_not_reused(tmp_path):
    key = {"stage": "training", "M": 16, "seed": 0}
    _main_training(tmp_path, key, model=b"PK\x03\x04 truncated")
    assert not variants.reuse_main_training(tmp_path, variants.BASELINE, 0, 16, key)
    assert not variants.is_current(layout.training_record(tmp_path, 0, 16), key)


def test_a_study_trainings_epoch_lines_go_to_its_log_not_to_the_notebook(tmp_path, monkeypatch, capsys):
    def fake_train_and_evaluate(profile, variant, factor, seed, results_dir, **options):
        print(f"M={factor} seed={seed} epoch 1/2 (step 3): loss 4.2")  # what pipeline.epoch_logger prints
        write_json(layout.training_record(variants.variant_dir(results_dir, variant), seed, factor), {"wall_time_s": 5})

    monkeypatch.setattr(variants, "train_and_evaluate", fake_train_and_evaluate)
    timings = study.run_trainings("smoke", tmp_path, seeds=[0], factors=[16], jobs=1, questions=["decoder"])
    shown = capsys.readouterr().out
    assert "epoch 1/2" not in shown
    assert f"ready ({len(timings)} of {len(timings)})" in shown and "epoch lines" in shown
    for variant in timings["variant"]:
        log = study.training_log(tmp_path, variant, 0, 16)
        assert log.read_text() == "M=16 seed=0 epoch 1/2 (step 3): loss 4.2\n"
