"""Writing the synthetic Clotho-format corpus, and the write helpers shared with :mod:`.clotho_shaped`.

``generate_corpus(root, preset="quick", seed=0)`` writes, deterministically (same seed and sizes ->
byte-identical files)::

    root/development/synthetic development 0000.wav ...   16-bit PCM mono 44.1 kHz
    root/evaluation/synthetic evaluation 0000.wav ...
    root/clotho_captions_development.csv                  Clotho's header and quoting
    root/clotho_captions_evaluation.csv
    root/validation/...                                   only for presets with n_validation > 0
    root/clotho_captions_validation.csv
    root/events_development.json                          ground truth: events, order, onsets
    root/events_evaluation.json (and events_validation.json)
    root/synthetic_corpus.json                            marker + settings + summary

Files whose bytes would not change are not rewritten, so a regenerated corpus keeps its
modification times (and the feature cache stays valid). A folder whose splits hold wavs but no
marker is refused (:func:`refuse_foreign_wavs`): it may be another data set.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from aac_subsampling.base.atomic import write_bytes_atomic
from aac_subsampling.data.clotho_card import captions_file
from aac_subsampling.data.reader import CSV_HEADER
from aac_subsampling.data.synthetic.captions import caption_words
from aac_subsampling.data.synthetic.clips import clip_name, synthesise_clip
from aac_subsampling.data.synthetic.presets import SYNTHETIC_SPLITS, CorpusPreset, resolve_preset

__all__ = [
    "MARKER",
    "CorpusSummary",
    "generate_corpus",
    "write_if_changed",
    "captions_csv_bytes",
    "refuse_foreign_wavs",
]

MARKER = "synthetic_corpus.json"


@dataclass
class CorpusSummary:
    """What :func:`generate_corpus` wrote."""

    root: Path
    preset: str
    seed: int
    settings: dict[str, Any]
    clips: dict[str, int]  # split -> number of clips
    seconds: dict[str, float]  # split -> total audio duration
    event_counts: dict[str, dict[str, int]]  # split -> event -> clips holding it
    vocabulary_size: int  # distinct words over all captions
    caption_words: tuple[int, int]  # (min, max) words per caption
    files_written: int = 0
    files_unchanged: int = 0
    files_removed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The summary without run-specific fields (root, files written), so identical corpora get identical markers."""
        data = dataclasses.asdict(self)
        for key in ("root", "files_written", "files_unchanged", "files_removed"):
            data.pop(key)
        return data


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` atomically unless the file already holds exactly these bytes; True if written."""
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    write_bytes_atomic(path, data)
    return True


def _wav_bytes(samples: np.ndarray, sr: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, sr, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def _make_one(args: tuple[Path, int, str, int, CorpusPreset]) -> tuple[str, list[str], dict[str, Any], bool]:
    folder, seed, split, index, p = args
    samples, captions, meta = synthesise_clip(seed, split, index, p)
    name = clip_name(split, index)
    written = write_if_changed(folder / name, _wav_bytes(samples, p.sample_rate))
    return name, captions, meta, written


def captions_csv_bytes(rows: Sequence[tuple[str, Sequence[str]]]) -> bytes:
    """A captions CSV with Clotho's header; fields quoted only where needed (commas, quotes)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for name, captions in rows:
        writer.writerow([name, *captions])
    return buffer.getvalue().encode("utf-8")


def refuse_foreign_wavs(root: Path, marker: str, what: str) -> None:
    """Refuse to write into (and prune) a folder whose splits hold wavs but which lacks ``marker``: it may be
    another data set (the real Clotho audio, say)."""
    for split in SYNTHETIC_SPLITS:
        folder = root / split
        if folder.is_dir() and any(e.name.lower().endswith(".wav") for e in os.scandir(folder)):
            raise FileExistsError(
                f"{folder} holds .wav files but {root} has no {marker}: refusing to write {what} over what may be "
                "another data set (the real Clotho audio?); choose an empty folder"
            )


def _check_root(root: Path) -> None:
    if not (root / MARKER).is_file():
        refuse_foreign_wavs(root, MARKER, "a synthetic corpus")


def _remove_split(root: Path, split: str, removed: list[str]) -> None:
    """Remove what an earlier corpus wrote of ``split`` (its wavs, captions and events files)."""
    folder = root / split
    if folder.is_dir():
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.lower().endswith(".wav"):
                os.remove(entry.path)
                removed.append(f"{split}/{entry.name}")
    for path in (root / captions_file(split), root / f"events_{split}.json"):
        if path.is_file():
            path.unlink()
            removed.append(path.name)


def generate_corpus(
    root: str | os.PathLike[str],
    preset: str | CorpusPreset = "quick",
    seed: int = 0,
    *,
    workers: int | None = 1,
    **overrides: Any,
) -> CorpusSummary:
    """Write a synthetic Clotho-format corpus under ``root`` and return a summary of it.

    ``preset`` names an entry of :data:`PRESETS` (``smoke``, ``quick``, ``long``, ``clotho-shaped``);
    keyword ``overrides`` change any :class:`CorpusPreset` field (e.g. ``n_development=16``).
    ``workers`` > 1 synthesises clips in that many processes (``None``: all cores); the output
    does not depend on it. Wavs left from an earlier, larger corpus in the same root are removed.
    """
    root = Path(root)
    preset_name = preset if isinstance(preset, str) else "custom"
    p = resolve_preset(preset, **overrides)
    _check_root(root)
    counts = {"development": p.n_development, "evaluation": p.n_evaluation, "validation": p.n_validation}
    written = unchanged = 0
    removed: list[str] = []
    clips: dict[str, int] = {}
    seconds: dict[str, float] = {}
    event_counts: dict[str, dict[str, int]] = {}
    all_words: set[str] = set()
    lengths: list[int] = []
    workers = (os.cpu_count() or 1) if workers is None else workers
    for split in SYNTHETIC_SPLITS:
        folder = root / split
        if not counts[split]:  # an optional split (validation) this preset does not make
            _remove_split(root, split, removed)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        jobs = [(folder, seed, split, i, p) for i in range(counts[split])]
        if workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
                results = list(pool.map(_make_one, jobs, chunksize=max(1, len(jobs) // (8 * workers))))
        else:
            results = [_make_one(job) for job in jobs]
        rows, metadata = [], {}
        for name, captions, meta, was_written in results:
            rows.append((name, captions))
            metadata[name] = meta
            written += was_written
            unchanged += not was_written
            for caption in captions:
                words = caption_words(caption)
                all_words.update(words)
                lengths.append(len(words))
        keep = {name for name, _ in rows}
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.lower().endswith(".wav") and entry.name not in keep:
                os.remove(entry.path)
                removed.append(f"{split}/{entry.name}")
        events_doc = {"split": split, "seed": seed, "sample_rate": p.sample_rate, "clips": metadata}
        for path, data in (
            (root / captions_file(split), captions_csv_bytes(rows)),
            (root / f"events_{split}.json", (json.dumps(events_doc, indent=1) + "\n").encode()),
        ):
            if write_if_changed(path, data):
                written += 1
            else:
                unchanged += 1
        clips[split] = len(rows)
        seconds[split] = round(sum(m["duration"] for m in metadata.values()), 3)
        event_counts[split] = dict(sorted(Counter(e["event"] for m in metadata.values() for e in m["events"]).items()))
    settings = dataclasses.asdict(p)
    settings["event_names"] = list(p.event_names)
    summary = CorpusSummary(
        root=root,
        preset=preset_name,
        seed=seed,
        settings=settings,
        clips=clips,
        seconds=seconds,
        event_counts=event_counts,
        vocabulary_size=len(all_words),
        caption_words=(min(lengths), max(lengths)) if lengths else (0, 0),
        files_written=written,
        files_unchanged=unchanged,
        files_removed=removed,
    )
    write_if_changed(root / MARKER, (json.dumps(summary.to_json(), indent=1, sort_keys=True) + "\n").encode())
    return summary
