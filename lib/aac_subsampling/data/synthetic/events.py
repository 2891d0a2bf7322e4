"""Procedural sound events for the synthetic corpus, each with its own spectral/temporal signature.

Twelve events: five *impulsive* ones that can be counted (dog bark, bird chirp, bell, knocking, car
horn) and seven *continuous* ones (rain, wind, car engine, footsteps, siren, running water,
applause). Signatures, so that captions are predictable from the audio:

============== ===========================================================================
dog_bark       0.2 s harmonic bursts, f0 380-520 Hz with a rise-fall contour, formant ~1.2 kHz
bird_chirp     0.1 s upward sweeps 3-6.5 kHz
bell           inharmonic partials (f0 600-760 Hz), slow exponential decay
knocking       60 ms damped resonances at ~200 Hz and ~500 Hz plus a click
car_horn       0.35 s two-tone (major third, ~400/500 Hz) buzz rich in harmonics
rain           steady 2-12 kHz hiss with dense crackles
wind           low-pass noise below ~500 Hz with slow gusts
car_engine     harmonic comb on f0 55-75 Hz up to ~1.5 kHz, steady
footsteps      low thuds (< 400 Hz) with a faint scuff every ~0.5 s
siren          tone wailing between ~650 and ~1300 Hz over 1.5-2.5 s
running_water  300-3000 Hz noise with fast flutter and bubbles
applause       dense 10 ms claps in 0.8-5 kHz
============== ===========================================================================

Every function takes a ``numpy.random.Generator`` and no global state, so a clip is a pure
function of its seed. Impulsive events come out with peak 1, continuous ones with RMS 1 (peak at
most ``MAX_CREST``); the corpus generator applies the loudness gains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.fft import next_fast_len
from scipy.signal import fftconvolve

__all__ = ["EventSpec", "EVENTS", "EVENT_NAMES", "IMPULSIVE", "CONTINUOUS", "render_event", "slot_min_seconds"]

Rng = np.random.Generator


def _t(n: int, sr: int) -> np.ndarray:
    return np.arange(n) / sr


def band_noise(rng: Rng, n: int, sr: int, lo: float, hi: float, tilt: float = 0.0) -> np.ndarray:
    """White noise band-passed to [lo, hi] Hz in the frequency domain (smooth 20 % edges), unit RMS.

    ``tilt`` is a spectral slope in dB per octave relative to ``lo`` (negative = darker).
    """
    m = next_fast_len(n, real=True)  # FFT sizes with small prime factors only: several times faster
    spectrum = np.fft.rfft(rng.standard_normal(m))
    freqs = np.fft.rfftfreq(m, 1.0 / sr)
    gain = np.clip((freqs - 0.8 * lo) / (0.2 * lo + 1e-9), 0.0, 1.0) * np.clip(
        (1.2 * hi - freqs) / (0.2 * hi), 0.0, 1.0
    )
    if tilt:
        gain = gain * (np.maximum(freqs, lo) / lo) ** (tilt / 6.02)
    out = np.fft.irfft(spectrum * gain, m)[:n]
    return out / (np.sqrt(np.mean(out**2)) + 1e-12)


def smooth_random(rng: Rng, n: int, sr: int, rate_hz: float, lo: float, hi: float) -> np.ndarray:
    """A random envelope between lo and hi that changes about ``rate_hz`` times per second."""
    points = max(2, int(n / sr * rate_hz) + 2)
    knots = rng.uniform(lo, hi, points)
    return np.interp(np.linspace(0, points - 1, n), np.arange(points), knots)


def _fade(x: np.ndarray, sr: int, seconds: float = 0.04) -> np.ndarray:
    k = min(int(seconds * sr), x.size // 2)
    if k > 0:
        ramp = np.linspace(0.0, 1.0, k)
        x[:k] *= ramp
        x[-k:] *= ramp[::-1]
    return x


_TABLE_SIZE = 4096


def _harmonic(phase: np.ndarray, amplitudes: np.ndarray) -> np.ndarray:
    """sum_k a_k sin(k * phase), read from a one-period wavetable (O(n), not O(n * harmonics))."""
    theta = np.arange(_TABLE_SIZE + 1) * (2 * np.pi / _TABLE_SIZE)
    table = sum(a * np.sin((k + 1) * theta) for k, a in enumerate(amplitudes))
    position = np.mod(phase, 2 * np.pi) * (_TABLE_SIZE / (2 * np.pi))
    index = np.minimum(position.astype(np.int64), _TABLE_SIZE - 1)
    frac = position - index
    return table[index] * (1.0 - frac) + table[index + 1] * frac


def _peak_normalise(x: np.ndarray) -> np.ndarray:
    return x / (np.max(np.abs(x)) + 1e-12)


def _rms_normalise(x: np.ndarray) -> np.ndarray:
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


MAX_CREST = 5.0  # peak / RMS allowed for continuous events after normalisation


def _level_normalise(x: np.ndarray) -> np.ndarray:
    """Unit RMS, unless the peak would exceed ``MAX_CREST``; then peak = MAX_CREST (sparse sounds)."""
    rms = np.sqrt(np.mean(x**2))
    return x / (max(rms, np.max(np.abs(x)) / MAX_CREST) + 1e-12)


def _sparse_bursts(rng: Rng, n: int, sr: int, rate: float, kernel: np.ndarray, sigma: float = 0.5) -> np.ndarray:
    """Poisson impulse train with log-normal amplitudes convolved with ``kernel`` (crackles, claps)."""
    train = np.zeros(n)
    count = rng.poisson(rate * n / sr)
    train[rng.integers(0, n, count)] += rng.lognormal(0.0, sigma, count)
    return fftconvolve(train, kernel)[:n]


# --- impulsive units: (rng, sr) -> one occurrence --------------------------------------------


def dog_bark(rng: Rng, sr: int) -> np.ndarray:
    n = int(rng.uniform(0.17, 0.24) * sr)
    t = _t(n, sr)
    d = n / sr
    f0 = rng.uniform(380, 520) * (1.0 + 0.25 * np.sin(np.pi * t / d)) * (1.0 - 0.15 * t / d)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    k = np.arange(1, 11)
    formant = np.exp(-0.5 * ((k * 450 - 1200) / 700) ** 2) + 0.3
    voiced = _harmonic(phase, formant / k**0.5)
    rough = 0.25 * band_noise(rng, n, sr, 500, 3000) * np.max(np.abs(voiced)) / 3
    env = np.minimum(t / 0.012, 1.0) * np.exp(-3.0 * t / d) * np.sin(np.pi * t / d) ** 0.3
    return _peak_normalise((voiced + rough) * env)


def bird_chirp(rng: Rng, sr: int) -> np.ndarray:
    n = int(rng.uniform(0.08, 0.12) * sr)
    t = _t(n, sr)
    f_start, f_end = rng.uniform(2900, 3400), rng.uniform(5500, 6500)
    freq = f_start * (f_end / f_start) ** (t / t[-1])
    phase = 2 * np.pi * np.cumsum(freq) / sr
    tone = np.sin(phase) + 0.15 * np.sin(2 * phase)
    return _peak_normalise(tone * np.hanning(n))


def bell(rng: Rng, sr: int) -> np.ndarray:
    n = int(1.2 * sr)
    t = _t(n, sr)
    f0 = rng.uniform(600, 760)
    ratios = np.array([0.5, 1.0, 1.19, 1.5, 2.0, 2.74])
    amps = np.array([0.5, 1.0, 0.6, 0.4, 0.7, 0.3])
    taus = np.array([0.9, 0.7, 0.5, 0.45, 0.35, 0.2])
    tone = sum(
        a * np.sin(2 * np.pi * f0 * r * t + rng.uniform(0, 2 * np.pi)) * np.exp(-t / tau)
        for r, a, tau in zip(ratios, amps, taus)
    )
    assert isinstance(tone, np.ndarray)
    k = int(0.03 * sr)
    tone[:k] += 0.3 * band_noise(rng, k, sr, 2000, 8000) * np.exp(-t[:k] / 0.004)  # the strike
    return _peak_normalise(tone * np.minimum(t / 0.002, 1.0))


def knock(rng: Rng, sr: int) -> np.ndarray:
    n = int(0.07 * sr)
    t = _t(n, sr)
    low = np.sin(2 * np.pi * rng.uniform(180, 230) * t) * np.exp(-t / 0.02)
    mid = 0.6 * np.sin(2 * np.pi * rng.uniform(450, 560) * t) * np.exp(-t / 0.012)
    click = 0.4 * band_noise(rng, n, sr, 1000, 4000) * np.exp(-t / 0.002)
    return _peak_normalise((low + mid + click) * np.minimum(t / 0.001, 1.0))


def car_horn(rng: Rng, sr: int) -> np.ndarray:
    n = int(rng.uniform(0.32, 0.38) * sr)
    t = _t(n, sr)
    f1 = rng.uniform(390, 420)
    amps = 1.0 / np.arange(1, 9)
    tone = _harmonic(2 * np.pi * f1 * t, amps) + _harmonic(2 * np.pi * f1 * 1.26 * t, amps)
    env = np.minimum(t / 0.015, 1.0) * np.minimum((t[-1] - t) / 0.02, 1.0)
    return _peak_normalise(tone * env)


# --- continuous stretches: (rng, n, sr) -> n samples ------------------------------------------


def rain(rng: Rng, n: int, sr: int) -> np.ndarray:
    hiss = band_noise(rng, n, sr, 2000, 12000, tilt=-2.0)
    k = int(0.004 * sr)
    drop = band_noise(rng, k, sr, 2500, 9000) * np.exp(-np.arange(k) / (0.001 * sr))
    crackle = _sparse_bursts(rng, n, sr, rate=150.0, kernel=drop, sigma=0.3)
    return _fade(_rms_normalise(hiss + 0.7 * _rms_normalise(crackle)), sr)


def wind(rng: Rng, n: int, sr: int) -> np.ndarray:
    rumble = band_noise(rng, n, sr, 40, 500, tilt=-6.0)
    gusts = smooth_random(rng, n, sr, rate_hz=0.7, lo=0.2, hi=1.0)
    return _fade(_rms_normalise(rumble * gusts), sr)


def car_engine(rng: Rng, n: int, sr: int) -> np.ndarray:
    f0 = rng.uniform(55, 75) * smooth_random(rng, n, sr, rate_hz=0.5, lo=0.97, hi=1.03)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    k = np.arange(1, 26)
    amps = k**-0.6 * np.exp(-0.5 * ((k * 65 - 250) / 500) ** 2)
    tone = _harmonic(phase, amps)
    return _fade(_rms_normalise(tone + 0.1 * band_noise(rng, n, sr, 60, 600) * np.std(tone)), sr)


def footsteps(rng: Rng, n: int, sr: int) -> np.ndarray:
    period = rng.uniform(0.45, 0.6)
    k = int(0.12 * sr)
    tk = _t(k, sr)
    out = np.zeros(n + k)
    onset = rng.uniform(0.05, 0.25)
    while onset * sr < n:
        thud = band_noise(rng, k, sr, 60, 400) * np.exp(-tk / 0.03)
        scuff = 0.25 * band_noise(rng, k, sr, 1500, 4000) * np.exp(-tk / 0.02)
        start = int(onset * sr)
        out[start : start + k] += rng.uniform(0.8, 1.0) * (thud + scuff) * np.minimum(tk / 0.002, 1.0)
        onset += period * rng.uniform(0.96, 1.04)
    return _fade(_rms_normalise(out[:n]), sr, 0.01)


def siren(rng: Rng, n: int, sr: int) -> np.ndarray:
    t = _t(n, sr)
    centre, depth, period = rng.uniform(900, 1000), rng.uniform(300, 350), rng.uniform(1.5, 2.5)
    freq = centre + depth * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(freq) / sr
    return _fade(_rms_normalise(_harmonic(phase, np.array([1.0, 0.35, 0.2, 0.1]))), sr)


def running_water(rng: Rng, n: int, sr: int) -> np.ndarray:
    flow = band_noise(rng, n, sr, 300, 3000) * smooth_random(rng, n, sr, rate_hz=30.0, lo=0.4, hi=1.0)
    k = int(0.015 * sr)
    tk = _t(k, sr)
    bubble = np.sin(2 * np.pi * np.cumsum(np.linspace(500, 1500, k)) / sr) * np.exp(-tk / 0.005)
    bubbles = _sparse_bursts(rng, n, sr, rate=40.0, kernel=bubble)
    return _fade(_rms_normalise(flow + 0.5 * _rms_normalise(bubbles)), sr)


def applause(rng: Rng, n: int, sr: int) -> np.ndarray:
    k = int(0.012 * sr)
    clap = band_noise(rng, k, sr, 800, 5000) * np.exp(-np.arange(k) / (0.003 * sr))
    claps = _sparse_bursts(rng, n, sr, rate=rng.uniform(150, 250), kernel=clap, sigma=0.4)
    return _fade(_rms_normalise(claps), sr)


@dataclass(frozen=True)
class EventSpec:
    """How an event is synthesised and how long it needs.

    Impulsive events are a ``unit`` repeated ``count`` times ``period`` seconds apart (the caption
    counts them); ``active`` is how long one unit sounds before its tail (a bell's decay may ring
    into the next slot). Continuous events fill their slot and need at least ``min_seconds``.
    """

    name: str
    impulsive: bool
    unit: Callable[[Rng, int], np.ndarray] | None = None
    period: float = 0.0
    active: float = 0.0
    stretch: Callable[[Rng, int, int], np.ndarray] | None = None
    min_seconds: float = 1.0


EVENTS: dict[str, EventSpec] = {
    spec.name: spec
    for spec in (
        EventSpec("dog_bark", True, unit=dog_bark, period=0.42, active=0.24),
        EventSpec("bird_chirp", True, unit=bird_chirp, period=0.26, active=0.12),
        EventSpec("bell", True, unit=bell, period=0.5, active=0.35),
        EventSpec("knocking", True, unit=knock, period=0.25, active=0.07),
        EventSpec("car_horn", True, unit=car_horn, period=0.6, active=0.38),
        EventSpec("rain", False, stretch=rain),
        EventSpec("wind", False, stretch=wind),
        EventSpec("car_engine", False, stretch=car_engine),
        EventSpec("footsteps", False, stretch=footsteps),
        EventSpec("siren", False, stretch=siren, min_seconds=1.5),
        EventSpec("running_water", False, stretch=running_water),
        EventSpec("applause", False, stretch=applause),
    )
}
EVENT_NAMES: tuple[str, ...] = tuple(EVENTS)
IMPULSIVE: tuple[str, ...] = tuple(name for name, spec in EVENTS.items() if spec.impulsive)
CONTINUOUS: tuple[str, ...] = tuple(name for name, spec in EVENTS.items() if not spec.impulsive)

LEAD_SECONDS = 0.08  # silence before the first occurrence of an impulsive event in its slot


def slot_min_seconds(name: str, count: int, spacing: float | None = None) -> float:
    """The shortest slot that holds ``count`` occurrences (impulsive) or a recognisable stretch.

    ``spacing``: seconds between occurrences of an impulsive event (default: its ``period``).
    """
    spec = EVENTS[name]
    if spec.impulsive:
        gap = spec.period if spacing is None else spacing
        return LEAD_SECONDS + (count - 1) * gap + spec.active + 0.05
    return spec.min_seconds


def render_event(
    name: str, rng: Rng, n: int, sr: int, count: int = 0, delay: float = 0.0, spacing: float | None = None
) -> tuple[np.ndarray, list[float]]:
    """Audio of one event over a slot of ``n`` samples, and its onsets in seconds from the slot start.

    Impulsive events: ``count`` units (peak 1 each) starting at ``LEAD_SECONDS + delay``, ``spacing``
    seconds apart (default: the event's ``period``; never less, so units stay distinct) plus a
    little jitter; the array may be longer than ``n`` (a decaying tail). Continuous events: exactly ``n``
    samples, RMS 1 with peak at most ``MAX_CREST``, onsets ``[0.0]``.
    """
    spec = EVENTS[name]
    if not spec.impulsive:
        assert spec.stretch is not None
        return _level_normalise(spec.stretch(rng, n, sr)), [0.0]
    assert spec.unit is not None
    if count < 1:
        raise ValueError(f"impulsive event {name!r} needs count >= 1, got {count}")
    gap = spec.period if spacing is None else spacing
    if gap < spec.period:
        raise ValueError(f"spacing {gap} s of {name!r} is below its period {spec.period} s (units would merge)")
    units = [spec.unit(rng, sr) for _ in range(count)]
    onsets = [LEAD_SECONDS + delay + i * gap + float(rng.uniform(0.0, 0.03)) for i in range(count)]
    length = max(n, max(int(o * sr) + u.size for o, u in zip(onsets, units)))
    out = np.zeros(length)
    for onset, unit in zip(onsets, units):
        start = int(onset * sr)
        out[start : start + unit.size] += unit
    return out, onsets
