"""The pycocoevalcap package the metrics come from: where its jars are, and its input format.

pycocoevalcap 1.2 ships the Java tools (PTBTokenizer, METEOR 1.5, SPICE 1.0) as jars inside the package and
takes captions as ``gts``/``res`` dicts keyed by an image id; both are needed by several metric modules.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

__all__ = ["as_coco", "pycocoevalcap_dir"]


def pycocoevalcap_dir() -> Path:
    """Folder of the installed pycocoevalcap package (its jars live in sub-folders)."""
    # pycocoevalcap 1.2 is a namespace package (no __init__.py): use its path.
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("pycocoevalcap is not installed")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def as_coco(
    references: Sequence[Sequence[str]], predictions: Sequence[str]
) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """``(gts, res)`` as pycocoevalcap's scorers take them, keyed by clip position."""
    gts = {i: list(refs) for i, refs in enumerate(references)}
    res = {i: [pred] for i, pred in enumerate(predictions)}
    return gts, res
