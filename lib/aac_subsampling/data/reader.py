"""Reader for Clotho-format corpora: ``<root>/<split>/*.wav`` plus ``<root>/clotho_captions_<split>.csv``.

The same reader serves Clotho v1 and the synthetic corpus. Clips come back in CSV order (never
directory-listing order) and are keyed by their full file name (the authors' ``name.split('.')[0]``
merged distinct clips whose names hold a dot). Every problem is reported by file name, grouped by
kind; by default they raise one :class:`ClothoFormatError`, with ``skip_bad=True`` the offending
clips are left out and listed in the returned :class:`ReadReport`. Problems of a whole file (a
captions CSV that is not UTF-8 or lacks its header, a split left with no clips) always raise, and
so does a reference caption (evaluation or validation split) with no words once punctuation is
removed: an empty reference lets an empty prediction score ROUGE_L 1 on its clip, and leaving the
clip out would change the split the scores are reported on.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from aac_subsampling.data.clotho_card import CAPTIONS_PER_CLIP, captions_file
from aac_subsampling.method.features import wav_frame_counts
from aac_subsampling.method.tokens import normalise_caption

__all__ = [
    "CAPTION_COLUMNS",
    "CSV_HEADER",
    "PROBLEM_KINDS",
    "FILE_PROBLEM_KINDS",
    "Clip",
    "ReadReport",
    "ReadResult",
    "ClothoFormatError",
    "captions_csv_path",
    "read_split",
    "read_clips",
    "clips_by_name",
    "group_captions",
    "decode_utf8",
]

log = logging.getLogger(__name__)

CAPTION_COLUMNS = tuple(f"caption_{k}" for k in range(1, CAPTIONS_PER_CLIP + 1))
CSV_HEADER = ("file_name",) + CAPTION_COLUMNS

# kind -> what it means; the order is the order of the error message
PROBLEM_KINDS: Mapping[str, str] = {
    "missing_audio": "listed in the captions CSV but no .wav file",
    "unlisted_audio": ".wav file with no row in the captions CSV",
    "empty_audio": ".wav file with no samples",
    "unreadable_audio": ".wav file that cannot be decoded",
    "truncated_audio": ".wav file shorter than its header says (an interrupted copy or extraction)",
    "bad_captions": "row without exactly 5 non-empty captions",
    "empty_caption": "development caption with no words once punctuation is removed",
    "duplicate_row": "file name on more than one CSV row",
}
#: The split whose captions are training targets; every other split's captions are references (scored against).
TRAINING_SPLIT = "development"
# problems of a whole file or split: always raised, skip_bad cannot leave them out
FILE_PROBLEM_KINDS: Mapping[str, str] = {
    "bad_header": "captions CSV without the Clotho header",
    "bad_encoding": "captions CSV that is not UTF-8",
    "no_clips": "split without a single usable clip",
    "empty_reference": "reference caption with no words once punctuation is removed",
}


@dataclass(frozen=True)
class Clip:
    """One audio clip and its captions (five for Clotho)."""

    file_name: str
    audio_path: Path
    captions: tuple[str, ...]


@dataclass
class ReadReport:
    """What :func:`read_split` found: clip counts and the offending file names per problem kind."""

    split: str
    n_rows: int = 0
    n_clips: int = 0
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def skipped(self) -> dict[str, list[str]]:
        """Problem kinds that removed clips from the result (``unlisted_audio`` adds none to remove)."""
        return {k: v for k, v in self.problems.items() if k != "unlisted_audio"}

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        counts = ", ".join(f"{len(v)} {k}" for k, v in self.problems.items())
        return f"{self.split}: {self.n_clips} clips kept of {self.n_rows} CSV rows" + (f"; {counts}" if counts else "")


@dataclass
class ReadResult:
    """The clips of one split, in CSV order, and the report of what was checked or skipped."""

    clips: list[Clip]
    report: ReadReport

    def __iter__(self):  # noqa: ANN204 - convenience: iterate the clips directly
        return iter(self.clips)

    def __len__(self) -> int:
        return len(self.clips)


SKIP_HINT = "Fix or remove these files, or read with skip_bad=True to leave them out."


class ClothoFormatError(ValueError):
    """A Clotho-format corpus has problems; ``problems`` maps each kind to the file names at fault.

    ``details`` (file name -> text) adds what was found after a name; ``hint`` replaces the closing
    advice (for problems that ``skip_bad`` cannot fix).
    """

    def __init__(
        self,
        where: str,
        problems: Mapping[str, list[str]],
        *,
        details: Mapping[str, str] | None = None,
        hint: str = SKIP_HINT,
    ) -> None:
        self.problems = {k: list(v) for k, v in problems.items()}
        details = details or {}
        lines = [f"{where} has problems:"]
        for kind, names in self.problems.items():
            meaning = PROBLEM_KINDS.get(kind) or FILE_PROBLEM_KINDS.get(kind, kind)
            lines.append(f"  {kind} ({meaning}): {len(names)}")
            lines += [f"    {name}" + (f": {details[name]}" if name in details else "") for name in names]
        lines.append(hint)
        # last, the offenders on one line: what a log that keeps only an error's last line (the run engine's
        # summary of a failed notebook) still shows
        lines.append("At fault: " + "; ".join(_in_short(kind, names, details) for kind, names in self.problems.items()))
        super().__init__("\n".join(lines))


def _in_short(kind: str, names: list[str], details: Mapping[str, str], shown: int = 3) -> str:
    wordless = kind in ("empty_caption", "empty_reference")
    listed = [f"{name!r} ({details[name]})" if wordless and name in details else repr(name) for name in names[:shown]]
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{kind}: {', '.join(listed)}{more}"


def captions_csv_path(root: str | os.PathLike[str], split: str) -> Path:
    """``<root>/clotho_captions_<split>.csv``."""
    return Path(root) / captions_file(split)


def decode_utf8(data: bytes, path: Path) -> str:
    """``data`` as UTF-8 text (a leading byte-order mark dropped), or a :class:`ClothoFormatError`
    naming ``path``, the byte offset and line of the first bad byte (a bare UnicodeDecodeError names
    no file)."""
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = bom + exc.start
        line = data.count(b"\n", 0, offset) + 1
        detail = (
            f"byte {offset} (line {line}) is 0x{data[offset]:02x}, not UTF-8 ({exc.reason}); the file must be UTF-8"
        )
        raise ClothoFormatError(
            str(path),
            {"bad_encoding": [detail]},
            hint="Save it again as UTF-8 (e.g. iconv -f latin1 -t utf-8 when it is Latin-1).",
        ) from exc


def _read_rows(csv_path: Path) -> list[list[str]]:
    """Data rows of a captions CSV after checking its encoding and header; blank lines are ignored."""
    if not csv_path.is_file():
        raise FileNotFoundError(f"captions file not found: {csv_path}")
    text = decode_utf8(csv_path.read_bytes(), csv_path)
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    if not rows or tuple(h.strip() for h in rows[0]) != CSV_HEADER:
        found = rows[0] if rows else "nothing"
        raise ClothoFormatError(
            str(csv_path),
            {"bad_header": [f"expected {','.join(CSV_HEADER)}, found {found}"]},
            hint="Its first line must be the Clotho header above (skip_bad cannot help here).",
        )
    return rows[1:]


def _wav_names(folder: Path) -> set[str]:
    if not folder.is_dir():
        raise FileNotFoundError(f"audio folder not found: {folder}")
    with os.scandir(folder) as entries:
        return {e.name for e in entries if e.name.lower().endswith(".wav") and e.is_file()}


def _audio_problem(path: Path) -> tuple[str, str] | None:
    """(kind, detail) of 'empty_audio' / 'unreadable_audio' / 'truncated_audio' from the file
    header and size only (cheap), else None."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        return "unreadable_audio", " ".join(str(exc).split())
    if info.frames == 0:
        return "empty_audio", "0 frames"
    # libsndfile clamps a truncated wav's frame count to what is there: check the header's promise
    try:
        with open(path, "rb") as handle:
            counts = wav_frame_counts(handle, path.stat().st_size)
    except OSError as exc:
        return "unreadable_audio", str(exc)
    if counts is not None and counts[1] < counts[0]:
        return "truncated_audio", f"header promises {counts[0]} frames, file holds {counts[1]}"
    return None


def _wordless_captions(rows: list[list[str]]) -> dict[int, list[int]]:
    """row index -> positions (0-based) of its captions that hold no word once punctuation is removed, either by
    the vocabulary's normalisation (:func:`~aac_subsampling.method.tokens.normalise_caption`: "...", "!?") or by the
    metrics' tokeniser (pycocoevalcap's PTB tokenisation drops "-", "--", "'" too: "- -")."""
    from aac_subsampling.evaluation.tokenization import fallback_tokenize  # pure Python (no Java)

    where = [(i, k) for i, row in enumerate(rows) for k, caption in enumerate(row[1:]) if caption.strip()]
    captions = [rows[i][k + 1] for i, k in where]
    tokenised = fallback_tokenize(captions) if captions else []
    found: dict[int, list[int]] = {}
    for (i, k), caption, tokens in zip(where, captions, tokenised):
        if not normalise_caption(caption) or not tokens.split():
            found.setdefault(i, []).append(k)
    return found


def _wordless_detail(csv_path: Path, row: list[str], positions: list[int]) -> str:
    columns = "; ".join(f"{CAPTION_COLUMNS[k]} = {row[k + 1]!r}" for k in positions if k < len(CAPTION_COLUMNS))
    return f"{csv_path.name}, {columns}: no words once punctuation is removed"


def read_split(
    root: str | os.PathLike[str],
    split: str,
    *,
    skip_bad: bool = False,
    check_audio: bool = True,
    captions_per_clip: int = CAPTIONS_PER_CLIP,
) -> ReadResult:
    """Read one split of a Clotho-format corpus, checking every row and every wav.

    Reports, by file name: CSV rows without a wav, wavs without a CSV row, empty, unreadable or
    truncated wavs (header and file size only, so it stays cheap; ``check_audio=False`` skips it),
    rows without exactly ``captions_per_clip`` non-empty captions, development captions with no
    words once punctuation is removed (``empty_caption``, naming the CSV and the caption column), and
    file names on several rows (all their rows are dropped: which captions are right is ambiguous).
    Default: raise one :class:`ClothoFormatError` listing all of them; ``skip_bad=True``: warn with
    the count per kind and return the good clips with the report. Always raised, ``skip_bad`` or
    not: a captions CSV that is not UTF-8 or has the wrong header, a reference caption (any split
    but the development split) with no words once punctuation is removed (``empty_reference``: an
    empty reference lets an empty prediction score ROUGE_L 1), and a split with no clip left
    (naming the split, the CSV and the audio folder), so callers never get an empty split.
    """
    root = Path(root)
    csv_path = captions_csv_path(root, split)
    rows = _read_rows(csv_path)
    audio_dir = root / split
    wavs = _wav_names(audio_dir)
    problems: dict[str, list[str]] = {kind: [] for kind in PROBLEM_KINDS}
    details: dict[str, str] = {}

    counts = Counter(row[0] for row in rows)
    problems["duplicate_row"] = sorted(name for name, n in counts.items() if n > 1)
    wordless = _wordless_captions(rows)
    references: dict[str, str] = {}  # file name -> detail, for a split whose captions are references
    clips: list[Clip] = []
    for index, row in enumerate(rows):
        name = row[0]
        if counts[name] > 1:
            continue
        captions = tuple(row[1:])
        if len(captions) != captions_per_clip or any(not c.strip() for c in captions):
            problems["bad_captions"].append(name)
            continue
        if index in wordless:
            detail = _wordless_detail(csv_path, row, wordless[index])
            if split != TRAINING_SPLIT:
                references[name] = detail
            else:
                problems["empty_caption"].append(name)
                details[name] = detail
                continue
        if name not in wavs:
            problems["missing_audio"].append(name)
            continue
        path = audio_dir / name
        if check_audio and (found := _audio_problem(path)) is not None:
            problems[found[0]].append(name)
            details[name] = found[1]
            continue
        clips.append(Clip(name, path, captions))
    problems["unlisted_audio"] = sorted(wavs - set(counts))
    problems = {k: v for k, v in problems.items() if v}
    if references:
        raise ClothoFormatError(
            f"{split} split of {root}",
            {"empty_reference": list(references)},
            details=references,
            hint=f"An empty reference lets an empty prediction score ROUGE_L 1 on its clip; write the caption again "
            f"in {csv_path} (skip_bad cannot leave reference clips out: the scores would be on another split).",
        )

    report = ReadReport(split=split, n_rows=len(rows), n_clips=len(clips), problems=problems)
    if problems and not skip_bad:
        raise ClothoFormatError(f"{split} split of {root}", problems, details=details)
    if not clips:
        detail = _empty_split_detail(report, csv_path, audio_dir, len(wavs))
        raise ClothoFormatError(
            f"{split} split of {root}",
            {"no_clips": [detail]},
            hint="A split needs at least one clip with its audio and captions.",
        )
    if problems:
        message = f"skipped bad clips in {audio_dir}: " + ", ".join(f"{len(v)} {k}" for k, v in problems.items())
        log.warning(message)
        warnings.warn(message, stacklevel=2)
    return ReadResult(clips, report)


def _empty_split_detail(report: ReadReport, csv_path: Path, audio_dir: Path, n_wavs: int) -> str:
    """Why a split came out empty, in one line (the pipeline would otherwise fail on min() of nothing)."""
    why = f"; all skipped ({report.summary()})" if report.problems else ""
    return f"no clips: {csv_path} has {report.n_rows} data rows and {audio_dir} holds {n_wavs} .wav files{why}"


def read_clips(root: str | os.PathLike[str], split: str, **kwargs: object) -> list[Clip]:
    """Just the clips of :func:`read_split` (same checks and options)."""
    return read_split(root, split, **kwargs).clips  # type: ignore[arg-type]


def clips_by_name(clips: Iterable[Clip]) -> dict[str, Clip]:
    """Index clips by their full file name (dots included); a repeated name is an error naming it."""
    index: dict[str, Clip] = {}
    for clip in clips:
        if clip.file_name in index:
            raise ValueError(f"clip {clip.file_name!r} appears twice")
        index[clip.file_name] = clip
    return index


def group_captions(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Group (file_name, caption) pairs by the full file name, keeping first-seen order.

    Used to gather a clip's references for evaluation; the key is the whole name, so
    ``a.1.wav`` and ``a.2.wav`` stay two clips.
    """
    grouped: dict[str, list[str]] = {}
    for name, caption in pairs:
        grouped.setdefault(name, []).append(caption)
    return grouped
