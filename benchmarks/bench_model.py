"""Training-step time and peak memory per sub-sampling factor M, and clip-mode vs caption-mode batches.

Each M runs in its own subprocess so that its peak resident memory (VmHWM) is its own. Prints a
table; nothing is asserted. Re-measure with:

    python benchmarks/bench_model.py                      # T = 1292, batch 16, M in 1 2 4 8 16
    python benchmarks/bench_model.py --frames 2584 --steps 3
    python benchmarks/bench_model.py --frames 2584 --factors 1 16 --no-mode-comparison   # the paper's longest clips
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time

import torch

from aac_subsampling.base.devices import peak_host_memory_bytes, peak_memory_bytes
from aac_subsampling.data.clotho_card import CAPTIONS_PER_CLIP
from aac_subsampling.method.batching import CaptionDataset
from aac_subsampling.method.config import Config
from aac_subsampling.method.loss import token_weights, weighted_cross_entropy
from aac_subsampling.method.paper import PAPER_VOCABULARY_SIZE, SHORTEST_CLIP_FRAMES
from aac_subsampling.method.training import build_model, flush_denormals, resolve_device


def synthetic_dataset(n_clips: int, frames: int, captions_per_clip: int = CAPTIONS_PER_CLIP, caption_length: int = 15):
    generator = torch.Generator().manual_seed(0)
    features = {f"clip{i:04d}": torch.randn(frames, 64, generator=generator).numpy() for i in range(n_clips)}
    captions = {
        clip: [
            torch.randint(0, PAPER_VOCABULARY_SIZE, (caption_length,), generator=generator).tolist()
            for _ in range(captions_per_clip)
        ]
        for clip in features
    }
    return CaptionDataset(sorted(features), captions, features, eos_index=1)


def time_steps(factor: int, frames: int, steps: int, batch_size: int, mode: str, device: str) -> dict:
    flush_denormals(resolve_device(device))  # as training does (benchmarks/bench_denormals.py measures why)
    config = Config().with_overrides({"model": {"subsampling_factor": factor}, "device": device})
    target = resolve_device(device)
    model = build_model(config, PAPER_VOCABULARY_SIZE).to(target)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    weights = token_weights([1] * PAPER_VOCABULARY_SIZE).to(target)
    n_clips = batch_size * (steps + 1) if mode == "clip" else -(-batch_size * (steps + 1) // 5)
    dataset = synthetic_dataset(n_clips, frames)
    batches = list(dataset.batches(batch_size, mode, seed=0, epoch=0, shuffle=False))[: steps + 1]
    durations, encoder_passes, captions = [], 0, 0
    for index, batch in enumerate(batches):
        batch = batch.to(target)
        started = time.perf_counter()
        logits = model(batch.features, batch.targets.shape[1], batch.caption_to_clip)
        loss = weighted_cross_entropy(logits, batch.targets, weights)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if target.type == "cuda":
            torch.cuda.synchronize()
        if index > 0:  # the first step warms up allocators and kernels
            durations.append(time.perf_counter() - started)
            encoder_passes += batch.features.shape[0]
            captions += batch.targets.shape[0]
    gpu_peak = peak_memory_bytes(target)  # None on the CPU, where the process's peak RSS is what counts
    peak_mib = (gpu_peak if gpu_peak is not None else peak_host_memory_bytes()) / 2**20
    return {
        "M": factor,
        "mode": mode,
        "frames": frames,
        "step_s": sum(durations) / len(durations),
        "encoder_passes": encoder_passes,
        "captions": captions,
        "total_s": sum(durations),
        "peak_mib": peak_mib,
    }


def run_isolated(args: list[str]) -> dict:
    completed = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if completed.returncode != 0:  # the child's own error (e.g. clips too short for M), not a bare exit status
        sys.exit(f"bench_model: the measurement {' '.join(args)} failed:\n{completed.stderr.strip()}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=SHORTEST_CLIP_FRAMES)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per M (after one warm-up step)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--mode-factor", type=int, default=4, help="M used for the clip- vs caption-mode comparison")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--no-mode-comparison", action="store_true", help="skip the clip- vs caption-mode comparison (slow at T = 2584)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="clip", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(time_steps(args.factors[0], args.frames, args.steps, args.batch_size, args.mode, args.device)))
        return

    common = [
        "--frames",
        str(args.frames),
        "--steps",
        str(args.steps),
        "--batch-size",
        str(args.batch_size),
        "--device",
        args.device,
    ]
    device_name = (
        torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or platform.machine()
    )
    print(f"# torch {torch.__version__}, device {args.device} ({device_name}), {torch.get_num_threads()} threads")
    print(
        f"# one training step: batch of {args.batch_size} clips x 5 captions, T = {args.frames}, "
        f"D = {PAPER_VOCABULARY_SIZE}"
    )
    rows = [run_isolated(["--factors", str(factor), *common]) for factor in args.factors]
    baseline = next((row for row in rows if row["M"] == 1), rows[0])  # ratios to M = 1, or to the first M
    print(f"{'M':>3} {'step_s':>8} {'vs M=' + str(baseline['M']):>7} {'peak_MiB':>9}")
    for row in rows:
        print(f"{row['M']:>3} {row['step_s']:>8.2f} {row['step_s'] / baseline['step_s']:>7.2f} {row['peak_mib']:>9.0f}")
    if args.no_mode_comparison:
        return

    print(
        f"\n# the same {args.steps * args.batch_size} clips x 5 captions, M = {args.mode_factor}: "
        "encoder once per clip (clip mode) vs once per caption (caption mode, as the authors' code)"
    )
    clip_row = run_isolated(["--factors", str(args.mode_factor), "--mode", "clip", *common])
    caption_args = [*common]
    caption_args[caption_args.index("--steps") + 1] = str(args.steps * 5)
    caption_row = run_isolated(["--factors", str(args.mode_factor), "--mode", "caption", *caption_args])
    for row in (clip_row, caption_row):
        print(
            f"{row['mode']:>8}: {row['captions']} captions, {row['encoder_passes']} encoder passes, "
            f"{row['total_s']:.2f} s"
        )
    print(
        f"encoder passes ratio {caption_row['encoder_passes'] / clip_row['encoder_passes']:.1f}x, "
        f"time ratio {caption_row['total_s'] / clip_row['total_s']:.2f}x"
    )


if __name__ == "__main__":
    main()
