"""Synthetic drum-like hits with exact ground truth, for tests, demos and the tiny test model.

Three timbres that a small model separates easily: ``low`` (a decaying 60 Hz sine with a
click, kick-like), ``mid`` (a 200 Hz tone plus noise, snare-like) and ``high`` (a short
high-passed noise burst, hi-hat-like). Onsets are the first sample of each hit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .annotations import write_events
from .events import Event, sort_events

TIMBRES = {"low": 36, "mid": 38, "high": 42}  # name → GM note used when written as MIDI


def hit(timbre: str, *, sample_rate: int, rng: np.random.Generator, gain: float = 1.0) -> np.ndarray:
    """One hit of ``timbre`` (about 0.15–0.3 s)."""
    if timbre == "low":
        n = int(0.3 * sample_rate)
        t = np.arange(n) / sample_rate
        freq = 60 * (1 + 1.5 * np.exp(-t * 40))
        wave = np.sin(2 * np.pi * np.cumsum(freq) / sample_rate) * np.exp(-t * 12)
        wave[: int(0.002 * sample_rate)] += rng.normal(0, 0.5, int(0.002 * sample_rate))
    elif timbre == "mid":
        n = int(0.2 * sample_rate)
        t = np.arange(n) / sample_rate
        wave = 0.6 * np.sin(2 * np.pi * 200 * t) * np.exp(-t * 25) + rng.normal(0, 0.5, n) * np.exp(-t * 20)
    elif timbre == "high":
        n = int(0.08 * sample_rate)
        t = np.arange(n) / sample_rate
        noise = rng.normal(0, 1, n)
        wave = np.diff(noise, prepend=0.0) * 0.5 * np.exp(-t * 60)
    else:
        raise ValueError(f"unknown timbre {timbre!r}; choose from {sorted(TIMBRES)}")
    return (gain * wave).astype(np.float32)


def render_hits(
    duration_s: float,
    *,
    sample_rate: int = 24000,
    timbres: tuple[str, ...] = ("low", "high"),
    rate_hz: float = 2.0,
    min_gap_s: float = 0.06,
    noise_level: float = 0.003,
    seed: int = 0,
) -> tuple[np.ndarray, list[Event]]:
    """Audio with random hits of each timbre and the exact events.

    Each timbre gets on average ``rate_hz`` hits per second at random times at least
    ``min_gap_s`` apart (per timbre). Returns float32 audio in [-1, 1] and sorted events.
    """
    rng = np.random.default_rng(seed)
    n = int(duration_s * sample_rate)
    audio = rng.normal(0, noise_level, n).astype(np.float32)
    events = []
    for timbre in timbres:
        times, t = [], rng.uniform(0.05, 0.5)
        while t < duration_s - 0.35:
            times.append(t)
            t += min_gap_s + rng.exponential(1.0 / rate_hz)
        for time_s in times:
            gain = rng.uniform(0.3, 1.0)
            start = int(round(time_s * sample_rate))
            wave = hit(timbre, sample_rate=sample_rate, rng=rng, gain=gain)
            stop = min(n, start + len(wave))
            audio[start:stop] += wave[: stop - start]
            events.append(Event(time_s=start / sample_rate, label=timbre, midi_note=TIMBRES[timbre], velocity=int(20 + 107 * gain)))
    peak = np.abs(audio).max()
    if peak > 0.99:
        audio *= 0.99 / peak
    return audio, sort_events(events)


def write_dataset(
    folder,
    *,
    n_files: int,
    duration_s: float,
    sample_rate: int = 24000,
    timbres: tuple[str, ...] = ("low", "high"),
    seed: int = 0,
    label_jitter_s: float = 0.0,
    **render_options,
) -> list:
    """Write ``n_files`` synthetic clips as ``clip_XX.wav`` + ``clip_XX.csv`` into ``folder``.

    ``label_jitter_s`` moves each written label by N(0, σ²) (the audio stays exact), imitating
    loosely tapped annotations. Returns the exact (unjittered) events of each file.
    """
    import soundfile as sf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 99])
    exact = []
    for index in range(n_files):
        audio, events = render_hits(duration_s, sample_rate=sample_rate, timbres=timbres, seed=seed * 1000 + index, **render_options)
        sf.write(folder / f"clip_{index:02d}.wav", audio, sample_rate, subtype="PCM_16")
        labels = [
            Event(max(0.0, e.time_s + rng.normal(0, label_jitter_s)) if label_jitter_s else e.time_s, e.label, e.midi_note, e.velocity)
            for e in events
        ]
        write_events(sort_events(labels), folder / f"clip_{index:02d}.csv", "csv")
        exact.append(events)
    return exact
