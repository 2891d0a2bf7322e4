"""What a run records about itself (code version, packages, machine) and seeding.

``run_metadata`` goes into every marker/result file so that a number can be traced to the code
and machine that produced it; ``seed_everything`` makes a run repeatable on the same machine.
"""

from __future__ import annotations

import os
import platform
import random
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from aac_subsampling.paths import project_root

VERSIONED_PACKAGES: tuple[str, ...] = ("torch", "numpy", "librosa", "pycocoevalcap", "papermill")


def _git(args: list[str], cwd: Path) -> str | None:
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
    return completed.stdout.strip()


def git_state(root: Path | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}``; both None outside a git checkout or
    without git. Dirty means tracked files differ from the commit (untracked files do not count)."""
    root = project_root() if root is None else Path(root)
    commit = _git(["rev-parse", "HEAD"], root)
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git(["status", "--porcelain", "--untracked-files=no"], root)
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def changed_files(root: Path | None = None) -> list[str]:
    """Tracked files that differ from the commit, as ``git status --porcelain`` lines (``" M lib/x.py"``)."""
    root = project_root() if root is None else Path(root)
    status = _git(["status", "--porcelain", "--untracked-files=no"], root)
    return [line for line in (status or "").splitlines() if line.strip()]


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
    """``auto`` -> ``cuda`` when available, else ``cpu`` (:func:`aac_subsampling.devices.resolve_device`);
    a device that cannot be resolved is recorded as given: bookkeeping must not stop a run."""
    try:
        from aac_subsampling.devices import resolve_device

        return str(resolve_device(device))
    except (ImportError, RuntimeError, ValueError, TypeError):
        return device


def device_name(device: str) -> str:
    """A human name for the device a run uses: the CUDA device's name or the CPU model."""
    resolved = _resolved_device(device)
    if resolved.startswith("cuda"):
        try:
            from aac_subsampling.devices import describe

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


def seed_everything(seed: int, deterministic_algorithms: bool = False) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device).

    Always turns off cuDNN autotuning and asks cuDNN for deterministic kernels (cheap for the
    recurrent layers used here). ``deterministic_algorithms=True`` also calls
    ``torch.use_deterministic_algorithms(True, warn_only=True)``, which can be slower on a GPU.
    ``PYTHONHASHSEED`` is set for child processes only; it cannot change this interpreter's hashing.
    """
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:
        pass
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    if deterministic_algorithms:
        # cuBLAS needs a fixed workspace for deterministic matrix products (CUDA >= 10.2).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
