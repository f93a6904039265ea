"""Shared helpers for the data-rendering scripts (``render_drums.py``, ``render_onsets.py``).

Conventions
-----------
- Audio is mono ``float32`` at the target sample rate ``sr``; positions are integer samples at
  that rate; public times are seconds.
- Every label is an *acoustic* onset: the sample at which a sound is triggered plus that sound's
  measured lead-in. The lead-in of a sound is measured on the sound rendered alone: the first
  sample whose magnitude reaches ``LEAD_IN_THRESHOLD_DB`` (-30 dB) relative to that sound's own
  peak (see :func:`measure_lead_in`). Recorded drum samples start 0-30 ms before their attack.
- FluidSynth applies a MIDI event at the start of its next internal 64-sample block. We render in
  whole blocks and snap every event to a block boundary, so an event scheduled at sample ``p``
  (a multiple of 64) starts sounding exactly at ``p`` and its label is ``p + lead_in``.
- Output clips are 16-bit FLAC files with a sidecar CSV ``time_s,class,midi_note,velocity``
  (4 decimals), written atomically (temporary file in the target directory, then ``os.replace``).

This module installs nothing. :func:`missing_requirements` lists what is absent so that a script
can name the Debian packages and exit 2.
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import json
import math
import os
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

DEBIAN_PACKAGES = (
    "hydrogen-drumkits hydrogen-data avldrums.lv2-soundfont fluid-soundfont-gm "
    "timgm6mb-soundfont fluidsynth"
)
HYDROGEN_DIR = Path("/usr/share/hydrogen/data/drumkits")
SF2_DIR = Path("/usr/share/sounds/sf2")
SOUND_FONTS = {
    "FluidR3_GM": SF2_DIR / "FluidR3_GM.sf2",
    "TimGM6mb": SF2_DIR / "TimGM6mb.sf2",
    "Black_Pearl_4_LV2": SF2_DIR / "Black_Pearl_4_LV2.sf2",
    "Red_Zeppelin_4_LV2": SF2_DIR / "Red_Zeppelin_4_LV2.sf2",
}
# Source MIDI (Groove MIDI, piano-midi.de); relative to the project root, overridable.
SHARED_DATA = Path(os.environ.get("SOFTLOC_SOURCE_DATA", "../shared/data"))
CACHE_DIR_DEFAULT = Path("data/cache")

LEAD_IN_THRESHOLD_DB = -30.0  # dB re the sound's own peak; -40 dB catches pre-noise, -20 dB is late
BLOCK = 64  # FluidSynth's internal block (FLUID_BUFSIZE), in samples


def add_common_args(ap, *, out_dir: str, hours: tuple[float, float, float]) -> None:
    """The command-line options both render scripts share (output, rate, seed, budgets, clips)."""
    ap.add_argument("-o", "--out-dir", type=Path, default=Path(out_dir))
    ap.add_argument("--sample-rate", type=int, default=24000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hours-train", type=float, default=hours[0])
    ap.add_argument("--hours-val", type=float, default=hours[1])
    ap.add_argument("--hours-test", type=float, default=hours[2])
    ap.add_argument("--clip-min", type=float, default=20.0, help="shortest clip, seconds")
    ap.add_argument("--clip-max", type=float, default=40.0, help="longest clip, seconds")
    ap.add_argument("--cache-dir", type=Path, default=CACHE_DIR_DEFAULT)
    ap.add_argument("--skip-check", action="store_true", help="do not run the held-out sample check")
    ap.add_argument("--overwrite", action="store_true", help="re-render clips that already exist")
    ap.add_argument("-q", "--quiet", action="store_true")


# ----------------------------------------------------------------------------- requirements

def missing_requirements(*, hydrogen_kits: list[str] = (), sound_fonts: list[str] = ()) -> list[str]:
    """Names of required things that are absent (empty list: all present)."""
    missing = []
    try:
        import fluidsynth  # noqa: F401
        _fluid_write_float()
    except Exception as exc:  # ImportError, OSError (libfluidsynth missing), AttributeError
        missing.append(f"FluidSynth library / pyfluidsynth ({exc.__class__.__name__}: {exc})")
    for kit in hydrogen_kits:
        if not (HYDROGEN_DIR / kit / "drumkit.xml").is_file():
            missing.append(f"Hydrogen kit {HYDROGEN_DIR / kit}/drumkit.xml")
    for name in sound_fonts:
        if not SOUND_FONTS[name].is_file():
            missing.append(f"sound font {SOUND_FONTS[name]}")
    return missing


def exit_missing(missing: list[str], *, packages: str = DEBIAN_PACKAGES) -> None:
    """Print what is missing and the Debian ``packages`` that provide it, then exit 2."""
    print("error: rendering needs files that are not installed:", file=sys.stderr)
    for item in missing:
        print(f"  - {item}", file=sys.stderr)
    print(f"Install them with: sudo apt-get install {packages}", file=sys.stderr)
    print("(and `pip install pyfluidsynth` in the Python environment)", file=sys.stderr)
    sys.exit(2)


# ----------------------------------------------------------------------------- audio basics

def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling of a 1-D signal (exact rational ratio)."""
    if sr_in == sr_out:
        return x.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    ratio = Fraction(sr_out, sr_in).limit_denominator(1000)
    return resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)


def measure_lead_in(x: np.ndarray, threshold_db: float = LEAD_IN_THRESHOLD_DB) -> int:
    """Samples from the start of ``x`` to its acoustic onset; -1 when ``x`` is silent.

    The onset is the first sample whose magnitude reaches ``threshold_db`` relative to the peak
    magnitude of ``x`` (``x`` holds one sound rendered alone, starting at its trigger).
    """
    a = np.abs(x)
    peak = float(a.max()) if a.size else 0.0
    if peak < 1e-6:
        return -1
    return int(np.argmax(a >= peak * 10.0 ** (threshold_db / 20.0)))


def trim_tail(x: np.ndarray, floor_db: float = -70.0) -> np.ndarray:
    """Drop the trailing part of a one-shot that stays below ``floor_db`` re its peak."""
    a = np.abs(x)
    peak = float(a.max()) if a.size else 0.0
    if peak == 0.0:
        return x[:1]
    above = np.nonzero(a >= peak * 10.0 ** (floor_db / 20.0))[0]
    end = min(len(x), int(above[-1]) + 64)
    out = x[:end].copy()
    fade = min(256, len(out))
    out[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return out


def pitch_shift_resample(x: np.ndarray, semitones: float) -> np.ndarray:
    """Change pitch and length together (tape-style) by linear interpolation."""
    if abs(semitones) < 1e-3:
        return x
    rate = 2.0 ** (semitones / 12.0)
    n_out = max(1, int(len(x) / rate))
    pos = np.arange(n_out, dtype=np.float64) * rate
    return np.interp(pos, np.arange(len(x)), x).astype(np.float32)


def rms_db(x: np.ndarray) -> float:
    return 10.0 * math.log10(float(np.mean(np.square(x, dtype=np.float64))) + 1e-20)


def active_rms_db(x: np.ndarray, sr: int) -> float:
    """RMS level (dBFS) over the louder half of 50 ms frames (ignores silent stretches)."""
    hop = max(1, int(0.05 * sr))
    n = len(x) // hop
    if n < 2:
        return rms_db(x)
    frames = np.square(x[: n * hop].astype(np.float64)).reshape(n, hop).mean(1)
    frames = np.sort(frames)[n // 2:]
    return 10.0 * math.log10(float(frames.mean()) + 1e-20)


# ----------------------------------------------------------------------------- effects

def biquad(kind: str, f0: float, sr: int, *, gain_db: float = 0.0, q: float = 0.707) -> tuple:
    """RBJ audio-EQ-cookbook biquad coefficients (b, a) for peaking/lowshelf/highshelf/lp/hp."""
    f0 = min(f0, 0.45 * sr)
    amp = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * f0 / sr
    cw, sw = math.cos(w0), math.sin(w0)
    alpha = sw / (2.0 * q)
    if kind == "peaking":
        b = [1 + alpha * amp, -2 * cw, 1 - alpha * amp]
        a = [1 + alpha / amp, -2 * cw, 1 - alpha / amp]
    elif kind in ("lowshelf", "highshelf"):
        sq = 2.0 * math.sqrt(amp) * alpha
        s = 1.0 if kind == "lowshelf" else -1.0
        b = [amp * ((amp + 1) - s * (amp - 1) * cw + sq),
             s * 2 * amp * ((amp - 1) - s * (amp + 1) * cw),
             amp * ((amp + 1) - s * (amp - 1) * cw - sq)]
        a = [(amp + 1) + s * (amp - 1) * cw + sq,
             -s * 2 * ((amp - 1) + s * (amp + 1) * cw),
             (amp + 1) + s * (amp - 1) * cw - sq]
    elif kind == "lowpass":
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "highpass":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    else:
        raise ValueError(f"unknown biquad kind {kind!r}")
    return np.array(b) / a[0], np.array(a) / a[0]


def random_eq(rng: np.random.Generator, sr: int) -> list[tuple]:
    """A random EQ: low shelf, one or two peaking bands, high shelf, sometimes a high cut."""
    bands = [("lowshelf", float(rng.uniform(80, 250)), float(rng.uniform(-6, 6)), 0.707),
             ("highshelf", float(rng.uniform(3000, 9000)), float(rng.uniform(-9, 4)), 0.707)]
    for _ in range(int(rng.integers(1, 3))):
        bands.append(("peaking", float(np.exp(rng.uniform(np.log(200), np.log(6000)))),
                      float(rng.uniform(-6, 6)), float(rng.uniform(0.5, 2.0))))
    if rng.random() < 0.25:
        bands.append(("lowpass", float(rng.uniform(5000, 10000)), 0.0, 0.707))
    return bands


def apply_eq(x: np.ndarray, bands: list[tuple], sr: int) -> np.ndarray:
    from scipy.signal import lfilter

    y = x.astype(np.float64)
    for kind, f0, gain_db, q in bands:
        b, a = biquad(kind, f0, sr, gain_db=gain_db, q=q)
        y = lfilter(b, a, y)
    return y.astype(np.float32)


def room_ir(rng: np.random.Generator, sr: int, *, rt60_s: float, predelay_s: float,
            wet_db: float) -> np.ndarray:
    """Synthetic room impulse response: unit direct path, then exponentially decaying noise.

    The direct sound stays at sample 0 so onsets do not move; the tail starts after
    ``predelay_s`` and its energy relative to the direct path is ``wet_db``.
    """
    n = int((predelay_s + rt60_s) * sr) + 1
    t = np.arange(n - int(predelay_s * sr)) / sr
    tail = rng.standard_normal(len(t)) * np.exp(-6.9078 * t / rt60_s)  # -60 dB at rt60
    # darker tail: one-pole low-pass with a random cutoff
    from scipy.signal import lfilter

    c = math.exp(-2 * math.pi * float(rng.uniform(2000, 8000)) / sr)
    tail = lfilter([1 - c], [1, -c], tail)
    tail *= 10 ** (wet_db / 20) / (np.sqrt(np.sum(tail ** 2)) + 1e-12)
    ir = np.zeros(n, np.float64)
    ir[0] = 1.0
    ir[n - len(tail):] += tail
    return ir.astype(np.float32)


def convolve_same(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    from scipy.signal import fftconvolve

    return fftconvolve(x, ir)[: len(x)].astype(np.float32)


def compress(x: np.ndarray, sr: int, *, threshold_db: float, ratio: float, attack_s: float,
             release_s: float, makeup_db: float = 0.0) -> np.ndarray:
    """Feed-forward peak compressor; ``threshold_db`` is relative to the signal's peak.

    The envelope follows 1 ms block maxima with separate attack and release time constants.
    """
    hop = max(1, int(0.001 * sr))
    n = (len(x) + hop - 1) // hop
    pad = np.zeros(n * hop, np.float32)
    pad[: len(x)] = np.abs(x)
    env_in = pad.reshape(n, hop).max(1)
    a_att = math.exp(-0.001 / max(attack_s, 1e-4))
    a_rel = math.exp(-0.001 / max(release_s, 1e-4))
    env = np.empty(n)
    e = 0.0
    for i, v in enumerate(env_in.tolist()):
        e = a_att * e + (1 - a_att) * v if v > e else a_rel * e + (1 - a_rel) * v
        env[i] = e
    thr = 20 * math.log10(float(env_in.max()) + 1e-9) + threshold_db
    over = np.maximum(20 * np.log10(env + 1e-9) - thr, 0.0)
    gain = 10 ** ((-over * (1.0 - 1.0 / ratio) + makeup_db) / 20)
    g = np.interp(np.arange(len(x)) / hop, np.arange(n), gain).astype(np.float32)
    return x * g


def effect_params(rng: np.random.Generator, sr: int, *, p_reverb: float = 0.6,
                  p_eq: float = 0.6, p_comp: float = 0.4, p_noise: float = 0.5) -> dict:
    """Random effect settings for one clip (a JSON-able dict)."""
    params: dict = {}
    if rng.random() < p_reverb:
        params["reverb"] = {"rt60_s": round(float(rng.uniform(0.15, 1.2)), 3),
                            "predelay_s": round(float(rng.uniform(0.003, 0.025)), 4),
                            "wet_db": round(float(rng.uniform(-18, -4)), 1),
                            "seed": int(rng.integers(1 << 31))}
    if rng.random() < p_eq:
        params["eq"] = [(k, round(f, 1), round(g, 1), round(q, 2)) for k, f, g, q in random_eq(rng, sr)]
    if rng.random() < p_comp:
        params["compressor"] = {"threshold_db": round(float(rng.uniform(-20, -6)), 1),  # re peak
                                "ratio": round(float(rng.uniform(2, 6)), 2),
                                "attack_s": round(float(rng.uniform(0.002, 0.02)), 4),
                                "release_s": round(float(rng.uniform(0.05, 0.3)), 3)}
    if rng.random() < p_noise:
        params["noise_db"] = round(float(rng.uniform(-75, -45)), 1)  # dBFS, after level setting
    params["level_db"] = round(float(rng.uniform(-30, -14)), 1)  # target active RMS, dBFS
    return params


def apply_effects(x: np.ndarray, params: dict, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Reverb, EQ, compression, level and noise floor, as chosen by :func:`effect_params`."""
    y = x
    if "reverb" in params:
        r = params["reverb"]
        ir = room_ir(np.random.default_rng(r["seed"]), sr, rt60_s=r["rt60_s"],
                     predelay_s=r["predelay_s"], wet_db=r["wet_db"])
        y = convolve_same(y, ir)
    if "eq" in params:
        y = apply_eq(y, [tuple(b) for b in params["eq"]], sr)
    if "compressor" in params:
        c = params["compressor"]
        y = compress(y, sr, threshold_db=c["threshold_db"], ratio=c["ratio"],
                     attack_s=c["attack_s"], release_s=c["release_s"])
    y = y * np.float32(10 ** ((params["level_db"] - active_rms_db(y, sr)) / 20))
    if "noise_db" in params:
        noise = rng.standard_normal(len(y)).astype(np.float32)
        if rng.random() < 0.5:  # pink-ish hum/hiss: one-pole low-pass
            from scipy.signal import lfilter
            noise = lfilter([0.1], [1, -0.9], noise).astype(np.float32)
            noise /= np.float32(np.sqrt(np.mean(noise ** 2)) + 1e-9)
        y = y + noise * np.float32(10 ** (params["noise_db"] / 20))
    peak = float(np.abs(y).max()) if len(y) else 0.0
    if peak > 0.99:
        y = y * np.float32(0.99 / peak)
    return y.astype(np.float32)


# ----------------------------------------------------------------------------- FluidSynth

_WRITE_FLOAT = None


def _fluid_write_float():
    global _WRITE_FLOAT
    if _WRITE_FLOAT is None:
        import fluidsynth

        fn = fluidsynth._fl.fluid_synth_write_float
        fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                       ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        fn.restype = ctypes.c_int
        _WRITE_FLOAT = fn
    return _WRITE_FLOAT


class _QuietStderr:
    """Silence C-level stderr (FluidSynth prints one line per failed preset lookup)."""

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(self._null, 2)

    def __exit__(self, *exc):
        os.dup2(self._saved, 2)
        os.close(self._saved)
        os.close(self._null)


@dataclass(frozen=True)
class MidiEvent:
    """One MIDI event at sample ``pos`` (snapped to a 64-sample block by the renderer)."""

    pos: int
    kind: str  # "on", "off", "cc", "program"
    chan: int
    a: int = 0  # note / controller / program
    b: int = 0  # velocity / value / bank


class FluidRenderer:
    """Float-precision FluidSynth rendering with block-exact event timing and lead-in cache.

    One synth holds all sound fonts; FluidSynth's own reverb and chorus are off (effects are ours).
    """

    def __init__(self, sr: int, fonts: dict[str, Path], *, cache_dir: Path | None = None):
        import fluidsynth

        self.sr = sr
        settings = {"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": 1024,
                    "synth.cpu-cores": 1}
        with _QuietStderr():
            self.synth = fluidsynth.Synth(gain=0.5, samplerate=float(sr), **settings)
            self.sfid = {name: self.synth.sfload(str(path)) for name, path in fonts.items()}
        self._write = _fluid_write_float()
        self.cache_dir = cache_dir
        self._lead: dict[str, dict[str, int]] = {}
        self._dirty: set[str] = set()
        self._pos = 0  # samples rendered so far; always a multiple of BLOCK

    # -- raw rendering
    def _render(self, n: int) -> np.ndarray:
        if n <= 0:
            return np.zeros(0, np.float32)
        assert n % BLOCK == 0 and self._pos % BLOCK == 0
        buf = np.zeros((n, 2), np.float32)
        p = buf.ctypes.data
        self._write(self.synth.synth, n, p, 0, 2, p + 4, 0, 2)
        self._pos += n
        return buf.mean(1)

    def _silence(self) -> None:
        for ch in range(16):
            self.synth.cc(ch, 123, 0)  # all notes off
            self.synth.cc(ch, 120, 0)  # all sounds off
            self.synth.cc(ch, 64, 0)
        for _ in range(400):
            x = self._render(BLOCK * 4)
            if self.synth.get_active_voice_count() == 0 and not np.any(x):
                break

    def preset_exists(self, font: str, bank: int, preset: int) -> bool:
        return bool(self.synth.sfpreset_name(self.sfid[font], bank, preset))

    def select(self, chan: int, font: str, bank: int, preset: int) -> None:
        with _QuietStderr():
            rc = self.synth.program_select(chan, self.sfid[font], bank, preset)
        if rc != 0:
            raise ValueError(f"{font} has no preset bank={bank} program={preset}")

    def _send(self, ev: MidiEvent) -> None:
        s = self.synth
        if ev.kind == "on":
            s.noteon(ev.chan, ev.a, ev.b)
        elif ev.kind == "off":
            s.noteoff(ev.chan, ev.a)
        elif ev.kind == "cc":
            s.cc(ev.chan, ev.a, ev.b)
        else:
            raise ValueError(ev.kind)

    def render(self, events: list[MidiEvent], n_samples: int,
               programs: dict[int, tuple[str, int, int]]) -> np.ndarray:
        """Render ``events`` into ``n_samples`` of mono audio.

        ``programs`` maps channel -> (font, bank, preset). Event positions must be multiples of
        64 (use :func:`snap`); they then sound exactly at ``pos``.
        """
        self._silence()
        with _QuietStderr():
            self.synth.system_reset()
        for chan, (font, bank, preset) in programs.items():
            self.select(chan, font, bank, preset)
        order = sorted(events, key=lambda e: (e.pos, 0 if e.kind in ("off", "cc") else 1))
        out = []
        cur = 0
        for ev in order:
            if ev.pos % BLOCK:
                raise ValueError(f"event position {ev.pos} is not a multiple of {BLOCK}")
            if ev.pos >= n_samples:
                break
            if ev.pos > cur:
                out.append(self._render(ev.pos - cur))
                cur = ev.pos
            self._send(ev)
        total = snap_up(n_samples)
        out.append(self._render(total - cur))
        audio = np.concatenate(out)[:n_samples]
        self._silence()
        return audio

    # -- lead-in measurement
    def _cache_file(self, font: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"leadin_{font}_{self.sr}.json"

    def _font_cache(self, font: str) -> dict[str, int]:
        if font not in self._lead:
            data = {}
            f = self._cache_file(font)
            if f is not None and f.is_file():
                try:
                    data = json.loads(f.read_text())
                except (OSError, ValueError):
                    data = {}
            self._lead[font] = data
        return self._lead[font]

    def lead_ins(self, font: str, bank: int, preset: int,
                 keys: set[tuple[int, int]], *, window_s: float = 0.4) -> dict[tuple[int, int], int]:
        """Lead-in in samples of each (note, velocity) of one preset; -1 means silent.

        Each missing entry is measured by rendering that note alone from a block boundary.
        Results persist in ``cache_dir`` (one JSON file per sound font and sample rate).
        """
        cache = self._font_cache(font)
        todo = [(n, v) for n, v in keys if f"{bank}:{preset}:{n}:{v}" not in cache]
        if todo:
            self._silence()
            with _QuietStderr():
                self.synth.system_reset()
            chan = 9 if bank == 128 else 0
            self.select(chan, font, bank, preset)
            n_win = snap_up(int(window_s * self.sr))
            for note, vel in sorted(todo):
                self._silence()
                self.synth.noteon(chan, note, vel)
                x = self._render(n_win)
                self.synth.noteoff(chan, note)
                cache[f"{bank}:{preset}:{note}:{vel}"] = measure_lead_in(x)
            self._silence()
            self._dirty.add(font)
        return {(n, v): cache[f"{bank}:{preset}:{n}:{v}"] for n, v in keys}

    def save_cache(self) -> None:
        for font in sorted(self._dirty):
            f = self._cache_file(font)
            if f is None:
                continue
            f.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(f, json.dumps(self._lead[font], sort_keys=True))
        self._dirty.clear()


def snap(pos: float) -> int:
    """Nearest multiple of the FluidSynth block."""
    return int(round(pos / BLOCK)) * BLOCK


def snap_up(n: int) -> int:
    return ((n + BLOCK - 1) // BLOCK) * BLOCK


# ----------------------------------------------------------------------------- sample hashing

def sf2_samples(path: Path) -> list[tuple[str, int, np.ndarray]]:
    """(name, sample_rate, int16 data) of every sample in an SF2 file (RIFF 'smpl' + 'shdr')."""
    data = path.read_bytes()
    smpl = shdr = None
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if cid == b"LIST":
            sub = pos + 12
            end = pos + 8 + size
            while sub + 8 <= end:
                sid, ssize = data[sub:sub + 4], struct.unpack("<I", data[sub + 4:sub + 8])[0]
                if sid == b"smpl":
                    smpl = np.frombuffer(data, dtype="<i2", count=ssize // 2, offset=sub + 8)
                elif sid == b"shdr":
                    shdr = data[sub + 8:sub + 8 + ssize]
                sub += 8 + ssize + (ssize & 1)
        pos += 8 + size + (size & 1)
    if smpl is None or shdr is None:
        raise ValueError(f"{path}: no smpl/shdr chunk (SF3 or damaged file?)")
    out = []
    for i in range(len(shdr) // 46 - 1):  # last record is the terminal 'EOS'
        rec = shdr[i * 46:(i + 1) * 46]
        name = rec[:20].split(b"\0")[0].decode("latin-1")
        start, end, _, _, rate = struct.unpack("<5I", rec[20:40])
        stype = struct.unpack("<H", rec[44:46])[0]
        if stype & 0x8000 or end <= start:
            continue
        out.append((name, int(rate), np.asarray(smpl[start:end])))
    return out


def pcm_hashes(x_int16: np.ndarray) -> set[str]:
    """SHA-1 of the whole PCM block and of each channel (a stereo file may reuse a mono one)."""
    x = np.ascontiguousarray(x_int16)
    hs = {hashlib.sha1(x.tobytes()).hexdigest()}
    if x.ndim == 2:
        for c in range(x.shape[1]):
            hs.add(hashlib.sha1(np.ascontiguousarray(x[:, c]).tobytes()).hexdigest())
    return hs


def fingerprint(x: np.ndarray, sr: int, *, fp_sr: int = 8000, dur_s: float = 0.25) -> np.ndarray | None:
    """Unit-norm 0.25 s excerpt at 8 kHz starting at the acoustic onset (near-duplicate check)."""
    x = x.astype(np.float32)
    if x.ndim == 2:
        x = x.mean(1)
    lead = measure_lead_in(x)
    if lead < 0:
        return None
    seg = x[lead: lead + int(dur_s * sr) + 16]
    seg = resample(seg, sr, fp_sr)[: int(dur_s * fp_sr)]
    v = np.zeros(int(dur_s * fp_sr), np.float32)
    v[: len(seg)] = seg
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else None


def sf2_source(font: str):
    """(name, rate, int16 PCM) of every sample of a sound font, for :func:`sample_overlap`."""
    for name, rate, data in sf2_samples(SOUND_FONTS[font]):
        yield f"{font}/{name}", rate, data


def file_source(label: str, paths):
    """(name, rate, int16 PCM) of audio files, for :func:`sample_overlap`."""
    import soundfile as sf

    for p in sorted(set(paths)):
        x16, sr = sf.read(p, always_2d=True, dtype="int16")
        yield f"{label}/{Path(p).name}", sr, x16


def sample_overlap(train_sources: list, held_sources: dict[str, list], *,
                   near_threshold: float = 0.95) -> dict:
    """Compare held-out samples with training samples: identical PCM and near-duplicates.

    Identity is the SHA-1 of the int16 PCM (whole file and each channel); near-duplicates are
    pairs whose onset-aligned 0.25 s fingerprints (8 kHz) have cosine >= ``near_threshold``.
    """
    def collect(sources):
        hashes, fps, names = {}, [], []
        for src in sources:
            for name, rate, x16 in src:
                for h in pcm_hashes(x16):
                    hashes.setdefault(h, name)
                fp = fingerprint(x16.astype(np.float32) / 32768.0, rate)
                if fp is not None:
                    fps.append(fp)
                    names.append(name)
        return hashes, (np.stack(fps) if fps else np.zeros((0, 1), np.float32)), names

    t_hash, t_fp, t_names = collect(train_sources)
    report = {"n_train_samples": len(t_names), "kits": {}}
    for kit, srcs in held_sources.items():
        h_hash, h_fp, h_names = collect(srcs)
        exact = sorted({(h_hash[h], t_hash[h]) for h in h_hash if h in t_hash})
        sims = h_fp @ t_fp.T if len(h_names) and len(t_names) else np.zeros((0, 0))
        best = sims.max(1) if sims.size else np.zeros(0)
        near = [(h_names[i], t_names[int(sims[i].argmax())], round(float(best[i]), 3))
                for i in np.nonzero(best >= near_threshold)[0]]
        report["kits"][kit] = {"n_samples": len(h_names), "identical": len(exact),
                               "identical_examples": exact[:5], "near_duplicates": len(near),
                               "near_examples": near[:5],
                               "max_similarity": round(float(best.max()) if best.size else 0.0, 3)}
    return report


# Near-duplicates accepted because the sound is never rendered (GM program 122 "Seashore" effect).
IGNORED_NEAR = {("TimGM6mb/OceanWaves", "FluidR3_GM/Sea Shore")}


def print_overlap(report: dict) -> bool:
    """Print the check on stderr; True when no held-out sample is shared with training."""
    ok = True
    print(f"held-out check against {report['n_train_samples']} training samples "
          f"(SHA-1 of PCM per file and per channel; onset-aligned 0.25 s fingerprint, cosine):",
          file=sys.stderr)
    for kit, r in report["kits"].items():
        ignored = [ex for ex in r["near_examples"] if tuple(ex[:2]) in IGNORED_NEAR]
        n_near = r["near_duplicates"] - len(ignored)
        status = "OK" if r["identical"] == 0 and n_near == 0 else "SHARED"
        if ignored and status == "OK":
            status = f"OK (ignored {len(ignored)} unused sound effect)"
        ok &= status.startswith("OK")
        print(f"  {kit}: {r['n_samples']} samples, {r['identical']} identical, "
              f"{r['near_duplicates']} near-duplicates (max cosine {r['max_similarity']}) -> {status}",
              file=sys.stderr)
        for ex in r["identical_examples"] + r["near_examples"]:
            print(f"      {ex}", file=sys.stderr)
    return ok


# ----------------------------------------------------------------------------- piano-midi

# Held-out composers (MAPS-style split by composer) for the piano-midi.de pieces.
PIANO_VALIDATION_COMPOSERS = ("Grieg", "Haydn", "Borodin")
PIANO_TEST_COMPOSERS = ("Schumann", "Debussy", "Albeniz")


def piano_split(composer: str) -> str:
    if composer in PIANO_VALIDATION_COMPOSERS:
        return "validation"
    if composer in PIANO_TEST_COMPOSERS:
        return "test"
    return "train"


@dataclass
class Piece:
    composer: str
    title: str
    path: Path
    duration_s: float
    split: str


def piano_pieces(root: Path = SHARED_DATA / "piano-midi", *, min_duration_s: float = 0.0) -> list[Piece]:
    pieces = []
    with open(root / "metadata.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            dur = float(row["duration"])
            if dur < min_duration_s:
                continue
            path = _find_case_insensitive(root / row["midi"])
            if path is None:
                continue
            pieces.append(Piece(row["composer"], row["title"], path, dur, piano_split(row["composer"])))
    return pieces


def _find_case_insensitive(path: Path) -> Path | None:
    """``path``, or the file in its folder whose name differs only in case (metadata.csv lists
    schubert_D850_*.mid for schubert_d850_*.mid); None when absent."""
    if path.is_file():
        return path
    if path.parent.is_dir():
        for cand in path.parent.iterdir():
            if cand.name.lower() == path.name.lower():
                return cand
    return None


@dataclass
class MidiPart:
    """Notes of one instrument track: arrays of start/end seconds, pitch, velocity; sustain CCs."""

    name: str
    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    pedal_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pedal_v: np.ndarray = field(default_factory=lambda: np.zeros(0, int))


def load_midi_parts(path: Path) -> list[MidiPart]:
    """Non-drum tracks of a MIDI file with at least one note; sustain pedal kept per track."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(path))
    parts = []
    for inst in pm.instruments:
        if inst.is_drum or not inst.notes:
            continue
        notes = sorted(inst.notes, key=lambda n: (n.start, n.pitch))
        ped = [(c.time, c.value) for c in inst.control_changes if c.number == 64]
        parts.append(MidiPart(inst.name or "part",
                              np.array([n.start for n in notes]), np.array([n.end for n in notes]),
                              np.array([n.pitch for n in notes], int),
                              np.array([n.velocity for n in notes], int),
                              np.array([t for t, _ in ped]), np.array([v for _, v in ped], int)))
    # piano-midi files put sustain on a separate track sometimes: share pedal across parts
    all_ped = [(t, v) for p in parts for t, v in zip(p.pedal_t, p.pedal_v)]
    if all_ped:
        all_ped.sort()
        for p in parts:
            if len(p.pedal_t) == 0:
                p.pedal_t = np.array([t for t, _ in all_ped])
                p.pedal_v = np.array([v for _, v in all_ped], int)
    return parts


def part_events(part: MidiPart, chan: int, *, t0: float, n_samples: int, sr: int,
                transpose: int = 0, pedal: bool = True,
                vel_scale: float = 1.0) -> tuple[list[MidiEvent], list[tuple[int, int, int]]]:
    """MIDI events of ``part`` in the window starting at ``t0`` (seconds of the piece).

    Returns the events (snapped to blocks) and the note-ons as (pos, pitch, velocity).
    Notes that start before the window are left out; the pedal state at ``t0`` is restored.
    """
    events, onsets = [], []
    if pedal and len(part.pedal_t):
        before = part.pedal_v[part.pedal_t <= t0]
        if len(before):
            events.append(MidiEvent(0, "cc", chan, 64, int(before[-1])))
        sel = (part.pedal_t > t0) & (part.pedal_t < t0 + n_samples / sr)
        for t, v in zip(part.pedal_t[sel], part.pedal_v[sel]):
            events.append(MidiEvent(snap((t - t0) * sr), "cc", chan, 64, int(v)))
    sel = (part.start >= t0) & (part.start < t0 + n_samples / sr)
    for s, e, p, v in zip(part.start[sel], part.end[sel], part.pitch[sel], part.velocity[sel]):
        pitch = int(p) + transpose
        if not 0 <= pitch <= 127:
            continue
        vel = int(np.clip(round(v * vel_scale), 1, 127))
        on = snap((s - t0) * sr)
        off = max(on + BLOCK, snap((e - t0) * sr))
        events.append(MidiEvent(on, "on", chan, pitch, vel))
        events.append(MidiEvent(off, "off", chan, pitch, 0))
        onsets.append((on, pitch, vel))
    return events, onsets


# ----------------------------------------------------------------------------- writing

def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600
    os.replace(tmp, path)


def labels_csv(rows: list[tuple[float, str, int, int]]) -> str:
    """CSV text with header ``time_s,class,midi_note,velocity``; rows sorted by time, class."""
    lines = ["time_s,class,midi_note,velocity"]
    for t, cls, note, vel in sorted(rows, key=lambda r: (round(r[0], 4), r[1], r[2])):
        lines.append(f"{t:.4f},{cls},{int(note)},{int(vel)}")
    return "\n".join(lines) + "\n"


def write_clip(stem: Path, audio: np.ndarray, sr: int, rows: list[tuple[float, str, int, int]]) -> None:
    """Write ``stem.flac`` (16-bit mono) and ``stem.csv`` atomically (CSV last)."""
    import soundfile as sf

    stem.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=stem.parent, prefix=".tmp-", suffix=".flac")
    os.close(fd)
    sf.write(tmp, np.clip(audio, -1.0, 1.0), sr, subtype="PCM_16", format="FLAC")
    os.chmod(tmp, 0o644)
    os.replace(tmp, stem.with_suffix(".flac"))
    atomic_write_text(stem.with_suffix(".csv"), labels_csv(rows))


def write_manifest(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    atomic_write_text(path, buf.getvalue())


def count_classes(csv_path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with open(csv_path, newline="") as fh:
        for row in csv.DictReader(fh):
            counts[row["class"]] = counts.get(row["class"], 0) + 1
    return counts


# ----------------------------------------------------------------------------- progress

class Progress:
    """Progress on stderr: a rich bar on a TTY, otherwise one plain line per clip."""

    def __init__(self, label: str, total_s: float, n_clips: int, *, quiet: bool = False):
        self.label, self.total_s, self.n_clips, self.quiet = label, total_s, n_clips, quiet
        self.done_s = 0.0
        self.done = 0
        self.rendered_s = 0.0
        self.t0 = time.time()
        self._rich = None
        if not quiet and sys.stderr.isatty():
            try:
                from rich.progress import (BarColumn, Progress as RichProgress, TextColumn,
                                           TimeRemainingColumn)
                from rich.console import Console

                self._rich = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(),
                                          TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                                          console=Console(stderr=True))
                self._rich.start()
                self._task = self._rich.add_task(label, total=total_s, info="")
            except ImportError:
                self._rich = None

    def update(self, clip_s: float, name: str, *, skipped: bool = False) -> None:
        self.done += 1
        self.done_s += clip_s
        if not skipped:
            self.rendered_s += clip_s
        wall = time.time() - self.t0
        speed = self.rendered_s / wall if wall > 0 else 0.0
        info = (f"{self.done}/{self.n_clips} clips, {self.done_s / 60:.1f}/{self.total_s / 60:.1f} "
                f"min audio, {speed:.1f}x realtime")
        if self.quiet:
            return
        if self._rich is not None:
            self._rich.update(self._task, completed=self.done_s, info=info)
        else:
            tag = "skip" if skipped else "done"
            print(f"[{self.label}] {info} ({wall:.0f} s) {tag} {name}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()


# ----------------------------------------------------------------------------- render loop

def render_splits(splits: Sequence[str], plan_split: Callable[[str], list[dict]],
                  render: Callable[[dict], tuple[np.ndarray, list, dict]],
                  manifest_row: Callable[[dict, dict[str, int], dict], dict], *, out_dir: Path,
                  sr: int, save_cache: Callable[[], None], overwrite: bool = False,
                  quiet: bool = False, max_failed: int = 20) -> int:
    """Render every split's planned clips into ``out_dir/<split>/`` with a ``manifest.csv``.

    ``plan_split(split)`` gives the split's plans (dicts with ``path``, ``name``,
    ``duration_s``; an empty list skips the split); ``render(plan)`` gives ``(audio, label rows,
    info)``; ``manifest_row(plan, class counts, info)`` gives the manifest row of a clip (``info``
    is ``{}`` for an existing clip that is kept, its counts are read from its CSV).

    A clip whose ``.flac`` and ``.csv`` both exist is kept unless ``overwrite``. A clip that fails
    is reported on stderr and skipped; the error is re-raised once more than ``max_failed`` clips
    (over all splits) have failed. The manifest is rewritten and ``save_cache()`` called every 10
    clips and at the end of each split. Prints a summary; returns 1 if any clip failed, else 0.
    """
    failed = written = skipped = 0
    for split in splits:
        plans = plan_split(split)
        if not plans:
            continue
        split_dir = out_dir / split
        prog = Progress(split, sum(p["duration_s"] for p in plans), len(plans), quiet=quiet)
        rows = []
        for k, plan in enumerate(plans):
            stem = split_dir / plan["path"]
            try:
                if (stem.with_suffix(".csv").is_file() and stem.with_suffix(".flac").is_file()
                        and not overwrite):
                    rows.append(manifest_row(plan, count_classes(stem.with_suffix(".csv")), {}))
                    prog.update(plan["duration_s"], plan["name"], skipped=True)
                    skipped += 1
                    continue
                audio, labels, info = render(plan)
                write_clip(stem, audio, sr, labels)
                counts: dict[str, int] = {}
                for _, cls, _, _ in labels:
                    counts[cls] = counts.get(cls, 0) + 1
                rows.append(manifest_row(plan, counts, info))
                written += 1
                prog.update(plan["duration_s"], plan["name"])
            except Exception as exc:  # one bad clip does not stop the batch
                failed += 1
                print(f"error: {split} clip {plan['name']}: {exc.__class__.__name__}: {exc}",
                      file=sys.stderr)
                if failed > max_failed:
                    raise
            if k % 10 == 9:
                write_manifest(split_dir / "manifest.csv", rows)
                save_cache()
        write_manifest(split_dir / "manifest.csv", rows)
        save_cache()
        prog.close()
    print(f"written {written}, skipped (existing) {skipped}, failed {failed} clips -> {out_dir}",
          file=sys.stderr)
    return 1 if failed else 0
