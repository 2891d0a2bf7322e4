"""The README's result tables are rendered from the published results, never typed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _update_readme():
    spec = importlib.util.spec_from_file_location("update_readme", ROOT / "scripts" / "update_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_tables_match_the_published_results():
    module = _update_readme()
    text = module.README.read_text()
    names = [match.group("name") for match in module.BLOCK.finditer(text)]
    assert names, "the README has no generated results blocks"
    for name in names:
        assert name.split("-", 1)[1] in module.RENDERERS, name
    _, changed = module.updated(text)
    assert changed == [], f"README blocks out of date (run python scripts/update_readme.py): {changed}"


def test_readme_gives_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "./run_all.sh" in text and "./run_tests.sh" in text
