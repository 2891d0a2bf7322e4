"""Whether a model listens: the language-prior floor, the swapped-audio derangement, the floors and
audio-dependence tables, the validation-driven stopping rule, and the claim rows built on them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from aac_subsampling.analysis.claims import FAILS, HOLDS, UNTESTABLE, listening_claims
from aac_subsampling.analysis.floors import language_prior_caption
from aac_subsampling.evaluation.swapped_audio import audio_partners, derangement, swap_audio
from aac_subsampling.method.config import Config
from aac_subsampling.method.training import EarlyStopping, build_model, validation_due

from helpers import TINY, tiny_problem


def tiny_training(overrides: dict) -> tuple:
    """(model, dataset, token frequencies, config) of the four-clip problem with ``overrides`` on TINY's."""
    merged = {**TINY, **{k: {**TINY.get(k, {}), **v} for k, v in overrides.items()}}
    config, vocabulary, dataset, _ = tiny_problem(merged)
    return build_model(config, len(vocabulary)), dataset, vocabulary.frequencies(), config


def test_language_prior_is_the_most_frequent_word_at_each_position_up_to_eos() -> None:
    captions = [
        "A dog barks.",
        "A dog barks loudly twice.",
        "The bell rings twice!",
        "A cat meows",
    ]
    # position 0: a (3), 1: dog (2), 2: barks (2), 3: <eos> (3 of 4 captions have ended) -> stop
    assert language_prior_caption(captions) == "a dog barks"


def test_language_prior_ties_go_to_the_first_seen_word_and_eos_can_win_at_once() -> None:
    assert language_prior_caption(["b x", "a y"]) == "b x"
    assert language_prior_caption(["", "", "word"]) == ""
    with pytest.raises(ValueError, match="no captions"):
        language_prior_caption([])


@pytest.mark.parametrize("n", [2, 3, 5, 60, 1045])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_derangement_leaves_no_clip_with_its_own_audio(n: int, seed: int) -> None:
    permutation = derangement(n, seed)
    assert sorted(permutation.tolist()) == list(range(n))
    assert not np.any(permutation == np.arange(n))
    assert np.array_equal(permutation, derangement(n, seed))  # seeded


def test_derangements_differ_between_seeds_and_one_clip_is_refused() -> None:
    assert not np.array_equal(derangement(60, 0), derangement(60, 1))
    with pytest.raises(ValueError, match="at least 2 clips"):
        derangement(1, 0)


def test_audio_partners_depend_on_the_clip_set_not_its_order_and_swap_features() -> None:
    clips = [f"clip {i}.wav" for i in range(7)]
    partners = audio_partners(clips, seed=3)
    assert partners == audio_partners(list(reversed(clips)), seed=3)
    assert all(partner != clip for clip, partner in partners.items())
    assert sorted(partners.values()) == sorted(clips)
    features = {clip: np.full((4, 2), i) for i, clip in enumerate(clips)}
    swapped = swap_audio(features, partners)
    for clip, partner in partners.items():
        assert swapped[clip] is features[partner]
    with pytest.raises(KeyError, match="no features"):
        swap_audio({clips[0]: features[clips[0]]}, partners)


def test_early_stopping_counts_the_epochs_between_validations() -> None:
    stopper = EarlyStopping(patience=4, min_improvement=1e-3)
    assert stopper.update(-0.5, epoch=1)  # validated after epochs 2, 4, 6 ... (0-based 1, 3, 5)
    assert not stopper.update(-0.5, epoch=3)
    assert stopper.epochs_without_improvement == 2 and not stopper.should_stop
    assert not stopper.update(-0.4, epoch=5)
    assert stopper.should_stop and stopper.best_epoch == 1


def test_validation_is_due_every_few_epochs_and_after_the_last() -> None:
    train = Config().with_overrides({"train": {"validate_every": 3, "max_epochs": 8}}).train
    assert [e for e in range(8) if validation_due(e, train)] == [2, 5, 7]
    never = Config().train
    assert not any(validation_due(e, never) for e in range(10))


def test_stopping_on_validation_without_a_validator_is_refused() -> None:
    model, dataset, frequencies, config = tiny_training({"train": {"stop_on": "validation_cider", "validate_every": 1}})
    from aac_subsampling.method.training import train_model

    with pytest.raises(ValueError, match="validation split"):
        train_model(model, dataset, frequencies, config, progress=False)


def test_training_keeps_the_epoch_with_the_best_validation_score() -> None:
    """The validator's scores decide: the kept weights are those of the best-scoring epoch, not the last."""
    from aac_subsampling.method.training import train_model

    model, dataset, frequencies, config = tiny_training(
        {"train": {"stop_on": "validation_cider", "validate_every": 1, "max_epochs": 4, "patience": 10}}
    )
    scores = iter([0.1, 0.9, 0.2, 0.3])
    snapshots = []

    def validate(m) -> dict[str, float]:
        snapshots.append({k: v.clone() for k, v in m.state_dict().items()})
        return {"validation_cider": next(scores), "validation_cider_swapped": 0.0}

    result = train_model(model, dataset, frequencies, config, progress=False, validate=validate)
    assert result.best_epoch == 1 and result.stop_on == "validation_cider"
    assert result.best_step == 2 * result.steps_per_epoch and result.steps == 4 * result.steps_per_epoch
    kept = model.state_dict()
    assert all(torch.equal(kept[k], snapshots[1][k]) for k in kept)
    assert [round(h["validation_cider"], 1) for h in result.history] == [0.1, 0.9, 0.2, 0.3]


def _pooled(differences: dict[int, tuple[float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"metric": "CIDEr", "M": m, "seed": "pooled", "difference": d, "ci_low": lo, "ci_high": hi}
            for m, (d, lo, hi) in differences.items()
        ]
    )


def test_listening_claims_hold_only_when_every_m_is_clearly_above() -> None:
    floors = pd.DataFrame(
        [
            {"metric": "CIDEr", "M": m, "floor": f, "difference": 0.5, "ci_low": 0.3, "ci_high": 0.7}
            for m in (1, 16)
            for f in ("constant", "language_prior")
        ]
    )
    audio = _pooled({1: (0.4, 0.2, 0.6), 16: (0.5, 0.3, 0.7)})
    verdicts = [row["verdict"] for row in listening_claims(floors, audio)]
    assert verdicts == [HOLDS, HOLDS]
    audio = _pooled({1: (0.02, -0.01, 0.05), 16: (0.5, 0.3, 0.7)})
    floors.loc[0, "ci_low"] = -0.1
    rows = listening_claims(floors, audio)
    assert [row["verdict"] for row in rows] == [FAILS, FAILS]
    assert "M=1 vs constant" in rows[0]["evidence"] and "M=1" in rows[1]["evidence"]
    assert [row["verdict"] for row in listening_claims(None, None)] == [UNTESTABLE, UNTESTABLE]


def test_floors_and_audio_dependence_tables_on_a_folder_whose_models_listen(tmp_path) -> None:
    """Fake runs that name the clip's event (quality 0.45-0.75) against swapped-audio captions (random events)
    and two one-caption floors: every M clearly beats both and clearly drops with swapped audio."""
    from fake_results import write_fake_results

    from aac_subsampling.analysis.audio_dependence import audio_dependence
    from aac_subsampling.analysis.floors import compare_to_floors
    from aac_subsampling.analysis.report import write_report
    from aac_subsampling.experiment import layout

    folder = write_fake_results(tmp_path / "results", seeds=(0, 1), factors=(1, 16), listening=True)
    floors = compare_to_floors(folder, n_resamples=200)
    cider = floors[floors["metric"] == "CIDEr"]
    assert sorted(set(cider["floor"])) == ["constant", "language_prior"] and len(cider) == 4
    assert (cider["ci_low"] > 0).all(), cider
    assert np.allclose(cider["difference"], cider["score"] - cider["floor_score"])
    listening = audio_dependence(folder, n_resamples=200)
    pooled = listening[(listening["metric"] == "CIDEr") & (listening["seed"] == "pooled")]
    assert list(pooled["M"]) == [1, 16] and (pooled["ci_low"] > 0).all() and (pooled["n_seeds"] == 2).all()
    per_seed = listening[(listening["metric"] == "CIDEr") & (listening["seed"] != "pooled")]
    assert len(per_seed) == 4
    report = write_report(folder, n_resamples=50, context=False, progress=False)
    claims = report.claims.set_index("claim")["verdict"]
    assert claims["every M beats both audio-blind floors"] == HOLDS
    assert claims["every M uses the audio (own minus swapped audio)"] == HOLDS
    assert layout.table_file(folder, layout.AUDIO_DEPENDENCE_FILE).is_file()
    assert {"listening"} <= set(report.figures)


def test_a_model_that_ignores_the_audio_fails_the_listening_claims(tmp_path) -> None:
    from fake_results import write_fake_results

    from aac_subsampling.analysis.report import write_report

    folder = write_fake_results(
        tmp_path / "results", seeds=(0,), factors=(1, 16), quality=lambda s, m: 0.0, listening=True
    )
    claims = write_report(folder, n_resamples=100, context=False, progress=False).claims.set_index("claim")["verdict"]
    assert claims["every M uses the audio (own minus swapped audio)"] != HOLDS


def test_every_profile_that_stops_on_validation_has_a_corpus_with_a_validation_split() -> None:
    from aac_subsampling.data.synthetic.presets import PRESETS
    from aac_subsampling.experiment.profiles import PROFILES

    for profile in PROFILES.values():
        train = profile.config().train
        if train.stop_on == "validation_cider" or train.validate_every > 0:
            assert profile.corpus == "synthetic", profile.name  # Clotho v1 has no validation split
            assert PRESETS[profile.synthetic_preset].n_validation >= 2, profile.name
    assert PROFILES["quick"].config().train.stop_on == "validation_cider"
    assert PROFILES["paper"].config().train.stop_on == "training_loss"  # the paper's rule


def test_pause_and_resume_with_validation_stopping_equals_uninterrupted(tmp_path) -> None:
    """Validation every 2 epochs, early stopping on it: a run paused after 3 epochs and resumed keeps the same
    epoch and weights, and takes the same validations, as one that was never paused."""
    from aac_subsampling.method.training import train_model

    overrides = {"train": {"stop_on": "validation_cider", "validate_every": 2, "max_epochs": 8, "patience": 4}}

    def validator(m) -> dict[str, float]:  # a deterministic score of the weights; peaks early so that it stops
        total = float(sum(p.double().abs().sum() for p in m.parameters()))
        return {"validation_cider": -abs(total % 7.0 - 3.0), "validation_cider_swapped": 0.0}

    straight, dataset, frequencies, config = tiny_training(overrides)
    whole = train_model(straight, dataset, frequencies, config, tmp_path / "a.pt", progress=False, validate=validator)
    paused, _, _, _ = tiny_training(overrides)
    first = train_model(
        paused,
        dataset,
        frequencies,
        config,
        tmp_path / "b.pt",
        progress=False,
        validate=validator,
        max_epochs_this_call=3,
    )
    assert first.stop_reason == "paused"
    resumed, _, _, _ = tiny_training(overrides)
    second = train_model(resumed, dataset, frequencies, config, tmp_path / "b.pt", progress=False, validate=validator)
    assert (second.best_epoch, second.epochs_completed, second.stop_reason) == (
        whole.best_epoch,
        whole.epochs_completed,
        whole.stop_reason,
    )
    assert [h.get("validation_cider") for h in second.history] == [h.get("validation_cider") for h in whole.history]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_the_prepare_key_sees_the_validation_split_and_the_preset_sizes(tmp_path, monkeypatch) -> None:
    """A corpus made before its preset had a validation split must not pass for a current one."""
    import dataclasses

    from aac_subsampling.data.synthetic import presets
    from aac_subsampling.experiment import runkey

    for name in ("clotho_captions_development.csv", "clotho_captions_evaluation.csv"):
        (tmp_path / name).write_text("file_name,caption_1\n")
    before = runkey.prepare_key("quick", tmp_path)
    (tmp_path / "clotho_captions_validation.csv").write_text("file_name,caption_1\n")
    with_validation = runkey.prepare_key("quick", tmp_path)
    assert before["corpus"] != with_validation["corpus"]
    assert with_validation["synthetic_settings"]["n_validation"] == 40
    smaller = dataclasses.replace(presets.PRESETS["quick"], n_validation=0)
    monkeypatch.setitem(presets.PRESETS, "quick", smaller)
    assert runkey.prepare_key("quick", tmp_path)["synthetic_settings"] != with_validation["synthetic_settings"]
