"""The result tables of README.md and docs/*.md are rendered from the published results, never typed; the front
page gives the two commands and links every docs page; every relative link resolves, and so does every name of the
package's code that a page cites."""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
FRONT_PAGE_MAX_LINES = 160  # "a front page of at most about 150 lines": the rest belongs in docs/

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
CODE_SPAN = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
# The package's top folders and modules, as the docs cite them: `analysis.summary.evaluate_floors`,
# `aac_subsampling.method.config.Config`, `open_questions/decoders.py`, `scripts/meteor_reading.py`.
PACKAGE_PARTS = "base|method|evaluation|data|experiment|analysis|open_questions|run|run_options|publish|cluster"
DOTTED_NAME = re.compile(rf"`((?:aac_subsampling\.)?(?:{PACKAGE_PARTS})(?:\.[A-Za-z_]\w*)+)(?:\([^`]*\))?`")
CODE_PATH = re.compile(
    rf"`((?:lib/aac_subsampling/|(?:{PACKAGE_PARTS})/)[\w/]+\.py|(?:scripts|benchmarks|tests|notebooks)/[\w./-]+)`"
)
FILE_SUFFIXES = (".py", ".json", ".csv", ".ipynb", ".md", ".png", ".yaml", ".log", ".pt")


def _update_readme():
    spec = importlib.util.spec_from_file_location("update_readme", ROOT / "scripts" / "update_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _links(path: Path) -> list[str]:
    """Link and image targets of a markdown page, outside code blocks and code spans."""
    text = CODE_SPAN.sub("", FENCE.sub("", path.read_text()))
    return [match.group(1) for match in LINK.finditer(text)]


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    seen: Counter[str] = Counter()
    anchors = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return anchors


def test_update_readme_covers_every_page():
    assert _update_readme().pages() == _pages()


def test_every_pages_tables_match_the_published_results():
    module = _update_readme()
    pages_with_blocks = []
    for page in module.pages():
        text = page.read_text()
        names = module.blocks(text)
        where = page.relative_to(ROOT)
        begins, ends = (len(re.findall(rf"^<!-- {mark} generated:", text, re.MULTILINE)) for mark in ("BEGIN", "END"))
        assert begins == len(names) == ends, f"{where}: a generated block whose BEGIN and END markers do not pair up"
        for name in names:
            assert name.split("-", 1)[1] in module.RENDERERS, f"{where}: {name}"
        _, changed = module.updated(text)
        assert changed == [], f"{where}: blocks out of date (run python scripts/update_readme.py): {changed}"
        if names:
            pages_with_blocks.append(page)
    assert README in pages_with_blocks, "the README has no generated results blocks"
    assert "quick-table1" in module.blocks(README.read_text()), "the front page shows Table 1 of the quick run"


def test_readme_gives_the_two_commands():
    text = README.read_text()
    assert "./run_all.sh" in text and "./run_tests.sh" in text


def test_readme_is_a_front_page():
    lines = len(README.read_text().splitlines())
    assert lines <= FRONT_PAGE_MAX_LINES, f"README.md has {lines} lines: move detail to a docs/ page"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / target.split("#", 1)[0]).resolve() for target in _links(README) if "://" not in target}
    unlinked = [page.name for page in sorted(DOCS.glob("*.md")) if page.resolve() not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def test_every_relative_link_resolves():
    broken = []
    for page in _pages():
        for target in _links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            path_part, _, anchor = target.partition("#")
            path = (page.parent / path_part).resolve() if path_part else page
            where = f"{page.relative_to(ROOT)}: {target}"
            if not path.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                broken.append(f"{where} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_question_e_is_rendered_from_a_published_study_and_said_missing_otherwise(tmp_path, monkeypatch):
    import json

    from fake_results import write_fake_results

    from aac_subsampling.open_questions import decoders, variants

    module = _update_readme()
    published = tmp_path / "published" / "quick"
    monkeypatch.setattr(module, "published_dir", lambda profile: published)
    for decoder in decoders.DECODERS:
        write_fake_results(variants.variant_dir(published, decoder), seeds=(0, 1), factors=(1, 16), listening=True)
    record = variants.study_record_path(published)
    record.write_text(json.dumps({"seeds": [0, 1], "M": [1, 16], "questions": ["decoder"]}))
    rows = module.study_decoders_block("quick").splitlines()[2:]
    assert [row.split(" | ")[:2] for row in rows] == [[f"| {d}", str(m)] for d in decoders.DECODERS for m in (1, 16)]
    assert all(re.search(r"\| \+\d\.\d{3} \[\+\d\.\d{3}, \+\d\.\d{3}\] \|", row) for row in rows)  # audio heard
    examples = module.study_decoder_examples_block("quick").splitlines()
    assert examples[0].split(" | ")[2:] == [*decoders.DECODERS[:-1], decoders.DECODERS[-1] + " |"]
    assert len(examples) == 2 + 5
    record.write_text(json.dumps({"seeds": [0, 1], "M": [1, 16], "questions": ["batch", "padding"]}))
    assert "not in the published study" in module.study_decoders_block("quick")
    record.write_text(json.dumps({"seeds": [0, 1, 2], "M": [1, 16], "questions": ["decoder"]}))  # seed 2 missing
    assert "not in the published study" in module.study_decoder_examples_block("quick")


def _resolves(dotted: str) -> bool:
    """Whether ``analysis.summary.evaluate_floors`` (``aac_subsampling.`` optional) names a module or its attribute."""
    parts = (dotted if dotted.startswith("aac_subsampling.") else f"aac_subsampling.{dotted}").split(".")
    for end in range(len(parts), 1, -1):
        try:
            found = importlib.import_module(".".join(parts[:end]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[end:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def test_every_name_and_file_of_the_code_a_page_cites_exists():
    """A page that cites `experiment.pipeline.evaluate_floors` after the function moved sends a reader nowhere."""
    missing, cited = [], 0
    for page in _pages():
        text = page.read_text()
        for match in DOTTED_NAME.finditer(text):
            if match.group(1).endswith(FILE_SUFFIXES):  # `run.py`, `evaluation.json`: files, not names
                continue
            cited += 1
            if not _resolves(match.group(1)):
                missing.append(f"{page.relative_to(ROOT)}: {match.group(1)}")
        for match in CODE_PATH.finditer(text):
            cited += 1
            if not any(
                path.exists() for path in (ROOT / match.group(1), ROOT / "lib" / "aac_subsampling" / match.group(1))
            ):
                missing.append(f"{page.relative_to(ROOT)}: {match.group(1)}")
    assert cited > 50  # the patterns still find the citations
    assert not missing, "cited but not in the code:\n" + "\n".join(missing)
