"""One configuration object whose defaults are the paper's values.

Every knob of the reproduction lives here. Where the paper and the authors' code disagree
(see docs/deviations.md), the default follows the paper and a named switch gives the code's
behaviour. Profiles (``smoke``, ``quick``, ``long``, ``paper``, ``as_run``) are sets of overrides
kept in :mod:`aac_subsampling.experiment.profiles`.

Values read from the authors' code cite the commit and file. "2db9c1d" is commit
2db9c1d59abacff5b7a99e5377d5b6a17cadeb93 (2020-07-04) of github.com/DK-Nguyen/audio-captioning-sub-sampling,
and ``<fam>`` its no-attention family ``settings/subsamplingM/subM_params_same_baseline_hasdecdropout_epoch_1000``
(M = 1, 2, 4, 8, 16), the runs whose checkpoints that commit evaluates.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any, Literal

FLOAT64_EPS = sys.float_info.epsilon  # the authors' log offset: numpy float64 machine epsilon

SubsamplingMode = Literal["floor", "ceil"]
ResidualMode = Literal["paper", "code"]
DropoutPlacement = Literal["paper", "code"]
BatchMode = Literal["clip", "caption"]
StopOn = Literal["training_loss", "validation_cider"]
LearningRateSchedule = Literal["constant", "cosine"]
SequenceMode = Literal["padded", "packed"]
Padding = Literal["zeros", "silence"]
DecoderKind = Literal["paper", "attention", "autoregressive", "autoregressive_attention"]


@dataclass(frozen=True)
class FeatureConfig:
    """Log mel-band energies (paper Section 3.1)."""

    sample_rate: int = 44100
    n_fft: int = 1024  # about 23 ms at 44.1 kHz
    hop_length: int = 512  # 50 % overlap
    n_mels: int = 64  # F
    # paper: Hamming; authors' code: Hann (2db9c1d <fam>/feature_extraction.yaml, window_function: 'hann')
    window: Literal["hamming", "hann"] = "hamming"
    # authors' code: divide each clip by its peak amplitude first (2db9c1d tools/features_log_mel_bands.py)
    peak_normalise: bool = False
    log_eps: float = FLOAT64_EPS
    # Not in the paper (nor in the authors' code): standardise each mel band with the development
    # split's mean and standard deviation before the encoder. The smoke and quick profiles turn it
    # on, because raw log energies (about -9 .. -6 on average) slow the GRUs' first few hundred
    # steps, which is all a CPU run gets. Applied when features are read, so not part of the cache.
    standardise: bool = False

    @classmethod
    def authors_code(cls) -> FeatureConfig:
        """The variant the authors' code computed (Hann window, per-clip peak normalisation)."""
        return cls(window="hann", peak_normalise=True)

    def cache_key(self) -> dict[str, Any]:
        """Everything that changes the cached features; a cache is valid only for the same key."""
        key = dataclasses.asdict(self)
        del key["standardise"]  # applied after the cache, when features are read
        return key


@dataclass(frozen=True)
class ModelConfig:
    """Encoder-decoder of the paper (Section 2; L = 3, Xi = Psi = 256 in Section 3.2)."""

    n_mels: int = 64  # F, encoder input size
    encoder_layers: int = 3  # L
    encoder_hidden: int = 256  # Xi, per direction (layer outputs are 2 * Xi)
    decoder_hidden: int = 256  # Psi
    subsampling_factor: int = 1  # M; M = 1 is the DCASE 2020 baseline (no sub-sampling)
    # "floor": keep frames 0, M, ..., (floor(T/M) - 1) M, which reproduces Table 2.
    # "ceil": x[:, ::M], the authors' paper-era code (ceil(T/M) frames; 2db9c1d modules/encoder_subsampling.py).
    subsampling_mode: SubsamplingMode = "floor"
    # "paper": Eq. (5) residual on every layer l >= 2; "code": on layer 2 only (paper-era code,
    # 2db9c1d modules/encoder_subsampling.py: layer 3's input is layer 2's output + sub-sampled layer-1 output).
    residual_mode: ResidualMode = "paper"
    dropout: float = 0.25
    # "paper": dropout on the input of every encoder layer l >= 2 (between layers), nothing else.
    # "code": what the authors' code did: dropout on every encoder GRU's output *before* the residual
    # adds the layer's input (H_l = H''_{l-1} + dropout(GRU_l(H''_{l-1}))), so also after the last
    # layer, and on the decoder input with a new mask at every decoder step (2db9c1d
    # modules/encoder_subsampling.py, modules/decoder_no_attention.py; p = 0.25 both, <fam>/model.yaml).
    dropout_placement: DropoutPlacement = "paper"
    # "padded" (paper): clips are front-padded to the batch's longest and the encoder runs over the
    # padding, so Eq. 4 keeps steps 0, M, 2M, ... of the *padded* row and z depends on the batch.
    # "packed": every encoder layer runs on each clip's own frames (packed sequences); Eq. 4 keeps
    # frames 0, M, 2M, ... of each clip and z is read at each clip's last real step, so a clip's
    # caption does not depend on the other clips of its batch. Needs the clips' frame counts.
    sequence_mode: SequenceMode = "padded"
    # What fills the frames in front of shorter clips: "zeros" (paper) or "silence" (the log-mel value
    # of digital silence, log(eps), standardised like the features when standardisation is on). The
    # value itself is computed by aac_subsampling.method.batching.pad_value_for; packed mode never reads it.
    padding: Padding = "zeros"
    # "paper": a GRU fed z at every step, then 256 -> D. "attention": the same GRU, then attention
    # over H_L (the last encoder layer's T_L steps) whose context is combined with the GRU output
    # before the classifier (see aac_subsampling.method.model.AttentionDecoder).
    # Not in the paper either: "autoregressive" feeds the GRU, at every step, the embedding of the previous
    # token (<sos> first; the target's in training, teacher forcing; its own arg-max or beam at inference)
    # concatenated with z; "autoregressive_attention" also concatenates the attention context over H_L,
    # queried with the GRU's previous state (see aac_subsampling.method.model.AutoregressiveDecoder).
    decoder: DecoderKind = "paper"
    # Size of the previous-token embedding of the autoregressive decoders (unused by the others). 64 adds
    # D x 64 + 3 x 256 x 64 = 328,640 parameters at D = 4367, about what the attention decoder adds (327,936),
    # so questions (d) and (e) compare extensions of one size; Clotho's 14,465 training captions (most of
    # the 4365 words seen a few times) give little to learn a wider embedding from.
    word_embedding_size: int = 64


@dataclass(frozen=True)
class LossConfig:
    """Weighted cross-entropy of Eq. (9)-(10)."""

    beta: float = 0.5  # lower clamp of the token weights Phi
    # True: the paper's Eq. 9-10 weights Phi. False: plain cross-entropy (every token weight 1), what the runs
    # behind the paper's numbers used (2db9c1d <fam>/method.yaml: use_class_weights: No, clamp_value_freqs: -1).
    class_weights: bool = True
    ignore_padding: bool = False  # paper and code train the <eos> padding too


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and early stopping (Section 3.2)."""

    batch_size: int = 16
    # "clip": a batch holds batch_size clips with all their captions (what the authors' runs
    # did: 16 clips = 80 caption pairs) and the encoder runs once per clip.
    # "caption": a batch holds batch_size (clip, caption) pairs.
    batch_mode: BatchMode = "clip"
    learning_rate: float = 1e-4  # paper Sec. 3.2; also 2db9c1d <fam>/method.yaml (lr: 1e-4)
    # "constant" (paper and authors' code: Adam at one rate throughout). "cosine": the rate falls from
    # learning_rate to 0 along half a cosine over max_epochs' steps (a function of the step alone, so a
    # resumed run follows the same curve); early stopping may still end training before the cap.
    lr_schedule: LearningRateSchedule = "constant"
    # The paper states no maximum; 1000 is the authors' (2db9c1d <fam>/method.yaml, nb_epochs: 1000).
    max_epochs: int = 1000
    patience: int = 100  # epochs without improvement before stopping (paper Sec. 3.2; the code ran 10)
    # What early stopping watches and which epoch's weights are kept. "training_loss" (paper): the
    # epoch-mean training loss must fall by more than min_improvement. "validation_cider": CIDEr-D of
    # greedy captions of the corpus's validation split (checked every validate_every epochs) must rise
    # by more than min_improvement; the synthetic corpora have that split, Clotho v1 has none.
    stop_on: StopOn = "training_loss"
    # 1e-3 stands for the paper's "loss rounded to three decimals"; the code ran loss_thr 1e-4 on the raw loss.
    min_improvement: float = 1e-3
    # Every this many epochs (and after the last), decode the validation split with its own audio and
    # with the audio of other clips, and record both CIDEr-D in the history (learning curves); 0: never.
    # Decisions use the validation split only; the evaluation split is never looked at in training.
    validate_every: int = 0
    # Applied after backward(); off, as in what actually ran: the authors' code calls clip_grad_norm_(max 1.0)
    # after zero_grad() and before backward(), so it clips zeros (2db9c1d tools/model.py, module_epoch_passing).
    grad_clip_norm: float | None = None
    seed: int = 0
    shuffle: bool = True
    # Leave out the last, partial batch of every epoch, as the authors' code did (2db9c1d <fam>/method.yaml,
    # drop_last: Yes): 2893 clips in batches of 16 give 180 batches instead of 181 in clip mode, and
    # 14465 captions 904 instead of 905 in caption mode (what the as-run family used).
    drop_last: bool = False
    log_every: int = 1  # epochs between log lines


@dataclass(frozen=True)
class DecodeConfig:
    max_steps: int = 22  # the longest caption the decoder may emit
    # 1: greedy (the paper). k > 1: beam search keeping k hypotheses, each ended at its <eos>, the caption with
    # the highest total log-probability wins (no length normalisation; see aac_subsampling.method.decoding).
    beam_size: int = 1


def authors_code_overrides() -> dict[str, dict[str, Any]]:
    """Everything the authors' code did differently from the paper, as ``Config.with_overrides`` input.

    Hann window and per-clip peak normalisation, ``x[:, ::M]`` sub-sampling (ceil), the residual around
    layer 2 only, the code's dropout placement (every GRU output, decoder input per step), and the last
    partial batch of an epoch dropped. Profiles use this dict so the variant is defined once.

    It leaves the training schedule and the loss as the paper states them: notebook 05's question (c) varies
    these behaviours alone on the quick profile's schedule. :func:`as_run_overrides` adds the settings the
    runs behind the paper's numbers trained with.
    """
    features = FeatureConfig.authors_code()
    return {
        "features": {"window": features.window, "peak_normalise": features.peak_normalise},
        "model": {"subsampling_mode": "ceil", "residual_mode": "code", "dropout_placement": "code"},
        "train": {"drop_last": True},  # 2db9c1d <fam>/method.yaml: drop_last: Yes
    }


def as_run_overrides() -> dict[str, dict[str, Any]]:
    """The runs behind the paper's numbers: :func:`authors_code_overrides` plus their training settings.

    Read from 2db9c1d <fam>/method.yaml (identical for M = 2, 4, 8, 16 apart from ``num_workers``; M = 1 evaluates
    the DCASE 2020 baseline's pre-trained file instead) and the code that reads it. See docs/deviations.md.
    """
    overrides = authors_code_overrides()
    overrides["loss"] = {"class_weights": False}  # use_class_weights: No (CrossEntropyLoss() unweighted)
    overrides["train"] = {
        **overrides["train"],
        "learning_rate": 1e-4,  # optimizer: lr: 1e-4
        "batch_size": 16,  # batch_size: 16
        # use_multiple_mode: No, so every (clip, caption) file is one example: 16 pairs per batch, 904 per epoch
        # (2db9c1d data_handlers/_clotho.py; the family had Yes until 7d6bfdb, 2020-06-28, before its runs)
        "batch_mode": "caption",
        "max_epochs": 1000,  # nb_epochs: 1000
        "patience": 10,  # patience: 10 (the paper's text says 100)
        "min_improvement": 1e-4,  # loss_thr: 1e-4, on the unrounded epoch-mean training loss (processes/method.py)
        "stop_on": "training_loss",  # use_validation_split: No
        "grad_clip_norm": None,  # grad_norm value 1.0, but clipped before backward(): no effect (tools/model.py)
    }
    return overrides


@dataclass(frozen=True)
class Config:
    """The whole reproduction's settings; the defaults are the paper's."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    device: str = "auto"  # "auto" picks CUDA when available, else CPU

    def with_overrides(self, overrides: dict[str, dict[str, Any]]) -> Config:
        """Return a copy with ``{"section": {"field": value}}`` overrides applied.

        Unknown sections or fields are an error naming them, so a typo never goes unnoticed.
        """
        updated = self
        for section, values in overrides.items():
            if section == "device":
                updated = dataclasses.replace(updated, device=values)
                continue
            if section not in {f.name for f in dataclasses.fields(self)}:
                raise KeyError(f"unknown config section {section!r}")
            current = getattr(updated, section)
            known = {f.name for f in dataclasses.fields(current)}
            unknown = set(values) - known
            if unknown:
                raise KeyError(f"unknown field(s) {sorted(unknown)} in config section {section!r}")
            updated = dataclasses.replace(updated, **{section: dataclasses.replace(current, **values)})
        return updated

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def authors_code(cls) -> Config:
        """The behaviours of the authors' code, on the paper's schedule (see :func:`authors_code_overrides`)."""
        return cls().with_overrides(authors_code_overrides())

    @classmethod
    def as_run(cls) -> Config:
        """The settings of the runs behind the paper's numbers (see :func:`as_run_overrides`)."""
        return cls().with_overrides(as_run_overrides())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        return cls().with_overrides({k: v for k, v in data.items()})
