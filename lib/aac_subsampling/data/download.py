"""HTTP download with resume and md5 verification, using only the standard library.

Used by :mod:`aac_subsampling.data.clotho` for the Zenodo files; kept separate because nothing in
it is specific to Clotho.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["FetchError", "DownloadError", "ChecksumMismatchError", "NETWORK_ERRORS", "md5sum",
           "verify_or_delete", "download_file"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class FetchError(RuntimeError):
    """Base class of the download errors."""


class DownloadError(FetchError):
    """A transfer failed (network error, HTTP error, or a truncated body); any partial data is kept."""


class ChecksumMismatchError(FetchError):
    """A downloaded file's md5 differs from the published one; the bad file has been deleted."""


def md5sum(path: str | os.PathLike[str], chunk_size: int = _CHUNK) -> str:
    """Hex md5 of a file, read in chunks so multi-GB archives need little memory."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError, TimeoutError)


def verify_or_delete(path: Path, md5: str, label: str) -> None:
    actual = md5sum(path)
    if actual != md5.lower():
        path.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"md5 mismatch for {label}: expected {md5.lower()}, got {actual}; the bad file "
            f"{path} was deleted, run the download again"
        )


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
        with open(part, mode) as out, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, desc=label, disable=not progress, leave=False,
        ) as bar:
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
) -> Path:
    """Download ``url`` to ``dest`` and check its md5; return ``dest``.

    Data streams into ``dest.part``; an existing ``.part`` (an interrupted earlier run) is resumed
    with an HTTP Range request, and an interrupted transfer is resumed up to ``retries`` times in
    this call. Only a verified file is renamed to ``dest``; a complete file whose md5 differs is
    deleted and :class:`ChecksumMismatchError` names the file and both checksums. If ``dest``
    already exists with the right md5 nothing is downloaded. Network failures raise
    :class:`DownloadError` (chained to the original error), leaving ``.part`` for a later resume.
    """
    dest = Path(dest)
    label = dest.name
    if dest.exists():
        if md5sum(dest) == md5.lower():
            return dest
        log.warning("%s exists but its md5 is wrong; downloading it again", dest)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    attempt = 0
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
            raise DownloadError(f"{label}: HTTP {exc.code} {exc.reason} from {url}") from exc
        except NETWORK_ERRORS as exc:
            attempt += 1
            if attempt > retries or not part.exists():
                raise DownloadError(f"{label}: cannot download {url}: {exc}") from exc
            log.warning("%s: network error %s; resuming (attempt %d of %d)", label, exc, attempt, retries)
            time.sleep(min(2.0**attempt, 30.0))
    verify_or_delete(part, md5, label)
    os.replace(part, dest)
    return dest
