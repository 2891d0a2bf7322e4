"""The evaluation package exports its names lazily: each resolves, and the Java finder loads without pandas."""

from __future__ import annotations

import subprocess
import sys

import aac_subsampling.evaluation as evaluation


def test_every_exported_name_resolves_to_its_module():
    assert set(evaluation.__all__) == set(evaluation._HOMES)
    for name in evaluation.__all__:
        value = getattr(evaluation, name)
        assert getattr(value, "__module__", evaluation._HOMES[name]).endswith(evaluation._HOMES[name]) or not callable(
            value
        )


def test_the_java_finder_does_not_load_the_metrics():
    code = (
        "import sys; from aac_subsampling.evaluation.java import find_java; "
        "print(sorted(m for m in ('pandas', 'pycocoevalcap', 'torch') if m in sys.modules))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert shown == "[]"
