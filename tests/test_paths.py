from __future__ import annotations

from pathlib import Path

import pytest

from aac_subsampling.base import paths
from aac_subsampling.experiment import folders
from aac_subsampling.experiment.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[1]


def test_project_root_found_from_a_subfolder(monkeypatch):
    monkeypatch.chdir(ROOT / "tests")
    assert paths.project_root() == ROOT
    assert paths.project_root(ROOT / "lib" / "aac_subsampling") == ROOT


def test_project_root_falls_back_to_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert paths.project_root() == tmp_path.resolve()


def test_project_root_ignores_other_projects(tmp_path):
    other = tmp_path / "other"
    (other / "sub").mkdir(parents=True)
    (other / "pyproject.toml").write_text('[project]\nname = "something-else"\n\n[tool.x]\nname = "aac-subsampling"\n')
    assert paths.project_root(other / "sub") == (other / "sub").resolve()

    ours = tmp_path / "ours"
    (ours / "deep" / "er").mkdir(parents=True)
    (ours / "pyproject.toml").write_text('[build-system]\nrequires = []\n\n[project]\nname = "aac-subsampling"\n')
    assert paths.project_root(ours / "deep" / "er") == ours.resolve()


def test_default_folders_are_under_the_project_root(monkeypatch):
    monkeypatch.chdir(ROOT / "notebooks" if (ROOT / "notebooks").is_dir() else ROOT)
    for name, profile in PROFILES.items():
        assert folders.results_dir(name) == ROOT / "results" / name
        assert folders.data_dir(name) == (ROOT / profile.default_data_dir).resolve()
        assert folders.figures_dir(name) == ROOT / "figures" / name


def test_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT / "tests")
    assert folders.results_dir("quick", tmp_path / "r") == (tmp_path / "r").resolve()
    assert folders.results_dir("quick", "elsewhere/r") == ROOT / "elsewhere" / "r"  # root-relative
    assert folders.data_dir("paper", str(tmp_path)) == tmp_path.resolve()
    assert folders.data_dir("paper", "") == (ROOT / PROFILES["paper"].default_data_dir).resolve()
    assert folders.results_dir("smoke", None) == ROOT / "results" / "smoke"


def test_unknown_profile_is_an_error():
    with pytest.raises(ValueError, match="unknown profile"):
        folders.results_dir("nonsense")
    with pytest.raises(ValueError):
        folders.data_dir("nonsense")
    with pytest.raises(ValueError):
        folders.figures_dir("nonsense")
