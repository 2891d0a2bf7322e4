"""Clotho v1 (Zenodo record 3490684): download, verify, extract, and an offline presence check.

The corpus's facts (splits, counts, file names, md5s, URLs, the layout under ``root`` once fetched) and
the fetch plan are in :mod:`aac_subsampling.data.clotho_card`; this module carries the plan out.

Downloads stream through ``urllib`` into ``<file>.part``, resume with an HTTP Range request after an
interruption, wait and ask again when Zenodo answers 429 (too many requests) or 5xx, and are
md5-verified before being renamed into place. An archive found in place with a wrong md5 is moved
aside to ``<name>.md5-mismatch``, not deleted. Without network access the fetch raises
:class:`ClothoNotAvailableError`, which says which files to download from where and where to put
them. :func:`clotho_v1_present` and :func:`describe_missing` never touch the network.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aac_subsampling.base.progress import progress_bar
from aac_subsampling.data.clotho_card import (
    CAPTIONS_PER_CLIP,
    CLOTHO_V1_COUNTS,
    CLOTHO_V1_FILES,
    SPLITS,
    ZENODO_RECORD_URL,
    RemoteFile,
    by_hand_message,
    captions_file,
    count_wavs,
    download_line,
    file_url,
    plan_fetch,
)
from aac_subsampling.data.download import (
    ChecksumMismatchError,
    DownloadError,
    FetchError,
    download_file,
    http_status_text,
    md5sum,
    verify_or_move_aside,
)
from aac_subsampling.data.reader import ClothoFormatError, decode_utf8

__all__ = [
    "ZENODO_RECORD_URL",
    "RemoteFile",
    "CLOTHO_V1_FILES",
    "CLOTHO_V1_COUNTS",
    "SPLITS",
    "CAPTIONS_PER_CLIP",
    "ClothoError",
    "DownloadError",
    "ChecksumMismatchError",
    "ClothoNotAvailableError",
    "ClothoLayoutError",
    "file_url",
    "md5sum",
    "download_file",
    "fetch_clotho_v1",
    "clotho_v1_present",
    "describe_missing",
    "verify_clotho_layout",
]

log = logging.getLogger(__name__)


class ClothoError(FetchError):
    """Base class of the Clotho-specific errors."""


class ClothoNotAvailableError(ClothoError):
    """Clotho v1 is not on disk and cannot be downloaded; the message says how to get it by hand."""


class ClothoLayoutError(ClothoError):
    """The extracted copy does not hold the expected files (wrong counts, missing CSV rows)."""


def _split_problems(root: Path, split: str, expected: int | None, files: Sequence[RemoteFile]) -> list[str]:
    """What is missing for one split (cheap: a directory count and file existence, no network)."""
    problems = []
    for remote in files:
        if remote.split == split and remote.kind == "captions" and not (root / remote.name).is_file():
            problems.append(f"{root / remote.name} is missing")
    n_wavs = count_wavs(root / split)
    if n_wavs == 0:
        problems.append(f"{root / split}/ holds no .wav files")
    elif expected is not None and n_wavs != expected:
        problems.append(f"{root / split}/ holds {n_wavs} .wav files, expected {expected}")
    return problems


def describe_missing(
    root: str | os.PathLike[str],
    expected_counts: Mapping[str, int] | None = CLOTHO_V1_COUNTS,
    files: Sequence[RemoteFile] = CLOTHO_V1_FILES,
) -> str:
    """Human-readable list of what is missing under ``root`` ('' when complete). Never touches the network.

    A copy is complete when both captions CSVs exist and ``development/`` and ``evaluation/`` hold
    the expected number of .wav files (``expected_counts=None`` only requires them to be non-empty).
    The metadata CSVs are not required: nothing in this project reads them.
    """
    root = Path(root)
    problems = []
    for split in SPLITS:
        expected = None if expected_counts is None else expected_counts.get(split)
        problems += _split_problems(root, split, expected, files)
    return "\n".join(problems)


def clotho_v1_present(
    root: str | os.PathLike[str],
    expected_counts: Mapping[str, int] | None = CLOTHO_V1_COUNTS,
    files: Sequence[RemoteFile] = CLOTHO_V1_FILES,
) -> bool:
    """True when an extracted Clotho v1 copy is complete under ``root`` (see :func:`describe_missing`)."""
    return describe_missing(root, expected_counts, files) == ""


def other_clotho_format_corpus(
    root: str | os.PathLike[str],
    files: Sequence[RemoteFile] = CLOTHO_V1_FILES,
    expected_counts: Mapping[str, int] = CLOTHO_V1_COUNTS,
) -> str | None:
    """A description of the Clotho-format corpus under ``root`` when it is complete but is not Clotho v1 (other
    clip counts: a Clotho-shaped or synthetic corpus, a subset); None otherwise.

    Complete means: both captions CSVs, and every file they list present in its split folder, with no other wav.
    A partly extracted Clotho v1 lists files it does not hold, so it is never taken for another corpus.
    """
    root = Path(root)
    if describe_missing(root, None, files):
        return None
    counts = {}
    for split in SPLITS:
        with (root / captions_file(split)).open(newline="", encoding="utf-8", errors="replace") as handle:
            listed = {row[0] for row in list(csv.reader(handle))[1:] if row}
        held = {path.name for path in (root / split).glob("*.wav")}
        if listed != held:
            return None
        counts[split] = len(listed)
    if all(counts[split] == expected_counts.get(split) for split in SPLITS):
        return None
    marker = next(
        (name for name in ("clotho_shaped_corpus.json", "synthetic_corpus.json") if (root / name).is_file()), None
    )
    made_by = f", made by this project ({marker})" if marker else ""
    return (
        f"a Clotho-format corpus that is not Clotho v1: {counts['development']} + {counts['evaluation']} clips, "
        f"not {expected_counts['development']} + {expected_counts['evaluation']}{made_by}"
    )


def verify_clotho_layout(
    root: str | os.PathLike[str],
    expected_counts: Mapping[str, int] = CLOTHO_V1_COUNTS,
    captions_per_clip: int = CAPTIONS_PER_CLIP,
    files: Sequence[RemoteFile] = CLOTHO_V1_FILES,
) -> None:
    """Check wav counts and captions CSV rows of every split; raise :class:`ClothoLayoutError` listing all problems.

    Deeper per-file checks (unreadable or empty wavs, rows without audio) are the reader's job.
    """
    root = Path(root)
    problems = describe_missing(root, expected_counts, files).splitlines()
    for remote in files:
        path = root / remote.name
        if remote.kind != "captions" or not path.is_file():
            continue
        expected = expected_counts.get(remote.split)
        try:
            text = decode_utf8(path.read_bytes(), path)
        except ClothoFormatError as exc:  # names the file, the byte and the line
            problems.append(f"{path}: {exc.problems['bad_encoding'][0]}")
            continue
        rows = list(csv.reader(io.StringIO(text, newline="")))
        if expected is not None and len(rows) - 1 != expected:
            problems.append(f"{path} has {len(rows) - 1} caption rows, expected {expected}")
        for number, row in enumerate(rows[1:], start=2):
            captions = [c for c in row[1:] if c.strip()]
            if len(captions) != captions_per_clip:
                problems.append(
                    f"{path} line {number} ({row[0] if row else '?'}): {len(captions)} captions, "
                    f"expected {captions_per_clip}"
                )
    if problems:
        raise ClothoLayoutError(f"Clotho copy at {root} is incomplete:\n  " + "\n  ".join(problems))


def _extraction_bar(total: int, label: str, progress: bool) -> Any:
    """A py7zr extraction callback driving a bytes progress bar (7z archives list each member's
    size, and py7zr reports each member when written). Built here because py7zr is imported lazily."""
    from py7zr.callbacks import ExtractCallback

    class Bar(ExtractCallback):
        def __init__(self) -> None:
            self.bar = progress_bar(
                total=total, unit="B", unit_scale=True, desc=f"unpack {label}", disable=not progress, leave=False
            )

        def report_end(self, processing_file_path: str, wrote_bytes: str) -> None:
            self.bar.update(int(wrote_bytes or 0))

        # the other events carry nothing the bar needs
        def report_start_preparation(self) -> None:
            pass

        def report_start(self, processing_file_path: str, processing_bytes: str) -> None:
            pass

        def report_update(self, decompressed_bytes: str) -> None:
            pass

        def report_warning(self, message: str) -> None:
            log.warning("%s: %s", label, message)

        def report_postprocess(self) -> None:
            pass

    return Bar()


def _extract_archive(archive: Path, root: Path, split: str, progress: bool = False) -> None:
    """Unpack a 7z audio archive so that its wavs end up in ``root/<split>/``.

    Extraction goes to a temporary folder first and is moved into place only when complete, so an
    interrupted extraction never looks like a finished one. Clotho v1 archives hold a top-level
    ``<split>/`` folder; an archive with the wavs at its top level is accepted too. ``progress``:
    a bytes progress bar (the development archive unpacks to several GB).
    """
    import py7zr  # imported here: only needed when extracting

    staging = root / f".extracting-{split}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    log.info("extracting %s into %s", archive, root / split)
    with py7zr.SevenZipFile(archive, mode="r") as seven:
        total = sum(int(info.uncompressed or 0) for info in seven.list())
    callback = _extraction_bar(total, archive.name, progress)
    try:  # the bar is closed after the archive, whose close() waits for py7zr's reporting thread
        with py7zr.SevenZipFile(archive, mode="r") as seven:
            seven.extractall(path=staging, callback=callback)
    finally:
        callback.bar.close()
    source = staging / split if (staging / split).is_dir() else staging
    target = root / split
    if target.exists():
        shutil.rmtree(target)
    os.replace(source, target)
    if staging.exists():
        shutil.rmtree(staging)


def _manual_instructions(
    root: Path, missing: Sequence[RemoteFile], base_url: str | None, status: int | None = None
) -> str:
    """What to download by hand and where to put it. ``status``: the HTTP status that stopped the
    download (a busy or refusing server is not a missing network, and must not be called one)."""
    why = "no network?" if status is None else f"the server answered {http_status_text(status)}"
    return by_hand_message(
        root,
        [download_line(remote, base_url) for remote in missing],
        why,
        then="Then run again, or pass `existing=` pointing at an already extracted Clotho v1 copy.",
    )


def fetch_clotho_v1(
    root: str | os.PathLike[str],
    base_url: str | None = None,
    existing: str | os.PathLike[str] | None = None,
    progress: bool = True,
    *,
    files: Sequence[RemoteFile] = CLOTHO_V1_FILES,
    expected_counts: Mapping[str, int] = CLOTHO_V1_COUNTS,
    captions_per_clip: int = CAPTIONS_PER_CLIP,
    keep_archives: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Make Clotho v1 available and return the folder that holds it (``root``, or ``existing``).

    - ``existing`` given: it must be a complete extracted copy; it is returned without any network
      access (an incomplete one raises :class:`ClothoNotAvailableError` listing what is missing).
    - Complete copy under ``root``: returned, no network access.
    - Otherwise each missing file is downloaded from ``base_url`` (Zenodo by default) with
      :func:`download_file`, archives are extracted with py7zr, and the result is checked with
      :func:`verify_clotho_layout`. Archives already downloaded are reused (md5-checked, with a
      progress bar; one with a wrong md5 is moved aside to ``<name>.md5-mismatch`` and
      :class:`ChecksumMismatchError` says so).

    ``files``, ``expected_counts`` and ``captions_per_clip`` exist so tests can use tiny fakes.
    Network failures, and a server still busy (HTTP 429/5xx) after :func:`download_file`'s retries,
    raise :class:`ClothoNotAvailableError` naming the cause, the files, their URLs and ``root``.
    """
    if existing is not None:
        existing = Path(existing)
        missing = describe_missing(existing, expected_counts, files)
        if missing:
            raise ClothoNotAvailableError(f"the Clotho copy given as existing={existing} is incomplete:\n{missing}")
        return existing
    root = Path(root)
    if clotho_v1_present(root, expected_counts, files):
        return root
    root.mkdir(parents=True, exist_ok=True)

    plan = plan_fetch(root, files, expected_counts)  # the preflight reads the same plan
    try:
        for remote in plan.download:
            download_file(file_url(remote.name, base_url), root / remote.name, remote.md5, progress, timeout=timeout)
    except DownloadError as exc:
        raise ClothoNotAvailableError(
            f"{exc}\n" + _manual_instructions(root, plan.download, base_url, exc.status)
        ) from exc

    for remote in plan.extract:
        archive = root / remote.name
        if remote not in plan.download:  # downloaded by an earlier run or by hand: check it first
            verify_or_move_aside(archive, remote.md5, remote.name, progress)
        _extract_archive(archive, root, remote.split, progress)
        if not keep_archives:
            archive.unlink()
    verify_clotho_layout(root, expected_counts, captions_per_clip, files)
    return root
