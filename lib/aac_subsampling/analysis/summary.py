"""The results stage (notebook 04): the audio-blind floors of the corpus, every table and figure of a results
folder (all its evaluated seeds and M), and ``summary.json``, which says which evaluations they summarise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aac_subsampling.analysis.floors import FLOOR_NAMES, floor_captions
from aac_subsampling.analysis.report import write_report
from aac_subsampling.evaluation import evaluate_captions
from aac_subsampling.experiment import layout, runkey
from aac_subsampling.experiment.pipeline import finite_mean, load_prepared, read_json, score_corpus_facts, write_json
from aac_subsampling.experiment.profiles import get_profile


def evaluate_floors(results_dir: Path, seed: int = 0) -> dict[str, Any]:
    """Score the audio-blind floors (:mod:`.floors`: the constant caption and the language-prior
    caption, both made from this corpus's development captions) on the evaluation split; their per-clip scores
    go to ``floors/<name>/`` for the paired comparisons, their corpus scores to ``floors.json`` (cached while
    the prepared data are the same).

    A model that ignores the audio can at best say one such caption for every clip: the trained models must
    beat both for their captions to depend on the audio.
    """
    results_dir = Path(results_dir)
    path = results_dir / layout.FLOORS_RECORD
    prepared_digest = runkey.file_digest(results_dir / layout.PREPARED_RECORD)
    if path.exists():
        record = json.loads(path.read_text())
        complete = set(record.get("floors", {})) == set(FLOOR_NAMES) and all(
            layout.floor_clip_scores(results_dir, name).is_file() for name in FLOOR_NAMES
        )
        if record.get("prepared") == prepared_digest and complete:
            return record
    prepared = load_prepared(results_dir)
    development = [c for clip in prepared.clips["development"] for c in clip.captions]
    references = prepared.references("evaluation")
    floors: dict[str, Any] = {}
    for name, caption in floor_captions(development, seed=seed).items():
        directory = layout.floor_dir(results_dir, name)
        directory.mkdir(parents=True, exist_ok=True)
        predictions = {clip: caption for clip in references}
        evaluation = evaluate_captions(predictions, references, work_dir=directory)
        evaluation.write(directory, stem=layout.METRICS_STEM)
        facts = score_corpus_facts(prepared, "evaluation", predictions)
        if facts is not None:
            facts.to_csv(directory / layout.FACTS_FILE, float_format="%.6g")
        floors[name] = {
            "caption": caption,
            "metrics": evaluation.corpus,
            "unavailable": evaluation.unavailable,
            "facts": None if facts is None else {n: finite_mean(facts[n]) for n in facts.columns},
        }
    record = {"floors": floors, "prepared": prepared_digest}
    write_json(path, record)
    return record


def check_comparable(results_dir: Path) -> list[tuple[int, int]]:
    """The folder's evaluated (seed, M); an error when they were trained under different settings (other than
    the seed and M), which one table must not mix."""
    runs = layout.completed_runs(results_dir)
    settings: dict[str, list[str]] = {}
    for seed, factor in runs:
        key = read_json(layout.training_record(results_dir, seed, factor), "training record").get("key") or {}
        config = json.loads(json.dumps(key.get("config", {})))
        config.get("train", {}).pop("seed", None)
        config.get("model", {}).pop("subsampling_factor", None)
        signature = json.dumps(
            {"config": config, "corpus": key.get("corpus"), "profile": key.get("profile")}, sort_keys=True
        )
        settings.setdefault(signature, []).append(f"seed{seed}/M{factor}")
    if len(settings) > 1:
        groups = "; ".join(", ".join(names[:4]) + (" ..." if len(names) > 4 else "") for names in settings.values())
        raise ValueError(
            f"{results_dir} holds runs made under different settings ({groups}); one table must not "
            "mix them: give each setting its own --results-dir"
        )
    return runs


def summarise_results(profile_name: str, results_dir: Path, progress: bool = True, context: bool = True):
    """Every table and figure of the folder (all its evaluated seeds and M), the audio-blind floors of its
    corpus (:func:`evaluate_floors`), and ``summary.json`` (which evaluations they summarise)."""
    results_dir = Path(results_dir)
    runs = check_comparable(results_dir)
    if not runs:
        raise FileNotFoundError(f"no evaluation records under {results_dir}; run notebook 03 (or ./run_all.sh) first")
    synthetic = get_profile(profile_name).corpus == "synthetic"
    label = f"this run ({profile_name} profile{', synthetic corpus' if synthetic else ''})"
    floors = evaluate_floors(results_dir)
    report = write_report(
        results_dir, layout.figures_dir(results_dir), our_label=label, progress=progress, context=context
    )
    seeds = sorted({seed for seed, _ in runs})
    factors = sorted({factor for _, factor in runs})
    write_json(
        results_dir / layout.SUMMARY_RECORD, {"seeds": seeds, "M": factors, "key": runkey.results_key(results_dir)}
    )
    return report, floors
