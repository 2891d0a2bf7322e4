"""Publishing: copy the results meant to be read from a working folder into the committed one.

Working runs write to ``results/<profile>/`` (ignored by git: checkpoints, locks, logs). ``--publish``
copies records, tables, per-clip scores, predictions and executed notebooks into
``results/published/<profile>/`` and the figures into ``figures/<profile>/``, replacing what was
there. It refuses unless the git tree is clean and every record was made from a clean tree, and it
rewrites this machine's absolute paths as project-relative ones; a published file that would still
hold an absolute path, the host name or a dirty-tree record stops the publication, naming the file.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path

from aac_subsampling import layout
from aac_subsampling.open_questions.variants import OPEN_QUESTIONS_DIR
from aac_subsampling.paths import project_root, relative_to_project
from aac_subsampling.runinfo import git_state

PUBLISHED_PATTERNS = (
    "*.csv",
    "*.json",
    "seed*/M*/*.json",
    "seed*/M*/*.csv",
    f"{layout.FLOORS_DIR}/*/*.csv",
    f"{layout.EXECUTED_DIR}/*.ipynb",
    f"{OPEN_QUESTIONS_DIR}/**/*.csv",
    f"{OPEN_QUESTIONS_DIR}/**/*.json",
)
# The study of notebook 05 is published as a part of its own: a run of only the main sweep keeps the published
# study, a run of only the study keeps the published main results.
OPEN_QUESTIONS_NOTEBOOK = "05_open_questions.ipynb"
OPEN_QUESTIONS_FIGURE = "open_questions.png"
NOT_PUBLISHED = {layout.LOCK_FILE}
TEXT_SUFFIXES = {".json", ".csv", ".ipynb", ".md", ".txt"}
# absolute paths of a machine (a project-relative path never starts with one of these)
ABSOLUTE_PATH = re.compile(r"(?<![\w.~])/(?:home|root|tmp|work|Users|mnt|opt|var|srv|scratch)/[^\s\"',]*")


class PublishError(RuntimeError):
    pass


def published_dir(profile: str) -> Path:
    return project_root() / "results" / "published" / profile


def published_figures_dir(profile: str) -> Path:
    return project_root() / "figures" / profile


def files_to_publish(results_dir: Path) -> list[Path]:
    files = {path for pattern in PUBLISHED_PATTERNS for path in Path(results_dir).glob(pattern) if path.is_file()}
    return sorted(path for path in files if path.name not in NOT_PUBLISHED)


def is_open_questions_file(relative: Path) -> bool:
    """Whether a file (relative to a results folder, or a figure's name) belongs to notebook 05's study."""
    return relative.parts[0] == OPEN_QUESTIONS_DIR or relative.name in (OPEN_QUESTIONS_NOTEBOOK, OPEN_QUESTIONS_FIGURE)


def _remove_part(folder: Path, open_questions: bool) -> None:
    """Delete one part (the study, or everything else) of a published folder."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file() and is_open_questions_file(path.relative_to(folder)) == open_questions:
            path.unlink()
    for path in sorted(folder.rglob("*"), reverse=True):  # folders left empty, deepest first
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def scrub(text: str, results_dir: Path) -> str:
    """Absolute paths of this machine -> project-relative ones (longest first)."""
    root = project_root()
    replacements = {
        str(Path(results_dir).resolve()): relative_to_project(results_dir),
        str(root) + "/": "",
        str(root): ".",
        str(Path.home()) + "/": "~/",
    }
    for old in sorted(replacements, key=len, reverse=True):
        text = text.replace(old, replacements[old])
    # an installed package's folder (messages of SPICE, warnings) says where any environment keeps it
    return re.sub(r"(?<![\w.~])/[^\s\"',;]*/site-packages/", "site-packages/", text)


def problems_in(text: str) -> list[str]:
    """What a published file must not hold."""
    found = [f"absolute path {match!r}" for match in sorted(set(ABSOLUTE_PATH.findall(text)))[:3]]
    hostname = socket.gethostname()
    if hostname and len(hostname) > 3 and re.search(rf"\b{re.escape(hostname)}\b", text):
        found.append(f"the host name {hostname!r}")
    if re.search(r'"git_dirty"\s*:\s*true', text):
        found.append("a record made from a dirty git tree (git_dirty: true)")
    return found


def check_clean_tree() -> None:
    state = git_state()
    if state["commit"] is None:
        raise PublishError("publishing needs a git checkout: the published records name the commit that made them")
    if state["dirty"]:
        raise PublishError(
            "the git tree has uncommitted changes to tracked files; commit them, rerun, then publish "
            "(published results must come from a committed state of the code)"
        )


def publish(
    results_dir: Path,
    profile: str,
    destination: Path | None = None,
    figures_destination: Path | None = None,
    require_clean_tree: bool = True,
) -> Path:
    """Copy ``results_dir``'s readable results into the published folders; returns the results destination."""
    results_dir = Path(results_dir).resolve()
    destination = Path(destination) if destination else published_dir(profile)
    figures_destination = Path(figures_destination) if figures_destination else published_figures_dir(profile)
    if require_clean_tree:
        check_clean_tree()
    files = files_to_publish(results_dir)
    if not any(path.name == layout.EVALUATION_RECORD for path in files):
        raise PublishError(f"nothing to publish: {results_dir} holds no evaluation record")
    # the main part is published only by a run that made it (an --open-questions-only run has prepared.json too)
    parts = {is_open_questions_file(path.relative_to(results_dir)) for path in files}
    if not layout.completed_runs(results_dir):
        parts.discard(False)
        files = [path for path in files if is_open_questions_file(path.relative_to(results_dir))]
    staged: dict[Path, bytes] = {}
    failures: list[str] = []
    for path in files:
        relative = path.relative_to(results_dir)
        text = scrub(path.read_text(encoding="utf-8"), results_dir)
        if path.suffix == ".json":
            json.loads(text)  # still valid after scrubbing
        failures += [f"{relative}: {problem}" for problem in problems_in(text)]
        staged[relative] = text.encode("utf-8")
    if failures:
        raise PublishError("not published, these files would leak machine details:\n  " + "\n  ".join(failures))
    for part in parts:  # replace the parts this run made, keep the other
        _remove_part(destination, open_questions=part)
    for relative, data in staged.items():
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    figures = sorted(
        path
        for path in layout.figures_dir(results_dir).glob("*.png")
        if is_open_questions_file(Path(path.name)) in parts
    )
    if figures:
        for part in parts:
            _remove_part(figures_destination, open_questions=part)
        figures_destination.mkdir(parents=True, exist_ok=True)
        for figure in figures:
            shutil.copy2(figure, figures_destination / figure.name)
    return destination
