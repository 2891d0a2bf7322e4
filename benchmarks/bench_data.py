"""Time the offline data path: synthesise a corpus, read it, and cache its features.

Usage::

    python benchmarks/bench_data.py                                   # quick preset
    python benchmarks/bench_data.py --presets quick clotho-shaped --limit 200

With ``--limit N`` a preset is cut to N clips (split in the preset's development:evaluation
ratio) and the full-size times are extrapolated linearly in audio duration (the work is per
sample), which the output says. Prints the machine's core count with every measurement.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from aac_subsampling.data.feature_cache import cache_features
from aac_subsampling.data.reader import read_split
from aac_subsampling.data.synthetic import PRESETS, generate_corpus
from aac_subsampling.method.config import FeatureConfig


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def sizes_for(preset: str, limit: int | None) -> dict[str, int]:
    p = PRESETS[preset]
    if limit is None or limit >= p.n_development + p.n_evaluation:
        return {"n_development": p.n_development, "n_evaluation": p.n_evaluation}
    n_dev = round(limit * p.n_development / (p.n_development + p.n_evaluation))
    return {"n_development": n_dev, "n_evaluation": max(0, limit - n_dev)}


def bench(preset: str, limit: int | None, workers: int, work: Path, seed: int, compare_workers: bool) -> None:
    cores = os.cpu_count()
    p = PRESETS[preset]
    sizes = sizes_for(preset, limit)
    n_clips = sizes["n_development"] + sizes["n_evaluation"]
    root, cache = work / preset / "corpus", work / preset / "cache"

    start = time.perf_counter()
    summary = generate_corpus(root, preset, seed=seed, workers=workers, **sizes)
    t_generate = time.perf_counter() - start
    audio_s = sum(summary.seconds.values())

    start = time.perf_counter()
    clips = [c for split in ("development", "evaluation") for c in read_split(root, split).clips]
    t_read = time.perf_counter() - start

    feature_runs = []
    for w in sorted({1, workers}) if compare_workers else [workers]:
        shutil.rmtree(cache, ignore_errors=True)
        start = time.perf_counter()
        store = cache_features(clips, cache, FeatureConfig(), workers=w, progress=False)
        feature_runs.append((w, time.perf_counter() - start, store.stats.extracted if store.stats else -1))
    start = time.perf_counter()
    again = cache_features(clips, cache, FeatureConfig(), workers=workers, progress=False)
    t_reuse = time.perf_counter() - start

    print(
        f"\n== preset {preset!r}: {n_clips} clips ({sizes['n_development']} dev + {sizes['n_evaluation']} eval), "
        f"{audio_s:.0f} s of audio ({audio_s / max(n_clips, 1):.2f} s/clip); {cores} cores, workers={workers}"
    )
    print(
        f"  generate corpus   {t_generate:8.2f} s  ({1000 * t_generate / n_clips:.1f} ms/clip, "
        f"{folder_bytes(root) / 1e6:.0f} MB on disk, vocabulary {summary.vocabulary_size} words)"
    )
    print(f"  read + check      {t_read:8.2f} s")
    for w, seconds, extracted in feature_runs:
        print(
            f"  features w={w:<2d}     {seconds:8.2f} s  ({1000 * seconds / n_clips:.1f} ms/clip, "
            f"{extracted} extracted, "
            f"{audio_s / seconds:.0f}x real time)"
        )
    print(
        f"  features reused   {t_reuse:8.2f} s  ({again.stats.reused if again.stats else -1} reused, "
        f"{folder_bytes(cache) / 1e6:.0f} MB cache)"
    )
    full = p.n_development + p.n_evaluation
    if n_clips < full:
        full_audio = full * (p.min_duration + p.max_duration) / 2
        factor = full_audio / audio_s
        best_features = min(seconds for _, seconds, _ in feature_runs)
        print(
            f"  extrapolated to the full preset ({full} clips, ~{full_audio / 3600:.1f} h of audio, x{factor:.1f} "
            f"by audio duration): generate ~{t_generate * factor / 60:.1f} min, features "
            f"~{best_features * factor / 60:.1f} min, disk ~{folder_bytes(root) * factor / 1e9:.1f} GB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["quick"], choices=sorted(PRESETS))
    parser.add_argument("--limit", type=int, default=None, help="at most this many clips per preset (extrapolated)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--compare-workers", action="store_true", help="also time feature extraction with 1 worker")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the corpus and cache here (default: temp)")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench_data_"))
    try:
        for preset in args.presets:
            bench(preset, args.limit, args.workers, work, args.seed, args.compare_workers)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
