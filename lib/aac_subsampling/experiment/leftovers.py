"""What a killed or an older run left in a results folder: scratch folders of evaluations killed before their
clean-up, and the files of the layout before ``seed<S>/`` folders. The run engine removes both at the start of
a run, under the folder's lock, saying what it removed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from aac_subsampling.base import paths
from aac_subsampling.experiment import layout


def _relative(path: Path, base: Path) -> str:
    try:
        return Path(path).relative_to(base).as_posix()
    except ValueError:
        return str(path)


SCRATCH_PREFIXES = ("aac-eval-", "aac-context-")  # evaluation.evaluate and analysis.context: removed when done
# The layout before seed<S>/ folders (before the run engine): <results>/M<M>/ and executed/0N_<stage>_M<M>.ipynb.
_OLD_RUN_DIR = re.compile(r"^M\d+$")
_OLD_EXECUTED = re.compile(r"^0[23]_(training|evaluation)_M\d+\.ipynb$")
OLD_LAYOUT_RUN_FILES = (
    layout.TRAINING_RECORD,
    layout.EVALUATION_RECORD,
    layout.CHECKPOINT_FILE,
    layout.MODEL_FILE,
    layout.PREDICTIONS_FILE,
    layout.BOOTSTRAP_FILE,
    "metrics_corpus.json",
    "metrics_per_clip.csv",
    "metrics_stats.csv",
)
OLD_LAYOUT_TOP_FILES = ("baseline.json",)  # the constant caption's scores, now floors.json


def stale_scratch_folders(results_dir: Path, depth: int = 5) -> list[Path]:
    """Temporary folders of evaluations (``aac-eval-*``) left in a results folder by a process that was killed
    before its clean-up ran (SIGKILL, or the kernel shut down at once)."""
    found = []
    for level in range(depth):
        for prefix in SCRATCH_PREFIXES:
            found += [path for path in Path(results_dir).glob("*/" * level + f"{prefix}*") if path.is_dir()]
    return sorted(found)


def remove_stale_scratch(results_dir: Path) -> list[Path]:
    """Remove :func:`stale_scratch_folders`, saying so; only under the results folder's lock (no run is using them)."""
    found = stale_scratch_folders(results_dir)
    for folder in found:
        shutil.rmtree(folder, ignore_errors=True)
    if found:
        names = ", ".join(_relative(path, results_dir) for path in found)
        print(f"run: removed {len(found)} temporary folder(s) left by a killed evaluation: {names}", flush=True)
    return found


def old_layout_files(results_dir: Path) -> tuple[list[Path], list[Path]]:
    """Files of the layout before ``seed<S>/`` folders: (the project's own, which no stage reads or publishes
    any more; anything else found in its ``M<M>/`` folders)."""
    results_dir = Path(results_dir)
    own: list[Path] = []
    other: list[Path] = []
    if not results_dir.is_dir():
        return own, other
    for folder in sorted(path for path in results_dir.iterdir() if path.is_dir() and _OLD_RUN_DIR.match(path.name)):
        for path in sorted(folder.rglob("*")):
            if path.is_file() or path.is_symlink():
                mine = path.parent == folder and path.name in OLD_LAYOUT_RUN_FILES
                (own if mine else other).append(path)
    executed = layout.executed_dir(results_dir)
    if executed.is_dir():
        own += sorted(path for path in executed.iterdir() if path.is_file() and _OLD_EXECUTED.match(path.name))
    if own:
        own += [results_dir / name for name in OLD_LAYOUT_TOP_FILES if (results_dir / name).is_file()]
    return own, other


def remove_old_layout(results_dir: Path) -> tuple[list[Path], list[Path]]:
    """Remove the project's own files of the older layout, saying which and how large, and name what is left."""
    own, other = old_layout_files(results_dir)
    if not own and not other:
        return own, other
    size = sum(path.stat().st_size for path in own if path.is_file())
    for path in own:
        path.unlink(missing_ok=True)
    for folder in sorted({path.parent for path in own if _OLD_RUN_DIR.match(path.parent.name)}):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    folder_name = paths.relative_to_project(results_dir)
    if own:
        print(
            f"run: {folder_name} held files of the older layout (M<M>/ without seed<S>/), which this version "
            f"neither reads nor publishes (its stages are redone in seed<S>/M<M>/): removed {len(own)} file(s), "
            f"{size / 1e6:.1f} MB: {_listing(own, results_dir)}",
            flush=True,
        )
    if other:
        print(
            f"run: left in place in {folder_name}'s older-layout folders ({len(other)} file(s) that are not the "
            f"project's; delete them when not needed): {_listing(other, results_dir)}",
            flush=True,
        )
    return own, other


def _listing(files: list[Path], base: Path, limit: int = 8) -> str:
    names = [_relative(path, base) for path in files[:limit]]
    return ", ".join(names) + (f" and {len(files) - limit} more" if len(files) > limit else "")
