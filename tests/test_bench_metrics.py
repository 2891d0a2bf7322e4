"""benchmarks/bench_metrics.py pairs each clip with its own references whatever their number (it assumed 5)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_metrics.py"


@pytest.fixture(scope="module")
def bench_metrics():
    spec = importlib.util.spec_from_file_location("bench_metrics", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("n_refs", [1, 3, 5, 7])
def test_stage_breakdown_runs_for_any_number_of_references(bench_metrics, n_refs):
    preds, refs = bench_metrics.synthetic_split(6, n_refs, seed=0)
    rows = bench_metrics.stage_breakdown(preds, refs, java=None)  # the Python tokeniser: no JVM start-up
    assert [name for name, _ in rows] == ["PTB fallback tokenisation (Python)", "BLEU1-4", "ROUGE_L", "CIDEr (CIDEr-D)"]
    assert all(seconds >= 0 for _, seconds in rows)
