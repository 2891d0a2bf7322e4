"""One home per fact: Clotho's card, the paper's numbers and the atomic write are each defined once.

The source scans read lib/ with :mod:`tokenize`, so comments and docstrings may mention the facts freely;
only code (names, numbers, strings that are not docstrings) counts.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

import aac_subsampling
from aac_subsampling.base import atomic
from aac_subsampling.data import clotho, clotho_card, reader
from aac_subsampling.experiment import preflight
from aac_subsampling.method import paper

LIB = Path(aac_subsampling.__file__).resolve().parent
CARD = "data/clotho_card.py"
PAPER = "method/paper.py"

# Renames that move complete files or folders into place, not writes: a verified download, a bad
# download moved aside, an unpacked archive's folder.
RENAMES_THAT_ARE_NOT_WRITES: tuple[str, ...] = ("data/download.py", "data/clotho.py")

PAPER_NUMBERS = {4367, 1292, 2584, 4573711}  # D, Table 2's inputs, the parameter count
CARD_NUMBERS = {2893, 1045}  # clips per split


# --- (a) the facts, and one plan for the fetcher and the preflight -------------------------------------


def test_clotho_card_facts():
    assert clotho_card.SPLITS == ("development", "evaluation")
    assert dict(clotho_card.CLOTHO_V1_COUNTS) == {"development": 2893, "evaluation": 1045}
    assert clotho_card.CAPTIONS_PER_CLIP == 5
    assert clotho_card.CLIP_SECONDS == (15.0, 30.0)
    assert clotho_card.ZENODO_HOST == "zenodo.org"
    files = clotho_card.CLOTHO_V1_FILES
    assert sorted((f.split, f.kind) for f in files) == sorted(
        (split, kind) for split in clotho_card.SPLITS for kind in ("audio", "captions", "metadata")
    )
    assert all(re.fullmatch(r"[0-9a-f]{32}", f.md5) for f in files)
    assert dict(clotho_card.CAPTION_FILES) == {s: f"clotho_captions_{s}.csv" for s in clotho_card.SPLITS}
    archive = next(f for f in files if f.kind == "audio" and f.split == "evaluation")
    assert archive.name == "clotho_audio_evaluation.7z" and archive.extracts_to("root") == Path("root/evaluation")
    assert clotho_card.file_url(archive.name) == (
        "https://zenodo.org/record/3490684/files/clotho_audio_evaluation.7z?download=1"
    )


def test_every_user_of_the_card_holds_the_same_objects():
    from aac_subsampling.analysis import context
    from aac_subsampling.experiment import pipeline, runkey

    assert clotho.CLOTHO_V1_FILES is clotho_card.CLOTHO_V1_FILES
    assert clotho.CLOTHO_V1_COUNTS is clotho_card.CLOTHO_V1_COUNTS
    assert clotho.SPLITS is clotho_card.SPLITS and pipeline.prepare.SPLITS is clotho_card.SPLITS
    assert clotho.file_url is clotho_card.file_url and clotho.RemoteFile is clotho_card.RemoteFile
    assert runkey.CAPTION_FILES is clotho_card.CAPTION_FILES and context.CAPTION_FILES is clotho_card.CAPTION_FILES
    assert context.CLOTHO_V1_FILES is clotho_card.CLOTHO_V1_FILES
    assert reader.captions_csv_path("root", "evaluation") == Path("root") / clotho_card.captions_file("evaluation")
    assert len(reader.CAPTION_COLUMNS) == clotho_card.CAPTIONS_PER_CLIP


def _folder_states(tmp_path: Path) -> Iterator[Path]:
    """An empty folder; every file downloaded but nothing unpacked; one split unpacked, no archives."""
    yield tmp_path / "empty"
    downloaded = tmp_path / "downloaded"
    downloaded.mkdir()
    for remote in clotho_card.CLOTHO_V1_FILES:
        (downloaded / remote.name).write_bytes(b"")
    yield downloaded
    unpacked = tmp_path / "development unpacked"
    (unpacked / "development").mkdir(parents=True)
    for number in range(clotho_card.CLOTHO_V1_COUNTS["development"]):
        (unpacked / "development" / f"{number}.wav").write_bytes(b"")
    yield unpacked


def test_fetcher_and_preflight_follow_one_plan(tmp_path, monkeypatch):
    probe = preflight._clotho_probe()
    downloaded: list[str] = []
    extracted: list[str] = []

    def fake_download(url: str, dest: Path, md5: str, progress: bool, **_: object) -> Path:
        downloaded.append(Path(dest).name)
        return Path(dest)

    monkeypatch.setattr(clotho, "download_file", fake_download)
    monkeypatch.setattr(
        clotho, "_extract_archive", lambda archive, root, split, progress: extracted.append(archive.name)
    )
    monkeypatch.setattr(clotho, "verify_or_move_aside", lambda *args, **kwargs: None)
    monkeypatch.setattr(clotho, "verify_clotho_layout", lambda *args, **kwargs: None)
    for root in _folder_states(tmp_path):
        plan = clotho_card.plan_fetch(root)
        assert probe.downloads_needed(root) == plan.urls(), root.name
        downloaded.clear()
        extracted.clear()
        clotho.fetch_clotho_v1(root, progress=False)
        assert downloaded == [r.name for r in plan.download], root.name
        assert extracted == [r.name for r in plan.extract], root.name
    assert [r.kind for r in clotho_card.plan_fetch(tmp_path / "development unpacked").extract] == ["audio"]


def test_both_by_hand_messages_are_the_cards(tmp_path):
    offline = preflight.run_checks(
        "paper",
        tmp_path,
        "cpu",
        network=lambda: False,
        cuda=lambda: (False, "no GPU"),
        java=lambda: (True, "openjdk 17"),
        clotho=preflight._clotho_probe,
    )
    (error,) = [e for e in offline.errors if "put them, with these names" in e]
    fetcher = clotho._manual_instructions(tmp_path, clotho_card.CLOTHO_V1_FILES, None)
    common = f"and put them, with these names, in {tmp_path.resolve()}/: the 7z archives are checked"
    assert common in error and common in fetcher
    for remote in clotho_card.CLOTHO_V1_FILES:
        assert clotho_card.file_url(remote.name) in error and clotho_card.download_line(remote) in fetcher


# --- the paper's numbers --------------------------------------------------------------------------------


def test_paper_numbers_agree_with_each_other_and_with_the_card():
    from aac_subsampling.method.config import FeatureConfig
    from aac_subsampling.method.features import n_frames

    features = FeatureConfig()
    frames = tuple(
        n_frames(int(seconds * features.sample_rate), features.hop_length) for seconds in clotho_card.CLIP_SECONDS
    )
    assert frames == paper.CLOTHO_FRAME_RANGE == (1292, 2584)
    assert tuple(paper.TABLE2_INPUT_FRAMES.values()) == paper.CLOTHO_FRAME_RANGE
    assert [row.M for row in paper.TABLE2] == list(paper.SUBSAMPLING_FACTORS)
    for row in paper.TABLE2:  # L = 3: two sub-samplings before the last layer
        assert (row.T_L_min, row.T_L_max) == tuple(f // row.M**2 for f in paper.CLOTHO_FRAME_RANGE)
    assert all(len(values) == len(paper.SUBSAMPLING_FACTORS) for values in paper.TABLE1.values())
    assert (paper.PAPER_VOCABULARY_SIZE, paper.PAPER_PARAMETERS) == (4367, 4_573_711)


def test_every_user_of_the_paper_module_holds_the_same_values():
    import fake_results

    from aac_subsampling.analysis import claims, tables
    from aac_subsampling.experiment import pipeline, profiles
    from aac_subsampling.method import model

    assert pipeline.evaluate.CLOTHO_FRAME_RANGE is paper.CLOTHO_FRAME_RANGE
    assert pipeline.evaluate.PAPER_VOCABULARY_SIZE == paper.PAPER_VOCABULARY_SIZE
    assert profiles.SUBSAMPLING_FACTORS is paper.SUBSAMPLING_FACTORS
    assert claims.PAPER_PARAMETERS == fake_results.PAPER_PARAMETERS == paper.PAPER_PARAMETERS
    assert claims.TABLE2_INPUT_FRAMES is paper.TABLE2_INPUT_FRAMES
    assert inspect.signature(model.measure_encoder_lengths).parameters["frame_counts"].default is (
        paper.CLOTHO_FRAME_RANGE
    )
    assert inspect.signature(model.paper_parameter_count).parameters["vocabulary_size"].default == (
        paper.PAPER_VOCABULARY_SIZE
    )
    table1, table2 = tables.paper_table1(), tables.paper_table2()
    assert list(table1.columns) == list(paper.TABLE1_COLUMNS) and list(table1.index) == list(paper.TABLE1)
    assert [tuple(row) for row in table2.itertuples(index=False)] == [tuple(row) for row in paper.TABLE2]
    assert tables.PAPER_LABEL == paper.PAPER_LABEL
    record = fake_results.fake_record(4, {}, 0, 10)
    assert record["encoder_lengths"] == {str(f): f // 16 for f in paper.CLOTHO_FRAME_RANGE}


# --- (b) no stray definitions in lib/ --------------------------------------------------------------------


def _lib_files() -> list[tuple[str, str]]:
    """(path relative to lib/aac_subsampling, source) of every module."""
    return [(path.relative_to(LIB).as_posix(), path.read_text(encoding="utf-8")) for path in sorted(LIB.rglob("*.py"))]


def _code_tokens(source: str) -> list[tokenize.TokenInfo]:
    """The significant tokens of ``source``, docstrings left out (a string that is a whole statement)."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type not in skip]
    kept = []
    for index, token in enumerate(tokens):
        if token.type == tokenize.STRING:
            before = tokens[index - 1].type if index else tokenize.NEWLINE
            after = tokens[index + 1].type if index + 1 < len(tokens) else tokenize.NEWLINE
            starts = before in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
            if starts and after == tokenize.NEWLINE:
                continue  # a docstring (or another bare string statement): prose, not code
        kept.append(token)
    return kept


def _string_text(token: tokenize.TokenInfo) -> str:
    """A string token's text without its prefix and quotes (f-strings keep their braces)."""
    return re.sub(r"""^[A-Za-z]*("{3}|'{3}|"|')(.*)\1$""", r"\2", token.string, flags=re.DOTALL)


def _number(token: tokenize.TokenInfo) -> float | None:
    try:
        return float(token.string.replace("_", ""))
    except ValueError:  # hex, octal, binary, imaginary: none of the facts
        return None


def _exempt(relative: str, *lists: tuple[str, ...]) -> bool:
    return any(
        relative == entry or (entry.endswith("/") and relative.startswith(entry))
        for entries in lists
        for entry in entries
    )


def _stray_facts(relative: str, tokens: list[tokenize.TokenInfo]) -> Iterator[str]:
    """Every place in one module that writes down a fact whose home is the card or the paper module."""
    homes = {CARD: CARD_NUMBERS, PAPER: PAPER_NUMBERS}
    for index, token in enumerate(tokens):
        where = f"{relative}:{token.start[0]}"
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.type == tokenize.NAME and token.string == "SPLITS" and relative != CARD:
            starts = index == 0 or tokens[index - 1].type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
            if starts and following is not None and following.string in ("=", ":"):
                yield f"{where}: SPLITS defined (import it from {CARD})"
        if token.type == tokenize.NUMBER and (value := _number(token)) is not None:
            for home, numbers in homes.items():
                if value in numbers and relative != home:
                    yield f"{where}: literal {token.string} (import it from {home})"
        if token.type == tokenize.STRING:
            text = _string_text(token)
            for home, numbers in homes.items():
                if text in {str(n) for n in numbers} and relative != home:
                    yield f"{where}: string {token.string} (build it from {home})"
            if relative != CARD:
                for marker in (
                    "3490684",
                    "zenodo.org",
                    "clotho_captions_",
                    "clotho_audio_",
                    "clotho_metadata_",
                    "put them, with these names",
                    *(f.md5 for f in clotho_card.CLOTHO_V1_FILES),
                ):
                    if marker in text:
                        yield f"{where}: {marker!r} in {token.string[:60]} (the card's: {CARD})"
                if text == "development" and following is not None and following.string == ",":
                    after = tokens[index + 2] if index + 2 < len(tokens) else None
                    if after is not None and after.type == tokenize.STRING and _string_text(after) == "evaluation":
                        yield f"{where}: the splits typed out (use SPLITS from {CARD})"


def test_no_stray_definitions_of_card_or_paper_facts():
    stray = [problem for relative, source in _lib_files() for problem in _stray_facts(relative, _code_tokens(source))]
    assert stray == []


def test_the_scan_sees_code_and_skips_prose():
    source = '''"""Docstring: SPLITS = 1292, zenodo.org."""
SPLITS = ("development", "evaluation")  # 4367 in a comment
def f():
    """D = 4367."""
    return {"2584": 2_584, "url": "https://zenodo.org/x"}
'''
    found = list(_stray_facts("somewhere.py", _code_tokens(source)))
    assert [line.split(": ", 1)[1].split(" (")[0] for line in found] == [
        "SPLITS defined",
        "the splits typed out",
        'string "2584"',
        "literal 2_584",
        "'zenodo.org' in \"https://zenodo.org/x\"",
    ]


def test_no_other_write_then_rename_in_lib():
    calls = {("os", "replace"), ("os", "rename"), ("shutil", "move")}
    found = []
    for relative, source in _lib_files():
        if relative == "base/atomic.py" or _exempt(relative, RENAMES_THAT_ARE_NOT_WRITES):
            continue
        tokens = _code_tokens(source)
        for first, dot, second in zip(tokens, tokens[1:], tokens[2:]):
            if dot.string == "." and (first.string, second.string) in calls:
                found.append(
                    f"{relative}:{first.start[0]}: {first.string}.{second.string} (use aac_subsampling.base.atomic)"
                )
    assert found == []


# --- (c) the atomic write --------------------------------------------------------------------------------


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if atomic.TEMP_INFIX in p.name)


def test_atomic_writes_leave_only_the_target(tmp_path):
    text = atomic.write_text_atomic(tmp_path / "a" / "note.txt", "héllo\n")
    assert text.read_text(encoding="utf-8") == "héllo\n"
    data = atomic.write_bytes_atomic(tmp_path / "a" / "blob.bin", b"\x00\x01")
    assert data.read_bytes() == b"\x00\x01"
    record = atomic.write_json_atomic(tmp_path / "a" / "record.json", {"M": 4, "when": Path("x")}, default=str)
    assert json.loads(record.read_text()) == {"M": 4, "when": "x"} and record.read_text().endswith("}\n")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["blob.bin", "note.txt", "record.json"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "record.json"
    target.write_text("old")
    with pytest.raises(TypeError):  # not serialisable: nothing is written at all
        atomic.write_json_atomic(target, {"x": object()})
    with pytest.raises(RuntimeError, match="killed half-way"):
        with atomic.atomic_path(target) as temporary:
            temporary.write_text("half of the new")
            raise RuntimeError("killed half-way")
    assert target.read_text() == "old" and _leftovers(tmp_path) == []

    def failing_replace(source: object, destination: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic.write_text_atomic(target, "new")
    assert target.read_text() == "old" and _leftovers(tmp_path) == []


def test_a_failed_first_write_leaves_no_target(tmp_path):
    with pytest.raises(ValueError):
        with atomic.atomic_path(tmp_path / "new.npy") as temporary, open(temporary, "wb") as handle:
            handle.write(b"partial")
            raise ValueError("the writer failed")
    assert list(tmp_path.iterdir()) == []


def test_temporary_names_are_hidden_unique_and_beside_the_target(tmp_path):
    target = tmp_path / "model.pt"
    first, second = atomic.temporary_name(target), atomic.temporary_name(target)
    assert first != second and first.parent == target.parent
    assert first.name.startswith(".model.pt" + atomic.TEMP_INFIX) and str(os.getpid()) in first.name


def test_stage_records_and_checkpoints_use_the_atomic_write(tmp_path):
    from aac_subsampling.experiment import pipeline
    from aac_subsampling.method import training

    path = pipeline.write_json(tmp_path / "run" / "evaluation.json", {"M": 2, "path": tmp_path})
    assert path.read_text() == json.dumps({"M": 2, "path": str(tmp_path)}, indent=2)  # as before: no newline
    training.save_checkpoint(tmp_path / "run" / "checkpoint.pt", {"epoch": 3})
    assert training.load_checkpoint(tmp_path / "run" / "checkpoint.pt") == {"epoch": 3}
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint.pt", "evaluation.json"]
