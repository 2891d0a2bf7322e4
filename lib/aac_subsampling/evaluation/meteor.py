"""METEOR 1.5 (pycocoevalcap's jar and command) through one persistent JVM, and its scoring formula.

:class:`MeteorScorer` runs ``meteor-1.5.jar -stdio -l en -norm`` and speaks pycocoevalcap's ``SCORE``/``EVAL``
protocol. METEOR's corpus score comes from alignment statistics summed over segments, not from the mean of
segment scores, so each segment's 23 statistics (:data:`METEOR_STAT_COLUMNS`) are kept, and
:func:`meteor_from_stats` applies METEOR's formula to any sum of them (the bootstrap's replicates).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np

from .coco import pycocoevalcap_dir

__all__ = ["METEOR_PARAMETERS", "METEOR_STAT_COLUMNS", "MeteorScorer", "close_coco_meteor", "meteor_from_stats"]

_METEOR_MODULES = ("exact", "stem", "synonym", "paraphrase")
#: The 23 numbers METEOR 1.5 prints for one segment (``SCORE`` reply), in order.
METEOR_STAT_COLUMNS = (
    "meteor_test_length",
    "meteor_ref_length",
    "meteor_test_function_words",
    "meteor_ref_function_words",
    *(
        f"meteor_{side}_{kind}_{module}"
        for module in _METEOR_MODULES
        for kind, side in (("content", "test"), ("content", "ref"), ("function", "test"), ("function", "ref"))
    ),
    "meteor_chunks",
    "meteor_test_word_matches",
    "meteor_ref_word_matches",
)

#: METEOR 1.5, English, default ("rank") task: alpha, beta, gamma, delta and the weights of the exact, stem,
#: synonym and paraphrase modules.
METEOR_PARAMETERS = {"alpha": 0.85, "beta": 0.20, "gamma": 0.60, "delta": 0.75, "weights": (1.0, 0.6, 0.8, 0.6)}


def meteor_from_stats(stats: np.ndarray) -> np.ndarray:
    """METEOR 1.5 score from (summed) segment statistics.

    ``stats`` has shape ``(..., 23)`` in :data:`METEOR_STAT_COLUMNS` order. A single segment's row gives its
    segment score; a row summed over segments gives the corpus score METEOR's ``EVAL`` reports. Mirrors
    METEOR's own formula: weighted precision and recall (function words weighted ``1 - delta``), harmonic mean
    with ``alpha``, fragmentation penalty ``gamma * (chunks / mean matches) ** beta`` (zero for a perfect
    one-chunk match), NaN mapped to 0 and negatives clipped to 0. Checked against the jar in the tests.
    """
    p = METEOR_PARAMETERS
    alpha, beta, gamma, delta = p["alpha"], p["beta"], p["gamma"], p["delta"]
    weights = np.asarray(p["weights"])
    stats = np.asarray(stats, dtype=float)
    tlen, rlen, tfunc, rfunc = (stats[..., i] for i in range(4))
    per_module = stats[..., 4:20].reshape(stats.shape[:-1] + (4, 4))
    t_content, r_content = per_module[..., 0], per_module[..., 1]
    t_function, r_function = per_module[..., 2], per_module[..., 3]
    chunks, t_words, r_words = stats[..., 20], stats[..., 21], stats[..., 22]

    t_weighted_len = delta * (tlen - tfunc) + (1 - delta) * tfunc
    r_weighted_len = delta * (rlen - rfunc) + (1 - delta) * rfunc
    t_weighted = (t_content * weights * delta).sum(-1) + (t_function * weights * (1 - delta)).sum(-1)
    r_weighted = (r_content * weights * delta).sum(-1) + (r_function * weights * (1 - delta)).sum(-1)
    t_total = (t_content + t_function).sum(-1)
    r_total = (r_content + r_function).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = t_weighted / t_weighted_len
        recall = r_weighted / r_weighted_len
        f_mean = 1.0 / ((1 - alpha) / precision + alpha / recall)
        perfect = (t_total == tlen) & (r_total == rlen) & (chunks == 1)
        frag = np.where(perfect, 0.0, chunks / ((t_words + r_words) / 2.0))
        score = f_mean * (1 - gamma * frag**beta)
    return np.where(np.isnan(score), 0.0, np.maximum(score, 0.0))


class MeteorScorer:
    """One METEOR 1.5 JVM (pycocoevalcap's jar and command), reusable and closable.

    Use as a context manager or call :meth:`close`; the process is also killed when the object is
    garbage-collected. Thread-safe (one lock around each :meth:`score` call).
    """

    def __init__(self, java: str = "java", *, xmx: str = "2G", stderr_path: Path | None = None):
        meteor_dir = pycocoevalcap_dir() / "meteor"
        self.command = [java, "-jar", f"-Xmx{xmx}", "meteor-1.5.jar"]
        self.command += ["-", "-", "-stdio", "-l", "en", "-norm"]
        self._stderr_path = Path(stderr_path) if stderr_path else None
        self._stderr: IO[bytes] | None = open(stderr_path, "wb") if stderr_path else None
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            self.command,
            cwd=str(meteor_dir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr if self._stderr is not None else subprocess.DEVNULL,
        )

    def __enter__(self) -> MeteorScorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    @property
    def closed(self) -> bool:
        return self.process.poll() is not None

    def close(self, timeout: float = 10.0) -> None:
        """Stop the JVM (closing stdin ends it; killed if it lingers)."""
        proc = getattr(self, "process", None)
        if proc is not None:
            try:
                if proc.stdin and not proc.stdin.closed:
                    proc.stdin.close()  # end of input: METEOR exits
            except OSError:  # broken pipe: it is gone already
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _died(self) -> RuntimeError:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        detail = ""
        if self._stderr_path is not None and self._stderr_path.is_file():
            text = self._stderr_path.read_text(encoding="utf-8", errors="replace")
            detail = ": " + " ".join(text.split())[-400:]
        return RuntimeError(f"METEOR process ended unexpectedly (exit {code}){detail}")

    def _ask(self, line: str) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write((line + "\n").encode("utf-8"))
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise self._died() from exc

    def _answer(self) -> str:
        assert self.process.stdout is not None
        reply = self.process.stdout.readline()
        if not reply:
            raise self._died()
        return reply.decode("utf-8").strip()

    @staticmethod
    def _clean(text: str) -> str:
        # As pycocoevalcap: '|||' separates fields; applied to references too.
        return text.replace("|||", "").replace("  ", " ")

    def score(
        self, references: Sequence[Sequence[str]], hypotheses: Sequence[str]
    ) -> tuple[float, list[float], list[list[float]]]:
        """Corpus score, per-segment scores and per-segment statistics (:data:`METEOR_STAT_COLUMNS`).

        Same protocol as pycocoevalcap's ``Meteor.compute_score``: one ``SCORE`` line per clip (returns its 23
        statistics), then one ``EVAL`` line with all statistics (returns each segment's score, then the corpus
        score from the summed statistics).
        """
        if len(references) != len(hypotheses):
            raise ValueError("references and hypotheses differ in length")
        with self._lock:
            if self.closed:
                raise RuntimeError("METEOR process is not running")
            stats = []
            for refs, hyp in zip(references, hypotheses):
                fields = ["SCORE", *(self._clean(r) for r in refs), self._clean(hyp)]
                self._ask(" ||| ".join(fields))
                stats.append(self._answer())
            self._ask(" ||| ".join(["EVAL", *stats]))
            segment_scores = [float(self._answer()) for _ in stats]
            corpus = float(self._answer())
        parsed = [[float(x) for x in s.split()] for s in stats]
        return corpus, segment_scores, parsed


def close_coco_meteor(meteor) -> None:  # noqa: ANN001 - pycocoevalcap.meteor.meteor.Meteor
    """Stop the JVM of pycocoevalcap's own ``Meteor`` scorer, which 1.2 never closes by itself.

    Used where the reference scorer is called directly (tests, benchmarks) to compare against.
    """
    with meteor.lock:
        meteor.meteor_p.stdin.close()
        meteor.meteor_p.kill()
        meteor.meteor_p.wait()
        meteor.meteor_p.stdout.close()
        meteor.meteor_p.stderr.close()
