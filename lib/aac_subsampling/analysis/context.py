"""Clotho context for Table 1, computed never typed: the paper, an audio-blind caption, and humans.

For each metric (BLEU1-4, ROUGE_L, METEOR, CIDEr, SPICE, SPIDEr), ``clotho_context.csv`` holds:

* ``paper_M1``, ``paper_M16``: the paper's Table 1 (:func:`aac_subsampling.analysis.tables.paper_table1`);
* ``constant_caption``: one caption, chosen from the development captions only
  (:func:`constant_caption`), given for every evaluation clip and scored against its five references.
  A system that ignores the audio can reach this; a model must beat it for its captions to depend on
  what it hears;
* ``human_ceiling``: each evaluation clip's reference *i* scored against its other four references
  (round *i*, :func:`ceiling_rounds`), the corpus scores averaged over the five rounds. This is how
  well one human caption agrees with the others under these metrics; note that it is scored against
  four references where a system is scored against five, which favours the system slightly.

All three use the Clotho v1 caption files (``clotho_captions_development.csv``,
``clotho_captions_evaluation.csv``), found by :func:`find_clotho_captions`. Without them the table holds
the paper's numbers alone and says why. The CSV (with a JSON beside it: the caption, the folder used,
the files' fingerprint, per-round scores, reasons for empty cells) is a cache: it is recomputed only
when the caption files' fingerprint changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aac_subsampling.base import paths
from aac_subsampling.data.clotho_card import CAPTION_FILES, CLOTHO_V1_FILES, file_url
from aac_subsampling.data.download import download_file, md5sum
from aac_subsampling.evaluation import METRIC_NAMES, EvaluationResult, MeteorScorer, evaluate_captions, find_java
from aac_subsampling.experiment.profiles import get_profile
from aac_subsampling.method.tokens import normalise_caption

CAPTIONS_ENV = "AAC_CLOTHO_CAPTIONS_DIR"
CONTEXT_COLUMNS = ["paper_M1", "paper_M16", "constant_caption", "human_ceiling", "note"]
CONTEXT_VERSION = 1  # bump when a rule below changes, so that cached contexts are recomputed
CONSTANT_RULE = (
    "the development caption with the highest mean unigram F1 (words: lower-cased, "
    ',.!?;:" removed, split on white space; multiset overlap) against a seeded sample of '
    "{sample} development captions (numpy default_rng({seed}), without replacement); the "
    "candidates are that sample; ties go to the first in sample order"
)
CEILING_RULE = (
    "each evaluation clip's reference i scored against its other references, for every i; "
    "corpus scores averaged over the rounds"
)


# ------------------------------------------------------------------------------------ caption files


@dataclass(frozen=True)
class CaptionSource:
    """Where the caption files were found (``folder`` None when nowhere, ``reason`` says where looked)."""

    folder: Path | None
    how: str = ""
    reason: str = ""


def _has_captions(folder: Path) -> bool:
    return all((folder / name).is_file() for name in CAPTION_FILES.values())


def _project_roots() -> list[Path]:
    # The current directory's project, then the one this package was installed from (editable installs):
    # a script started elsewhere still finds the repository's data folder.
    roots = [paths.project_root(), paths.project_root(Path(__file__).resolve().parent)]
    return [root for i, root in enumerate(roots) if root not in roots[:i]]


def _default_candidates() -> list[tuple[str, Path]]:
    clotho_folder = get_profile("paper").default_data_dir  # the Clotho v1 profile's data folder
    candidates = [("Clotho data folder", root / clotho_folder) for root in _project_roots()]
    candidates += [
        ("shared copy beside the repository", root.parent / "shared" / "clotho_v1_captions")
        for root in _project_roots()
    ]
    return candidates


def find_clotho_captions(folder: str | os.PathLike[str] | None = None) -> CaptionSource:
    """The folder holding both Clotho v1 caption files, looked for in this order: ``folder``, the
    environment variable ``AAC_CLOTHO_CAPTIONS_DIR``, the Clotho data folder (``data/clotho_v1``, the
    paper profile's), ``<repo>/../shared/clotho_v1_captions``. An explicit ``folder`` or environment
    variable that lacks the files raises ``FileNotFoundError`` (asked for, so it must be there); the
    two default places are simply skipped."""
    for how, chosen in (("argument", folder), (f"${CAPTIONS_ENV}", os.environ.get(CAPTIONS_ENV) or None)):
        if chosen is not None:
            chosen = Path(chosen).expanduser()
            if not _has_captions(chosen):
                raise FileNotFoundError(f"{chosen} (from {how}) does not hold {' and '.join(CAPTION_FILES.values())}")
            return CaptionSource(chosen.resolve(), how)
    looked = []
    for how, candidate in _default_candidates():
        if _has_captions(candidate):
            return CaptionSource(candidate.resolve(), how)
        looked.append(str(candidate))
    reason = (
        f"Clotho v1 caption files not found (no argument, ${CAPTIONS_ENV} unset, not in {', '.join(looked)}); "
        "fetch_clotho_captions(folder) downloads them from Zenodo"
    )
    return CaptionSource(None, reason=reason)


def fetch_clotho_captions(dest: str | os.PathLike[str], progress: bool = True) -> Path:
    """Download only the two caption files of Zenodo record 3490684 into ``dest`` (md5-verified, see
    :data:`aac_subsampling.data.clotho_card.CLOTHO_V1_FILES`); return ``dest``. Files already there with the
    right md5 are not downloaded again."""
    dest = Path(dest)
    wanted = set(CAPTION_FILES.values())
    for remote in CLOTHO_V1_FILES:
        if remote.name in wanted:
            download_file(file_url(remote.name), dest / remote.name, remote.md5, progress=progress)
    return dest


def read_captions(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """A Clotho captions CSV as clip -> its captions (``caption_1``.. in order), text kept as written."""
    path = Path(path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    columns = [c for c in frame.columns if c.startswith("caption_")]
    if "file_name" not in frame.columns or not columns:
        raise ValueError(f"{path}: expected columns file_name,caption_1..caption_5, found {list(frame.columns)}")
    twice = frame.loc[frame["file_name"].duplicated(), "file_name"].tolist()
    if twice:
        raise ValueError(f"{path}: file names listed twice: {twice[:3]}")
    empty = frame.loc[(frame[columns] == "").any(axis=1), "file_name"].tolist()
    if empty:
        raise ValueError(f"{path}: {len(empty)} clip(s) with an empty caption, e.g. {empty[:3]}")
    return {row[0]: list(row[1:]) for row in frame[["file_name", *columns]].itertuples(index=False)}


def caption_fingerprint(folder: Path) -> str:
    """md5 of the two caption files' md5s: changes whenever either file's bytes change."""
    digest = hashlib.md5()
    for name in CAPTION_FILES.values():
        digest.update(f"{name}:{md5sum(folder / name)};".encode())
    return digest.hexdigest()


# ------------------------------------------------------------------------------ the two baselines


def constant_caption(captions: Sequence[str], sample: int = 500, seed: int = 0) -> str:
    """The development caption most typical of the development captions (the rule: :data:`CONSTANT_RULE`).

    Draw a seeded sample of ``sample`` captions (all of them when fewer); score each sampled caption by
    its mean unigram F1 against every sampled caption (itself included, which adds the same 1/n to
    every candidate); return the best, as written (the first in sample order on ties). Only
    development captions are looked at, so the caption knows nothing of the evaluation split. A model
    that ignores the audio can at best say one such caption for every clip.
    """
    if not captions:
        raise ValueError("no captions to choose a constant caption from")
    rng = np.random.default_rng(seed)
    pool = [captions[i] for i in rng.choice(len(captions), size=min(sample, len(captions)), replace=False)]
    bags = [Counter(normalise_caption(c)) for c in pool]
    sizes = [sum(bag.values()) for bag in bags]

    def mean_f1(index: int) -> float:
        candidate, length, total = bags[index], sizes[index], 0.0
        for bag, size in zip(bags, sizes):
            overlap = sum((candidate & bag).values())
            if overlap:  # F1 = 2 * overlap / (|candidate| + |other|)
                total += 2.0 * overlap / (length + size)
        return total / len(bags)

    best = max(range(len(pool)), key=lambda i: (mean_f1(i), -i))
    return pool[best]


def ceiling_rounds(references: Mapping[str, Sequence[str]]) -> list[tuple[dict[str, str], dict[str, list[str]]]]:
    """The human-ceiling rounds: round *i* predicts each clip's reference *i* and keeps the other
    references as the clip's references. Every clip must have the same number (at least 2)."""
    counts = {len(refs) for refs in references.values()}
    if len(counts) != 1 or min(counts) < 2:
        raise ValueError(f"every clip needs the same number (>= 2) of references; found counts {sorted(counts)}")
    n = counts.pop()
    return [
        (
            {clip: refs[i] for clip, refs in references.items()},
            {clip: [r for j, r in enumerate(refs) if j != i] for clip, refs in references.items()},
        )
        for i in range(n)
    ]


@dataclass
class ScoredContext:
    """Corpus scores of the constant caption and of the human ceiling, with reasons for empty ones."""

    constant: dict[str, float | None]
    ceiling: dict[str, float | None]
    ceiling_rounds: list[dict[str, float | None]]
    unavailable: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> metric -> reason
    tokenizer: str = ""


def _mean_over_rounds(rounds: Sequence[EvaluationResult]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for metric in METRIC_NAMES:
        values = [r.corpus.get(metric) for r in rounds]
        out[metric] = None if any(v is None for v in values) else float(np.mean(values))
    return out


def score_context(
    caption: str,
    references: Mapping[str, Sequence[str]],
    *,
    java: str | os.PathLike[str] | None = None,
    spice: bool | str = "auto",
    progress: bool = True,
    work_dir: Path | None = None,
) -> ScoredContext:
    """Score the constant ``caption`` on every clip of ``references``, and the human ceiling (one
    :func:`~aac_subsampling.evaluation.evaluate_captions` call per round). One METEOR process serves
    every call. ``java`` as :func:`~aac_subsampling.evaluation.evaluate_captions` (a path that does not
    exist: no Java, METEOR empty with the reason)."""
    from aac_subsampling.base.progress import progress_bar

    jobs = [("constant caption", {clip: caption for clip in references}, dict(references))]
    jobs += [
        (f"human ceiling, round {i + 1}", preds, refs) for i, (preds, refs) in enumerate(ceiling_rounds(references))
    ]
    java_path = find_java(java)
    results: list[EvaluationResult] = []
    with tempfile.TemporaryDirectory(prefix="aac-context-", dir=work_dir) as scratch:
        meteor = MeteorScorer(java_path, stderr_path=Path(scratch) / "meteor_stderr.txt") if java_path else None
        try:
            bar = progress_bar(jobs, desc="Clotho context", unit="evaluation", disable=not progress)
            for label, preds, refs in bar:
                bar.set_postfix_str(label)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the reasons are kept in the result
                    results.append(
                        evaluate_captions(
                            preds,
                            refs,
                            java=java if java_path is None else java_path,
                            spice=spice,
                            work_dir=scratch,
                            meteor=meteor,
                        )
                    )
        finally:
            if meteor is not None:
                meteor.close()
    constant, rounds = results[0], results[1:]
    return ScoredContext(
        constant=dict(constant.corpus),
        ceiling=_mean_over_rounds(rounds),
        ceiling_rounds=[dict(r.corpus) for r in rounds],
        unavailable={
            "constant_caption": dict(constant.unavailable),
            "human_ceiling": {m: why for r in rounds for m, why in r.unavailable.items()},
        },
        tokenizer=constant.tokenizer,
    )


# ----------------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class ClothoContext:
    """``clotho_context.csv`` as a DataFrame (index metric, :data:`CONTEXT_COLUMNS`) and its record."""

    table: pd.DataFrame
    record: dict[str, Any]
    from_cache: bool

    @property
    def caption(self) -> str | None:
        return self.record.get("constant_caption")

    @property
    def available(self) -> bool:
        """Whether the constant caption and the ceiling were computed (else: the paper's numbers alone)."""
        return self.caption is not None


def _table(scored: ScoredContext | None, reason: str = "") -> pd.DataFrame:
    from aac_subsampling.analysis.tables import paper_table1

    paper = paper_table1()
    index = pd.Index(METRIC_NAMES, name="metric")
    frame = pd.DataFrame(
        {"paper_M1": paper["M=1"].reindex(index), "paper_M16": paper["M=16"].reindex(index)}, index=index
    )
    frame["constant_caption"] = [
        np.nan if scored is None or scored.constant.get(m) is None else scored.constant[m] for m in METRIC_NAMES
    ]
    frame["human_ceiling"] = [
        np.nan if scored is None or scored.ceiling.get(m) is None else scored.ceiling[m] for m in METRIC_NAMES
    ]
    notes = []
    for metric in METRIC_NAMES:
        if scored is None:
            notes.append(reason)
            continue
        reasons = {
            column: scored.unavailable.get(column, {}).get(metric) for column in ("constant_caption", "human_ceiling")
        }
        distinct = sorted({why for why in reasons.values() if why})
        notes.append("; ".join(distinct))
    frame["note"] = notes
    return frame[CONTEXT_COLUMNS]


def _read_cache(csv_path: Path) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    json_path = csv_path.with_suffix(".json")
    if not (csv_path.is_file() and json_path.is_file()):
        return None
    record = json.loads(json_path.read_text(encoding="utf-8"))
    table = pd.read_csv(csv_path, index_col="metric", keep_default_na=False, na_values=[""])
    table["note"] = table["note"].fillna("").astype(str)
    return table, record


def _write(csv_path: Path, table: pd.DataFrame, record: dict[str, Any]) -> None:
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(csv_path, float_format="%.6f")
    csv_path.with_suffix(".json").write_text(json.dumps(record, indent=1, allow_nan=False) + "\n", encoding="utf-8")


def _recorded_folder(folder: Path) -> str:
    # Records are published: a path relative to the project, not this machine's absolute one.
    return Path(os.path.relpath(folder, _project_roots()[-1])).as_posix()


def clotho_context(
    out_csv: str | os.PathLike[str],
    captions_dir: str | os.PathLike[str] | None = None,
    *,
    refresh: bool = False,
    progress: bool = True,
    java: str | os.PathLike[str] | None = None,
    spice: bool | str = "auto",
    sample: int = 500,
    seed: int = 0,
) -> ClothoContext:
    """Build (or read from its cache) ``clotho_context.csv`` at ``out_csv`` and the JSON beside it.

    The caption files come from :func:`find_clotho_captions` (``captions_dir`` first). When their
    fingerprint (and the rules' parameters) match the cached JSON, the cached table is returned
    (``refresh`` forces a recomputation, about a minute on Clotho with Java). When no caption files
    are found, a cached computed context is kept if there is one, else the table holds the paper's
    numbers alone and ``note`` says why.
    """
    csv_path = Path(out_csv)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    source = find_clotho_captions(captions_dir)
    cached = _read_cache(csv_path)
    if source.folder is None:
        if cached is not None and cached[1].get("constant_caption") is not None:
            return ClothoContext(cached[0], cached[1] | {"note": "caption files not found here; cached numbers"}, True)
        record = {"version": CONTEXT_VERSION, "constant_caption": None, "reason": source.reason}
        table = _table(None, source.reason)
        _write(csv_path, table, record)
        return ClothoContext(table, record, False)
    fingerprint = caption_fingerprint(source.folder)
    key = {"version": CONTEXT_VERSION, "fingerprint": fingerprint, "sample": sample, "seed": seed}
    if cached is not None and not refresh and all(cached[1].get(k) == v for k, v in key.items()):
        return ClothoContext(*cached, True)
    machine_copy = machine_cache_path(key)
    shared = None if refresh else _read_cache(machine_copy)
    if shared is not None and all(shared[1].get(k) == v for k, v in key.items()):
        _write(csv_path, *shared)  # computed by an earlier run on this machine: the same files, the same numbers
        return ClothoContext(*shared, True)
    development = read_captions(source.folder / CAPTION_FILES["development"])
    evaluation = read_captions(source.folder / CAPTION_FILES["evaluation"])
    caption = constant_caption([c for refs in development.values() for c in refs], sample=sample, seed=seed)
    scored = score_context(caption, evaluation, java=java, spice=spice, progress=progress, work_dir=csv_path.parent)
    record = {
        **key,
        "constant_caption": caption,
        "constant_rule": CONSTANT_RULE.format(sample=sample, seed=seed),
        "ceiling_rule": CEILING_RULE,
        "source": {"folder": _recorded_folder(source.folder), "found_by": source.how},
        "n_clips": {"development": len(development), "evaluation": len(evaluation)},
        "tokenizer": scored.tokenizer,
        "human_ceiling_rounds": scored.ceiling_rounds,
        "unavailable": scored.unavailable,
    }
    table = _table(scored)
    _write(csv_path, table, record)
    try:
        _write(machine_copy, table, record)
    except OSError:  # a read-only home: the copy in the results folder is enough
        pass
    return ClothoContext(table, record, False)


def machine_cache_path(key: dict[str, Any]) -> Path:
    """Where this machine keeps a computed context for other results folders (``AAC_CACHE_DIR`` or
    ``~/.cache/aac-subsampling``): the numbers depend only on the caption files and the rules."""
    root = Path(os.environ.get("AAC_CACHE_DIR") or Path.home() / ".cache" / "aac-subsampling")
    return root / "clotho_context" / f"{key['fingerprint']}-v{key['version']}-s{key['sample']}-r{key['seed']}.csv"
