"""Clotho-format reader: odd file names, quoted captions, CSV order, and every kind of bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aac_subsampling.data.reader import (
    CSV_HEADER,
    Clip,
    ClothoFormatError,
    clips_by_name,
    group_captions,
    read_clips,
    read_split,
)

ODD_NAMES = [
    "clotho file 01 A pug struggles to breathe 1_14_2008.wav",
    "Santa Motor.wav",
    "Train: arriving at 10.15, platform 2.wav",
    "rain.on.the.roof.v2.final.wav",
    "rain.on.the.roof.v3.final.wav",  # same text before the first dot as the previous name
    "(café) ambience #3 & [mix]; 'quiet'.wav",
]
TRICKY_CAPTIONS = (
    "A dog barks, then a bell rings.",
    'Someone says "hello" twice.',
    'Quoted, with commas, and "quotes", too.',
    "Plain caption without punctuation",
    "  leading spaces are kept as written",
)


def write_wav(path: Path, n: int = 4410) -> None:
    sf.write(path, np.full(n, 0.1, dtype=np.float32), 44100, subtype="PCM_16")


def write_corpus(root: Path, rows: list[list[str]], wavs: list[str], split: str = "development") -> Path:
    (root / split).mkdir(parents=True, exist_ok=True)
    for name in wavs:
        write_wav(root / split / name)
    with open(root / f"clotho_captions_{split}.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        writer.writerows(rows)
    return root


def test_odd_names_and_quoted_captions_round_trip_in_csv_order(tmp_path: Path) -> None:
    rows = [[name, *TRICKY_CAPTIONS] for name in ODD_NAMES]
    write_corpus(tmp_path, rows, list(reversed(ODD_NAMES)))  # creation order differs from CSV order
    result = read_split(tmp_path, "development")
    assert result.report.ok and result.report.n_clips == len(ODD_NAMES)
    assert [clip.file_name for clip in result.clips] == ODD_NAMES
    first = result.clips[0]
    assert isinstance(first, Clip)
    assert first.captions == TRICKY_CAPTIONS
    assert first.audio_path == tmp_path / "development" / ODD_NAMES[0]
    assert list(result) == read_clips(tmp_path, "development")
    # clips whose names agree up to the first dot stay distinct
    index = clips_by_name(result.clips)
    assert "rain.on.the.roof.v2.final.wav" in index and "rain.on.the.roof.v3.final.wav" in index
    grouped = group_captions((clip.file_name, c) for clip in result.clips for c in clip.captions)
    assert len(grouped) == len(ODD_NAMES)
    assert all(len(captions) == 5 for captions in grouped.values())


def bad_corpus(root: Path) -> dict[str, list[str]]:
    """One offender of every kind next to two good clips; returns the expected problems."""
    good = ["good one.wav", "good.two.wav"]
    rows = [[name, *TRICKY_CAPTIONS] for name in good]
    rows.append(["no audio for me.wav", *TRICKY_CAPTIONS])
    rows.append(["four captions.wav", *TRICKY_CAPTIONS[:4]])
    rows.append(["empty caption.wav", "a", "b", "", "d", "e"])
    rows.append(["twice listed.wav", *TRICKY_CAPTIONS])
    rows.append(["twice listed.wav", *TRICKY_CAPTIONS])
    rows.append(["empty: zero frames.wav", *TRICKY_CAPTIONS])
    rows.append(["garbage.bytes.wav", *TRICKY_CAPTIONS])
    wavs = good + ["four captions.wav", "empty caption.wav", "twice listed.wav", "not in csv.wav"]
    write_corpus(root, rows, wavs)
    sf.write(root / "development" / "empty: zero frames.wav", np.zeros(0, dtype=np.float32), 44100)
    (root / "development" / "garbage.bytes.wav").write_bytes(b"RIFF....not really a wav")
    return {
        "missing_audio": ["no audio for me.wav"],
        "unlisted_audio": ["not in csv.wav"],
        "empty_audio": ["empty: zero frames.wav"],
        "unreadable_audio": ["garbage.bytes.wav"],
        "bad_captions": ["four captions.wav", "empty caption.wav"],
        "duplicate_row": ["twice listed.wav"],
    }


def test_every_problem_is_reported_by_name_in_one_error(tmp_path: Path) -> None:
    expected = bad_corpus(tmp_path)
    with pytest.raises(ClothoFormatError) as info:
        read_split(tmp_path, "development")
    assert info.value.problems == expected
    message = str(info.value)
    for kind, names in expected.items():
        assert kind in message
        for name in names:
            assert name in message


def test_skip_bad_keeps_good_clips_and_reports_the_rest(tmp_path: Path) -> None:
    expected = bad_corpus(tmp_path)
    with pytest.warns(UserWarning, match="1 missing_audio"):
        result = read_split(tmp_path, "development", skip_bad=True)
    assert [clip.file_name for clip in result.clips] == ["good one.wav", "good.two.wav"]
    assert result.report.problems == expected
    assert "unlisted_audio" not in result.report.skipped
    assert result.report.n_rows == 9 and result.report.n_clips == 2
    assert "2 clips kept of 9 CSV rows" in result.report.summary()


def test_bad_header_and_missing_paths_are_named(tmp_path: Path) -> None:
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "clotho_captions_evaluation.csv").write_text("name,caption\nx.wav,a\n", encoding="utf-8")
    with pytest.raises(ClothoFormatError, match="clotho_captions_evaluation.csv"):
        read_split(tmp_path, "evaluation")
    with pytest.raises(FileNotFoundError, match="clotho_captions_development.csv"):
        read_split(tmp_path, "development")
    write_corpus(tmp_path / "other", [["a.wav", *TRICKY_CAPTIONS]], [])
    (tmp_path / "other" / "development").rmdir()
    with pytest.raises(FileNotFoundError, match="development"):
        read_split(tmp_path / "other", "development")
