"""The paper's encoder-decoder with temporal sub-sampling between encoder layers (Section 3).

Encoder: L = 3 bi-directional GRU layers (Xi = 256 per direction). Between layers the output sequence
is sub-sampled by a factor M (Eq. 4); layers l >= 2 add their (sub-sampled) input to their output
(Eq. 5); the encoder's summary z is the last time step of the last layer (Eq. 6).
Decoder: one GRU (512 -> Psi = 256) that receives z at every output step, then a linear layer to the
D tokens (softmax is folded into the loss).

Each equation is one function below so that the code can be read against the paper.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from aac_subsampling.config import ModelConfig, SubsamplingMode


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


def encoder_output_length(
    n_frames: int, factor: int, n_layers: int = 3, mode: SubsamplingMode = "floor"
) -> int:
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


def encoder_summary(last_layer_output: Tensor) -> Tensor:
    """Eq. (6): z = the last time step of H_L (not the GRU's final hidden state h_n)."""
    return last_layer_output[:, -1, :]


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
            raise ValueError(
                f"dropout_placement must be 'paper' or 'code', got {config.dropout_placement!r}"
            )
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

    @property
    def output_size(self) -> int:
        return 2 * self.config.encoder_hidden

    def has_residual(self, layer_index: int) -> bool:
        """Paper: every layer l >= 2 (index >= 1). Paper-era code: layer 2 (index 1) only."""
        if self.config.residual_mode == "code":
            return layer_index == 1
        return layer_index >= 1

    def forward(self, features: Tensor) -> Tensor:
        """(batch, T, F) log mel features -> H_L, shape (batch, T_L, 2 Xi)."""
        n_frames = features.shape[1]
        needed = minimum_input_frames(self.factor, len(self.layers))
        if self.config.subsampling_mode == "floor" and n_frames < needed:
            raise ValueError(
                f"the encoder needs at least M^(L-1) = {needed} input frames for M = {self.factor}, "
                f"got {n_frames}; pad or reject clips shorter than that"
            )
        hidden, _ = self.layers[0](features)
        for index in range(1, len(self.layers)):
            # Dropout and sub-sampling both act on H_{l-1} before it enters layer l; the residual
            # adds exactly what layer l received.
            layer_input = self.dropout(subsample(hidden, self.factor, self.config.subsampling_mode))
            layer_output, _ = self.layers[index](layer_input)
            hidden = residual(layer_output, layer_input) if self.has_residual(index) else layer_output
        if self.config.dropout_placement == "code":
            hidden = self.dropout(hidden)
        return hidden


class Decoder(nn.Module):
    """A GRU that reads z at every step (no previous-word input, no attention), then 256 -> D."""

    def __init__(self, input_size: int, hidden_size: int, vocabulary_size: int, input_dropout: float = 0.0):
        super().__init__()
        self.gru = nn.GRU(input_size=input_size, hidden_size=hidden_size, batch_first=True)
        self.classifier = nn.Linear(hidden_size, vocabulary_size)
        self.input_dropout = nn.Dropout(input_dropout)

    def forward(self, summary: Tensor, n_steps: int) -> Tensor:
        """(batch, 512) z -> (batch, n_steps, D) unnormalised token scores."""
        repeated = self.input_dropout(summary).unsqueeze(1).expand(-1, n_steps, -1)
        output, _ = self.gru(repeated)
        return self.classifier(output)


class CaptioningModel(nn.Module):
    """Encoder + decoder; sub-sampling adds no parameters, so the count is the same for every M."""

    def __init__(self, config: ModelConfig, vocabulary_size: int):
        super().__init__()
        if vocabulary_size < 2:
            raise ValueError(f"vocabulary_size must be >= 2, got {vocabulary_size}")
        self.config = config
        self.vocabulary_size = vocabulary_size
        self.encoder = Encoder(config)
        decoder_dropout = config.dropout if config.dropout_placement == "code" else 0.0
        self.decoder = Decoder(self.encoder.output_size, config.decoder_hidden, vocabulary_size, decoder_dropout)

    def encode(self, features: Tensor) -> Tensor:
        """(clips, T, F) -> z, shape (clips, 512)."""
        return encoder_summary(self.encoder(features))

    def forward(self, features: Tensor, n_steps: int, caption_to_clip: Tensor | None = None) -> Tensor:
        """Token scores (captions, n_steps, D).

        With ``caption_to_clip`` (one clip index per caption) the encoder runs once per clip and its
        summary is shared by all captions of that clip; without it, one caption per clip.
        """
        summary = self.encode(features)
        if caption_to_clip is not None:
            summary = summary.index_select(0, caption_to_clip)
        return self.decoder(summary, n_steps)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def paper_parameter_count(vocabulary_size: int = 4367, config: ModelConfig | None = None) -> int:
    """Parameters of the model as built for Clotho's vocabulary (4,573,711 at D = 4367)."""
    return count_parameters(CaptioningModel(config or ModelConfig(), vocabulary_size))


def measure_encoder_lengths(
    encoder: Encoder, frame_counts: tuple[int, ...] = (1292, 2584), n_mels: int | None = None
) -> dict[int, int]:
    """Run the encoder on zero inputs of each length and return T_L (Table 2's first columns)."""
    n_mels = n_mels or encoder.config.n_mels
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            return {
                count: encoder(torch.zeros(1, count, n_mels, device=device)).shape[1] for count in frame_counts
            }
    finally:
        encoder.train(was_training)
