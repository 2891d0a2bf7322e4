"""The two reproductions, ``paper`` and ``as_run``, against docs/deviations.md, and the class-weights switch.

The table in docs/deviations.md states each setting's value for the paper, the authors' runs behind the paper's
numbers (commit 2db9c1d) and this project's default. Here every such value is read back from the table and
compared with the profiles and ``Config()``, so the table cannot drift from the code.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import re
from pathlib import Path

import pytest
import torch

from aac_subsampling.experiment.profiles import PROFILES, get_profile
from aac_subsampling.method.config import Config, LossConfig, as_run_overrides, authors_code_overrides
from aac_subsampling.method.loss import token_weights, weighted_cross_entropy

DOC = Path(__file__).resolve().parents[1] / "docs" / "deviations.md"
COLUMNS = ("paper", "as run", "here")  # the value columns after the setting, in the table's order
# The settings the table must state for the as-run column (the list).
REQUIRED = {
    "train.patience",
    "train.min_improvement",
    "loss.class_weights",
    "train.learning_rate",
    "train.batch_size",
    "train.max_epochs",
    "train.drop_last",
    "features.window",
    "features.peak_normalise",
    "model.subsampling_mode",
    "model.residual_mode",
    "model.dropout_placement",
}
LEADING_VALUE = re.compile(r"^`([^`]+)`")
SETTING = re.compile(r"^`([a-z_]+\.[a-z_]+)`")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def table_values() -> dict[str, dict[str, object]]:
    """{setting: {column: value}} for the rows whose first cell is a config field and the cells that begin
    with a backticked Python literal (strings are written with their quotes)."""
    rows: dict[str, dict[str, object]] = {}
    for line in DOC.read_text().splitlines():
        if not line.startswith("| `"):
            continue
        cells = _cells(line)
        setting = SETTING.match(cells[0])
        if setting is None:
            continue
        values = {}
        for column, cell in zip(COLUMNS, cells[1:4]):
            value = LEADING_VALUE.match(cell)
            if value is not None:
                values[column] = ast.literal_eval(value.group(1))
        rows[setting.group(1)] = values
    return rows


def config_value(config: Config, setting: str) -> object:
    section, name = setting.split(".")
    return getattr(getattr(config, section), name)


def test_the_table_states_every_required_setting_for_the_as_run_column():
    rows = table_values()
    missing = sorted(s for s in REQUIRED if "as run" not in rows.get(s, {}))
    assert not missing, f"docs/deviations.md gives no as-run value for {missing}"


@pytest.mark.parametrize(
    ("column", "config"),
    [
        ("as run", get_profile("as_run").config()),
        ("paper", get_profile("paper").config()),
        ("here", Config()),
    ],
)
def test_every_value_in_the_table_is_the_codes(column, config):
    rows = table_values()
    checked = {setting: values[column] for setting, values in rows.items() if column in values}
    assert checked, f"no values in the {column!r} column"
    wrong = {s: (v, config_value(config, s)) for s, v in checked.items() if config_value(config, s) != v}
    assert not wrong, f"docs/deviations.md {column!r} column vs the code (table, code): {wrong}"


def test_the_paper_column_states_the_paper_values():
    rows = table_values()
    stated = {s for s, values in rows.items() if "paper" in values}
    # The values the paper's text gives (Sec. 3.1-3.2, Eq. 5, 9-10, Table 2) must all be in the table.
    assert {
        "train.patience",
        "train.min_improvement",
        "loss.class_weights",
        "loss.beta",
        "train.learning_rate",
        "train.batch_size",
        "features.window",
        "model.subsampling_mode",
        "model.residual_mode",
        "model.dropout_placement",
        "model.dropout",
    } <= stated


def test_as_run_is_the_2db9c1d_family():
    config = get_profile("as_run").config()
    assert (config.train.patience, config.train.min_improvement, config.loss.class_weights) == (10, 1e-4, False)
    assert (config.train.learning_rate, config.train.batch_size, config.train.max_epochs) == (1e-4, 16, 1000)
    assert (config.train.batch_mode, config.train.drop_last, config.train.grad_clip_norm) == ("caption", True, None)
    assert config.train.stop_on == "training_loss"
    # Everything Config.authors_code() switches is switched here too.
    authors = Config.authors_code()
    for section, values in authors_code_overrides().items():
        for name in values:
            assert getattr(getattr(config, section), name) == getattr(getattr(authors, section), name)
    assert Config.as_run() == Config().with_overrides(as_run_overrides())
    assert get_profile("as_run").config(subsampling_factor=4).model.subsampling_factor == 4


def test_paper_profile_is_the_defaults_and_authors_code_is_as_run():
    assert get_profile("paper").config() == Config()
    assert get_profile("authors_code").overrides == get_profile("as_run").overrides
    for name in ("paper", "as_run", "authors_code"):
        profile = PROFILES[name]
        assert profile.corpus == "clotho_v1" and profile.needs_gpu and profile.description
    # Config.authors_code() stays the narrower variant of notebook 05: the paper's schedule and loss.
    narrow = Config.authors_code()
    assert (narrow.train.patience, narrow.loss.class_weights, narrow.train.batch_mode) == (100, True, "clip")


def test_class_weights_switch():
    frequencies = [2, 4, 8, 3]
    # Eq. 10: Phi = max(min f / f_w, beta), min f = 2.
    assert token_weights(frequencies, beta=0.5, class_weights=True).tolist() == pytest.approx([1.0, 0.5, 0.5, 2 / 3])
    assert token_weights(frequencies, 0.5).tolist() == pytest.approx([1.0, 0.5, 0.5, 2 / 3])  # the default
    ones = token_weights(frequencies, beta=0.5, class_weights=False)
    assert ones.dtype == torch.float32 and ones.tolist() == [1.0, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="positive"):
        token_weights([3, 0, 2], class_weights=False)  # the counts are still checked
    assert LossConfig().class_weights is True
    assert dataclasses.replace(LossConfig(), class_weights=False).class_weights is False


def test_unweighted_loss_is_plain_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 4)
    targets = torch.randint(0, 4, (3, 5))
    ones = token_weights([5, 1, 9, 2], class_weights=False)
    plain = torch.nn.CrossEntropyLoss()(logits.reshape(-1, 4), targets.reshape(-1))  # what the as-run code used
    assert weighted_cross_entropy(logits, targets, ones).item() == pytest.approx(plain.item(), rel=1e-6)
    weighted = weighted_cross_entropy(logits, targets, token_weights([5, 1, 9, 2]))
    assert not math.isclose(weighted.item(), plain.item(), rel_tol=1e-6)
