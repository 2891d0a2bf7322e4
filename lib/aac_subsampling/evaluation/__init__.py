"""Caption evaluation: the DCASE 2020 coco-caption metrics, SPICE support and bootstrap CIs.

One module per concept:

* :mod:`.evaluate`: :func:`evaluate_captions` (the entry point), :class:`EvaluationResult`,
  :class:`ResultFiles`, input validation and the order the metrics run in.
* :mod:`.tokenization`: caption tokenisation (Stanford PTBTokenizer, and its pure-Python fallback).
* :mod:`.bleu`: BLEU1-4 and its per-clip sufficient statistics (:func:`bleu_from_stats`).
* :mod:`.meteor`: the persistent METEOR 1.5 process and METEOR's formula (:func:`meteor_from_stats`).
* :mod:`.rouge`: ROUGE-L. :mod:`.cider`: CIDEr-D (reported as "CIDEr").
* :mod:`.spice`: SPICE 1.0 (jars, command line, run with its timeout, CoreNLP download).
* :mod:`.spider`: SPIDEr, composed from CIDEr-D and SPICE.
* :mod:`.bootstrap`: bootstrap confidence intervals over clips (:func:`bootstrap_ci`).
* :mod:`.java`: the one Java finder (:func:`find_java`) and what happens without Java.
* :mod:`.coco`: where pycocoevalcap's jars are, and its input format.
* :mod:`.environment`: :func:`scoring_environment` (Java, tokeniser, METEOR, SPICE), held in evaluation run keys.
"""

from importlib import import_module
from typing import Any

# Names are imported on first use (PEP 562), so that ``from aac_subsampling.evaluation.java import find_java``
# (the preflight) does not pay for pandas and pycocoevalcap.
_HOMES = {
    "bleu_from_stats": "bleu",
    "bootstrap_ci": "bootstrap",
    "METRIC_NAMES": "evaluate",
    "ClipIdMismatchError": "evaluate",
    "EvaluationResult": "evaluate",
    "ResultFiles": "evaluate",
    "evaluate_captions": "evaluate",
    "JAVA_METRICS": "java",
    "JavaNotFoundError": "java",
    "MetricUnavailableWarning": "java",
    "find_java": "java",
    "java_major_version": "java",
    "MeteorScorer": "meteor",
    "meteor_from_stats": "meteor",
    "CORENLP_URL": "spice",
    "SpiceUnavailableError": "spice",
    "fetch_corenlp": "spice",
    "spice_command": "spice",
    "spice_status": "spice",
    "fallback_tokenize": "tokenization",
    "scoring_environment": "environment",
    "ptb_tokenize": "tokenization",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_HOMES))


__all__ = [
    "CORENLP_URL",
    "JAVA_METRICS",
    "METRIC_NAMES",
    "ClipIdMismatchError",
    "EvaluationResult",
    "JavaNotFoundError",
    "MeteorScorer",
    "MetricUnavailableWarning",
    "ResultFiles",
    "SpiceUnavailableError",
    "bleu_from_stats",
    "bootstrap_ci",
    "evaluate_captions",
    "fallback_tokenize",
    "fetch_corenlp",
    "find_java",
    "java_major_version",
    "meteor_from_stats",
    "ptb_tokenize",
    "scoring_environment",
    "spice_command",
    "spice_status",
]
