"""A Clotho-shaped corpus: Clotho v1's real file names and captions with synthetic audio.

For a paper-scale dry run without the Clotho audio (a 7z download of several GB):
:func:`generate_clotho_shaped_corpus` reads the two real caption files and writes, in Clotho's
layout (what :mod:`aac_subsampling.data.reader` and :func:`aac_subsampling.data.clotho.clotho_v1_present`
expect)::

    out/clotho_captions_development.csv    the real rows (file name + 5 captions), Clotho's header
    out/clotho_captions_evaluation.csv
    out/development/<real file name>       16-bit PCM mono 44.1 kHz, synthetic audio
    out/evaluation/<real file name>
    out/clotho_shaped_corpus.json          marker: settings and a note that the audio is NOT Clotho's

Each clip's audio is a pure function of (seed, file name): a duration drawn uniformly in
[min_seconds, max_seconds], band-limited noise under a slow random envelope (a continuous
background) and a few impulsive events of :mod:`.events`. It carries no information about the
captions: the point is the shapes (names, lengths, counts), the speed and the memory of the whole
pipeline at Clotho's scale, not what a model learns.

File names are written exactly as the captions CSV spells them (spaces, commas, dots, ``&amp;``,
``&#39;``), so they round-trip through the reader. Wavs already present with the expected header
(rate, channels, subtype, frame count) are kept, so an interrupted run resumes; wavs of clips no
longer listed (e.g. from a run with a larger ``limit``) are removed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from aac_subsampling.base.atomic import TEMP_INFIX, atomic_path
from aac_subsampling.data.clotho_card import SPLITS, captions_file
from aac_subsampling.data.reader import CSV_HEADER
from aac_subsampling.data.synthetic.corpus import captions_csv_bytes, refuse_foreign_wavs, write_if_changed
from aac_subsampling.data.synthetic.events import IMPULSIVE, band_noise, render_event, smooth_random
from aac_subsampling.data.synthetic.presets import MIN_DURATION

__all__ = [
    "SPLITS",
    "SAMPLE_RATE",
    "MARKER",
    "ClothoShapedSummary",
    "read_caption_rows",
    "clip_samples",
    "expected_frames",
    "generate_clotho_shaped_corpus",
    "main",
]

SAMPLE_RATE = 44100
MARKER = "clotho_shaped_corpus.json"
FOREIGN_MARKER = "synthetic_corpus.json"  # a corpus of aac_subsampling.data.synthetic: never mix into it


@dataclass
class ClothoShapedSummary:
    """What :func:`generate_clotho_shaped_corpus` wrote."""

    out_dir: Path
    clips: dict[str, int]  # split -> clips listed in its captions CSV
    seconds: dict[str, float]  # split -> total audio duration
    files_written: int = 0
    files_kept: int = 0  # wavs already present with the expected header
    files_removed: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0


def read_caption_rows(csv_path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(file name, five captions) of a real Clotho captions CSV, checked; errors name the file and row."""
    if not csv_path.is_file():
        raise FileNotFoundError(f"Clotho captions file not found: {csv_path}")
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        rows = [(reader.line_num, row) for row in reader if row]  # line_num: where the row ends (quoted newlines)
    if not rows or tuple(h.strip() for h in rows[0][1]) != CSV_HEADER:
        found = rows[0][1] if rows else "nothing"
        raise ValueError(f"{csv_path}: expected the header {','.join(CSV_HEADER)}, found {found}")
    out: list[tuple[str, tuple[str, ...]]] = []
    seen: set[str] = set()
    for line, row in rows[1:]:
        name, captions = row[0], tuple(row[1:])
        # A name must be a plain file name in one folder, and end in .wav so the reader lists it.
        if not name.lower().endswith(".wav") or "/" in name or "\0" in name or name in (".wav",):
            raise ValueError(f"{csv_path} line {line}: file name {name!r} is not a plain .wav file name")
        if len(captions) != len(CSV_HEADER) - 1 or any(not c.strip() for c in captions):
            raise ValueError(f"{csv_path} line {line} ({name}): expected {len(CSV_HEADER) - 1} non-empty captions")
        if name in seen:
            raise ValueError(f"{csv_path} line {line}: file name {name!r} is listed twice")
        seen.add(name)
        out.append((name, captions))
    return out


def _clip_rng(seed: int, name: str) -> np.random.Generator:
    """The clip's own stream: seed plus a digest of its name, so no clip depends on another or on the order."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng([seed, *words])


def _duration_frames(rng: np.random.Generator, min_seconds: float, max_seconds: float) -> int:
    return int(round(float(rng.uniform(min_seconds, max_seconds)) * SAMPLE_RATE))


def expected_frames(name: str, seed: int, min_seconds: float, max_seconds: float) -> int:
    """Samples of clip ``name`` (the first draw of its stream, so this costs nothing)."""
    return _duration_frames(_clip_rng(seed, name), min_seconds, max_seconds)


ENVELOPE_BLOCK = 2048  # samples per step of the background's loudness envelope (~46 ms)


def clip_samples(name: str, seed: int, min_seconds: float, max_seconds: float) -> np.ndarray:
    """The clip's int16 samples: a noise background with a slow envelope and 0-4 impulsive events.

    Cheap on purpose, since 3938 clips of 15-30 s must be written in minutes on 2 cores: the
    background is a 1.5-2.5 s band-noise loop (one small FFT) tiled over the clip, under an
    envelope that changes every ENVELOPE_BLOCK samples; an FFT, an interpolation or a filter over the
    whole clip would each cost more than the rest together.
    """
    rng = _clip_rng(seed, name)
    n = _duration_frames(rng, min_seconds, max_seconds)
    lo = float(rng.uniform(80.0, 2000.0))
    hi = min(lo * float(rng.uniform(2.0, 12.0)), 0.45 * SAMPLE_RATE)
    loop = band_noise(
        rng, int(rng.uniform(1.5, 2.5) * SAMPLE_RATE), SAMPLE_RATE, lo, hi, tilt=float(rng.uniform(-4.0, 0.0))
    ).astype(np.float32)
    blocks = -(-n // ENVELOPE_BLOCK)
    envelope = smooth_random(
        rng, blocks, SAMPLE_RATE // ENVELOPE_BLOCK, rate_hz=float(rng.uniform(0.2, 2.0)), lo=0.01, hi=0.05
    ).astype(np.float32)
    mix = np.resize(loop, n)
    mix *= np.repeat(envelope, ENVELOPE_BLOCK)[:n]
    for _ in range(int(rng.integers(0, 5))):
        event = IMPULSIVE[int(rng.integers(len(IMPULSIVE)))]
        audio, _ = render_event(event, rng, int(0.5 * SAMPLE_RATE), SAMPLE_RATE, int(rng.integers(1, 4)))
        start = int(rng.integers(0, max(1, n - audio.size)))
        piece = audio[: n - start]
        mix[start : start + piece.size] += float(rng.uniform(0.05, 0.4)) * piece
    np.clip(mix, -0.98, 0.98, out=mix)  # background peak <= 0.05 * MAX_CREST-ish, events <= 0.4 each
    mix *= 32767.0
    return mix.astype(np.int16)


def _header_ok(path: Path, frames: int) -> bool:
    """True when ``path`` is a 44.1 kHz mono 16-bit wav of exactly ``frames`` samples (header only)."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return False
    return (info.samplerate, info.channels, info.subtype, info.frames) == (SAMPLE_RATE, 1, "PCM_16", frames)


def _make_one(args: tuple[Path, str, int, float, float, bool]) -> tuple[str, int, bool]:
    """Write one clip unless a correct one is there; (name, frames, written)."""
    folder, name, seed, min_seconds, max_seconds, trust_existing = args
    path = folder / name
    frames = expected_frames(name, seed, min_seconds, max_seconds)
    if trust_existing and _header_ok(path, frames):
        return name, frames, False
    samples = clip_samples(name, seed, min_seconds, max_seconds)
    try:
        with atomic_path(path) as temporary:  # an interrupted run never leaves a truncated wav under the real name
            sf.write(str(temporary), samples, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    except (OSError, RuntimeError) as exc:  # soundfile's errors are RuntimeErrors
        raise OSError(f"could not write clip {name!r} to {path}: {exc}") from exc
    return name, frames, True


def _settings(seed: int, min_seconds: float, max_seconds: float) -> dict[str, Any]:
    return {"seed": seed, "min_seconds": min_seconds, "max_seconds": max_seconds, "sample_rate": SAMPLE_RATE}


def _existing_settings(out_dir: Path) -> dict[str, Any] | None:
    """Settings of an earlier run in ``out_dir``; refuse folders holding wavs of anything else (real Clotho!)."""
    marker = out_dir / MARKER
    if marker.is_file():
        try:
            return json.loads(marker.read_text(encoding="utf-8"))["settings"]
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{marker} is not a Clotho-shaped corpus marker: {exc}") from exc
    if (out_dir / FOREIGN_MARKER).is_file():
        raise FileExistsError(f"{out_dir} holds a synthetic corpus ({FOREIGN_MARKER}); choose another folder")
    refuse_foreign_wavs(out_dir, MARKER, "a Clotho-shaped corpus")
    return None


def _report(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def generate_clotho_shaped_corpus(
    captions_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    min_seconds: float = 15.0,
    max_seconds: float = 30.0,
    limit: int | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> ClothoShapedSummary:
    """Write Clotho v1's names and captions with synthetic audio under ``out_dir`` (layout: module doc).

    ``captions_dir`` holds ``clotho_captions_development.csv`` and ``clotho_captions_evaluation.csv``.
    ``limit`` keeps the first N clips of each split. ``workers`` processes write the wavs (None: all
    cores); the output does not depend on it. Wavs already present with the expected header are
    kept when the marker's settings match; ``progress`` prints counts to stderr.
    """
    started = time.perf_counter()
    captions_dir, out_dir = Path(captions_dir), Path(out_dir)
    if not MIN_DURATION <= min_seconds <= max_seconds:
        raise ValueError(
            f"need {MIN_DURATION} <= min_seconds <= max_seconds (M = 16 needs 256 frames), "
            f"got min_seconds={min_seconds}, max_seconds={max_seconds}"
        )
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    rows = {split: read_caption_rows(captions_dir / captions_file(split)) for split in SPLITS}
    if limit is not None:
        rows = {split: split_rows[:limit] for split, split_rows in rows.items()}

    out_dir.mkdir(parents=True, exist_ok=True)
    settings = _settings(seed, min_seconds, max_seconds)
    trust_existing = _existing_settings(out_dir) == settings  # other settings: every wav is rewritten
    # The marker goes first: a later run then knows the folder is ours even if this one is interrupted.
    marker = {
        "what": "Clotho v1 file names and captions with SYNTHETIC audio (not Clotho's); for dry runs",
        "captions_dir": str(captions_dir),
        "settings": settings,
        "clips": {split: len(split_rows) for split, split_rows in rows.items()},
    }
    write_if_changed(out_dir / MARKER, (json.dumps(marker, indent=1, sort_keys=True) + "\n").encode())

    n_workers = max(1, (os.cpu_count() or 1) if workers is None else workers)
    summary = ClothoShapedSummary(out_dir=out_dir, clips={}, seconds={})
    for split in SPLITS:
        folder = out_dir / split
        folder.mkdir(exist_ok=True)
        write_if_changed(out_dir / captions_file(split), captions_csv_bytes(rows[split]))
        jobs = [(folder, name, seed, min_seconds, max_seconds, trust_existing) for name, _ in rows[split]]
        total_frames = 0
        step = max(1, len(jobs) // 10)
        if n_workers > 1 and len(jobs) > 1:
            pool = ProcessPoolExecutor(max_workers=min(n_workers, len(jobs)))
            results = pool.map(_make_one, jobs, chunksize=max(1, min(16, len(jobs) // (4 * n_workers))))
        else:
            pool, results = None, map(_make_one, jobs)
        try:
            for done, (_, frames, written) in enumerate(results, start=1):
                total_frames += frames
                summary.files_written += written
                summary.files_kept += not written
                if done % step == 0 or done == len(jobs):
                    _report(
                        progress,
                        f"clotho-shaped {split}: {done}/{len(jobs)} clips ({time.perf_counter() - started:.0f} s)",
                    )
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        listed = {name for name, _ in rows[split]}
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            stale_tmp = entry.name.startswith(".") and TEMP_INFIX in entry.name
            if stale_tmp or (entry.name.lower().endswith(".wav") and entry.name not in listed):
                os.remove(entry.path)
                if not stale_tmp:
                    summary.files_removed.append(f"{split}/{entry.name}")
        summary.clips[split] = len(jobs)
        summary.seconds[split] = round(total_frames / SAMPLE_RATE, 3)
    summary.elapsed_seconds = round(time.perf_counter() - started, 3)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aac_subsampling.data.synthetic.clotho_shaped",
        description="Write Clotho v1's file names and captions with synthetic audio, in Clotho's layout.",
    )
    parser.add_argument(
        "--captions-dir",
        required=True,
        type=Path,
        help=f"folder with {' and '.join(captions_file(split) for split in SPLITS)}",
    )
    parser.add_argument("--out", required=True, type=Path, help="folder to write the corpus into")
    parser.add_argument("--limit", type=int, default=None, help="keep only the first N clips of each split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-seconds", type=float, default=15.0)
    parser.add_argument("--max-seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    try:
        summary = generate_clotho_shaped_corpus(
            args.captions_dir,
            args.out,
            seed=args.seed,
            min_seconds=args.min_seconds,
            max_seconds=args.max_seconds,
            limit=args.limit,
            workers=args.workers,
            progress=not args.quiet,
        )
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{summary.out_dir}: {summary.clips} clips, {summary.seconds} s of audio; "
        f"{summary.files_written} wavs written, {summary.files_kept} kept, {len(summary.files_removed)} removed "
        f"in {summary.elapsed_seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
