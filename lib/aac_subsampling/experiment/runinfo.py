"""What a run records about itself: code version, packages, machine.

``run_metadata`` goes into every marker/result file so that a number can be traced to the code
and machine that produced it (``seed_everything``, which makes a run repeatable on the same machine, is the
method's: :mod:`aac_subsampling.method.seeding`).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from aac_subsampling.base.paths import project_root

VERSIONED_PACKAGES: tuple[str, ...] = ("torch", "numpy", "librosa", "pycocoevalcap", "papermill")


def _git(args: list[str], cwd: Path, strip: bool = True) -> str | None:
    """Git's output (stripped; ``strip=False`` keeps the leading blank of porcelain status lines), None on failure."""
    try:
        completed = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.strip() if strip else completed.stdout.rstrip("\n")


def _notebook_code(text: str | None) -> list[tuple[str, str]] | None:
    """A notebook's cells as (type, source), outputs, execution counts and metadata left out; None if unreadable."""
    try:
        cells = json.loads(text or "")["cells"]
        return [(cell["cell_type"], "".join(cell["source"])) for cell in cells]
    except (ValueError, KeyError, TypeError):
        return None


def _outputs_only(line: str, root: Path) -> bool:
    """Whether a ``git status --porcelain`` line is a notebook of ``notebooks/`` whose cells are unchanged (only
    its outputs, execution counts or metadata differ: what running it by hand, or opening it in JupyterLab, does)."""
    path = line[3:].strip()
    if set(line[:2].strip()) != {"M"} or not (path.startswith("notebooks/") and path.endswith(".ipynb")):
        return False
    try:
        current = (root / path).read_text(encoding="utf-8")
    except OSError:
        return False
    committed = _notebook_code(_git(["show", f"HEAD:{path}"], root))
    return committed is not None and committed == _notebook_code(current)


def git_state(root: Path | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}``; both None outside a git checkout or
    without git. Dirty means tracked files differ from the commit (untracked files do not count), except
    notebooks whose cells are the commit's and only their outputs differ: those are listed under
    ``"notebook_outputs"`` (running a notebook by hand stores its outputs; it changes no code)."""
    root = project_root() if root is None else Path(root)
    commit = _git(["rev-parse", "HEAD"], root)
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git(["status", "--porcelain", "--untracked-files=no"], root, strip=False)
    if status is None:
        return {"commit": commit, "dirty": None}
    lines = [line for line in status.splitlines() if line.strip()]
    outputs = [line[3:].strip() for line in lines if _outputs_only(line, root)]
    state: dict[str, Any] = {"commit": commit, "dirty": len(lines) > len(outputs)}
    if outputs:
        state["notebook_outputs"] = outputs
    return state


def changed_files(root: Path | None = None) -> list[str]:
    """Tracked files that differ from the commit, as ``git status --porcelain`` lines (``" M lib/x.py"``); a
    notebook whose cells are the commit's (outputs only) does not count, as in :func:`git_state`."""
    root = project_root() if root is None else Path(root)
    status = _git(["status", "--porcelain", "--untracked-files=no"], root, strip=False)
    return [line for line in (status or "").splitlines() if line.strip() and not _outputs_only(line, root)]


def code_differs(commit: str, paths: tuple[str, ...] = ("lib", "notebooks"), root: Path | None = None) -> bool | None:
    """Whether ``paths`` differ between ``commit`` and HEAD; None when the commit is not in this repository."""
    root = project_root() if root is None else Path(root)
    if _git(["cat-file", "-e", f"{commit}^{{commit}}"], root) is None:
        return None
    try:
        completed = subprocess.run(
            ["git", "diff", "--quiet", commit, "HEAD", "--", *paths], cwd=root, capture_output=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {0: False, 1: True}.get(completed.returncode)


def package_versions(packages: tuple[str, ...] = VERSIONED_PACKAGES) -> dict[str, str | None]:
    """Installed versions (None when a package is missing), plus the Python version."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else whatever platform reports."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        try:
            for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _resolved_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu`` (:func:`aac_subsampling.base.devices.resolve_device`);
    a device that cannot be resolved is recorded as given: bookkeeping must not stop a run."""
    try:
        from aac_subsampling.base.devices import resolve_device

        return str(resolve_device(device))
    except (ImportError, RuntimeError, ValueError, TypeError):
        return device


def device_name(device: str) -> str:
    """A human name for the device a run uses: the CUDA device's name or the CPU model."""
    resolved = _resolved_device(device)
    if resolved.startswith("cuda"):
        try:
            from aac_subsampling.base.devices import describe

            return describe(resolved)
        except Exception:  # a broken CUDA setup must not stop the bookkeeping
            return "CUDA device (unavailable)"
    return cpu_model()


def run_metadata(seed: int | None, device: str) -> dict[str, Any]:
    """Everything needed to tell where a result came from, as JSON-serialisable values."""
    resolved = _resolved_device(device)
    try:
        import torch

        torch_threads: int | None = torch.get_num_threads()
        cuda_version = torch.version.cuda
    except ImportError:
        torch_threads, cuda_version = None, None
    return {
        **{f"git_{key}": value for key, value in git_state().items()},
        "versions": package_versions(),
        "device_requested": device,
        "device": resolved,
        "device_name": device_name(resolved),
        "torch_cuda_version": cuda_version,
        "torch_threads": torch_threads,
        "cpu_count": os.cpu_count(),
        "seed": seed,
        "timestamp_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
    }  # no hostname nor interpreter path: records are published, and those say nothing about the result
