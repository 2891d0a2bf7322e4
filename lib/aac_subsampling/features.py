"""Log mel-band energies, the encoder's input (paper Section 4.1).

Every clip becomes a (T, F) float32 matrix: magnitude STFT (1024-sample window, hop 512, reflect
padding, ``center=True`` so that T = 1 + floor(N / 512)), 64 Slaney-normalised mel bands from 0 Hz
to sr/2, then the natural ``log(x + eps)``. The window follows :class:`FeatureConfig`: Hamming is the
paper's, Hann the authors' code's; ``peak_normalise`` divides each clip by its peak amplitude first,
as the authors' code did. There is no dataset-level normalisation, as in the paper.
"""

from __future__ import annotations

from functools import lru_cache
from os import PathLike
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from aac_subsampling.config import FeatureConfig

__all__ = ["load_audio", "n_frames", "log_mel_energies", "extract_features", "mel_filterbank",
           "BandStatistics", "band_statistics"]


def load_audio(path: str | PathLike[str], sample_rate: int = 44100) -> np.ndarray:
    """Read an audio file as float32 mono samples at ``sample_rate``.

    Multi-channel files are down-mixed by averaging the channels (what ``librosa.load(mono=True)``
    does); other sample rates are resampled with soxr (high quality), so a 22.05 kHz or stereo copy
    of a clip yields the same features as the 44.1 kHz mono original up to resampling error.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file when it
    cannot be decoded or holds no samples, so one bad clip is identified instead of crashing
    deep inside the STFT.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise ValueError(f"cannot read audio file {path}: {exc}") from exc
    if data.shape[0] == 0:
        raise ValueError(f"audio file {path} is empty (0 samples)")
    audio = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if file_rate != sample_rate:
        audio = librosa.resample(audio, orig_sr=file_rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(audio, dtype=np.float32)


def n_frames(n_samples: int, hop_length: int = 512) -> int:
    """Number of STFT frames for ``n_samples`` with ``center=True``: 1 + floor(N / hop).

    This is what makes a 15 s clip 1292 frames and a 30 s clip 2584 frames at 44.1 kHz (Table 2).
    """
    if n_samples < 0 or hop_length <= 0:
        raise ValueError(f"n_frames needs n_samples >= 0 and hop_length > 0, got {n_samples}, {hop_length}")
    return 1 + n_samples // hop_length


@lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """The (n_mels, 1 + n_fft // 2) Slaney-normalised mel filter bank, 0 Hz to sr/2.

    ``norm='slaney'`` (area-normalised triangles) and the Slaney mel scale (``htk=False``) are
    passed explicitly because they are what the authors' librosa version used by default.
    Cached because it is the same for every clip.
    """
    bank = librosa.filters.mel(
        sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=sample_rate / 2.0,
        htk=False, norm="slaney", dtype=np.float32,
    )
    bank.setflags(write=False)
    return bank


def log_mel_energies(audio: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Log mel-band energies of a mono clip, shape (T, n_mels), float32.

    ``audio`` must already be at ``cfg.sample_rate`` (see :func:`load_audio`). The magnitude
    (power 1) spectrum is used, as in the authors' code, and ``log(x + cfg.log_eps)`` keeps silent
    bands finite. With ``cfg.peak_normalise`` the clip is first divided by its peak amplitude,
    which shifts every well-above-eps value by ``-log(peak)``.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"log_mel_energies expects mono audio (1-D), got shape {audio.shape}")
    if audio.size == 0:
        raise ValueError("log_mel_energies got an empty signal")
    if cfg.peak_normalise:
        peak = float(np.max(np.abs(audio)))
        if peak > 0.0:
            audio = audio / np.float32(peak)
    spectrum = np.abs(
        librosa.stft(
            audio, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.n_fft,
            window=cfg.window, center=True, pad_mode="reflect",
        )
    )
    mel = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels) @ spectrum  # (F, T)
    return np.log(mel.T.astype(np.float64) + cfg.log_eps).astype(np.float32)


def extract_features(path: str | PathLike[str], cfg: FeatureConfig) -> np.ndarray:
    """Load one audio file and return its (T, n_mels) log mel-band energies.

    The single entry point the feature cache uses, so every clip goes through the same
    loading (mono, ``cfg.sample_rate``) and the same feature settings.
    """
    return log_mel_energies(load_audio(path, cfg.sample_rate), cfg)


class BandStatistics:
    """Per-band mean and standard deviation of a split's frames, to standardise features with.

    Only used when ``FeatureConfig.standardise`` is on (not the paper's default).
    """

    def __init__(self, mean: np.ndarray, std: np.ndarray):
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        if np.any(self.std <= 0):
            raise ValueError("band statistics need a positive standard deviation in every band")

    def apply(self, features: np.ndarray) -> np.ndarray:
        return (features - self.mean) / self.std

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> "BandStatistics":
        return cls(np.array(data["mean"]), np.array(data["std"]))


def band_statistics(feature_arrays) -> BandStatistics:
    """Mean and standard deviation of every band over all frames of all arrays (float64 sums)."""
    total, total_sq, count = 0.0, 0.0, 0
    for features in feature_arrays:
        frames = np.asarray(features, dtype=np.float64)
        total = total + frames.sum(axis=0)
        total_sq = total_sq + np.square(frames).sum(axis=0)
        count += frames.shape[0]
    if count == 0:
        raise ValueError("band_statistics needs at least one frame")
    mean = total / count
    return BandStatistics(mean, np.sqrt(np.maximum(total_sq / count - mean**2, 0.0)))
