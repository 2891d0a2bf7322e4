"""Caption evaluation: the DCASE 2020 coco-caption metrics, SPICE support and bootstrap CIs.

Main entry point: :func:`evaluate_captions` (see :mod:`.metrics`). Caption
tokenisation (PTB and its pure-Python fallback): :mod:`.tokenization`. The
persistent METEOR process: :mod:`.meteor`. SPICE prerequisites and its
command line: :mod:`.spice`. Confidence intervals over clips:
:func:`bootstrap_ci` (:mod:`.bootstrap`).
"""

from .bootstrap import bleu_from_stats, bootstrap_ci, meteor_from_stats
from .meteor import MeteorScorer
from .metrics import (
    JAVA_METRICS,
    METRIC_NAMES,
    ClipIdMismatchError,
    EvaluationResult,
    JavaNotFoundError,
    MetricUnavailableWarning,
    ResultFiles,
    evaluate_captions,
)
from .spice import (
    CORENLP_URL,
    SpiceUnavailableError,
    fetch_corenlp,
    find_java,
    java_major_version,
    spice_command,
    spice_status,
)
from .tokenization import fallback_tokenize, ptb_tokenize

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
    "spice_command",
    "spice_status",
]
