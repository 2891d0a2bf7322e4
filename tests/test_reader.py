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


# --- whole-file problems and truncated audio -------------------------------------------------------


def test_truncated_wav_is_reported_with_its_frame_counts(tmp_path: Path) -> None:
    """soundfile reports a truncated wav's frames as what is there, so it was read as a shorter
    clip; the header's promise is compared with the file size (no samples are decoded)."""
    names = ["whole.wav", "cut: in half.wav"]
    write_corpus(tmp_path, [[name, *TRICKY_CAPTIONS] for name in names], names)
    cut = tmp_path / "development" / "cut: in half.wav"
    data = cut.read_bytes()  # 4410 frames of 16-bit mono after a 44-byte header
    cut.write_bytes(data[:1044])
    with pytest.raises(ClothoFormatError) as info:
        read_split(tmp_path, "development")
    assert info.value.problems == {"truncated_audio": ["cut: in half.wav"]}
    assert "cut: in half.wav: header promises 4410 frames, file holds 500" in str(info.value)
    with pytest.warns(UserWarning, match="1 truncated_audio"):
        result = read_split(tmp_path, "development", skip_bad=True)
    assert [clip.file_name for clip in result.clips] == ["whole.wav"]
    assert len(read_split(tmp_path, "development", skip_bad=True, check_audio=False)) == 2  # header check skipped


def test_non_utf8_captions_csv_names_file_byte_and_line(tmp_path: Path) -> None:
    write_corpus(tmp_path, [["a.wav", *TRICKY_CAPTIONS], ["b.wav", *TRICKY_CAPTIONS]], ["a.wav", "b.wav"])
    csv_path = tmp_path / "clotho_captions_development.csv"
    text = csv_path.read_text(encoding="utf-8").replace("Plain caption", "Caf\u00e9 caption", 2)
    latin1 = text.encode("latin-1")
    csv_path.write_bytes(latin1)
    offset = latin1.index(b"\xe9")
    with pytest.raises(ClothoFormatError) as info:
        read_split(tmp_path, "development")
    message = str(info.value)
    assert str(csv_path) in message and "must be UTF-8" in message
    assert f"byte {offset} (line 2) is 0xe9" in message
    assert isinstance(info.value.__cause__, UnicodeDecodeError)  # chained, for the full story
    # the same text as UTF-8 with a byte-order mark (as Excel saves it) reads fine
    csv_path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert [c.captions[3] for c in read_split(tmp_path, "development")] == ["Caf\u00e9 caption without punctuation"] * 2
    # and the offset of a bad byte counts the mark
    csv_path.write_bytes(b"\xef\xbb\xbf" + latin1)
    with pytest.raises(ClothoFormatError, match=f"byte {offset + 3} \\(line 2\\)"):
        read_split(tmp_path, "development")


def test_empty_split_is_an_error_naming_split_csv_and_folder(tmp_path: Path) -> None:
    """An empty split used to come back as [] and fail later with 'min() arg is an empty sequence'."""
    write_corpus(tmp_path, [], [], split="evaluation")
    with pytest.raises(ClothoFormatError) as info:
        read_split(tmp_path, "evaluation")
    message = str(info.value)
    assert "evaluation split of" in message and "no_clips" in message
    assert str(tmp_path / "clotho_captions_evaluation.csv") in message and str(tmp_path / "evaluation") in message
    assert "0 data rows" in message and "0 .wav files" in message
    # every clip skipped as bad: the same error, saying why, and no empty result
    write_corpus(tmp_path, [["a.wav", *TRICKY_CAPTIONS[:4]]], ["a.wav"], split="development")
    with pytest.raises(ClothoFormatError, match="1 bad_captions"):
        read_split(tmp_path, "development", skip_bad=True)
