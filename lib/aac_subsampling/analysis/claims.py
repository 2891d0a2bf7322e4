"""The paper's claims, each checked against this folder's records, with a verdict and the evidence in words.

Two preconditions come before the paper's metric claims: every M beats the audio-blind floors and uses the
audio (:func:`listening_claims`); without them a comparison of M compares models that do not listen.

Verdicts: ``holds``, ``does not hold``, ``not testable here`` (the records cannot decide it, e.g. M = 16
not evaluated or SPICE unavailable), and for the metric claims ``not shown (interval includes 0)``
(M = 16 scored higher or lower than M = 1, but the paired 95 % interval of the difference includes 0).

Structural claims (lengths, reduction, parameters) do not depend on training and must hold on every
run; :func:`assert_structural_claims` raises when they do not. Timing and metric claims are findings.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from aac_subsampling.evaluation import METRIC_NAMES
from aac_subsampling.method.paper import PAPER_PARAMETERS, PAPER_VOCABULARY_SIZE, TABLE2_INPUT_FRAMES

HOLDS, FAILS, UNTESTABLE, NOT_SHOWN = "holds", "does not hold", "not testable here", "not shown (interval includes 0)"
CLAIM_COLUMNS = ["claim", "kind", "verdict", "evidence"]


def _row(claim: str, kind: str, verdict: str, evidence: str) -> dict[str, str]:
    return {"claim": claim, "kind": kind, "verdict": verdict, "evidence": evidence}


def _paper_table2() -> pd.DataFrame:
    from aac_subsampling.analysis.tables import paper_table2

    return paper_table2().set_index("M")


def lengths_claim(table2: pd.DataFrame, paper2: pd.DataFrame | None = None) -> dict[str, str]:
    """Encoder output lengths equal the paper's Table 2 for every evaluated M."""
    claim = "encoder output length T_L equals the paper's Table 2 for every M"
    paper2 = _paper_table2() if paper2 is None else paper2
    rows = table2[table2["M"].isin(paper2.index)]
    if rows.empty:
        return _row(claim, "structural", UNTESTABLE, "no evaluated M of the paper's set")
    wrong, shown = [], []
    for row in rows.itertuples():
        ours, theirs = (row.T_L_min, row.T_L_max), tuple(paper2.loc[row.M, ["T_L_min", "T_L_max"]])
        shown.append(f"M={row.M}: {ours[0]}..{ours[1]}")
        if tuple(int(v) for v in ours) != tuple(int(v) for v in theirs):
            wrong.append(f"M={row.M}: ours {ours[0]}..{ours[1]}, paper {theirs[0]}..{theirs[1]}")
    if wrong:
        return _row(claim, "structural", FAILS, "; ".join(wrong))
    return _row(claim, "structural", HOLDS, "equal for " + ", ".join(shown))


def reduction_claim(table2: pd.DataFrame, paper2: pd.DataFrame | None = None) -> dict[str, str]:
    """Sub-sampling removes a share 1 - M^-(L-1) of the last layer's input: the measured T_L is
    floor(T / M^(L-1)) for both inputs, and the table's reduction is the formula, as the paper prints it
    (the paper truncates to two decimals)."""
    claim = "the last layer's input is reduced by 1 - M^-(L-1)"
    paper2 = _paper_table2() if paper2 is None else paper2
    if table2.empty:
        return _row(claim, "structural", UNTESTABLE, "no evaluated M")
    wrong, shown = [], []
    for row in table2.itertuples():
        steps = int(row.M) ** (int(row.n_layers) - 1)
        for column, frames in TABLE2_INPUT_FRAMES.items():
            if int(getattr(row, column)) != frames // steps:
                wrong.append(
                    f"M={row.M}: T_L={getattr(row, column)} for {frames} frames, "
                    f"floor({frames}/{row.M}^{int(row.n_layers) - 1}) = {frames // steps}"
                )
        formula = 100.0 * (1.0 - 1.0 / steps)
        if abs(float(row.reduction_percent) - formula) > 1e-4:
            wrong.append(f"M={row.M}: table says {row.reduction_percent} %, formula {formula:.4f} %")
        if row.M in paper2.index and abs(formula - float(paper2.loc[row.M, "reduction_percent"])) >= 0.01:
            wrong.append(f"M={row.M}: formula {formula:.4f} %, paper {paper2.loc[row.M, 'reduction_percent']} %")
        shown.append(f"M={row.M}: {formula:.4f} %")
    if wrong:
        return _row(claim, "structural", FAILS, "; ".join(wrong))
    inputs = " and ".join(str(frames) for frames in TABLE2_INPUT_FRAMES.values())
    return _row(
        claim,
        "structural",
        HOLDS,
        f"T_L = floor(T / M^(L-1)) for T = {inputs}; reduction "
        + ", ".join(shown)
        + " (the paper's values truncated to 2 decimals)",
    )


def parameters_claim(table2: pd.DataFrame) -> dict[str, str]:
    """Sub-sampling adds no parameters: the same count for every M, 4,573,711 at D = 4367."""
    claim = f"parameters unchanged across M ({PAPER_PARAMETERS:,} at D = {PAPER_VOCABULARY_SIZE})"
    if table2.empty:
        return _row(claim, "structural", UNTESTABLE, "no evaluated M")
    counts = {int(m): int(p) for m, p in zip(table2["M"], table2["parameters_D4367"])}
    distinct = sorted(set(counts.values()))
    listed = ", ".join(f"M={m}: {p:,}" for m, p in counts.items())
    if distinct != [PAPER_PARAMETERS]:
        return _row(claim, "structural", FAILS, f"{listed} (expected {PAPER_PARAMETERS:,} for every M)")
    return _row(claim, "structural", HOLDS, f"{PAPER_PARAMETERS:,} for M = {', '.join(str(m) for m in counts)}")


def inference_time_claim(table2: pd.DataFrame, factor: int = 16) -> dict[str, str]:
    """Inference time falls with M: the seed-mean is non-increasing in M and M = ``factor`` is faster than M = 1."""
    claim = "inference time falls with M"
    times = table2.set_index("M")["inference_time_s"].sort_index()
    if 1 not in times.index or factor not in times.index:
        return _row(claim, "timing", UNTESTABLE, f"needs M=1 and M={factor} (evaluated: {list(times.index)})")
    listed = ", ".join(f"M={m}: {t:.2f} s" for m, t in times.items())
    seeds = ""
    if "n_seeds" in table2:
        low, high = int(table2["n_seeds"].min()), int(table2["n_seeds"].max())
        seeds = f" (mean over {low} seed{'s' * (high > 1)})" if low == high else f" (mean over {low} to {high} seeds)"
    rises = [
        f"M={a} -> M={b}: {times[a]:.2f} -> {times[b]:.2f} s"
        for a, b in zip(times.index[:-1], times.index[1:])
        if times[b] > times[a]
    ]
    if times[factor] >= times[1]:
        return _row(claim, "timing", FAILS, f"M={factor} is not faster than M=1: {listed}{seeds}")
    if rises:
        return _row(claim, "timing", FAILS, f"not monotone: {'; '.join(rises)}; all: {listed}{seeds}")
    share = times[factor] / times[1]
    return _row(claim, "timing", HOLDS, f"{listed}{seeds}; M={factor} takes {share:.0%} of M=1's time")


def metric_claim(comparisons: pd.DataFrame, metric: str, factor: int = 16) -> dict[str, str]:
    """``metric`` improves with M: M = ``factor`` better than M = 1, judged by the paired interval."""
    claim = f"{metric} improves with M (M={factor} vs M=1)"
    found = comparisons[(comparisons["metric"] == metric) & (comparisons["M"] == factor)]
    if found.empty:
        return _row(claim, "metric", UNTESTABLE, f"M={factor} not compared with M=1")
    row = found.iloc[0]
    if not np.isfinite(row["difference"]):
        return _row(claim, "metric", UNTESTABLE, f"{metric} unavailable: {row.get('unavailable') or 'no score'}")
    evidence = (
        f"M={factor} - M=1 = {row['difference']:+.4f}, 95 % paired interval [{row['ci_low']:+.4f}, "
        f"{row['ci_high']:+.4f}], M={factor} better in {row['share_better']:.1%} of {int(row['n_resamples'])} "
        f"resamples ({int(row['n_seeds'])} seed(s), {int(row['n_clips'])} clips)"
    )
    if row["ci_low"] > 0:
        return _row(claim, "metric", HOLDS, evidence)
    if row["ci_high"] < 0:
        return _row(claim, "metric", FAILS, evidence)
    return _row(claim, "metric", NOT_SHOWN, evidence)


STRUCTURAL_CHECKS: tuple[Callable[[pd.DataFrame], dict[str, str]], ...] = (
    lengths_claim,
    reduction_claim,
    parameters_claim,
)


def structural_claims(table2: pd.DataFrame) -> pd.DataFrame:
    """The claims that do not depend on training: lengths, reduction, parameters."""
    return pd.DataFrame([check(table2) for check in STRUCTURAL_CHECKS], columns=CLAIM_COLUMNS)


LISTENING_METRIC = "CIDEr"


def _every_m_above_zero(rows: pd.DataFrame, claim: str, what: str) -> dict[str, str]:
    """HOLDS when every M's paired interval (``rows``: one per M, or per M and floor) lies above 0."""
    if rows.empty:
        return _row(claim, "precondition", UNTESTABLE, f"no {what}")
    parts, failing = [], []
    for row in rows.sort_values("M").itertuples():
        label = f"M={row.M}" + (f" vs {row.floor.replace('_', '-')}" if hasattr(row, "floor") else "")
        parts.append(f"{label}: {row.difference:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}]")
        if not row.ci_low > 0:
            failing.append(label)
    evidence = f"{LISTENING_METRIC} " + "; ".join(parts)
    if failing:
        return _row(claim, "precondition", FAILS, f"interval not above 0 for {', '.join(failing)}. {evidence}")
    return _row(claim, "precondition", HOLDS, evidence)


def listening_claims(floors: pd.DataFrame | None, audio_dependence: pd.DataFrame | None) -> list[dict[str, str]]:
    """The preconditions of every comparison between M: each M beats the audio-blind floors
    (:mod:`.floors`) and uses the audio (:mod:`.audio_dependence`: own minus swapped audio, pooled over seeds).
    Where they fail, the metric claims compare models that have not learnt to listen."""
    floor_rows = pd.DataFrame() if floors is None or floors.empty else floors[floors["metric"] == LISTENING_METRIC]
    swap_rows = (
        pd.DataFrame()
        if audio_dependence is None or audio_dependence.empty
        else audio_dependence[
            (audio_dependence["metric"] == LISTENING_METRIC) & (audio_dependence["seed"].astype(str) == "pooled")
        ]
    )
    return [
        _every_m_above_zero(floor_rows, "every M beats both audio-blind floors", "floor comparisons"),
        _every_m_above_zero(swap_rows, "every M uses the audio (own minus swapped audio)", "swapped-audio decodes"),
    ]


def check_claims(
    table2: pd.DataFrame,
    comparisons: pd.DataFrame | None = None,
    factor: int = 16,
    floors: pd.DataFrame | None = None,
    audio_dependence: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every claim with its verdict: :func:`structural_claims`, :func:`inference_time_claim`, the two
    :func:`listening_claims` (when ``floors`` or ``audio_dependence`` are given), and one
    :func:`metric_claim` per metric (``not testable here`` for all of them without ``comparisons``).
    ``factor``: the M compared with M = 1 (the paper's largest, 16; a profile that stops earlier may pass
    its largest M, and the claim's text says which)."""
    rows = [*structural_claims(table2).to_dict("records"), inference_time_claim(table2, factor)]
    if floors is not None or audio_dependence is not None:
        rows += listening_claims(floors, audio_dependence)
    for metric in METRIC_NAMES:
        if comparisons is None or comparisons.empty:
            rows.append(
                _row(f"{metric} improves with M (M={factor} vs M=1)", "metric", UNTESTABLE, "no paired comparisons")
            )
        else:
            rows.append(metric_claim(comparisons, metric, factor))
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def assert_structural_claims(table2: pd.DataFrame) -> pd.DataFrame:
    """:func:`structural_claims`, raising ``AssertionError`` (each failing claim with its evidence) unless
    every one holds; for notebooks under nbval."""
    claims = structural_claims(table2)
    failing = claims[claims["verdict"] != HOLDS]
    if not failing.empty:
        lines = [f"- {row.claim}: {row.verdict}: {row.evidence}" for row in failing.itertuples()]
        raise AssertionError("structural claims of the paper fail on these records:\n" + "\n".join(lines))
    return claims
