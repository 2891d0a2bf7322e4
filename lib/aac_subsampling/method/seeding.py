"""Seeding: one call makes a run repeatable on the same machine (Python, NumPy and torch draws, cuDNN)."""

from __future__ import annotations

import os
import random


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
