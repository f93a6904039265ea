"""Augmentation that makes clean or studio audio sound recorded, applied before feature extraction.

Rendered audio is dry, noiseless and uncompressed; real recordings are none of these. Each
training file can be rendered ``copies`` more times through a random chain — speed/pitch change,
EQ, a simulated room, compression, noise, polarity — and every copy is cached as features like
the original, so the training loop stays as fast as on plain cached features. Labels move with
the audio: a speed change scales the event times, everything else keeps them where they are (the
room response's direct path is at lag 0).

Plain numpy/scipy: no compiled or GPL dependency. Rooms are simulated statistically (noise with
an exponential decay whose high frequencies die faster), which is what matters for onsets: the
tail that smears attacks and the reverberant energy between notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import signal

__all__ = ["AugmentConfig", "augment_audio"]


@dataclass
class AugmentConfig:
    """Probabilities and ranges of the audio chain (``[augment]`` in a recipe)."""

    copies: int = 0  # augmented renditions per training file, besides the original (0 = off)
    speed_prob: float = 0.5  # resample: tempo and pitch change together, labels scaled
    speed_range: float = 0.06  # ± fraction (0.06 ≈ ± one semitone); never applied to pitched models
    eq_prob: float = 0.7
    eq_bands: int = 3  # random peaking filters (plus one shelf)
    eq_gain_db: float = 9.0  # ± per band
    room_prob: float = 0.5
    rt60_s: tuple[float, float] = (0.15, 1.2)
    direct_to_reverb_db: tuple[float, float] = (-3.0, 15.0)
    compress_prob: float = 0.4
    ratio: tuple[float, float] = (2.0, 8.0)
    noise_prob: float = 0.5
    snr_db: tuple[float, float] = (10.0, 45.0)
    polarity_prob: float = 0.5
    mixup_prob: float = 0.0  # per training crop: add another crop of the batch (done on features)
    mixup_gain_db: tuple[float, float] = (-12.0, 0.0)  # level of the added crop
    mixup_partners: str = "batch"  # "batch": any other crop; "mix": only crops of the [[mix]] sets
    # (e.g. real recordings without the model's classes, added under rendered drums as a backing)


def augment_audio(audio: np.ndarray, sample_rate: int, rng: np.random.Generator, config: AugmentConfig, *,
                  allow_pitch: bool = True) -> tuple[np.ndarray, float]:
    """One random rendition of mono ``audio``; returns it and the factor to multiply label times by."""
    x = np.asarray(audio, dtype=np.float64)
    scale = 1.0
    if allow_pitch and rng.random() < config.speed_prob:
        x, scale = change_speed(x, 1.0 + rng.uniform(-config.speed_range, config.speed_range))
    if rng.random() < config.eq_prob:
        x = random_eq(x, sample_rate, rng, bands=config.eq_bands, gain_db=config.eq_gain_db)
    if rng.random() < config.room_prob:
        x = add_room(x, sample_rate, rng, rt60_s=rng.uniform(*config.rt60_s),
                     direct_to_reverb_db=rng.uniform(*config.direct_to_reverb_db))
    if rng.random() < config.compress_prob:
        x = compress(x, sample_rate, ratio=rng.uniform(*config.ratio), threshold_pct=rng.uniform(50, 90),
                     time_s=rng.uniform(0.01, 0.2))
    if rng.random() < config.noise_prob:
        x = add_noise(x, rng, snr_db=rng.uniform(*config.snr_db), colour=rng.choice(["white", "pink", "brown"]))
    if rng.random() < config.polarity_prob:
        x = -x
    return x.astype(np.float32), scale


def change_speed(x: np.ndarray, speed: float) -> tuple[np.ndarray, float]:
    """Play ``speed`` times faster (pitch rises with it); returns audio and the time factor."""
    ratio = Fraction(speed).limit_denominator(200)
    if ratio == 1:
        return x, 1.0
    # n samples become n / speed, played back at the original rate: times scale by 1 / speed.
    y = signal.resample_poly(x, ratio.denominator, ratio.numerator)
    return y, ratio.denominator / ratio.numerator


def random_eq(x: np.ndarray, sample_rate: int, rng: np.random.Generator, *, bands: int, gain_db: float) -> np.ndarray:
    """A few peaking filters at random frequencies plus a low or high shelf: other mics, rooms, mixes."""
    nyquist = sample_rate / 2
    sections = []
    for _ in range(bands):
        freq = float(np.exp(rng.uniform(np.log(60.0), np.log(0.8 * nyquist))))
        sections.append(_peaking(freq, rng.uniform(-gain_db, gain_db), rng.uniform(0.5, 2.5), sample_rate))
    shelf_freq = float(np.exp(rng.uniform(np.log(80.0), np.log(0.6 * nyquist))))
    sections.append(_shelf(shelf_freq, rng.uniform(-gain_db, gain_db), sample_rate, high=bool(rng.random() < 0.5)))
    return signal.sosfilt(np.vstack(sections), x)


def add_room(x: np.ndarray, sample_rate: int, rng: np.random.Generator, *, rt60_s: float,
             direct_to_reverb_db: float) -> np.ndarray:
    """Convolve with a simulated room response whose direct path is at lag 0 (labels stay put)."""
    n = int(rt60_s * sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60_s)  # -60 dB at rt60
    # Air and walls absorb highs first: low-pass the tail progressively in three segments.
    cutoff = rng.uniform(2000.0, 0.45 * sample_rate)
    lowpassed = signal.sosfilt(signal.butter(2, cutoff, fs=sample_rate, output="sos"), tail)
    fade = np.clip(t / max(rt60_s / 3, 1e-3), 0.0, 1.0)
    tail = (1 - fade) * tail + fade * lowpassed
    predelay = int(rng.uniform(0.002, 0.02) * sample_rate)  # first reflections arrive after the direct sound
    tail[:predelay] = 0.0
    energy = np.sqrt(np.sum(tail**2)) + 1e-12
    response = tail / energy * 10 ** (-direct_to_reverb_db / 20)
    response[0] += 1.0
    return signal.fftconvolve(x, response)[: len(x)]


def compress(x: np.ndarray, sample_rate: int, *, ratio: float, threshold_pct: float, time_s: float) -> np.ndarray:
    """Look-ahead compressor (zero-phase RMS level, as in mastering limiters), its threshold at a
    percentile of the clip's level; a causal detector would let every attack through untouched."""
    pole = np.exp(-1 / (time_s * sample_rate))
    power = np.maximum(signal.filtfilt([1 - pole], [1, -pole], x**2), 0.0)
    level_db = 10 * np.log10(np.maximum(power, 1e-12))
    threshold = np.percentile(level_db, threshold_pct)
    over = np.maximum(level_db - threshold, 0.0)
    gain_db = -over * (1 - 1 / ratio)
    y = x * 10 ** (gain_db / 20)
    return y * (np.sqrt(np.mean(x**2)) / (np.sqrt(np.mean(y**2)) + 1e-12))  # make-up to the input loudness


def add_noise(x: np.ndarray, rng: np.random.Generator, *, snr_db: float, colour: str) -> np.ndarray:
    """White, pink or brown noise at ``snr_db`` below the clip's RMS level."""
    noise = rng.standard_normal(len(x))
    if colour != "white":
        spectrum = np.fft.rfft(noise)
        freqs = np.arange(len(spectrum)) + 1.0
        spectrum /= freqs ** (0.5 if colour == "pink" else 1.0)
        noise = np.fft.irfft(spectrum, n=len(x))
    rms = np.sqrt(np.mean(x**2)) + 1e-12
    noise *= rms / (np.sqrt(np.mean(noise**2)) + 1e-12) * 10 ** (-snr_db / 20)
    return x + noise


def _peaking(freq: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """RBJ cookbook peaking EQ as one second-order section."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * freq / sample_rate
    alpha = np.sin(w0) / (2 * q)
    b = [1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a]
    den = [1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a]
    return np.array(b + den) / den[0]


def _shelf(freq: float, gain_db: float, sample_rate: int, *, high: bool) -> np.ndarray:
    """RBJ cookbook shelving filter (slope 1) as one second-order section."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * freq / sample_rate
    alpha = np.sin(w0) / 2 * np.sqrt(2)
    cos, root = np.cos(w0), 2 * np.sqrt(a) * alpha
    sign = -1 if high else 1
    b = [a * ((a + 1) - sign * (a - 1) * cos + root), 2 * sign * a * ((a - 1) - sign * (a + 1) * cos),
         a * ((a + 1) - sign * (a - 1) * cos - root)]
    den = [(a + 1) + sign * (a - 1) * cos + root, -2 * sign * ((a - 1) + sign * (a + 1) * cos),
           (a + 1) + sign * (a - 1) * cos - root]
    return np.array(b + den) / den[0]
