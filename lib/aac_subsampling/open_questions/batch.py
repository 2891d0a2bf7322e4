"""Question (a): does a clip's caption depend on the other clips of its batch?

In the paper's padded mode a clip is front-padded to the batch's longest clip and the encoder runs
over the padding, so Eq. 4 keeps frames 0, M, 2M, ... of the *padded* row: which real frames survive
depends on the padding, hence on the other clips. The same trained weights are decoded four ways:
padded or packed (:class:`aac_subsampling.method.config.ModelConfig` ``sequence_mode``; packing adds no
parameter), each alone (batch 1, where the two coincide) and in batches of ``batch_size`` clips taken
in sorted order. Each decode is scored like an evaluation, under
``<results>/open_questions/decodes/<decode>/seed<S>/M<M>/``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd

from aac_subsampling.evaluation import evaluate_captions
from aac_subsampling.experiment import layout, runkey
from aac_subsampling.experiment.pipeline import load_prepared, load_trained_model, run_config, write_json
from aac_subsampling.method.decoding import greedy_decode
from aac_subsampling.method.model import CaptioningModel
from aac_subsampling.open_questions.variants import BASELINE, open_questions_dir, variant_dir

DECODES: dict[str, tuple[str, int | None]] = {  # name -> (sequence mode, batch size; None: the question's)
    "padded_alone": ("padded", 1),
    "padded_batched": ("padded", None),
    "packed_alone": ("packed", 1),
    "packed_batched": ("packed", None),
}
REFERENCE_DECODE = "padded_alone"  # a clip decoded alone: what every other decode is compared with
DECODES_RECORD = "decodes.json"


def decode_dir(results_dir: Path | str, decode: str) -> Path:
    return open_questions_dir(results_dir) / "decodes" / decode


def _record_path(results_dir: Path | str, seed: int, factor: int) -> Path:
    return layout.run_dir(open_questions_dir(results_dir) / "decodes", seed, factor) / DECODES_RECORD


def decode_key(results_dir: Path | str, seed: int, factor: int, batch_size: int) -> dict[str, Any]:
    training = layout.training_record(variant_dir(results_dir, BASELINE), seed, factor)
    return {
        "stage": "decodes",
        "batch_size": int(batch_size),
        "training": runkey.file_digest(training),
        "decodes": sorted(DECODES),
    }


def decode_paper_model(
    profile: str,
    factor: int,
    seed: int,
    results_dir: Path | str,
    batch_size: int = 16,
    device: str = "auto",
    max_epochs: int | None = None,
) -> dict[str, Any]:
    """Caption the evaluation split with the paper variant's (seed, M) model in every way of :data:`DECODES`,
    score each, and count the captions that differ from the clip decoded alone. Reused when current."""
    results_dir = Path(results_dir)
    record_path = _record_path(results_dir, seed, factor)
    key = decode_key(results_dir, seed, factor, batch_size)
    if record_path.is_file() and json.loads(record_path.read_text()).get("key") == key:
        return json.loads(record_path.read_text())
    prepared = load_prepared(results_dir)
    config = run_config(profile, factor, seed, device, max_epochs)
    padded = load_trained_model(variant_dir(results_dir, BASELINE), seed, factor, config, len(prepared.vocabulary))
    packed = CaptioningModel(dataclasses.replace(config.model, sequence_mode="packed"), len(prepared.vocabulary))
    packed.load_state_dict(padded.state_dict())
    packed.to(next(padded.parameters()).device)
    models = {"padded": padded, "packed": packed}

    clip_ids = sorted(clip.file_name for clip in prepared.clips["evaluation"])
    load = prepared.features("evaluation", config.features)
    features = {clip: load(clip) for clip in clip_ids}
    references = prepared.references("evaluation")
    pad_value = prepared.pad_value(config)
    captions: dict[str, dict[str, str]] = {}
    for name, (mode, size) in DECODES.items():
        captions[name] = greedy_decode(
            models[mode],
            clip_ids,
            features,
            prepared.vocabulary,
            config.decode.max_steps,
            size or batch_size,
            progress=False,
            pad_value=pad_value,
        )
    reference = captions[REFERENCE_DECODE]
    rows = []
    for name, (mode, size) in DECODES.items():
        directory = layout.run_dir(decode_dir(results_dir, name), seed, factor)
        evaluation = evaluate_captions(captions[name], references, work_dir=directory)
        evaluation.write(directory, stem=layout.METRICS_STEM)
        changed = sum(captions[name][c] != reference[c] for c in clip_ids)
        rows.append(
            {
                "decode": name,
                "sequence_mode": mode,
                "batch_size": size or batch_size,
                "n_clips": len(clip_ids),
                "n_changed": int(changed),
                "metrics": evaluation.corpus,
            }
        )
    record_path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({name: pd.Series(captions[name]) for name in DECODES}).rename_axis("clip_id").to_csv(
        record_path.parent / layout.PREDICTIONS_FILE
    )
    record = {"M": factor, "seed": seed, "profile": profile, "decodes": rows, "key": key}
    write_json(record_path, record)
    return record


def changed_captions_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (seed, M, decode): how many captions differ from the clip decoded alone."""
    rows = [
        {
            "seed": r["seed"],
            "M": r["M"],
            "decode": d["decode"],
            "sequence_mode": d["sequence_mode"],
            "batch_size": d["batch_size"],
            "n_clips": d["n_clips"],
            "n_changed": d["n_changed"],
            "share_changed": d["n_changed"] / d["n_clips"],
        }
        for r in records
        for d in r["decodes"]
    ]
    columns = ["seed", "M", "decode", "sequence_mode", "batch_size", "n_clips", "n_changed", "share_changed"]
    return pd.DataFrame(rows, columns=columns).sort_values(["M", "decode", "seed"]).reset_index(drop=True)
