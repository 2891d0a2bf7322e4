"""The `long` profile (Clotho-length clips, the paper's regime) trained until its models learn, on one GPU call.

Three halves, run on two machines:

1. ``pack`` (here, with the full environment): makes the profile's synthetic corpus and features
   (:func:`aac_subsampling.experiment.pipeline.prepare_data`), and writes a pack that a machine with only
   torch and numpy can train from: each split's features standardised as the profile's FeatureConfig does
   and stored as float16 (one compressed ``.npz`` per split), the vocabulary (words and counts), the
   tokenised development captions, every split's reference captions, the training configuration, the
   padding value, and a manifest with sizes and SHA-256 digests. The device tool carries at most 64 MiB
   (the working tree included): the pack is refused, naming its size, when it would not fit.

       python benchmarks/gpu_long.py pack --out data/gpu_long_pack

2. ``train`` (on the GPU machine; imports torch, numpy and this project's method layer only, and runs
   without tqdm too): trains all five M at the quick profile's learning settings (lr 3e-3 decaying along a
   cosine to 0 at the epoch cap, <eos> padding out of the loss, 8-clip batches, standardised mel bands)
   with one epoch cap for every M, chosen from training steps timed on the device so that the run ends
   within ``--minutes``. Validation CIDEr-D needs pycocoevalcap, which that machine lacks: every M trains
   to the cap, and the validation split is decoded at a few epochs along the way (scored later, here).
   Writes, into ``--out``, one JSON (training histories, greedy captions of the evaluation and validation
   splits from each clip's own audio and from another clip's, parameter counts, device, timings), rewritten
   after every M, and two CSVs (histories; captions): four files with the log, under the tool's eight.

       PYTHONPATH=lib python3 benchmarks/gpu_long.py train --pack data/gpu_long_pack --out "$OUT" --minutes 9

3. ``score`` (here): scores what came back with the project's own evaluation
   (:func:`aac_subsampling.evaluation.evaluate_captions`, against the pack's references) and prints a
   per-M table: CIDEr-D, METEOR, BLEU4 and ROUGE_L from each clip's own and from swapped audio, the
   validation CIDEr-D along training, and the synthetic corpus's facts (events, counts, order) where its
   ground truth is at hand. Writes ``gpu_long_scores.csv`` and ``gpu_long_validation.csv``.

       python benchmarks/gpu_long.py score --results <folder the files came back to>

In CI (tests/test_gpu_long.py) all three run on the CPU at tiny sizes: the ``smoke`` profile's corpus
(``--profile smoke``), ``--hidden 16`` and a budget of seconds.
"""

from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import importlib.machinery
import io
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY / "lib") not in sys.path:
    sys.path.insert(0, str(REPOSITORY / "lib"))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _install_tqdm_stub_if_missing() -> bool:
    """The method layer's training and decoding import ``tqdm.auto`` at module level, for progress bars that
    this script turns off. On a machine without tqdm, a stand-in that only iterates takes its place (in this
    process only; nothing in lib is changed). True when the stand-in was installed."""
    try:
        import tqdm.auto  # noqa: F401
    except ImportError:
        pass
    else:
        return False

    class SilentProgress:
        def __init__(self, iterable: Any = None, *args: Any, **kwargs: Any):
            self.iterable = iterable

        def __iter__(self) -> Iterator[Any]:
            return iter(self.iterable if self.iterable is not None else ())

        def __enter__(self) -> SilentProgress:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def set_postfix(self, *args: Any, **kwargs: Any) -> None:
            return None

        def update(self, *args: Any, **kwargs: Any) -> None:
            return None

        def close(self) -> None:
            return None

    package, auto = types.ModuleType("tqdm"), types.ModuleType("tqdm.auto")
    package.tqdm = auto.tqdm = SilentProgress  # type: ignore[attr-defined]
    package.auto = auto  # type: ignore[attr-defined]
    package.__path__ = []  # a package, so that "tqdm.auto" resolves to the module above
    # Specs without an origin: importlib.util.find_spec (torch._dynamo probes "tqdm" when Adam first runs)
    # raises on a module whose __spec__ is None.
    package.__spec__ = importlib.machinery.ModuleSpec("tqdm", None, is_package=True)
    auto.__spec__ = importlib.machinery.ModuleSpec("tqdm.auto", None)
    sys.modules["tqdm"], sys.modules["tqdm.auto"] = package, auto
    return True


TQDM_STUB = _install_tqdm_stub_if_missing()

from aac_subsampling.base.devices import (  # noqa: E402
    describe,
    peak_memory_bytes,
    reset_peak_memory,
    resolve_device,
    synchronize,
)
from aac_subsampling.evaluation.swapped_audio import audio_partners, swap_audio  # noqa: E402
from aac_subsampling.method.batching import Batch, CaptionDataset  # noqa: E402
from aac_subsampling.method.config import Config  # noqa: E402
from aac_subsampling.method.decoding import greedy_decode  # noqa: E402
from aac_subsampling.method.loss import token_weights, weighted_cross_entropy  # noqa: E402
from aac_subsampling.method.model import encoder_output_length, paper_parameter_count  # noqa: E402
from aac_subsampling.method.paper import PAPER_VOCABULARY_SIZE, SUBSAMPLING_FACTORS  # noqa: E402
from aac_subsampling.method.tokens import Vocabulary  # noqa: E402
from aac_subsampling.method.training import build_model, scheduled_learning_rate, train_model  # noqa: E402

PACK_FORMAT = "gpu_long_pack/1"
RESULTS_FORMAT = "gpu_long_results/1"
DEFAULT_PACK = "data/gpu_long_pack"  # ignored by git (/data/); the device call carries it by name
MANIFEST = "manifest.json"
VOCABULARY_FILE = "vocabulary.json"
CAPTIONS_FILE = "captions.json"
RESULTS_FILE = "gpu_long.json"
HISTORY_FILE = "gpu_long_history.csv"
PREDICTIONS_FILE = "gpu_long_predictions.csv"
SCORES_FILE = "gpu_long_scores.csv"
VALIDATION_FILE = "gpu_long_validation.csv"
SPLITS = ("development", "validation", "evaluation")
MIB = 2**20
DEVICE_TREE_LIMIT_BYTES = 64 * MIB  # what the device tool carries in all: working tree plus carried paths
PACK_PROFILES = ("long", "quick", "smoke")  # the synthetic corpora; Clotho v1 is far over the limit
# The quick profile's learning settings, taken from it (profiles.py gives the measurements behind them).
QUICK_LEARNING = {"features": ("standardise",), "loss": ("ignore_padding",), "train": ("learning_rate", "lr_schedule")}
QUICK_LEARNING_TRAIN_EXTRA = ("batch_size",)
# Packages of the data and evaluation steps: the train half must not need them.
HEAVY_MODULES = ("librosa", "soundfile", "pandas", "papermill", "pycocoevalcap")


# ==================================================================================================
# Small helpers.


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, text: str) -> None:
    """A kill while writing leaves the previous complete file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(text)
    os.replace(temporary, path)


def error_record(error: BaseException) -> dict[str, str]:
    return {
        "error": f"{type(error).__name__}: {error}",
        "traceback": "".join(traceback.format_exception(error))[-4000:],
    }


def parse_factors(text: str) -> list[int]:
    try:
        factors = [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--m must be integers such as '1 2 4 8 16', got {text!r}") from None
    if not factors or any(f < 1 for f in factors) or len(set(factors)) != len(factors):
        raise argparse.ArgumentTypeError(f"--m must be distinct integers >= 1, got {text!r}")
    return factors


def git_commit() -> str | None:
    """HEAD's commit (read only: no git command here touches the index or the tree)."""
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPOSITORY, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.strip() or None


def heavy_modules_loaded() -> list[str]:
    """Heavy packages imported in this process (a None entry, which blocks an import, is no import)."""
    return sorted(name for name, module in list(sys.modules.items()) if name.split(".")[0] in HEAVY_MODULES and module)


# ==================================================================================================
# 1. pack (here).


def pack_config(profile_name: str) -> Config:
    """The profile's configuration with the quick profile's learning settings; the epoch cap is chosen on the
    device (train_model's cosine runs to 0 at it), so no early stopping and no in-training validation."""
    from aac_subsampling.experiment.profiles import get_profile

    quick = get_profile("quick").overrides
    overrides: dict[str, dict[str, Any]] = {
        section: {name: quick[section][name] for name in names} for section, names in QUICK_LEARNING.items()
    }
    overrides["train"].update({name: quick["train"][name] for name in QUICK_LEARNING_TRAIN_EXTRA})
    overrides["train"].update({"stop_on": "training_loss", "validate_every": 0})
    return get_profile(profile_name).config().with_overrides(overrides)


def working_tree_bytes(exclude: Sequence[Path]) -> int | None:
    """Bytes of what the device tool sends besides carried paths: tracked files and untracked files git does
    not ignore (``git ls-files``, read only), leaving out those under the ``exclude`` folders. None without git."""
    try:
        completed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPOSITORY,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    excluded = [folder.resolve() for folder in exclude]
    total = 0
    for name in completed.stdout.decode(errors="surrogateescape").split("\0"):
        if not name:
            continue
        path = (REPOSITORY / name).resolve()
        if any(path == folder or folder in path.parents for folder in excluded) or not path.is_file():
            continue
        total += path.stat().st_size
    return total


class PackTooLarge(RuntimeError):
    pass


def check_pack_size(total: int, limit: int, tree: int | None, per_development_clip: float, n_development: int) -> None:
    """Refuse a pack over ``limit`` bytes, or one that with the working tree would exceed what the device
    tool carries; the message names the sizes and how many development clips would fit."""
    room = limit if tree is None else min(limit, DEVICE_TREE_LIMIT_BYTES - tree)
    if total <= room:
        return
    fitting = max(0, n_development - math.ceil((total - room) / max(per_development_clip, 1.0)))
    where = (
        f"the limit of {limit / MIB:.1f} MiB"
        if tree is None or room == limit
        else f"the {(DEVICE_TREE_LIMIT_BYTES - tree) / MIB:.1f} MiB the device tool carries beside the "
        f"{tree / MIB:.1f} MiB working tree (64 MiB in all)"
    )
    raise PackTooLarge(
        f"the pack would be {total / MIB:.1f} MiB, over {where}; nothing was written. Pack fewer development "
        f"clips: --development-clips {fitting} (of {n_development}) should fit"
    )


def pack(arguments: argparse.Namespace) -> int:
    from aac_subsampling.experiment import pipeline
    from aac_subsampling.experiment.profiles import get_profile

    started = time.perf_counter()
    profile = get_profile(arguments.profile)
    data_dir = (arguments.data_dir or REPOSITORY / profile.default_data_dir).resolve()
    out: Path = arguments.out.resolve()
    config = pack_config(arguments.profile)
    print(f"pack: {arguments.profile} profile, corpus {data_dir}", flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu_long_prepare_") as prepared_dir:
        pipeline.prepare_data(
            arguments.profile, data_dir, Path(prepared_dir), progress=False, workers=arguments.workers
        )
        prepared = pipeline.load_prepared(Path(prepared_dir))
    missing = [split for split in SPLITS if split not in prepared.clips]
    if missing:
        raise SystemExit(f"pack: the corpus {data_dir} has no {missing} split(s); the pack needs {list(SPLITS)}")

    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent if out.parent.exists() else None))
    staging.chmod(0o755)
    try:
        manifest = write_pack(staging, prepared, config, arguments, data_dir)
        total = manifest["total_bytes"]
        tree = None if arguments.skip_tree_check else working_tree_bytes([out, staging])
        development = manifest["splits"]["development"]
        check_pack_size(
            total,
            int(arguments.limit_mib * MIB),
            tree,
            manifest["files"][development["file"]]["bytes"] / development["n_clips"],
            development["n_clips"],
        )
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(out))
    except PackTooLarge as error:
        raise SystemExit(f"pack: {error}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging)

    print(f"{'split':<12} {'clips':>6} {'frames':>9} {'MiB':>7}")
    for split, entry in manifest["splits"].items():
        print(
            f"{split:<12} {entry['n_clips']:>6} {entry['n_frames']:>9} "
            f"{manifest['files'][entry['file']]['bytes'] / MIB:>7.2f}"
        )
    tree_text = "" if tree is None else f"; with the {tree / MIB:.1f} MiB working tree {(tree + total) / MIB:.1f} MiB"
    print(
        f"pack: {total / MIB:.2f} MiB in {out} (float16, compressed; raw float16 "
        f"{manifest['raw_feature_bytes'] / MIB:.2f} MiB){tree_text}, of the device tool's 64 MiB; "
        f"vocabulary {manifest['vocabulary_size']} words; {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return 0


def chosen_clips(clips: list[Any], split: str, arguments: argparse.Namespace) -> list[Any]:
    """The split's clips in corpus order, the first ``--max-clips`` (every split) or ``--development-clips``."""
    cap = arguments.max_clips
    if split == "development" and arguments.development_clips is not None:
        cap = arguments.development_clips if cap is None else min(cap, arguments.development_clips)
    return clips if cap is None else clips[:cap]


def write_pack(
    folder: Path, prepared: Any, config: Config, arguments: argparse.Namespace, data_dir: Path
) -> dict[str, Any]:
    """Features, vocabulary, captions and the manifest (last) into ``folder``; returns the manifest."""
    splits: dict[str, Any] = {}
    references: dict[str, dict[str, list[str]]] = {}
    raw_feature_bytes, rounding = 0, 0.0
    kept: dict[str, list[Any]] = {}
    for split in SPLITS:
        clips = chosen_clips(prepared.clips[split], split, arguments)
        if len(clips) < 2:
            raise SystemExit(f"pack: {split} needs at least 2 clips (swapped audio), got {len(clips)}")
        kept[split] = clips
        load = prepared.features(split, config.features)  # standardised with the development statistics
        arrays = [np.asarray(load(clip.file_name), dtype=np.float32) for clip in clips]
        frames32 = np.concatenate(arrays)
        if not np.all(np.isfinite(frames32)) or np.abs(frames32).max() >= np.finfo(np.float16).max:
            raise SystemExit(f"pack: {split} features do not fit float16 (not finite or too large)")
        frames16 = frames32.astype(np.float16)
        rounding = max(rounding, float(np.abs(frames16.astype(np.float32) - frames32).max()))
        lengths = np.asarray([len(a) for a in arrays], dtype=np.int32)
        file_name = f"{split}.npz"
        np.savez_compressed(folder / file_name, frames=frames16, lengths=lengths)
        raw_feature_bytes += frames16.nbytes
        splits[split] = {
            "file": file_name,
            "clips": [clip.file_name for clip in clips],
            "n_clips": len(clips),
            "n_frames": int(lengths.sum()),
            "frames_min": int(lengths.min()),
            "frames_max": int(lengths.max()),
            "n_captions": sum(len(clip.captions) for clip in clips),
        }
        references[split] = {clip.file_name: list(clip.captions) for clip in clips}

    # Built from the packed development captions (the prepared vocabulary when none is left out), so that the
    # token weights (Eq. 10) count what is trained on.
    vocabulary = Vocabulary.build(caption for clip in kept["development"] for caption in clip.captions)
    vocabulary.save(folder / VOCABULARY_FILE)
    tokens = {clip.file_name: [vocabulary.encode(c) for c in clip.captions] for clip in kept["development"]}
    (folder / CAPTIONS_FILE).write_text(json.dumps({"tokens": tokens, "references": references}))

    pad_value = prepared.pad_value(config)
    files = {
        path.name: {"bytes": path.stat().st_size, "sha256": sha256_of(path)}
        for path in sorted(folder.iterdir())
        if path.is_file()
    }
    manifest = {
        "format": PACK_FORMAT,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "profile": arguments.profile,
        "corpus": prepared.record.get("corpus"),
        "data_dir": os.path.relpath(data_dir, REPOSITORY),
        "config": config.to_dict(),
        "config_note": "the profile's configuration with the quick profile's learning settings; train sets "
        "max_epochs (the cosine's end) from the device's measured speed, patience above it",
        "pad_value": np.asarray(pad_value, dtype=np.float64).tolist(),
        "band_statistics": prepared.record["band_statistics"],
        "features": {
            "dtype": "float16",
            "standardised": bool(config.features.standardise),
            "max_abs_rounding_error": rounding,
            "layout": "per split: frames (sum T_i, n_mels) float16 in the order of clips, lengths (n_clips,) int32",
        },
        "vocabulary_size": len(vocabulary),
        "prepared_vocabulary_size": len(prepared.vocabulary),
        "selection": {"max_clips": arguments.max_clips, "development_clips": arguments.development_clips},
        "splits": splits,
        "raw_feature_bytes": raw_feature_bytes,
        "files": files,
    }
    manifest["data_bytes"] = sum(entry["bytes"] for entry in files.values())
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest | {"total_bytes": sum(path.stat().st_size for path in folder.iterdir() if path.is_file())}


# ==================================================================================================
# Reading a pack (both machines: numpy only).


@dataclass
class Pack:
    folder: Path
    manifest: dict[str, Any]
    digest: str  # of the manifest, which holds every other file's digest
    vocabulary: Vocabulary
    tokens: dict[str, list[list[int]]]
    references: dict[str, dict[str, list[str]]]
    features: dict[str, dict[str, np.ndarray]] | None  # split -> clip -> (T, F) float32; None: not loaded

    def clips(self, split: str) -> list[str]:
        return list(self.manifest["splits"][split]["clips"])

    def pad_value(self) -> float | np.ndarray:
        value = np.asarray(self.manifest["pad_value"], dtype=np.float32)
        return float(value) if value.ndim == 0 else value


class PackError(RuntimeError):
    pass


def load_pack(folder: Path, features: bool = True, verify: bool = True) -> Pack:
    """The pack in ``folder``; with ``verify`` every file's size and SHA-256 is checked against the manifest."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise PackError(f"no pack at {folder} ({MANIFEST} missing): run `python benchmarks/gpu_long.py pack` here")
    manifest_bytes = manifest_path.read_bytes()
    manifest = json.loads(manifest_bytes)
    if manifest.get("format") != PACK_FORMAT:
        raise PackError(f"{manifest_path} is format {manifest.get('format')!r}, not {PACK_FORMAT!r}")
    if verify:
        for name, entry in manifest["files"].items():
            path = folder / name
            if not path.is_file():
                raise PackError(f"pack file {path} is missing")
            if path.stat().st_size != entry["bytes"] or sha256_of(path) != entry["sha256"]:
                raise PackError(f"pack file {path} differs from its manifest entry (size or SHA-256): copy it again")
    captions = json.loads((folder / CAPTIONS_FILE).read_text())
    loaded = None
    if features:
        loaded = {}
        for split, entry in manifest["splits"].items():
            with np.load(folder / entry["file"]) as stored:
                frames, lengths = stored["frames"], stored["lengths"]
            ends = np.cumsum(lengths)
            loaded[split] = {
                clip: frames[end - length : end].astype(np.float32)
                for clip, length, end in zip(entry["clips"], lengths.tolist(), ends.tolist())
            }
    return Pack(
        folder,
        manifest,
        hashlib.sha256(manifest_bytes).hexdigest(),
        Vocabulary.load(folder / VOCABULARY_FILE),
        captions["tokens"],
        captions["references"],
        loaded,
    )


# ==================================================================================================
# 2. train (on the GPU machine).


class TimeBudgetExceeded(Exception):
    pass


class OutOfTime(Exception):
    """Raised from the epoch callback when an M has used its share of the budget."""


class HardDeadline:
    """Interrupts whatever runs at the budget's end (main thread only), so the run still writes its records."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self._previous: Any = None

    def __enter__(self) -> HardDeadline:
        if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGALRM, self._raise)
            signal.setitimer(signal.ITIMER_REAL, max(self.deadline - time.monotonic(), 0.001))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous)

    @staticmethod
    def _raise(signum: int, frame: Any) -> None:
        raise TimeBudgetExceeded("the time budget (--minutes) ran out")


@dataclass(frozen=True)
class Plan:
    """The epoch cap every M trains to, and what it was chosen from."""

    epochs: int
    validate_every: int
    validation_points: int
    limited_by: str  # "time budget", "--max-epochs", "--epochs", "one epoch at least"
    available_s: float
    predicted_s: float
    epoch_s: dict[int, float]
    decode_s: dict[int, float]  # the final decoding (evaluation and validation splits, own and swapped audio)
    validation_s: dict[int, float]  # one decoding of the validation split, own and swapped audio
    safety: float


def plan_epochs(
    available_s: float,
    epoch_s: dict[int, float],
    decode_s: dict[int, float],
    validation_s: dict[int, float],
    points: int,
    max_epochs: int,
    safety: float = 1.15,
    fixed_epochs: int | None = None,
) -> Plan:
    """The largest cap E (at most ``max_epochs``, at least 1) with safety x (E epochs + ``points`` validation
    decodings) + the final decodings of every M within ``available_s``; ``fixed_epochs`` sets E instead."""
    per_epoch = safety * sum(epoch_s.values())
    fixed_cost = sum(decode_s.values()) + safety * points * sum(validation_s.values())
    budget_epochs = math.floor((available_s - fixed_cost) / per_epoch) if per_epoch > 0 else max_epochs
    if fixed_epochs is not None:
        epochs, limited_by = fixed_epochs, "--epochs"
    elif budget_epochs >= max_epochs:
        epochs, limited_by = max_epochs, "--max-epochs"
    elif budget_epochs < 1:
        epochs, limited_by = 1, "one epoch at least"
    else:
        epochs, limited_by = budget_epochs, "time budget"
    validate_every = math.ceil(epochs / points) if points > 0 else 0
    n_validations = 0 if validate_every == 0 else epochs // validate_every + (epochs % validate_every != 0)
    predicted = epochs * per_epoch + sum(decode_s.values()) + safety * n_validations * sum(validation_s.values())
    return Plan(
        epochs,
        validate_every,
        n_validations,
        limited_by,
        available_s,
        predicted,
        epoch_s,
        decode_s,
        validation_s,
        safety,
    )


def run_config(base: Config, factor: int, device: torch.device, epochs: int, validate_every: int) -> Config:
    return base.with_overrides(
        {
            "model": {"subsampling_factor": factor},
            "train": {
                "max_epochs": epochs,
                "patience": epochs + 1,  # no early stopping: the cosine runs to 0 at the cap
                "stop_on": "training_loss",
                "validate_every": validate_every,
            },
            "device": str(device),
        }
    )


def training_batches(dataset: CaptionDataset, config: Config) -> Iterator[Batch]:
    """train_model's batches, epoch after epoch, built as it builds them."""
    train = config.train
    epoch = 0
    while True:
        yield from dataset.batches(
            train.batch_size, train.batch_mode, train.seed, epoch, train.shuffle, train.drop_last
        )
        epoch += 1


def calibrate(
    config: Config,
    dataset: CaptionDataset,
    vocabulary: Vocabulary,
    decode_clips: list[str],
    features: dict[str, np.ndarray],
    pad_value: float | np.ndarray,
    warmup_steps: int,
    timed_steps: int,
) -> dict[str, Any]:
    """Seconds per training step (as train_model takes one: batch built on the host, copied, forward, loss,
    backward, Adam, loss.item()) after ``warmup_steps``, and seconds to decode one batch; a throwaway model."""
    device = resolve_device(config.device)
    model = build_model(config, len(vocabulary)).to(device)
    model.train()
    optimiser = torch.optim.Adam(model.parameters(), lr=config.train.learning_rate)
    weights = token_weights(vocabulary.frequencies(), config.loss.beta, config.loss.class_weights).to(device)
    reset_peak_memory(device)
    batches = training_batches(dataset, config)

    def step() -> None:
        batch = next(batches).to(device)
        logits = model(
            batch.features, batch.targets.shape[1], batch.caption_to_clip, batch.lengths, targets=batch.targets
        )
        loss = weighted_cross_entropy(logits, batch.targets, weights, batch.target_lengths, config.loss.ignore_padding)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        loss.item()

    for _ in range(warmup_steps):
        step()
    synchronize(device)
    started = time.perf_counter()
    for _ in range(timed_steps):
        step()
    synchronize(device)
    seconds_per_step = (time.perf_counter() - started) / timed_steps
    batch_size = config.train.batch_size
    chunk = decode_clips[:batch_size]
    greedy_decode(model, chunk, features, vocabulary, config.decode.max_steps, batch_size, False, pad_value=pad_value)
    synchronize(device)
    started = time.perf_counter()
    greedy_decode(model, chunk, features, vocabulary, config.decode.max_steps, batch_size, False, pad_value=pad_value)
    synchronize(device)
    decode_batch_s = time.perf_counter() - started
    result = {
        "seconds_per_step": seconds_per_step,
        "decode_batch_seconds": decode_batch_s,
        "warmup_steps": warmup_steps,
        "timed_steps": timed_steps,
        "peak_memory_bytes": peak_memory_bytes(device),
    }
    return result  # the model and its optimiser go with this frame; the caller frees the cache


def release_device_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def decode_both(
    model: Any,
    clips: list[str],
    features: dict[str, np.ndarray],
    partners: dict[str, str],
    vocabulary: Vocabulary,
    config: Config,
    pad_value: float | np.ndarray,
) -> dict[str, dict[str, str]]:
    """Greedy captions of ``clips`` (sorted) from their own audio and from their partners' (swapped_audio)."""

    def decode(source: dict[str, np.ndarray]) -> dict[str, str]:
        return greedy_decode(
            model,
            clips,
            source,
            vocabulary,
            config.decode.max_steps,
            config.train.batch_size,
            progress=False,
            pad_value=pad_value,
            beam_size=config.decode.beam_size,
        )

    return {"own": decode(features), "swapped": decode(swap_audio(features, partners))}


class Results:
    """The run's JSON (and CSVs), rewritten after every M so that a killed run keeps what it finished."""

    def __init__(self, out: Path, meta: dict[str, Any]):
        self.out = out
        self.data: dict[str, Any] = {"format": RESULTS_FORMAT, "meta": meta, "finished": False, "per_m": {}}

    def write(self) -> None:
        write_atomic(self.out / RESULTS_FILE, json.dumps(self.data, indent=1, default=str))
        write_atomic(self.out / HISTORY_FILE, history_csv(self.data))
        write_atomic(self.out / PREDICTIONS_FILE, predictions_csv(self.data))


def history_csv(data: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["M", "epoch", "step", "loss", "learning_rate_end", "seconds", "validation_seconds"])
    for factor, record in data["per_m"].items():
        for row in record.get("history", []):
            writer.writerow(
                [
                    factor,
                    int(row["epoch"]) + 1,
                    int(row["step"]),
                    f"{row['loss']:.6g}",
                    f"{row.get('learning_rate_end', float('nan')):.6g}",
                    f"{row['seconds']:.4g}",
                    f"{row['validation_seconds']:.4g}" if "validation_seconds" in row else "",
                ]
            )
    return buffer.getvalue()


def predictions_csv(data: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["M", "split", "epoch", "file_name", "audio_from", "prediction", "prediction_swapped_audio"])
    for factor, record in data["per_m"].items():
        rows = [("final", split, captions) for split, captions in record.get("predictions", {}).items()]
        rows += [
            (epoch, "validation", captions) for epoch, captions in record.get("validation_during_training", {}).items()
        ]
        for epoch, split, captions in rows:
            partners = record["partners"][split]
            for clip in sorted(captions["own"]):
                writer.writerow(
                    [factor, split, epoch, clip, partners[clip], captions["own"][clip], captions["swapped"][clip]]
                )
    return buffer.getvalue()


def train_one(
    factor: int,
    base: Config,
    plan: Plan,
    device: torch.device,
    pack_data: Pack,
    dataset: CaptionDataset,
    partners: dict[str, dict[str, str]],
    train_deadline: float,
    log_every: int,
) -> dict[str, Any]:
    """Train M to the plan's cap (stopped early, keeping the best epoch's weights, only when it runs out of its
    share of the time), then decode both splits from own and swapped audio."""
    assert pack_data.features is not None
    started = time.perf_counter()
    config = run_config(base, factor, device, plan.epochs, plan.validate_every)
    vocabulary, pad_value = pack_data.vocabulary, pack_data.pad_value()
    validation_clips = sorted(pack_data.clips("validation"))
    validation_features = {clip: pack_data.features["validation"][clip] for clip in validation_clips}
    model = build_model(config, len(vocabulary))
    reset_peak_memory(device)
    history: list[dict[str, float]] = []
    during: dict[str, dict[str, dict[str, str]]] = {}
    pending: list[dict[str, dict[str, str]]] = []
    best: dict[str, Any] = {"state": None}
    n_batches = dataset.n_batches(config.train.batch_size, config.train.batch_mode, config.train.drop_last)
    total_steps = config.train.max_epochs * n_batches

    def validate(trained: Any) -> dict[str, float]:
        pending.append(
            decode_both(
                trained, validation_clips, validation_features, partners["validation"], vocabulary, config, pad_value
            )
        )
        return {}  # scored later, here: pycocoevalcap is not on the GPU machine

    def on_epoch_end(record: dict[str, float]) -> None:
        epoch = int(record["epoch"])
        row = dict(record)
        row["learning_rate_end"] = scheduled_learning_rate(config.train, int(record["step"]) - 1, total_steps)
        history.append(row)
        if pending:
            during[str(epoch + 1)] = pending.pop()
        if int(record["best_epoch"]) == epoch:
            best["state"] = copy.deepcopy(model.state_dict())
        last = epoch + 1 >= config.train.max_epochs
        if last or (epoch + 1) % log_every == 0 or epoch == 0:
            print(
                f"   M={factor:<2d} epoch {epoch + 1}/{config.train.max_epochs} (step {int(record['step'])}): "
                f"loss {record['loss']:.4f}, {record['seconds']:.2f} s",
                flush=True,
            )
        next_epoch = record["seconds"] + record.get("validation_seconds", 0.0)
        if not last and time.monotonic() + next_epoch > train_deadline:
            raise OutOfTime(f"M={factor} out of its share of the time budget after {epoch + 1} epochs")

    stop_reason = "max epochs"
    try:
        result = train_model(
            model,
            dataset,
            vocabulary.frequencies(),
            config,
            progress=False,
            on_epoch_end=on_epoch_end,
            validate=validate,
        )
        stop_reason = result.stop_reason
    except OutOfTime as stopped:
        print(f"   {stopped}: keeping its best epoch so far", flush=True)
        stop_reason = "time budget"
        if best["state"] is not None:  # train_model keeps the best epoch's weights: so does this
            model.load_state_dict(best["state"])
    train_seconds = time.perf_counter() - started

    predictions, timings = {}, {}
    for split in ("evaluation", "validation"):
        clips = sorted(pack_data.clips(split))
        features = {clip: pack_data.features[split][clip] for clip in clips}
        synchronize(device)
        decode_started = time.perf_counter()
        predictions[split] = decode_both(model, clips, features, partners[split], vocabulary, config, pad_value)
        synchronize(device)
        timings[split] = time.perf_counter() - decode_started
    frames = pack_data.manifest["splits"]["evaluation"]
    layers, mode = config.model.encoder_layers, config.model.subsampling_mode
    best_epoch = int(history[-1]["best_epoch"]) if history else None  # train_model's, whose weights are kept
    return {
        "M": factor,
        "epochs_cap": config.train.max_epochs,
        "epochs_completed": len(history),
        "steps_per_epoch": n_batches,
        "steps": len(history) * n_batches,
        "stop_reason": stop_reason,
        "best_epoch": None if best_epoch is None or best_epoch < 0 else best_epoch + 1,
        "final_loss": history[-1]["loss"] if history else None,
        "history": history,
        "train_seconds": train_seconds,
        "epoch_seconds_total": sum(row["seconds"] for row in history),
        "decode_seconds": timings,  # both splits, own and swapped audio
        "peak_memory_bytes": peak_memory_bytes(device),
        "parameters_trained": sum(p.numel() for p in model.parameters()),
        "parameters_D4367": paper_parameter_count(PAPER_VOCABULARY_SIZE, config.model),
        "encoder_steps_evaluation": {
            "min": encoder_output_length(frames["frames_min"], factor, layers, mode),
            "max": encoder_output_length(frames["frames_max"], factor, layers, mode),
        },
        "config": config.to_dict(),
        "predictions": predictions,
        "partners": partners,
        "validation_during_training": during,
    }


def train(arguments: argparse.Namespace) -> int:
    clock_started = time.monotonic()
    deadline = clock_started + arguments.minutes * 60
    out: Path = arguments.out
    out.mkdir(parents=True, exist_ok=True)
    factors: list[int] = arguments.m
    try:
        device = resolve_device(arguments.device)
        pack_data = load_pack(arguments.pack, verify=not arguments.no_verify)
    except (RuntimeError, ValueError, OSError) as error:  # nothing can run: say so in the record too
        results = Results(out, {"argv": sys.argv[1:], "device_requested": arguments.device})
        results.data.update(finished=True, **error_record(error))
        results.write()
        print(f"gpu_long train: {error}", file=sys.stderr)
        return 2
    assert pack_data.features is not None
    base = Config.from_dict(pack_data.manifest["config"])
    if arguments.hidden is not None:
        base = base.with_overrides({"model": {"encoder_hidden": arguments.hidden, "decoder_hidden": arguments.hidden}})
    vocabulary, pad_value = pack_data.vocabulary, pack_data.pad_value()
    dataset = CaptionDataset(
        pack_data.clips("development"),
        pack_data.tokens,
        pack_data.features["development"],
        vocabulary.eos_index,
        pad_value=pad_value,
    )
    seed = base.train.seed
    partners = {split: audio_partners(pack_data.clips(split), seed) for split in ("evaluation", "validation")}
    meta = {
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": str(device),
        "device_name": describe(device),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "tqdm": "stand-in (not installed)" if TQDM_STUB else "installed",
        "argv": sys.argv[1:],
        "m_values": factors,
        "budget_s": arguments.minutes * 60,
        "pack": {
            "path": os.path.relpath(arguments.pack.resolve(), REPOSITORY),
            "manifest_sha256": pack_data.digest,
            "profile": pack_data.manifest["profile"],
            "git_commit": pack_data.manifest["git_commit"],
            "splits": {
                s: {k: v for k, v in e.items() if k != "clips"} for s, e in pack_data.manifest["splits"].items()
            },
            "vocabulary_size": len(vocabulary),
        },
        "hidden": arguments.hidden,
        "seed": seed,
    }
    results = Results(out, meta)
    results.write()
    print(
        f"gpu_long train on {meta['device_name']}: {pack_data.manifest['profile']} pack, M {factors}, "
        f"budget {arguments.minutes:.2f} min, {len(dataset)} development clips",
        flush=True,
    )

    with HardDeadline(deadline):
        try:
            plan = calibrate_and_plan(arguments, base, device, factors, pack_data, dataset, deadline, results)
            train_all(arguments, base, plan, device, factors, pack_data, dataset, partners, deadline, results)
        except TimeBudgetExceeded as error:
            results.data.update(**error_record(error))
            print(f"gpu_long train: {error}", flush=True)
        finally:
            results.data["finished"] = True
            results.data["elapsed_s"] = time.monotonic() - clock_started
            results.data["heavy_modules_loaded"] = heavy_modules_loaded()
            results.write()
    print_training_summary(results.data)
    return 0


def calibrate_and_plan(
    arguments: argparse.Namespace,
    base: Config,
    device: torch.device,
    factors: list[int],
    pack_data: Pack,
    dataset: CaptionDataset,
    deadline: float,
    results: Results,
) -> Plan:
    assert pack_data.features is not None
    batch_size = base.train.batch_size
    n_batches = dataset.n_batches(batch_size, base.train.batch_mode, base.train.drop_last)
    evaluation_clips = sorted(pack_data.clips("evaluation"))
    calibration: dict[str, Any] = {}
    results.data["calibration"] = calibration
    print("== calibration (training steps and one decoded batch per M)", flush=True)
    for factor in factors:
        config = run_config(base, factor, device, 1, 0)
        calibration[str(factor)] = calibrate(
            config,
            dataset,
            pack_data.vocabulary,
            evaluation_clips,
            pack_data.features["evaluation"],
            pack_data.pad_value(),
            arguments.warmup_steps,
            arguments.calibration_steps,
        )
        release_device_memory()
        print(
            f"   M={factor:<2d} {calibration[str(factor)]['seconds_per_step']:.4f} s/step, "
            f"{calibration[str(factor)]['decode_batch_seconds']:.4f} s per decoded batch",
            flush=True,
        )
        results.write()
    batches = {split: math.ceil(len(pack_data.clips(split)) / batch_size) for split in ("evaluation", "validation")}
    epoch_s = {f: n_batches * calibration[str(f)]["seconds_per_step"] for f in factors}
    decode_batch = {f: calibration[str(f)]["decode_batch_seconds"] for f in factors}
    decode_s = {f: 2 * (batches["evaluation"] + batches["validation"]) * decode_batch[f] for f in factors}
    validation_s = {f: 2 * batches["validation"] * decode_batch[f] for f in factors}
    reserve = max(3.0, arguments.reserve_fraction * arguments.minutes * 60)
    plan = plan_epochs(
        deadline - time.monotonic() - reserve,
        epoch_s,
        decode_s,
        validation_s,
        arguments.validation_points,
        arguments.max_epochs,
        arguments.safety,
        arguments.epochs,
    )
    results.data["plan"] = asdict(plan) | {"reserve_s": reserve, "steps_per_epoch": n_batches}
    results.write()
    print(
        f"== plan: {plan.epochs} epochs ({plan.epochs * n_batches} steps of {batch_size} clips) for every M, "
        f"set by {plan.limited_by}; validation split decoded every {plan.validate_every} epochs; predicted "
        f"{plan.predicted_s:.0f} s of {plan.available_s:.0f} s",
        flush=True,
    )
    return plan


def train_all(
    arguments: argparse.Namespace,
    base: Config,
    plan: Plan,
    device: torch.device,
    factors: list[int],
    pack_data: Pack,
    dataset: CaptionDataset,
    partners: dict[str, dict[str, str]],
    deadline: float,
    results: Results,
) -> None:
    soft_deadline = deadline - results.data["plan"]["reserve_s"]

    def cost(factor: int) -> float:
        return (
            plan.safety * (plan.epochs * plan.epoch_s[factor] + plan.validation_points * plan.validation_s[factor])
            + plan.decode_s[factor]
        )

    for index, factor in enumerate(factors):
        now = time.monotonic()
        later = factors[index + 1 :]
        share = (soft_deadline - now) * cost(factor) / sum(cost(f) for f in factors[index:])
        # Its share with 10 % slack, but never the minimum the later M need (an epoch and their decoding each).
        keep_for_later = sum(plan.epoch_s[f] + plan.decode_s[f] for f in later)
        train_deadline = min(now + 1.1 * share, soft_deadline - keep_for_later) - plan.decode_s[factor]
        print(f"== M={factor}: up to {plan.epochs} epochs, {max(train_deadline - now, 0):.0f} s to train", flush=True)
        try:
            record = train_one(
                factor,
                base,
                plan,
                device,
                pack_data,
                dataset,
                partners,
                train_deadline,
                max(1, plan.epochs // arguments.log_lines),
            )
        except TimeBudgetExceeded:
            results.data["per_m"][str(factor)] = {"M": factor, "error": "the time budget ran out during this M"}
            raise
        except Exception as error:  # noqa: BLE001 - recorded; the other M still run
            record = {"M": factor, **error_record(error)}
            print(f"   M={factor} failed: {record['error']}", flush=True)
        finally:
            release_device_memory()
        results.data["per_m"][str(factor)] = record
        results.write()


def print_training_summary(data: dict[str, Any]) -> None:
    meta = data["meta"]
    print(f"\n{meta.get('device_name')} ({meta.get('device')}), torch {meta.get('torch')}")
    print(f"{'M':>3} {'epochs':>7} {'steps':>6} {'stop':>12} {'loss':>8} {'train s':>8} {'T_L eval':>9}")
    for factor, record in data["per_m"].items():
        if "error" in record:
            print(f"{factor:>3} error: {record['error']}")
            continue
        steps = record["encoder_steps_evaluation"]
        print(
            f"{factor:>3} {record['epochs_completed']:>3}/{record['epochs_cap']:<3} {record['steps']:>6} "
            f"{record['stop_reason']:>12} {record['final_loss']:>8.4f} {record['train_seconds']:>8.1f} "
            f"{steps['min']:>4}-{steps['max']:<4}"
        )
    if data.get("error"):
        print(f"run: {data['error']}")
    print(f"heavy modules loaded: {data.get('heavy_modules_loaded')}; elapsed {data.get('elapsed_s', 0):.0f} s")


# ==================================================================================================
# 3. score (here).

SCORE_METRICS = ("CIDEr", "METEOR", "BLEU1", "BLEU4", "ROUGE_L")  # SPICE is left out (minutes per call)


def score(arguments: argparse.Namespace) -> int:
    from aac_subsampling.evaluation import MetricUnavailableWarning, evaluate_captions, find_java
    from aac_subsampling.evaluation.cider import cider_scores
    from aac_subsampling.evaluation.meteor import MeteorScorer
    from aac_subsampling.experiment.pipeline import normalised_references

    results_path = arguments.results / RESULTS_FILE
    if not results_path.is_file():
        raise SystemExit(f"score: no {RESULTS_FILE} in {arguments.results}: copy the train half's files there")
    data = json.loads(results_path.read_text())
    if data.get("format") != RESULTS_FORMAT:
        raise SystemExit(f"score: {results_path} is format {data.get('format')!r}, not {RESULTS_FORMAT!r}")
    meta = data["meta"]
    pack_dir = arguments.pack or REPOSITORY / meta.get("pack", {}).get("path", DEFAULT_PACK)
    pack_data = load_pack(pack_dir, features=False)
    trained_on = meta.get("pack", {}).get("manifest_sha256")
    if trained_on != pack_data.digest:
        raise SystemExit(
            f"score: {results_path} was trained on pack {trained_on}, but {pack_dir} is pack {pack_data.digest}; "
            "score against the pack that was carried (--pack)"
        )
    out = arguments.out or arguments.results
    out.mkdir(parents=True, exist_ok=True)
    data_dir = REPOSITORY / pack_data.manifest["data_dir"]

    java = find_java(arguments.java)
    meteor = None
    if java is None:
        print("score: no Java runtime: METEOR is unavailable and the other metrics use the fallback tokeniser")
    rows: list[dict[str, Any]] = []
    curve: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gpu_long_score_") as scratch:
        if java is not None:
            meteor = MeteorScorer(java, stderr_path=Path(scratch) / "meteor_stderr.txt")
        try:
            for factor, record in data["per_m"].items():
                if "error" in record:
                    rows.append({"M": int(factor), "error": record["error"]})
                    continue
                for split in ("evaluation", "validation"):
                    references = pack_data.references[split]
                    for audio in ("own", "swapped"):
                        predictions = record["predictions"][split][audio]
                        with warnings.catch_warnings():  # said once, above
                            warnings.simplefilter("ignore", MetricUnavailableWarning)
                            result = evaluate_captions(
                                predictions,
                                references,
                                spice=False,
                                work_dir=scratch,
                                java=java or arguments.java,
                                meteor=meteor,
                            )
                        row = {
                            "M": int(factor),
                            "split": split,
                            "audio": audio,
                            "epochs": record["epochs_completed"],
                            "steps": record["steps"],
                            "stop_reason": record["stop_reason"],
                            "final_loss": record["final_loss"],
                            "train_seconds": record["train_seconds"],
                            "distinct_captions": len(set(predictions.values())),
                            "tokenizer": result.tokenizer,
                        }
                        row |= {name: result.corpus.get(name) for name in SCORE_METRICS}
                        row |= corpus_facts(data_dir, split, predictions)
                        rows.append(row)
                normalised = normalised_references(pack_data.references["validation"])
                for epoch, captions in record.get("validation_during_training", {}).items():
                    clips = sorted(captions["own"])
                    point = {"M": int(factor), "epoch": int(epoch)}
                    for audio in ("own", "swapped"):
                        point[f"cider_{audio}"] = cider_scores(
                            [normalised[c] for c in clips], [captions[audio][c] for c in clips]
                        )[0]
                    curve.append(point)
        finally:
            if meteor is not None:
                meteor.close()

    write_rows(out / SCORES_FILE, rows)
    write_rows(out / VALIDATION_FILE, curve)
    print_score_table(meta, rows, curve)
    print(f"\nwrote {out / SCORES_FILE} and {out / VALIDATION_FILE}")
    return 0


def corpus_facts(data_dir: Path, split: str, predictions: dict[str, str]) -> dict[str, float | None]:
    """Mean of each fact (events named, counts, order) of the synthetic corpus's ground truth, where it is here."""
    from aac_subsampling.data.synthetic.facts import FACT_NAMES, load_clip_facts, score_predictions

    if not (data_dir / f"events_{split}.json").is_file():
        return {}
    facts = score_predictions(predictions, load_clip_facts(data_dir, split))
    means = facts.mean(skipna=True)
    return {f"fact_{name}": (None if math.isnan(means[name]) else float(means[name])) for name in FACT_NAMES}


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    names: list[str] = []
    for row in rows:
        names += [name for name in row if name not in names]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names or ["M"])
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buffer.getvalue())


def number(value: Any, digits: int = 3) -> str:
    return "-" if not isinstance(value, (int, float)) or value != value else f"{value:.{digits}f}"


def print_score_table(meta: dict[str, Any], rows: list[dict[str, Any]], curve: list[dict[str, Any]]) -> None:
    print(f"{meta.get('device_name')}, pack {meta.get('pack', {}).get('profile')}, budget {meta.get('budget_s')} s")
    for split in ("evaluation", "validation"):
        print(f"\n{split} split (own audio | swapped audio)")
        print(
            f"{'M':>3} {'epochs':>6} {'steps':>6} {'CIDEr-D':>15} {'METEOR':>13} {'BLEU4':>13} {'ROUGE_L':>13} "
            f"{'counts':>6} {'order':>6}"
        )
        by_m: dict[int, dict[str, dict[str, Any]]] = {}
        for row in rows:
            if "error" in row:
                continue
            if row["split"] == split:
                by_m.setdefault(row["M"], {})[row["audio"]] = row
        for factor, pair in by_m.items():
            own, swapped = pair["own"], pair["swapped"]
            cells = " ".join(f"{number(own[m]):>6} | {number(swapped[m]):<6}" for m in ("CIDEr", "METEOR", "BLEU4"))
            print(
                f"{factor:>3} {own['epochs']:>6} {own['steps']:>6} {cells} {number(own['ROUGE_L']):>6} | "
                f"{number(swapped['ROUGE_L']):<6} {number(own.get('fact_count_right'), 2):>6} "
                f"{number(own.get('fact_order_right'), 2):>6}"
            )
    for row in rows:
        if "error" in row:
            print(f"M={row['M']}: {row['error']}")
    if curve:
        print("\nvalidation CIDEr-D along training (own audio / swapped audio)")
        for factor in sorted({point["M"] for point in curve}):
            points = [p for p in curve if p["M"] == factor]
            text = ", ".join(
                f"e{p['epoch']} {p['cider_own']:.2f}/{p['cider_swapped']:.2f}"
                for p in sorted(points, key=lambda p: p["epoch"])
            )
            print(f"M={factor:<2d} {text}")


# ==================================================================================================
# Command line.


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    packing = commands.add_parser("pack", help="prepare the profile's data and write the pack (here)")
    packing.add_argument("--out", type=Path, default=REPOSITORY / DEFAULT_PACK)
    packing.add_argument("--profile", choices=PACK_PROFILES, default="long")
    packing.add_argument("--data-dir", type=Path, default=None, help="the corpus folder (default: the profile's)")
    packing.add_argument("--max-clips", type=int, default=None, help="the first N clips of every split (tests)")
    packing.add_argument(
        "--development-clips", type=int, default=None, help="the first N development clips (a smaller pack)"
    )
    packing.add_argument("--limit-mib", type=float, default=64.0, help="refuse a pack larger than this")
    packing.add_argument(
        "--skip-tree-check", action="store_true", help="do not count the working tree against the 64 MiB"
    )
    packing.add_argument("--workers", type=int, default=None, help="processes making features")

    training = commands.add_parser("train", help="train every M from a pack (the GPU machine)")
    training.add_argument("--pack", type=Path, default=REPOSITORY / DEFAULT_PACK)
    training.add_argument("--out", type=Path, required=True)
    training.add_argument("--minutes", type=float, default=9.0, help="the whole run's budget, start to end")
    training.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    training.add_argument("--m", type=parse_factors, default=list(SUBSAMPLING_FACTORS), help="e.g. '1 2 4 8 16'")
    training.add_argument("--max-epochs", type=int, default=1000, help="the cap when the budget allows more")
    training.add_argument("--epochs", type=int, default=None, help="this cap, whatever the budget")
    training.add_argument("--validation-points", type=int, default=8, help="validation decodings along training")
    training.add_argument("--hidden", type=int, default=None, help="encoder and decoder width (tests: 16)")
    training.add_argument("--warmup-steps", type=int, default=2)
    training.add_argument("--calibration-steps", type=int, default=4)
    training.add_argument("--safety", type=float, default=1.15, help="measured seconds are multiplied by this")
    training.add_argument(
        "--reserve-fraction", type=float, default=0.04, help="of the budget, kept for writing and leaving"
    )
    training.add_argument("--log-lines", type=int, default=5, help="epoch lines printed per M")
    training.add_argument("--no-verify", action="store_true", help="skip the pack's SHA-256 check")

    scoring = commands.add_parser("score", help="score the train half's captions (here)")
    scoring.add_argument("--results", type=Path, required=True, help="the folder holding gpu_long.json")
    scoring.add_argument("--pack", type=Path, default=None, help="default: the path the results record")
    scoring.add_argument("--out", type=Path, default=None, help="default: --results")
    scoring.add_argument("--java", default=None, help="Java launcher (default: java on PATH, then $JAVA_HOME)")
    arguments = parser.parse_args(argv)
    if arguments.command == "train":
        for name in ("max_epochs", "epochs", "warmup_steps", "calibration_steps", "log_lines"):
            value = getattr(arguments, name)
            if value is not None and value < (0 if name == "warmup_steps" else 1):
                parser.error(f"--{name.replace('_', '-')} must be at least {0 if name == 'warmup_steps' else 1}")
        if arguments.minutes <= 0:
            parser.error("--minutes must be positive")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {"pack": pack, "train": train, "score": score}
    return commands[arguments.command](arguments)


if __name__ == "__main__":
    sys.exit(main())
