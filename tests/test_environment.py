"""The environment files agree with each other and with pyproject, every third-party module the code imports
is pinned, and run_all.sh stops at once, with a useful message, when a run cannot finish."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from aac_subsampling.experiment import preflight

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

ROOT = Path(__file__).resolve().parents[1]

# The direct runtime and test dependencies that requirements.txt must pin exactly.
DIRECT = {
    "torch", "numpy", "librosa", "scipy", "soundfile", "pandas", "tqdm", "threadpoolctl", "py7zr",
    "pycocoevalcap", "matplotlib", "seaborn", "papermill", "nbval", "ipykernel", "ipython", "nbformat",
    "nbclient", "ipywidgets", "pytest", "psutil", "ruff",
}  # fmt: skip
# For the notebooks in JupyterLab: pinned by requirements-jupyterlab.txt and by both environment files.
JUPYTERLAB = {"jupyterlab"}

# Folders whose Python files and notebooks may import only the standard library, the project's own modules
# and what requirements.txt pins.
IMPORTING_FOLDERS = ("lib", "tests", "scripts", "benchmarks", "notebooks")
# Import names that differ from the distribution's name (checked before the installed distributions' records).
DISTRIBUTION_OF = {
    "sklearn": "scikit-learn", "yaml": "PyYAML", "PIL": "pillow", "IPython": "ipython", "cv2": "opencv-python",
    "skimage": "scikit-image", "bs4": "beautifulsoup4", "dateutil": "python-dateutil",
}  # fmt: skip

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")


def _pins(lines: list[str], source: str) -> dict[str, str]:
    """{canonical name: version} of `name==version` lines; pip options (lines starting with
    '-', such as --extra-index-url or -e .) are skipped; anything else is an error."""
    pins: dict[str, str] = {}
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or line.startswith("-"):
            continue
        match = PIN.match(line)
        assert match, f"{source}: {line!r} is not an exact `name==version` pin"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"{source}: {name} is pinned twice"
        pins[name] = match.group(2)
    return pins


def requirements_pins(name: str = "requirements.txt") -> dict[str, str]:
    return _pins((ROOT / name).read_text().splitlines(), name)


def jupyterlab_pins() -> dict[str, str]:
    return requirements_pins("requirements-jupyterlab.txt")


def environment_yml(name: str = "environment.yml") -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def environment_pins(name: str = "environment.yml") -> dict[str, str]:
    pip_sections = [d["pip"] for d in environment_yml(name)["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, f"{name} needs exactly one pip section"
    return _pins([str(item) for item in pip_sections[0]], name)


def test_requirements_pin_every_direct_dependency_exactly():
    pins = requirements_pins()
    missing = {canonicalize_name(n) for n in DIRECT} - set(pins)
    assert not missing, f"requirements.txt lacks pins for {sorted(missing)}"


def test_gpu_environment_has_the_same_pins_without_the_cpu_build():
    assert environment_pins("environment-gpu.yml") == environment_pins()
    text = (ROOT / "environment-gpu.yml").read_text()
    assert "whl/cpu" not in "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "whl/cpu" in (ROOT / "environment.yml").read_text()


def test_requirements_and_environment_yml_pins_agree():
    """environment.yml pins exactly requirements.txt plus requirements-jupyterlab.txt (environment-gpu.yml
    is checked against environment.yml above)."""
    req, jupyterlab = requirements_pins(), jupyterlab_pins()
    assert not set(req) & set(jupyterlab), f"pinned in both requirements files: {sorted(set(req) & set(jupyterlab))}"
    req, env = {**req, **jupyterlab}, environment_pins()
    assert req == env, (
        f"only in requirements*.txt: {sorted(set(req) - set(env))}; "
        f"only in environment.yml: {sorted(set(env) - set(req))}; "
        f"different: {sorted(n for n in set(req) & set(env) if req[n] != env[n])}"
    )


def test_jupyterlab_and_ipywidgets_have_the_same_pin_everywhere():
    """Parity for the interactive notebooks: JupyterLab and ipywidgets, pinned alike in the requirements files
    and in both environment files; requirements-jupyterlab.txt installs JupyterLab with the project's pins."""
    lines = (ROOT / "requirements-jupyterlab.txt").read_text().splitlines()
    assert "-r requirements.txt" in [line.strip() for line in lines]
    assert set(jupyterlab_pins()) == JUPYTERLAB
    pinned_by = {
        "requirements*.txt": {**requirements_pins(), **jupyterlab_pins()},
        "environment.yml": environment_pins(),
        "environment-gpu.yml": environment_pins("environment-gpu.yml"),
    }
    for name in ("jupyterlab", "ipywidgets"):
        versions = {source: pins.get(name) for source, pins in pinned_by.items()}
        assert None not in versions.values(), f"{name} is not pinned in every file: {versions}"
        assert len(set(versions.values())) == 1, f"{name} is pinned differently: {versions}"


def _top_level_imports(source: str, filename: str) -> set[str]:
    """The top-level names of the absolute imports in Python source (relative imports are the project's)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _notebook_source(path: Path) -> str:
    """The code cells of a notebook, without IPython magics and shell escapes."""
    cells = [
        "".join(cell["source"]) for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]
        if cell["cell_type"] == "code"
    ]  # fmt: skip
    return "\n".join(line for cell in cells for line in cell.splitlines() if not line.lstrip().startswith(("%", "!")))


def third_party_imports() -> dict[str, set[str]]:
    """{top-level module: files importing it} over IMPORTING_FOLDERS, without the standard library and the
    project's own modules (the package, and the .py files of those folders, such as conftest and helpers)."""
    files = [path for folder in IMPORTING_FOLDERS for path in sorted((ROOT / folder).rglob("*.py"))]
    notebooks = [path for folder in IMPORTING_FOLDERS for path in sorted((ROOT / folder).rglob("*.ipynb"))]
    notebooks = [path for path in notebooks if ".ipynb_checkpoints" not in path.parts]
    local = {"aac_subsampling"} | {path.stem for path in files}
    found: dict[str, set[str]] = {}
    for path in files + notebooks:
        source = _notebook_source(path) if path.suffix == ".ipynb" else path.read_text(encoding="utf-8")
        for name in _top_level_imports(source, str(path)):
            if name not in sys.stdlib_module_names and name not in local:
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_pinned():
    """A module imported by the package, the tests, the scripts, the benchmarks or the notebooks (optional
    imports included) must come from a distribution that requirements.txt pins: setup_env.sh installs nothing
    else."""
    installed = metadata.packages_distributions()
    pins = requirements_pins()
    imports = third_party_imports()
    assert {"numpy", "torch", "scipy", "pytest", "yaml"} <= set(imports)  # the scan sees the code
    undeclared = {}
    for module, files in sorted(imports.items()):
        distributions = [DISTRIBUTION_OF[module]] if module in DISTRIBUTION_OF else installed.get(module, [module])
        if not any(canonicalize_name(d) in pins for d in distributions):
            undeclared[module] = (sorted(set(distributions)), sorted(files)[:3])
    assert not undeclared, f"imported but not pinned in requirements.txt (module: distribution, files): {undeclared}"


def test_environment_yml_has_python_java_and_pip():
    conda = [d for d in environment_yml()["dependencies"] if isinstance(d, str)]
    names = {re.split(r"[=<>! ]", d, maxsplit=1)[0] for d in conda}
    assert {"python", "pip", "openjdk"} <= names
    assert "python=3.11" in conda


def test_pyproject_dependencies_are_pinned_and_satisfied():
    if tomllib is None:
        pytest.skip("tomllib needs Python >= 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = requirements_pins()
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"pyproject dependency {requirement.name} is not pinned in requirements.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"pin {name}=={pins[name]} does not satisfy pyproject's {spec!r}"
        )


def test_installed_versions_match_the_pins():
    """The environment running the tests is the pinned one (torch 2.13.0+cpu satisfies ==2.13.0)."""
    wrong = {}
    for name, version in requirements_pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            wrong[name] = (version, None)
            continue
        if not SpecifierSet(f"=={version}").contains(installed, prereleases=True):
            wrong[name] = (version, installed)
    assert not wrong, f"pinned vs installed: {wrong}"


# --- run_all.sh ------------------------------------------------------------------------------


def test_run_all_help():
    completed = subprocess.run(["bash", str(ROOT / "run_all.sh"), "--help"], capture_output=True, text=True, timeout=30)
    assert completed.returncode == 0, completed.stderr
    for word in ("--profile", "--data-dir", "--results-dir", "--device", "--seed", "--force", "--m"):
        assert word in completed.stdout


def test_run_all_rejects_bad_arguments():
    completed = subprocess.run(
        ["bash", str(ROOT / "run_all.sh"), "--profile", "nonsense"], capture_output=True, text=True, timeout=30
    )
    assert completed.returncode != 0
    assert "nonsense" in completed.stderr


@pytest.mark.slow
def test_run_all_paper_without_clotho_fails_fast_and_writes_nothing(tmp_path, env_using_this_interpreter):
    data = tmp_path / "empty_data"
    data.mkdir()
    results = tmp_path / "results"
    started = time.monotonic()
    completed = subprocess.run(
        [
            "bash",
            str(ROOT / "run_all.sh"),
            "--profile",
            "paper",
            "--data-dir",
            str(data),
            "--results-dir",
            str(results),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env_using_this_interpreter(),
        cwd=tmp_path,
    )
    elapsed = time.monotonic() - started
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output
    assert elapsed < 30, f"took {elapsed:.1f} s to refuse"
    assert "Clotho" in output and str(data) in output, output
    assert "zenodo" in output.lower(), output  # where to download it from
    assert "nothing was written" in output
    assert not results.exists(), "a refused run must not create its results folder"
    assert list(data.iterdir()) == [], "a refused run must not write into the data folder"
    if not preflight.cuda_status()[0]:
        assert "needs a GPU" in output and "--device cpu" in output, output


# --- the preflight checks, with the probes replaced ----------------------------------------------


def _probes(
    *, clotho_present: bool, archives: bool = False, network: bool = False, cuda: bool = False, java: bool = True
):
    clotho = preflight.ClothoProbe(
        present=lambda root: clotho_present,
        describe_missing=lambda root: f"NOTHING USABLE IN {root}",
        downloads_needed=lambda root: [] if clotho_present or archives else ["https://zenodo.org/x/clotho_audio.7z"],
    )
    return dict(
        clotho=lambda: clotho,
        network=lambda: network,
        cuda=lambda: (cuda, "CUDA device: Fake GPU" if cuda else "torch sees no CUDA device"),
        java=lambda: (java, "openjdk 17" if java else "no `java` on PATH"),
    )


def test_paper_without_gpu_is_refused_unless_cpu_is_forced(tmp_path):
    report = preflight.run_checks("paper", tmp_path, None, **_probes(clotho_present=True))
    assert not report.ok
    assert any("needs a GPU" in e and "--device cpu" in e for e in report.errors), report.errors

    explicit_auto = preflight.run_checks("paper", tmp_path, "auto", **_probes(clotho_present=True))
    assert not explicit_auto.ok

    forced = preflight.run_checks("paper", tmp_path, "cpu", **_probes(clotho_present=True))
    assert forced.ok, forced.errors
    assert any("--device cpu" in w for w in forced.warnings)

    with_gpu = preflight.run_checks("paper", tmp_path, None, **_probes(clotho_present=True, cuda=True))
    assert with_gpu.ok, with_gpu.errors


def test_paper_without_clotho_offline_says_what_to_download_and_where(tmp_path):
    report = preflight.run_checks("paper", tmp_path, "cpu", **_probes(clotho_present=False))
    assert not report.ok
    (error,) = report.errors
    assert f"NOTHING USABLE IN {tmp_path}" in error
    assert "https://zenodo.org/x/clotho_audio.7z" in error and f"put them, with these names, in {tmp_path}" in error


def test_paper_with_downloaded_archives_offline_may_start(tmp_path):
    report = preflight.run_checks("paper", tmp_path, "cpu", **_probes(clotho_present=False, archives=True))
    assert report.ok, report.errors
    assert any("unpack" in n for n in report.notes)


def test_real_clotho_probe_lists_the_zenodo_files(tmp_path):
    probe = preflight._clotho_probe()
    assert not probe.present(tmp_path)
    urls = probe.downloads_needed(tmp_path)
    assert len(urls) >= 4 and all("zenodo.org" in u for u in urls)
    assert any("clotho_audio_development.7z" in u for u in urls)
    # archives and CSVs already downloaded by hand: nothing left to fetch, notebook 01 unpacks them
    for url in urls:
        (tmp_path / url.split("/")[-1].split("?")[0]).write_bytes(b"")
    assert probe.downloads_needed(tmp_path) == []
    assert not probe.present(tmp_path)


def test_paper_without_clotho_online_lets_notebook_01_download(tmp_path):
    report = preflight.run_checks("paper", tmp_path, None, **_probes(clotho_present=False, network=True, cuda=True))
    assert report.ok, report.errors
    assert any("download" in n for n in report.notes)


def test_cuda_requested_without_cuda_is_an_error_for_every_profile(tmp_path):
    for profile in ("smoke", "quick", "paper"):
        report = preflight.run_checks(profile, tmp_path, "cuda", **_probes(clotho_present=True))
        assert any("--device cuda" in e for e in report.errors), (profile, report.errors)


def test_synthetic_profiles_need_no_gpu_nor_data(tmp_path):
    for profile in ("smoke", "quick"):
        report = preflight.run_checks(profile, tmp_path / "nothing_here", None, **_probes(clotho_present=False))
        assert report.ok, (profile, report.errors)


def test_missing_java_is_an_error_for_paper_and_a_warning_otherwise(tmp_path):
    paper = preflight.run_checks("paper", tmp_path, None, **_probes(clotho_present=True, cuda=True, java=False))
    assert any("Java" in e for e in paper.errors)
    quick = preflight.run_checks("quick", tmp_path, None, **_probes(clotho_present=True, java=False))
    assert quick.ok and any("Java" in w for w in quick.warnings)


def test_unknown_device_and_profile(tmp_path):
    assert not preflight.run_checks("quick", tmp_path, "tpu", **_probes(clotho_present=True)).ok
    assert not preflight.run_checks("nonsense", tmp_path, None, **_probes(clotho_present=True)).ok


def test_main_exit_status_and_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(preflight, "_clotho_probe", _probes(clotho_present=False)["clotho"])
    monkeypatch.setattr(preflight, "network_available", lambda: False)
    monkeypatch.setattr(preflight, "cuda_status", lambda: (False, "no GPU here"))
    monkeypatch.setattr(preflight, "java_status", lambda: (True, "openjdk 17"))
    assert preflight.main(["--profile", "paper", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"NOTHING USABLE IN {tmp_path}" in err and "needs a GPU" in err
    assert preflight.main(["--profile", "quick"]) == 0


def test_network_probe_honours_offline_switch(monkeypatch):
    monkeypatch.setenv("AAC_OFFLINE", "1")
    started = time.monotonic()
    assert preflight.network_available() is False
    assert time.monotonic() - started < 1


def test_lint_from_the_root_is_what_the_tests_and_pre_commit_run():
    """`ruff check .` from the root (a contributor's habit) checks what run_tests.sh and pre-commit check."""
    run_tests = (ROOT / "run_tests.sh").read_text()
    assert "ruff check .\n" in run_tests and "ruff format --check .\n" in run_tests
    repo = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"][0]
    hooks = repo["hooks"]
    assert {hook["id"] for hook in hooks} == {"ruff", "ruff-format"}
    assert all("files" not in hook for hook in hooks), "pre-commit must check what `ruff check .` checks"
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    ruff = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    assert ruff["force-exclude"] is True and "results" in ruff["extend-exclude"]
    assert repo["rev"].lstrip("v") == requirements_pins()["ruff"]
