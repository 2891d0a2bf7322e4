"""Publishing: copy the results meant to be read from a working folder into the committed one.

Working runs write to ``results/<profile>/`` (ignored by git: checkpoints, locks, logs). ``--publish``
copies records, tables, per-clip scores, predictions and executed notebooks into
``results/published/<profile>/`` and the figures into ``figures/<profile>/``, replacing what was
there. It refuses unless the git tree is clean and every record was made from a clean tree, and it
rewrites this machine's absolute paths as project-relative ones; a published file that would still
hold an absolute path, the host name or a dirty-tree record stops the publication, naming the file.

Paths are rewritten as: the project root -> ``.`` (its files -> ``notebooks/...``), a folder beside the
project -> ``../<name>`` (e.g. ``../shared/clotho_v1_captions`` in a reason text), the home folder -> ``~``.
A results folder inside the project is named by its project-relative path (``results/quick``); one outside
it has no such path, so it is named by the folder its published copy goes to (``results/published/<profile>``):
the published files are that copy, and their records, executed notebooks and papermill parameters then name
where they are.

:func:`check_before_run` is what ``--publish`` checks before a run starts, so that a refusal comes in
seconds rather than after the trainings: a clean tree, a results folder that is not the published one, a
corpus folder that records can name, and no record made from a dirty tree. The run engine skips a stage
whose record matches its settings, whatever the git state it was made in, so such a record would stay
dirty however often the run is repeated: the refusal names the stages, and the files to delete so that the
next run redoes those stages only (:func:`dirty_stages`, :func:`redo_advice`).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aac_subsampling.base.paths import project_root, relative_to_project
from aac_subsampling.experiment import layout
from aac_subsampling.experiment.runinfo import changed_files, code_differs, git_state
from aac_subsampling.open_questions.variants import OPEN_QUESTIONS_DIR, STUDY_RECORD

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
# A record's run metadata, also as an executed notebook holds it: printed into a cell's output, its quotes escaped
DIRTY_RECORD = re.compile(r'\\?"git_dirty\\?"\s*:\s*true')
RECORD_COMMIT = re.compile(r'\\?"git_commit\\?"\s*:\s*\\?"([0-9a-f]{7,40})')


class PublishError(RuntimeError):
    pass


def published_dir(profile: str) -> Path:
    return project_root() / "results" / "published" / profile


def published_figures_dir(profile: str) -> Path:
    return project_root() / "figures" / profile


def files_to_publish(results_dir: Path, main_part: bool | None = None) -> list[Path]:
    """The files a publication copies. ``main_part``: whether the main sweep's part goes too (None: when the folder
    has a completed run; an --open-questions-only folder publishes the study alone)."""
    files = {path for pattern in PUBLISHED_PATTERNS for path in Path(results_dir).glob(pattern) if path.is_file()}
    chosen = sorted(path for path in files if path.name not in NOT_PUBLISHED)
    if main_part is None:
        main_part = bool(layout.completed_runs(results_dir))
    if not main_part:
        chosen = [path for path in chosen if is_open_questions_file(path.relative_to(results_dir))]
    return chosen


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


def published_name(results_dir: Path, destination: Path | None = None) -> str:
    """How published files name the results folder they came from: its project-relative path; for a folder
    outside the project, the project-relative path of ``destination`` (where its published copy goes)."""
    name = relative_to_project(results_dir)
    if Path(name).is_absolute() and destination is not None:
        moved = relative_to_project(destination)
        if not Path(moved).is_absolute():
            return moved
    return name


def scrub(text: str, results_dir: Path, destination: Path | None = None) -> str:
    """Absolute paths of this machine -> project-relative ones (longest first); see the module's docstring."""
    root = project_root()
    replacements = {
        str(Path(results_dir).resolve()): published_name(results_dir, destination),
        str(root) + "/": "",
        str(root): ".",
    }
    for old in sorted(replacements, key=len, reverse=True):
        text = text.replace(old, replacements[old])
    # then a folder beside the project and the home folder, the longer first (the home folder wins a tie)
    outer = {str(root.parent) + "/": "../"} if root.parent != root.parent.parent else {}  # not when root is /x
    outer[str(Path.home()) + "/"] = "~/"
    for old in sorted(outer, key=len, reverse=True):
        text = re.sub(rf"(?<![\w.~-]){re.escape(old)}", outer[old], text)
    # an installed package's folder (messages of SPICE, warnings) says where any environment keeps it
    return re.sub(r"(?<![\w.~])/[^\s\"',;]*/site-packages/", "site-packages/", text)


def problems_in(text: str) -> list[str]:
    """What a published file must not hold."""
    found = [f"absolute path {match!r}" for match in sorted(set(ABSOLUTE_PATH.findall(text)))[:3]]
    hostname = socket.gethostname()
    if hostname and len(hostname) > 3 and re.search(rf"\b{re.escape(hostname)}\b", text):
        found.append(f"the host name {hostname!r}")
    if DIRTY_RECORD.search(text):
        found.append("a record made from a dirty git tree (git_dirty: true)")
    return found


def check_clean_tree() -> None:
    state = git_state()
    if state["commit"] is None:
        raise PublishError("publishing needs a git checkout: the published records name the commit that made them")
    if state["dirty"]:
        changed = changed_files()
        listing = "".join(f"\n    {line.strip()}" for line in changed[:8])
        if len(changed) > 8:
            listing += f"\n    ... and {len(changed) - 8} more"
        raise PublishError(
            "the git tree has uncommitted changes to tracked files (git status):"
            + listing
            + "\n  commit them (or stash them), then run the same command again: records made from a dirty tree "
            "are refused, since the commit they name does not hold the code that made them"
        )


def check_folders(results_dir: Path, destination: Path) -> None:
    """The results folder must not be the published folder, lie inside it or hold it."""
    results_dir, destination = Path(results_dir).resolve(), Path(destination).resolve()
    published_root = (project_root() / "results" / "published").resolve()
    for folder in (destination, published_root):
        if results_dir == folder or folder in results_dir.parents or results_dir in folder.parents:
            raise PublishError(
                f"the results folder {relative_to_project(results_dir)} is, holds or lies inside the published "
                f"folder {relative_to_project(folder)}: run into a working folder (the default is "
                "results/<profile>) and publish from there"
            )


# ---------------------------------------------------------------------------- records from a dirty tree


_RUN_FILE = re.compile(r"^(?P<base>.*?)seed(?P<seed>\d+)/M(?P<M>\d+)/(?P<name>[^/]+)$")
_EXECUTED = re.compile(r"^(?P<notebook>0[1-5])_[a-z_]+?(?:_seed(?P<seed>\d+)_M(?P<M>\d+))?\.ipynb$")
_RUN_FILES_OF = {  # what a stage wrote in seed<S>/M<M>/, deleted so that the next run redoes it from scratch
    "training": (layout.TRAINING_RECORD, layout.CHECKPOINT_FILE, layout.MODEL_FILE),
    "evaluation": (layout.EVALUATION_RECORD,),
}


@dataclass
class DirtyStage:
    """One stage whose files say ``git_dirty: true``, and what to delete for the run engine to redo it."""

    name: str  # as the run engine names it: "training seed=0 M=4", "data preparation", ...
    files: list[str] = field(default_factory=list)  # relative to the results folder
    remove: list[str] = field(default_factory=list)
    run: tuple[int, int] | None = None  # (seed, M) of the main sweep
    open_questions: bool = False  # made by notebook 05 (--open-questions)
    # No record left (deleted, as advised): a run that includes the stage redoes it and overwrites these files;
    # ``remove`` then names the files themselves, for when no run will (their stage is not in the command).
    pending: bool = False

    def in_command(self, runs: set[tuple[int, int]] | None, open_questions: bool | None) -> bool:
        """Whether a run of these (seed, M) (None: unknown) and notebook 05 or not would run this stage."""
        if self.run is not None:
            return runs is None or self.run in runs
        if self.open_questions:
            return open_questions is not False
        if self.name == "data preparation":
            return True
        if self.name == "results tables":
            return runs is None or bool(runs)
        return False


def _stage_of(relative: Path) -> DirtyStage:
    """The stage that wrote a published file (relative to its results folder) and the files to delete to redo it."""
    text = relative.as_posix()
    study = f"{OPEN_QUESTIONS_DIR}/{STUDY_RECORD}"
    match = _RUN_FILE.match(text)
    if relative.parts[0] == OPEN_QUESTIONS_DIR or relative.name == "05_open_questions.ipynb":
        # notebook 05 reruns only when its study record is gone; it then redoes the runs whose records are gone
        if match:
            kind = "training" if match["name"] == layout.TRAINING_RECORD else "evaluation"
            folder = relative.parent.as_posix()
            name = f"open questions: {Path(match['base']).name} {kind} seed={match['seed']} M={match['M']}"
            return DirtyStage(
                name, remove=[f"{folder}/{file}" for file in _RUN_FILES_OF[kind]] + [study], open_questions=True
            )
        return DirtyStage("open questions", remove=[study], open_questions=True)
    if relative.parts[0] == layout.EXECUTED_DIR:
        executed = _EXECUTED.match(relative.name)
        if executed is None:
            return DirtyStage(f"unknown ({text})", remove=[text])
        if executed["notebook"] == "01":
            return DirtyStage("data preparation", remove=[layout.PREPARED_RECORD])
        if executed["seed"] is None or executed["notebook"] not in ("02", "03"):
            return DirtyStage("results tables", remove=[layout.SUMMARY_RECORD])
        record = layout.TRAINING_RECORD if executed["notebook"] == "02" else layout.EVALUATION_RECORD
        match = _RUN_FILE.match(f"seed{executed['seed']}/M{executed['M']}/{record}")
    if match and not match["base"]:
        kind = "training" if match["name"] == layout.TRAINING_RECORD else "evaluation"  # files beside: evaluation's
        folder = f"seed{match['seed']}/M{match['M']}"
        return DirtyStage(
            f"{kind} seed={match['seed']} M={match['M']}",
            remove=[f"{folder}/{file}" for file in _RUN_FILES_OF[kind]],
            run=(int(match["seed"]), int(match["M"])),
        )
    if text == layout.PREPARED_RECORD:
        return DirtyStage("data preparation", remove=[layout.PREPARED_RECORD])
    return DirtyStage("results tables", remove=[layout.SUMMARY_RECORD])  # the tables, floors, context: notebook 04


def dirty_stages(results_dir: Path, ignore: Iterable[Path] = (), main_part: bool | None = None) -> list[DirtyStage]:
    """The stages of ``results_dir`` whose published files say they were made from a dirty tree; ``ignore``:
    files left out (those the run engine is about to remove); ``main_part`` as for :func:`files_to_publish`."""
    results_dir = Path(results_dir)
    skipped = {Path(path).resolve() for path in ignore}
    stages: dict[str, DirtyStage] = {}
    for path in files_to_publish(results_dir, main_part):
        if path.resolve() in skipped or not DIRTY_RECORD.search(path.read_text(encoding="utf-8", errors="replace")):
            continue
        found = _stage_of(path.relative_to(results_dir))
        stage = stages.setdefault(found.name, found)
        stage.files.append(path.relative_to(results_dir).as_posix())
    for stage in stages.values():  # only what exists: the command deletes nothing else
        stage.remove = [name for name in dict.fromkeys(stage.remove) if (results_dir / name).is_file()]
        if not stage.remove:
            stage.pending, stage.remove = True, list(stage.files)
    return sorted(stages.values(), key=_run_order)


def _run_order(stage: DirtyStage) -> tuple:
    """The order the run engine runs stages in: preparation, each (seed, M)'s training then evaluation, tables."""
    if stage.name == "data preparation":
        return (0,)
    if stage.run is not None:
        return (1, *stage.run, not stage.name.startswith("training"))
    return (2 if stage.name == "results tables" else 3, stage.name)


def redo_advice(
    results_dir: Path,
    stages: list[DirtyStage],
    rerun_command: str | None = None,
    command_runs: set[tuple[int, int]] | None = None,
    command_open_questions: bool | None = None,
) -> str:
    """What to tell: which files were made from a dirty tree, and the commands that redo only their stages.

    ``command_runs`` / ``command_open_questions``: the (seed, M) and notebook 05 that ``rerun_command`` runs
    (None: not known); a dirty stage it would not run is named apart, with the two ways out: add it to the
    command, or delete what it left so that the published results leave it out."""
    results_dir = Path(results_dir)
    count = sum(len(stage.files) for stage in stages)
    lines = [
        f"{count} file(s) of {relative_to_project(results_dir)} were made from a dirty git tree (git_dirty: true); "
        "a rerun would skip their stages as matching, so they would stay dirty:"
    ]
    lines += [f"  {stage.name}: {', '.join(stage.files)}" for stage in stages]
    inside = [stage for stage in stages if stage.in_command(command_runs, command_open_questions)]
    outside = [stage for stage in stages if stage not in inside]
    if inside:
        lines.append(
            "To redo only those stages (a training from scratch: its checkpoint and model go too; what builds on a "
            "redone stage follows), delete these files from the project root, then run the same command again:"
        )
        lines.append(_rm("-f", results_dir, [name for stage in inside for name in stage.remove]))
        if rerun_command:
            lines.append(f"  {rerun_command}")
    runs = sorted({stage.run for stage in outside if stage.run is not None})
    if runs:
        named = ", ".join(f"seed={seed} M={factor}" for seed, factor in runs)
        lines.append(
            f"{named} {'is' if len(runs) == 1 else 'are'} not in this command. Either add the seeds and M to --seeds "
            "and --m and delete these files too:"
        )
        lines.append(_rm("-f", results_dir, [name for stage in outside if stage.run for name in stage.remove]))
        lines.append("or leave them out of the published results: delete their folders and executed notebooks:")
        left_out = [layout.run_dir(Path(), *run).as_posix() for run in runs]
        left_out += [
            f"{layout.EXECUTED_DIR}/{path.name}"
            for run in runs
            for path in sorted(layout.executed_dir(results_dir).glob(f"0[23]_*_seed{run[0]}_M{run[1]}.ipynb"))
        ]
        lines.append(_rm("-rf", results_dir, left_out))
    if any(stage.open_questions for stage in outside):
        lines.append(
            "Notebook 05's study is redone only with --open-questions or --open-questions-only: add one, and delete "
            "these files too:"
        )
        lines.append(
            _rm("-f", results_dir, [name for stage in outside if stage.open_questions for name in stage.remove])
        )
    other = [stage for stage in outside if stage.run is None and not stage.open_questions]
    if other:
        lines.append("This command runs no stage that would remake these; delete them to leave them out:")
        lines.append(_rm("-f", results_dir, [name for stage in other for name in [*stage.remove, *stage.files]]))
    return "\n".join(lines)


def _rm(flags: str, results_dir: Path, names: list[str]) -> str:
    """A command line that deletes ``names`` (relative to the results folder), from the project root."""
    targets = dict.fromkeys(relative_to_project(Path(results_dir) / name) for name in names)
    return f"  rm {flags} -- " + " ".join(shlex.quote(target) for target in targets)


def record_commits(results_dir: Path) -> dict[str, int]:
    """How many published files name each commit (``git_commit``), most first."""
    counts: dict[str, int] = {}
    for path in files_to_publish(results_dir):
        for commit in set(RECORD_COMMIT.findall(path.read_text(encoding="utf-8", errors="replace"))):
            counts[commit] = counts.get(commit, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def other_commits_note(results_dir: Path) -> str | None:
    """A line on records made at other commits than HEAD (published as they are: each names its commit)."""
    head = git_state()["commit"]
    others = {commit: count for commit, count in record_commits(results_dir).items() if commit != head}
    if not others or head is None:
        return None
    parts = []
    for commit, count in others.items():
        differs = code_differs(commit)
        how = {None: "not in this repository", True: "lib/ or notebooks/ differ from HEAD", False: "same code"}
        parts.append(f"{count} at {commit[:7]} ({how[differs]})")
    return (
        f"files of {relative_to_project(results_dir)} made at other commits than HEAD ({head[:7]}): "
        + ", ".join(parts)
        + "; they are published as they are, each naming its commit (delete a stage's record to redo it)"
    )


def check_before_run(
    results_dir: Path,
    profile: str,
    data_dir: Path | None = None,
    rerun_command: str | None = None,
    ignore: Iterable[Path] = (),
    destination: Path | None = None,
    command_runs: set[tuple[int, int]] | None = None,
    command_open_questions: bool | None = None,
    main_part: bool | None = True,
) -> None:
    """What ``--publish`` can check before the run starts; raises :class:`PublishError` saying what to do.

    Checks the git tree, the results folder against the published one, that the records' corpus folder is a
    path a published file may hold, and that no publishable file of the folder was made from a dirty tree
    (``ignore``: files the run removes before its stages; ``main_part``: whether the run publishes the main
    sweep, None when it runs notebook 05 alone), with :func:`redo_advice` when some were."""
    results_dir = Path(results_dir).resolve()
    destination = Path(destination) if destination else published_dir(profile)
    check_clean_tree()
    check_folders(results_dir, destination)
    if data_dir is not None:
        problems = problems_in(scrub(relative_to_project(data_dir), results_dir, destination))
        if problems:
            raise PublishError(
                f"the corpus folder {data_dir} lies outside the project and the records name it ({problems[0]}): "
                "a published record may not hold it. Put the corpus inside the project (the profile's data folder, "
                "e.g. data/clotho_v1: a copy or a bind mount; a symbolic link is resolved to the path outside), "
                "or run without --publish"
            )
    stages = [
        stage
        for stage in dirty_stages(results_dir, ignore, main_part)
        if not (stage.pending and stage.in_command(command_runs, command_open_questions))  # this run redoes it
    ]
    if stages:
        raise PublishError(redo_advice(results_dir, stages, rerun_command, command_runs, command_open_questions))


def publish(
    results_dir: Path,
    profile: str,
    destination: Path | None = None,
    figures_destination: Path | None = None,
    require_clean_tree: bool = True,
    rerun_command: str | None = None,
) -> Path:
    """Copy ``results_dir``'s readable results into the published folders; returns the results destination.

    ``rerun_command``: the command that made the folder, given in the advice when records were made from a
    dirty tree."""
    results_dir = Path(results_dir).resolve()
    destination = Path(destination) if destination else published_dir(profile)
    figures_destination = Path(figures_destination) if figures_destination else published_figures_dir(profile)
    if require_clean_tree:
        check_clean_tree()
    check_folders(results_dir, destination)
    files = files_to_publish(results_dir, main_part=True)
    if not any(path.name == layout.EVALUATION_RECORD for path in files):
        raise PublishError(f"nothing to publish: {results_dir} holds no evaluation record")
    # the main part is published only by a run that made it (an --open-questions-only run has prepared.json too)
    files = files_to_publish(results_dir)
    parts = {is_open_questions_file(path.relative_to(results_dir)) for path in files}
    staged: dict[Path, bytes] = {}
    failures: list[str] = []
    for path in files:
        relative = path.relative_to(results_dir)
        text = scrub(path.read_text(encoding="utf-8"), results_dir, destination)
        if path.suffix == ".json":
            json.loads(text)  # still valid after scrubbing
        failures += [f"{relative}: {problem}" for problem in problems_in(text)]
        staged[relative] = text.encode("utf-8")
    if failures:
        message = "not published, these files would leak machine details:\n  " + "\n  ".join(failures)
        stages = dirty_stages(results_dir)
        if stages:
            message += "\n" + redo_advice(results_dir, stages, rerun_command)
        raise PublishError(message)
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
