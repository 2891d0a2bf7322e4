"""The scoring environment: what an evaluation's scores depend on besides the captions.

:func:`~.evaluate.evaluate_captions` scores differently on different machines: without Java, METEOR, SPICE
and SPIDEr are missing and every other metric is computed on the pure-Python tokeniser's tokens instead of
the PTB tokeniser's; SPICE also needs the CoreNLP jars (and, on Java 15+, a standalone Nashorn). An
evaluation record must therefore say under which of these it was made, so that one made without Java is
redone once Java is there (:func:`aac_subsampling.experiment.runkey.evaluation_key` holds :func:`scoring_environment`).

The decisions below are the ones :func:`~.evaluate.evaluate_captions` takes with its defaults (``java=None``,
``spice="auto"``): the PTB tokeniser and METEOR whenever a Java launcher is found, SPICE when
:func:`~.spice.spice_status` says it can run.
"""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from typing import Any

from .java import find_java, java_major_version

__all__ = ["scoring_environment"]

METEOR_JAR = "meteor-1.5.jar"


def _meteor_jar_present() -> bool:
    from .coco import pycocoevalcap_dir

    try:
        return (pycocoevalcap_dir() / "meteor" / METEOR_JAR).is_file()
    except ModuleNotFoundError:
        return False


@lru_cache(maxsize=8)
def _environment_for(java: str | None) -> tuple[tuple[str, Any], ...]:
    """The environment behind one launcher (``None``: no Java). Cached per process: ``java -version`` and the
    jar checks run once, not at every stage the run engine looks at."""
    if java is None:
        return (("java", None), ("tokenizer", "fallback"), ("meteor", False), ("spice", False))
    from .spice import spice_status

    try:
        major: int | None = java_major_version(java)
    except (ValueError, OSError, subprocess.SubprocessError):
        major = None  # a launcher that does not say its version: scored as found, recorded as unknown
    return (
        ("java", major),
        ("tokenizer", "ptb"),
        ("meteor", _meteor_jar_present()),
        ("spice", spice_status(java)[0]),
    )


def scoring_environment(java: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """What the metrics of an evaluation run with ``java`` (default: as :func:`~.java.find_java` finds it) are
    computed under: ``java`` (the JVM's major version, ``None`` without Java), ``tokenizer`` (``"ptb"``: the
    Stanford PTB tokeniser, or ``"fallback"``: the pure-Python stand-in), ``meteor`` and ``spice`` (whether
    those metrics can be computed). Small and machine-independent (no paths), for run keys."""
    return dict(_environment_for(find_java(java)))
