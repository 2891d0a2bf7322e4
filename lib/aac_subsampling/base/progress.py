"""Progress bars: widgets when a person runs a notebook, plain text when ``run_all.sh`` runs it.

A widget bar is drawn from state that lives in the browser. An executed notebook that papermill saves holds
no such state, so JupyterLab reopens it as "Error displaying widget: model not found". The headless runs
therefore set :data:`TEXT_PROGRESS_ENV` for their kernels and get tqdm's text bars, which survive any save.
(For notebooks run by hand, ``scripts/setup_env.sh`` tells JupyterLab to save widget state with the notebook.)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

TEXT_PROGRESS_ENV = "AAC_TEXT_PROGRESS"
TEXT_MIN_INTERVAL_S = 30.0  # a text bar in a saved notebook or a log: a line every half minute, not every step


def text_progress() -> bool:
    """Whether this process should draw text bars (a headless run asked for them)."""
    return os.environ.get(TEXT_PROGRESS_ENV, "") == "1"


def progress_bar(*args: Any, **kwargs: Any):
    """``tqdm(*args, **kwargs)``: a widget in a live notebook, text in headless runs and terminals."""
    if text_progress():
        from tqdm.std import tqdm

        kwargs.setdefault("mininterval", TEXT_MIN_INTERVAL_S)
    else:
        from tqdm.auto import tqdm
    return tqdm(*args, **kwargs)


@contextlib.contextmanager
def text_progress_for_children() -> Iterator[None]:
    """Within the block, processes started from here (notebook kernels) draw text bars."""
    before = os.environ.get(TEXT_PROGRESS_ENV)
    os.environ[TEXT_PROGRESS_ENV] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(TEXT_PROGRESS_ENV, None)
        else:
            os.environ[TEXT_PROGRESS_ENV] = before
