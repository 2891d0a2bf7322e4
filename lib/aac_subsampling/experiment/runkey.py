"""Run keys: what produced a stage record, so that a record is reused only for the same settings.

Every stage record (``prepared.json``, ``seed<S>/M<M>/training.json``, ``.../evaluation.json``)
holds a ``key``: the profile, the corpus identity (data folder relative to the project, a fingerprint
of its caption files and one of its audio files, split by split), the package version and, for a
training or evaluation, the seed, M and the full configuration (every switch, as a dict and as a
hash), for an evaluation the scoring environment (Java, tokeniser, METEOR, SPICE), and the digest of
the record it was built from (``upstream``). The run engine recomputes the key a stage *would* have
and skips the stage only when the record's key is the same and the files the record stands for are
there and load (:func:`artefact_problem`); otherwise it names what changed, what is missing or what
is corrupt.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import threading
import zipfile
from pathlib import Path
from typing import Any

from aac_subsampling import __version__
from aac_subsampling.base.atomic import write_json_atomic
from aac_subsampling.base.paths import from_project, relative_to_project
from aac_subsampling.data.clotho_card import (  # split -> its captions CSV (fingerprinted); the splits' wav folders
    CAPTION_FILES,
    SPLITS,
    captions_file,
)
from aac_subsampling.experiment import layout
from aac_subsampling.experiment.profiles import get_profile
from aac_subsampling.method.config import Config


def digest(data: bytes | str) -> str:
    """A short, stable content digest (sha256, first 16 hex digits)."""
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()[:16]


def json_digest(value: Any) -> str:
    return digest(json.dumps(value, sort_keys=True, default=str))


def file_digest(path: Path) -> str | None:
    """Digest of a file's bytes; None when it does not exist."""
    path = Path(path)
    if not path.is_file():
        return None
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()[:16]


def synthetic_settings(preset: str | None) -> dict[str, Any] | None:
    """Every setting of a synthetic preset (None for Clotho), as the corpus marker records them."""
    if preset is None:
        return None
    import dataclasses

    from aac_subsampling.data.synthetic.presets import PRESETS

    return json.loads(json.dumps(dataclasses.asdict(PRESETS[preset])))


# ------------------------------------------------------------------------------- the corpus's audio

#: The audio fingerprint cache, a hidden file at the top of the corpus folder. Beside the corpus rather than
#: under a results folder: it describes the corpus's files, which every results folder (each profile, each
#: --results-dir, each notebook kernel) built from that corpus shares, and a results folder is published and
#: copied, where machine-specific sizes and modification times have no place. When the corpus folder is
#: read-only the cache lives only in the process's memory (a Clotho-sized corpus is then hashed once per process).
AUDIO_CACHE_FILE = ".aac_audio_fingerprints.json"
_AUDIO_CACHE_VERSION = 1
#: File lists kept per corpus folder (keyed by their split digest), so that a changed key can name the files
#: that changed since an earlier record: the current ones and the most recent earlier ones.
_MANIFESTS_KEPT = 12
_audio_lock = threading.Lock()  # parallel trainings compute their keys in threads of the engine
_audio_caches: dict[Path, dict[str, Any]] = {}  # resolved corpus folder -> its cache, as this process knows it


def audio_splits(data_dir: Path) -> list[str]:
    """The splits whose wav folders are fingerprinted: Clotho's two, plus validation where the corpus has it."""
    data_dir = Path(data_dir)
    has_validation = (data_dir / "validation").is_dir() or (data_dir / captions_file("validation")).is_file()
    return [*SPLITS, "validation"] if has_validation else list(SPLITS)


def _empty_audio_cache() -> dict[str, Any]:
    return {"version": _AUDIO_CACHE_VERSION, "files": {}, "manifests": {}}


def _read_audio_cache(path: Path) -> dict[str, Any]:
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, unreadable or truncated: start afresh (it is only a cache)
        return _empty_audio_cache()
    if not isinstance(cache, dict) or cache.get("version") != _AUDIO_CACHE_VERSION:
        return _empty_audio_cache()
    files, manifests = cache.get("files"), cache.get("manifests")
    return {
        "version": _AUDIO_CACHE_VERSION,
        "files": files if isinstance(files, dict) else {},
        "manifests": manifests if isinstance(manifests, dict) else {},
    }


def _prune_manifests(manifests: dict[str, Any], keep: set[str]) -> None:
    """Drop the oldest file lists beyond :data:`_MANIFESTS_KEPT`, never those in ``keep`` (the current ones)."""
    for digest_ in list(manifests):
        if len(manifests) <= _MANIFESTS_KEPT:
            break
        if digest_ not in keep:
            del manifests[digest_]


def _save_audio_cache(path: Path, cache: dict[str, Any], current: set[str]) -> None:
    """Merge ``cache`` into the file (another process may have added file lists since it was read) and write it
    atomically (:mod:`.atomic`: a reader never sees half a cache). A folder that cannot be written is fine."""
    on_disk = _read_audio_cache(path)
    merged = {**on_disk["manifests"], **cache["manifests"]}
    for digest_ in current:  # the current lists are the most recent: last, so they are evicted last
        merged[digest_] = merged.pop(digest_)
    _prune_manifests(merged, current)
    cache["manifests"] = merged
    try:
        write_json_atomic(path, cache, indent=None)
    except OSError:
        pass


def _file_stamp(stat: os.stat_result) -> list[int]:
    """What says a file is unchanged without reading it: size, modification time and inode change time (the
    last one as well because ``cp -p`` and ``touch -r`` can give a rewritten file its old modification time,
    while any write sets the change time to now)."""
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def _wav_names(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:  # as the reader lists a split's audio (.wav, any case)
        return sorted(e.name for e in entries if e.name.lower().endswith(".wav") and e.is_file())


def audio_fingerprint(data_dir: Path) -> dict[str, dict[str, Any]]:
    """split -> ``{"n_files", "digest"}`` of the corpus's wavs (:func:`audio_splits`): the digest covers every
    file's name and content. Each file's content hash is cached by (path, size, modification and change time)
    in :data:`AUDIO_CACHE_FILE`, so a rerun reads no audio; the file list behind each digest is kept there too,
    for :func:`audio_changes` to name the files that changed."""
    data_dir = Path(data_dir)
    root = data_dir.resolve()
    path = root / AUDIO_CACHE_FILE
    with _audio_lock:
        cache = _audio_caches.get(root)
        if cache is None:
            cache = _audio_caches[root] = _read_audio_cache(path)
        files: dict[str, Any] = cache["files"]
        manifests: dict[str, Any] = cache["manifests"]
        changed, seen, current, fingerprint = False, set(), set(), {}
        for split in audio_splits(root):
            listing: dict[str, str] = {}
            for name in _wav_names(root / split):
                relative = f"{split}/{name}"
                seen.add(relative)
                try:
                    stamp = _file_stamp((root / relative).stat())
                except OSError:
                    listing[name] = "unreadable"
                    continue
                known = files.get(relative)
                if isinstance(known, list) and len(known) == 4 and known[:3] == stamp:
                    listing[name] = known[3]
                    continue
                try:
                    content = file_digest(root / relative) or "missing"
                except OSError:
                    listing[name] = "unreadable"  # not cached: read again next time
                    continue
                files[relative] = [*stamp, content]
                listing[name] = content
                changed = True
            split_digest = json_digest({"split": split, "files": listing})
            fingerprint[split] = {"n_files": len(listing), "digest": split_digest}
            current.add(split_digest)
            if split_digest not in manifests:
                manifests[split_digest] = {"split": split, "files": listing}
                changed = True
        for gone in set(files) - seen:
            del files[gone]
            changed = True
        if changed and seen:  # no wav (the corpus is not made yet): no folder is created for the cache
            _save_audio_cache(path, cache, current)
        return fingerprint


def _manifest(data_dir: Path | None, split_digest: str) -> dict[str, str] | None:
    """The file list (name -> content hash) behind a split digest, when this process or the cache knows it."""
    if data_dir is None:
        return None
    root = Path(data_dir).resolve()
    with _audio_lock:
        for cache in (_audio_caches.get(root), _read_audio_cache(root / AUDIO_CACHE_FILE)):
            entry = (cache or {}).get("manifests", {}).get(split_digest)
            if isinstance(entry, dict) and isinstance(entry.get("files"), dict):
                return entry["files"]
    return None


def _named(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... and {len(names) - limit} more" if len(names) > limit else "")


def _count(n: int, what: str) -> str:
    return f"{n} file{'' if n == 1 else 's'} {what}"


def _n_files(entry: Any) -> Any:
    return entry.get("n_files", "?") if isinstance(entry, dict) else 0


def audio_changes(old: Any, new: Any, data_dir: Path | None) -> str:
    """One readable phrase for a changed audio fingerprint, naming the files that changed where the file lists
    behind both digests are known (e.g. ``audio: 1 file changed (evaluation/clip_3.wav)``)."""
    if not isinstance(old, dict):
        return "audio: the record has no audio fingerprint (made by an older version)"
    new = new if isinstance(new, dict) else {}
    changed: list[str] = []
    added: list[str] = []
    removed: list[str] = []
    unnamed: list[str] = []
    for split in sorted(set(old) | set(new)):
        before, after = old.get(split), new.get(split)
        if before == after:
            continue
        before_files = _manifest(data_dir, before["digest"]) if isinstance(before, dict) else {}
        after_files = _manifest(data_dir, after["digest"]) if isinstance(after, dict) else {}
        if before_files is None or after_files is None:
            unnamed.append(f"{split} ({_n_files(before)} -> {_n_files(after)} files)")
            continue
        for name in sorted(set(before_files) | set(after_files)):
            where = f"{split}/{name}"
            if name not in before_files:
                added.append(where)
            elif name not in after_files:
                removed.append(where)
            elif before_files[name] != after_files[name]:
                changed.append(where)
    parts = [
        f"{_count(len(names), what)} ({_named(names)})"
        for names, what in ((changed, "changed"), (added, "added"), (removed, "removed"))
        if names
    ]
    if unnamed:
        parts.append(
            f"the files of {', '.join(unnamed)} differ (the earlier file list is not in "
            f"{AUDIO_CACHE_FILE} here, so they cannot be named)"
        )
    return "audio: " + ("; ".join(parts) if parts else "the fingerprint changed")


def corpus_identity(data_dir: Path) -> dict[str, Any]:
    """Where the corpus is (relative to the project when inside it), what its captions say and what its audio
    holds (:func:`audio_fingerprint`)."""
    data_dir = Path(data_dir)
    captions = {split: file_digest(data_dir / name) for split, name in CAPTION_FILES.items()}
    validation = data_dir / captions_file("validation")  # the synthetic corpora's third split, when present
    if validation.is_file():
        captions["validation"] = file_digest(validation)
    return {"data_dir": relative_to_project(data_dir), "captions": captions, "audio": audio_fingerprint(data_dir)}


def training_config(
    profile: str,
    factor: int,
    seed: int,
    max_epochs: int | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> Config:
    """The configuration of one training: the profile's, a variant's ``overrides`` on top (notebook 05), with
    the epoch cap applied (device left out: it changes where a run computes, not what)."""
    config = get_profile(profile).config(subsampling_factor=factor, seed=seed)
    if overrides:
        config = config.with_overrides(overrides)
    if max_epochs is not None:
        if max_epochs < 1:
            raise ValueError(f"max_epochs must be a positive integer, not {max_epochs}")
        capped = min(config.train.max_epochs, int(max_epochs))
        config = config.with_overrides({"train": {"max_epochs": capped}})
    return config


def config_key(config: Config) -> dict[str, Any]:
    settings = config.to_dict()
    settings.pop("device", None)
    return {"config": settings, "config_hash": json_digest(settings)}


def prepare_key(profile: str, data_dir: Path, skip_bad: bool = False) -> dict[str, Any]:
    chosen = get_profile(profile)
    return {
        "stage": "prepare",
        "profile": chosen.name,
        "corpus": corpus_identity(data_dir),
        "skip_bad": bool(skip_bad),  # bad development clips left out (or not): a different training set
        "synthetic_preset": chosen.synthetic_preset,
        # The preset's sizes (a validation split added to a preset must remake the corpus and the prepared data)
        "synthetic_settings": synthetic_settings(chosen.synthetic_preset),
        "features": chosen.config().features.cache_key(),
        "package_version": __version__,
    }


def training_key(
    profile: str,
    data_dir: Path,
    factor: int,
    seed: int,
    max_epochs: int | None,
    prepared_record: Path,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "stage": "training",
        "profile": get_profile(profile).name,
        "seed": int(seed),
        "M": int(factor),
        "max_epochs_cap": max_epochs,
        **config_key(training_config(profile, factor, seed, max_epochs, overrides)),
        "corpus": corpus_identity(data_dir),
        "package_version": __version__,
        "upstream": file_digest(prepared_record),
    }


def evaluation_key(training_record: Path, bootstrap_resamples: int) -> dict[str, Any]:
    """An evaluation depends on the training it scores (whose key holds everything else) and on the scoring
    environment (:func:`~aac_subsampling.evaluation.environment.scoring_environment`): scores made without Java
    (no METEOR or SPICE, the fallback tokeniser) are redone once Java is there; the training is not."""
    from aac_subsampling.evaluation.environment import scoring_environment

    training, _ = record_key(training_record)
    return {
        "stage": "evaluation",
        "training": training,
        "bootstrap_resamples": int(bootstrap_resamples),
        "scoring_environment": scoring_environment(),
        "package_version": __version__,
        "upstream": file_digest(training_record),
    }


def results_key(results_dir: Path) -> dict[str, Any]:
    """Tables and figures summarise every evaluation of the folder: they depend on exactly those records."""
    runs = layout.completed_runs(results_dir)
    return {
        "stage": "results",
        "package_version": __version__,
        "evaluations": {f"seed{s}/M{m}": file_digest(layout.evaluation_record(results_dir, s, m)) for s, m in runs},
    }


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


_AUDIO_FIELD = re.compile(r"^(?P<corpus>(?:.+\.)?corpus)\.audio(?:\.|$)")


def _lookup(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def key_changes(recorded: Any, expected: dict[str, Any], limit: int = 4) -> list[str]:
    """What differs between a record's key and the expected one, one short phrase per field (the audio of a
    corpus in one phrase that names the files, see :func:`audio_changes`)."""
    if recorded is None:
        return ["the record has no run key (made by an older version or by hand)"]
    if not isinstance(recorded, dict):
        return [f"the record's key is corrupt ({_json_kind(recorded)}, not a JSON object)"]
    old, new = _flatten(recorded), _flatten(expected)
    changes = []
    audio_done: set[str] = set()
    for name in sorted(set(old) | set(new)):
        if name == "config_hash" or old.get(name) == new.get(name):
            continue
        audio = _AUDIO_FIELD.match(name)
        if audio:
            corpus = audio.group("corpus")
            if corpus not in audio_done:
                audio_done.add(corpus)
                data_dir = _lookup(expected, f"{corpus}.data_dir") or _lookup(recorded, f"{corpus}.data_dir")
                changes.append(
                    audio_changes(
                        _lookup(recorded, f"{corpus}.audio"),
                        _lookup(expected, f"{corpus}.audio"),
                        from_project(data_dir) if isinstance(data_dir, str) else None,
                    )
                )
        elif name.endswith("upstream"):
            changes.append("the stage it builds on was redone")
        else:
            changes.append(f"{name}: {old.get(name, '(absent)')!r} -> {new.get(name, '(absent)')!r}")
    if len(changes) > limit:
        changes = changes[:limit] + [f"... and {len(changes) - limit} more"]
    return changes


# ------------------------------------------------------------------------ is a record's stage complete


def read_record(record_path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(record, None)``, or ``(None, problem)``: ``"missing"``, ``"unreadable (...)"`` or ``"corrupt (...)"``
    (not valid JSON, e.g. a truncated file; or valid JSON that is not an object, e.g. ``null``)."""
    try:
        text = Path(record_path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, "missing"
    except UnicodeDecodeError:
        return None, "corrupt (not valid JSON)"
    except OSError as error:
        return None, f"unreadable ({error.strerror or error})"
    try:
        record = json.loads(text)
    except ValueError:
        return None, "corrupt (not valid JSON)"
    if not isinstance(record, dict):
        return None, f"corrupt (holds {_json_kind(record)}, not a JSON object)"
    return record, None


def record_key(record_path: Path) -> tuple[Any, str | None]:
    """``(key, None)`` (``key`` None when the record has none: an older version's), or ``(None, problem)`` as
    :func:`read_record` says it, or when the key is not a JSON object."""
    record, problem = read_record(record_path)
    if record is None:
        return None, problem
    key = record.get("key")
    if key is not None and not isinstance(key, dict):
        return None, f"corrupt (its key is {_json_kind(key)}, not a JSON object)"
    return key, None


def read_key(record_path: Path) -> dict[str, Any] | None:
    """The record's key; None when it has none, or is missing or corrupt (:func:`record_key` says which)."""
    return record_key(record_path)[0]


def load_torch_file(path: Path) -> tuple[Any, str | None]:
    """``(value, None)`` when ``path`` is a complete ``torch.save`` file that loads with ``weights_only=True`` (on
    the CPU); else ``(None, problem)``, the problem as a phrase after the file's name: ``"is missing"``, ``"is
    corrupt (...)"`` (truncated or damaged) or ``"was written by an older version (...)"`` (it holds more than
    tensors and plain values).

    The zip archive ``torch.save`` writes is checked first (every member against its CRC), so that a truncated
    or damaged file is named corrupt without unpickling anything."""
    import pickle

    path = Path(path)
    if not path.is_file():
        return None, "is missing"
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, EOFError):
        return None, "is corrupt (not a complete zip archive: truncated or damaged)"
    except OSError as error:
        return None, f"is unreadable ({error.strerror or error})"
    if damaged is not None:
        return None, f"is corrupt (its member {damaged} fails its checksum)"
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True), None
    except pickle.UnpicklingError as error:
        last = str(error).strip().splitlines()[-1][:160] if str(error).strip() else type(error).__name__
        return None, f"was written by an older version (it holds more than tensors and plain values: {last})"
    except Exception as error:  # torch raises RuntimeError, KeyError, EOFError... on a bad archive
        return None, f"is corrupt (torch.load failed: {type(error).__name__}: {str(error).strip()[:160]})"


def torch_file_problem(path: Path, *, state_dict: bool = False) -> str | None:
    """None when ``path`` loads (:func:`load_torch_file`) and, with ``state_dict``, holds a dict (a model's
    weights); else what is wrong, as a phrase after the file's name."""
    value, problem = load_torch_file(path)
    if problem is None and state_dict and not isinstance(value, dict):
        return f"is corrupt (it holds {type(value).__name__}, not a model's weights)"
    return problem


def _csv_problem(path: Path, n_rows: int | None) -> str | None:
    """None when ``path`` is a CSV with a header and (when ``n_rows`` is given) that many rows."""
    if not path.is_file():
        return "is missing"
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = sum(1 for _ in csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        return f"is corrupt (not a readable CSV: {error})"
    if rows == 0:
        return "is corrupt (empty)"
    if n_rows is not None and rows - 1 != n_rows:
        return f"is corrupt ({rows - 1} rows, the record scores {n_rows} clips)"
    return None


def _evaluation_files(directory: Path, record: dict[str, Any]) -> list[tuple[Path, bool]]:
    """(file, one row per clip?) of what an evaluation record stands for (:mod:`.layout`)."""
    files = [
        (directory / f"{layout.METRICS_STEM}_per_clip.csv", True),
        (directory / f"{layout.METRICS_STEM}_stats.csv", False),
        (directory / layout.PREDICTIONS_FILE, True),
        (directory / layout.BOOTSTRAP_FILE, False),
    ]
    if record.get("swapped_audio"):
        files.append((directory / f"{layout.SWAPPED_METRICS_STEM}_per_clip.csv", True))
    if record.get("facts"):
        files.append((directory / layout.FACTS_FILE, True))
    return files


def artefact_problem(record_path: Path) -> str | None:
    """None when the files a stage record stands for are there and load; else which one is missing or corrupt
    (e.g. ``"model.pt is missing"``). A training: ``model.pt`` (loaded with ``weights_only=True``); an
    evaluation: its per-clip metrics, statistics, predictions and bootstrap intervals (one row per scored clip
    where the record says how many), and the swapped-audio scores and facts when the record has them; the data
    preparation: the vocabulary."""
    record_path = Path(record_path)
    directory = record_path.parent
    if record_path.name == layout.TRAINING_RECORD:
        problem = torch_file_problem(directory / layout.MODEL_FILE, state_dict=True)
        return None if problem is None else f"{layout.MODEL_FILE} {problem}"
    if record_path.name == layout.PREPARED_RECORD:
        _, problem = read_record(directory / layout.VOCABULARY_FILE)
        return None if problem is None else f"{layout.VOCABULARY_FILE} is {problem}"
    if record_path.name == layout.EVALUATION_RECORD:
        record, problem = read_record(record_path)
        if record is None:
            return f"{record_path.name} is {problem}"
        n_clips = record.get("n_clips")
        n_clips = n_clips if isinstance(n_clips, int) and not isinstance(n_clips, bool) else None
        for path, per_clip in _evaluation_files(directory, record):
            problem = _csv_problem(path, n_clips if per_clip else None)
            if problem is not None:
                return f"{path.name} {problem}"
    return None
