"""The paper's encoder-decoder with temporal sub-sampling between encoder layers (Section 2).

Encoder: L = 3 bi-directional GRU layers (Xi = 256 per direction). Between layers the output sequence
is sub-sampled by a factor M (Eq. 4); layers l >= 2 add their (sub-sampled) input to their output
(Eq. 5); the encoder's summary z is the last time step of the last layer (Eq. 6).
Decoder: one GRU (512 -> Psi = 256) that receives z at every output step, then a linear layer to the
D tokens (softmax is folded into the loss). Not in the paper: an attention decoder (:class:`AttentionDecoder`) and
decoders that also read their previous token (:class:`AutoregressiveDecoder`, ``ModelConfig.decoder``).

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
from dataclasses import dataclass

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
DECODERS = ("paper", "attention", "autoregressive", "autoregressive_attention")
#: The decoders that read their previous token (teacher forcing in training, a step-by-step loop at inference).
AUTOREGRESSIVE_DECODERS = ("autoregressive", "autoregressive_attention")
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


def scaled_dot_attention(
    queries: Tensor, keys: Tensor, states: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """queries (N, S, Psi), keys (N, T_L, Psi), H_L (N, T_L, 512), mask (N, T_L) -> context (N, S, 512), weights."""
    scores = queries @ keys.transpose(1, 2) / math.sqrt(queries.shape[-1])
    weights = attention_weights(scores, mask)
    return weights @ states, weights


@dataclass
class DecodingState:
    """What a decoder carries from one output step to the next: tensors with one row per hypothesis.

    ``tensors`` holds, for the autoregressive decoders, the GRU state ``hidden`` (N, Psi), z ``summary``
    (N, 512) and, with attention, ``states``/``keys`` (N, T_L, .) and ``mask`` (N, T_L); for the decoders that
    never read their previous word, the token scores of every step, ``logits`` (N, max_steps, D), computed in
    one pass. ``step``: the output steps taken so far.
    """

    tensors: dict[str, Tensor]
    step: int = 0

    def select(self, rows: Tensor) -> DecodingState:
        """The state of hypotheses ``rows`` (a beam keeps or repeats rows)."""
        return DecodingState({name: value.index_select(0, rows) for name, value in self.tensors.items()}, self.step)


class AutoregressiveDecoder(nn.Module):
    """A GRU fed, at step t, [e(y_{t-1}); z] (``attention=False``) or [e(y_{t-1}); z; c_t] (``attention=True``).

    Not in the paper (``decoder="autoregressive"`` / ``"autoregressive_attention"``). e is a learnt word
    embedding (``ModelConfig.word_embedding_size``), y_0 is ``<sos>`` (``start_index``), then y_{t-1} is the
    target's previous token in training (teacher forcing) and the decoder's own choice at inference. The GRU's
    state starts at zero, as the paper's decoder's does; its output goes through the same Psi -> D classifier.

    With attention, the context c_t = sum_tau alpha_t,tau h_tau over H_L is queried with the GRU's previous
    state s_{t-1} (scaled dot product against keys W_k h, as :class:`AttentionDecoder`), so it can differ
    from step to step and enters the GRU's input (Bahdanau's placement): training then runs step by step too.
    Without attention, teacher forcing runs the whole caption in one GRU pass.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        vocabulary_size: int,
        embedding_size: int,
        attention: bool = False,
        input_dropout: float = 0.0,
        start_index: int = 0,
    ):
        super().__init__()
        self.attention = attention
        self.start_index = start_index
        self.embedding = nn.Embedding(vocabulary_size, embedding_size)
        gru_input = embedding_size + input_size * (2 if attention else 1)
        self.gru = nn.GRU(input_size=gru_input, hidden_size=hidden_size, batch_first=True)
        if attention:
            self.key = nn.Linear(input_size, hidden_size, bias=False)
        self.classifier = nn.Linear(hidden_size, vocabulary_size)
        self.input_dropout = nn.Dropout(input_dropout)

    def start(
        self,
        summary: Tensor,
        states: Tensor | None = None,
        mask: Tensor | None = None,
        caption_to_clip: Tensor | None = None,
    ) -> DecodingState:
        """The state before the first step: z (N, 512) of each caption; with attention H_L (clips, T_L, 512),
        its mask (or None) and ``caption_to_clip`` (the clip of each caption; None: one caption per clip)."""
        tensors = {"summary": summary, "hidden": summary.new_zeros(summary.shape[0], self.gru.hidden_size)}
        if self.attention:
            if states is None:
                raise ValueError("the attention decoder needs the encoder's steps H_L")
            keys = self.key(states)
            if caption_to_clip is not None:
                keys, states = keys.index_select(0, caption_to_clip), states.index_select(0, caption_to_clip)
                mask = None if mask is None else mask.index_select(0, caption_to_clip)
            tensors |= {"states": states, "keys": keys}
            if mask is not None:
                tensors["mask"] = mask
        return DecodingState(tensors)

    def step(self, state: DecodingState, previous: Tensor) -> tuple[Tensor, DecodingState]:
        """One output step: previous tokens (N,) -> token scores (N, D) and the next state."""
        parts = [self.embedding(previous), state.tensors["summary"]]
        hidden = state.tensors["hidden"]
        if self.attention:
            context, _ = scaled_dot_attention(
                hidden.unsqueeze(1), state.tensors["keys"], state.tensors["states"], state.tensors.get("mask")
            )
            parts.append(context.squeeze(1))
        output, new_hidden = self.gru(self.input_dropout(torch.cat(parts, dim=-1)).unsqueeze(1), hidden.unsqueeze(0))
        tensors = state.tensors | {"hidden": new_hidden.squeeze(0)}
        return self.classifier(output.squeeze(1)), DecodingState(tensors, state.step + 1)

    def previous_tokens(self, targets: Tensor, n_steps: int) -> Tensor:
        """Teacher forcing's inputs: <sos> then the targets shifted right by one, (N, n_steps)."""
        if targets.shape[1] < n_steps - 1:
            raise ValueError(f"teacher forcing needs at least {n_steps - 1} target tokens, got {targets.shape[1]}")
        start = targets.new_full((targets.shape[0], 1), self.start_index)
        return torch.cat([start, targets[:, : n_steps - 1]], dim=1)

    def forward(
        self,
        summary: Tensor,
        n_steps: int,
        targets: Tensor | None = None,
        states: Tensor | None = None,
        mask: Tensor | None = None,
        caption_to_clip: Tensor | None = None,
    ) -> Tensor:
        """z (N, 512) -> (N, n_steps, D) token scores.

        ``targets`` (N, >= n_steps - 1): teacher forcing, step t reads target t - 1. None: free running, each
        step reads the previous step's arg-max (what greedy decoding does).
        """
        if targets is not None and not self.attention:  # one pass over the whole caption
            inputs = torch.cat(
                [
                    self.embedding(self.previous_tokens(targets, n_steps)),
                    summary.unsqueeze(1).expand(-1, n_steps, -1),
                ],
                dim=-1,
            )
            output, _ = self.gru(self.input_dropout(inputs))
            return self.classifier(output)
        state = self.start(summary, states, mask, caption_to_clip)
        previous = self.previous_tokens(targets, n_steps) if targets is not None else None
        token = torch.full((summary.shape[0],), self.start_index, dtype=torch.long, device=summary.device)
        scores = []
        for step in range(n_steps):
            if previous is not None:
                token = previous[:, step]
            logits, state = self.step(state, token)
            scores.append(logits)
            token = logits.argmax(dim=-1)
        return torch.stack(scores, dim=1)


class CaptioningModel(nn.Module):
    """Encoder + decoder; sub-sampling adds no parameters, so the count is the same for every M."""

    def __init__(self, config: ModelConfig, vocabulary_size: int, start_index: int = 0):
        """``start_index``: the index of ``<sos>``, the autoregressive decoders' first input (0 in every
        vocabulary :meth:`~aac_subsampling.method.tokens.Vocabulary.build` makes: it counts ``<sos>`` first)."""
        super().__init__()
        if vocabulary_size < 2:
            raise ValueError(f"vocabulary_size must be >= 2, got {vocabulary_size}")
        if config.decoder not in DECODERS:
            raise ValueError(
                "ModelConfig.decoder must be 'paper' or 'attention' (z at every step), or 'autoregressive' or "
                f"'autoregressive_attention' (the previous token too), got {config.decoder!r}"
            )
        if config.padding not in PADDINGS:
            raise ValueError(f"padding must be 'zeros' or 'silence', got {config.padding!r}")
        self.config = config
        self.vocabulary_size = vocabulary_size
        self.encoder = Encoder(config)
        decoder_dropout = config.dropout if config.dropout_placement == "code" else 0.0
        if config.decoder in AUTOREGRESSIVE_DECODERS:
            embedding_size = config.word_embedding_size
            if isinstance(embedding_size, bool) or not isinstance(embedding_size, int) or embedding_size < 1:
                raise ValueError(f"ModelConfig.word_embedding_size must be an integer >= 1, got {embedding_size!r}")
            if not 0 <= start_index < vocabulary_size:
                raise ValueError(
                    f"start_index (<sos>) must be a token index below {vocabulary_size}, got {start_index}"
                )
            self.decoder = AutoregressiveDecoder(
                self.encoder.output_size,
                config.decoder_hidden,
                vocabulary_size,
                embedding_size,
                attention=config.decoder == "autoregressive_attention",
                input_dropout=decoder_dropout,
                start_index=start_index,
            )
        else:
            decoder_class = Decoder if config.decoder == "paper" else AttentionDecoder
            self.decoder = decoder_class(
                self.encoder.output_size, config.decoder_hidden, vocabulary_size, decoder_dropout
            )

    @property
    def autoregressive(self) -> bool:
        """Whether the decoder reads its previous token (then decoding runs step by step)."""
        return self.config.decoder in AUTOREGRESSIVE_DECODERS

    @property
    def start_index(self) -> int:
        """The first previous token of an autoregressive decoder (``<sos>``)."""
        return self.decoder.start_index if self.autoregressive else 0

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
        targets: Tensor | None = None,
    ) -> Tensor:
        """Token scores (captions, n_steps, D).

        With ``caption_to_clip`` (one clip index per caption) the encoder runs once per clip and its
        summary is shared by all captions of that clip; without it, one caption per clip.
        ``lengths``: each clip's real frame count; packed mode needs it (padded mode ignores it).
        ``targets`` (captions, >= n_steps - 1): the autoregressive decoders' teacher forcing (step t reads
        target t - 1; without targets they feed back their own arg-max); the other decoders ignore them.
        """
        states, step_lengths = self.encode_steps(features, lengths)
        summary = encoder_summary(states, step_lengths)
        if caption_to_clip is not None:
            summary = summary.index_select(0, caption_to_clip)
        if self.config.decoder == "paper":
            return self.decoder(summary, n_steps)
        # Padded mode attends over every step of the padded row: that is what its encoder computed.
        mask = None if step_lengths is None else step_mask(step_lengths, states.shape[1])
        if self.autoregressive:
            return self.decoder(summary, n_steps, targets, states, mask, caption_to_clip)
        return self.decoder(summary, n_steps, states, mask, caption_to_clip)

    def start_decoding(
        self, features: Tensor, max_steps: int, lengths: Tensor | Sequence[int] | None = None
    ) -> DecodingState:
        """The state before the first output step, one row per clip (see :meth:`decoding_step`)."""
        if not self.autoregressive:  # every step's scores at once: they do not depend on earlier tokens
            return DecodingState({"logits": self(features, max_steps, lengths=lengths)})
        states, step_lengths = self.encode_steps(features, lengths)
        summary = encoder_summary(states, step_lengths)
        mask = None if step_lengths is None else step_mask(step_lengths, states.shape[1])
        return self.decoder.start(summary, states, mask)

    def decoding_step(self, state: DecodingState, previous: Tensor) -> tuple[Tensor, DecodingState]:
        """Token scores (N, D) of the next step after ``previous`` tokens (N,), and the state after it.

        The paper's and the attention decoder ignore ``previous`` and return their precomputed step."""
        if not self.autoregressive:
            return state.tensors["logits"][:, state.step], DecodingState(state.tensors, state.step + 1)
        return self.decoder.step(state, previous)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def paper_parameter_count(vocabulary_size: int = PAPER_VOCABULARY_SIZE, config: ModelConfig | None = None) -> int:
    """Parameters of the model as built for Clotho's vocabulary.

    4,573,711 at D = 4367 with the paper's decoder (any M); 4,901,647 with ``decoder="attention"``
    (327,936 more: keys 512 x 256 and the 768 -> 256 combination layer); with the default 64-value word
    embedding, 4,902,351 with ``decoder="autoregressive"`` (328,640 more: the D x 64 embedding and the GRU's
    64 extra inputs, 3 x 256 x 64) and 5,426,639 with ``decoder="autoregressive_attention"`` (852,928 more:
    also keys 512 x 256 and the GRU's 512 context inputs, 3 x 256 x 512).
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
