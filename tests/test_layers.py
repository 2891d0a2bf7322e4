"""The package's folders are its layers, and imports only run down: a module imports from its own layer and the
ones before it, never from a later one (lazy imports inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lib" / "aac_subsampling"

# Lowest first. The top modules: the command that runs everything, its options, its cluster jobs, and publishing
# (which reads notebook 05's study).
LAYERS = ["base", "method", "evaluation", "data", "experiment", "analysis", "open_questions", "run", "publish"]
TOP = {"run": "run", "run_options": "run", "publish": "run", "cluster": "run"}  # all at the top, one layer


def layer_of(dotted: str) -> str | None:
    """``aac_subsampling.method.model`` -> ``"method"``; None for the package root (its ``__version__``)."""
    parts = dotted.split(".")
    if parts[0] != "aac_subsampling" or len(parts) == 1:
        return None
    return TOP.get(parts[1], parts[1])


def rank(layer: str) -> int:
    return LAYERS.index(layer)


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path, name: str | None = None) -> list[tuple[int, str]]:
    """Every ``aac_subsampling`` module ``path`` (module ``name``, default: where it lies) imports, as (line,
    dotted name), relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = (name or module_name(path)).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("aac_subsampling")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if not base.startswith("aac_subsampling"):
                continue
            if base == "aac_subsampling":  # from aac_subsampling import <module or name>
                found += [(node.lineno, f"aac_subsampling.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, base))
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_lives_in_a_layer():
    stray = [
        module_name(path)
        for path in modules()
        if path.parent == PACKAGE
        and path.stem not in ("__init__", *TOP)
        or path.parent != PACKAGE
        and layer_of(module_name(path)) not in LAYERS
    ]
    assert stray == [], f"modules outside the layer folders: {stray}"


def test_imports_run_only_down_the_layers():
    upward = []
    for path in modules():
        own = layer_of(module_name(path))
        if own is None:  # the package root: imports Config for `from aac_subsampling import Config`
            continue
        for line, target in imported_modules(path):
            other = layer_of(target)
            if other is None:
                if own == "base":  # the root imports the method: base must not reach it
                    upward.append(f"{module_name(path)}:{line} imports the package root")
                continue
            if other in LAYERS and rank(other) > rank(own):
                upward.append(f"{module_name(path)}:{line} ({own}) imports {target} ({other})")
    assert upward == [], "imports from a later layer:\n" + "\n".join(upward)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The rule can fail: a method module importing the experiment is caught, relative imports resolved."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from ..experiment import layout\n    from aac_subsampling.analysis import tables\n")
    targets = [target for _, target in imported_modules(probe, "aac_subsampling.method.probe")]
    assert targets == ["aac_subsampling.experiment", "aac_subsampling.analysis"]
    assert all(rank(layer_of(target)) > rank("method") for target in targets)


def test_no_test_helper_ships_in_the_library():
    names = {path.stem for path in modules()}
    assert not {"fake_results", "helpers", "conftest"} & names
