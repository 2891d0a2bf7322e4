"""One run at a time per results folder.

A run holds an exclusive ``flock`` on ``<results>/run.lock`` for its whole life and writes its pid,
start time and command into the file. The kernel drops the lock when the process dies, however it
dies, so a lock file left by a killed run is recognised as stale (nobody holds it) and taken over.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from aac_subsampling.experiment import layout


class ResultsFolderBusyError(RuntimeError):
    """Another live run holds the folder's lock."""


class RunLock:
    """``with RunLock(folder):`` holds the folder's lock or raises :class:`ResultsFolderBusyError` at once."""

    def __init__(self, folder: Path, lock_name: str = layout.LOCK_FILE):
        self.path = Path(folder) / lock_name
        self.handle: IO[str] | None = None
        self.took_over: dict | None = None  # what a stale lock said, when one was taken over

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(self.path)
            handle.close()
            raise ResultsFolderBusyError(
                f"another run is working on {self.path.parent}: pid {holder.get('pid', '?')}, started "
                f"{holder.get('started_utc', '?')} ({holder.get('command', '?')}). Wait for it to finish, stop it, "
                "or give this run another --results-dir."
            ) from None
        previous = _read(self.path)
        if previous.get("pid") not in (None, os.getpid()):
            self.took_over = previous  # its holder died without removing the file
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "command": " ".join(sys.argv),
                }
            )
        )
        handle.flush()
        self.handle = handle
        return self

    def release(self) -> None:
        if self.handle is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return {}
