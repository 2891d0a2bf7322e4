"""One training step of the paper's model with denormal floats kept and flushed to zero, side by side.

The gradient that flows back from the encoder's last step (Eq. 6) through hundreds of GRU steps decays into
the denormal range (below 1.2e-38), where a CPU's matrix products are many times slower; training flushes
them (``aac_subsampling.method.training.flush_denormals``). Each setting runs in its own process, so that the flag is
set before torch's threads exist. Prints a table; nothing is asserted. Re-measure with:

    python benchmarks/bench_denormals.py                      # the quick corpus: T = 300, batch 8, D = 114
    python benchmarks/bench_denormals.py --frames 1292 --vocabulary 4367 --batch-size 16 --factors 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def child(factor: int, frames: int, batch_size: int, vocabulary: int, steps: int, flush: bool, threads: int) -> dict:
    import torch

    torch.set_flush_denormal(flush)  # before any torch operation: worker threads inherit it
    torch.set_num_threads(threads)
    from aac_subsampling.method.config import Config
    from aac_subsampling.method.loss import token_weights, weighted_cross_entropy
    from aac_subsampling.method.training import build_model

    config = Config().with_overrides({"model": {"subsampling_factor": factor}, "device": "cpu"})
    model = build_model(config, vocabulary)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(batch_size, frames, 64, generator=generator)
    targets = torch.randint(0, vocabulary, (5 * batch_size, 15), generator=generator)
    caption_to_clip = torch.arange(batch_size).repeat_interleave(5)
    weights = token_weights([1] * vocabulary)
    forward, backward = [], []
    for index in range(steps + 1):
        started = time.perf_counter()
        logits = model(features, targets.shape[1], caption_to_clip)
        loss = weighted_cross_entropy(logits, targets, weights)
        middle = time.perf_counter()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if index > 0:  # the first step warms up
            forward.append(middle - started)
            backward.append(time.perf_counter() - middle)
    return {"forward_s": sum(forward) / steps, "backward_s": sum(backward) / steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="T; the quick corpus's clips have 258-344 frames")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--vocabulary", type=int, default=114, help="D; the quick corpus has 114 tokens")
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--steps", type=int, default=3, help="timed steps (after one warm-up step)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        factor, flush = json.loads(args.child)
        result = child(factor, args.frames, args.batch_size, args.vocabulary, args.steps, flush, args.threads)
        print(json.dumps(result))
        return
    shape = f"T = {args.frames}, batch {args.batch_size} clips x 5 captions, D = {args.vocabulary}"
    print(f"# {shape}, {args.threads} thread(s)")
    print(f"{'M':>3} {'denormals':>10} {'forward_s':>10} {'backward_s':>11} {'step_s':>7} {'kept/flushed':>13}")
    for factor in args.factors:
        steps = {}
        for flush in (False, True):
            command = [sys.executable, __file__, "--child", json.dumps([factor, flush])]
            command += ["--frames", str(args.frames), "--batch-size", str(args.batch_size)]
            command += [
                "--vocabulary",
                str(args.vocabulary),
                "--steps",
                str(args.steps),
                "--threads",
                str(args.threads),
            ]
            result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
            steps[flush] = result["forward_s"] + result["backward_s"]
            ratio = f"{steps[False] / steps[True]:.1f}x" if flush else ""
            label = "flushed" if flush else "kept"
            print(
                f"{factor:>3} {label:>10} {result['forward_s']:>10.2f} {result['backward_s']:>11.2f} "
                f"{steps[flush]:>7.2f} {ratio:>13}",
                flush=True,
            )


if __name__ == "__main__":
    main()
