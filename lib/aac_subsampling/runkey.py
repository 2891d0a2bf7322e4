"""Run keys: what produced a stage record, so that a record is reused only for the same settings.

Every stage record (``prepared.json``, ``seed<S>/M<M>/training.json``, ``.../evaluation.json``)
holds a ``key``: the profile, the corpus identity (data folder relative to the project, plus a
fingerprint of its caption files), the package version and, for a training or evaluation, the seed,
M and the full configuration (every switch, as a dict and as a hash), and the digest of the record
it was built from (``upstream``). The run engine recomputes the key a stage *would* have and skips the
stage only when the record's key is the same; otherwise it names what changed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from aac_subsampling import __version__, layout
from aac_subsampling.config import Config
from aac_subsampling.data.clotho_card import CAPTION_FILES, captions_file  # split -> its captions CSV (fingerprinted)
from aac_subsampling.paths import relative_to_project
from aac_subsampling.profiles import get_profile


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


def corpus_identity(data_dir: Path) -> dict[str, Any]:
    """Where the corpus is (relative to the project when inside it) and what its captions say."""
    data_dir = Path(data_dir)
    captions = {split: file_digest(data_dir / name) for split, name in CAPTION_FILES.items()}
    validation = data_dir / captions_file("validation")  # the synthetic corpora's third split, when present
    if validation.is_file():
        captions["validation"] = file_digest(validation)
    return {"data_dir": relative_to_project(data_dir), "captions": captions}


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


def prepare_key(profile: str, data_dir: Path) -> dict[str, Any]:
    chosen = get_profile(profile)
    return {
        "stage": "prepare",
        "profile": chosen.name,
        "corpus": corpus_identity(data_dir),
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
    """An evaluation depends on the training it scores (whose key holds everything else)."""
    record = json.loads(Path(training_record).read_text()) if Path(training_record).is_file() else {}
    return {
        "stage": "evaluation",
        "training": record.get("key"),
        "bootstrap_resamples": int(bootstrap_resamples),
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


def key_changes(recorded: dict[str, Any] | None, expected: dict[str, Any], limit: int = 4) -> list[str]:
    """What differs between a record's key and the expected one, one short phrase per field."""
    if recorded is None:
        return ["the record has no run key (made by an older version or by hand)"]
    old, new = _flatten(recorded), _flatten(expected)
    changes = []
    for name in sorted(set(old) | set(new)):
        if name == "config_hash" or old.get(name) == new.get(name):
            continue
        if name.endswith("upstream"):
            changes.append("the stage it builds on was redone")
        else:
            changes.append(f"{name}: {old.get(name, '(absent)')!r} -> {new.get(name, '(absent)')!r}")
    if len(changes) > limit:
        changes = changes[:limit] + [f"... and {len(changes) - limit} more"]
    return changes


def read_key(record_path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(Path(record_path).read_text()).get("key")
    except (OSError, json.JSONDecodeError):
        return None
