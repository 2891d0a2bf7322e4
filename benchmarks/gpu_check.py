"""One prepared check of what only a GPU can answer, sized for a single H100 call of under 8 minutes.

Sections, each guarded (a failure is recorded with its error text and the others still run); the JSON
is rewritten after every measurement, so a run killed at its limit leaves what it measured:

- ``resume``: a training killed (SIGKILL) after K/2 epochs and resumed from its checkpoint on the
  device must end with the weights of an uninterrupted K-epoch run (max abs difference reported,
  beside the difference between two uninterrupted runs, which is the device's own noise);
- ``training``: seconds per training step and peak memory for each M, with the package's model, loss
  and clip batches (16 clips x 5 captions, features front-padded, encoder once per clip);
- ``inference``: greedy decoding (22 steps) of 1045 Clotho-length clips for each M, (a) as the project
  does it (batches of 16 in clip-id order) and (b) the split sorted by length in batches of 256,
  beside the paper's Table 2 times;
- ``concurrent``: the trainings for every M in separate processes on one GPU at once, against M = 1
  alone (wall-time ratio; target <= 1.5).

Features and captions are random, of Clotho's shapes (1292..2584 frames of 64 bands, 8-20 words +
<eos>, D = 4367). Needs torch and numpy only. On a GPU machine (one command, < 8 minutes):

    PYTHONPATH=lib python benchmarks/gpu_check.py --sizes full --out "$OUT/gpu_check.json"

In CI (about a minute on 2 CPU cores): ``--sizes tiny --device cpu``. A warning about one leaked
semaphore at exit is the killed worker's (tqdm's lock, which a SIGKILL cannot release); Python's
resource tracker removes it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import multiprocessing
import os
import platform
import queue
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY / "lib") not in sys.path:  # also for the spawned workers, which re-import this file
    sys.path.insert(0, str(REPOSITORY / "lib"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from aac_subsampling.base.devices import (  # noqa: E402
    describe,
    peak_memory_bytes,
    reset_peak_memory,
    resolve_device,
    synchronize,
)
from aac_subsampling.experiment.runinfo import git_state  # noqa: E402
from aac_subsampling.method.batching import Batch, CaptionDataset  # noqa: E402
from aac_subsampling.method.config import Config  # noqa: E402
from aac_subsampling.method.decoding import greedy_decode  # noqa: E402
from aac_subsampling.method.loss import token_weights, weighted_cross_entropy  # noqa: E402
from aac_subsampling.method.model import CaptioningModel  # noqa: E402
from aac_subsampling.method.paper import CLOTHO_FRAME_RANGE, PAPER_VOCABULARY_SIZE, inference_seconds  # noqa: E402
from aac_subsampling.method.tokens import EOS, SOS, Vocabulary  # noqa: E402
from aac_subsampling.method.training import build_model, load_checkpoint, train_model  # noqa: E402

VOCABULARY_SIZE = PAPER_VOCABULARY_SIZE  # D on Clotho v1
N_MELS = 64
CAPTION_WORDS = (8, 20)  # words per caption, before <eos>
DECODE_STEPS = 22
PROJECT_EVAL_BATCH = 16  # what the project's evaluation uses
SECTIONS = ("resume", "training", "inference", "concurrent")
# Packages of the data and evaluation steps: the GPU machine's check must not need them.
HEAVY_MODULES = ("librosa", "soundfile", "pandas", "papermill", "pycocoevalcap")


@dataclass(frozen=True)
class Sizes:
    """How big each section's work is."""

    name: str
    frames: tuple[int, int]  # clip lengths, inclusive range
    encoder_hidden: int
    decoder_hidden: int
    clips_per_batch: int
    warmup_steps: int
    timed_steps: int
    eval_clips: int
    sorted_eval_batch: int
    resume_clips: int
    resume_clips_per_batch: int
    resume_epochs: int  # K, even: killed after K/2
    concurrent_steps: int  # S, the same epoch in every process
    min_seconds_left: dict[str, float]  # a section starts only with this much of the budget left


SIZES: dict[str, Sizes] = {
    "full": Sizes(
        "full",
        frames=CLOTHO_FRAME_RANGE,
        encoder_hidden=256,
        decoder_hidden=256,
        clips_per_batch=16,
        warmup_steps=3,
        timed_steps=10,
        eval_clips=1045,
        sorted_eval_batch=256,
        resume_clips=8,
        resume_clips_per_batch=4,
        resume_epochs=4,
        concurrent_steps=20,
        min_seconds_left={"resume": 45, "training": 30, "inference": 45, "concurrent": 60},
    ),
    # Checks the plumbing in CI. Clips stay >= 256 frames, the fewest M = 16 accepts (M^(L-1)).
    "tiny": Sizes(
        "tiny",
        frames=(256, 272),
        encoder_hidden=16,
        decoder_hidden=16,
        clips_per_batch=2,
        warmup_steps=1,
        timed_steps=2,
        eval_clips=6,
        sorted_eval_batch=256,
        resume_clips=2,
        resume_clips_per_batch=1,
        resume_epochs=2,
        concurrent_steps=1,
        min_seconds_left={"resume": 0, "training": 0, "inference": 0, "concurrent": 0},
    ),
}


# --------------------------------------------------------------------------------------------------
# Time budget: stop before the machine's hard limit, keeping what was measured.


class TimeBudgetExceeded(Exception):
    pass


class Budget:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self._previous_handler: Any = None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def arm_alarm(self) -> None:
        """Interrupt whatever runs at the deadline (in the main thread), so the run still ends tidily."""
        if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGALRM, _raise_time_budget_exceeded)
            signal.setitimer(signal.ITIMER_REAL, max(self.remaining(), 0.001))

    def disarm_alarm(self) -> None:
        if self._previous_handler is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous_handler)
            self._previous_handler = None


def _raise_time_budget_exceeded(signum: int, frame: Any) -> None:
    raise TimeBudgetExceeded("the time budget (--time-budget-s) ran out")


# --------------------------------------------------------------------------------------------------
# The report: one JSON file (plus a CSV of per-M rows), rewritten after every measurement.


def error_record(error: BaseException) -> dict[str, str]:
    return {
        "error": f"{type(error).__name__}: {error}",
        "traceback": "".join(traceback.format_exception(error))[-4000:],
    }


class Report:
    def __init__(self, path: Path, meta: dict[str, Any]):
        self.path = path
        self.data: dict[str, Any] = {
            "meta": meta,
            "finished": False,
            "sections": {name: {"status": "not run"} for name in SECTIONS},
        }

    def section(self, name: str) -> dict[str, Any]:
        return self.data["sections"][name]

    def write(self) -> None:
        """Atomically: a kill while writing leaves the previous complete file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for target, text in (
            (self.path, json.dumps(self.data, indent=2, default=str)),
            (self.path.with_suffix(".csv"), per_m_csv(self.data)),
        ):
            temporary = target.with_name(target.name + ".tmp")
            temporary.write_text(text)
            os.replace(temporary, target)


def per_m_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per M with the numbers of every section that has them."""
    sections = data["sections"]
    concurrent = {str(p.get("m")): p for p in sections["concurrent"].get("processes", [])}
    rows = []
    for factor in data["meta"]["m_values"]:
        key = str(factor)
        training = sections["training"].get("per_m", {}).get(key, {})
        inference = sections["inference"].get("per_m", {}).get(key, {})
        rows.append(
            {
                "M": factor,
                "train_seconds_per_step": training.get("seconds_per_step"),
                "train_peak_memory_bytes": training.get("peak_memory_bytes"),
                "inference_project_batching_s": inference.get("project_batching_seconds"),
                "inference_sorted_batching_s": inference.get("sorted_batching_seconds"),
                "inference_paper_s": inference.get("paper_seconds"),
                "concurrent_seconds": concurrent.get(key, {}).get("seconds"),
            }
        )
    return rows


def per_m_csv(data: dict[str, Any]) -> str:
    rows = per_m_rows(data)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["M"])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def run_section(
    report: Report, name: str, body: Callable[[dict[str, Any]], None], budget: Budget, min_seconds_left: float
) -> None:
    """Run one section; whatever it raises is recorded, and the next section runs anyway."""
    record = report.section(name)
    if budget.remaining() < max(min_seconds_left, 0.001):
        record.update(status="skipped", reason=f"{budget.remaining():.0f} s of the time budget left")
        report.write()
        return
    record.update(status="running")
    started = time.perf_counter()
    print(f"\n== {name}", flush=True)
    try:
        body(record)
        failed = [m for m, values in record.get("per_m", {}).items() if "error" in values]
        record["status"] = "partial" if failed else "ok"
    except Exception as error:  # noqa: BLE001 - recorded, never hidden: the other sections still run
        record.update(status="error", **error_record(error))
        print(f"   {name} failed: {record['error']}", flush=True)
    finally:
        record["seconds"] = time.perf_counter() - started
        report.write()


def measure_per_m(
    report: Report, record: dict[str, Any], factors: list[int], measure: Callable[[int], dict[str, Any]]
) -> None:
    """One guarded measurement per M: an error (out of memory, say) is kept for that M only."""
    per_m = record.setdefault("per_m", {})
    for factor in factors:
        try:
            per_m[str(factor)] = measure(factor)
        except TimeBudgetExceeded:
            raise
        except Exception as error:  # noqa: BLE001
            per_m[str(factor)] = error_record(error)
            print(f"   M={factor} failed: {per_m[str(factor)]['error']}", flush=True)
        finally:
            release_device_memory()
        report.write()


def release_device_memory() -> None:
    """Free the last measurement's cached blocks so the next M's peak memory is its own."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def worker_context(device: torch.device) -> Any:
    """How the worker processes start.

    CUDA: spawn, the one start method that is always safe with CUDA (a forked child of a process
    that has asked the CUDA runtime anything, even torch.cuda.is_available(), can fail to initialise
    CUDA). CPU: a fork server that imported this file and torch._dynamo (which the first Adam
    imports) once, so that each worker starts in a fraction of a second rather than after seconds of
    imports; this keeps the CI run short.
    """
    if device.type == "cuda" or "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", "torch._dynamo"])
    return context


# --------------------------------------------------------------------------------------------------
# Random data of Clotho's shapes.


def synthetic_vocabulary(rng: np.random.Generator) -> Vocabulary:
    """D = 4367 tokens, <sos> and <eos> among them, with long-tailed counts like real word counts."""
    words = [SOS, EOS] + [f"w{i}" for i in range(2, VOCABULARY_SIZE)]
    counts = np.minimum(rng.zipf(1.3, size=len(words)), 10**6)
    return Vocabulary(words, dict(zip(words, counts.tolist())))


def clip_lengths(n_clips: int, sizes: Sizes, rng: np.random.Generator) -> np.ndarray:
    low, high = sizes.frames
    return rng.integers(low, high + 1, size=n_clips)


def synthetic_features(clip_ids: list[str], lengths: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """(T, 64) float32 arrays; views into one block (the 1045 evaluation clips are ~0.5 GB)."""
    block = rng.standard_normal((int(lengths.sum()), N_MELS), dtype=np.float32)
    ends = np.cumsum(lengths)
    return {clip: block[end - length : end] for clip, length, end in zip(clip_ids, lengths, ends)}


def synthetic_captions(
    clip_ids: list[str], eos_index: int, rng: np.random.Generator, captions_per_clip: int = 5
) -> dict[str, list[list[int]]]:
    """8-20 random words (never <sos> or <eos>, indices 0 and 1) and <eos> per caption."""
    low, high = CAPTION_WORDS
    return {
        clip: [
            rng.integers(2, VOCABULARY_SIZE, size=rng.integers(low, high + 1)).tolist() + [eos_index]
            for _ in range(captions_per_clip)
        ]
        for clip in clip_ids
    }


def synthetic_dataset(n_clips: int, sizes: Sizes, seed: int, prefix: str) -> tuple[CaptionDataset, Vocabulary]:
    rng = np.random.default_rng(seed)
    vocabulary = synthetic_vocabulary(rng)
    clip_ids = [f"{prefix}{i:04d}" for i in range(n_clips)]
    features = synthetic_features(clip_ids, clip_lengths(n_clips, sizes, rng), rng)
    captions = synthetic_captions(clip_ids, vocabulary.eos_index, rng)
    return CaptionDataset(clip_ids, captions, features, vocabulary.eos_index), vocabulary


def training_batches(sizes: Sizes, n_batches: int, seed: int) -> tuple[list[Batch], Vocabulary]:
    """Host-side clip batches, padded as the project pads them, built before any timing starts."""
    dataset, vocabulary = synthetic_dataset(n_batches * sizes.clips_per_batch, sizes, seed, "train")
    return list(dataset.batches(sizes.clips_per_batch, "clip", seed=seed, epoch=0)), vocabulary


def config_for(sizes: Sizes, factor: int, device: torch.device, **train: Any) -> Config:
    model = {
        "subsampling_factor": factor,
        "encoder_hidden": sizes.encoder_hidden,
        "decoder_hidden": sizes.decoder_hidden,
    }
    return Config().with_overrides({"model": model, "train": train, "device": str(device)})


# --------------------------------------------------------------------------------------------------
# Training steps (shared by the training and concurrent sections).


@dataclass
class TrainingSetup:
    model: CaptioningModel
    optimiser: torch.optim.Optimizer
    weights: torch.Tensor
    device: torch.device


def new_training(sizes: Sizes, factor: int, vocabulary: Vocabulary, device: torch.device) -> TrainingSetup:
    config = config_for(sizes, factor, device)
    model = build_model(config, VOCABULARY_SIZE).to(device)  # seeds, and sets cuDNN as training does
    model.train()
    optimiser = torch.optim.Adam(model.parameters(), lr=config.train.learning_rate)
    weights = token_weights(vocabulary.frequencies(), config.loss.beta, config.loss.class_weights).to(device)
    return TrainingSetup(model, optimiser, weights, device)


def train_step(setup: TrainingSetup, batch: Batch) -> float:
    """One step as train_model takes it: copy to the device, forward, loss, backward, Adam, loss.item()."""
    batch = batch.to(setup.device)
    logits = setup.model(batch.features, batch.targets.shape[1], batch.caption_to_clip)
    loss = weighted_cross_entropy(logits, batch.targets, setup.weights, batch.target_lengths)
    setup.optimiser.zero_grad(set_to_none=True)
    loss.backward()
    setup.optimiser.step()
    return loss.item()


def time_training(
    sizes: Sizes, factor: int, batches: list[Batch], vocabulary: Vocabulary, device: torch.device
) -> dict[str, Any]:
    setup = new_training(sizes, factor, vocabulary, device)
    reset_peak_memory(device)
    for batch in batches[: sizes.warmup_steps]:  # CUDA context, cuDNN plans, allocator warm-up
        train_step(setup, batch)
    timed = batches[sizes.warmup_steps :]
    synchronize(device)
    started = time.perf_counter()
    for batch in timed:
        train_step(setup, batch)
    synchronize(device)
    elapsed = time.perf_counter() - started
    return {
        "seconds_per_step": elapsed / len(timed),
        "timed_steps": len(timed),
        "warmup_steps": sizes.warmup_steps,
        "peak_memory_bytes": peak_memory_bytes(device),
        "mean_batch_frames": float(np.mean([b.features.shape[1] for b in timed])),
        "captions_per_batch": int(timed[0].targets.shape[0]),
    }


def training_section(
    sizes: Sizes, factors: list[int], device: torch.device, report: Report, record: dict[str, Any]
) -> None:
    batches, vocabulary = training_batches(sizes, sizes.warmup_steps + sizes.timed_steps, seed=1)
    record["note"] = "peak_memory_bytes: torch.cuda.max_memory_allocated over warm-up and timed steps; null on CPU"

    def measure(factor: int) -> dict[str, Any]:
        result = time_training(sizes, factor, batches, vocabulary, device)
        memory = result["peak_memory_bytes"]
        print(
            f"   M={factor:<2d} {result['seconds_per_step']:.4f} s/step"
            + (f", peak {memory / 2**20:.0f} MiB" if memory is not None else ""),
            flush=True,
        )
        return result

    measure_per_m(report, record, factors, measure)
    # As build_model left them: the settings every training of the project runs with.
    record["cudnn"] = {"deterministic": torch.backends.cudnn.deterministic, "benchmark": torch.backends.cudnn.benchmark}


# --------------------------------------------------------------------------------------------------
# Inference.


def paper_inference_seconds() -> dict[int, float]:
    """Table 2's inference times (:mod:`aac_subsampling.method.paper`)."""
    return inference_seconds()


def time_decoding(
    model: CaptioningModel,
    clip_ids: list[str],
    features: dict[str, np.ndarray],
    vocabulary: Vocabulary,
    batch_size: int,
    device: torch.device,
) -> float:
    """Greedy decoding of ``clip_ids`` in batches of ``batch_size`` in the given order, after one
    warm-up batch; includes padding on the host and the copy to the device, as a real evaluation does."""
    greedy_decode(model, clip_ids[:batch_size], features, vocabulary, DECODE_STEPS, batch_size, progress=False)
    synchronize(device)
    started = time.perf_counter()
    greedy_decode(model, clip_ids, features, vocabulary, DECODE_STEPS, batch_size, progress=False)
    synchronize(device)
    return time.perf_counter() - started


def inference_section(
    sizes: Sizes, factors: list[int], device: torch.device, report: Report, record: dict[str, Any]
) -> None:
    rng = np.random.default_rng(2)
    vocabulary = synthetic_vocabulary(rng)
    clip_ids = [f"eval{i:04d}" for i in range(sizes.eval_clips)]  # sorted ids: random lengths in order
    lengths = clip_lengths(sizes.eval_clips, sizes, rng)
    features = synthetic_features(clip_ids, lengths, rng)
    by_length = [clip_ids[i] for i in np.argsort(lengths, kind="stable")]
    paper = paper_inference_seconds()
    record.update(
        clips=sizes.eval_clips,
        decode_steps=DECODE_STEPS,
        project_batch=PROJECT_EVAL_BATCH,
        sorted_batch=sizes.sorted_eval_batch,
        total_frames=int(lengths.sum()),
    )

    def measure(factor: int) -> dict[str, Any]:
        model = build_model(config_for(sizes, factor, device), VOCABULARY_SIZE).to(device)
        project = time_decoding(model, clip_ids, features, vocabulary, PROJECT_EVAL_BATCH, device)
        reset_peak_memory(device)
        by_length_seconds = time_decoding(model, by_length, features, vocabulary, sizes.sorted_eval_batch, device)
        print(
            f"   M={factor:<2d} project batching {project:.2f} s, sorted x{sizes.sorted_eval_batch} "
            f"{by_length_seconds:.2f} s (paper {paper.get(factor, float('nan')):.2f} s)",
            flush=True,
        )
        return {
            "project_batching_seconds": project,
            "sorted_batching_seconds": by_length_seconds,
            "sorted_batching_peak_memory_bytes": peak_memory_bytes(device),
            "paper_seconds": paper.get(factor),
        }

    measure_per_m(report, record, factors, measure)


# --------------------------------------------------------------------------------------------------
# Resume after a kill.


def resume_problem(sizes: Sizes, factor: int, device: torch.device) -> tuple[Config, CaptionDataset, list[int]]:
    dataset, vocabulary = synthetic_dataset(sizes.resume_clips, sizes, seed=3, prefix="resume")
    config = config_for(
        sizes,
        factor,
        device,
        batch_size=sizes.resume_clips_per_batch,
        max_epochs=sizes.resume_epochs,
        patience=sizes.resume_epochs + 1,
        seed=5,
    )
    return config, dataset, vocabulary.frequencies()


def train_until_killed(sizes_name: str, factor: int, device_name: str, checkpoint: str, epochs: int) -> None:
    """Worker: train with checkpoints and SIGKILL itself after ``epochs`` epochs (after the save)."""
    config, dataset, frequencies = resume_problem(SIZES[sizes_name], factor, resolve_device(device_name))

    def die_after_epoch(record: dict[str, float]) -> None:
        if record["epoch"] + 1 == epochs:
            os.kill(os.getpid(), signal.SIGKILL)

    train_model(
        build_model(config, VOCABULARY_SIZE),
        dataset,
        frequencies,
        config,
        checkpoint,
        progress=False,
        on_epoch_end=die_after_epoch,
    )


def max_abs_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return max(
        (x.detach() - y.detach()).abs().max().item() for x, y in zip(a.state_dict().values(), b.state_dict().values())
    )


def restored_optimiser_devices(checkpoint: Path, config: Config, device: torch.device) -> dict[str, list[str]]:
    """Where the resume path leaves Adam's state: moments on the model's device, ``step`` on the CPU."""
    state = load_checkpoint(checkpoint)
    model = build_model(config, VOCABULARY_SIZE).to(device)
    optimiser = torch.optim.Adam(model.parameters())
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimiser"])
    devices: dict[str, set[str]] = {}
    for parameter_state in optimiser.state.values():
        for key, value in parameter_state.items():
            if torch.is_tensor(value):
                devices.setdefault(key, set()).add(str(value.device))
    return {key: sorted(values) for key, values in devices.items()}


def resume_section(
    sizes: Sizes, factors: list[int], device: torch.device, budget: Budget, record: dict[str, Any]
) -> None:
    # A checkpoint of the full model is ~70 MB: kept out of the report's folder.
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as work_dir:
        check_resume_after_kill(sizes, max(factors), device, Path(work_dir) / "resume.pt", budget, record)


def check_resume_after_kill(
    sizes: Sizes, factor: int, device: torch.device, checkpoint: Path, budget: Budget, record: dict[str, Any]
) -> None:
    """K epochs straight vs K/2 in a process killed after its checkpoint + K/2 resumed here."""
    # Any M exercises the checkpoint; the largest (the caller's choice) is the quickest.
    epochs, pause = sizes.resume_epochs, sizes.resume_epochs // 2
    config, dataset, frequencies = resume_problem(sizes, factor, device)
    record.update(
        m=factor,
        epochs=epochs,
        killed_after_epochs=pause,
        steps_per_epoch=dataset.n_batches(sizes.resume_clips_per_batch, "clip"),
    )

    # The kill: a separate process, so nothing of the first half survives in memory.
    context = worker_context(device)
    worker = context.Process(
        target=train_until_killed, args=(sizes.name, factor, str(device), str(checkpoint), pause), daemon=True
    )
    worker.start()
    try:
        worker.join(timeout=max(budget.remaining() - 5, 1))
    finally:
        if worker.is_alive():
            worker.terminate()
            worker.join()
    if worker.exitcode is None or worker.exitcode == -signal.SIGTERM:
        raise TimeoutError("the training to be killed did not finish its first half in the time budget")
    record["killed_exit_code"] = worker.exitcode  # -9: SIGKILL
    if worker.exitcode != -signal.SIGKILL:
        raise RuntimeError(f"the training to be killed ended with exit code {worker.exitcode}, not -9")

    resumed = build_model(config, VOCABULARY_SIZE)
    result = train_model(resumed, dataset, frequencies, config, checkpoint, progress=False)
    record.update(resumed_from_epoch=result.resumed_from_epoch, epochs_completed=result.epochs_completed)
    straight = build_model(config, VOCABULARY_SIZE)
    straight_result = train_model(straight, dataset, frequencies, config, progress=False)
    record["max_abs_diff"] = max_abs_difference(straight, resumed)
    record["identical"] = record["max_abs_diff"] == 0.0
    record["loss_histories_equal"] = [h["loss"] for h in straight_result.history] == [h["loss"] for h in result.history]
    print(
        f"   killed after {pause}/{epochs} epochs, resumed: max |straight - resumed| = {record['max_abs_diff']:.3g}",
        flush=True,
    )
    # The device's own run-to-run noise (e.g. atomic adds), to judge a difference that is not zero.
    repeat = build_model(config, VOCABULARY_SIZE)
    train_model(repeat, dataset, frequencies, config, progress=False)
    record["repeat_max_abs_diff"] = max_abs_difference(straight, repeat)
    record["optimiser_state_devices"] = restored_optimiser_devices(checkpoint, config, device)
    print(
        f"   two straight runs differ by {record['repeat_max_abs_diff']:.3g}; "
        f"restored Adam state on {record['optimiser_state_devices']}",
        flush=True,
    )


# --------------------------------------------------------------------------------------------------
# Concurrent trainings on one device.


def concurrent_worker(
    factor: int, sizes_name: str, device_name: str, threads: int, barrier: Any, results: Any, barrier_timeout_s: float
) -> None:
    """Worker: set up, one warm-up step, wait for the others, then the same S steps, timed."""
    try:
        torch.set_num_threads(threads)
        sizes = SIZES[sizes_name]
        device = resolve_device(device_name)
        batches, vocabulary = training_batches(sizes, 1 + sizes.concurrent_steps, seed=4)  # same data everywhere
        setup = new_training(sizes, factor, vocabulary, device)
        train_step(setup, batches[0])
        synchronize(device)
        barrier.wait(timeout=barrier_timeout_s)
        started = time.time()  # wall clock: comparable between processes
        for batch in batches[1:]:
            train_step(setup, batch)
        synchronize(device)
        ended = time.time()
        results.put(
            {
                "m": factor,
                "start": started,
                "end": ended,
                "seconds": ended - started,
                "steps": sizes.concurrent_steps,
                "peak_memory_bytes": peak_memory_bytes(device),
            }
        )
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which records it
        barrier.abort()  # the others must not wait for this one
        results.put({"m": factor, **error_record(error)})


def run_trainings_together(
    factors: list[int], sizes: Sizes, device: torch.device, threads: int, budget: Budget
) -> list[dict[str, Any]]:
    """Start one process per M; each reports its timed steps (or its error) through a queue."""
    context = worker_context(device)
    barrier = context.Barrier(len(factors))
    results = context.Queue()
    timeout = max(budget.remaining() - 10, 1)
    workers = [
        context.Process(
            target=concurrent_worker,
            daemon=True,
            args=(factor, sizes.name, str(device), threads, barrier, results, timeout),
        )
        for factor in factors
    ]
    for worker in workers:
        worker.start()
    try:
        return collect_reports(dict(zip(factors, workers)), results, barrier, budget)
    except BaseException:
        for worker in workers:  # out of time or broken: no waiting for the others to finish
            worker.terminate()
        raise
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
                worker.join()


def collect_reports(workers: dict[int, Any], results: Any, barrier: Any, budget: Budget) -> list[dict[str, Any]]:
    """Every worker's report, in the order of ``workers``; a worker that died without one (a crash
    at start-up, say) is reported as an error at once, and the others are released from the barrier."""
    reports: dict[int, dict[str, Any]] = {}
    while len(reports) < len(workers):
        try:
            report = results.get(timeout=1.0)
            reports[report["m"]] = report
            continue
        except queue.Empty:
            pass
        silent_dead = {m: w.exitcode for m, w in workers.items() if m not in reports and w.exitcode is not None}
        if silent_dead:
            try:  # a report written just before the exit is still in the pipe
                report = results.get(timeout=2.0)
                reports[report["m"]] = report
                continue
            except queue.Empty:
                barrier.abort()
                for m, code in silent_dead.items():
                    reports[m] = {"m": m, "error": f"the process for M={m} ended (exit code {code}) without a report"}
        if budget.remaining() < 5:
            barrier.abort()
            missing = sorted(set(workers) - set(reports))
            raise TimeoutError(f"trainings for M={missing} had not reported when the time budget ran out")
    return [reports[m] for m in workers]


def wall_seconds(processes: list[dict[str, Any]]) -> float:
    return max(p["end"] for p in processes) - min(p["start"] for p in processes)


def concurrent_section(
    sizes: Sizes, factors: list[int], device: torch.device, budget: Budget, record: dict[str, Any]
) -> None:
    # The same CPU threads per process alone and together, so only the sharing of the device differs.
    threads = max(1, (os.cpu_count() or 1) // len(factors))
    record.update(steps=sizes.concurrent_steps, target_ratio=1.5, threads_per_process=threads)
    alone = run_trainings_together([factors[0]], sizes, device, threads, budget)
    if "error" in alone[0]:
        raise RuntimeError(f"M={factors[0]} alone failed: {alone[0]['error']}")
    record["alone"] = {**alone[0], "m": factors[0]}
    record["alone_seconds"] = alone[0]["seconds"]
    print(f"   M={factors[0]} alone: {record['alone_seconds']:.2f} s for {sizes.concurrent_steps} steps", flush=True)
    together = run_trainings_together(factors, sizes, device, threads, budget)
    record["processes"] = together
    failed = [p for p in together if "error" in p]
    if failed:
        raise RuntimeError(
            f"{len(failed)} concurrent training(s) failed, e.g. M={failed[0]['m']}: {failed[0]['error']}"
        )
    record["concurrent_seconds"] = wall_seconds(together)
    record["ratio"] = record["concurrent_seconds"] / record["alone_seconds"]
    record["meets_target"] = record["ratio"] <= record["target_ratio"]
    first = next(p for p in together if p["m"] == factors[0])
    record["first_m_slowdown"] = first["seconds"] / record["alone_seconds"]
    print(
        f"   all {len(factors)} together: {record['concurrent_seconds']:.2f} s, ratio {record['ratio']:.2f} "
        f"(target <= 1.5)",
        flush=True,
    )


# --------------------------------------------------------------------------------------------------
# Entry point.


def run_meta(device: torch.device, sizes: Sizes, factors: list[int], budget_s: float) -> dict[str, Any]:
    git = git_state(REPOSITORY)  # None values without git or outside a checkout
    return {
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": str(device),
        "device_name": describe(device),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "sizes": asdict(sizes),
        "m_values": factors,
        "time_budget_s": budget_s,
        "argv": sys.argv[1:],
    }


def format_number(value: Any, scale: float = 1.0, digits: int = 3) -> str:
    return "-" if not isinstance(value, (int, float)) else f"{value / scale:.{digits}f}"


def print_summary(data: dict[str, Any]) -> None:
    meta, sections = data["meta"], data["sections"]
    print(f"\n{meta['device_name']} ({meta['device']}), torch {meta['torch']}, commit {meta['git_commit']}")
    print(
        f"{'M':>3} {'s/step':>9} {'peak MiB':>9} {'infer x16 s':>12} {'infer sorted s':>15} {'paper s':>8} "
        f"{'concurrent s':>13}"
    )
    for row in per_m_rows(data):
        print(
            f"{row['M']:>3} {format_number(row['train_seconds_per_step'], digits=4):>9} "
            f"{format_number(row['train_peak_memory_bytes'], 2**20, 0):>9} "
            f"{format_number(row['inference_project_batching_s'], digits=2):>12} "
            f"{format_number(row['inference_sorted_batching_s'], digits=2):>15} "
            f"{format_number(row['inference_paper_s'], digits=2):>8} "
            f"{format_number(row['concurrent_seconds'], digits=2):>13}"
        )
    resume, concurrent = sections["resume"], sections["concurrent"]
    print(
        f"resume after kill: max abs diff {resume.get('max_abs_diff', '-')} "
        f"(two straight runs: {resume.get('repeat_max_abs_diff', '-')})"
    )
    print(f"concurrent/alone wall time: {format_number(concurrent.get('ratio'), digits=2)} (target <= 1.5)")
    for name, section in sections.items():
        if section.get("status") != "ok":
            print(f"section {name}: {section.get('status')} {section.get('error') or section.get('reason') or ''}")


def parse_factors(text: str) -> list[int]:
    try:
        factors = [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--m must be integers such as '1 2 4 8 16', got {text!r}") from None
    if not factors or any(f < 1 for f in factors) or len(set(factors)) != len(factors):
        raise argparse.ArgumentTypeError(f"--m must be distinct integers >= 1, got {text!r}")
    return factors


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    parser.add_argument("--sizes", choices=sorted(SIZES), default="full")
    parser.add_argument(
        "--out", type=Path, default=Path("gpu_check.json"), help="JSON file; a CSV of per-M rows is written beside it"
    )
    parser.add_argument(
        "--m", type=parse_factors, default=[1, 2, 4, 8, 16], help="sub-sampling factors, e.g. '1 2 4 8 16'"
    )
    parser.add_argument(
        "--time-budget-s", type=float, default=420.0, help="stop and write what was measured after this many seconds"
    )
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    budget = Budget(arguments.time_budget_s)
    sizes = SIZES[arguments.sizes]
    factors: list[int] = arguments.m
    try:
        device = resolve_device(arguments.device)
    except (RuntimeError, ValueError) as error:  # no section can run: say so in the report too
        report = Report(arguments.out, {"device_requested": arguments.device, "m_values": factors})
        report.data.update(finished=True, **error_record(error))
        report.write()
        print(f"gpu_check: {error}", file=sys.stderr)
        return 2
    report = Report(arguments.out, run_meta(device, sizes, factors, arguments.time_budget_s))
    report.data["meta"]["device_requested"] = arguments.device
    report.write()
    bodies: dict[str, Callable[[dict[str, Any]], None]] = {
        "resume": lambda record: resume_section(sizes, factors, device, budget, record),
        "training": lambda record: training_section(sizes, factors, device, report, record),
        "inference": lambda record: inference_section(sizes, factors, device, report, record),
        "concurrent": lambda record: concurrent_section(sizes, factors, device, budget, record),
    }
    print(
        f"gpu_check on {describe(device)}: sizes {sizes.name}, M {factors}, budget {arguments.time_budget_s:.0f} s",
        flush=True,
    )
    budget.arm_alarm()
    try:
        for name in SECTIONS:
            if name in arguments.sections:
                run_section(report, name, bodies[name], budget, sizes.min_seconds_left[name])
            else:
                report.section(name).update(status="skipped", reason="not in --sections")
    finally:
        budget.disarm_alarm()
        report.data["finished"] = True  # the script reached its end (sections may still have failed)
        report.data["budget_exhausted"] = budget.remaining() <= 0
        report.data["elapsed_s"] = arguments.time_budget_s - budget.remaining()
        report.data["heavy_modules_loaded"] = sorted(
            name for name in sys.modules if name.split(".")[0] in HEAVY_MODULES
        )
        report.write()
    print_summary(report.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
