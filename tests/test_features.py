"""Log mel-band energies: frame counts, loading invariances, window and peak-normalisation switches."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from aac_subsampling.method.config import FeatureConfig
from aac_subsampling.method.features import extract_features, load_audio, log_mel_energies, n_frames

SR = 44100
BAND_LIMIT_HZ = 8000.0


def band_limited_signal(seconds: float, seed: int = 0) -> np.ndarray:
    """Tones plus noise with no energy above BAND_LIMIT_HZ, so 22.05 kHz can represent it exactly."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[np.fft.rfftfreq(n, 1 / SR) > BAND_LIMIT_HZ] = 0
    noise = np.fft.irfft(spectrum, n)
    x = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1234.5 * t) + 0.05 * np.sin(2 * np.pi * 5000 * t)
    return (x + 0.05 * noise / noise.std()).astype(np.float32)


def bands_below(limit_hz: float, cfg: FeatureConfig) -> np.ndarray:
    """Indices of mel bands whose whole triangle lies below ``limit_hz``."""
    edges = librosa.mel_frequencies(cfg.n_mels + 2, fmin=0.0, fmax=cfg.sample_rate / 2, htk=False)
    return np.flatnonzero(edges[2:] < limit_hz)


@pytest.mark.parametrize(("seconds", "expected"), [(15.0, 1292), (30.0, 2584)])
def test_frame_count_matches_paper(seconds: float, expected: int) -> None:
    n = int(seconds * SR)
    assert n_frames(n) == expected
    feats = log_mel_energies(np.zeros(n, dtype=np.float32), FeatureConfig())
    assert feats.shape == (expected, 64)
    assert feats.dtype == np.float32
    assert np.all(np.isfinite(feats))  # silence is log(eps), not -inf


def test_resampled_and_stereo_copies_give_the_same_frames(tmp_path: Path) -> None:
    """A 22.05 kHz copy (resampled back by soxr) and a stereo copy match the 44.1 kHz mono original.

    Tolerance, measured: in mel bands lying wholly below the signal's 8 kHz band limit the
    resampled copy differs by at most 0.02 natural-log units (about 0.09 dB; measured 0.012 in the
    first frame, where the resampler's edge transient sits, and below 0.009 elsewhere, also with
    16-bit storage), and by less than 0.002 on average (measured ~3e-4). Bands above 11.025 kHz hold only
    window leakage at ~-100 dB, where the resampler's stop band differs by up to ~1.2 log units, so they
    are not compared. The stereo
    copy (L = x + d, R = x - d, averaged back to x) matches within 1e-4 everywhere.
    """
    cfg = FeatureConfig()
    x = band_limited_signal(3.0)
    sf.write(tmp_path / "mono44.wav", x, SR, subtype="FLOAT")
    half = librosa.resample(x, orig_sr=SR, target_sr=22050, res_type="soxr_hq")
    sf.write(tmp_path / "mono22.wav", half, 22050, subtype="FLOAT")
    sf.write(tmp_path / "mono22_pcm16.wav", half, 22050, subtype="PCM_16")
    d = (0.1 * np.sin(2 * np.pi * 3000 * np.arange(x.size) / SR)).astype(np.float32)
    sf.write(tmp_path / "stereo44.wav", np.stack([x + d, x - d], axis=1), SR, subtype="FLOAT")

    reference = extract_features(tmp_path / "mono44.wav", cfg)
    low = bands_below(BAND_LIMIT_HZ, cfg)
    assert len(low) > 40
    for name in ("mono22.wav", "mono22_pcm16.wav"):
        other = extract_features(tmp_path / name, cfg)
        assert other.shape == reference.shape, name
        diff = np.abs(other[:, low] - reference[:, low])
        assert diff.max() < 0.02, name
        assert diff.mean() < 0.002, name
    stereo = extract_features(tmp_path / "stereo44.wav", cfg)
    assert np.max(np.abs(stereo - reference)) < 1e-4
    assert load_audio(tmp_path / "stereo44.wav").ndim == 1


def test_hamming_and_hann_windows_differ() -> None:
    x = band_limited_signal(1.0)
    hamming = log_mel_energies(x, FeatureConfig(window="hamming"))
    hann = log_mel_energies(x, FeatureConfig(window="hann"))
    assert hamming.shape == hann.shape
    assert np.max(np.abs(hamming - hann)) > 0.1


def test_peak_normalisation_is_a_log_offset() -> None:
    """Mel magnitudes scale linearly with amplitude, so dividing by the peak adds -log(peak)."""
    x = 0.25 * band_limited_signal(1.0) / np.max(np.abs(band_limited_signal(1.0)))
    peak = float(np.max(np.abs(x)))
    plain = log_mel_energies(x, FeatureConfig())
    normalised = log_mel_energies(x, FeatureConfig(peak_normalise=True))
    low = bands_below(BAND_LIMIT_HZ, FeatureConfig())
    np.testing.assert_allclose(normalised[:, low] - plain[:, low], -np.log(peak), atol=1e-4)


def test_authors_code_variant_combines_hann_and_peak_normalisation() -> None:
    x = band_limited_signal(1.0)
    code = log_mel_energies(x, FeatureConfig.authors_code())
    manual = log_mel_energies(x / np.max(np.abs(x)), FeatureConfig(window="hann"))
    np.testing.assert_allclose(code, manual, atol=1e-5)


def test_unreadable_and_empty_files_are_named(tmp_path: Path) -> None:
    garbage = tmp_path / "not audio.wav"
    garbage.write_bytes(b"this is not a wav file")
    with pytest.raises(ValueError, match="not audio.wav"):
        load_audio(garbage)
    empty = tmp_path / "empty clip.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(ValueError, match="empty clip.wav"):
        extract_features(empty, FeatureConfig())
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        load_audio(tmp_path / "missing.wav")


def test_rejects_multichannel_arrays() -> None:
    with pytest.raises(ValueError, match="mono"):
        log_mel_energies(np.zeros((2, 1000), dtype=np.float32), FeatureConfig())


def test_band_statistics_standardise_every_band() -> None:
    from aac_subsampling.method.features import BandStatistics, band_statistics

    rng = np.random.default_rng(0)
    arrays = [rng.normal(loc=-7.0, scale=2.0, size=(n, 4)).astype(np.float32) for n in (50, 80, 120)]
    stats = band_statistics(arrays)
    joined = np.concatenate(arrays)
    np.testing.assert_allclose(stats.mean, joined.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.std, joined.std(0), rtol=1e-4)
    standardised = np.concatenate([stats.apply(a) for a in arrays])
    np.testing.assert_allclose(standardised.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(standardised.std(0), 1.0, atol=1e-4)
    again = BandStatistics.from_dict(stats.to_dict())
    np.testing.assert_array_equal(again.apply(arrays[0]), stats.apply(arrays[0]))


def test_standardise_is_not_part_of_the_cache_key() -> None:
    assert FeatureConfig(standardise=True).cache_key() == FeatureConfig().cache_key()
    assert FeatureConfig(window="hann").cache_key() != FeatureConfig().cache_key()


# --- bad inputs: truncated files and non-finite samples are named, not featurised quietly ----------


def test_truncated_wav_is_named_with_promised_and_present_frames(tmp_path: Path) -> None:
    """libsndfile clamps a truncated wav's frame count to what is there, so it used to load half a
    clip silently; the header's promise is now checked against the file size."""
    full = tmp_path / "full clip.wav"
    sf.write(full, band_limited_signal(1.0), SR, subtype="PCM_16")
    data = full.read_bytes()
    cut = tmp_path / "cut: half.wav"
    cut.write_bytes(data[: len(data) // 2])
    present = (len(data) // 2 - 44) // 2  # 44-byte header, 2 bytes per frame
    assert sf.info(str(cut)).frames == present  # what soundfile alone reports: no hint of a problem
    for call in (
        lambda: load_audio(cut),
        lambda: load_audio(cut, data=cut.read_bytes()),
        lambda: extract_features(cut, FeatureConfig()),
    ):
        with pytest.raises(ValueError, match=r"cut: half\.wav is truncated") as info:
            call()
        assert f"promises {SR} frames" in str(info.value) and f"only {present}" in str(info.value)
    assert load_audio(full).shape == (SR,)  # a complete file passes
    sf.write(tmp_path / "clip.flac", band_limited_signal(0.5), SR, format="FLAC")  # not a wav: not checked
    assert load_audio(tmp_path / "clip.flac").shape == (SR // 2,)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_named(tmp_path: Path, bad_value: float) -> None:
    """A float wav can hold NaN or inf; librosa then stopped with an error naming no clip."""
    x = band_limited_signal(0.5)
    x[1000] = bad_value
    path = tmp_path / "bad samples #1.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    with pytest.raises(ValueError, match=r"bad samples #1\.wav holds 1 non-finite .* at sample 1000"):
        extract_features(path, FeatureConfig())
    with pytest.raises(ValueError, match="non-finite"):
        log_mel_energies(x, FeatureConfig(peak_normalise=True))
