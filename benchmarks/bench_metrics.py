"""Time to score a Clotho-evaluation-sized split (1045 clips x 5 references) offline.

Synthetic captions (seeded RNG over a small word list, 8-20 words, some punctuation) stand in for
real ones. Prints the end-to-end wall time of ``evaluate_captions`` and a per-stage breakdown
(each stage run on its own), plus, unless ``--no-baseline``, the same metrics called the
COCOEvalCap way (pycocoevalcap's PTBTokenizer and scorers). Nothing is asserted. Re-measure with:

    python benchmarks/bench_metrics.py
    python benchmarks/bench_metrics.py --clips 2893 --no-baseline
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aac_subsampling.evaluation import (
    MeteorScorer,
    MetricUnavailableWarning,
    bootstrap_ci,
    evaluate_captions,
    fallback_tokenize,
    find_java,
    ptb_tokenize,
    spice_status,
)
from aac_subsampling.evaluation.bleu import bleu_scores
from aac_subsampling.evaluation.cider import cider_scores
from aac_subsampling.evaluation.meteor import close_coco_meteor
from aac_subsampling.evaluation.rouge import rouge_scores

WORDS = (
    "a an the dog cat bird birds car cars truck rain wind water man woman people child children "
    "door bell engine machine crowd stream river leaves footsteps barks sings chirp chirping falls "
    "blows runs running talks talking walks walking rings ringing passes passing hums humming "
    "loudly softly quickly slowly in on over under near by while and then as with of at from"
).split()
PUNCT = ["", "", "", ",", "."]


def synthetic_split(n_clips: int, n_refs: int, seed: int) -> tuple[dict[str, str], dict[str, list[str]]]:
    rng = np.random.default_rng(seed)

    def caption() -> str:
        words = list(rng.choice(WORDS, size=int(rng.integers(8, 21))))
        words[0] = words[0].capitalize()
        return " ".join(words) + str(rng.choice(PUNCT))

    ids = [f"clip_{i:04d}.wav" for i in range(n_clips)]
    return {c: caption() for c in ids}, {c: [caption() for _ in range(n_refs)] for c in ids}


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def stage_breakdown(preds: dict[str, str], refs: dict[str, list[str]], java: str | None) -> list[tuple[str, float]]:
    ids = sorted(preds)
    sentences = [preds[i] for i in ids] + [r for i in ids for r in refs[i]]
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if java:
            seconds, tokens = timed(lambda: ptb_tokenize(sentences, java=java, run_dir=Path(tmp)))
            rows.append(("PTB tokenisation (Java)", seconds))
        seconds, fallback = timed(lambda: fallback_tokenize(sentences))
        rows.append(("PTB fallback tokenisation (Python)", seconds))
    if not java:
        tokens = fallback
    n = len(ids)
    tok_preds = tokens[:n]
    ends = np.cumsum([len(refs[i]) for i in ids]) + n  # each clip's references follow the n predictions in order
    tok_refs = [tokens[end - len(refs[i]) : end] for i, end in zip(ids, ends)]
    rows.append(("BLEU1-4", timed(lambda: bleu_scores(tok_refs, tok_preds))[0]))
    rows.append(("ROUGE_L", timed(lambda: rouge_scores(tok_refs, tok_preds))[0]))
    rows.append(("CIDEr (CIDEr-D)", timed(lambda: cider_scores(tok_refs, tok_preds))[0]))
    if java:
        start = time.perf_counter()
        meteor = MeteorScorer(java)
        meteor.score([["warm up"]], ["warm up"])
        rows.append(("METEOR start-up (JVM + first reply)", time.perf_counter() - start))
        rows.append(("METEOR scoring", timed(lambda: meteor.score(tok_refs, tok_preds))[0]))
        meteor.close()
    return rows


def coco_baseline(preds: dict[str, str], refs: dict[str, list[str]]) -> list[tuple[str, float]]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    rows = []
    start = time.perf_counter()
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({k: [{"caption": c} for c in v] for k, v in refs.items()})
    res = tokenizer.tokenize({k: [{"caption": v}] for k, v in preds.items()})
    rows.append(("coco: PTBTokenizer x2", time.perf_counter() - start))
    rows.append(("coco: Bleu(4)", timed(lambda: Bleu(4).compute_score(gts, res, verbose=0))[0]))
    rows.append(("coco: Rouge", timed(lambda: Rouge().compute_score(gts, res))[0]))
    rows.append(("coco: Cider", timed(lambda: Cider().compute_score(gts, res))[0]))
    meteor_start = time.perf_counter()
    meteor = Meteor()
    meteor.compute_score(gts, res)
    rows.append(("coco: Meteor (start-up + scoring)", time.perf_counter() - meteor_start))
    close_coco_meteor(meteor)
    rows.append(("coco: total", time.perf_counter() - start))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1045)
    parser.add_argument("--refs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--no-baseline", action="store_true", help="skip the pycocoevalcap-direct run")
    args = parser.parse_args()

    java = find_java()
    preds, refs = synthetic_split(args.clips, args.refs, args.seed)
    print(
        f"{args.clips} clips x {args.refs} references; python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; java: {java or 'none'}; SPICE: {spice_status()[1]}"
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricUnavailableWarning)
        total, result = timed(lambda: evaluate_captions(preds, refs, spice="auto"))
    print(
        f"\nevaluate_captions end to end: {total:.2f} s "
        f"(tokenizer: {result.tokenizer}; unavailable: {', '.join(result.unavailable) or 'none'})"
    )
    print("  corpus: " + ", ".join(f"{m}={v:.4f}" for m, v in result.corpus.items() if v is not None))
    seconds, _ = timed(lambda: result.bootstrap(n_resamples=args.resamples, seed=0))
    print(f"  bootstrap_ci, {args.resamples} resamples, all metrics: {seconds:.2f} s")
    seconds, _ = timed(lambda: bootstrap_ci(result.per_clip, args.resamples, 0))
    print(f"  bootstrap_ci without sufficient statistics: {seconds:.2f} s")

    print("\nper stage (each run on its own):")
    for name, seconds in stage_breakdown(preds, refs, java):
        print(f"  {name:<40s} {seconds:8.2f} s")
    if java and not args.no_baseline:
        print("\npycocoevalcap called directly (COCOEvalCap's way, for comparison):")
        for name, seconds in coco_baseline(preds, refs):
            print(f"  {name:<40s} {seconds:8.2f} s")


if __name__ == "__main__":
    main()
