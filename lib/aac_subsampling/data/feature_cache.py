"""Per-clip feature cache: extract log mel-band energies once per clip, in parallel, and reuse them.

Layout::

    <cache_root>/logmel-<hash of FeatureConfig.cache_key()>/
        manifest.json                 {"format", "config", "clips": {file_name: entry}}
        <sha256(file_name)[:32]>.npy  (T, F) float32, one per clip

Changing any feature setting (window, peak normalisation, ...) changes the hash and so the folder:
old features are never mixed with new ones. An entry records the npy file, its frame count and the
source wav's size, modification time and SHA-1 of its bytes. A record is reused only when size
and mtime match (cheap pre-check: a mismatch re-extracts without hashing) *and* the wav's SHA-1
matches, so a wav whose content changed but whose size and mtime were kept (``cp -p``, ``rsync
-t``, a restored backup) is re-extracted. The extracting worker hashes the very bytes it decodes,
so the recorded hash always belongs to the features. Validation reads every wav once (SHA-1, not
for security: it is the fastest hashlib digest measured here, ~5 ms per 2.6 MB 30 s clip on one
core, done in threads); records of older versions without a hash are re-extracted once.

Each npy is written to a temporary file and renamed, and the manifest is rewritten atomically every
few seconds, so an interrupted run loses at most the last few clips' records; npy files whose
records were lost are adopted again if they are newer than their source wav (make-style: this is
the one place where the content is not checked against the features, since no hash was recorded;
the adopted record gets the wav's current hash). One writer per cache folder at a time.

A cached npy is also checked against its record before it is reused (its header and file size only: no data
are read): one cut short (a full disk, a killed copy), not an npy, or holding another shape is extracted again,
with a printed line naming the file and the clip. :meth:`FeatureStore.load` does the same for a file damaged
after that check, from the wav its record names (before, numpy's "Failed to read all data for array" named
neither, and came back on every run).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from aac_subsampling.base.atomic import atomic_path, write_json_atomic
from aac_subsampling.base.progress import progress_bar
from aac_subsampling.method.config import FeatureConfig
from aac_subsampling.method.features import extract_features, log_mel_energies

__all__ = [
    "CACHE_FORMAT",
    "CacheStats",
    "FeatureStore",
    "FeatureCacheError",
    "cache_features",
    "cache_dir",
    "config_hash",
    "npy_name",
    "content_hash",
]

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
MANIFEST = "manifest.json"
FLUSH_SECONDS = 5.0
HASH_KEY = "source_sha1"
_HASH_CHUNK = 1 << 20


class ClipLike(Protocol):
    """Anything with a file name and an audio path (the reader's :class:`Clip`)."""

    file_name: str
    audio_path: Path


class FeatureCacheError(RuntimeError):
    """Some clips could not be featurised; ``failures`` maps file name -> reason. The others are cached."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        lines = [f"  {name}: {reason}" for name, reason in sorted(failures.items())]
        super().__init__(f"feature extraction failed for {len(failures)} clip(s):\n" + "\n".join(lines))


@dataclass(frozen=True)
class CacheStats:
    """How a :func:`cache_features` call went."""

    extracted: int
    reused: int
    adopted: int  # npy files found without a manifest record and taken back (after an interruption)
    seconds: float

    @property
    def total(self) -> int:
        return self.extracted + self.reused + self.adopted


def config_hash(cfg: FeatureConfig) -> str:
    """Short stable hash of everything that changes the features (and of the cache format)."""
    key = json.dumps({"format": CACHE_FORMAT, **cfg.cache_key()}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def cache_dir(cache_root: str | os.PathLike[str], cfg: FeatureConfig) -> Path:
    """The folder holding the features of ``cfg``: ``<cache_root>/logmel-<config_hash>``."""
    return Path(cache_root) / f"logmel-{config_hash(cfg)}"


def npy_name(file_name: str) -> str:
    """A safe npy file name for a clip (Clotho names hold spaces, colons and other punctuation)."""
    return hashlib.sha256(file_name.encode("utf-8")).hexdigest()[:32] + ".npy"


class FeatureStore:
    """Read access to cached features: ``load(file_name)`` and ``n_frames(file_name)``."""

    def __init__(
        self, directory: Path, cfg: FeatureConfig, entries: dict[str, dict[str, Any]], stats: CacheStats | None = None
    ) -> None:
        self.directory = directory
        self.cfg = cfg
        self.entries = entries
        self.stats = stats

    @classmethod
    def open(cls, cache_root: str | os.PathLike[str], cfg: FeatureConfig) -> FeatureStore:
        """The store of an existing cache, without extracting anything (an empty store if none)."""
        directory = cache_dir(cache_root, cfg)
        return cls(directory, cfg, _read_manifest(directory, cfg))

    def __contains__(self, file_name: object) -> bool:
        return file_name in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def file_names(self) -> list[str]:
        return list(self.entries)

    def _entry(self, file_name: str) -> dict[str, Any]:
        try:
            return self.entries[file_name]
        except KeyError:
            raise KeyError(f"no cached features for clip {file_name!r} in {self.directory}") from None

    def path(self, file_name: str) -> Path:
        return self.directory / self._entry(file_name)["npy"]

    def load(self, file_name: str, mmap: bool = False) -> np.ndarray:
        """The (T, F) float32 features of a clip (memory-mapped with ``mmap=True``). A cached file that cannot
        be read (cut short, not an npy) is extracted again from the wav its record names, with a printed line;
        when that fails too, a :class:`FeatureCacheError` names the file and the clip."""
        path = self.path(file_name)
        try:
            return np.load(path, mmap_mode="r" if mmap else None)
        except (ValueError, OSError, EOFError) as error:
            self._extract_again(file_name, path, " ".join(str(error).split()))
            return np.load(path, mmap_mode="r" if mmap else None)

    def _extract_again(self, file_name: str, path: Path, why: str) -> None:
        entry = self._entry(file_name)
        source = entry.get("source")
        if not source or not Path(source).is_file():
            raise FeatureCacheError(
                {file_name: f"cached features {path} cannot be read ({why}), and its wav {source} is not there"}
            )
        print(f"feature cache: {path} (clip {file_name!r}) cannot be read ({why}); extracting it again", flush=True)
        try:
            n_frames, n_mels, digest = _extract_one(str(source), str(path), self.cfg)
        except (ValueError, OSError) as exc:
            raise FeatureCacheError(
                {file_name: f"cached features {path} cannot be read ({why}); extracting them again failed: {exc}"}
            ) from exc
        entry.update(_source_id(Path(source)), n_frames=n_frames, n_mels=n_mels, **{HASH_KEY: digest})

    def n_frames(self, file_name: str) -> int:
        """T of a clip, from the manifest (no file access): lets batching sort by length cheaply."""
        return int(self._entry(file_name)["n_frames"])


def _read_manifest(directory: Path, cfg: FeatureConfig) -> dict[str, dict[str, Any]]:
    """Entries of the manifest, or {} when it is missing, unreadable or for other settings."""
    try:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if data.get("format") != CACHE_FORMAT or data.get("config") != json.loads(json.dumps(cfg.cache_key())):
        log.warning("ignoring manifest in %s: written for other settings", directory)
        return {}
    return dict(data.get("clips", {}))


def _write_manifest(directory: Path, cfg: FeatureConfig, entries: dict[str, dict[str, Any]]) -> None:
    doc = {"format": CACHE_FORMAT, "config": cfg.cache_key(), "clips": dict(sorted(entries.items()))}
    write_json_atomic(directory / MANIFEST, doc, indent=1)


def content_hash(data: bytes) -> str:
    """Hex SHA-1 of a clip's bytes: what decides whether cached features still belong to it."""
    return hashlib.sha1(data).hexdigest()


def _file_hash(path: Path) -> str:
    """SHA-1 of a file read in chunks (hashlib releases the GIL, so threads hash in parallel)."""
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _source_id(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"source": str(path), "source_size": stat.st_size, "source_mtime_ns": stat.st_mtime_ns}


def _may_be_current(entry: dict[str, Any] | None, source: dict[str, Any], npy: Path) -> bool:
    """The cheap part of validation: a record with a hash, same size and mtime, and its npy there."""
    return (
        entry is not None
        and isinstance(entry.get(HASH_KEY), str)
        and entry.get("source_size") == source["source_size"]
        and entry.get("source_mtime_ns") == source["source_mtime_ns"]
        and npy.is_file()
    )


def _hash_files(paths: dict[str, Path], workers: int) -> dict[str, str | None]:
    """file name -> SHA-1 of its file (None when it cannot be read: then it is re-extracted,
    and extraction reports why)."""

    def one(path: Path) -> str | None:
        try:
            return _file_hash(path)
        except OSError:
            return None

    if workers <= 1 or len(paths) < 2:
        return {name: one(path) for name, path in paths.items()}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(paths, pool.map(one, paths.values())))


def _npy_problem(npy: Path, entry: dict[str, Any]) -> str | None:
    """Why a cached npy cannot hold what its record says (from its header and size: no data are read), or None."""
    try:
        with open(npy, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(handle)
            expected = handle.tell() + int(np.prod(shape)) * dtype.itemsize
            size = os.fstat(handle.fileno()).st_size
    except (ValueError, OSError, EOFError) as error:
        return f"not a readable .npy file: {' '.join(str(error).split())}"
    if size < expected:
        return f"cut short: {size} bytes, its header promises {expected}"
    if size > expected:
        return f"{size - expected} bytes longer than its header says"
    if len(shape) != 2 or dtype != np.float32 or shape[0] != entry.get("n_frames"):
        return (
            f"holds a {dtype} array of shape {shape}, its record says ({entry.get('n_frames')}, {entry.get('n_mels')})"
        )
    return None


def _adopt(npy: Path, source: dict[str, Any], audio_path: Path) -> dict[str, Any] | None:
    """A record for an npy left without one by an interrupted run, if it is newer than its source."""
    try:
        if npy.stat().st_mtime_ns < source["source_mtime_ns"]:
            return None
        shape = np.load(npy, mmap_mode="r").shape
        record = {"npy": npy.name, "n_frames": int(shape[0]), "n_mels": int(shape[1]), **source}
        if _npy_problem(npy, record) is not None:
            return None
        record[HASH_KEY] = _file_hash(audio_path)
    except (OSError, ValueError, IndexError):
        return None
    return record


def _extract_one(audio_path: str, npy_path: str, cfg: FeatureConfig) -> tuple[int, int, str]:
    """Worker: featurise one clip and save it atomically; returns (n_frames, n_mels, SHA-1 of the wav).

    The file is read once: its bytes are hashed and then decoded, so the hash recorded is that of
    exactly what was featurised even if the file changes meanwhile.
    """
    with open(audio_path, "rb") as handle:
        data = handle.read()
    features = extract_features(audio_path, cfg, data=data)
    with atomic_path(npy_path) as temporary, open(temporary, "wb") as handle:  # np.save(path) would add ".npy"
        np.save(handle, features)
    return features.shape[0], features.shape[1], content_hash(data)


def _worker_init() -> None:
    """One BLAS thread per worker: with N workers on N cores, multi-threaded BLAS oversubscribes
    the CPU (measured 2.8x slower on 2 cores)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: comes with librosa's scikit-learn dependency
        return
    threadpool_limits(limits=1)


def _warm_up(cfg: FeatureConfig) -> None:
    """Run the feature code once on silence so forked workers inherit librosa's lazily imported
    modules and the cached filter bank instead of each importing them (~1 s per worker)."""
    log_mel_energies(np.zeros(4 * cfg.n_fft, dtype=np.float32), cfg)


def _mp_context() -> multiprocessing.context.BaseContext:
    """'fork' where the platform has it: workers start at once and callers need no
    ``if __name__ == "__main__"`` guard (which 'spawn' requires); the workers only run numpy,
    soundfile and librosa, never torch, so forking a process that has imported torch is fine."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _extract_chunk(
    jobs: list[tuple[str, str, str]], cfg: FeatureConfig
) -> list[tuple[str, tuple[int, int, str] | None, str | None]]:
    """Worker: several clips (name, wav, npy) per task; errors are returned per clip, not raised."""
    results: list[tuple[str, tuple[int, int, str] | None, str | None]] = []
    for name, audio_path, npy_path in jobs:
        try:
            results.append((name, _extract_one(audio_path, npy_path, cfg), None))
        except (ValueError, OSError) as exc:
            results.append((name, None, str(exc)))
    return results


def _unique_clips(clips: Iterable[ClipLike]) -> dict[str, Path]:
    """file_name -> audio path, once per clip even if the caller passes one item per caption."""
    unique: dict[str, Path] = {}
    for clip in clips:
        path = Path(clip.audio_path)
        if unique.setdefault(clip.file_name, path) != path:
            raise ValueError(
                f"clip {clip.file_name!r} is given with two audio paths: {unique[clip.file_name]} and {path}"
            )
    return unique


def cache_features(
    clips: Iterable[ClipLike],
    cache_root: str | os.PathLike[str],
    cfg: FeatureConfig,
    workers: int | None = None,
    progress: bool = True,
) -> FeatureStore:
    """Make sure every clip's features are cached under ``cache_root`` for ``cfg``; return the store.

    Clips whose record matches their wav (size, mtime and SHA-1 of the bytes) are reused; the rest
    are extracted in ``workers`` processes (default: all cores; 1 runs in this process), each
    written to its own npy. ``store.stats`` says how many were extracted, reused or adopted. Clips
    that fail (unreadable, truncated or non-finite audio: see :func:`~aac_subsampling.method.features.load_audio`)
    raise :class:`FeatureCacheError` naming them, after all the others are cached.
    """
    started = time.perf_counter()
    directory = cache_dir(cache_root, cfg)
    directory.mkdir(parents=True, exist_ok=True)
    entries = _read_manifest(directory, cfg)
    workers = workers or os.cpu_count() or 1
    unique = _unique_clips(clips)
    sources: dict[str, dict[str, Any]] = {}
    for file_name, audio_path in unique.items():
        try:
            sources[file_name] = _source_id(audio_path)
        except OSError as exc:
            raise FileNotFoundError(f"audio of clip {file_name!r} not found: {audio_path}") from exc
    # content check of the records that pass the cheap one (the costly part: every wav is read)
    candidates = {
        name: unique[name]
        for name in unique
        if _may_be_current(entries.get(name), sources[name], directory / npy_name(name))
    }
    hashes = _hash_files(candidates, workers)
    todo: dict[str, tuple[Path, dict[str, Any]]] = {}
    reused = adopted = 0
    for file_name, audio_path in unique.items():
        source = sources[file_name]
        npy = directory / npy_name(file_name)
        if file_name in hashes and hashes[file_name] == entries[file_name][HASH_KEY]:
            damage = _npy_problem(npy, entries[file_name])
            if damage is None:
                reused += 1
                continue
            print(f"feature cache: {npy} (clip {file_name!r}) is damaged ({damage}); extracting it again", flush=True)
        elif file_name not in entries and npy.is_file() and (record := _adopt(npy, source, audio_path)) is not None:
            entries[file_name] = record
            adopted += 1
            continue
        elif file_name in hashes:
            log.info("clip %r changed content (same size and mtime): extracting it again", file_name)
        entries.pop(file_name, None)
        todo[file_name] = (audio_path, source)

    failures: dict[str, str] = {}
    done = 0
    last_flush = time.monotonic()

    def record(file_name: str, result: tuple[int, int, str]) -> None:
        nonlocal done, last_flush
        n_frames, n_mels, digest = result
        entries[file_name] = {
            "npy": npy_name(file_name),
            "n_frames": n_frames,
            "n_mels": n_mels,
            **todo[file_name][1],
            HASH_KEY: digest,
        }
        done += 1
        if time.monotonic() - last_flush > FLUSH_SECONDS:
            _write_manifest(directory, cfg, entries)
            last_flush = time.monotonic()

    workers = min(workers, max(1, len(todo)))
    bar = progress_bar(total=len(todo), unit="clip", desc="features", disable=not progress or not todo)
    try:
        if workers == 1:
            for file_name, (audio_path, _) in todo.items():
                try:
                    record(file_name, _extract_one(str(audio_path), str(directory / npy_name(file_name)), cfg))
                except (ValueError, OSError) as exc:
                    failures[file_name] = str(exc)
                bar.update()
        else:
            _warm_up(cfg)
            jobs = [(name, str(path), str(directory / npy_name(name))) for name, (path, _) in todo.items()]
            size = max(1, min(16, len(jobs) // (4 * workers)))  # a few clips per task: less IPC overhead
            chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
            with ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(), initializer=_worker_init) as pool:
                futures = [pool.submit(_extract_chunk, chunk, cfg) for chunk in chunks]
                for future in as_completed(futures):
                    for name, result, error in future.result():
                        if error is None:
                            record(name, result)
                        else:
                            failures[name] = error
                        bar.update()
    finally:
        bar.close()
        _write_manifest(directory, cfg, entries)
    stats = CacheStats(extracted=done, reused=reused, adopted=adopted, seconds=time.perf_counter() - started)
    log.info(
        "features in %s: %d extracted, %d reused, %d adopted (%.1f s)",
        directory,
        stats.extracted,
        stats.reused,
        stats.adopted,
        stats.seconds,
    )
    if failures:
        raise FeatureCacheError(failures)
    return FeatureStore(directory, cfg, entries, stats)
