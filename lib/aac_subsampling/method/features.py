"""Log mel-band energies, the encoder's input (paper Section 3.1).

Every clip becomes a (T, F) float32 matrix: magnitude STFT (1024-sample window, hop 512, reflect
padding, ``center=True`` so that T = 1 + floor(N / 512)), 64 Slaney-normalised mel bands from 0 Hz
to sr/2, then the natural ``log(x + eps)``. The window follows :class:`FeatureConfig`: Hamming is the
paper's, Hann the authors' code's; ``peak_normalise`` divides each clip by its peak amplitude first,
as the authors' code did. There is no dataset-level normalisation, as in the paper.
"""

from __future__ import annotations

import io
from functools import lru_cache
from os import PathLike
from pathlib import Path
from typing import BinaryIO

import librosa
import numpy as np
import soundfile as sf

from aac_subsampling.method.config import FeatureConfig

__all__ = [
    "load_audio",
    "wav_frame_counts",
    "check_not_truncated",
    "n_frames",
    "log_mel_energies",
    "extract_features",
    "mel_filterbank",
    "BandStatistics",
    "band_statistics",
]


def wav_frame_counts(handle: BinaryIO, file_size: int) -> tuple[int, int] | None:
    """(frames the header promises, whole frames the file holds) of a RIFF/WAVE file, else None.

    Why parse the header ourselves: libsndfile clamps the frame count of a truncated wav to what is
    there (only its log string says "should be ..."), so ``soundfile`` reads half a clip without a
    word. None when ``handle`` is not a RIFF/WAVE file or its data size is a streaming placeholder
    (0 or 0xFFFFFFFF), i.e. when there is no promise to check.
    """
    handle.seek(0)
    head = handle.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    block_align = 0
    position = 12
    while position + 8 <= file_size:
        handle.seek(position)
        chunk = handle.read(8)
        chunk_id, size = chunk[:4], int.from_bytes(chunk[4:8], "little")
        if chunk_id == b"fmt ":
            fmt = handle.read(min(size, 16))
            block_align = int.from_bytes(fmt[12:14], "little") if len(fmt) >= 14 else 0
        elif chunk_id == b"data":
            if block_align <= 0 or size in (0, 0xFFFFFFFF):
                return None
            return size // block_align, max(0, file_size - position - 8) // block_align
        position += 8 + size + (size & 1)  # chunks are padded to an even length
    return None


def check_not_truncated(path: str | PathLike[str], data: bytes | None = None) -> None:
    """Raise ``ValueError`` naming ``path`` when it is a wav shorter than its header says.

    ``data``: the file's bytes if already read (then the file is not opened again).
    """
    if data is not None:
        counts = wav_frame_counts(io.BytesIO(data), len(data))
    else:
        with open(path, "rb") as handle:
            counts = wav_frame_counts(handle, Path(path).stat().st_size)
    if counts is not None and counts[1] < counts[0]:
        promised, present = counts
        raise ValueError(
            f"audio file {path} is truncated: its header promises {promised} frames but the file holds "
            f"only {present} ({present / promised:.0%}); copy or extract it again"
        )


def load_audio(path: str | PathLike[str], sample_rate: int = 44100, *, data: bytes | None = None) -> np.ndarray:
    """Read an audio file as float32 mono samples at ``sample_rate``.

    Multi-channel files are down-mixed by averaging the channels (what ``librosa.load(mono=True)``
    does); other sample rates are resampled with soxr (high quality), so a 22.05 kHz or stereo copy
    of a clip yields the same features as the 44.1 kHz mono original up to resampling error.

    ``data``: the file's bytes, when the caller has read them already (the feature cache hashes
    them); they are decoded instead of reading ``path`` again, and ``path`` names the clip in errors.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file when it
    cannot be decoded, holds no samples, is a wav shorter than its header says, or holds NaN or
    infinite samples, so one bad clip is identified instead of crashing deep inside the STFT (or,
    for a truncated file, silently giving a shorter clip).
    """
    path = Path(path)
    if data is None and not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    source: str | io.BytesIO = str(path) if data is None else io.BytesIO(data)
    try:
        samples, file_rate = sf.read(source, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise ValueError(f"cannot read audio file {path}: {exc}") from exc
    if samples.shape[0] == 0:
        raise ValueError(f"audio file {path} is empty (0 samples)")
    check_not_truncated(path, data)
    _check_finite(samples, path)
    audio = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]
    if file_rate != sample_rate:
        audio = librosa.resample(audio, orig_sr=file_rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(audio, dtype=np.float32)


def _check_finite(samples: np.ndarray, where: object) -> None:
    """ValueError naming ``where`` when samples hold NaN or inf (float wavs can), which would
    otherwise stop librosa with a message that names no clip."""
    finite = np.isfinite(samples)
    if not finite.all():
        bad = np.flatnonzero(~finite.all(axis=1) if finite.ndim == 2 else ~finite)
        raise ValueError(
            f"audio {where} holds {bad.size} non-finite (NaN or infinite) sample(s), the first at "
            f"sample {int(bad[0])}; fix or remove the clip"
        )


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
        sr=sample_rate,
        n_fft=n_fft,
        n_mels=n_mels,
        fmin=0.0,
        fmax=sample_rate / 2.0,
        htk=False,
        norm="slaney",
        dtype=np.float32,
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
    _check_finite(audio, "signal given to log_mel_energies")
    if cfg.peak_normalise:
        peak = float(np.max(np.abs(audio)))
        if peak > 0.0:
            audio = audio / np.float32(peak)
    spectrum = np.abs(
        librosa.stft(
            audio,
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            win_length=cfg.n_fft,
            window=cfg.window,
            center=True,
            pad_mode="reflect",
        )
    )
    mel = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels) @ spectrum  # (F, T)
    return np.log(mel.T.astype(np.float64) + cfg.log_eps).astype(np.float32)


def extract_features(path: str | PathLike[str], cfg: FeatureConfig, *, data: bytes | None = None) -> np.ndarray:
    """Load one audio file and return its (T, n_mels) log mel-band energies.

    The single entry point the feature cache uses, so every clip goes through the same
    loading (mono, ``cfg.sample_rate``, the checks of :func:`load_audio`) and the same feature
    settings. ``data``: the file's bytes if already read (see :func:`load_audio`).
    """
    return log_mel_energies(load_audio(path, cfg.sample_rate, data=data), cfg)


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
    def from_dict(cls, data: dict[str, list[float]]) -> BandStatistics:
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
