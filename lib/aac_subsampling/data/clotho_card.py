"""Clotho v1's card: the facts about the corpus that the code relies on, each written once.

Splits, clip and caption counts, clip durations, the files of Zenodo record 3490684 (names, md5s,
URLs), and the fetch plan: which of those files a folder still needs downloaded and which archives
unpacked. The fetcher (:func:`aac_subsampling.data.clotho.fetch_clotho_v1`) and the preflight
(:mod:`aac_subsampling.experiment.preflight`) both follow :func:`plan_fetch`, and both explain a failed download
with :func:`by_hand_message`. Standard library only, so the preflight reads it without the data stack.

Layout of a complete copy under ``root``::

    root/clotho_audio_<split>.7z           (kept after extraction, md5-verified)
    root/clotho_captions_<split>.csv
    root/clotho_metadata_<split>.csv       (not required: nothing here reads them)
    root/<split>/*.wav                     (CLOTHO_V1_COUNTS[split] files)
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

__all__ = [
    "SPLITS",
    "CLOTHO_V1_COUNTS",
    "CAPTIONS_PER_CLIP",
    "CLIP_SECONDS",
    "ZENODO_RECORD",
    "ZENODO_DOI",
    "ZENODO_RECORD_URL",
    "ZENODO_HOST",
    "RemoteFile",
    "CLOTHO_V1_FILES",
    "CAPTION_FILES",
    "FetchPlan",
    "audio_archive",
    "captions_file",
    "metadata_file",
    "file_url",
    "count_wavs",
    "split_audio_complete",
    "plan_fetch",
    "download_line",
    "by_hand_message",
]

SPLITS: tuple[str, ...] = ("development", "evaluation")
#: Clips per split (one wav and one captions row each).
CLOTHO_V1_COUNTS: Mapping[str, int] = MappingProxyType({"development": 2893, "evaluation": 1045})
CAPTIONS_PER_CLIP = 5
#: Shortest and longest clip, in seconds.
CLIP_SECONDS: tuple[float, float] = (15.0, 30.0)

ZENODO_RECORD = 3490684
ZENODO_DOI = f"10.5281/zenodo.{ZENODO_RECORD}"
ZENODO_RECORD_URL = f"https://zenodo.org/record/{ZENODO_RECORD}/files"
ZENODO_HOST: str = urllib.parse.urlsplit(ZENODO_RECORD_URL).hostname or "zenodo.org"


def audio_archive(split: str) -> str:
    """``clotho_audio_<split>.7z``: the 7z archive holding the split's wavs."""
    return f"clotho_audio_{split}.7z"


def captions_file(split: str) -> str:
    """``clotho_captions_<split>.csv``: file_name, caption_1 .. caption_5 per clip."""
    return f"clotho_captions_{split}.csv"


def metadata_file(split: str) -> str:
    """``clotho_metadata_<split>.csv``: per-clip metadata (unused here, but part of the record)."""
    return f"clotho_metadata_{split}.csv"


#: split -> its captions CSV's name.
CAPTION_FILES: Mapping[str, str] = MappingProxyType({split: captions_file(split) for split in SPLITS})


@dataclass(frozen=True)
class RemoteFile:
    """One file of the Zenodo record: its name, md5, split and role."""

    name: str
    md5: str
    split: str
    kind: str  # "audio" (a 7z archive unpacking to <root>/<split>/), "captions" or "metadata"

    def extracts_to(self, root: str | os.PathLike[str]) -> Path | None:
        """Where an audio archive's wavs end up (``root/<split>``); None for the CSVs, used as downloaded."""
        return Path(root) / self.split if self.kind == "audio" else None


CLOTHO_V1_FILES: tuple[RemoteFile, ...] = (
    RemoteFile(audio_archive("development"), "e3ce88561b317cc3825e8c861cae1ec6", "development", "audio"),
    RemoteFile(captions_file("development"), "dd568352389f413d832add5cf604529f", "development", "captions"),
    RemoteFile(metadata_file("development"), "582c18ee47cebdbe33dce1feeab53a56", "development", "metadata"),
    RemoteFile(audio_archive("evaluation"), "4569624ccadf96223f19cb59fe4f849f", "evaluation", "audio"),
    RemoteFile(captions_file("evaluation"), "1b16b9e57cf7bdb7f13a13802aeb57e2", "evaluation", "captions"),
    RemoteFile(metadata_file("evaluation"), "13946f054d4e1bf48079813aac61bf77", "evaluation", "metadata"),
)


def file_url(name: str, base_url: str | None = None) -> str:
    """Download URL of ``name``: Zenodo's ``.../files/<name>?download=1`` unless ``base_url`` is given."""
    base = (base_url or ZENODO_RECORD_URL).rstrip("/")
    return f"{base}/{urllib.parse.quote(name)}?download=1"


# --- the fetch plan --------------------------------------------------------------------------


def count_wavs(folder: Path) -> int:
    """How many ``.wav`` files ``folder`` holds (0 when it does not exist); cheap, no audio is read."""
    if not folder.is_dir():
        return 0
    with os.scandir(folder) as entries:
        return sum(1 for entry in entries if entry.name.lower().endswith(".wav") and entry.is_file())


def split_audio_complete(root: Path, split: str, expected: int | None) -> bool:
    """Whether ``root/<split>/`` holds its wavs: ``expected`` of them, or any when ``expected`` is None."""
    found = count_wavs(Path(root) / split)
    return found > 0 and (expected is None or found == expected)


@dataclass(frozen=True)
class FetchPlan:
    """What making a complete copy under ``root`` still takes: files to download (in order) and audio
    archives to unpack (each into :meth:`RemoteFile.extracts_to`). Both empty: nothing to do."""

    root: Path
    download: tuple[RemoteFile, ...]
    extract: tuple[RemoteFile, ...]

    def urls(self, base_url: str | None = None) -> list[str]:
        """The download URLs of :attr:`download`."""
        return [file_url(remote.name, base_url) for remote in self.download]


def plan_fetch(
    root: str | os.PathLike[str],
    files: Sequence[RemoteFile] = CLOTHO_V1_FILES,
    expected_counts: Mapping[str, int] | None = CLOTHO_V1_COUNTS,
) -> FetchPlan:
    """The fetch plan for ``root``; looks at the disk only (no network, no md5).

    A split whose audio folder is incomplete needs its archive unpacked; every file of ``files`` that is
    not on disk is downloaded, except the archive of a split whose audio folder is already complete.
    """
    root = Path(root)
    download: list[RemoteFile] = []
    extract: list[RemoteFile] = []
    for remote in files:
        if remote.kind == "audio":
            expected = None if expected_counts is None else expected_counts.get(remote.split)
            if split_audio_complete(root, remote.split, expected):
                continue
            extract.append(remote)
        if not (root / remote.name).is_file():
            download.append(remote)
    return FetchPlan(root, tuple(download), tuple(extract))


# --- what to do by hand ----------------------------------------------------------------------


def download_line(remote: RemoteFile, base_url: str | None = None) -> str:
    """``<url>  (md5 <md5>)``: one line of :func:`by_hand_message`'s list."""
    return f"{file_url(remote.name, base_url)}  (md5 {remote.md5})"


def by_hand_message(
    root: str | os.PathLike[str],
    downloads: Sequence[str],
    reason: str,
    *,
    missing: str = "",
    then: str = "Then run again.",
) -> str:
    """Why Clotho v1 cannot be fetched, and how to get it by hand: the files to download (``downloads``,
    one URL line each), where to put them and what happens next.

    ``reason``: why the download cannot happen (the server's answer, an unreachable host);
    ``missing``: what is missing under ``root``, one item a line (left out when empty);
    ``then``: the caller's last sentence (how to run again).
    """
    folder = Path(root).resolve()
    gone = "".join(f"\n  {line}" for line in missing.strip().splitlines())
    split_folders = " and ".join(f"{folder}/{split}/" for split in SPLITS)
    return (
        f"Clotho v1 is not complete under {folder}/ and cannot be downloaded ({reason})."
        + (f"\nWhat is missing:{gone}" if gone else "")
        + f"\nOn a machine with internet access, download these files of Zenodo record {ZENODO_RECORD} "
        f"(Clotho v1, DOI {ZENODO_DOI}):\n"
        + "\n".join(f"  {line}" for line in downloads)
        + f"\nand put them, with these names, in {folder}/: the 7z archives are checked against their md5 and "
        f"unpacked into {split_folders} without network access. Or put an already extracted copy there (the "
        f"captions CSVs, {', '.join(f'{split}/*.wav' for split in SPLITS)}).\n{then}"
    )
