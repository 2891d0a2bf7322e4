"""Caption metrics of the DCASE 2020 evaluation tools, for a whole split in one call.

:func:`evaluate_captions` scores one predicted caption per clip against all
the clip's references with the coco-caption metrics the DCASE 2020
caption-evaluation tools report (BLEU1-4, METEOR 1.5, ROUGE-L, CIDEr, SPICE,
SPIDEr), using pycocoevalcap's own scorers and jars:

* Tokenisation (:mod:`.tokenization`): Stanford PTBTokenizer
  (``stanford-corenlp-3.4.1.jar`` shipped in pycocoevalcap) with
  ``-preserveLines -lowerCase``, then removal of the tokens in
  pycocoevalcap's ``PUNCTUATIONS`` list, exactly as
  ``pycocoevalcap.tokenizer.ptbtokenizer.PTBTokenizer``. The jar is called
  directly (same class and flags) so that the chosen ``java`` is used and the
  temporary input file lives in this run's directory rather than inside the
  installed package; references and predictions are tokenised in two runs,
  as COCOEvalCap does (PTB's look-ahead crosses line ends). Unlike
  pycocoevalcap, the JVM is told to use UTF-8 for files and stdout, so
  non-ASCII captions do not depend on the locale. Without Java,
  :func:`~.tokenization.fallback_tokenize` (pure Python) imitates it.
* BLEU: ``BleuScorer(n=4)`` with the 'closest' reference length, as
  pycocoevalcap's ``Bleu``; per-clip n-gram counts are kept for the bootstrap.
* METEOR 1.5: ``meteor-1.5.jar -stdio -l en -norm`` (pycocoevalcap's command)
  driven by :class:`~.meteor.MeteorScorer`: one JVM per evaluation, started
  first so that its start-up overlaps tokenisation and the Python metrics,
  and always terminated afterwards.
* ROUGE-L: pycocoevalcap ``Rouge`` (LCS F-measure, beta = 1.2).
* CIDEr: pycocoevalcap ``Cider``. pycocoevalcap 1.2 ships no separate
  ``CiderD`` class; its ``Cider`` *is* CIDEr-D (n = 1..4, n-gram tf-idf with
  document frequencies from the evaluated references, clipped
  hypothesis weights, Gaussian length penalty sigma = 6, x10), and it is the
  class the DCASE 2020 caption-evaluation tools call through ``COCOEvalCap``.
  It is reported as "CIDEr", as the paper does.
* SPICE 1.0 via :mod:`.spice` where it can run, and SPIDEr = (CIDEr + SPICE) / 2.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .bootstrap import BLEU_STAT_COLUMNS, METEOR_STAT_COLUMNS, bootstrap_ci
from .meteor import MeteorScorer
from .spice import (
    SpiceUnavailableError,
    find_java,
    java_major_version,
    run_spice,
    spice_status,
)
from .tokenization import fallback_tokenize, ptb_tokenize

__all__ = [
    "JAVA_METRICS",
    "METRIC_NAMES",
    "ClipIdMismatchError",
    "EvaluationResult",
    "JavaNotFoundError",
    "MeteorScorer",
    "MetricUnavailableWarning",
    "ResultFiles",
    "bleu_scores",
    "cider_scores",
    "evaluate_captions",
    "fallback_tokenize",
    "ptb_tokenize",
    "rouge_scores",
    "validate_inputs",
]

#: Metric names, in reporting order.
METRIC_NAMES = (
    "BLEU1",
    "BLEU2",
    "BLEU3",
    "BLEU4",
    "ROUGE_L",
    "METEOR",
    "CIDEr",
    "SPICE",
    "SPIDEr",
)
#: Metrics that need a Java runtime.
JAVA_METRICS = ("METEOR", "SPICE", "SPIDEr")

NO_JAVA_REASON = (
    "no Java runtime found (METEOR, SPICE need Java 8+; captions were tokenised "
    "with the pure-Python PTB fallback)"
)


class ClipIdMismatchError(ValueError):
    """Predictions and references do not cover the same clip ids."""


class JavaNotFoundError(RuntimeError):
    """No Java runtime, and the caller asked for the Java metrics (``require_java``)."""


class MetricUnavailableWarning(UserWarning):
    """A metric could not be computed and is reported as ``None``."""


# --------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------


def _preview(ids: Sequence[object], limit: int = 5) -> str:
    shown = ", ".join(repr(i) for i in ids[:limit])
    return shown + (", ..." if len(ids) > limit else "")


def validate_inputs(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> list[str]:
    """Check the inputs and return the clip ids in sorted order.

    Predictions and references must cover the same ids (the error names the
    first missing and extra ids and their counts); each prediction must be a
    string (an empty string is allowed and scored); each reference entry must
    be a non-empty list of strings.
    """
    pred_ids, ref_ids = set(predictions), set(references)
    if pred_ids != ref_ids:
        missing = sorted(ref_ids - pred_ids, key=str)
        extra = sorted(pred_ids - ref_ids, key=str)
        parts = []
        if missing:
            parts.append(f"{len(missing)} clip(s) without a prediction: {_preview(missing)}")
        if extra:
            parts.append(f"{len(extra)} predicted clip(s) without references: {_preview(extra)}")
        raise ClipIdMismatchError(
            "predictions and references cover different clip ids; " + "; ".join(parts)
        )
    if not pred_ids:
        raise ValueError("nothing to evaluate: no clips")
    ids = sorted(pred_ids, key=str)
    bad_preds = [i for i in ids if not isinstance(predictions[i], str)]
    if bad_preds:
        raise TypeError(f"predictions must be strings; not for {_preview(bad_preds)}")
    bad_refs = [
        i
        for i in ids
        if isinstance(references[i], (str, bytes))
        or not isinstance(references[i], Sequence)
        or len(references[i]) == 0
        or not all(isinstance(r, str) for r in references[i])
    ]
    if bad_refs:
        raise ValueError(
            f"references must be non-empty lists of strings; not for {_preview(bad_refs)}"
        )
    return ids


# --------------------------------------------------------------------------
# Offline metrics (pycocoevalcap scorers)
# --------------------------------------------------------------------------


def _as_coco(references: Sequence[Sequence[str]], predictions: Sequence[str]):
    gts = {i: list(refs) for i, refs in enumerate(references)}
    res = {i: [pred] for i, pred in enumerate(predictions)}
    return gts, res


def bleu_scores(
    references: Sequence[Sequence[str]], predictions: Sequence[str]
) -> tuple[list[float], np.ndarray, np.ndarray]:
    """Corpus BLEU1-4, per-clip BLEU1-4 ``(n, 4)`` and per-clip counts ``(n, 10)``.

    Counts follow :data:`BLEU_STAT_COLUMNS`; the reference length is the
    'closest' one pycocoevalcap's ``Bleu`` uses.
    """
    from pycocoevalcap.bleu.bleu_scorer import BleuScorer

    scorer = BleuScorer(n=4)
    for refs, pred in zip(references, predictions):
        scorer += (pred, list(refs))
    corpus, per_clip = scorer.compute_score(option="closest", verbose=0)
    counts = np.array(
        [
            [
                c["testlen"],
                scorer._single_reflen(c["reflen"], "closest", c["testlen"]),
                *c["guess"],
                *c["correct"],
            ]
            for c in scorer.ctest
        ],
        dtype=float,
    ).reshape(len(predictions), len(BLEU_STAT_COLUMNS))
    return [float(s) for s in corpus], np.asarray(per_clip, dtype=float).T, counts


def rouge_scores(
    references: Sequence[Sequence[str]], predictions: Sequence[str]
) -> tuple[float, np.ndarray]:
    """Corpus and per-clip ROUGE-L (pycocoevalcap ``Rouge``)."""
    from pycocoevalcap.rouge.rouge import Rouge

    corpus, per_clip = Rouge().compute_score(*_as_coco(references, predictions))
    return float(corpus), np.asarray(per_clip, dtype=float)


def cider_scores(
    references: Sequence[Sequence[str]], predictions: Sequence[str]
) -> tuple[float, np.ndarray]:
    """Corpus and per-clip CIDEr-D (pycocoevalcap ``Cider``; see module docstring)."""
    from pycocoevalcap.cider.cider import Cider

    corpus, per_clip = Cider().compute_score(*_as_coco(references, predictions))
    return float(corpus), np.asarray(per_clip, dtype=float)


# --------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultFiles:
    """Paths written by :meth:`EvaluationResult.write`."""

    per_clip: Path
    corpus: Path
    stats: Path


def _json_number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass
class EvaluationResult:
    """Scores of one split.

    ``corpus``: metric -> corpus score, ``None`` when unavailable.
    ``per_clip``: DataFrame indexed by clip id (``clip_id``), one float column
    per metric in :data:`METRIC_NAMES` order (NaN for unavailable metrics).
    ``unavailable``: metric -> one-line reason. ``stats``: per-clip sufficient
    statistics (BLEU n-gram counts, METEOR alignment statistics) for
    :meth:`bootstrap`. ``tokenizer``: ``"ptb"`` or ``"fallback"``.
    """

    corpus: dict[str, float | None]
    per_clip: pd.DataFrame
    unavailable: dict[str, str] = field(default_factory=dict)
    stats: pd.DataFrame = field(default_factory=pd.DataFrame)
    tokenizer: Literal["ptb", "fallback"] = "ptb"
    notes: dict[str, str] = field(default_factory=dict)

    def bootstrap(
        self, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
    ) -> pd.DataFrame:
        """:func:`~.bootstrap.bootstrap_ci` over this result's clips (with its stats)."""
        return bootstrap_ci(
            self.per_clip, n_resamples, seed, confidence, stats=self.stats
        )

    def write(self, out_dir: Path | str, stem: str = "metrics") -> ResultFiles:
        """Write ``<stem>_per_clip.csv``, ``<stem>_corpus.json`` and ``<stem>_stats.csv``.

        The JSON holds the corpus scores (``null`` when unavailable), the
        reasons, the tokeniser used, the clip count and notes.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = ResultFiles(
            per_clip=out / f"{stem}_per_clip.csv",
            corpus=out / f"{stem}_corpus.json",
            stats=out / f"{stem}_stats.csv",
        )
        self.per_clip.to_csv(files.per_clip, float_format="%.17g")
        self.stats.to_csv(files.stats, float_format="%.17g")
        payload = {
            "metrics": {m: _json_number(self.corpus.get(m)) for m in METRIC_NAMES},
            "unavailable": dict(self.unavailable),
            "n_clips": int(len(self.per_clip)),
            "tokenizer": self.tokenizer,
            "notes": dict(self.notes),
            "per_clip_file": files.per_clip.name,
            "stats_file": files.stats.name,
        }
        files.corpus.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
        return files


# --------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------

SpiceMode = Literal["auto"] | bool


def _tokenize_all(
    ids: Sequence[str],
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    *,
    java: str | None,
    run_dir: Path,
) -> tuple[list[list[str]], list[str]]:
    """Tokenised references (per clip) and predictions.

    As COCOEvalCap, references and predictions are tokenised in two separate
    runs (PTB's look-ahead crosses line ends, so the grouping matters); with
    Java the two JVMs run concurrently.
    """
    ref_sentences = [r for i in ids for r in references[i]]
    pred_sentences = [predictions[i] for i in ids]
    if java:
        with ThreadPoolExecutor(max_workers=2) as pool:
            ref_job = pool.submit(ptb_tokenize, ref_sentences, java=java, run_dir=run_dir)
            pred_job = pool.submit(ptb_tokenize, pred_sentences, java=java, run_dir=run_dir)
            ref_tokens, preds = ref_job.result(), pred_job.result()
    else:
        ref_tokens, preds = fallback_tokenize(ref_sentences), fallback_tokenize(pred_sentences)
    refs, pos = [], 0
    for i in ids:
        n = len(references[i])
        refs.append(ref_tokens[pos : pos + n])
        pos += n
    return refs, preds


def _spice_scores(
    refs: Sequence[Sequence[str]],
    preds: Sequence[str],
    *,
    mode: SpiceMode,
    java: str | None,
    run_dir: Path,
    cache_dir: Path | None,
) -> tuple[float | None, np.ndarray | None, str | None]:
    """(corpus, per-clip, reason-if-unavailable) for SPICE."""
    if mode is False:
        return None, None, "disabled (spice=False)"
    if java is None:
        reason = NO_JAVA_REASON
    else:
        available, reason = spice_status(java)
        if available:
            try:
                run = run_spice(
                    refs,
                    preds,
                    java=java,
                    run_dir=run_dir,
                    cache_dir=cache_dir,
                    java_major=java_major_version(java),
                )
                return run.corpus, np.asarray(run.per_clip, dtype=float), None
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                if mode is True:
                    raise
                reason = " ".join(str(exc).split())[:300]
    if mode is True:
        raise SpiceUnavailableError(f"SPICE cannot run: {reason}")
    return None, None, reason


def evaluate_captions(
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    *,
    spice: SpiceMode = "auto",
    work_dir: Path | str | None = None,
    java: str | os.PathLike[str] | None = None,
    require_java: bool = False,
    spice_cache: Path | None = None,
    meteor: MeteorScorer | None = None,
) -> EvaluationResult:
    """Score one predicted caption per clip against all of its references.

    ``predictions``: clip id -> caption (an empty caption is scored, not
    dropped). ``references``: clip id -> non-empty list of captions. Both must
    cover the same ids (:class:`ClipIdMismatchError` otherwise).

    ``spice``: ``"auto"`` runs SPICE when :func:`~.spice.spice_status` says it
    can (else SPICE and SPIDEr are ``None`` with the reason); ``True`` raises
    :class:`~.spice.SpiceUnavailableError` instead; ``False`` skips it.
    ``java``: Java launcher (default: ``java`` on ``PATH``, then
    ``$JAVA_HOME``). Without Java, BLEU, ROUGE_L and CIDEr are still computed
    on :func:`fallback_tokenize` tokens, METEOR/SPICE/SPIDEr are ``None``
    and a :class:`MetricUnavailableWarning` is emitted; with
    ``require_java=True`` a :class:`JavaNotFoundError` is raised instead.
    ``work_dir``: parent of this run's temporary directory (system temp by
    default); the directory is removed afterwards. ``spice_cache``: SPICE's
    persistent parse cache (default :func:`~.spice.default_spice_cache`).
    ``meteor``: an open :class:`MeteorScorer` to reuse (the caller closes it);
    by default one is started for this call and closed before returning.
    """
    ids = validate_inputs(predictions, references)
    java_path, unavailable = _resolve_java(java, require_java)
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="aac-eval-", dir=work_dir))
    own_meteor: MeteorScorer | None = None
    try:
        if java_path is not None and meteor is None:
            # Start first: its JVM start-up overlaps tokenisation and BLEU/ROUGE/CIDEr.
            own_meteor = MeteorScorer(java_path, stderr_path=run_dir / "meteor_stderr.txt")
        refs, preds = _tokenize_all(ids, predictions, references, java=java_path, run_dir=run_dir)
        table = _ScoreTable(len(ids))
        table.add_offline(refs, preds)
        scorer = meteor if meteor is not None else own_meteor
        if scorer is not None:
            table.add_meteor(scorer, refs, preds)
        if own_meteor is not None:
            own_meteor.close()
        if java_path is not None or spice is True:
            spice_corpus, spice_clip, reason = _spice_scores(
                refs, preds, mode=spice, java=java_path, run_dir=run_dir, cache_dir=spice_cache
            )
            if reason is None and spice_corpus is not None and spice_clip is not None:
                table.add_spice(spice_corpus, spice_clip)
            else:
                unavailable["SPICE"] = reason or "unavailable"
                unavailable["SPIDEr"] = f"needs SPICE: {unavailable['SPICE']}"
    finally:
        if own_meteor is not None:
            own_meteor.close()
        shutil.rmtree(run_dir, ignore_errors=True)
    return table.result(ids, unavailable, tokenizer="ptb" if java_path else "fallback")


def _resolve_java(
    java: str | os.PathLike[str] | None, require_java: bool
) -> tuple[str | None, dict[str, str]]:
    """Java launcher (or None) and the metrics it leaves unavailable, warning or raising."""
    java_path = find_java(java)
    if java_path is not None:
        return java_path, {}
    where = f" ({os.fspath(java)!r} does not exist)" if java is not None else ""
    message = f"METEOR, SPICE and SPIDEr need Java, and no Java runtime was found{where}"
    if require_java:
        raise JavaNotFoundError(message + "; install Java 8+ or pass java=...")
    warnings.warn(
        message + "; they are reported as None, the other metrics use a pure-Python "
        "PTB tokeniser fallback",
        MetricUnavailableWarning,
        stacklevel=3,
    )
    return None, {m: NO_JAVA_REASON for m in JAVA_METRICS}


class _ScoreTable:
    """Collects corpus scores, per-clip columns and sufficient statistics."""

    def __init__(self, n_clips: int):
        self.corpus: dict[str, float | None] = dict.fromkeys(METRIC_NAMES)
        self.columns = {m: np.full(n_clips, np.nan) for m in METRIC_NAMES}
        self.stats: list[pd.DataFrame] = []

    def set(self, metric: str, corpus: float, per_clip: Sequence[float] | np.ndarray) -> None:
        self.corpus[metric] = float(corpus)
        self.columns[metric] = np.asarray(per_clip, dtype=float)

    def add_offline(self, refs: Sequence[Sequence[str]], preds: Sequence[str]) -> None:
        bleu_corpus, bleu_clip, bleu_counts = bleu_scores(refs, preds)
        for k in range(4):
            self.set(f"BLEU{k + 1}", bleu_corpus[k], bleu_clip[:, k])
        self.stats.append(pd.DataFrame(bleu_counts, columns=list(BLEU_STAT_COLUMNS)))
        self.set("ROUGE_L", *rouge_scores(refs, preds))
        self.set("CIDEr", *cider_scores(refs, preds))

    def add_meteor(
        self, scorer: MeteorScorer, refs: Sequence[Sequence[str]], preds: Sequence[str]
    ) -> None:
        corpus, per_clip, stats = scorer.score(refs, preds)
        self.set("METEOR", corpus, per_clip)
        self.stats.append(pd.DataFrame(stats, columns=list(METEOR_STAT_COLUMNS)))

    def add_spice(self, corpus: float, per_clip: np.ndarray) -> None:
        """SPICE, and SPIDEr = (CIDEr + SPICE) / 2 per clip and for the corpus."""
        self.set("SPICE", corpus, per_clip)
        cider = self.corpus["CIDEr"]
        assert cider is not None
        self.set("SPIDEr", (cider + corpus) / 2.0, (self.columns["CIDEr"] + per_clip) / 2.0)

    def result(
        self, ids: Sequence[str], unavailable: dict[str, str], *, tokenizer: Literal["ptb", "fallback"]
    ) -> EvaluationResult:
        index = pd.Index(list(ids), name="clip_id")
        per_clip = pd.DataFrame(self.columns, index=index)[list(METRIC_NAMES)]
        stats = pd.concat(self.stats, axis=1)
        stats.index = index
        return EvaluationResult(
            corpus={m: (None if m in unavailable else self.corpus[m]) for m in METRIC_NAMES},
            per_clip=per_clip,
            unavailable=dict(unavailable),
            stats=stats,
            tokenizer=tokenizer,
            notes={
                "CIDEr": "CIDEr-D as implemented by pycocoevalcap's Cider (sigma=6, clipped, x10)",
                "BLEU": "pycocoevalcap BleuScorer, closest reference length",
            },
        )
