"""Training loop (Section 3.2): Adam, early stopping, checkpoints.

Early stopping watches the epoch-mean training loss (the paper) or, where the corpus has a validation
split, CIDEr-D of its greedy captions (``TrainConfig.stop_on``); either way the best epoch's weights are
kept. A validation callback can also record learning curves (CIDEr-D with each clip's own audio and with
another clip's) every ``TrainConfig.validate_every`` epochs.

On a CPU, denormal floats are flushed to zero while training (:func:`flush_denormals`): the gradient that
flows back from the encoder's last step (Eq. 6) through hundreds of GRU steps decays into the denormal
range, where CPU matrix products are tens of times slower. Measured on the paper's model (T = 300, batch 8,
one thread): the backward pass at M = 1 took 4.2 s with denormals and 0.5 s without them.

Differences from the authors' code, all on purpose: seeds; gradient clipping (when asked for) acts
*after* ``backward()``; an epoch's logits are never kept; a checkpoint after every epoch holds
everything needed (weights, optimiser, RNG states, early-stopping state, best weights) so that a run
killed at any point and resumed ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import copy
import math
import pickle
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aac_subsampling.base.atomic import atomic_path
from aac_subsampling.base.devices import resolve_device  # re-exported: callers import it from here too
from aac_subsampling.base.progress import progress_bar
from aac_subsampling.method.batching import CaptionDataset
from aac_subsampling.method.config import Config, TrainConfig
from aac_subsampling.method.loss import token_weights, weighted_cross_entropy
from aac_subsampling.method.model import CaptioningModel
from aac_subsampling.method.seeding import seed_everything


def build_model(config: Config, vocabulary_size: int) -> CaptioningModel:
    """A freshly initialised model; its weights depend only on ``config.train.seed``."""
    seed_everything(config.train.seed)
    return CaptioningModel(config.model, vocabulary_size)


def flush_denormals(device: torch.device) -> bool:
    """Flush denormal floats to zero on a CPU (see the module docstring); True when the CPU supports it.

    Values below 1.2e-38 become 0: a gradient that small changes no weight of a float32 model. The flag is
    per thread and a new thread inherits it from the one that creates it, so call this before the first
    parallel torch operation (``notebook.setup`` does) for torch's worker threads to have it too.
    """
    return device.type == "cpu" and torch.set_flush_denormal(True)


@dataclass
class EarlyStopping:
    """Stop after ``patience`` epochs in which the watched value (a loss, or minus a score) did not fall by
    more than ``min_improvement``. Values may come every epoch or every few epochs: the epochs since the last
    value all count as epochs without improvement."""

    patience: int
    min_improvement: float
    best_loss: float = float("inf")  # the best watched value so far (a loss, or minus a score)
    best_epoch: int = -1
    epochs_without_improvement: int = 0
    last_epoch: int = -1

    def update(self, loss: float, epoch: int) -> bool:
        """Record the watched value after ``epoch``; True when it is a new best."""
        elapsed, self.last_epoch = epoch - self.last_epoch, epoch
        if self.best_loss - loss > self.min_improvement:
            self.best_loss, self.best_epoch, self.epochs_without_improvement = loss, epoch, 0
            return True
        self.epochs_without_improvement += elapsed
        return False

    @property
    def should_stop(self) -> bool:
        return self.epochs_without_improvement >= self.patience


@dataclass
class TrainingResult:
    epochs_completed: int
    best_epoch: int
    best_loss: float  # the watched value at the best epoch: the training loss, or minus validation CIDEr-D
    stop_reason: str  # "early stopping", "max epochs", or "paused" (stopped by max_epochs_this_call)
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from_epoch: int = 0
    stop_on: str = "training_loss"
    steps_per_epoch: int = 0  # optimiser steps (batches) in one epoch

    @property
    def steps(self) -> int:
        """Optimiser steps trained, all epochs."""
        return self.epochs_completed * self.steps_per_epoch

    @property
    def best_step(self) -> int:
        """Optimiser steps up to the end of the best epoch, whose weights are kept."""
        return (self.best_epoch + 1) * self.steps_per_epoch

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"steps": self.steps, "best_step": self.best_step}


#: What a validation callback returns: ``validation_cider`` (each clip's own audio) and
#: ``validation_cider_swapped`` (each clip decoded from another clip's audio); recorded in the history.
Validator = Callable[[CaptioningModel], dict[str, float]]


def scheduled_learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    """The learning rate for optimiser step ``step`` (0-based) of a run of ``total_steps`` steps."""
    if config.lr_schedule == "constant":
        return config.learning_rate
    if config.lr_schedule == "cosine":
        return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))
    raise ValueError(f"TrainConfig.lr_schedule must be 'constant' or 'cosine', got {config.lr_schedule!r}")


def validation_due(epoch: int, config: TrainConfig) -> bool:
    """Whether the validation split is decoded after ``epoch`` (0-based): every ``validate_every`` epochs and
    after the last one."""
    every = config.validate_every
    return every > 0 and ((epoch + 1) % every == 0 or epoch + 1 >= config.max_epochs)


# Every generator's state is stored as plain Python ints, never as tensors or arrays: the checkpoint
# then loads with ``weights_only=True``, and no ``map_location`` can move an RNG state off the CPU
# (torch.set_rng_state accepts only a CPU ByteTensor).


def _rng_state() -> dict[str, Any]:
    generator_name, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),  # (version, tuple of ints, float or None): already plain
        "numpy": [str(generator_name), keys.tolist(), int(position), int(has_gauss), float(cached_gaussian)],
        "torch": torch.get_rng_state().tolist(),
    }
    if torch.cuda.is_available():
        state["cuda"] = [device_state.tolist() for device_state in torch.cuda.get_rng_state_all()]
    return state


def _cpu_byte_tensor(values: list[int]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.uint8, device="cpu")


def _set_rng_state(state: dict[str, Any]) -> None:
    version, internal_state, gauss_next = state["python"]
    random.setstate((version, tuple(internal_state), gauss_next))
    generator_name, keys, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((generator_name, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached_gaussian))
    torch.set_rng_state(_cpu_byte_tensor(state["torch"]))
    if "cuda" in state and torch.cuda.is_available():
        # A run resumed on a machine with fewer GPUs restores the devices it has.
        for index, device_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(_cpu_byte_tensor(device_state), index)


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a run killed while saving keeps the previous checkpoint."""
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with every tensor on the CPU; the caller moves weights to its device.

    ``weights_only=True``: a checkpoint holds only tensors and plain Python values, so reading one
    cannot run code stored in the file.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise RuntimeError(
            f"checkpoint {path} holds more than tensors and plain values (written by an older version "
            f"of this code?); delete it to train from the start"
        ) from error


def train_model(
    model: CaptioningModel,
    dataset: CaptionDataset,
    token_frequencies: list[int],
    config: Config,
    checkpoint_path: str | Path | None = None,
    resume: bool = True,
    progress: bool = True,
    max_epochs_this_call: int | None = None,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
    validate: Validator | None = None,
) -> TrainingResult:
    """Train ``model`` in place and leave the best epoch's weights in it.

    ``checkpoint_path``: written after every epoch; with ``resume`` an existing one is continued
    (a finished run returns at once). ``max_epochs_this_call`` pauses after that many epochs in this
    call (used to show that pause + resume equals an uninterrupted run). ``validate``: called after the
    epochs :func:`validation_due` names; needed when ``config.train.stop_on`` is ``"validation_cider"``.
    """
    train_cfg = config.train
    if train_cfg.stop_on not in ("training_loss", "validation_cider"):
        raise ValueError(
            f"TrainConfig.stop_on must be 'training_loss' or 'validation_cider', got {train_cfg.stop_on!r}"
        )
    scheduled_learning_rate(train_cfg, 0, 1)  # an unknown schedule fails here, before any work
    if train_cfg.stop_on == "validation_cider" and (validate is None or train_cfg.validate_every < 1):
        raise ValueError(
            "TrainConfig.stop_on='validation_cider' needs a validation split (the corpus has none, or no "
            f"validator was given) and validate_every >= 1 (got {train_cfg.validate_every})"
        )
    device = resolve_device(config.device)
    flush_denormals(device)
    model.to(device)
    weights = token_weights(token_frequencies, config.loss.beta, config.loss.class_weights).to(device)
    if weights.numel() != model.vocabulary_size:
        raise ValueError(f"{weights.numel()} token frequencies for a model with {model.vocabulary_size} output tokens")
    optimiser = torch.optim.Adam(model.parameters(), lr=train_cfg.learning_rate)
    stopper = EarlyStopping(train_cfg.patience, train_cfg.min_improvement)
    history: list[dict[str, float]] = []
    n_batches = dataset.n_batches(train_cfg.batch_size, train_cfg.batch_mode, train_cfg.drop_last)
    total_steps = train_cfg.max_epochs * n_batches
    best_state = copy.deepcopy(model.state_dict())
    start_epoch = 0
    checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None

    if checkpoint_path is not None and resume and checkpoint_path.exists():
        state = load_checkpoint(checkpoint_path)
        model.load_state_dict(state["model"])  # copies the CPU tensors into the parameters on `device`
        optimiser.load_state_dict(state["optimiser"])  # moves Adam's moments to each parameter's device
        # a checkpoint from before validation existed has no last_epoch: its values came every epoch
        stopper = EarlyStopping(**({"last_epoch": state["epochs_completed"] - 1} | state["early_stopping"]))
        history, best_state, start_epoch = state["history"], state["best_model"], state["epochs_completed"]
        _set_rng_state(state["rng"])
        if state["finished"]:
            model.load_state_dict(best_state)
            return TrainingResult(
                start_epoch,
                stopper.best_epoch,
                stopper.best_loss,
                state["stop_reason"],
                history,
                start_epoch,
                train_cfg.stop_on,
                n_batches,
            )
    else:
        torch.manual_seed(train_cfg.seed)  # dropout draws; the weights were seeded at construction

    resumed_from = start_epoch
    stop_reason = "max epochs"
    epochs = progress_bar(
        range(start_epoch, train_cfg.max_epochs),
        desc="epochs",
        disable=not progress,
        initial=start_epoch,
        total=train_cfg.max_epochs,
    )
    epoch = start_epoch - 1
    for epoch in epochs:
        model.train()
        started = time.perf_counter()
        loss_sum = 0.0
        batches = dataset.batches(
            train_cfg.batch_size, train_cfg.batch_mode, train_cfg.seed, epoch, train_cfg.shuffle, train_cfg.drop_last
        )
        for batch_index, batch in enumerate(
            progress_bar(batches, total=n_batches, desc=f"epoch {epoch}", leave=False, disable=not progress)
        ):
            batch = batch.to(device)
            # targets: teacher forcing for the autoregressive decoders; the paper's decoder ignores them
            logits = model(
                batch.features, batch.targets.shape[1], batch.caption_to_clip, batch.lengths, targets=batch.targets
            )
            loss = weighted_cross_entropy(
                logits, batch.targets, weights, batch.target_lengths, config.loss.ignore_padding
            )
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"training loss is {loss.item()} at epoch {epoch}, batch {batch_index} "
                    f"(clips {batch.clip_ids[:3]}...); stopping"
                )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            for group in optimiser.param_groups:
                group["lr"] = scheduled_learning_rate(train_cfg, epoch * n_batches + batch_index, total_steps)
            if train_cfg.grad_clip_norm is not None:  # after backward(), unlike the authors' code
                torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip_norm)
            optimiser.step()
            loss_sum += loss.item()  # a float: nothing of the batch's graph or logits is kept
        mean_loss = loss_sum / n_batches
        seconds = time.perf_counter() - started  # the training of the epoch, validation aside
        record: dict[str, float] = {"epoch": epoch, "step": (epoch + 1) * n_batches, "loss": mean_loss}
        if validate is not None and validation_due(epoch, train_cfg):
            validation_started = time.perf_counter()
            record.update({name: float(value) for name, value in validate(model).items()})
            record["validation_seconds"] = time.perf_counter() - validation_started
        watched = mean_loss if train_cfg.stop_on == "training_loss" else -record.get("validation_cider", np.nan)
        if np.isfinite(watched) and stopper.update(watched, epoch):
            best_state = copy.deepcopy(model.state_dict())
        record |= {"seconds": seconds, "best_loss": stopper.best_loss, "best_epoch": stopper.best_epoch}
        history.append(record)
        epochs.set_postfix(loss=f"{mean_loss:.4f}", best=f"{stopper.best_loss:.4f}")
        finished = stopper.should_stop or epoch + 1 >= train_cfg.max_epochs
        if stopper.should_stop:
            stop_reason = "early stopping"
        if checkpoint_path is not None:
            save_checkpoint(
                checkpoint_path,
                {
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "early_stopping": asdict(stopper),
                    "history": history,
                    "best_model": best_state,
                    "epochs_completed": epoch + 1,
                    "rng": _rng_state(),
                    "finished": finished,
                    "stop_reason": stop_reason,
                    "config": config.to_dict(),
                },
            )
        if on_epoch_end is not None:
            on_epoch_end(record)
        if stopper.should_stop:
            break
        if max_epochs_this_call is not None and epoch + 1 - resumed_from >= max_epochs_this_call and not finished:
            stop_reason = "paused"
            break
    epochs.close()
    model.load_state_dict(best_state)
    return TrainingResult(
        epoch + 1,
        stopper.best_epoch,
        stopper.best_loss,
        stop_reason,
        history,
        resumed_from,
        train_cfg.stop_on,
        n_batches,
    )
