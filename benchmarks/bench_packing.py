"""What packed sequences cost: time per training step and per decode batch, padded vs packed.

``sequence_mode="padded"`` (the paper) runs the encoder over the front padding of every clip;
``"packed"`` processes each clip at its own length (so a clip's caption no longer depends on its
batch), with one of two exact implementations (``Encoder.packing``): "pack", torch's packed sequences
(the default, except for training on a CPU) and "split", one direction at a time on unpacked rows
(the default for training on a CPU, where the backward pass through packed sequences is slow).
"pack" skips the padding; both add gathers. All run with the same weights on the
same batch, side by side in one process, taken in turn; each figure is the minimum of the repeats,
the least disturbed by other processes on a shared machine. Prints a table; nothing is asserted.

    python benchmarks/bench_packing.py            # batch 16, Clotho lengths (1292-2584 frames)
    python benchmarks/bench_packing.py --quick    # a quarter of the lengths (323-646), fewer steps
    python benchmarks/bench_packing.py --device cuda
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import numpy as np
import torch

from aac_subsampling.base.devices import resolve_device, synchronize
from aac_subsampling.data.clotho_card import CAPTIONS_PER_CLIP
from aac_subsampling.method.batching import Batch, CaptionDataset
from aac_subsampling.method.config import ModelConfig
from aac_subsampling.method.loss import token_weights, weighted_cross_entropy
from aac_subsampling.method.model import CaptioningModel
from aac_subsampling.method.paper import CLOTHO_FRAME_RANGE, PAPER_VOCABULARY_SIZE

CAPTION_LENGTH = 15
DECODE_STEPS = 22
VARIANTS = ("padded", "pack", "split")
ACTIONS = {"train_s": "train step (f+b)", "decode_s": "decode batch"}


def clotho_like_batch(batch_size: int, shortest: int, longest: int, seed: int = 0) -> Batch:
    """One clip-mode batch: lengths drawn uniformly in [shortest, longest], 5 captions per clip."""
    rng = np.random.default_rng(seed)
    frame_counts = rng.integers(shortest, longest + 1, size=batch_size)
    frame_counts[0], frame_counts[-1] = shortest, longest  # the full spread in every batch
    features = {
        f"clip{i:02d}": rng.standard_normal((int(n), 64)).astype(np.float32) for i, n in enumerate(frame_counts)
    }
    captions = {
        clip: [rng.integers(0, PAPER_VOCABULARY_SIZE, CAPTION_LENGTH).tolist() for _ in range(CAPTIONS_PER_CLIP)]
        for clip in features
    }
    dataset = CaptionDataset(sorted(features), captions, features, eos_index=1)
    return next(dataset.batches(batch_size, "clip", seed=0, epoch=0, shuffle=False))


def seconds(action: Callable[[], None], device: torch.device) -> float:
    """Wall time of one call, synchronised on a GPU."""
    synchronize(device)
    started = time.perf_counter()
    action()
    synchronize(device)
    return time.perf_counter() - started


def actions(
    variant: str, factor: int, state: dict, batch: Batch, device: torch.device
) -> dict[str, Callable[[], None]]:
    """A training step (forward + backward) and a decode batch of one variant: "padded", or "pack" /
    "split" (packed mode with that packing method)."""
    mode = "padded" if variant == "padded" else "packed"
    model = CaptioningModel(ModelConfig(subsampling_factor=factor, sequence_mode=mode), PAPER_VOCABULARY_SIZE)
    model.load_state_dict(state)
    if mode == "packed":
        model.encoder.packing = variant
    model.to(device)
    batch = batch.to(device)
    weights = token_weights([1] * PAPER_VOCABULARY_SIZE).to(device)

    def train_step() -> None:
        model.train()
        logits = model(batch.features, batch.targets.shape[1], batch.caption_to_clip, batch.lengths)
        model.zero_grad(set_to_none=True)
        weighted_cross_entropy(logits, batch.targets, weights).backward()

    @torch.no_grad()
    def decode_batch() -> None:
        model.eval()
        lengths = batch.lengths if mode == "packed" else None
        model(batch.features, DECODE_STEPS, lengths=lengths).argmax(dim=-1).cpu()

    return {"train_s": train_step, "decode_s": decode_batch}


def measure(factor: int, batch: Batch, repeats: int, device: torch.device) -> dict[str, dict[str, float]]:
    """Seconds per call of every variant and action: the minimum of ``repeats`` calls, the variants
    taken in turn (after one warm-up call each), so that load from other processes hits all alike."""
    torch.manual_seed(factor)
    state = CaptioningModel(ModelConfig(subsampling_factor=factor), PAPER_VOCABULARY_SIZE).state_dict()
    calls = {variant: actions(variant, factor, state, batch, device) for variant in VARIANTS}
    timings: dict[str, dict[str, list[float]]] = {variant: {key: [] for key in ACTIONS} for variant in VARIANTS}
    for key in ACTIONS:
        for variant in VARIANTS:
            seconds(calls[variant][key], device)  # warm-up: allocators, kernels, thread pools
        for _ in range(repeats):
            for variant in VARIANTS:
                timings[variant][key].append(seconds(calls[variant][key], device))
    return {variant: {key: min(values) for key, values in rows.items()} for variant, rows in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="323-646 frames (a quarter of Clotho's) and 2 repeats")
    # The minimum of interleaved calls, because the machine may be shared: it is the least disturbed one.
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per variant (default 3, quick 2)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    shortest, longest = (323, 646) if args.quick else CLOTHO_FRAME_RANGE
    repeats = args.repeats or (2 if args.quick else 3)
    device = resolve_device(args.device)
    batch = clotho_like_batch(args.batch_size, shortest, longest)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"# torch {torch.__version__}, {args.device} ({name}), {torch.get_num_threads()} CPU threads")
    print(
        f"# batch of {args.batch_size} clips x {CAPTIONS_PER_CLIP} captions, {shortest}-{longest} frames "
        f"(padded width {longest}, {batch.lengths.sum().item() / (args.batch_size * longest):.0%} real), "
        f"D = {PAPER_VOCABULARY_SIZE}; minimum of {repeats} interleaved calls after a warm-up"
    )
    auto = "split" if device.type == "cpu" else "pack"
    print(f"# by default (Encoder.packing = 'auto') packed mode trains with '{auto}' here and decodes with 'pack'")
    print(
        f"{'M':>3} {'what':>18} {'padded_s':>9} {'pack_s':>9} {'split_s':>9} {'pack/padded':>12} {'split/padded':>13}"
    )
    for factor in args.factors:
        rows = measure(factor, batch, repeats, device)
        for key, label in ACTIONS.items():
            padded, pack, split = (rows[variant][key] for variant in VARIANTS)
            print(
                f"{factor:>3} {label:>18} {padded:>9.3f} {pack:>9.3f} {split:>9.3f} {pack / padded:>12.2f} "
                f"{split / padded:>13.2f}"
            )


if __name__ == "__main__":
    main()
