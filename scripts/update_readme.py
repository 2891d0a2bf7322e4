"""Regenerate the tables of README.md and docs/*.md from the published results: ``python scripts/update_readme.py``.

The README and the docs pages never hold a typed number of ours: each results table sits between
``<!-- BEGIN generated:NAME -->`` and ``<!-- END generated:NAME -->`` and is rendered here from the CSV
and JSON files under ``results/published/<profile>/``. Every page is searched for blocks: README.md and every
``docs/*.md`` (``pages()``), so a block moved to a new docs page is kept up to date with no list to edit.
``tests/test_readme.py`` fails when any page and the published files disagree. ``--check`` only reports.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from aac_subsampling.analysis import tables
from aac_subsampling.analysis.records import load_predictions, training_summary
from aac_subsampling.data.clotho_card import CLOTHO_V1_COUNTS
from aac_subsampling.experiment import layout
from aac_subsampling.method.paper import CLOTHO_FRAME_RANGE, PAPER_VOCABULARY_SIZE
from aac_subsampling.open_questions import decoders
from aac_subsampling.open_questions.study import interval_phrase, load_study, study_record
from aac_subsampling.publish import published_dir

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
BLOCK = re.compile(
    r"(<!-- BEGIN generated:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END generated:(?P=name) -->)", re.DOTALL
)


def markdown(frame: pd.DataFrame) -> str:
    """A plain GitHub table (no extra dependency)."""
    columns = [str(column) for column in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join("" if pd.isna(value) else str(value) for value in row) + " |")
    return "\n".join(lines) + "\n"


def _number(value: float, digits: int = 3) -> str:
    return "" if pd.isna(value) else f"{value:.{digits}f}"


def floor_metrics(folder: Path) -> dict[str, dict[str, float | None]]:
    """Each audio-blind floor's corpus scores: ``floors.json``, or the older ``baseline.json`` (constant only)."""
    if (folder / layout.FLOORS_RECORD).is_file():
        floors = json.loads((folder / layout.FLOORS_RECORD).read_text())["floors"]
        return {name: floor["metrics"] for name, floor in floors.items()}
    return {"constant": json.loads((folder / "baseline.json").read_text())["metrics"]}


def table1_block(profile: str) -> str:
    folder = published_dir(profile)
    summary = pd.read_csv(layout.table_file(folder, layout.TABLE1_SEEDS_FILE))
    shown = tables.display_table1(summary).reset_index()
    paper = tables.paper_table1()
    for name, metrics in floor_metrics(folder).items():
        label = f"{name.replace('_', '-')} caption"
        shown[label] = [_number(metrics.get(metric) or float("nan")) for metric in shown["metric"]]
    shown["paper M=1"] = [_number(paper.loc[metric, "M=1"]) for metric in shown["metric"]]
    shown["paper M=16"] = [_number(paper.loc[metric, "M=16"]) for metric in shown["metric"]]
    return markdown(shown)


def comparisons_block(profile: str) -> str:
    frame = pd.read_csv(layout.table_file(published_dir(profile), layout.COMPARISONS_FILE))
    frame = frame[frame["M"] == frame["M"].max()]
    rows = pd.DataFrame(
        {
            "metric": frame["metric"],
            f"M={int(frame['M'].max())} - M=1": [_number(v) for v in frame["difference"]],
            "95 % interval": [f"[{_number(lo)}, {_number(hi)}]" for lo, hi in zip(frame["ci_low"], frame["ci_high"])],
            "share of resamples better": [_number(v, 2) for v in frame["share_better"]],
        }
    )
    return markdown(rows)


def table2_block(profile: str) -> str:
    frame = pd.read_csv(layout.table_file(published_dir(profile), layout.TABLE2_FILE))
    paper = tables.paper_table2().set_index("M")
    shortest, longest = CLOTHO_FRAME_RANGE
    rows = pd.DataFrame(
        {
            "M": frame["M"],
            f"T_L ({shortest} / {longest} frames)": [f"{a} / {b}" for a, b in zip(frame["T_L_min"], frame["T_L_max"])],
            "paper": [f"{paper.loc[m, 'T_L_min']} / {paper.loc[m, 'T_L_max']}" for m in frame["M"]],
            "reduction %": [f"{v:.2f}" for v in frame["reduction_percent"]],
            f"inference s ({int(frame['eval_clips'].iloc[0])} clips, {frame['device'].iloc[0]})": [
                _number(v) for v in frame["inference_time_s"]
            ],
            f"paper s ({CLOTHO_V1_COUNTS['evaluation']} clips, GPU)": [
                f"{paper.loc[m, 'inference_time_s']:.2f}" for m in frame["M"]
            ],
            f"parameters at D = {PAPER_VOCABULARY_SIZE}": [f"{int(v):,}" for v in frame["parameters_D4367"]],
            "T_L on this corpus": [f"{a}-{b}" for a, b in zip(frame["corpus_T_L_min"], frame["corpus_T_L_max"])],
        }
    )
    return markdown(rows)


def context_block(profile: str) -> str:
    folder = published_dir(profile)
    frame = pd.read_csv(layout.table_file(folder, layout.CLOTHO_CONTEXT_FILE), index_col="metric")
    record = json.loads(layout.table_file(folder, layout.CLOTHO_CONTEXT_FILE).with_suffix(".json").read_text())
    rows = pd.DataFrame(
        {
            "metric": frame.index,
            "paper M=1": [_number(v) for v in frame["paper_M1"]],
            "paper M=16": [_number(v) for v in frame["paper_M16"]],
            "audio-blind constant caption": [_number(v) for v in frame["constant_caption"]],
            "human ceiling (each reference vs the other four)": [_number(v) for v in frame["human_ceiling"]],
        }
    )
    caption = record.get("constant_caption")
    return markdown(rows) + (f'\nConstant caption: "{caption}"\n' if caption else "")


def claims_block(profile: str) -> str:
    frame = pd.read_csv(layout.table_file(published_dir(profile), layout.CLAIMS_FILE))
    return markdown(frame[["claim", "verdict", "evidence"]])


def verdicts_block(profile: str) -> str:
    """One sentence per claim of ``claims.csv``: its verdict, and for a claim that does not hold the first
    clause of its evidence; the per-metric claims ("BLEU1 improves with M ...") in one sentence, by verdict."""
    frame = pd.read_csv(layout.table_file(published_dir(profile), layout.CLAIMS_FILE))
    lines: list[str] = []
    metrics = frame[frame["kind"] == "metric"]
    for index, row in frame.iterrows():
        if row["kind"] != "metric":
            note = "" if row["verdict"] == "holds" else f" ({str(row['evidence']).split(';')[0].strip()})"
            lines.append(f"* {row['claim']}: **{row['verdict']}**{note}.")
        elif index == metrics.index[0]:
            claim = str(row["claim"]).split(" ", 1)[1]  # "improves with M (M=16 vs M=1)"
            by_verdict = metrics.groupby("verdict", sort=False)["claim"].agg(
                lambda claims: ", ".join(str(c).split(" ", 1)[0] for c in claims)
            )
            parts = [f"**{verdict}** for {names}" for verdict, names in by_verdict.items()]
            lines.append(f"* each metric {claim}: " + "; ".join(parts) + ".")
    return "\n".join(lines) + "\n"


def seed_scores_block(profile: str, seed: int = 0) -> str:
    """Corpus scores of one seed, per M, from its evaluation records: what a fresh run of that seed should
    give."""
    folder = published_dir(profile)
    rows = []
    for run_seed, factor in layout.completed_runs(folder):
        if run_seed != seed:
            continue
        metrics = json.loads(layout.evaluation_record(folder, seed, factor).read_text())["metrics"]
        rows.append(
            {
                "M": factor,
                **{name: _number(value if value is not None else float("nan")) for name, value in metrics.items()},
            }
        )
    return markdown(pd.DataFrame(rows).sort_values("M"))


def _interval(row: pd.Series) -> str:
    return "" if pd.isna(row["difference"]) else interval_phrase(row)


def study_comparisons_block(profile: str, metrics: tuple[str, ...] = ("BLEU1", "ROUGE_L", "METEOR", "CIDEr")) -> str:
    """Notebook 05's paired differences for a few metrics: one row per comparison and M."""
    comparisons = load_study(published_dir(profile)).comparisons
    comparisons = comparisons[comparisons["metric"].isin(metrics)]
    rows = []
    for (question, comparison, factor), group in comparisons.groupby(["question", "comparison", "M"], sort=False):
        by_metric = group.set_index("metric")
        rows.append(
            {
                "question": question,
                "comparison": comparison,
                "M": factor,
                **{metric: _interval(by_metric.loc[metric]) for metric in metrics if metric in by_metric.index},
                "seeds": len(str(group["seeds"].iloc[0]).split()),
            }
        )
    return markdown(pd.DataFrame(rows))


def study_changed_block(profile: str) -> str:
    changed = load_study(published_dir(profile)).changed
    if changed.empty:
        return "*Question (a) was not asked in the published study.*\n"
    total = changed.groupby(["M", "decode"], sort=True)[["n_changed", "n_clips"]].sum().reset_index()
    total["captions that differ from the clip decoded alone"] = [
        f"{int(a)} of {int(b)} ({a / b:.0%})" for a, b in zip(total["n_changed"], total["n_clips"])
    ]
    return markdown(total[["M", "decode", "captions that differ from the clip decoded alone"]])


def study_verdicts_block(profile: str) -> str:
    verdicts = load_study(published_dir(profile)).verdicts
    return markdown(verdicts[["question", "M", "verdict"]])


def _decoder_study(profile: str) -> tuple[Path, list[int], list[int]] | None:
    """The published folder, seeds and M of question (e), None when the published study did not ask it."""
    folder = published_dir(profile)
    record = study_record(folder)
    seeds, factors = [int(s) for s in record["seeds"]], [int(m) for m in record["M"]]
    if "decoder" not in record.get("questions", []) or decoders.missing_decoder_runs(folder, seeds, factors):
        return None
    return folder, seeds, factors


def study_decoders_block(profile: str) -> str:
    """Question (e) per decoder and M: seed-mean scores, the CIDEr drop when the audio is swapped (pooled
    interval), the facts got right, the share of captions repeating a word back to back, the steps trained."""
    study = _decoder_study(profile)
    if study is None:
        return "*Question (e) is not in the published study yet.*\n"
    table = decoders.decoder_table(*study)
    drop = {"CIDEr drop, swapped audio": "difference", "drop ci_low": "ci_low", "drop ci_high": "ci_high"}
    table["own - swapped CIDEr"] = table[list(drop)].rename(columns=drop).apply(interval_phrase, axis=1)
    for column in ("CIDEr", "METEOR", *decoders.TABLE_FACTS, "repeated word"):
        table[column] = [_number(v) for v in table[column]]
    table["steps"] = [f"{v:.0f}" for v in table["steps"]]
    columns = ["decoder", "M", "CIDEr", "METEOR", "own - swapped CIDEr", *decoders.TABLE_FACTS, "repeated word"]
    return markdown(table[columns + ["steps"]].rename(columns=lambda c: c.replace("_", " ")))


def study_decoder_examples_block(profile: str, n_clips: int = 5) -> str:
    """Each decoder's caption of the first evaluation clips, seed 0 (the study's first), at the largest M."""
    study = _decoder_study(profile)
    if study is None:
        return "*Question (e) is not in the published study yet.*\n"
    folder, seeds, factors = study
    return markdown(decoders.decoder_examples(folder, seeds[0], max(factors), n_clips))


def listening_block(profile: str, metric: str = "CIDEr") -> str:
    """Per M: the score with the clips' own audio and with swapped audio, the drop and the margins over the two
    floors (paired 95 % intervals, pooled over seeds), and how long each seed trained."""
    folder = published_dir(profile)
    audio = pd.read_csv(layout.table_file(folder, layout.AUDIO_DEPENDENCE_FILE))
    audio = audio[(audio["metric"] == metric) & (audio["seed"].astype(str) == "pooled")].set_index("M")
    floors = pd.read_csv(layout.table_file(folder, layout.FLOOR_COMPARISONS_FILE))
    floors = floors[floors["metric"] == metric]
    steps = training_summary(folder).set_index("M")
    rows = []
    for factor, row in audio.sort_index().iterrows():
        by_floor = floors[floors["M"] == factor].set_index("floor")
        rows.append(
            {
                "M": factor,
                f"{metric}, own audio": _number(row["score"]),
                "swapped audio": _number(row["swapped_score"]),
                "own - swapped": interval_phrase(row),
                **{
                    f"- {name.replace('_', '-')} caption": interval_phrase(by_floor.loc[name])
                    for name in by_floor.index
                },
                "steps (each seed)": steps.loc[factor, "steps"],
                "kept step": steps.loc[factor, "kept step"],
                "minutes": steps.loc[factor, "minutes"],
            }
        )
    return markdown(pd.DataFrame(rows))


def facts_block(profile: str) -> str:
    frame = pd.read_csv(layout.table_file(published_dir(profile), layout.FACTS_TABLE_FILE))
    frame["cell"] = [
        "" if pd.isna(m) else f"{m:.2f} [{lo:.2f}, {hi:.2f}]" if pd.notna(lo) else f"{m:.2f}"
        for m, lo, hi in zip(frame["mean"], frame["ci_low"], frame["ci_high"])
    ]
    wide = frame.pivot_table(index="fact", columns="system", values="cell", aggfunc="first", sort=False)
    order = [c for c in wide.columns if c.startswith("M=")] + [c for c in wide.columns if not c.startswith("M=")]
    applicable = frame.drop_duplicates("fact").set_index("fact")["n_clips_applicable"]
    wide = wide[order].rename(columns=lambda c: c.replace("_", "-"))
    wide.insert(0, "clips it applies to", [int(applicable[f]) for f in wide.index])
    return markdown(wide.reset_index().rename(columns={"fact": "fact right"}))


def examples_block(profile: str, factors: tuple[int, int] = (1, 16), n: int = 5) -> str:
    """The first ``n`` evaluation clips of seed 0: a reference, M=1's and M=16's captions, and M=16's caption of
    the same clip decoded from another clip's audio."""
    folder = published_dir(profile)
    low, high = (load_predictions(folder, 0, factor).set_index("file_name") for factor in factors)
    rows = []
    for clip in list(high.index)[:n]:
        rows.append(
            {
                "clip": clip,
                "reference (caption_1)": high.loc[clip, "caption_1"],
                f"M={factors[0]}": low.loc[clip, "prediction"],
                f"M={factors[1]}": high.loc[clip, "prediction"],
                f"M={factors[1]}, another clip's audio": high.loc[clip, "prediction_swapped_audio"],
            }
        )
    return markdown(pd.DataFrame(rows))


RENDERERS: dict[str, Callable[[str], str]] = {
    "listening": listening_block,
    "facts": facts_block,
    "examples": examples_block,
    "table1": table1_block,
    "comparisons": comparisons_block,
    "table2": table2_block,
    "context": context_block,
    "claims": claims_block,
    "verdicts": verdicts_block,
    "seed0": seed_scores_block,
    "study-comparisons": study_comparisons_block,
    "study-changed": study_changed_block,
    "study-verdicts": study_verdicts_block,
    "study-decoders": study_decoders_block,
    "study-decoder-examples": study_decoder_examples_block,
}


def render(name: str) -> str | None:
    """``<profile>-<kind>``, e.g. ``quick-table1``; None when that profile has nothing published."""
    profile, kind = name.split("-", 1)
    if kind.startswith("study-"):
        if load_study(published_dir(profile)) is None:
            return None
    elif not layout.completed_runs(published_dir(profile)):
        return None
    return RENDERERS[kind](profile)


def updated(text: str) -> tuple[str, list[str]]:
    changed = []

    def replace(match: re.Match) -> str:
        body = render(match.group("name"))
        if body is None or body == match.group("body"):
            return match.group(0)
        changed.append(match.group("name"))
        return match.group(1) + body + match.group(4)

    return BLOCK.sub(replace, text), changed


def pages() -> list[Path]:
    """Every page that may hold generated blocks: README.md, then docs/*.md in name order."""
    return [README, *sorted(DOCS.glob("*.md"))]


def blocks(text: str) -> list[str]:
    return [match.group("name") for match in BLOCK.finditer(text)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say which blocks are out of date")
    args = parser.parse_args(argv)
    stale = []
    for page in pages():
        text = page.read_text()
        if not blocks(text):
            continue
        new, changed = updated(text)
        if changed:
            stale.append(f"{page.relative_to(ROOT)}: " + ", ".join(changed))
            if not args.check:
                page.write_text(new)
    if args.check:
        print("out of date: " + "; ".join(stale) if stale else "generated tables match the published results")
        return 1 if stale else 0
    print("updated: " + "; ".join(stale) if stale else "nothing to update")
    return 0


if __name__ == "__main__":
    sys.exit(main())
