"""MuldjordKit: the one multi-microphone drum kit, mixed at random per clip (for render_drums.py).

The kit (``SHARED_DATA/muldjord-kit``, CC BY 4.0, Lars Muldjord; SFZ mapping by kinwie) holds every
hit as 15 mono files, one per microphone: ``Samples/<instrument>/<n>-<instrument>-<mic>.flac``.
Every microphone hears every drum (a snare hit is loud in the snare mics, quieter in the
overheads, late and reverberant in the ambience mics, faint in the kick mics), so a random mix of
the microphones varies bleed, room and close-mic balance the way real recordings do.

This module is plain numpy + soundfile: the SFZ region parser (velocity layers and round robins
of ``Data/region/*.txt``), the instrument → renderer role map, the per-clip microphone mix
(:func:`draw_mic_mix`) and the mixer (:func:`mix_mics`). ``render_drums.MuldjordKit`` wraps them
as a sample kit.

Measured on the files (24 kHz): each hit starts at its close-mic attack (lead-in 0-1 ms there);
overheads arrive 1-4 ms later, ambience 6-9 ms later. Raw peak levels differ by mic and are not
a mix (on a loud snare the ambience mics peak at -6 dBFS, the overheads at -29 dBFS; on a loud
crash the overheads peak at -3 dBFS), so each mic is first calibrated (:data:`MIC_REFERENCE`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLOSE_MICS = ("KdrumL", "KdrumR", "Snare_top", "Snare_bottom", "Hihat", "Tom1", "Tom2", "Tom3", "Tom4",
              "RideL", "RideR")
OVERHEAD_MICS = ("OHL", "OHR")
AMBIENCE_MICS = ("AmbL", "AmbR")
MICS = CLOSE_MICS + OVERHEAD_MICS + AMBIENCE_MICS  # the trigger channel is not in the shared copy

# Instrument folder -> renderer role (render_drums.ROLE_CHAIN). The kit's own keymap (Data/keymap.txt)
# puts Tom1/Tom2/Tom3/Tom4 on GM 48/47/45/41 and SnareRest on 37 (GM side stick). SnareRest is not a
# short click (its -20 dB decay is ~4x the Snare's, lower centroid); it plays GM 37 hits only, which
# the renderer labels snare like every side stick, and never a 38/40 hit. China plays GM 52 only.
INSTRUMENT_ROLES = {
    "KdrumL": "kick", "KdrumR": "kick",
    "Snare": "snare", "SnareRest": "sidestick",
    "HihatClosed": "hh_closed", "HihatOpen": "hh_open",
    "Tom1": "tom_high", "Tom2": "tom_mid", "Tom3": "tom_mid", "Tom4": "tom_low",
    "CrashL": "crash", "CrashR": "crash2", "China": "china",
    "RideL": "ride", "RideR": "ride", "RideLBell": "ride_bell", "RideRBell": "ride_bell",
}
# Instruments whose loudest hit calibrates each mic (the loudest peak of them in that mic -> 0 dB): its
# own drum for a close mic, the cymbals for the overheads (as an engineer sets them: in the raw files a
# loud crash peaks 26 dB above a loud snare in the overheads, 5 dB below it in the ambience mics), the
# snare for the ambience mics.
_CYMBALS = ("CrashL", "CrashR", "China")
MIC_REFERENCE = {"KdrumL": ("KdrumL",), "KdrumR": ("KdrumR",), "Snare_top": ("Snare",),
                 "Snare_bottom": ("Snare",), "Hihat": ("HihatClosed",), "Tom1": ("Tom1",), "Tom2": ("Tom2",),
                 "Tom3": ("Tom3",), "Tom4": ("Tom4",), "RideL": ("RideL",), "RideR": ("RideR",),
                 "OHL": _CYMBALS, "OHR": _CYMBALS, "AmbL": ("Snare",), "AmbR": ("Snare",)}


@dataclass(frozen=True)
class Region:
    """One recorded hit of an instrument: its number in the file names and its velocity range."""

    instrument: str
    hit: int
    lovel: int
    hivel: int


def sample_path(root: Path, instrument: str, hit: int, mic: str) -> Path:
    return root / "Samples" / instrument / f"{hit}-{instrument}-{mic}.flac"


def parse_regions(root: Path) -> dict[str, list[Region]]:
    """Regions of every instrument in ``Data/region/*.txt`` (velocity macros from ``Data/macro.txt``).

    Round robins (``seq_position``) of one velocity layer become regions with the same range; the
    renderer picks one of them at random per hit, as it does for Hydrogen layers.
    """
    macros = dict(re.findall(r"#define\s+(\$\w+)\s+(\S+)", (root / "Data" / "macro.txt").read_text()))
    out: dict[str, list[Region]] = {}
    for path in sorted((root / "Data" / "region").glob("*.txt")):
        text = path.read_text()
        m = re.search(r"#define\s+\$instr\s+(\S+)", text)
        if m is None:
            continue
        instrument = m.group(1)
        regions = []
        for line in text.splitlines():
            if not line.lstrip().startswith("<region>"):
                continue
            lo, hi, hit = (re.search(p, line) for p in (r"lovel=(\$?\w+)", r"hivel=(\$?\w+)",
                                                          r"sample=\$instr/(\d+)-"))
            if not (lo and hi and hit):
                continue
            lovel, hivel = (int(macros.get(g.group(1), g.group(1))) for g in (lo, hi))
            regions.append(Region(instrument, int(hit.group(1)), lovel, hivel))
        if regions:
            out[instrument] = regions
    return out


def reference_region(regions: list[Region]) -> Region:
    """The first round robin of the loudest velocity layer."""
    top = max(r.hivel for r in regions)
    return next(r for r in regions if r.hivel == top)


# --------------------------------------------------------------------------- the microphone mix

def draw_mic_mix(rng: np.random.Generator) -> dict[str, list[float]]:
    """A random microphone mix: ``{mic: [gain_db, delay_ms, polarity]}``; absent mics are muted.

    Gains are relative to each mic's calibration (:data:`MIC_REFERENCE`: 0 dB puts the loudest hit
    of its own drum, of the cymbals for the overheads, of the snare for the ambience, at 0 dBFS):

    - overheads: always on, -12..0 dB ± 2 dB per side, 0-1 ms delay (cymbals from a little under
      the drums to as loud);
    - close mics: a common level of -6..+6 dB, ± 4 dB per mic, 0-3 ms delay each (time alignment
      to the overheads, or none); kick and snare-top mics are muted in 3% of clips, the hi-hat mic
      in 15%, tom, ride and snare-bottom mics in 30% (often not used); the snare-bottom mic sits
      3-12 dB lower and has its polarity flipped in 70% of clips;
    - ambience: muted in 25% of clips, else -24..-3 dB and 5-25 ms later (± 1 ms between L and R),
      a room from faint to dominant.
    """
    mix: dict[str, list[float]] = {}
    oh_db = float(rng.uniform(-12, 0))
    for mic in OVERHEAD_MICS:
        mix[mic] = [round(oh_db + float(rng.uniform(-2, 2)), 2), round(float(rng.uniform(0, 1)), 3), 1.0]
    close_db = float(rng.uniform(-6, 6))
    for mic in CLOSE_MICS:
        p_off = 0.03 if mic in ("KdrumL", "KdrumR", "Snare_top") else 0.15 if mic == "Hihat" else 0.3
        off = rng.random() < p_off
        gain = close_db + float(rng.uniform(-4, 4))
        delay = float(rng.uniform(0, 3))
        sign = 1.0
        if mic == "Snare_bottom":
            gain += float(rng.uniform(-12, -3))
            sign = -1.0 if rng.random() < 0.7 else 1.0
        if not off:
            mix[mic] = [round(gain, 2), round(delay, 3), sign]
    amb_off = rng.random() < 0.25
    amb_db, amb_delay = float(rng.uniform(-24, -3)), float(rng.uniform(5, 25))
    for mic in AMBIENCE_MICS:
        gain, delay = amb_db + float(rng.uniform(-2, 2)), amb_delay + float(rng.uniform(-1, 1))
        if not amb_off:
            mix[mic] = [round(gain, 2), round(delay, 3), 1.0]
    return mix


def mix_mics(tracks: dict[str, np.ndarray], mix: dict[str, list[float]], sr: int,
             calib: dict[str, float] | None = None) -> np.ndarray:
    """Sum the mic ``tracks`` of one hit with the gains, delays and polarities of ``mix``.

    ``calib`` maps a mic to its calibration gain (1 when absent). Delays are rounded to whole
    samples; the result is long enough to hold every delayed track. Mics in ``mix`` without a
    track, and tracks not in ``mix``, are left out.
    """
    used = [(m, tracks[m], mix[m]) for m in MICS if m in mix and m in tracks]
    if not used:
        return np.zeros(1, np.float32)
    delays = [round(float(p[1]) * sr / 1000.0) for _, _, p in used]
    n = max(len(x) + d for (_, x, _), d in zip(used, delays))
    out = np.zeros(n, np.float32)
    for (mic, x, (gain_db, _, sign)), d in zip(used, delays):
        g = float(sign) * 10.0 ** (float(gain_db) / 20.0) * (calib or {}).get(mic, 1.0)
        out[d: d + len(x)] += x.astype(np.float32) * np.float32(g)
    return out


def calibration(peaks: dict[str, float]) -> dict[str, float]:
    """Gain per mic that brings its reference peak (``peaks[mic]``, linear) to 1 (0 for a silent mic)."""
    return {mic: 1.0 / p if p > 1e-6 else 0.0 for mic, p in peaks.items()}
