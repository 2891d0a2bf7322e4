"""Shared fixtures (plain helper functions and data live in tests/helpers.py)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

CAPTION_FILES = ("clotho_captions_development.csv", "clotho_captions_evaluation.csv")


@pytest.fixture(scope="session")
def clotho_captions_dir() -> Path:
    """The real Clotho v1 caption files (text only), or skip.

    Looked up in ``$AAC_CLOTHO_CAPTIONS_DIR``, else ``<repo>/../shared/clotho_v1_captions``; they are
    never copied into the project (on a user's machine the project fetches them from Zenodo).
    """
    configured = os.environ.get("AAC_CLOTHO_CAPTIONS_DIR")
    repository = Path(__file__).resolve().parents[1]
    folder = Path(configured) if configured else repository.parent / "shared" / "clotho_v1_captions"
    missing = [name for name in CAPTION_FILES if not (folder / name).is_file()]
    if missing:
        source = "AAC_CLOTHO_CAPTIONS_DIR" if configured else "the default location"
        pytest.skip(f"real Clotho v1 captions not available: {', '.join(missing)} missing in {folder} ({source})")
    return folder


@pytest.fixture(autouse=True)
def _private_machine_cache(tmp_path_factory, monkeypatch):
    """Each test sees an empty per-machine cache (the Clotho context is cached there across results folders)."""
    monkeypatch.setenv("AAC_CACHE_DIR", str(tmp_path_factory.mktemp("machine_cache")))


@pytest.fixture(autouse=True)
def _root_logger_restored():
    """The root logger's handlers as they were before the test: the engine's ``configure_logging`` installs one on
    the sys.stdout of the moment, which under capsys is a stream closed after the test, and a later test that logs
    would print a "Logging error" into its own captured output."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _env_using_this_interpreter() -> dict[str, str]:
    """A copy of ``os.environ`` in which scripts/setup_env.sh uses the interpreter running the tests, or skip."""
    in_venv = sys.prefix != sys.base_prefix or os.environ.get("CONDA_PREFIX") == sys.prefix
    if not in_venv:
        pytest.skip("run_all.sh tests need the tests to run inside a virtualenv or conda env")
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = sys.prefix
    env["PATH"] = f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["AAC_OFFLINE"] = "1"  # no network probe: behave as on a machine without internet
    return env


@pytest.fixture(scope="session")
def env_using_this_interpreter() -> Callable[[], dict[str, str]]:
    """A function giving the environment for running run_all.sh (or setup_env.sh) with this interpreter.

    A function rather than the dict, so that it copies ``os.environ`` when called: inside a test that includes
    the test's private ``AAC_CACHE_DIR``; session scope lets module-scoped fixtures use it too. Calling it skips
    the test when the tests do not run inside a virtualenv or conda env.
    """
    return _env_using_this_interpreter


@pytest.fixture
def corpus(tmp_path):
    """A corpus folder holding only the two captions files the run keys fingerprint (for engine tests)."""
    data = tmp_path / "corpus"
    data.mkdir()
    for split in ("development", "evaluation"):
        (data / f"clotho_captions_{split}.csv").write_text("file_name,caption_1\na.wav,a dog barks\n")
    return data


@pytest.fixture
def kept_figures(monkeypatch):
    """The figures aac_subsampling.analysis.figures draws, kept open instead of closed after saving."""
    from aac_subsampling.analysis import figures

    kept, close = [], figures.plt.close
    monkeypatch.setattr(figures.plt, "close", kept.append)
    yield kept
    for figure in kept:
        close(figure)
