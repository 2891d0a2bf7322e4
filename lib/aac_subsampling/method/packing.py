"""Running a GRU layer on clips of different lengths, each at its own length (``sequence_mode="packed"``).

The batching front-pads every clip to the batch's longest (the paper's layout). For the packed mode the
encoder moves each row's real frames to the front (:func:`real_frames_first`) and runs each layer either
on torch's packed sequences or, equivalently and faster to train on a CPU, one direction at a time on
the unpacked rows (:func:`run_gru_split`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Literal

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def step_mask(lengths: Tensor, n_steps: int) -> Tensor:
    """(batch, n_steps) True at each clip's real steps (the first ``lengths`` of its row)."""
    steps = torch.arange(n_steps, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


def check_lengths(lengths: Tensor | Sequence[int], n_rows: int, n_frames: int) -> Tensor:
    """Real frame counts as a 1-D CPU LongTensor, with a clear error when they cannot describe the batch."""
    lengths = torch.as_tensor(lengths, dtype=torch.long).cpu()  # pack_padded_sequence wants them on the CPU
    if lengths.dim() != 1 or lengths.shape[0] != n_rows:
        raise ValueError(f"lengths must hold one frame count per clip ({n_rows}), got shape {tuple(lengths.shape)}")
    if n_rows and (int(lengths.min()) < 1 or int(lengths.max()) > n_frames):
        raise ValueError(
            f"lengths must lie in 1 .. {n_frames} (the padded width), got {int(lengths.min())} .. {int(lengths.max())}"
        )
    return lengths


def real_frames_first(features: Tensor, lengths: Tensor) -> Tensor:
    """Front-padded rows -> the same rows with each clip's real frames first and zeros after them.

    Why: the batching front-pads (the paper's layout, which puts z at the end of every row), while
    ``pack_padded_sequence`` needs each sequence to start at step 0.
    """
    n_frames = features.shape[1]
    lengths = lengths.to(features.device)
    steps = torch.arange(n_frames, device=features.device).unsqueeze(0)
    source = (steps + (n_frames - lengths).unsqueeze(1)).clamp(max=n_frames - 1)
    moved = features.gather(1, source.unsqueeze(-1).expand(-1, -1, features.shape[2]))
    return moved * step_mask(lengths, n_frames).unsqueeze(-1).to(features.dtype)


PackingMethod = Literal["pack", "split"]
PACKING_METHODS = ("auto", "pack", "split")


def run_gru(layer: nn.GRU, inputs: Tensor, lengths: Tensor | None = None, method: PackingMethod = "pack") -> Tensor:
    """One GRU layer over the whole row (``lengths`` None) or over each clip's first ``lengths`` steps.

    With ``lengths`` (CPU LongTensor) the steps after a clip's end are never read: each clip's forward
    direction starts at its first frame and its backward direction at its own last frame. ``method``:
    "pack" uses torch's packed sequences; "split" (:func:`run_gru_split`) gives the same numbers with
    the fused kernels of unpacked input, which is several times faster to train on a CPU.
    """
    if lengths is None:
        return layer(inputs)[0]
    if method == "split":
        return run_gru_split(layer, inputs, lengths)
    if method != "pack":
        raise ValueError(f"packing method must be 'pack' or 'split', got {method!r}")
    packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
    return pad_packed_sequence(layer(packed)[0], batch_first=True, total_length=inputs.shape[1])[0]


@cache
def _one_direction(input_size: int, hidden_size: int) -> nn.GRU:
    """A weightless one-direction GRU (on the meta device: building it draws no random numbers) that
    :func:`run_gru_split` runs with either direction's weights of a bi-directional layer."""
    return nn.GRU(input_size, hidden_size, batch_first=True, device="meta")


def reversal_index(lengths: Tensor, width: int) -> Tensor:
    """(batch, width) index that reverses each row's first ``lengths`` steps and leaves the rest."""
    steps = torch.arange(width, device=lengths.device).unsqueeze(0)
    reversed_steps = lengths.unsqueeze(1) - 1 - steps
    return torch.where(reversed_steps >= 0, reversed_steps, steps)


def run_gru_split(layer: nn.GRU, inputs: Tensor, lengths: Tensor) -> Tensor:
    """A bi-directional layer on real-frames-first rows, one direction at a time, without packing.

    The forward direction over the whole row is already right at each clip's real steps (the padding
    comes after them). The backward direction runs forward over each clip's frames reversed in place,
    then its output is reversed back, so it too starts at the clip's own last frame. Outputs after a
    clip's end are zeroed, as ``pad_packed_sequence`` leaves them.
    """
    if not layer.bidirectional or layer.num_layers != 1:
        raise ValueError("run_gru_split needs a single-layer bi-directional GRU")
    template = _one_direction(layer.input_size, layer.hidden_size)
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    lengths = lengths.to(inputs.device)
    index = reversal_index(lengths, inputs.shape[1]).unsqueeze(-1)
    forward = functional_call(template, {name: getattr(layer, name) for name in names}, (inputs,))[0]
    reversed_inputs = inputs.gather(1, index.expand(-1, -1, inputs.shape[2]))
    backward = functional_call(
        template, {name: getattr(layer, name + "_reverse") for name in names}, (reversed_inputs,)
    )[0]
    backward = backward.gather(1, index.expand(-1, -1, backward.shape[2]))
    mask = step_mask(lengths, inputs.shape[1]).unsqueeze(-1).to(inputs.dtype)
    return torch.cat([forward, backward], dim=-1) * mask
