"""The paper's encoder-decoder with temporal sub-sampling between encoder layers (Section 2).

Encoder: L = 3 bi-directional GRU layers (Xi = 256 per direction). Between layers the output sequence
is sub-sampled by a factor M (Eq. 4); layers l >= 2 add their (sub-sampled) input to their output
(Eq. 5); the encoder's summary z is the last time step of the last layer (Eq. 6).
Decoder: one GRU (512 -> Psi = 256) that receives z at every output step, then a linear layer to the
D tokens (softmax is folded into the loss).

Each equation is one function below so that the code can be read against the paper.

Two ways to run a batch of clips of different lengths (``ModelConfig.sequence_mode``):

- ``padded`` (the paper): the clips arrive front-padded to the batch's longest (see
  :mod:`aac_subsampling.method.batching`) and every layer runs over the padding too. Eq. 4 then keeps steps
  0, M, 2M, ... of the padded row, so which real frames survive, and z, depend on the other clips.
- ``packed``: the encoder also gets each clip's real frame count. It moves each row's real frames to
  the front (front padding puts them at the end of the row) and runs every GRU on packed sequences
  (or, on a CPU, an exact equivalent that trains faster: :func:`run_gru_split`), so each clip is
  processed at its own length: Eq. 4 keeps frames 0, M, 2M, ... of the clip itself, the residual
  (Eq. 5) adds the clip's own steps, and z (Eq. 6) is read at the clip's last real step. Its H_L has
  each clip's real steps first and zeros after them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from aac_subsampling.method.config import ModelConfig, SubsamplingMode
from aac_subsampling.method.packing import (  # noqa: F401 - re-exported: the encoder's packed mode uses them
    PACKING_METHODS,
    PackingMethod,
    check_lengths,
    real_frames_first,
    reversal_index,
    run_gru,
    run_gru_split,
    step_mask,
)
from aac_subsampling.method.paper import CLOTHO_FRAME_RANGE, PAPER_VOCABULARY_SIZE

SEQUENCE_MODES = ("padded", "packed")
DECODERS = ("paper", "attention")
PADDINGS = ("zeros", "silence")


def validate_subsampling_factor(factor: object) -> int:
    """M must be an integer >= 1 (M = 1: no sub-sampling, the DCASE 2020 baseline)."""
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"sub-sampling factor M must be an integer >= 1, got {factor!r}")
    return factor


def subsample(sequence: Tensor, factor: int, mode: SubsamplingMode = "floor") -> Tensor:
    """Eq. (4): keep time steps 0, M, 2M, ... of a (batch, time, features) sequence.

    ``floor`` keeps floor(T/M) steps, which reproduces Table 2 (e.g. T = 1292, M = 4 -> 323 -> 80).
    ``ceil`` is ``x[:, ::M]`` (ceil(T/M) steps), what the authors' paper-era code did.
    """
    if factor == 1:
        return sequence
    if mode == "floor":
        kept = (sequence.shape[1] // factor) * factor
        return sequence[:, :kept:factor]
    if mode == "ceil":
        return sequence[:, ::factor]
    raise ValueError(f"sub-sampling mode must be 'floor' or 'ceil', got {mode!r}")


def subsampled_length(length: int, factor: int, mode: SubsamplingMode = "floor") -> int:
    """Length of a sequence of ``length`` steps after :func:`subsample`."""
    return length // factor if mode == "floor" else math.ceil(length / factor)


def subsampled_lengths(lengths: Tensor, factor: int, mode: SubsamplingMode = "floor") -> Tensor:
    """:func:`subsampled_length` for every clip of a batch (packed mode: each clip at its own length)."""
    if factor == 1:
        return lengths
    return lengths // factor if mode == "floor" else (lengths + factor - 1) // factor


def encoder_output_length(n_frames: int, factor: int, n_layers: int = 3, mode: SubsamplingMode = "floor") -> int:
    """T_L, the length of the last encoder layer's output: sub-sampling after layers 1 .. L-1."""
    length = n_frames
    for _ in range(n_layers - 1):
        length = subsampled_length(length, factor, mode)
    return length


def minimum_input_frames(factor: int, n_layers: int = 3) -> int:
    """The fewest input frames that leave at least one step for the last layer: M^(L-1)."""
    return factor ** (n_layers - 1)


def residual(layer_output: Tensor, layer_input: Tensor) -> Tensor:
    """Eq. (5): H_l = H'_l + H''_{l-1}, the GRU's output plus its (sub-sampled) input."""
    return layer_output + layer_input


def encoder_summary(last_layer_output: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Eq. (6): z = the last time step of H_L (not the GRU's final hidden state h_n).

    ``lengths`` (packed mode): each clip's real steps in H_L, whose real steps come first; z is then
    read at step ``lengths - 1`` of each row instead of at the row's end.
    """
    if lengths is None:
        return last_layer_output[:, -1, :]
    rows = torch.arange(last_layer_output.shape[0], device=last_layer_output.device)
    return last_layer_output[rows, lengths.to(last_layer_output.device) - 1]


class Encoder(nn.Module):
    """L bi-directional GRU layers with sub-sampling and residual connections between them."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.factor = validate_subsampling_factor(config.subsampling_factor)
        if config.subsampling_mode not in ("floor", "ceil"):
            raise ValueError(f"subsampling_mode must be 'floor' or 'ceil', got {config.subsampling_mode!r}")
        if config.residual_mode not in ("paper", "code"):
            raise ValueError(f"residual_mode must be 'paper' or 'code', got {config.residual_mode!r}")
        if config.dropout_placement not in ("paper", "code"):
            raise ValueError(f"dropout_placement must be 'paper' or 'code', got {config.dropout_placement!r}")
        if config.sequence_mode not in SEQUENCE_MODES:
            raise ValueError(f"sequence_mode must be 'padded' or 'packed', got {config.sequence_mode!r}")
        if config.encoder_layers < 1:
            raise ValueError(f"encoder_layers must be >= 1, got {config.encoder_layers}")
        width = 2 * config.encoder_hidden
        self.layers = nn.ModuleList(
            nn.GRU(
                input_size=config.n_mels if index == 0 else width,
                hidden_size=config.encoder_hidden,
                batch_first=True,
                bidirectional=True,
            )
            for index in range(config.encoder_layers)
        )
        self.dropout = nn.Dropout(config.dropout)
        # How packed mode runs a GRU: "pack" (torch packed sequences), "split" (run_gru_split: the same
        # numbers, faster to train on a CPU) or "auto" (see packing_method). Not a config field: it
        # changes the speed, not the results (beyond float rounding).
        self.packing: str = "auto"

    @property
    def output_size(self) -> int:
        return 2 * self.config.encoder_hidden

    def has_residual(self, layer_index: int) -> bool:
        """Paper: every layer l >= 2 (index >= 1). Paper-era code: layer 2 (index 1) only."""
        if self.config.residual_mode == "code":
            return layer_index == 1
        return layer_index >= 1

    @property
    def packed(self) -> bool:
        return self.config.sequence_mode == "packed"

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Each clip's T_L in packed mode: Eq. 4's length rule applied after layers 1 .. L-1."""
        for _ in range(len(self.layers) - 1):
            lengths = subsampled_lengths(lengths, self.factor, self.config.subsampling_mode)
        return lengths

    def check_frames(self, n_frames: int) -> None:
        """Floor sub-sampling needs M^(L-1) frames per clip, else the last layer would get none."""
        needed = minimum_input_frames(self.factor, len(self.layers))
        if self.config.subsampling_mode == "floor" and n_frames < needed:
            raise ValueError(
                f"the encoder needs at least M^(L-1) = {needed} input frames for M = {self.factor}, "
                f"got {n_frames}; pad or reject clips shorter than that"
            )

    def forward(self, features: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
        """(batch, T, F) log mel features -> H_L, shape (batch, T_L, 2 Xi).

        ``lengths``: each clip's real frame count (front-padded rows, as the batching makes them).
        Used only in packed mode, where H_L then holds each clip's real steps first (see
        :meth:`output_lengths`); padded mode ignores it and runs over the padding, as the paper does.
        """
        if not self.packed or lengths is None:
            self.check_frames(features.shape[1])
            return self.run_layers(features, None)
        lengths = check_lengths(lengths, features.shape[0], features.shape[1])
        self.check_frames(int(lengths.min()))
        return self.run_layers(real_frames_first(features, lengths), lengths)

    def packing_method(self, device: torch.device) -> PackingMethod:
        """ "auto": packed sequences, except when training on a CPU, where their backward pass is slow
        (measured by benchmarks/bench_packing.py: "pack" 2-4x the padded step, "split" about 0.9x; for
        decoding "pack" is the faster one, as it skips the padding)."""
        if self.packing not in PACKING_METHODS:
            raise ValueError(f"Encoder.packing must be one of {PACKING_METHODS}, got {self.packing!r}")
        if self.packing == "auto":
            return "split" if device.type == "cpu" and torch.is_grad_enabled() else "pack"
        return self.packing  # type: ignore[return-value]

    def run_layers(self, features: Tensor, lengths: Tensor | None) -> Tensor:
        """The L layers with Eq. 4 and Eq. 5 between them; ``lengths`` (packed) on the CPU or None."""
        code_dropout = self.config.dropout_placement == "code"
        method = self.packing_method(features.device)
        hidden = run_gru(self.layers[0], features, lengths, method)
        if code_dropout:
            hidden = self.dropout(hidden)
        for index in range(1, len(self.layers)):
            subsampled = subsample(hidden, self.factor, self.config.subsampling_mode)
            if lengths is not None:
                lengths = subsampled_lengths(lengths, self.factor, self.config.subsampling_mode)
                # Floor keeps floor(T_i/M) steps of clip i, but the row may still hold a real step
                # after them (e.g. step 80 of a 323-step clip at M = 4): zero it, so that the
                # residual leaves nothing after a clip's end.
                kept = step_mask(lengths.to(subsampled.device), subsampled.shape[1])
                subsampled = subsampled * kept.unsqueeze(-1).to(subsampled.dtype)
            # Paper: dropout acts on H''_{l-1} before it enters layer l, and the residual adds exactly
            # what layer l received. Authors' code: dropout acts on each GRU's output, before the
            # residual adds the layer's (not re-dropped) input.
            layer_input = subsampled if code_dropout else self.dropout(subsampled)
            layer_output = run_gru(self.layers[index], layer_input, lengths, method)
            if code_dropout:
                layer_output = self.dropout(layer_output)
            hidden = residual(layer_output, layer_input) if self.has_residual(index) else layer_output
        return hidden


def repeat_summary(summary: Tensor, n_steps: int, dropout: nn.Dropout) -> Tensor:
    """z at every decoder step, (batch, 512) -> (batch, n_steps, 512), then decoder-input dropout.

    Dropout acts after the repetition, so each step draws its own mask, as in the authors' code (the
    paper's placement has no decoder dropout: p = 0 is the identity and draws nothing).
    """
    return dropout(summary.unsqueeze(1).expand(-1, n_steps, -1))


class Decoder(nn.Module):
    """A GRU that reads z at every step (no previous-word input, no attention), then 256 -> D."""

    def __init__(self, input_size: int, hidden_size: int, vocabulary_size: int, input_dropout: float = 0.0):
        super().__init__()
        self.gru = nn.GRU(input_size=input_size, hidden_size=hidden_size, batch_first=True)
        self.classifier = nn.Linear(hidden_size, vocabulary_size)
        self.input_dropout = nn.Dropout(input_dropout)

    def forward(self, summary: Tensor, n_steps: int) -> Tensor:
        """(batch, 512) z -> (batch, n_steps, D) unnormalised token scores."""
        output, _ = self.gru(repeat_summary(summary, n_steps, self.input_dropout))
        return self.classifier(output)


def attention_weights(scores: Tensor, mask: Tensor | None = None) -> Tensor:
    """Softmax over the encoder steps (last axis); steps where ``mask`` is False get weight 0."""
    if mask is not None:
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
    return torch.softmax(scores, dim=-1)


class AttentionDecoder(nn.Module):
    """The paper's decoder plus attention over H_L (not in the paper; ``decoder="attention"``).

    The GRU is the paper's (fed z at every step, so it still runs in one pass). Its output o_t is the
    query of a scaled dot-product attention over H_L, whose steps are projected to keys k = W_k h; the
    context c_t = sum_tau alpha_t,tau h_tau (512) is combined with o_t as tanh(W_c [o_t; c_t]) (Luong's
    attentional state) before the unchanged 256 -> D classifier. Adding the context after the GRU,
    not to its input, keeps the GRU's size and avoids a step-by-step loop; with sub-sampling the
    attention reads T_L instead of T steps.
    """

    def __init__(self, input_size: int, hidden_size: int, vocabulary_size: int, input_dropout: float = 0.0):
        super().__init__()
        self.gru = nn.GRU(input_size=input_size, hidden_size=hidden_size, batch_first=True)
        self.key = nn.Linear(input_size, hidden_size, bias=False)
        self.combine = nn.Linear(hidden_size + input_size, hidden_size)
        self.classifier = nn.Linear(hidden_size, vocabulary_size)
        self.input_dropout = nn.Dropout(input_dropout)

    def attend(
        self, queries: Tensor, states: Tensor, mask: Tensor | None = None, keys: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """queries (N, S, Psi), H_L (N, T_L, 512), mask (N, T_L) -> context (N, S, 512), weights (N, S, T_L).

        ``keys``: W_k H_L when already computed (once per clip rather than once per caption).
        """
        keys = self.key(states) if keys is None else keys
        scores = queries @ keys.transpose(1, 2) / math.sqrt(queries.shape[-1])
        weights = attention_weights(scores, mask)
        return weights @ states, weights

    def forward(
        self,
        summary: Tensor,
        n_steps: int,
        states: Tensor,
        mask: Tensor | None = None,
        caption_to_clip: Tensor | None = None,
    ) -> Tensor:
        """z (N, 512), H_L (clips, T_L, 512), mask (clips, T_L) or None -> (N, n_steps, D) token scores.

        ``caption_to_clip``: the clip (row of ``states``) of each of the N captions; None: one per clip.
        """
        keys = self.key(states)
        if caption_to_clip is not None:
            keys, states = keys.index_select(0, caption_to_clip), states.index_select(0, caption_to_clip)
            mask = None if mask is None else mask.index_select(0, caption_to_clip)
        queries, _ = self.gru(repeat_summary(summary, n_steps, self.input_dropout))
        context, _ = self.attend(queries, states, mask, keys)
        return self.classifier(torch.tanh(self.combine(torch.cat([queries, context], dim=-1))))


class CaptioningModel(nn.Module):
    """Encoder + decoder; sub-sampling adds no parameters, so the count is the same for every M."""

    def __init__(self, config: ModelConfig, vocabulary_size: int):
        super().__init__()
        if vocabulary_size < 2:
            raise ValueError(f"vocabulary_size must be >= 2, got {vocabulary_size}")
        if config.decoder not in DECODERS:
            raise ValueError(f"decoder must be 'paper' or 'attention', got {config.decoder!r}")
        if config.padding not in PADDINGS:
            raise ValueError(f"padding must be 'zeros' or 'silence', got {config.padding!r}")
        self.config = config
        self.vocabulary_size = vocabulary_size
        self.encoder = Encoder(config)
        decoder_dropout = config.dropout if config.dropout_placement == "code" else 0.0
        decoder_class = Decoder if config.decoder == "paper" else AttentionDecoder
        self.decoder = decoder_class(self.encoder.output_size, config.decoder_hidden, vocabulary_size, decoder_dropout)

    def encode_steps(
        self, features: Tensor, lengths: Tensor | Sequence[int] | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """H_L and, in packed mode with ``lengths``, each clip's real steps in it (else None: all count)."""
        states = self.encoder(features, lengths)
        if not self.encoder.packed or lengths is None:
            return states, None
        step_lengths = self.encoder.output_lengths(torch.as_tensor(lengths, dtype=torch.long))
        return states, step_lengths.to(states.device)

    def encode(self, features: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
        """(clips, T, F) -> z, shape (clips, 512). ``lengths``: real frame counts (used in packed mode)."""
        return encoder_summary(*self.encode_steps(features, lengths))

    def forward(
        self,
        features: Tensor,
        n_steps: int,
        caption_to_clip: Tensor | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> Tensor:
        """Token scores (captions, n_steps, D).

        With ``caption_to_clip`` (one clip index per caption) the encoder runs once per clip and its
        summary is shared by all captions of that clip; without it, one caption per clip.
        ``lengths``: each clip's real frame count; packed mode needs it (padded mode ignores it).
        """
        states, step_lengths = self.encode_steps(features, lengths)
        summary = encoder_summary(states, step_lengths)
        if caption_to_clip is not None:
            summary = summary.index_select(0, caption_to_clip)
        if self.config.decoder == "paper":
            return self.decoder(summary, n_steps)
        # Padded mode attends over every step of the padded row: that is what its encoder computed.
        mask = None if step_lengths is None else step_mask(step_lengths, states.shape[1])
        return self.decoder(summary, n_steps, states, mask, caption_to_clip)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def paper_parameter_count(vocabulary_size: int = PAPER_VOCABULARY_SIZE, config: ModelConfig | None = None) -> int:
    """Parameters of the model as built for Clotho's vocabulary.

    4,573,711 at D = 4367 with the paper's decoder (any M); 4,901,647 with ``decoder="attention"``
    (327,936 more: keys 512 x 256 and the 768 -> 256 combination layer).
    """
    return count_parameters(CaptioningModel(config or ModelConfig(), vocabulary_size))


def measure_encoder_lengths(
    encoder: Encoder, frame_counts: tuple[int, ...] = CLOTHO_FRAME_RANGE, n_mels: int | None = None
) -> dict[int, int]:
    """Run the encoder on zero inputs of each length and return T_L (Table 2's first columns)."""
    n_mels = n_mels or encoder.config.n_mels
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            return {count: encoder(torch.zeros(1, count, n_mels, device=device)).shape[1] for count in frame_counts}
    finally:
        encoder.train(was_training)
