"""A tiny model learns; pause/kill + resume gives the same weights; NaN stops with a clear error."""

import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from aac_subsampling.base import devices
from aac_subsampling.method import training
from aac_subsampling.method.decoding import greedy_decode
from aac_subsampling.method.training import EarlyStopping, build_model, train_model

from helpers import CAPTIONS, TINY, tiny_problem


def test_tiny_model_learns_and_decodes_a_training_caption():
    config, vocabulary, dataset, features = tiny_problem()
    model = build_model(config, len(vocabulary))
    result = train_model(model, dataset, vocabulary.frequencies(), config, progress=False)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.5 * losses[0]
    decoded = greedy_decode(model, sorted(CAPTIONS), features, vocabulary, progress=False)
    exact = [name for name, text in decoded.items() if text == CAPTIONS[name]]
    assert exact, decoded


def test_pause_and_resume_equals_uninterrupted(tmp_path):
    overrides = {**TINY, "model": {**TINY["model"], "dropout": 0.25}, "train": {**TINY["train"], "max_epochs": 6}}
    config, vocabulary, dataset, _ = tiny_problem(overrides)
    straight = build_model(config, len(vocabulary))
    train_model(straight, dataset, vocabulary.frequencies(), config, tmp_path / "a.pt", progress=False)

    paused = build_model(config, len(vocabulary))
    first = train_model(
        paused, dataset, vocabulary.frequencies(), config, tmp_path / "b.pt", progress=False, max_epochs_this_call=3
    )
    assert first.stop_reason == "paused" and first.epochs_completed == 3
    resumed = build_model(config, len(vocabulary))
    second = train_model(resumed, dataset, vocabulary.frequencies(), config, tmp_path / "b.pt", progress=False)
    assert second.resumed_from_epoch == 3 and second.epochs_completed == 6
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_killed_process_resumes_to_the_same_weights(tmp_path):
    """SIGKILL the training process after epoch 2 of 5, resume here, compare with a straight run."""
    overrides = {**TINY, "model": {**TINY["model"], "dropout": 0.25}, "train": {**TINY["train"], "max_epochs": 5}}
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from helpers import tiny_problem
        from aac_subsampling.method.training import build_model, train_model
        config, vocabulary, dataset, _ = tiny_problem({overrides!r})
        model = build_model(config, len(vocabulary))
        def die(record):
            if record["epoch"] == 1:
                os.kill(os.getpid(), signal.SIGKILL)
        train_model(model, dataset, vocabulary.frequencies(), config, {str(tmp_path / "k.pt")!r},
                    progress=False, on_epoch_end=die)
    """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert completed.returncode == -9, completed.stderr
    config, vocabulary, dataset, _ = tiny_problem(overrides)
    resumed = build_model(config, len(vocabulary))
    result = train_model(resumed, dataset, vocabulary.frequencies(), config, tmp_path / "k.pt", progress=False)
    assert result.resumed_from_epoch == 2
    straight = build_model(config, len(vocabulary))
    train_model(straight, dataset, vocabulary.frequencies(), config, progress=False)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_finished_checkpoint_returns_at_once(tmp_path):
    overrides = {**TINY, "train": {**TINY["train"], "max_epochs": 2}}
    config, vocabulary, dataset, _ = tiny_problem(overrides)
    model = build_model(config, len(vocabulary))
    train_model(model, dataset, vocabulary.frequencies(), config, tmp_path / "c.pt", progress=False)
    again = train_model(
        build_model(config, len(vocabulary)),
        dataset,
        vocabulary.frequencies(),
        config,
        tmp_path / "c.pt",
        progress=False,
    )
    assert again.resumed_from_epoch == 2 and again.epochs_completed == 2


def test_non_finite_loss_names_epoch_and_batch():
    config, vocabulary, dataset, features = tiny_problem()
    features["bell.wav"][3, 2] = np.nan
    model = build_model(config, len(vocabulary))
    with pytest.raises(FloatingPointError, match="epoch 0, batch \\d"):
        train_model(model, dataset, vocabulary.frequencies(), config, progress=False)


def test_early_stopping_rule():
    stopper = EarlyStopping(patience=2, min_improvement=1e-3)
    assert stopper.update(1.0, 0)
    assert not stopper.update(0.9995, 1)  # not more than 1e-3 better
    assert stopper.update(0.998, 2)
    assert not stopper.update(0.998, 3) and not stopper.should_stop
    assert not stopper.update(0.9975, 4) and stopper.should_stop
    assert stopper.best_epoch == 2


def test_gradient_clipping_acts_on_the_gradients_the_optimiser_uses(monkeypatch):
    """The authors clipped before backward(), so it never acted; here the step sees clipped gradients."""
    seen = []
    original_step = torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        seen.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    for clip in (None, 0.01):
        overrides = {**TINY, "train": {**TINY["train"], "max_epochs": 1, "grad_clip_norm": clip}}
        config, vocabulary, dataset, _ = tiny_problem(overrides)
        train_model(build_model(config, len(vocabulary)), dataset, vocabulary.frequencies(), config, progress=False)
    unclipped, clipped = seen[:2], seen[2:]
    assert min(unclipped) > 0.01
    assert max(clipped) <= 0.01 * (1 + 1e-4)


def test_cosine_schedule_falls_from_the_rate_to_zero_over_the_cap(monkeypatch):
    """The rate each optimiser step uses: constant by default; with "cosine", half a cosine over max_epochs."""
    seen = []
    original_step = torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    rates = {}
    for schedule in ("constant", "cosine"):
        seen.clear()
        overrides = {**TINY, "train": {**TINY["train"], "max_epochs": 4, "patience": 100, "lr_schedule": schedule}}
        config, vocabulary, dataset, _ = tiny_problem(overrides)
        train_model(build_model(config, len(vocabulary)), dataset, vocabulary.frequencies(), config, progress=False)
        rates[schedule] = list(seen)
    base = config.train.learning_rate
    assert rates["constant"] == [base] * len(rates["constant"])
    cosine = rates["cosine"]
    assert cosine[0] == pytest.approx(base) and all(a > b for a, b in zip(cosine, cosine[1:]))
    assert cosine[len(cosine) // 2] == pytest.approx(base / 2, rel=0.2) and 0 < cosine[-1] < 0.1 * base


def test_unknown_schedule_is_refused_before_training():
    config, vocabulary, dataset, _ = tiny_problem({**TINY, "train": {**TINY["train"], "lr_schedule": "linear"}})
    with pytest.raises(ValueError, match="lr_schedule"):
        train_model(build_model(config, len(vocabulary)), dataset, vocabulary.frequencies(), config, progress=False)


def test_cosine_schedule_resumes_on_the_same_curve(tmp_path):
    overrides = {**TINY, "train": {**TINY["train"], "max_epochs": 4, "patience": 100, "lr_schedule": "cosine"}}
    config, vocabulary, dataset, _ = tiny_problem(overrides)
    straight = build_model(config, len(vocabulary))
    train_model(straight, dataset, vocabulary.frequencies(), config, tmp_path / "a.pt", progress=False)
    paused = build_model(config, len(vocabulary))
    train_model(
        paused, dataset, vocabulary.frequencies(), config, tmp_path / "b.pt", progress=False, max_epochs_this_call=2
    )
    resumed = build_model(config, len(vocabulary))
    train_model(resumed, dataset, vocabulary.frequencies(), config, tmp_path / "b.pt", progress=False)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def paused_checkpoint(tmp_path, epochs_before_pause=1):
    """A checkpoint written by ``train_model`` part-way through a run, and the run's config."""
    overrides = {**TINY, "model": {**TINY["model"], "dropout": 0.25}, "train": {**TINY["train"], "max_epochs": 4}}
    config, vocabulary, dataset, _ = tiny_problem(overrides)
    path = tmp_path / "paused.pt"
    train_model(
        build_model(config, len(vocabulary)),
        dataset,
        vocabulary.frequencies(),
        config,
        path,
        progress=False,
        max_epochs_this_call=epochs_before_pause,
    )
    return path, config, vocabulary, dataset


def test_checkpoint_loads_with_weights_only(tmp_path):
    """Only tensors and plain values are saved, so torch's safe loader reads a checkpoint as is."""
    path, *_ = paused_checkpoint(tmp_path)
    state = torch.load(path, weights_only=True)
    assert state["epochs_completed"] == 1 and not state["finished"]


def test_resume_reads_the_checkpoint_onto_the_cpu_with_the_safe_loader(tmp_path, monkeypatch):
    """On a GPU the old code mapped the checkpoint to the training device, which moved the RNG states
    off the CPU (torch.set_rng_state then fails); the resume path must always map to the CPU."""
    path, config, vocabulary, dataset = paused_checkpoint(tmp_path)
    calls = []
    original_load = torch.load

    def recording_load(*args, **kwargs):
        calls.append(kwargs)
        return original_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    result = train_model(
        build_model(config, len(vocabulary)), dataset, vocabulary.frequencies(), config, path, progress=False
    )
    assert result.resumed_from_epoch == 1 and result.epochs_completed == 4
    assert calls and all(str(c.get("map_location")) == "cpu" and c.get("weights_only") is True for c in calls), calls


def test_rng_states_restore_whatever_device_the_tensors_were_mapped_to(tmp_path, monkeypatch):
    """Map every tensor of the checkpoint to another device ('meta' stands in for a GPU here): the
    restored generators must still be the saved ones, as CPU ByteTensors for torch."""
    path, *_ = paused_checkpoint(tmp_path)
    saved = torch.load(path, weights_only=False)["rng"]  # our own file; read as saved, whatever its format
    original_load = torch.load
    monkeypatch.setattr(torch, "load", lambda f, *a, **kw: original_load(f, *a, **{**kw, "map_location": "meta"}))
    state = training.load_checkpoint(path)
    assert state["model"]["decoder.classifier.bias"].device.type == "meta"  # the mapping did happen
    torch.manual_seed(12345), np.random.seed(12345), random.seed(12345)
    training._set_rng_state(state["rng"])
    restored = torch.get_rng_state()
    assert restored.device.type == "cpu" and restored.dtype == torch.uint8
    assert restored.tolist() == np.asarray(saved["torch"]).tolist()
    assert np.random.get_state()[1].tolist() == np.asarray(saved["numpy"][1]).tolist()
    assert random.getstate() == tuple(saved["python"])


def test_rng_state_round_trip_continues_every_generator_where_it_was():
    training._set_rng_state(training._rng_state())  # prime: any state works
    state = training._rng_state()
    expected = (random.random(), np.random.random(), torch.rand(1).item())
    training._set_rng_state(state)
    assert (random.random(), np.random.random(), torch.rand(1).item()) == expected


def test_checkpoint_from_an_older_version_is_a_clear_error(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"rng": {"numpy": np.random.get_state()}}, path)  # an ndarray: not a plain value
    with pytest.raises(RuntimeError, match="older version"):
        training.load_checkpoint(path)


# devices.py: the one place that decides and inspects devices.


def fake_cuda(monkeypatch, n_devices: int) -> list:
    """Pretend torch sees ``n_devices`` GPUs; returns the list of devices synchronize() was given."""
    synchronised = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n_devices > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n_devices)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: synchronised.append(device))
    return synchronised


def test_resolve_device_names_a_missing_gpu(monkeypatch):
    fake_cuda(monkeypatch, 1)
    assert devices.resolve_device("cuda:0") == torch.device("cuda:0")
    assert devices.resolve_device("cuda") == torch.device("cuda")
    assert devices.resolve_device("auto") == torch.device("cuda")
    with pytest.raises(ValueError, match="'cuda:1' does not exist.*1 CUDA device"):
        devices.resolve_device("cuda:1")


def test_resolve_device_without_cuda(monkeypatch):
    fake_cuda(monkeypatch, 0)
    assert devices.resolve_device("auto") == torch.device("cpu")
    assert devices.resolve_device("cpu") == torch.device("cpu")
    for name in ("cuda", "cuda:0"):
        with pytest.raises(RuntimeError, match=f"'{name}' was asked for"):
            devices.resolve_device(name)
    with pytest.raises(ValueError, match="'gpu0' is not a device name"):
        devices.resolve_device("gpu0")
    assert training.resolve_device is devices.resolve_device  # still importable from training


def test_synchronize_waits_only_for_cuda_and_for_the_device_given(monkeypatch):
    synchronised = fake_cuda(monkeypatch, 2)
    devices.synchronize("cpu")
    devices.synchronize(torch.device("cpu"))
    assert synchronised == []
    devices.synchronize("cuda:1")
    assert synchronised == [torch.device("cuda:1")]


def test_memory_and_name_on_cpu():
    devices.reset_peak_memory("cpu")
    assert devices.peak_memory_bytes("cpu") is None
    assert devices.describe("cpu") == "cpu"
