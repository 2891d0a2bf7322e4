"""HTTP download with resume, retries and md5 verification, using only the standard library.

Used by :mod:`aac_subsampling.data.clotho` for the Zenodo files; kept separate because nothing in
it is specific to Clotho. A server that is busy (HTTP 429 or 5xx) is asked again after a pause
(its ``Retry-After`` if it sends one), a bounded number of times and for a bounded total wait; a
file already in place whose md5 is wrong is moved aside (``<name>.md5-mismatch``), never deleted.
"""

from __future__ import annotations

import email.utils
import hashlib
import http
import http.client
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from aac_subsampling.base.progress import progress_bar

__all__ = [
    "FetchError",
    "DownloadError",
    "ChecksumMismatchError",
    "NETWORK_ERRORS",
    "HTTP_RETRIES",
    "MAX_RETRY_WAIT_S",
    "md5sum",
    "move_aside",
    "verify_or_delete",
    "verify_or_move_aside",
    "download_file",
    "http_status_text",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
#: How often a busy server (HTTP 429 or 5xx) is asked again, and the most seconds spent waiting
#: for it in one download: Zenodo rate-limits bursts, and its Retry-After is usually a minute or less.
HTTP_RETRIES = 5
MAX_RETRY_WAIT_S = 600.0
MISMATCH_SUFFIX = ".md5-mismatch"


class FetchError(RuntimeError):
    """Base class of the download errors."""


class DownloadError(FetchError):
    """A transfer failed (network error, HTTP error, or a truncated body); any partial data is kept.

    ``status``: the HTTP status the server answered with, or None when no answer came (network).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ChecksumMismatchError(FetchError):
    """A file's md5 differs from the published one; a download is deleted, a file found in place
    is moved aside (the message says where)."""


def _sleep(seconds: float) -> None:
    """The pause between tries; a module-level name so tests can replace it."""
    time.sleep(seconds)


def md5sum(path: str | os.PathLike[str], chunk_size: int = _CHUNK, progress: bool = False) -> str:
    """Hex md5 of a file, read in chunks so multi-GB archives need little memory.

    ``progress``: a bytes progress bar (md5 of a 4 GB archive takes about ten seconds or more).
    """
    digest = hashlib.md5()
    with (
        open(path, "rb") as handle,
        progress_bar(
            total=os.fstat(handle.fileno()).st_size,
            unit="B",
            unit_scale=True,
            desc=f"md5 {Path(path).name}",
            disable=not progress,
            leave=False,
        ) as bar,
    ):
        while block := handle.read(chunk_size):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError, TimeoutError)


def verify_or_delete(path: Path, md5: str, label: str, progress: bool = False) -> None:
    """Check a file this code downloaded (``.part``): deleted when its md5 is wrong."""
    actual = md5sum(path, progress=progress)
    if actual != md5.lower():
        path.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"md5 mismatch for {label}: expected {md5.lower()}, got {actual}; the bad file "
            f"{path} was deleted, run the download again"
        )


def move_aside(path: Path, suffix: str = MISMATCH_SUFFIX) -> Path:
    """Rename ``path`` to ``<name><suffix>`` (``-1``, ``-2``, ... when taken, so an earlier one is
    kept) and return the new path."""
    target = path.with_name(path.name + suffix)
    number = 0
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}{suffix}-{number}")
    os.replace(path, target)
    return target


def verify_or_move_aside(path: Path, md5: str, label: str, progress: bool = False) -> None:
    """Check a file found in place (put there by hand, or by an earlier run): when its md5 is wrong
    it is moved aside, not deleted (it may be someone's only copy, or a newer version of the file),
    and :class:`ChecksumMismatchError` says where it went and both checksums."""
    actual = md5sum(path, progress=progress)
    if actual != md5.lower():
        target = move_aside(path)
        raise ChecksumMismatchError(
            f"md5 mismatch for {label}: expected {md5.lower()}, found {actual} in {path}; the file was "
            f"moved aside to {target} (not deleted). Put a correct copy at {path}, or remove it and "
            "run again to download it"
        )


def http_status_text(code: int) -> str:
    """``HTTP 429 (too many requests)``: the code and its standard phrase."""
    try:
        phrase = http.HTTPStatus(code).phrase.lower()
    except ValueError:
        return f"HTTP {code}"
    return f"HTTP {code} ({phrase})"


def _is_busy(code: int) -> bool:
    """Statuses that mean 'try again later' rather than 'this will never work'."""
    return code == 429 or 500 <= code <= 599


def _retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or an HTTP date), or None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def _backoff(try_number: int) -> float:
    """Pause before the ``try_number``-th retry when the server gave no Retry-After: 2, 4, 8, ... s."""
    return min(2.0**try_number, 60.0)


def _transfer_once(url: str, part: Path, timeout: float, progress: bool, label: str) -> None:
    """One HTTP request that appends to ``part`` (resuming with Range when it holds data).

    A 206 answer is appended; a 200 answer (server ignored the Range header) restarts the file;
    a 416 answer (range past the end) discards the partial file and restarts without Range.
    Raises :class:`DownloadError` if the body ends before its announced length.
    """
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "aac-subsampling/0.1"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            log.warning("server refused to resume %s at byte %d; restarting", label, offset)
            part.unlink()
            return _transfer_once(url, part, timeout, progress, label)
        raise
    with response:
        status = response.status
        if offset and status == 206:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {offset}-"):
                raise DownloadError(f"{label}: unexpected Content-Range {content_range!r} for resume at byte {offset}")
            mode = "ab"
        else:
            if offset:
                log.warning("server ignored the Range request for %s (HTTP %d); restarting", label, status)
            offset, mode = 0, "wb"
        length = response.headers.get("Content-Length")
        remaining = int(length) if length is not None else None
        total = offset + remaining if remaining is not None else None
        received = 0
        with (
            open(part, mode) as out,
            progress_bar(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                desc=label,
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            while True:
                try:
                    block = response.read(_CHUNK)
                except http.client.IncompleteRead as exc:
                    out.write(exc.partial)
                    received += len(exc.partial)
                    block = b""
                if not block:
                    break
                out.write(block)
                received += len(block)
                bar.update(len(block))
        if remaining is not None and received < remaining:
            raise DownloadError(
                f"{label}: transfer interrupted after {offset + received} of {total} bytes; "
                f"the partial data is kept in {part} and the next attempt resumes from there"
            )


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    md5: str,
    progress: bool = True,
    *,
    retries: int = 3,
    timeout: float = 60.0,
    http_retries: int = HTTP_RETRIES,
    max_wait: float = MAX_RETRY_WAIT_S,
    sleep: Callable[[float], None] | None = None,
) -> Path:
    """Download ``url`` to ``dest`` and check its md5; return ``dest``.

    Data streams into ``dest.part``; an existing ``.part`` (an interrupted earlier run) is resumed
    with an HTTP Range request, and an interrupted transfer is resumed up to ``retries`` times in
    this call. Only a verified file is renamed to ``dest``; a downloaded file whose md5 differs is
    deleted and :class:`ChecksumMismatchError` names the file and both checksums. If ``dest``
    already exists with the right md5 nothing is downloaded; with a wrong md5 it is moved aside to
    ``dest.md5-mismatch`` (a warning says so) and downloaded again.

    A busy server (HTTP 429 or 5xx) is asked again up to ``http_retries`` times, after the pause
    its ``Retry-After`` header asks for or else 2, 4, 8, ... s, as long as the pauses add up to no
    more than ``max_wait`` seconds; ``sleep`` (default ``time.sleep``) makes the pauses. Then, and
    for any other HTTP error, :class:`DownloadError` says what the server answered (its
    ``status`` attribute holds the code). Network failures raise :class:`DownloadError` (chained
    to the original error, ``status`` None), leaving ``.part`` for a later resume.
    """
    dest = Path(dest)
    label = dest.name
    pause = sleep or _sleep
    if dest.exists():
        actual = md5sum(dest, progress=progress)
        if actual == md5.lower():
            return dest
        moved = move_aside(dest)
        log.warning(
            "%s exists but its md5 is %s, expected %s; moved it aside to %s and downloading it again",
            dest,
            actual,
            md5.lower(),
            moved,
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    attempt = 0
    busy_tries, waited = 0, 0.0
    while True:
        try:
            _transfer_once(url, part, timeout, progress, label)
            break
        except DownloadError:
            attempt += 1
            if attempt > retries:
                raise
            log.warning("%s interrupted; resuming (attempt %d of %d)", label, attempt, retries)
        except urllib.error.HTTPError as exc:
            asked = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            exc.close()  # free the connection before waiting
            if not _is_busy(exc.code):
                raise DownloadError(
                    f"{label}: the server answered {http_status_text(exc.code)} for {url}", status=exc.code
                ) from exc
            busy_tries += 1
            delay = asked if asked is not None else _backoff(busy_tries)
            if busy_tries > http_retries or waited + delay > max_wait:
                too_long = delay if busy_tries <= http_retries else None
                raise DownloadError(
                    _busy_message(label, url, exc.code, busy_tries, waited, too_long, max_wait), status=exc.code
                ) from exc
            log.warning(
                "%s: the server answered %s; asking again in %.0f s (retry %d of %d)",
                label,
                http_status_text(exc.code),
                delay,
                busy_tries,
                http_retries,
            )
            pause(delay)
            waited += delay
        except NETWORK_ERRORS as exc:
            attempt += 1
            if attempt > retries or not part.exists():
                raise DownloadError(f"{label}: cannot download {url}: {exc}") from exc
            log.warning("%s: network error %s; resuming (attempt %d of %d)", label, exc, attempt, retries)
            pause(min(2.0**attempt, 30.0))
    verify_or_delete(part, md5, label, progress)
    os.replace(part, dest)
    return dest


def _busy_message(
    label: str, url: str, code: int, tries: int, waited: float, too_long: float | None, max_wait: float
) -> str:
    """Why a busy server was given up on: its answer, how often, and how long was waited.
    ``too_long``: the pause that would have passed ``max_wait`` (None: the tries ran out)."""
    why = (
        f"then asked for {too_long:.0f} s more, past the {max_wait:.0f} s limit"
        if too_long is not None
        else f"{tries} times in a row"
    )
    return (
        f"{label}: the server answered {http_status_text(code)} for {url}, {why} (waited {waited:.0f} s in "
        "all); it is busy or rate-limiting this client, not unreachable: try again later"
    )
