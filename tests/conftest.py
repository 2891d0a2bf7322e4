"""Shared fixtures."""

from __future__ import annotations

import os
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
