"""The experiment's steps, one function each, called by the notebooks (which hold no logic).

1. :func:`prepare_data` (:mod:`.prepare`): corpus (synthetic or Clotho v1), checks, features, vocabulary.
2. :func:`train_subsampling_model` (:mod:`.train`): one model for one sub-sampling factor M, resumable.
3. :func:`evaluate_subsampling_model` (:mod:`.evaluate`): captions for the evaluation split, metrics, Table 2
   columns.
4. The tables and figures (notebook 04): :func:`aac_subsampling.analysis.summary.summarise_results`, in the
   analysis layer above this one.

Each step writes a JSON record at its very end (``prepared.json``, ``seed<S>/M<M>/training.json``,
``seed<S>/M<M>/evaluation.json``; see :mod:`aac_subsampling.experiment.layout`) holding the run key of what
produced it (:mod:`aac_subsampling.experiment.runkey`); the run engine (:mod:`aac_subsampling.run`) skips a stage
whose record has the key it expects. Paths in records are relative to the project root, so that a results folder
survives a new clone. Every name is importable from here: ``from aac_subsampling.experiment import pipeline``.
"""

from aac_subsampling.experiment.pipeline.evaluate import (
    evaluate_subsampling_model,
    finite_mean,
    load_trained_model,
    score_corpus_facts,
    timed_decode,
    write_predictions,
)
from aac_subsampling.experiment.pipeline.prepare import (
    CORPUS_SEED,
    VALIDATION_SPLIT,
    LongCaptionWarning,
    PreparedData,
    check_minimum_length,
    corpus_splits,
    ensure_corpus,
    load_prepared,
    long_captions,
    prepare_data,
    warn_long_captions,
)
from aac_subsampling.experiment.pipeline.records import read_json, write_json
from aac_subsampling.experiment.pipeline.train import (
    Overrides,
    checkpoint_matches,
    checkpoint_problem,
    discard_unusable_checkpoint,
    epoch_logger,
    normalised_references,
    run_config,
    train_subsampling_model,
    training_dataset,
    validation_scorer,
)

__all__ = [
    "CORPUS_SEED",
    "VALIDATION_SPLIT",
    "LongCaptionWarning",
    "Overrides",
    "PreparedData",
    "check_minimum_length",
    "checkpoint_matches",
    "checkpoint_problem",
    "corpus_splits",
    "discard_unusable_checkpoint",
    "ensure_corpus",
    "epoch_logger",
    "evaluate_subsampling_model",
    "finite_mean",
    "load_prepared",
    "load_trained_model",
    "long_captions",
    "normalised_references",
    "prepare_data",
    "read_json",
    "run_config",
    "score_corpus_facts",
    "timed_decode",
    "train_subsampling_model",
    "training_dataset",
    "validation_scorer",
    "warn_long_captions",
    "write_json",
    "write_predictions",
]
