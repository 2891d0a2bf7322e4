"""Facts of the real Clotho v1 caption files (vocabulary, loss weights, file names through the reader)
and the Clotho-shaped corpus built from them.

The tests that need the real captions take the ``clotho_captions_dir`` fixture (tests/conftest.py),
which skips where the files are absent; the others use a few invented rows.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from aac_subsampling.data.clotho import clotho_v1_present
from aac_subsampling.data.reader import CSV_HEADER, read_split
from aac_subsampling.data.synthetic.clotho_shaped import (
    MARKER,
    clip_samples,
    generate_clotho_shaped_corpus,
    main,
    read_caption_rows,
)
from aac_subsampling.method.loss import token_weights
from aac_subsampling.method.tokens import EOS, SOS, Vocabulary, normalise_caption

SPLITS = ("development", "evaluation")

# Real names with the quirks a reader must survive: commas, spaces, dots, HTML escapes as written.
QUIRKY_NAMES = {
    "development": [
        "01-31 Footsteps, Wood, Barefoot, Jumps &amp; Scuffs.wav",
        "Huston we have a problem (before &amp; after cleaning).wav",
        "Uh, Hi, Mom. I Crashed the Car.wav",
        "20100402.Brugge.street.04.wav",
        "dmv - &#39;now serving&#39;.wav",
        "Elektron Analog Rytm Beat &gt; Redson EC-25 8-track tape echo.wav",
    ],
    "evaluation": [
        "Unseathing &amp; Wobble.wav",
        "Two Diesel Locomotives Pass Slowly, L to R.wav",
        "Jesus! Hellbound I go but I&#39;m coming back!.wav",
        "20061205.washing.machine.wash.wav",
    ],
}


def load_rows(folder: Path, split: str) -> list[tuple[str, tuple[str, ...]]]:
    return read_caption_rows(folder / f"clotho_captions_{split}.csv")


def write_captions(folder: Path, rows_by_split: dict[str, list[tuple[str, tuple[str, ...]]]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in rows_by_split.items():
        with open(folder / f"clotho_captions_{split}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_HEADER)
            writer.writerows([name, *captions] for name, captions in rows)
    return folder


# --- the real caption files ------------------------------------------------------------------------


def test_real_caption_files_have_clotho_v1_counts(clotho_captions_dir: Path) -> None:
    rows = {split: load_rows(clotho_captions_dir, split) for split in SPLITS}
    assert [len(rows[s]) for s in SPLITS] == [2893, 1045]
    assert [sum(len(c) for _, c in rows[s]) for s in SPLITS] == [14465, 5225]
    assert all(len(captions) == 5 for split in SPLITS for _, captions in rows[split])
    words = [len(normalise_caption(c)) for split in SPLITS for _, captions in rows[split] for c in captions]
    assert (min(words), max(words)) == (8, 20)
    dev_names = [name for name, _ in rows["development"]]
    assert sum("&amp;" in name for name in dev_names) == 19  # the README's count
    assert not set(dev_names) & {name for name, _ in rows["evaluation"]}
    for split, names in QUIRKY_NAMES.items():
        assert set(names) <= {name for name, _ in rows[split]}, split


def test_vocabulary_from_development_captions_is_the_papers(clotho_captions_dir: Path) -> None:
    development = [c for _, captions in load_rows(clotho_captions_dir, "development") for c in captions]
    vocabulary = Vocabulary.build(development)
    assert len(vocabulary) == 4367  # 4365 words + <sos> + <eos> (paper Sec. 3.2 says 4366; docs/method.md, section 2)
    assert vocabulary.words[0] == SOS and EOS in vocabulary.index
    evaluation = [c for _, captions in load_rows(clotho_captions_dir, "evaluation") for c in captions]
    for caption in evaluation:  # raises UnknownWordError naming the caption if a word is not covered
        assert vocabulary.encode(caption)[-1] == vocabulary.eos_index


def test_loss_weights_from_real_frequencies(clotho_captions_dir: Path) -> None:
    """Eq. 10 on the real counts: the rarest count is 1, so Phi_w = max(1 / f_w, 0.5): 1 for the 737
    words seen once, exactly beta for every other token (frequent words clamped)."""
    development = [c for _, captions in load_rows(clotho_captions_dir, "development") for c in captions]
    vocabulary = Vocabulary.build(development)
    frequencies = vocabulary.frequencies()
    weights = token_weights(frequencies, beta=0.5)
    assert weights.shape == (4367,) and bool(torch.isfinite(weights).all())
    assert float(weights.min()) == 0.5 and float(weights.max()) == 1.0
    assert min(frequencies) == 1
    assert int((weights == 1.0).sum()) == 737 and int((weights == 0.5).sum()) == 4367 - 737
    most_frequent = sorted(range(len(frequencies)), key=lambda i: -frequencies[i])[:20]
    assert vocabulary.words[most_frequent[0]] == "a" and frequencies[most_frequent[0]] == 14700
    assert all(float(weights[i]) == 0.5 for i in most_frequent)
    for word in (SOS, EOS, "the", "and"):
        assert float(weights[vocabulary.index[word]]) == 0.5, word


def test_real_file_names_round_trip_through_the_reader(clotho_captions_dir: Path, tmp_path: Path) -> None:
    """A tiny Clotho-shaped corpus of real rows with quirky names (plus two that ``limit`` cuts off)."""
    real = {split: dict(load_rows(clotho_captions_dir, split)) for split in SPLITS}
    chosen = {split: [(name, real[split][name]) for name in names] for split, names in QUIRKY_NAMES.items()}
    extra = {split: [row for row in real[split].items() if row[0] not in QUIRKY_NAMES[split]][:2] for split in SPLITS}
    captions_dir = write_captions(tmp_path / "captions", {s: chosen[s] + extra[s] for s in SPLITS})
    out = tmp_path / "corpus"
    summary = generate_clotho_shaped_corpus(
        captions_dir, out, min_seconds=3.0, max_seconds=3.2, limit=6, workers=1, progress=False
    )
    kept = {split: (chosen[split] + extra[split])[:6] for split in SPLITS}
    assert summary.clips == {split: len(kept[split]) for split in SPLITS} == {"development": 6, "evaluation": 6}
    for split in SPLITS:
        result = read_split(out, split)
        assert result.report.ok
        assert [(clip.file_name, clip.captions) for clip in result.clips] == kept[split]
        for clip in result.clips:
            assert clip.audio_path.name == clip.file_name
            info = sf.info(str(clip.audio_path))
            assert (info.samplerate, info.channels, info.subtype) == (44100, 1, "PCM_16")
            assert 3.0 <= info.duration <= 3.2, clip.file_name
    assert clotho_v1_present(out, expected_counts={"development": 6, "evaluation": 6})


def test_limit_on_the_real_files_keeps_the_first_clips(clotho_captions_dir: Path, tmp_path: Path) -> None:
    summary = generate_clotho_shaped_corpus(
        clotho_captions_dir, tmp_path, min_seconds=3.0, max_seconds=3.1, limit=2, workers=1, progress=False
    )
    assert summary.files_written == 4
    for split in SPLITS:
        assert [c.file_name for c in read_split(tmp_path, split).clips] == [
            name for name, _ in load_rows(clotho_captions_dir, split)[:2]
        ]


# --- the Clotho-shaped generator on invented rows (runs everywhere) --------------------------------

INVENTED = {
    "development": [
        ("a, b & c.wav", ("one", "two", "three", "four, five", 'six "6"')),
        ("x.y.z v1.0.wav", ("a", "b", "c", "d", "e")),
        ("Tom &amp; Jerry.wav", ("f", "g", "h", "i", "j")),
    ],
    "evaluation": [("only one.wav", ("k", "l", "m", "n", "o"))],
}


def test_generator_is_deterministic_resumes_and_prunes(tmp_path: Path) -> None:
    captions_dir = write_captions(tmp_path / "captions", INVENTED)
    first, second = tmp_path / "first", tmp_path / "second"
    made = generate_clotho_shaped_corpus(
        captions_dir, first, min_seconds=3.0, max_seconds=4.0, workers=1, progress=False
    )
    assert made.files_written == 4 and made.files_kept == 0 and (first / MARKER).is_file()
    generate_clotho_shaped_corpus(captions_dir, second, min_seconds=3.0, max_seconds=4.0, workers=2, progress=False)
    for split, rows in INVENTED.items():
        for name, _ in rows:
            assert (first / split / name).read_bytes() == (second / split / name).read_bytes(), name
    # audio depends on the name and seed only
    assert np.array_equal(clip_samples("a, b & c.wav", 0, 3.0, 4.0), clip_samples("a, b & c.wav", 0, 3.0, 4.0))
    assert not np.array_equal(
        clip_samples("a, b & c.wav", 1, 3.0, 4.0)[:1000], clip_samples("a, b & c.wav", 0, 3.0, 4.0)[:1000]
    )

    wav = first / "development" / "x.y.z v1.0.wav"
    mtime = wav.stat().st_mtime_ns
    again = generate_clotho_shaped_corpus(captions_dir, first, min_seconds=3.0, max_seconds=4.0, progress=False)
    assert (again.files_written, again.files_kept) == (0, 4) and wav.stat().st_mtime_ns == mtime
    wav.write_bytes(wav.read_bytes()[:1000])  # a damaged clip is rewritten
    assert (
        generate_clotho_shaped_corpus(
            captions_dir, first, min_seconds=3.0, max_seconds=4.0, progress=False
        ).files_written
        == 1
    )
    smaller = generate_clotho_shaped_corpus(
        captions_dir, first, min_seconds=3.0, max_seconds=4.0, limit=1, progress=False
    )
    assert sorted(smaller.files_removed) == ["development/Tom &amp; Jerry.wav", "development/x.y.z v1.0.wav"]
    assert [c.file_name for c in read_split(first, "development").clips] == ["a, b & c.wav"]


def test_generator_refuses_foreign_folders_and_bad_input(tmp_path: Path) -> None:
    captions_dir = write_captions(tmp_path / "captions", INVENTED)
    foreign = tmp_path / "real clotho"
    (foreign / "development").mkdir(parents=True)
    sf.write(foreign / "development" / "real.wav", np.zeros(100, dtype=np.int16), 44100)
    with pytest.raises(FileExistsError, match="refusing"):
        generate_clotho_shaped_corpus(captions_dir, foreign, progress=False)
    assert (foreign / "development" / "real.wav").stat().st_size > 0
    with pytest.raises(ValueError, match="min_seconds"):
        generate_clotho_shaped_corpus(captions_dir, tmp_path / "x", min_seconds=1.0, progress=False)
    bad = write_captions(
        tmp_path / "bad",
        {"development": [("not audio.mp3", ("a", "b", "c", "d", "e"))], "evaluation": INVENTED["evaluation"]},
    )
    with pytest.raises(ValueError, match=r"clotho_captions_development.csv line 2: file name 'not audio.mp3'"):
        generate_clotho_shaped_corpus(bad, tmp_path / "y", progress=False)
    with pytest.raises(FileNotFoundError, match="clotho_captions_development.csv"):
        generate_clotho_shaped_corpus(tmp_path / "nowhere", tmp_path / "z", progress=False)


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    captions_dir = write_captions(tmp_path / "captions", INVENTED)
    out = tmp_path / "out"
    assert (
        main(
            [
                "--captions-dir",
                str(captions_dir),
                "--out",
                str(out),
                "--limit",
                "2",
                "--min-seconds",
                "3",
                "--max-seconds",
                "3.5",
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    assert "3 wavs written" in capsys.readouterr().out  # 2 development clips, the 1 evaluation clip
    assert [c.file_name for c in read_split(out, "development").clips] == [n for n, _ in INVENTED["development"][:2]]
    assert main(["--captions-dir", str(tmp_path / "nowhere"), "--out", str(out)]) == 1
    assert "captions file not found" in capsys.readouterr().err
