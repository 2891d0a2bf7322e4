"""The paper's numbers, each written once: Tables 1 and 2, D, the parameter count and Table 2's input lengths.

Nguyen, Drossos, Virtanen, "Temporal sub-sampling of audio feature sequences for automated audio
captioning" (DCASE 2020), on Clotho v1. Everything else imports these: the tables' side-by-side columns
(:func:`aac_subsampling.analysis.tables.paper_table1`), the checks of the structural claims, the encoder-length
measurement, labels. They are the paper's values, never results of this project. Standard library only,
so that light tools (the GPU check, the preflight) can read them without pandas or torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

__all__ = [
    "CLOTHO_FRAME_RANGE",
    "LONGEST_CLIP_FRAMES",
    "PAPER_PARAMETERS",
    "PAPER_VOCABULARY_SIZE",
    "SHORTEST_CLIP_FRAMES",
    "SUBSAMPLING_FACTORS",
    "TABLE1",
    "TABLE1_COLUMNS",
    "TABLE2",
    "TABLE2_INPUT_FRAMES",
    "Table2Row",
    "PAPER_LABEL",
    "inference_seconds",
]

#: How the paper's numbers are labelled wherever they are shown beside ours (tables, figures).
PAPER_LABEL = "paper (Clotho v1)"

#: The sub-sampling factors M of the paper's tables (M = 1: no sub-sampling, the baseline).
SUBSAMPLING_FACTORS: tuple[int, ...] = (1, 2, 4, 8, 16)

#: D, the vocabulary size on Clotho v1: 4365 words, <sos> and <eos>. The paper writes 4366 (leaving out
#: <sos>, never a target), but its parameter count only adds up with 4367.
PAPER_VOCABULARY_SIZE = 4367

#: The model's parameters at D = PAPER_VOCABULARY_SIZE, the same for every M (sub-sampling adds none).
PAPER_PARAMETERS = 4_573_711

#: Feature frames T of Clotho's shortest (15 s) and longest (30 s) clip: Table 2's two inputs.
SHORTEST_CLIP_FRAMES = 1292
LONGEST_CLIP_FRAMES = 2584
CLOTHO_FRAME_RANGE: tuple[int, int] = (SHORTEST_CLIP_FRAMES, LONGEST_CLIP_FRAMES)
#: Table 2's length columns and the input length each is measured on.
TABLE2_INPUT_FRAMES: Mapping[str, int] = MappingProxyType(
    {"T_L_min": SHORTEST_CLIP_FRAMES, "T_L_max": LONGEST_CLIP_FRAMES}
)

#: Table 1 (Clotho v1 evaluation split): metric -> its score for each M of SUBSAMPLING_FACTORS, in order.
TABLE1_COLUMNS: tuple[str, ...] = tuple(f"M={factor}" for factor in SUBSAMPLING_FACTORS)
TABLE1: Mapping[str, tuple[float, ...]] = MappingProxyType(
    {
        "BLEU1": (0.389, 0.426, 0.418, 0.417, 0.426),
        "BLEU2": (0.136, 0.151, 0.151, 0.154, 0.147),
        "BLEU3": (0.055, 0.058, 0.061, 0.063, 0.058),
        "BLEU4": (0.015, 0.020, 0.018, 0.025, 0.022),
        "ROUGE_L": (0.262, 0.274, 0.275, 0.274, 0.274),
        "METEOR": (0.084, 0.092, 0.091, 0.089, 0.090),
        "CIDEr": (0.074, 0.092, 0.090, 0.093, 0.093),
        "SPICE": (0.033, 0.040, 0.037, 0.040, 0.036),
        "SPIDEr": (0.054, 0.066, 0.064, 0.067, 0.064),
    }
)


class Table2Row(NamedTuple):
    """One row of Table 2: encoder output lengths for the two inputs, reduction (as printed: truncated to
    two decimals) and the inference time on the authors' GPU."""

    M: int
    T_L_min: int
    T_L_max: int
    reduction_percent: float
    inference_time_s: float


#: Table 2, one row per M of SUBSAMPLING_FACTORS, as printed in the paper.
TABLE2: tuple[Table2Row, ...] = (
    Table2Row(1, 1292, 2584, 0.00, 58.81),
    Table2Row(2, 323, 646, 75.00, 34.13),
    Table2Row(4, 80, 161, 93.75, 25.67),
    Table2Row(8, 20, 40, 98.43, 21.73),
    Table2Row(16, 5, 10, 99.60, 20.42),
)


def inference_seconds() -> dict[int, float]:
    """M -> Table 2's inference time in seconds (the authors' GPU, the whole evaluation split)."""
    return {row.M: row.inference_time_s for row in TABLE2}
