"""Clotho context: where the caption files come from, the constant caption's rule, the human ceiling."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aac_subsampling.analysis import context
from aac_subsampling.data.clotho import CLOTHO_V1_FILES

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "clotho_v1_captions"
NO_JAVA = "/nonexistent/java"  # evaluate_captions then uses its pure-Python tokeniser, METEOR empty


def _write_captions(folder: Path, development: dict, evaluation: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, captions in (("development", development), ("evaluation", evaluation)):
        rows = [
            {"file_name": clip, **{f"caption_{i + 1}": c for i, c in enumerate(refs)}}
            for clip, refs in captions.items()
        ]
        pd.DataFrame(rows).to_csv(folder / context.CAPTION_FILES[split], index=False)
    return folder


DEVELOPMENT = {"a.wav": ["A dog barks.", "a dog barks loudly", "a dog barks twice", "rain falls on a roof", "a dog"]}
EVALUATION = {"x, y.wav": ["a dog barks"] * 5, "z.wav": ["birds sing"] * 4 + ["cars pass"]}


@pytest.fixture
def no_defaults(monkeypatch, tmp_path):
    """Keep the real data folder and shared copy out of the search."""
    monkeypatch.delenv(context.CAPTIONS_ENV, raising=False)
    nowhere = [("data", tmp_path / "nodata"), ("shared", tmp_path / "noshared")]
    monkeypatch.setattr(context, "_default_candidates", lambda: nowhere)


def test_search_order(monkeypatch, tmp_path, no_defaults):
    argument = _write_captions(tmp_path / "arg", DEVELOPMENT, EVALUATION)
    env = _write_captions(tmp_path / "env", DEVELOPMENT, EVALUATION)
    shared = _write_captions(tmp_path / "shared", DEVELOPMENT, EVALUATION)
    monkeypatch.setattr(context, "_default_candidates", lambda: [("data", tmp_path / "nodata"), ("shared", shared)])
    assert context.find_clotho_captions().folder == shared.resolve()
    monkeypatch.setenv(context.CAPTIONS_ENV, str(env))
    assert context.find_clotho_captions().folder == env.resolve()
    found = context.find_clotho_captions(argument)
    assert found.folder == argument.resolve() and found.how == "argument"
    with pytest.raises(FileNotFoundError, match="from argument"):
        context.find_clotho_captions(tmp_path / "empty")
    monkeypatch.setenv(context.CAPTIONS_ENV, str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match=context.CAPTIONS_ENV):
        context.find_clotho_captions()


def test_nothing_found_says_where_it_looked(no_defaults):
    source = context.find_clotho_captions()
    assert source.folder is None and "nodata" in source.reason and "fetch_clotho_captions" in source.reason


def test_fetch_downloads_only_the_caption_files_with_their_md5(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(
        context, "download_file", lambda url, dest, md5, progress=True: calls.append((url, Path(dest), md5))
    )
    context.fetch_clotho_captions(tmp_path)
    md5s = {f.name: f.md5 for f in CLOTHO_V1_FILES}
    assert sorted(dest.name for _, dest, _ in calls) == sorted(context.CAPTION_FILES.values())
    for url, dest, md5 in calls:
        assert url.startswith(f"https://zenodo.org/record/3490684/files/{dest.name}") and md5 == md5s[dest.name]
        assert dest.parent == tmp_path


def test_constant_caption_is_the_most_typical():
    captions = ["a dog barks", "a dog barks loudly", "a dog barks twice", "rain falls on a roof"]
    assert context.constant_caption(captions) == "a dog barks"
    # Punctuation and case do not split words; the caption comes back as written.
    punctuated = ["A dog barks.", "a dog barks loudly", "a dog barks twice", "rain"]
    assert context.constant_caption(punctuated) == "A dog barks."
    many = [f"word{i} common" for i in range(50)]
    assert context.constant_caption(many, sample=10, seed=1) == context.constant_caption(many, sample=10, seed=1)


def test_round_i_scores_reference_i_against_the_others():
    references = {"a": ["a0", "a1", "a2", "a3", "a4"], "b": ["b0", "b1", "b2", "b3", "b4"]}
    rounds = context.ceiling_rounds(references)
    assert len(rounds) == 5
    for i, (predictions, others) in enumerate(rounds):
        assert predictions == {"a": f"a{i}", "b": f"b{i}"}
        assert others == {clip: [r for r in refs if r != f"{clip}{i}"] for clip, refs in references.items()}
    with pytest.raises(ValueError, match="same number"):
        context.ceiling_rounds({"a": ["x", "y"], "b": ["x"]})


def test_human_ceiling_by_construction():
    # Clip 1: five identical references: every round is a perfect match. Clip 2: four identical, one
    # disjoint of the same length: rounds 1-4 match perfectly, round 5 matches nothing.
    references = {"one.wav": ["a dog barks loudly"] * 5, "two.wav": ["birds sing in trees"] * 4 + ["cars pass by fast"]}
    scored = context.score_context("a dog barks", references, java=NO_JAVA, spice=False, progress=False)
    per_round = [r["BLEU1"] for r in scored.ceiling_rounds]
    assert per_round[:4] == pytest.approx([1.0] * 4)
    assert per_round[4] == pytest.approx(0.5)  # 4 of 8 unigrams match over the two clips
    assert scored.ceiling["BLEU1"] == pytest.approx(0.9)
    identical = context.score_context(
        "x", {"a.wav": ["a dog barks"] * 5, "b.wav": ["rain falls"] * 5}, java=NO_JAVA, spice=False, progress=False
    )
    assert identical.ceiling["BLEU1"] == pytest.approx(1.0) and identical.ceiling["ROUGE_L"] == pytest.approx(1.0)
    assert identical.ceiling["METEOR"] is None and "Java" in identical.unavailable["human_ceiling"]["METEOR"]
    # The constant caption: 3 of 6 unigrams match; 6 words against closest reference lengths 4 + 4.
    assert scored.constant["BLEU1"] == pytest.approx(0.5 * np.exp(1 - 8 / 6))


def test_context_table_is_computed_cached_and_refreshed(monkeypatch, tmp_path, no_defaults):
    folder = _write_captions(tmp_path / "captions", DEVELOPMENT, EVALUATION)
    out = tmp_path / "results" / "clotho_context.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = context.clotho_context(out, folder, java=NO_JAVA, spice=False, progress=False)
    assert not built.from_cache and built.caption == "A dog barks."
    table = pd.read_csv(out, index_col="metric")
    assert list(table.columns) == context.CONTEXT_COLUMNS and list(table.index) == list(context.METRIC_NAMES)
    assert table.loc["BLEU1", "paper_M1"] == 0.389 and table.loc["SPIDEr", "paper_M16"] == 0.064
    # Rounds 1-4 match perfectly; round 5 matches 3 of 5 unigrams ("a dog barks" yes, "cars pass" no).
    assert table.loc["BLEU1", "human_ceiling"] == pytest.approx((4 + 3 / 5) / 5)
    assert np.isnan(table.loc["METEOR", "constant_caption"]) and "Java" in table.loc["METEOR", "note"]
    assert built.record["source"]["found_by"] == "argument" and built.record["n_clips"]["evaluation"] == 2

    monkeypatch.setattr(context, "score_context", lambda *a, **k: pytest.fail("recomputed despite the cache"))
    cached = context.clotho_context(out, folder, java=NO_JAVA, spice=False, progress=False)
    assert cached.from_cache and cached.caption == built.caption
    pd.testing.assert_frame_equal(cached.table, built.table, check_exact=False, atol=1e-6)

    changed = dict(EVALUATION, **{"new.wav": ["a dog barks"] * 5})
    _write_captions(folder, DEVELOPMENT, changed)  # new fingerprint: must recompute
    with pytest.raises(pytest.fail.Exception, match="recomputed"):
        context.clotho_context(out, folder, java=NO_JAVA, spice=False, progress=False)


def test_without_captions_the_paper_stands_alone_with_a_reason(tmp_path, no_defaults):
    result = context.clotho_context(tmp_path / "clotho_context.csv", progress=False)
    assert not result.available
    assert result.table["constant_caption"].isna().all() and result.table["human_ceiling"].isna().all()
    assert result.table.loc["CIDEr", "paper_M16"] == 0.093
    assert (result.table["note"].str.contains("not found")).all()


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "clotho_captions_evaluation.csv").is_file(), reason="no shared Clotho v1 captions")
def test_real_clotho_context_without_java(tmp_path):
    """The real captions (1045 x 5 rounds) without Java (~40 s): pins the caption and the n-gram ceilings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = context.clotho_context(
            tmp_path / "clotho_context.csv", SHARED, java=NO_JAVA, spice=False, progress=False
        )
    assert result.caption == "A strong wind is blowing outside a window and people are chatting in the background."
    assert result.record["n_clips"] == {"development": 2893, "evaluation": 1045}
    table = result.table
    # Humans agree with each other far more than the paper's systems do with them.
    some = ["BLEU1", "ROUGE_L", "CIDEr"]
    assert (table.loc[some, "human_ceiling"] > table.loc[some, "paper_M16"]).all()
    assert table.loc["BLEU1", "human_ceiling"] == pytest.approx(0.6545, abs=2e-3)
    assert table.loc["CIDEr", "human_ceiling"] == pytest.approx(0.9057, abs=5e-3)
    assert table.loc["BLEU1", "constant_caption"] == pytest.approx(0.3973, abs=2e-3)
