"""The SPICE 1.0 metric: its jars, its command line, one run with a timeout, and fetching CoreNLP.

SPICE (Anderson et al., 2016) is a Java program (``spice-1.0.jar``, shipped inside pycocoevalcap's ``spice/``
folder). It parses captions into scene graphs with Stanford CoreNLP 3.6.0, whose two jars
(``stanford-corenlp-3.6.0.jar`` and ``stanford-corenlp-3.6.0-models.jar``, ~400 MB zipped) are *not* shipped by
any package: pycocoevalcap's ``Spice()`` constructor downloads them on first use. This module never constructs
that class. Instead it

* checks the prerequisites up front (:func:`spice_status`), without touching the network;
* offers :func:`fetch_corenlp` for machines that do have internet access;
* runs SPICE itself (:func:`run_spice`) with a command line from :func:`spice_command`, which adds the JVM
  flags that pycocoevalcap cannot pass: ``--add-opens`` for Java 9+ (SPICE's LMDB cache serialiser reflects
  into ``java.base``) and, for Java 15+, a standalone Nashorn JavaScript engine on the class path (SPICE
  pretty-prints its JSON output through the ``JavaScript`` script engine, which the JDK dropped in Java 15).

The Java runtime comes from :mod:`.java`; SPIDEr, built on SPICE, is in :mod:`.spider`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from aac_subsampling.base.atomic import atomic_path

from .coco import pycocoevalcap_dir
from .java import find_java, java_major_version

__all__ = [
    "CORENLP_JARS",
    "CORENLP_URL",
    "JAVA_ADD_OPENS",
    "SPICE_TIMEOUT_S",
    "SpiceRun",
    "SpiceUnavailableError",
    "corenlp_jar_paths",
    "default_spice_cache",
    "fetch_corenlp",
    "javascript_engine_jars",
    "run_spice",
    "spice_command",
    "spice_status",
]

#: Zip that pycocoevalcap's ``get_stanford_models`` downloads (CoreNLP 3.6.0).
CORENLP_URL = "http://nlp.stanford.edu/software/stanford-corenlp-full-2015-12-09.zip"
#: Top-level folder inside :data:`CORENLP_URL`.
CORENLP_ZIP_FOLDER = "stanford-corenlp-full-2015-12-09"
#: The two jars SPICE's manifest ``Class-Path`` expects in ``spice/lib``.
CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")
#: A class every genuine CoreNLP jar holds (used to validate a download).
_CORENLP_PROBE_ENTRY = "edu/stanford/nlp/pipeline/StanfordCoreNLP.class"
_CORENLP_MODELS_PREFIX = "edu/stanford/nlp/models/"

SPICE_JAR_NAME = "spice-1.0.jar"
SPICE_MAIN_CLASS = "edu.anu.spice.SpiceScorer"
SPICE_XMX = "8G"
#: Seconds one SPICE run may take before it is killed. A Clotho-size evaluation (1045 clips, six captions each,
#: parsed by CoreNLP on a cold parse cache) takes minutes, not half an hour; a run past that is stuck (a JVM hung
#: on memory or on a lock of its LMDB cache) and would otherwise hold up the whole evaluation for ever.
SPICE_TIMEOUT_S = 1800.0

#: ``--add-opens`` targets SPICE 1.0 needs on Java 9+ (its LMDB/FST cache serialises JDK objects reflectively;
#: Java 16+ refuses that by default).
JAVA_ADD_OPENS = (
    "java.base/java.lang",
    "java.base/java.util",
    "java.base/java.math",
    "java.base/java.net",
    "java.base/java.text",
    "java.base/java.util.concurrent",
)

#: First Java release without the bundled Nashorn JavaScript engine.
JAVA_WITHOUT_NASHORN = 15
#: Jars a standalone Nashorn (``org.openjdk.nashorn:nashorn-core`` 15.x) needs.
_NASHORN_PATTERNS = {
    "nashorn-core": "nashorn-core-*.jar",
    "asm": "asm-[0-9]*.jar",
    "asm-commons": "asm-commons-*.jar",
    "asm-tree": "asm-tree-*.jar",
    "asm-util": "asm-util-*.jar",
}


class SpiceUnavailableError(RuntimeError):
    """SPICE was requested explicitly (``spice=True``) but cannot run."""


# --------------------------------------------------------------------------
# Where the jars are
# --------------------------------------------------------------------------


def _spice_dir(spice_dir: Path | None) -> Path:
    return Path(spice_dir) if spice_dir is not None else pycocoevalcap_dir() / "spice"


def corenlp_jar_paths(spice_dir: Path | None = None) -> tuple[Path, Path]:
    """Where SPICE expects the CoreNLP 3.6.0 code and models jars."""
    lib = _spice_dir(spice_dir) / "lib"
    return lib / CORENLP_JARS[0], lib / CORENLP_JARS[1]


def default_spice_cache() -> Path:
    """Persistent SPICE parse cache (``$XDG_CACHE_HOME/aac_subsampling/spice``).

    SPICE caches CoreNLP parses of captions in an LMDB database; reusing it across evaluations makes repeated
    runs on the same references much faster. It is deliberately *not* per run.
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aac_subsampling" / "spice"


def javascript_engine_jars(jar_dir: Path) -> tuple[list[Path], list[str]]:
    """Standalone Nashorn jars found in ``jar_dir`` and the names still missing."""
    found: list[Path] = []
    missing: list[str] = []
    for name, pattern in _NASHORN_PATTERNS.items():
        matches = sorted(Path(jar_dir).glob(pattern))
        if matches:
            found.append(matches[-1])
        else:
            missing.append(name)
    return found, missing


def _jar_problem(path: Path) -> str | None:
    if not path.is_file():
        return f"{path.name} is missing"
    if not zipfile.is_zipfile(path):
        return f"{path.name} is not a valid jar"
    return None


# --------------------------------------------------------------------------
# Status and command line
# --------------------------------------------------------------------------


def spice_status(java: str | os.PathLike[str] | None = None, *, spice_dir: Path | None = None) -> tuple[bool, str]:
    """Can SPICE run here? Returns ``(available, reason)``.

    Checked, in order and without any network access: a Java runtime, its version, ``spice-1.0.jar``, the two
    CoreNLP 3.6.0 jars in ``spice/lib`` (present and valid zip files), and, for Java 15+, a standalone Nashorn
    JavaScript engine in ``spice/lib``. ``reason`` is a one-line explanation (``"ok"`` when available).
    """
    java_path = find_java(java)
    if java_path is None:
        where = f"{os.fspath(java)!r} not found" if java is not None else "no java on PATH"
        return False, f"no Java runtime found ({where}); SPICE needs Java 8+"
    try:
        major = java_major_version(java_path)
    except (ValueError, OSError, subprocess.SubprocessError) as exc:
        return False, f"could not determine the version of {java_path}: {exc}"
    folder = _spice_dir(spice_dir)
    problem = _jar_problem(folder / SPICE_JAR_NAME)
    if problem:
        return False, f"SPICE jar unusable: {problem} in {folder}"
    jar_problems = [p for p in map(_jar_problem, corenlp_jar_paths(folder)) if p]
    if jar_problems:
        return False, (
            f"Stanford CoreNLP 3.6.0 jars unusable ({'; '.join(jar_problems)}) in {folder / 'lib'}; no package "
            "ships them: run aac_subsampling.evaluation.fetch_corenlp() on a machine with internet"
        )
    if major >= JAVA_WITHOUT_NASHORN:
        _, missing = javascript_engine_jars(folder / "lib")
        if missing:
            return False, (
                f"Java {major} has no JavaScript engine (Nashorn was removed in Java 15), which SPICE 1.0 needs to "
                "write its output: use Java 8-14 (java=...) or put nashorn-core-15.x and its asm jars "
                f"({', '.join(missing)} missing) in {folder / 'lib'}"
            )
    return True, "ok"


def spice_command(
    java: str,
    spice_jar: Path,
    input_json: Path,
    output_json: Path,
    cache_dir: Path,
    *,
    java_major: int | None = None,
    extra_classpath: Sequence[Path] | None = None,
    threads: int | None = None,
    xmx: str = SPICE_XMX,
) -> list[str]:
    """Command line that runs SPICE 1.0 on ``input_json``.

    The jar is started by main class with ``-cp`` rather than ``-jar`` so that extra jars can join the class
    path; the ``Class-Path`` in spice-1.0.jar's manifest (CoreNLP and the other ``lib/`` jars) still applies.

    * ``java_major``: the JVM's major version (``java -version`` is run when ``None``). For 9+ the
      :data:`JAVA_ADD_OPENS` flags are added (Java 8 rejects them).
    * ``extra_classpath``: jars appended to the class path; ``None`` means the standalone Nashorn jars in the
      jar's ``lib/`` folder when Java >= 15.
    * Arguments as pycocoevalcap passes them: ``-cache``, ``-out``, ``-subset``, ``-silent``; ``-threads`` only
      when ``threads`` is given.
    """
    major = java_major if java_major is not None else java_major_version(java)
    if extra_classpath is None:
        nashorn = major >= JAVA_WITHOUT_NASHORN
        extra: Sequence[Path] = javascript_engine_jars(Path(spice_jar).parent / "lib")[0] if nashorn else []
    else:
        extra = extra_classpath
    command = [java, f"-Xmx{xmx}"]
    if major >= 9:
        for target in JAVA_ADD_OPENS:
            command.append(f"--add-opens={target}=ALL-UNNAMED")
    classpath = os.pathsep.join(str(p) for p in [Path(spice_jar), *extra])
    command += ["-cp", classpath, SPICE_MAIN_CLASS, str(input_json)]
    command += ["-cache", str(cache_dir), "-out", str(output_json), "-subset", "-silent"]
    if threads is not None:
        command += ["-threads", str(int(threads))]
    return command


# --------------------------------------------------------------------------
# Running SPICE
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SpiceRun:
    """Scores of one SPICE run: corpus mean and per-clip F-scores (in input order)."""

    corpus: float
    per_clip: list[float]
    command: list[str]


Runner = Callable[..., subprocess.CompletedProcess]


def _as_float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _tail(path: Path, n_chars: int = 600) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " ".join(text[-n_chars:].split())


def run_spice(
    references: Sequence[Sequence[str]],
    predictions: Sequence[str],
    *,
    java: str,
    run_dir: Path,
    cache_dir: Path | None = None,
    spice_dir: Path | None = None,
    java_major: int | None = None,
    threads: int | None = None,
    timeout: float | None = SPICE_TIMEOUT_S,
    runner: Runner = subprocess.run,
) -> SpiceRun:
    """Score already-tokenised captions with SPICE.

    Writes the input JSON (``image_id`` = position, ``test``, ``refs``) into ``run_dir``, runs
    :func:`spice_command` and reads the per-clip ``All`` F-score. The corpus score is the plain mean of those, as
    pycocoevalcap computes it (a NaN clip score makes it NaN). ``runner`` is ``subprocess.run`` or a stand-in
    with the same call signature (tests). ``timeout``: seconds before SPICE is killed (default
    :data:`SPICE_TIMEOUT_S`, 30 min; ``None`` waits for ever). Raises ``RuntimeError`` with SPICE's last stderr
    words when it fails, and one naming the timeout when it is killed (the caller then reports SPICE as
    unavailable with that reason).
    """
    if len(references) != len(predictions):
        raise ValueError("references and predictions differ in length")
    folder = _spice_dir(spice_dir)
    run_dir = Path(run_dir)
    cache = Path(cache_dir) if cache_dir is not None else default_spice_cache()
    cache.mkdir(parents=True, exist_ok=True)
    input_json = run_dir / "spice_input.json"
    output_json = run_dir / "spice_output.json"
    pairs = enumerate(zip(predictions, references))
    items = [{"image_id": i, "test": pred, "refs": list(refs)} for i, (pred, refs) in pairs]
    input_json.write_text(json.dumps(items), encoding="utf-8")
    command = spice_command(
        java, folder / SPICE_JAR_NAME, input_json, output_json, cache, java_major=java_major, threads=threads
    )
    log = run_dir / "spice_log.txt"
    with open(log, "wb") as log_file:
        try:
            proc = runner(
                command,
                cwd=str(folder),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:  # subprocess.run has killed and reaped it
            raise RuntimeError(
                f"SPICE did not finish within its timeout of {timeout:g} s and was killed "
                f"(run_spice(timeout=...)); its last output: {_tail(log) or 'none'}"
            ) from exc
    if proc.returncode != 0 or not output_json.is_file():
        raise RuntimeError(f"SPICE failed (exit {proc.returncode}): {_tail(log)}")
    results = json.loads(output_json.read_text(encoding="utf-8"))
    by_id = {int(item["image_id"]): _as_float(item["scores"]["All"]["f"]) for item in results}
    missing = [i for i in range(len(items)) if i not in by_id]
    if missing:
        raise RuntimeError(f"SPICE output lacks {len(missing)} of {len(items)} clips")
    per_clip = [by_id[i] for i in range(len(items))]
    corpus = float(sum(per_clip) / len(per_clip)) if per_clip else math.nan
    return SpiceRun(corpus=corpus, per_clip=per_clip, command=command)


# --------------------------------------------------------------------------
# Download (machines with internet only)
# --------------------------------------------------------------------------


def _copy_member(archive: zipfile.ZipFile, member: str, target: Path) -> None:
    # Reading a member to its end makes zipfile check its CRC-32.
    with archive.open(member) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, length=1 << 20)


def _check_corenlp_jar(path: Path, *, models: bool, name: str | None = None) -> None:
    """Raise unless ``path`` is a CoreNLP 3.6.0 jar; messages call it ``name`` (default: its file name)."""
    name = name or path.name
    if not zipfile.is_zipfile(path):
        raise RuntimeError(f"{name} from the CoreNLP zip is not a valid jar")
    with zipfile.ZipFile(path) as jar:
        names = jar.namelist()
    ok = any(n.startswith(_CORENLP_MODELS_PREFIX) for n in names) if models else _CORENLP_PROBE_ENTRY in names
    if not ok:
        raise RuntimeError(f"{name} does not look like a CoreNLP 3.6.0 jar")


def fetch_corenlp(dest: Path | None = None, url: str = CORENLP_URL, *, timeout: float = 120.0) -> tuple[Path, Path]:
    """Download Stanford CoreNLP 3.6.0 and install the two jars SPICE needs.

    For machines with internet access (this project's build machines have none). Downloads ``url`` (the zip
    pycocoevalcap's ``get_stanford_models`` uses, ~400 MB), extracts ``stanford-corenlp-3.6.0.jar`` and
    ``stanford-corenlp-3.6.0-models.jar`` into ``dest`` (default: pycocoevalcap's ``spice/lib``, where SPICE's
    manifest looks) and returns their paths. Existing jars are replaced atomically only after the new ones
    passed the checks.

    Verification: no published checksum of this zip could be found from a source we trust, so no size or SHA-256
    is pinned. Instead the download must be a valid zip, both members are read to their end (which checks each
    member's CRC-32 against the archive), each extracted file must be a valid jar, the code jar must contain
    ``edu/stanford/nlp/pipeline/StanfordCoreNLP.class`` and the models jar entries under
    ``edu/stanford/nlp/models/``.
    """
    target_dir = Path(dest) if dest is not None else corenlp_jar_paths()[0].parent
    target_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".corenlp-fetch-", dir=target_dir))
    try:
        zip_path = work / "corenlp.zip"
        with urllib.request.urlopen(url, timeout=timeout) as response, open(zip_path, "wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
        if not zipfile.is_zipfile(zip_path):
            raise RuntimeError(f"download from {url} is not a zip file")
        final = tuple(target_dir / jar_name for jar_name in CORENLP_JARS)
        # Each jar is written to a temporary file beside its target; both are renamed into place when the
        # block ends, i.e. only after both passed the checks (a failed check removes both temporaries).
        with zipfile.ZipFile(zip_path) as archive, ExitStack() as install:
            for jar_name, target in zip(CORENLP_JARS, final):
                staged = install.enter_context(atomic_path(target))
                _copy_member(archive, f"{CORENLP_ZIP_FOLDER}/{jar_name}", staged)
                _check_corenlp_jar(staged, models=jar_name.endswith("-models.jar"), name=jar_name)
        return final[0], final[1]
    finally:
        shutil.rmtree(work, ignore_errors=True)
