"""The Java runtime that METEOR, SPICE and the PTB tokeniser run on: the project's one Java finder.

Every Python caller that needs Java (the evaluation, the preflight check, the Clotho context) finds it with
:func:`find_java`, so they all agree on which JVM is used: an explicit launcher, else ``java`` on ``PATH``,
else ``$JAVA_HOME/bin/java``. :func:`resolve_java` is what :func:`~.evaluate.evaluate_captions` does when
there is none: warn and report the Java metrics as unavailable, or raise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
from functools import lru_cache
from pathlib import Path

__all__ = [
    "JAVA_METRICS",
    "NO_JAVA_REASON",
    "JavaNotFoundError",
    "MetricUnavailableWarning",
    "find_java",
    "java_major_version",
    "java_version_line",
    "parse_java_version",
    "resolve_java",
]

#: Metrics that need a Java runtime.
JAVA_METRICS = ("METEOR", "SPICE", "SPIDEr")
#: Why the Java metrics are missing when there is no Java (the reason each of them gets).
NO_JAVA_REASON = (
    "no Java runtime found (METEOR, SPICE need Java 8+; captions were tokenised with the pure-Python PTB fallback)"
)


class JavaNotFoundError(RuntimeError):
    """No Java runtime, and the caller asked for the Java metrics (``require_java``)."""


class MetricUnavailableWarning(UserWarning):
    """A metric could not be computed and is reported as ``None``."""


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_java(java: str | os.PathLike[str] | None = None) -> str | None:
    """Return an executable Java launcher, or ``None`` when there is none.

    ``java`` may be a path or a command name. When it is ``None`` the ``java`` on ``PATH`` is used, then
    ``$JAVA_HOME/bin/java``. An explicit ``java`` that does not resolve gives ``None`` (no silent fallback to
    another JVM).
    """
    if java is not None:
        candidate = os.fspath(java)
        if os.sep in candidate or (os.altsep and os.altsep in candidate):
            path = Path(candidate)
            return str(path) if _is_executable(path) else None
        return shutil.which(candidate)
    found = shutil.which("java")
    if found:
        return found
    home = os.environ.get("JAVA_HOME")
    if home:
        path = Path(home) / "bin" / "java"
        if _is_executable(path):
            return str(path)
    return None


_VERSION_QUOTED = re.compile(r'version\s+"([^"]+)"')
_VERSION_BARE = re.compile(r"(?:openjdk|java)\s+(\d+(?:\.\d+)*)", re.IGNORECASE)


def parse_java_version(text: str) -> int:
    """Major Java version from ``java -version`` output.

    ``1.8.0_292`` -> 8, ``17.0.15`` -> 17, ``21-ea`` -> 21. Raises ``ValueError`` when no version can be found.
    """
    match = _VERSION_QUOTED.search(text) or _VERSION_BARE.search(text)
    if match is None:
        raise ValueError(f"no Java version in {text.strip()[:200]!r}")
    parts = re.findall(r"\d+", match.group(1))
    if not parts:
        raise ValueError(f"no Java version in {match.group(1)!r}")
    major = int(parts[0])
    if major == 1 and len(parts) > 1:
        major = int(parts[1])
    return major


@lru_cache(maxsize=16)
def _run_version(java: str) -> tuple[int, str]:
    """Exit status and merged stdout/stderr of ``java -version`` (run once per launcher)."""
    proc = subprocess.run(
        [java, "-version"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=60,
        check=False,
    )
    return proc.returncode, proc.stdout.decode("utf-8", errors="replace")


def java_major_version(java: str) -> int:
    """Major version of the JVM behind ``java`` (runs ``java -version`` once)."""
    return parse_java_version(_run_version(java)[1])


def java_version_line(java: str) -> str:
    """First line of ``java -version`` (for reports); ``RuntimeError`` when the launcher exits non-zero."""
    code, text = _run_version(java)
    if code != 0:
        raise RuntimeError(f"`{java} -version` exited with {code}")
    lines = text.strip().splitlines()
    return lines[0] if lines else java


def resolve_java(java: str | os.PathLike[str] | None, require_java: bool) -> tuple[str | None, dict[str, str]]:
    """Java launcher (or ``None``) and the metrics its absence leaves unavailable, with their reason.

    Without Java: :class:`JavaNotFoundError` when ``require_java``, else a :class:`MetricUnavailableWarning`
    (pointing at the caller of :func:`~.evaluate.evaluate_captions`).
    """
    java_path = find_java(java)
    if java_path is not None:
        return java_path, {}
    where = f" ({os.fspath(java)!r} does not exist)" if java is not None else ""
    message = f"METEOR, SPICE and SPIDEr need Java, and no Java runtime was found{where}"
    if require_java:
        raise JavaNotFoundError(message + "; install Java 8+ or pass java=...")
    warnings.warn(
        message + "; they are reported as None, the other metrics use a pure-Python PTB tokeniser fallback",
        MetricUnavailableWarning,
        stacklevel=3,
    )
    return None, {m: NO_JAVA_REASON for m in JAVA_METRICS}
