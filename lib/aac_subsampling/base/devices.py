"""Device handling in one place: which device a run uses, waiting for it, and its peak memory.

CUDA work is asynchronous, so a timer must wait for the device (:func:`synchronize`) before reading
the clock; every helper here is a no-op (or returns None) on the CPU so that callers need no
``if device.type == "cuda"`` branches of their own.
"""

from __future__ import annotations

import torch

DeviceLike = torch.device | str


def cuda_unavailable_reason() -> str:
    """Why torch sees no CUDA device, and what to do about it: the one wording, raised by
    :func:`resolve_device` and printed by the preflight."""
    if torch.version.cuda is None:
        return (
            f"torch {torch.__version__} is a CPU-only build; on a GPU machine install a CUDA build of the same "
            f"version (e.g. the plain PyPI wheel on Linux: pip install torch=={torch.__version__.split('+')[0]})"
        )
    return (
        f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device "
        "(check the driver and CUDA_VISIBLE_DEVICES)"
    )


def resolve_device(name: DeviceLike = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cpu``, ``cuda`` and ``cuda:N`` as given.

    Asking for CUDA without it, or for a ``cuda:N`` beyond the visible devices, is an error naming
    the device: failing here beats failing at the first tensor moved there, deep inside training.
    """
    if isinstance(name, torch.device):
        device = name
    elif not isinstance(name, str):
        raise TypeError(f"device must be a string or torch.device, got {type(name).__name__}")
    elif name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(name)
        except RuntimeError as error:
            raise ValueError(f"device {name!r} is not a device name; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {str(name)!r} was asked for but {cuda_unavailable_reason()}")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"device {str(name)!r} does not exist: torch sees {count} CUDA device(s), cuda:0 .. cuda:{count - 1}"
            )
    return device


def is_cuda(device: DeviceLike) -> bool:
    return torch.device(device).type == "cuda"


def synchronize(device: DeviceLike) -> None:
    """Wait until every kernel queued on ``device`` has finished (CUDA); nothing to wait for on CPU."""
    if is_cuda(device):
        torch.cuda.synchronize(torch.device(device))


def reset_peak_memory(device: DeviceLike) -> None:
    """Start a new peak-memory measurement on ``device`` (CUDA only)."""
    if is_cuda(device):
        torch.cuda.reset_peak_memory_stats(torch.device(device))


def peak_memory_bytes(device: DeviceLike) -> int | None:
    """Most bytes held by tensors on ``device`` since the last :func:`reset_peak_memory`; None on CPU,
    where torch keeps no such count."""
    if is_cuda(device):
        return int(torch.cuda.max_memory_allocated(torch.device(device)))
    return None


def peak_host_memory_bytes() -> int:
    """Peak resident memory of this process so far (its high-water mark, VmHWM), in bytes.

    A process that ran several trainings reports its peak over all of them.
    """
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB on Linux


def peak_memory(device: DeviceLike) -> dict[str, int | None]:
    """What a record keeps: the process's peak resident memory and, on CUDA, the peak bytes held by tensors
    since :func:`reset_peak_memory` (None on CPU)."""
    return {"host_rss_bytes": peak_host_memory_bytes(), "gpu_allocated_bytes": peak_memory_bytes(device)}


def describe(device: DeviceLike) -> str:
    """A human name: the GPU's name (e.g. 'NVIDIA H100 80GB HBM3') or 'cpu'."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type
