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
from aac_subsampling.paths import project_root, relative_to_project
from aac_subsampling.runinfo import git_state

PUBLISHED_PATTERNS = (
    "*.csv", "*.json", "seed*/M*/*.json", "seed*/M*/*.csv", f"{layout.EXECUTED_DIR}/*.ipynb",
)
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


def scrub(text: str, results_dir: Path) -> str:
    """Absolute paths of this machine -> project-relative ones (longest first)."""
    root = project_root()
    replacements = {str(Path(results_dir).resolve()): relative_to_project(results_dir), str(root) + "/": "",
                    str(root): ".", str(Path.home()) + "/": "~/"}
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
        raise PublishError("the git tree has uncommitted changes to tracked files; commit them, rerun, then publish "
                           "(published results must come from a committed state of the code)")


def publish(results_dir: Path, profile: str, destination: Path | None = None,
            figures_destination: Path | None = None, require_clean_tree: bool = True) -> Path:
    """Copy ``results_dir``'s readable results into the published folders; returns the results destination."""
    results_dir = Path(results_dir).resolve()
    destination = Path(destination) if destination else published_dir(profile)
    figures_destination = Path(figures_destination) if figures_destination else published_figures_dir(profile)
    if require_clean_tree:
        check_clean_tree()
    files = files_to_publish(results_dir)
    if not any(path.name == layout.EVALUATION_RECORD for path in files):
        raise PublishError(f"nothing to publish: {results_dir} holds no evaluation record")
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
    shutil.rmtree(destination, ignore_errors=True)
    for relative, data in staged.items():
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    figures = sorted(layout.figures_dir(results_dir).glob("*.png"))
    if figures:
        shutil.rmtree(figures_destination, ignore_errors=True)
        figures_destination.mkdir(parents=True, exist_ok=True)
        for figure in figures:
            shutil.copy2(figure, figures_destination / figure.name)
    return destination
