"""The model variants of notebook 05 and how one is trained and evaluated.

A variant is a set of overrides on top of a profile's configuration. Each one is trained and
evaluated exactly like the main runs (:func:`aac_subsampling.experiment.pipeline.train_subsampling_model`), in
its own folder ``<results>/open_questions/<variant>/seed<S>/M<M>/``, from the main folder's prepared
data. Records carry a run key with the full configuration, so a finished (variant, seed, M) is
reused and a changed one is redone.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aac_subsampling import __version__
from aac_subsampling.base.atomic import atomic_path
from aac_subsampling.base.paths import from_project
from aac_subsampling.experiment import layout, runkey
from aac_subsampling.method.config import authors_code_overrides

OPEN_QUESTIONS_DIR = "open_questions"  # under a profile's results folder
BASELINE = "paper"
STUDY_RECORD = "study.json"  # written last, with the study's run key
DEFAULT_FACTORS = (1, 16)  # the M values every question is asked at
DEFAULT_BATCH_SIZE = 16  # question (a)'s batched decodes
DEFAULT_RESAMPLES = 1000
# The study's questions, (a) to (e), by key (their titles and variants: open_questions.study.QUESTIONS). Here, in a
# module without pandas, so that ./run_all.sh can check --questions before anything heavy is imported.
QUESTION_KEYS = ("batch", "padding", "authors_code", "attention", "decoder")


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""


VARIANTS: dict[str, Variant] = {
    "paper": Variant("paper", {}, "the paper's model, as in Table 1: the baseline of every comparison"),
    "silence_padding": Variant(
        "silence_padding",
        {"model": {"padding": "silence"}},
        "shorter clips front-padded with the log-mel value of silence instead of zeros",
    ),
    "authors_code": Variant(
        "authors_code",
        authors_code_overrides(),
        "everything the authors' code did differently (Hann window + peak normalisation, "
        "ceil sub-sampling, residual on layer 2 only, their dropout, last partial batch dropped)",
    ),
    "attention": Variant(
        "attention",
        {"model": {"decoder": "attention"}},
        "an attention decoder over the last encoder layer's T_L steps (the paper's future work)",
    ),
    # Question (e). Greedy decoding, as the paper's, so that only the decoder's input differs; beam search is one
    # more override away ({"decode": {"beam_size": 3}}).
    "autoregressive": Variant(
        "autoregressive",
        {"model": {"decoder": "autoregressive"}},
        "a decoder that forms sentences: the previous word (teacher forcing in training) beside z at every step",
    ),
    "autoregressive_attention": Variant(
        "autoregressive_attention",
        {"model": {"decoder": "autoregressive_attention"}},
        "the previous word, z and an attention context over the last encoder layer at every step",
    ),
}


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown variant {name!r}; choose one of {sorted(VARIANTS)}") from None


def open_questions_dir(results_dir: Path | str) -> Path:
    return Path(results_dir) / OPEN_QUESTIONS_DIR


def variant_dir(results_dir: Path | str, variant: str) -> Path:
    """Where a variant's runs live, laid out like a results folder (:mod:`aac_subsampling.experiment.layout`)."""
    return open_questions_dir(results_dir) / get_variant(variant).name


def expected_training_key(
    profile: str, variant: str, factor: int, seed: int, results_dir: Path | str, max_epochs: int | None
) -> dict[str, Any]:
    prepared_record = Path(results_dir) / layout.PREPARED_RECORD
    data_dir = from_project(json.loads(prepared_record.read_text())["data_dir"])
    return runkey.training_key(
        profile, data_dir, factor, seed, max_epochs, prepared_record, get_variant(variant).overrides
    )


def train_and_evaluate(
    profile: str,
    variant: str,
    factor: int,
    seed: int,
    results_dir: Path | str,
    device: str = "auto",
    max_epochs: int | None = None,
    progress: bool = False,
    bootstrap_resamples: int = 200,
) -> dict[str, Any]:
    """Train (or reuse) and evaluate (or reuse) one (variant, seed, M); returns its evaluation record.

    A stage is reused only when its record's run key is the one these settings give.
    """
    from aac_subsampling.experiment.pipeline import evaluate_subsampling_model, train_subsampling_model

    results_dir = Path(results_dir)
    folder = variant_dir(results_dir, variant)
    overrides = get_variant(variant).overrides
    expected = expected_training_key(profile, variant, factor, seed, results_dir, max_epochs)
    training_record = layout.training_record(folder, seed, factor)
    shared = dict(seed=seed, device=device, progress=progress, max_epochs=max_epochs, overrides=overrides)
    if not is_current(training_record, expected) and not reuse_main_training(
        results_dir, variant, seed, factor, expected
    ):
        train_subsampling_model(profile, factor, folder, prepared_dir=results_dir, **shared)
    evaluation_record = layout.evaluation_record(folder, seed, factor)
    if not is_current(evaluation_record, runkey.evaluation_key(training_record, bootstrap_resamples)):
        evaluate_subsampling_model(
            profile, factor, folder, prepared_dir=results_dir, bootstrap_resamples=bootstrap_resamples, **shared
        )
    return json.loads(evaluation_record.read_text())


def is_current(record: Path, expected: dict[str, Any]) -> bool:
    """A stage is reused when its record holds these settings' key and the files it stands for load (a killed
    copy or a truncated checkpoint is redone), as the run engine's stages are."""
    return runkey.read_key(record) == expected and runkey.artefact_problem(record) is None


def reuse_main_training(results_dir: Path, variant: str, seed: int, factor: int, expected: dict[str, Any]) -> bool:
    """The baseline variant is the main sweep's model: when the main results folder holds that training (the same
    key, a model that loads), copy it into the variant's folder instead of training it again (M = 1 costs about
    half an hour on 2 CPU cores). True when copied. The record is copied last, so an interrupted copy is redone."""
    if get_variant(variant).overrides:
        return False
    main_record = layout.training_record(results_dir, seed, factor)
    if not is_current(main_record, expected):
        return False
    target = layout.training_record(variant_dir(results_dir, variant), seed, factor).parent
    target.mkdir(parents=True, exist_ok=True)
    for name in (layout.MODEL_FILE, layout.TRAINING_FIGURE, layout.TRAINING_RECORD):
        source = main_record.parent / name
        if source.is_file():
            with atomic_path(target / name) as temporary:
                shutil.copy2(source, temporary)
    print(f"{variant} seed={seed} M={factor}: the main sweep's training, reused", flush=True)
    return True


def default_seeds(profile: str) -> list[int]:
    """Training seeds of the study: one on the CI profile, three elsewhere (paired intervals pool them)."""
    return [0] if profile == "smoke" else [0, 1, 2]


def study_record_path(results_dir: Path | str) -> Path:
    return open_questions_dir(results_dir) / STUDY_RECORD


def study_key(
    profile: str,
    results_dir: Path | str,
    seeds: list[int] | tuple[int, ...],
    factors: list[int] | tuple[int, ...],
    max_epochs: int | None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    n_resamples: int = DEFAULT_RESAMPLES,
    questions: list[str] | tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """What the study's tables depend on; the run engine reruns notebook 05 when it changes. ``questions``: the
    keys of the questions asked (:data:`.study.QUESTION_KEYS`), None for all."""
    return {
        "questions": None if questions is None else sorted(questions),
        "stage": "open_questions",
        "profile": profile,
        "seeds": [int(s) for s in seeds],
        "M": sorted(int(m) for m in factors),
        "max_epochs_cap": max_epochs,
        "batch_size": int(batch_size),
        "n_resamples": int(n_resamples),
        "variants": {v.name: v.overrides for v in VARIANTS.values()},
        "package_version": __version__,
        "upstream": runkey.file_digest(Path(results_dir) / layout.PREPARED_RECORD),
    }
