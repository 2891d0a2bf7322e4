"""Atomic file writes: write to a temporary file beside the target, then rename it onto the target.

A reader (or a run started again after a kill) sees either the previous file or the complete new one,
never a half-written one: records mark finished stages, checkpoints are resumed from, cached features
are reused. The temporary file is ``.<name>.tmp-<pid>-<random>`` in the target's folder (a rename is
only atomic within one file system) and is removed when the write fails.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "TEMP_INFIX",
    "atomic_path",
    "temporary_name",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

TEMP_INFIX = ".tmp-"  # in every temporary name, so a leftover of a killed process is easy to recognise


def temporary_name(target: Path) -> Path:
    """A fresh hidden name beside ``target``, unique per process and call (threads may write at once)."""
    return target.with_name(f".{target.name}{TEMP_INFIX}{os.getpid()}-{secrets.token_hex(4)}")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; renamed onto ``path`` when the block
    ends normally, deleted when it raises (``path`` is then left as it was). Makes the parent folder.

    For writers that want a path or their own file handle (``torch.save``, ``np.save``); close the
    handle inside the block.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(target)
    try:
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return ``path``."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (``encoding``, no newline translation); return ``path``."""
    return write_bytes_atomic(path, text.encode(encoding))


def write_json_atomic(
    path: str | os.PathLike[str],
    data: Any,
    *,
    indent: int | None = 2,
    default: Callable[[Any], Any] | None = None,
    allow_nan: bool = True,
    newline: bool = True,
) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (UTF-8); return ``path``.

    ``indent``, ``default`` and ``allow_nan`` as for :func:`json.dumps`; ``newline``: end the file with one.
    The text is made before anything is written, so data that cannot be serialised leaves no file behind.
    """
    text = json.dumps(data, indent=indent, default=default, allow_nan=allow_nan)
    return write_text_atomic(path, text + "\n" if newline else text)
