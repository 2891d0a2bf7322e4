"""Caption metrics of the DCASE 2020 evaluation tools, for a whole split in one call.

:func:`evaluate_captions` scores one predicted caption per clip against all the clip's references with the
coco-caption metrics the DCASE 2020 caption-evaluation tools report, using pycocoevalcap's own scorers and jars:
tokenisation (:mod:`.tokenization`: Stanford PTBTokenizer, or its pure-Python fallback without Java), BLEU1-4
(:mod:`.bleu`), ROUGE-L (:mod:`.rouge`), METEOR 1.5 (:mod:`.meteor`), CIDEr-D reported as "CIDEr"
(:mod:`.cider`), SPICE 1.0 where it can run (:mod:`.spice`) and SPIDEr (:mod:`.spider`). This module only
validates the inputs, runs those in order and collects an :class:`EvaluationResult`.

References and predictions are tokenised in two runs, as COCOEvalCap does (PTB's look-ahead crosses line ends).
The METEOR JVM is started first so that its start-up overlaps tokenisation and the Python metrics, and it is
always terminated afterwards.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .bleu import BLEU_NOTE, BLEU_ORDER, BLEU_STAT_COLUMNS, bleu_scores
from .bootstrap import bootstrap_ci
from .cider import CIDER_NOTE, cider_scores
from .java import NO_JAVA_REASON, java_major_version, resolve_java
from .meteor import METEOR_STAT_COLUMNS, MeteorScorer
from .rouge import rouge_scores
from .spice import SpiceUnavailableError, run_spice, spice_status
from .spider import spider_scores, spider_unavailable_reason
from .tokenization import fallback_tokenize, ptb_tokenize

__all__ = [
    "METRIC_NAMES",
    "ClipIdMismatchError",
    "EvaluationResult",
    "ResultFiles",
    "SpiceMode",
    "evaluate_captions",
    "validate_inputs",
]

#: Metric names, in reporting order.
METRIC_NAMES = ("BLEU1", "BLEU2", "BLEU3", "BLEU4", "ROUGE_L", "METEOR", "CIDEr", "SPICE", "SPIDEr")

#: ``spice=`` of :func:`evaluate_captions`: ``"auto"``, ``True`` (must run) or ``False`` (skip).
SpiceMode = Literal["auto"] | bool


class ClipIdMismatchError(ValueError):
    """Predictions and references do not cover the same clip ids."""


# --------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------


def _preview(ids: Sequence[object], limit: int = 5) -> str:
    shown = ", ".join(repr(i) for i in ids[:limit])
    return shown + (", ..." if len(ids) > limit else "")


def _is_reference_list(refs: object) -> bool:
    return (
        isinstance(refs, Sequence)
        and not isinstance(refs, (str, bytes))
        and len(refs) > 0
        and all(isinstance(r, str) for r in refs)
    )


def validate_inputs(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> list[str]:
    """Check the inputs and return the clip ids in sorted order.

    Predictions and references must cover the same ids (the error names the first missing and extra ids and
    their counts); each prediction must be a string (an empty string is allowed and scored); each reference
    entry must be a non-empty list of strings.
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
        raise ClipIdMismatchError("predictions and references cover different clip ids; " + "; ".join(parts))
    if not pred_ids:
        raise ValueError("nothing to evaluate: no clips")
    ids = sorted(pred_ids, key=str)
    bad_preds = [i for i in ids if not isinstance(predictions[i], str)]
    if bad_preds:
        raise TypeError(f"predictions must be strings; not for {_preview(bad_preds)}")
    bad_refs = [i for i in ids if not _is_reference_list(references[i])]
    if bad_refs:
        raise ValueError(f"references must be non-empty lists of strings; not for {_preview(bad_refs)}")
    return ids


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

    ``corpus``: metric -> corpus score, ``None`` when unavailable. ``per_clip``: DataFrame indexed by clip id
    (``clip_id``), one float column per metric in :data:`METRIC_NAMES` order (NaN for unavailable metrics).
    ``unavailable``: metric -> one-line reason. ``stats``: per-clip sufficient statistics (BLEU n-gram counts,
    METEOR alignment statistics) for :meth:`bootstrap`. ``tokenizer``: ``"ptb"`` or ``"fallback"``.
    """

    corpus: dict[str, float | None]
    per_clip: pd.DataFrame
    unavailable: dict[str, str] = field(default_factory=dict)
    stats: pd.DataFrame = field(default_factory=pd.DataFrame)
    tokenizer: Literal["ptb", "fallback"] = "ptb"
    notes: dict[str, str] = field(default_factory=dict)

    def bootstrap(self, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
        """:func:`~.bootstrap.bootstrap_ci` over this result's clips (with its stats)."""
        return bootstrap_ci(self.per_clip, n_resamples, seed, confidence, stats=self.stats)

    def write(self, out_dir: Path | str, stem: str = "metrics") -> ResultFiles:
        """Write ``<stem>_per_clip.csv``, ``<stem>_corpus.json`` and ``<stem>_stats.csv``.

        The JSON holds the corpus scores (``null`` when unavailable), the reasons, the tokeniser used, the clip
        count and notes.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = ResultFiles(
            per_clip=out / f"{stem}_per_clip.csv", corpus=out / f"{stem}_corpus.json", stats=out / f"{stem}_stats.csv"
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


def _tokenize_all(
    ids: Sequence[str],
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    *,
    java: str | None,
    run_dir: Path,
) -> tuple[list[list[str]], list[str]]:
    """Tokenised references (per clip) and predictions.

    As COCOEvalCap, references and predictions are tokenised in two separate runs (PTB's look-ahead crosses line
    ends, so the grouping matters); with Java the two JVMs run concurrently.
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
    """(corpus, per-clip, reason-if-unavailable) for SPICE, as ``mode`` asks (see :func:`evaluate_captions`)."""
    if mode is False:
        return None, None, "disabled (spice=False)"
    if java is None:
        reason = NO_JAVA_REASON
    else:
        available, reason = spice_status(java)
        if available:
            try:
                run = run_spice(
                    refs, preds, java=java, run_dir=run_dir, cache_dir=cache_dir, java_major=java_major_version(java)
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

    ``predictions``: clip id -> caption (an empty caption is scored, not dropped). ``references``: clip id ->
    non-empty list of captions. Both must cover the same ids (:class:`ClipIdMismatchError` otherwise).

    ``spice``: ``"auto"`` runs SPICE when :func:`~.spice.spice_status` says it can (else SPICE and SPIDEr are
    ``None`` with the reason); ``True`` raises :class:`~.spice.SpiceUnavailableError` instead; ``False`` skips
    it. ``java``: Java launcher (:func:`~.java.find_java`; default: ``java`` on ``PATH``, then ``$JAVA_HOME``).
    Without Java, BLEU, ROUGE_L and CIDEr are still computed on :func:`~.tokenization.fallback_tokenize` tokens,
    METEOR/SPICE/SPIDEr are ``None`` and a :class:`~.java.MetricUnavailableWarning` is emitted; with
    ``require_java=True`` a :class:`~.java.JavaNotFoundError` is raised instead. ``work_dir``: parent of this
    run's temporary directory (system temp by default); the directory is removed afterwards. ``spice_cache``:
    SPICE's persistent parse cache (default :func:`~.spice.default_spice_cache`). ``meteor``: an open
    :class:`~.meteor.MeteorScorer` to reuse (the caller closes it); by default one is started for this call and
    closed before returning.
    """
    ids = validate_inputs(predictions, references)
    java_path, unavailable = resolve_java(java, require_java)
    own_meteor: MeteorScorer | None = None
    with scratch_dir(work_dir) as run_dir:
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
                    unavailable["SPIDEr"] = spider_unavailable_reason(unavailable["SPICE"])
        finally:
            if own_meteor is not None:
                own_meteor.close()
    return table.result(ids, unavailable, tokenizer="ptb" if java_path else "fallback")


SCRATCH_PREFIX = "aac-eval-"


@contextlib.contextmanager
def scratch_dir(work_dir: Path | str | None = None) -> Iterator[Path]:
    """A temporary folder ``aac-eval-*`` under ``work_dir`` (the system's temporary folder when None), removed on
    the way out however the way goes: a return, an exception, Ctrl-C (KeyboardInterrupt) or SIGTERM.

    SIGTERM is what a kernel gets when it is shut down while scoring; by default it ends the process without
    running any ``finally``. In the main thread, for the duration, a SIGTERM removes the folder and then does
    what it did before (the previous handler, or the default: the process ends of it). Only SIGKILL leaves the
    folder behind; the run engine removes such folders at the start of its next run."""
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=work_dir))
    restore = _remove_on_sigterm(folder)
    try:
        yield folder
    finally:
        restore()
        shutil.rmtree(folder, ignore_errors=True)


def _remove_on_sigterm(folder: Path) -> Callable[[], None]:
    """Install a SIGTERM handler that removes ``folder`` first; returns what puts the previous one back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signal handlers belong to the main thread
    previous = signal.getsignal(signal.SIGTERM)
    if previous is None or previous == signal.SIG_IGN:  # set outside Python, or ignored: leave it alone
        return lambda: None

    def handler(signum: int, frame: object) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
        if callable(previous):
            previous(signum, frame)
        else:  # the default action: end the process, as without this handler
            os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, previous)

    return restore


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
        """BLEU1-4 (with their counts), ROUGE-L and CIDEr-D: pure Python, no Java."""
        bleu_corpus, bleu_clip, bleu_counts = bleu_scores(refs, preds)
        for k in range(BLEU_ORDER):
            self.set(f"BLEU{k + 1}", bleu_corpus[k], bleu_clip[:, k])
        self.stats.append(pd.DataFrame(bleu_counts, columns=list(BLEU_STAT_COLUMNS)))
        self.set("ROUGE_L", *rouge_scores(refs, preds))
        self.set("CIDEr", *cider_scores(refs, preds))

    def add_meteor(self, scorer: MeteorScorer, refs: Sequence[Sequence[str]], preds: Sequence[str]) -> None:
        corpus, per_clip, stats = scorer.score(refs, preds)
        self.set("METEOR", corpus, per_clip)
        self.stats.append(pd.DataFrame(stats, columns=list(METEOR_STAT_COLUMNS)))

    def add_spice(self, corpus: float, per_clip: np.ndarray) -> None:
        """SPICE, and SPIDEr from it and CIDEr-D (added before)."""
        self.set("SPICE", corpus, per_clip)
        cider = self.corpus["CIDEr"]
        assert cider is not None
        self.set("SPIDEr", *spider_scores(cider, self.columns["CIDEr"], corpus, per_clip))

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
            notes={"CIDEr": CIDER_NOTE, "BLEU": BLEU_NOTE},
        )
