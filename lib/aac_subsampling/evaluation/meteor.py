"""METEOR 1.5 through one persistent JVM (pycocoevalcap's jar and command).

:class:`MeteorScorer` runs ``meteor-1.5.jar -stdio -l en -norm`` and speaks
pycocoevalcap's ``SCORE``/``EVAL`` protocol; per-segment statistics are kept
for the bootstrap.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from .spice import pycocoevalcap_dir

__all__ = ["MeteorScorer"]


class MeteorScorer:
    """One METEOR 1.5 JVM (pycocoevalcap's jar and command), reusable and closable.

    Use as a context manager or call :meth:`close`; the process is also killed
    when the object is garbage-collected. Thread-safe (one lock around each
    :meth:`score` call).
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
        """Corpus score, per-segment scores and per-segment statistics.

        Same protocol as pycocoevalcap's ``Meteor.compute_score``: one
        ``SCORE`` line per clip (returns its 23 statistics), then one ``EVAL``
        line with all statistics (returns each segment's score, then the
        corpus score from the summed statistics).
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
