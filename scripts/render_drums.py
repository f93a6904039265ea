#!/usr/bin/env python3
"""Render Groove MIDI drum performances into labelled training audio.

Each clip is a random 20-40 s excerpt of one Groove MIDI Dataset (GMD) performance, played by one
drum kit (or one kit per instrument group, see below), written as 16-bit mono FLAC plus a sidecar
CSV ``time_s,class,midi_note,velocity``:

- ``time_s``: the *acoustic* onset (trigger + the sound's measured lead-in, see render_common);
- ``class``: kick, snare, hihat, tom, crash, ride or other (every hit is labelled);
- ``midi_note``: the GM drum note (TD-11 notes 22, 26, 58 are mapped to 42, 46, 43).

Kits: the Debian Hydrogen kits go through our own sample mixer (velocity layers, hi-hat choke);
the AVL SF2 kits and the GM sound-font kits (bank 128) go through FluidSynth. Validation and test
clips use held-out kits only (ForzeeStereo, BJA_Pacific and the TimGM6mb drum presets, with the
circAfrique percussion for extra hits); the held-out samples are checked against all training samples by
hashing their PCM data and by an onset-aligned waveform fingerprint (printed before rendering).
About half of the clips are mixed over GM accompaniment (piano-midi.de excerpts; FluidR3 for
train, TimGM6mb for validation/test), and clips get random room reverb, EQ, compression, level
and noise floor.

Recorded sound (issue #17), on by default; each feature draws from its own random stream, so all
four fractions at 0 plan and render the earlier clips (the data of the bundled drums model) exactly:

- ``--muldjord-fraction`` (0.2): training clips played by the MuldjordKit (SHARED_DATA/muldjord-kit,
  15 microphones per hit): per clip a random mic mix (close mics -6..+6 dB, each 0-3 ms late,
  some muted; overheads -12..0 dB; ambience -24..-3 dB and 5-25 ms late, or muted), so bleed,
  room and close-mic balance vary; labels are the acoustic onset of the mixed sound (see muldjord.py).
  Never in validation/test (it is the only multi-microphone kit).
- ``--mixed-kit-fraction`` (0.5): clips drawn with a Hydrogen kit take kick, snare, hi-hat, toms and
  cymbals each from their own kit, each group at its own level (training: the training Hydrogen
  kits, MuldjordKit and the Sonic Pi one-shots; validation/test: the held-out Hydrogen kits).
- ``--strum-fraction`` (0.5): accompanied clips whose accompaniment is a band instead of a
  piano-midi.de excerpt: real guitar strums (Debian hydrogen-drumkits-effects), GM bass and keys,
  one key and a chord per bar, on the performance's beats (its MIDI tempo grid moved onto the drum
  hits, as a band follows its drummer).
- ``--accomp-fx-fraction`` (1.0): accompaniment through random EQ, a simulated room and compression
  (softloc_cli.augment) before it is mixed under the drums, at ``--drum-to-music-db`` (-6..12 dB).
Accompaniment onsets are never labelled. The strums are the same in every split (accompaniment
only); the GM parts use the split's music font. Licences to credit in a model card: MuldjordKit CC
BY 4.0 (Lars Muldjord), guitar strums CC BY 3.0 (Gabriel Verdugo Soto, belofilms.com), Sonic Pi
samples CC0.

Layout: OUT/{train,validation,test}/{drumonly,mix}/<clip>.flac + .csv, and OUT/<split>/manifest.csv.
Splits are written validation, train, test; existing clips are skipped (resuming is free).

Examples
--------
    python scripts/render_drums.py --hours-train 0.02 --hours-val 0.02 --hours-test 0 -o /tmp/drums
    python scripts/render_drums.py --hours-train 2.5 --hours-val 0.3 --hours-test 0.3
    python scripts/render_drums.py --check-only
    # the data of the bundled drums model (the renderer before issue #17):
    python scripts/render_drums.py --hours-train 7.5 --hours-val 0.3 --hours-test 0.3 -o data/drums \\
        --muldjord-fraction 0 --mixed-kit-fraction 0 --strum-fraction 0 --accomp-fx-fraction 0
    python scripts/render_drums.py --example softloc_cli/examples
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import muldjord as mj  # noqa: E402
import render_common as rc  # noqa: E402

GMD_DIR = rc.SHARED_DATA / "groove-midi"
SPLITS = ("validation", "train", "test")  # order of writing: validation first

# --------------------------------------------------------------------------- notes and classes

TD11_TO_GM = {22: 42, 26: 46, 58: 43}
CLASS_NOTES = {
    "kick": (35, 36),
    "snare": (37, 38, 40),
    "hihat": (42, 44, 46, 22, 26),
    "tom": (41, 43, 45, 47, 48, 50, 58),
    "crash": (49, 57, 52, 55),
    "ride": (51, 59, 53),
}
NOTE_CLASS = {n: c for c, notes in CLASS_NOTES.items() for n in notes}


def note_class(note: int) -> str:
    return NOTE_CLASS.get(note, "other")


# Sample-kit roles tried in order for each GM note (first role the kit has wins).
TOMS_H, TOMS_M, TOMS_L = ["tom_high", "tom_mid", "tom_low"], ["tom_mid", "tom_high", "tom_low"], \
    ["tom_low", "tom_mid", "tom_high"]
ROLE_CHAIN = {
    35: ["kick"], 36: ["kick"],
    38: ["snare"], 40: ["snare_rim", "snare"], 37: ["sidestick", "snare"],
    42: ["hh_closed"], 44: ["hh_pedal", "hh_closed"], 46: ["hh_open", "hh_semi", "hh_closed"],
    48: TOMS_H, 50: TOMS_H, 45: TOMS_M, 47: TOMS_M, 43: TOMS_L, 41: TOMS_L,
    49: ["crash", "crash2"], 55: ["crash", "crash2"], 57: ["crash2", "crash"],
    52: ["china", "crash2", "crash"],  # only the MuldjordKit has a 'china' role
    51: ["ride"], 59: ["ride"], 53: ["ride_bell", "ride"],
}
# GM-note fallbacks for sound-font kits whose preset is silent on a note.
SF2_FALLBACK = {40: [38], 37: [38], 44: [42], 46: [42], 50: [48, 47, 45], 48: [50, 47, 45],
                47: [45, 48], 45: [47, 48], 43: [41, 45], 41: [43, 45], 57: [49], 52: [57, 49],
                55: [49], 59: [51], 53: [51], 35: [36], 36: [35]}
HIHAT_ROLES = {"hh_closed", "hh_pedal", "hh_open", "hh_semi"}
DISTRACTOR_ROLES = ("tom_high", "tom_mid", "tom_low", "crash", "crash2", "ride", "ride_bell")

# GM percussion notes for 'other' sounds, by a keyword in the instrument name.
PERC_NOTES = [("clap", 39), ("tamb", 54), ("cowbell", 56), ("agogo", 67), ("conga", 63),
              ("bongo hi", 60), ("bongo", 61), ("clave", 75), ("maraca", 70), ("shaker", 82),
              ("woodblock lo", 77), ("woodblock", 76), ("djembe", 63), ("cajon", 64),
              ("bell", 56), ("snap", 39), ("whistle", 71), ("waterglass", 81)]


def perc_note(name: str) -> int:
    low = name.lower()
    for key, note in PERC_NOTES:
        if key in low:
            return note
    return 0


def classify_instrument(name: str) -> str | None:
    """Role of a Hydrogen instrument from its name; 'perc' for other sounds, None to skip.

    Rolls, swishes, chokes and 'flink' sounds are skipped: a 'Snare Roll' sample must never
    play a single snare hit.
    """
    low = re.sub(r"^[a-g]#?\d\s*-\s*", "", name.lower()).strip()  # rumpf: "c3 - bass drum 1"
    words = set(re.findall(r"[a-z]+", low))
    if not low or low.isdigit() or low.startswith("sample:"):
        return None
    if words & {"roll", "swish", "choke", "flink"} or low == "redo super opaco":
        return None
    if "kick" in low or "bass drum" in low or "bassdrum" in low or words & {"bd"}:
        return "kick"
    if "hat" in low or "hh" in words or words & {"chh", "ohh"} or "hihat" in low:
        if words & {"pedal", "foot", "pd"}:
            return "hh_pedal"
        if words & {"semi", "semiopen", "half"} or "semi" in low:
            return "hh_semi"
        if words & {"open", "opened", "op", "ohh", "free"}:
            return "hh_open"
        return "hh_closed"
    if "snare" in low:
        if "rim" in low:
            return "snare_rim"
        return "snare"
    if "rim click" in low or "side stick" in low or words & {"stick", "sidestick", "rimclick"}:
        return "sidestick"
    if re.search(r"\btom", low):
        if words & {"floor", "low", "lo"} or low.endswith("3"):
            return "tom_low"
        if words & {"mid", "middle"} or re.search(r"tom\s*2\b", low):
            return "tom_mid"
        if words & {"hi", "high"} or re.search(r"tom\s*1\b", low) or re.search(r"tomhi", low):
            return "tom_high"
        return "tom_mid"
    if "bell" in low and "ride" in low:
        return "ride_bell"
    if "crash" in low and "ride" not in low:
        if re.search(r"(2|jazz|right)\b", low):
            return "crash2"
        return "crash"
    if "splash" in low or "china" in low or "crash" in low or "cymbal" in low:
        return "crash2" if ("splash" in low or "china" in low or "ride" in low
                            or low.endswith("2")) else "crash"
    if "ride" in low:
        if "bell" in low or "cup" in low:
            return "ride_bell"
        return "ride"
    if re.fullmatch(r"(paiste |sabian |zildjian )?bell", low):
        return "ride_bell"
    return "perc"


# --------------------------------------------------------------------------- Hydrogen kits

@dataclass
class Layer:
    path: Path
    vmin: float
    vmax: float
    gain: float


@dataclass
class Instrument:
    name: str
    role: str
    gain: float
    layers: list[Layer]
    midi_note: int | None = None


@dataclass
class Sound:
    """One resampled one-shot: mono audio at the target rate and its lead-in in samples."""

    audio: np.ndarray
    lead_in: int


def _strip_ns(root: ET.Element) -> ET.Element:
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


def _float(el: ET.Element, tag: str, default: float) -> float:
    txt = el.findtext(tag)
    try:
        return float(txt) if txt is not None and txt.strip() else default
    except ValueError:
        return default


def _resolve(kit_dir: Path, fname: str) -> Path | None:
    p = kit_dir / fname
    if p.is_file():
        return p
    p = kit_dir / Path(fname).name
    return p if p.is_file() else None


class SampleKit:
    """A kit of one-shot samples: instruments with velocity layers, grouped by renderer role.

    Subclasses fill ``instruments`` and call :meth:`_index_roles`; :meth:`_load` gives the mono
    audio of a layer's ``path`` at the kit's rate (a file for most kits, a microphone mix for the
    MuldjordKit).
    """

    name: str
    sr: int
    licence: str = ""

    def __init__(self, name: str, sr: int):
        self.name = name
        self.sr = sr
        self.instruments: list[Instrument] = []
        self.roles: dict[str, list[Instrument]] = {}
        self._sounds: dict[tuple[Path, float], Sound] = {}

    def _index_roles(self) -> None:
        self.roles = {}
        for ins in self.instruments:
            self.roles.setdefault(ins.role, []).append(ins)
        # a bare "Stick" may be sticks clicked together: prefer a real rim click / side stick
        rims = [i for i in self.roles.get("sidestick", []) if "rim" in i.name.lower()
                or "side" in i.name.lower()]
        if rims:
            self.roles["sidestick"] = rims

    def _load(self, path: Path) -> np.ndarray:
        import soundfile as sf

        x, sr = sf.read(path, always_2d=True, dtype="float32")
        return rc.resample(x.mean(1), sr, self.sr)

    def sound(self, path: Path, semitones: float = 0.0) -> Sound:
        key = (path, round(semitones, 2))
        if key not in self._sounds:
            base = self._sounds.get((path, 0.0))
            if base is None:
                audio = rc.trim_tail(self._load(path))
                base = Sound(audio, max(rc.measure_lead_in(audio), 0))
                self._sounds[(path, 0.0)] = base
            if key[1] != 0.0:
                audio = rc.pitch_shift_resample(base.audio, semitones)
                self._sounds[key] = Sound(audio, max(rc.measure_lead_in(audio), 0))
        return self._sounds[key]

    def drop_cache(self) -> None:
        self._sounds = {k: v for k, v in self._sounds.items() if k[1] == 0.0}

    def sample_files(self) -> list[Path]:
        """Every audio file the kit can play (for the held-out check)."""
        return [l.path for ins in self.instruments for l in ins.layers]

    def describe(self) -> str:
        return ", ".join(f"{r}:{'/'.join(i.name for i in ins)}" for r, ins in sorted(self.roles.items()))


class HydrogenKit(SampleKit):
    """A Hydrogen drumkit.xml (new <layer> format or old per-instrument <filename> format)."""

    def __init__(self, name: str, sr: int, root: Path = rc.HYDROGEN_DIR):
        super().__init__(name, sr)
        self.dir = root / name
        xml = _strip_ns(ET.parse(self.dir / "drumkit.xml").getroot())
        self.licence = (xml.findtext("license") or "").strip()
        notes = []
        for ins in xml.iter("instrument"):
            iname = (ins.findtext("name") or "").strip()
            if (ins.findtext("isMuted") or "false").strip() == "true":
                continue
            layers = []
            for lay in ins.iter("layer"):
                fname = lay.findtext("filename")
                path = _resolve(self.dir, fname) if fname else None
                if path is not None and "emptysample" not in path.name.lower():
                    layers.append(Layer(path, _float(lay, "min", 0.0), _float(lay, "max", 1.0),
                                        _float(lay, "gain", 1.0)))
            if not layers:  # old format: the sample file sits on the instrument
                fname = ins.findtext("filename")
                path = _resolve(self.dir, fname) if fname else None
                if path is not None and "emptysample" not in path.name.lower():
                    layers.append(Layer(path, 0.0, 1.0, 1.0))
            if not layers:
                continue
            note_txt = ins.findtext("midiOutNote")
            note = int(note_txt) if note_txt and note_txt.strip().lstrip("-").isdigit() else None
            notes.append(note)
            role = classify_instrument(iname)
            if role is None:
                continue
            gain = _float(ins, "gain", 1.0) * _float(ins, "volume", 1.0)
            self.instruments.append(Instrument(iname, role, gain, layers, note))
        # the kit's MIDI notes are a hint only where they are distinct GM drum notes
        distinct = [n for n in notes if n is not None]
        self.notes_usable = len(distinct) > 3 and len(set(distinct)) == len(distinct)
        if self.notes_usable:
            for ins in self.instruments:
                if ins.role == "perc" and ins.midi_note in ROLE_CHAIN:
                    ins.role = ROLE_CHAIN[ins.midi_note][0]
        self._index_roles()


# Sonic Pi's acoustic one-shots (CC0, freesound.org user menegass; the heavy kick by Zajo): soft and
# hard takes become two velocity layers. drum_roll is left out (a roll), drum_cowbell is 'perc'.
SONIC_PI_DIR = Path("/usr/share/sonic-pi/samples")
SONIC_PI = "sonic-pi"
SONIC_PI_INSTRUMENTS = {  # name -> (role, sample stems, soft first)
    "Kick": ("kick", ("drum_bass_soft", "drum_bass_hard")),
    "Heavy kick": ("kick", ("drum_heavy_kick",)),
    "Snare": ("snare", ("drum_snare_soft", "drum_snare_hard")),
    "Hihat closed": ("hh_closed", ("drum_cymbal_closed",)),
    "Hihat pedal": ("hh_pedal", ("drum_cymbal_pedal",)),
    "Hihat open": ("hh_open", ("drum_cymbal_open",)),
    "Crash": ("crash", ("drum_cymbal_soft", "drum_cymbal_hard")),
    "Splash": ("crash2", ("drum_splash_soft", "drum_splash_hard")),
    "Tom hi": ("tom_high", ("drum_tom_hi_soft", "drum_tom_hi_hard")),
    "Tom mid": ("tom_mid", ("drum_tom_mid_soft", "drum_tom_mid_hard")),
    "Tom lo": ("tom_low", ("drum_tom_lo_soft", "drum_tom_lo_hard")),
    "Cowbell": ("perc", ("drum_cowbell",)),
}


class SonicPiKit(SampleKit):
    """The Debian ``sonic-pi-samples`` drum one-shots as a kit (soft/hard pairs as two layers)."""

    licence = "CC0 1.0"

    def __init__(self, sr: int, root: Path = SONIC_PI_DIR):
        super().__init__(SONIC_PI, sr)
        self.dir = root
        for iname, (role, stems) in SONIC_PI_INSTRUMENTS.items():
            k = len(stems)
            layers = [Layer(root / f"{stem}.flac", i / k, (i + 1) / k, 1.0) for i, stem in enumerate(stems)]
            self.instruments.append(Instrument(iname, role, 1.0, layers, None))
        self._index_roles()


MULDJORD = "MuldjordKit"
MULDJORD_DIR = rc.SHARED_DATA / "muldjord-kit"


class MuldjordKit(SampleKit):
    """The 15-microphone MuldjordKit; each layer's sound is the mix of its mics set by :meth:`set_mix`.

    A layer is one recorded hit (``path`` = ``<instrument>/<n>``, not a file); its velocity range
    comes from the SFZ regions, and its gain is ``127 / hivel``, which with the mixer's ``velocity
    / 127`` scaling gives the SFZ curve ``amp_velcurve_<hivel>=1`` (amplitude velocity / hivel in
    each layer). Microphone tracks are read once and kept; mixed sounds are kept until the next
    :meth:`set_mix`.
    """

    licence = "CC BY 4.0"

    def __init__(self, sr: int, root: Path = MULDJORD_DIR):
        super().__init__(MULDJORD, sr)
        self.dir = root
        self.regions = mj.parse_regions(root)
        for iname, role in mj.INSTRUMENT_ROLES.items():
            regs = self.regions.get(iname, [])
            layers = [Layer(Path(iname) / str(r.hit), r.lovel / 127.0, r.hivel / 127.0, 127.0 / r.hivel)
                      for r in regs]
            if layers:
                self.instruments.append(Instrument(iname, role, 1.0, layers, None))
        self._index_roles()
        self._tracks: dict[tuple[str, int, str], np.ndarray] = {}  # int16
        peaks = {}
        for mic, instruments in mj.MIC_REFERENCE.items():
            refs = [(i, mj.reference_region(self.regions[i])) for i in instruments]
            peaks[mic] = max(float(np.abs(self._track(i, r.hit, mic).astype(np.float32)).max())
                             for i, r in refs) / 32768.0
        # int16 tracks: the calibration also scales them to float full scale
        self.calib = {m: g / 32768.0 for m, g in mj.calibration(peaks).items()}
        self.mix: dict[str, list[float]] = {}
        self.set_mix(None)

    def _track(self, instrument: str, hit: int, mic: str) -> np.ndarray:
        """One mic's recording of a hit at the kit rate, int16 (the files' own format: every
        track of the kit held in memory is 0.4 GB, 0.8 GB as float32)."""
        key = (instrument, hit, mic)
        if key not in self._tracks:
            import soundfile as sf

            path = mj.sample_path(self.dir, instrument, hit, mic)
            track = np.zeros(0, np.int16)
            if path.is_file():
                info = sf.info(path)
                if info.samplerate == self.sr and info.channels == 1:
                    track = sf.read(path, dtype="int16")[0]
                else:
                    x, sr = sf.read(path, always_2d=True, dtype="float32")
                    y = rc.resample(x.mean(1), sr, self.sr)
                    track = np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16)
            self._tracks[key] = track
        return self._tracks[key]

    def set_mix(self, mix: dict[str, list[float]] | None) -> None:
        """Use ``mix`` (from :func:`muldjord.draw_mic_mix`; None: overheads and close mics at 0 dB)."""
        if mix is None:
            mix = {m: [0.0, 0.0, 1.0] for m in mj.CLOSE_MICS + mj.OVERHEAD_MICS}
        if mix != self.mix:
            self.mix = {m: list(v) for m, v in mix.items()}
            self._sounds = {}

    def _load(self, path: Path) -> np.ndarray:
        instrument, hit = path.parent.name, int(path.name)
        tracks = {m: self._track(instrument, hit, m) for m in self.mix}
        return mj.mix_mics(tracks, self.mix, self.sr, self.calib)

    def sample_files(self) -> list[Path]:
        paths = {mj.sample_path(self.dir, ins.name, int(l.path.name), m)
                 for ins in self.instruments for l in ins.layers for m in mj.MICS}
        return sorted(p for p in paths if p.is_file())


def make_kit(name: str, sr: int) -> SampleKit:
    """The sample kit called ``name``: the MuldjordKit, the Sonic Pi one-shots or a Hydrogen kit."""
    if name == MULDJORD:
        return MuldjordKit(sr)
    if name == SONIC_PI:
        return SonicPiKit(sr)
    return HydrogenKit(name, sr)


def pick_layer(ins: Instrument, vel01: float, rng: np.random.Generator) -> Layer:
    fits = [l for l in ins.layers if l.vmin <= vel01 <= l.vmax]
    if not fits:
        dist = [min(abs(vel01 - l.vmin), abs(vel01 - l.vmax)) for l in ins.layers]
        fits = [ins.layers[int(np.argmin(dist))]]
    return fits[int(rng.integers(len(fits)))]


@dataclass
class Hit:
    pos: int          # trigger sample in the rendered window
    note: int         # GM note (0: unknown percussion)
    velocity: int     # 1..127
    cls: str
    source: int = -1  # index into the percussion pool for extra 'other' hits, else -1


def mix_sample_kit(hits: list[Hit], kit_map: dict[str, tuple[SampleKit, Instrument, float]],
                   pool: list[tuple[SampleKit, Instrument]], n: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, Hit]]]:
    """Mix one-shots for ``hits`` into ``n`` samples; returns audio and (onset_pos, hit) labels.

    ``kit_map`` maps a role to (kit, instrument, semitones); hits with ``source >= 0`` play
    ``pool[source]``. A hi-hat hit cuts the still-sounding hi-hat voices at its acoustic onset with
    a 5 ms fade (the closed or pedal hat chokes the open hat). Hits whose note maps to no role of
    the kit are dropped (no audio, no label).
    """
    out = np.zeros(n, np.float32)
    labels = []
    hats = []  # [start, end, data * gain] of sounding hi-hat voices
    for hit in sorted(hits, key=lambda h: h.pos):
        if hit.source >= 0:
            (kit, ins), semis, role = pool[hit.source], 0.0, "perc"
        else:
            role = next((r for r in ROLE_CHAIN.get(hit.note, []) if r in kit_map), None)
            if role is None:
                continue
            kit, ins, semis = kit_map[role]
        vel01 = hit.velocity / 127.0
        layer = pick_layer(ins, vel01, rng)
        snd = kit.sound(layer.path, semis)
        data = snd.audio * np.float32(vel01 * layer.gain * ins.gain)
        start, end = hit.pos, min(n, hit.pos + len(data))
        if role in HIHAT_ROLES:
            cut = min(hit.pos + snd.lead_in, n)
            fade = max(1, int(0.005 * kit.sr))
            for voice in hats:
                v_start, v_end, v_data = voice
                if v_end <= cut:
                    continue
                seg = v_data[cut - v_start: v_end - v_start]
                keep = np.zeros(len(seg), np.float32)
                m = min(fade, len(seg))
                keep[:m] = np.linspace(1.0, 0.0, m, dtype=np.float32)
                out[cut:v_end] -= seg * (1.0 - keep)
                voice[1] = cut
            hats = [v for v in hats if v[1] > hit.pos]
            hats.append([start, end, data])
        if end > start:
            out[start:end] += data[: end - start]
        labels.append((hit.pos + snd.lead_in, hit))
    return out, labels


# --------------------------------------------------------------------------- kit assignment

HYDROGEN_TRAIN_ACOUSTIC = ["GMRockKit", "The Black Pearl 1.0", "ColomboAcousticDrumkit",
                           "Millo_MultiLayered2", "Millo_MultiLayered3", "Millo-Drums_v.1",
                           "rumpf_kit_z01_h2"]
HYDROGEN_TRAIN_ELECTRONIC = ["TR808EmulationKit", "HardElectro1", "ElectricEmpireKit",
                             "VariBreaks", "Audiophob"]
HYDROGEN_HELD_OUT = ["ForzeeStereo", "BJA_Pacific"]
PERC_TRAIN, PERC_HELD_OUT = "Gimme A Hand 1.0", "circAfrique v4"
# Red_Zeppelin_4_LV2 cannot be held out: it shares its Sabian hi-hats and its claps, tambourine
# and maracas with Black_Pearl_4_LV2, GMRockKit, The Black Pearl 1.0 and Gimme A Hand (SHA-1 of
# the PCM data). TimGM6mb shares no sample with any training kit, so it is the held-out font.
SF2_TRAIN = [("Black_Pearl_4_LV2", 0, 0), ("Red_Zeppelin_4_LV2", 0, 0)] + \
    [("FluidR3_GM", 128, p) for p in (0, 8, 16, 24, 25, 32)]
SF2_HELD_OUT = [("TimGM6mb", 128, p) for p in (0, 8, 16, 24, 25, 32)]
MUSIC_FONT = {"train": "FluidR3_GM", "validation": "TimGM6mb", "test": "TimGM6mb"}
FONTS_TRAIN = ("Black_Pearl_4_LV2", "Red_Zeppelin_4_LV2", "FluidR3_GM")
FONTS_HELD_OUT = ("TimGM6mb",)


@dataclass(frozen=True)
class KitSpec:
    name: str       # short name used in clip names and the manifest
    source: str     # "hydrogen" or "sf2"
    group: str      # "acoustic" or "electronic"
    font: str = ""
    bank: int = 0
    preset: int = 0


def kit_specs(split: str) -> list[tuple[KitSpec, float]]:
    """(kit, sampling weight) for a split; validation and test use held-out kits only."""
    out = []
    if split != "train":
        for k in HYDROGEN_HELD_OUT:
            out.append((KitSpec(k, "hydrogen", "acoustic"), 1.0 / 3))
        for font, bank, preset in SF2_HELD_OUT:
            group = "electronic" if preset in (24, 25) else "acoustic"
            out.append((KitSpec(f"{font}-{preset}", "sf2", group, font, bank, preset),
                        1.0 / 3 / len(SF2_HELD_OUT)))
        return out
    for k in HYDROGEN_TRAIN_ACOUSTIC:
        out.append((KitSpec(k, "hydrogen", "acoustic"), 0.45 / len(HYDROGEN_TRAIN_ACOUSTIC)))
    for k in HYDROGEN_TRAIN_ELECTRONIC:
        out.append((KitSpec(k, "hydrogen", "electronic"), 0.2 / len(HYDROGEN_TRAIN_ELECTRONIC)))
    for font, bank, preset in SF2_TRAIN:
        group = "electronic" if (bank == 128 and preset in (24, 25)) else "acoustic"
        name = font if bank == 0 else f"{font}-{preset}"
        weight = 0.1 if bank == 0 else 0.15 / (len(SF2_TRAIN) - 2)
        out.append((KitSpec(name, "sf2", group, font, bank, preset), weight))
    return out


# --------------------------------------------------------------------------- mixed kits

# --mixed-kit-fraction: each instrument group of a clip comes from its own kit, drawn from the
# split's sample kits (weights: acoustic Hydrogen 1, electronic Hydrogen 0.4, MuldjordKit 3, Sonic Pi
# 1; held-out splits: the held-out Hydrogen kits only). A kit can serve a group when it has one of
# the group's key roles; the group's other roles come from the same kit where it has them.
KIT_GROUPS = {
    "kick": ("kick",),
    "snare": ("snare", "snare_rim", "sidestick"),
    "hihat": ("hh_closed", "hh_pedal", "hh_open", "hh_semi"),
    "toms": ("tom_high", "tom_mid", "tom_low"),
    "cymbals": ("crash", "crash2", "china", "ride", "ride_bell"),
}
GROUP_KEY_ROLES = {"kick": {"kick"}, "snare": {"snare"}, "hihat": {"hh_closed"},
                   "toms": {"tom_high", "tom_mid", "tom_low"}, "cymbals": {"crash", "ride"}}
GROUP_LEVEL_DB = (-8.0, 0.0)  # peak of each group's loudest layer, re full scale, before effects
MIXED = "mixed"


def mix_pool(split: str) -> list[tuple[str, float]]:
    """(kit name, weight) of the sample kits a mixed-kit clip of ``split`` draws its groups from."""
    if split != "train":
        return [(k, 1.0) for k in HYDROGEN_HELD_OUT]
    return ([(k, 1.0) for k in HYDROGEN_TRAIN_ACOUSTIC] + [(k, 0.4) for k in HYDROGEN_TRAIN_ELECTRONIC]
            + [(MULDJORD, 3.0), (SONIC_PI, 1.0)])


@cache
def kit_roles(name: str) -> frozenset[str]:
    """Roles of a sample kit (for planning; reads no audio)."""
    if name == MULDJORD:
        return frozenset(mj.INSTRUMENT_ROLES.values())
    if name == SONIC_PI:
        return frozenset(role for role, _ in SONIC_PI_INSTRUMENTS.values())
    return frozenset(HydrogenKit(name, 24000).roles)


def kits_of(plan: dict) -> set[str]:
    """Names of the sample kits a plan plays (its kit, or every kit of a mixed-kit clip)."""
    if plan["kit_source"] == MIXED:
        return {name for name, _ in plan["kit_mix"].values()}
    return {plan["kit"]}


def draw_kit_mix(split: str, rng: np.random.Generator) -> dict[str, list]:
    """``{group: [kit name, level_db]}``: one kit per instrument group, drawn from :func:`mix_pool`."""
    pool = mix_pool(split)
    out = {}
    for group in KIT_GROUPS:
        cands = [(k, w) for k, w in pool if kit_roles(k) & GROUP_KEY_ROLES[group]]
        w = np.array([w for _, w in cands])
        name = cands[int(rng.choice(len(cands), p=w / w.sum()))][0]
        out[group] = [name, round(float(rng.uniform(*GROUP_LEVEL_DB)), 1)]
    return out


# --------------------------------------------------------------------------- held-out check

def held_out_check(extra_train: tuple[str, ...] = (MULDJORD, SONIC_PI)) -> dict:
    """Compare held-out kit samples with every training sample (PCM hashes + fingerprints).

    ``extra_train``: sample kits besides the Hydrogen ones that training clips may play (every
    microphone file of the MuldjordKit is compared).
    """
    def kit_source(name: str):
        kit = make_kit(name, 24000)
        return rc.file_source(name, kit.sample_files())

    train = [kit_source(k) for k in HYDROGEN_TRAIN_ACOUSTIC + HYDROGEN_TRAIN_ELECTRONIC + [PERC_TRAIN]
             + list(extra_train)]
    train += [rc.sf2_source(f) for f in FONTS_TRAIN]
    held = {k: [kit_source(k)] for k in HYDROGEN_HELD_OUT + [PERC_HELD_OUT]}
    for font in FONTS_HELD_OUT:  # every sample of the font (drums and melodic instruments)
        held[font] = [rc.sf2_source(font)]
    return rc.sample_overlap(train, held)


# --------------------------------------------------------------------------- planning

@dataclass
class Performance:
    id: str
    path: Path
    duration_s: float
    split: str
    style: str


def performances(split: str, *, min_duration_s: float = 8.0) -> list[Performance]:
    out = []
    with open(GMD_DIR / "info.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["split"] != split or float(row["duration"]) < min_duration_s:
                continue
            out.append(Performance(row["id"], GMD_DIR / row["midi_filename"], float(row["duration"]),
                                   row["split"], row["style"]))
    return out


MUSIC_PROGRAMS = {
    "piano": [0, 1, 2, 3, 4, 5, 6, 7],
    "organ": [16, 17, 18, 19],
    "guitar": [24, 25, 26, 27, 28, 29, 30],
    "strings": [48, 49, 50, 51, 88, 89, 90, 91, 92, 94, 95],
    "bass": [32, 33, 34, 35, 36, 38, 39],
}


MUTABLE = ("kick", "snare", "hihat")  # classes --mute-fraction may leave out of a clip


@dataclass(frozen=True)
class RecordedSound:
    """Shares of the recorded-sound features (issue #17). All zero (:data:`LEGACY`) plans and
    renders the clips of the earlier renderer (the data of the bundled drums model) exactly."""

    muldjord_fraction: float = 0.2
    mixed_kit_fraction: float = 0.5
    strum_fraction: float = 0.5
    accomp_fx_fraction: float = 1.0


LEGACY = RecordedSound(0.0, 0.0, 0.0, 0.0)


def add_recorded_sound(plan: dict, clip_seed: int, opts: RecordedSound) -> None:
    """Draw the recorded-sound choices of one clip into ``plan``.

    Each feature draws from its own random stream (seeded by the clip seed), so the clip's other
    choices, and each feature's choices, do not depend on the other features' settings:

    - ``muldjord_fraction`` of training clips are played by the MuldjordKit (``kit_source``
      "multimic"); validation and test never use it (there is no second multi-microphone kit);
    - ``mixed_kit_fraction`` of the clips that play a Hydrogen kit take each instrument group from
      its own kit instead (``kit_source`` "mixed", ``kit_mix``);
    - a clip that plays the MuldjordKit gets a random microphone mix (``mic_mix``);
    - ``strum_fraction`` of accompanied clips get a band on the performance's beats (real guitar
      strums, GM bass and keys) instead of a piano-midi.de excerpt (``music.kind`` "band");
    - ``accomp_fx_fraction`` of accompanied clips put their accompaniment through EQ, a room and
      compression (``music.fx``) before it is mixed under the drums.
    """
    split = plan["split"]
    rng = np.random.default_rng([clip_seed, 21])
    if split == "train" and rng.random() < opts.muldjord_fraction:
        plan.update(kit=MULDJORD, kit_source="multimic", kit_group="acoustic", font="", bank=0, preset=0)
        plan.pop("tuning_semitones", None)
        if rng.random() < 0.5:
            plan["tuning_semitones"] = round(float(rng.uniform(-1.5, 1.5)), 2)
    rng = np.random.default_rng([clip_seed, 22])
    if plan["kit_source"] == "hydrogen" and rng.random() < opts.mixed_kit_fraction:
        plan.update(kit=MIXED, kit_source=MIXED, kit_group=MIXED, kit_mix=draw_kit_mix(split, rng))
    if MULDJORD in kits_of(plan):
        plan["mic_mix"] = mj.draw_mic_mix(np.random.default_rng([clip_seed, 23]))
    if plan["variant"] == "mix":
        music = plan["music"]
        rng = np.random.default_rng([clip_seed, 24])
        if rng.random() < opts.strum_fraction:
            music["kind"] = "band"
            music["band"] = draw_band(rng, set(strum_index()))
        rng = np.random.default_rng([clip_seed, 25])
        if rng.random() < opts.accomp_fx_fraction:
            music["fx"] = draw_accomp_fx(rng)


def plan_split(split: str, hours: float, seed: int, *, clip_min_s: float, clip_max_s: float,
               p_mix: float = 0.5, mute_fraction: float = 0.0,
               recorded: RecordedSound = RecordedSound(),
               drum_to_music_db: tuple[float, float] = (-6.0, 12.0)) -> list[dict]:
    """Deterministic list of clip plans (all random choices are drawn here).

    ``mute_fraction``: share of clips in which one or two of kick / snare / hi-hat are left out
    (no audio, no labels). For training, it breaks Groove MIDI's habit of a hi-hat with nearly
    every kick and snare (0.3 did not reduce a model's phantom hi-hats in the one experiment run,
    see recipes/results/README.md); at 1.0 on validation it gives a set that counts how often a
    class fires where it never plays. Drawn from its own random stream, so the other choices of
    every clip are the same with or without it.

    ``recorded``: the recorded-sound features (:func:`add_recorded_sound`); ``drum_to_music_db``:
    the range of the drums' level over the accompaniment (active RMS, dB).
    """
    if hours <= 0:
        return []
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    perfs = performances(split)
    if not perfs:
        raise RuntimeError(f"no Groove MIDI performances for split {split!r} in {GMD_DIR}")
    weights = np.array([p.duration_s for p in perfs])
    weights = weights / weights.sum()
    kits = kit_specs(split)
    kit_w = np.array([w for _, w in kits])
    kit_w = kit_w / kit_w.sum()
    pieces = [p for p in rc.piano_pieces(min_duration_s=60.0) if p.split == split]
    plans, total = [], 0.0
    budget = hours * 3600.0
    i = 0
    while total < budget:
        perf = perfs[int(rng.choice(len(perfs), p=weights))]
        dur = float(rng.uniform(clip_min_s, clip_max_s))
        dur = min(dur, perf.duration_s)
        start = float(rng.uniform(0.0, max(perf.duration_s - dur, 0.0)))
        if split == "train":
            kit = kits[int(rng.choice(len(kits), p=kit_w))][0]
        else:  # held-out kit families in turn (ForzeeStereo, BJA_Pacific, TimGM6mb presets)
            families = sorted({k.font or k.name for k, _ in kits})
            fam = families[i % len(families)]
            members = [k for k, _ in kits if (k.font or k.name) == fam]
            kit = members[int(rng.integers(len(members)))]
        # exact shares: clip i is a mix when floor((i + 1) p) > floor(i p); p = 0.5 alternates
        variant = "mix" if int((i + 1) * p_mix) > int(i * p_mix) else "drumonly"
        clip_seed = int(rng.integers(1 << 31))
        plan = {"index": i, "split": split, "performance": perf.id, "midi": str(perf.path),
                "style": perf.style, "start_s": round(start, 3), "duration_s": round(dur, 3),
                "kit": kit.name, "kit_source": kit.source, "kit_group": kit.group,
                "font": kit.font, "bank": kit.bank, "preset": kit.preset,
                "variant": variant, "seed": clip_seed}
        crng = np.random.default_rng(clip_seed)
        plan["effects"] = rc.effect_params(crng, 24000)
        if kit.source == "hydrogen" and split == "train" and crng.random() < 0.5:
            plan["tuning_semitones"] = round(float(crng.uniform(-1.5, 1.5)), 2)
        if crng.random() < 0.35:
            plan["extra_perc_rate_hz"] = round(float(crng.uniform(0.1, 0.6)), 3)
        if variant == "mix":
            piece = pieces[int(crng.integers(len(pieces)))]
            plan["music"] = {
                "piece": str(piece.path), "composer": piece.composer,
                "start_s": round(float(crng.uniform(0, max(piece.duration_s - dur - 2.0, 0))), 3),
                "drum_to_music_db": round(float(crng.uniform(*drum_to_music_db)), 1),
                "font": MUSIC_FONT[split],
                "seed": int(crng.integers(1 << 31)),
            }
        if mute_fraction > 0:
            mrng = np.random.default_rng([clip_seed, 7])
            if mrng.random() < mute_fraction:
                muted = mrng.choice(MUTABLE, size=int(mrng.integers(1, len(MUTABLE))), replace=False)
                plan["muted"] = sorted(str(c) for c in muted)
        add_recorded_sound(plan, clip_seed, recorded)
        perf_slug = perf.id.replace("/", "-")
        kit_slug = re.sub(r"[^A-Za-z0-9]+", "", plan["kit"])
        plan["name"] = f"{perf_slug}__{kit_slug}__{seed}-{i:05d}"
        plan["path"] = f"{variant}/{plan['name']}"
        plans.append(plan)
        total += dur
        i += 1
    return plans


# --------------------------------------------------------------------------- rendering

class Renderer:
    def __init__(self, sr: int, cache_dir: Path):
        self.sr = sr
        self.fluid = rc.FluidRenderer(sr, dict(rc.SOUND_FONTS), cache_dir=cache_dir)
        self._kits: dict[str, SampleKit] = {}
        self._strums: StrumKit | None = None

    def kit(self, name: str) -> SampleKit:
        if name not in self._kits:
            self._kits[name] = make_kit(name, self.sr)
        return self._kits[name]

    @property
    def strums(self) -> StrumKit:
        if self._strums is None:
            self._strums = StrumKit(self.sr)
        return self._strums

    # -- hits
    def performance_hits(self, plan: dict, t0: float, n: int) -> list[Hit]:
        import pretty_midi

        pm = pretty_midi.PrettyMIDI(plan["midi"])
        hits = []
        for inst in pm.instruments:
            for note in inst.notes:
                if not t0 <= note.start < t0 + n / self.sr:
                    continue
                gm = TD11_TO_GM.get(note.pitch, note.pitch)
                hits.append(Hit(int(round((note.start - t0) * self.sr)), gm, int(note.velocity),
                                note_class(note.pitch)))
        return hits

    def extra_perc_hits(self, plan: dict, n: int, rng: np.random.Generator, n_sounds: int) -> list[Hit]:
        rate = plan.get("extra_perc_rate_hz", 0.0)
        if not rate or n_sounds == 0:
            return []
        k = int(rng.poisson(rate * n / self.sr))
        return [Hit(int(rng.integers(0, n)), 0, int(rng.integers(35, 115)), "other",
                    int(rng.integers(n_sounds))) for _ in range(k)]

    # -- sample kits
    def render_hydrogen(self, plan: dict, hits: list[Hit], n: int, rng: np.random.Generator):
        """Drums from sample kits: one Hydrogen kit, the MuldjordKit, or a mixed-kit clip."""
        held_out = plan["split"] != "train"
        used = kits_of(plan)
        if held_out and not used <= set(HYDROGEN_HELD_OUT):
            raise ValueError(f"{plan['split']} clip plays training kits {sorted(used - set(HYDROGEN_HELD_OUT))}")
        if MULDJORD in used:
            self.kit(MULDJORD).set_mix(plan.get("mic_mix"))
        if plan["kit_source"] == MIXED:
            kit = None
            kit_map = self.mixed_kit_map(plan, rng)
        else:
            kit = self.kit(plan["kit"])
            kit_map = {}
            for role, cands in kit.roles.items():
                if role == "perc":
                    continue
                ins = cands[int(rng.integers(len(cands)))]
                semis = 0.0
                if "tuning_semitones" in plan:
                    semis = float(plan["tuning_semitones"]) + float(rng.uniform(-0.5, 0.5))
                kit_map[role] = (kit, ins, semis)
        # kits without toms / cymbals borrow them from another kit of the same split
        missing = [r for r in DISTRACTOR_ROLES if r not in kit_map]
        if missing and not held_out:
            donors = [k for k in HYDROGEN_TRAIN_ACOUSTIC if kit is None or k != kit.name]
            donor = self.kit(donors[int(rng.integers(len(donors)))])
            for role in missing:
                if role in donor.roles:
                    cands = donor.roles[role]
                    kit_map[role] = (donor, cands[int(rng.integers(len(cands)))], 0.0)
        perc_kit = self.kit(PERC_HELD_OUT if held_out else PERC_TRAIN)
        pool = ([(kit, ins) for ins in kit.roles.get("perc", [])] if kit is not None else []) + \
            [(perc_kit, ins) for ins in perc_kit.instruments]
        extra = self.extra_perc_hits(plan, n, rng, len(pool))
        for h in extra:
            h.note = perc_note(pool[h.source][1].name)
        audio, labels = mix_sample_kit(hits + extra, kit_map, pool, n, rng)
        return audio, labels

    def mixed_kit_map(self, plan: dict, rng: np.random.Generator) -> dict:
        """role -> (kit, instrument, semitones) of a mixed-kit clip: each group from its own kit.

        Kits are recorded at very different levels, so each group is scaled so that the loudest
        layer of its main instrument (the first of the group's roles the kit has) peaks at the
        group's ``level_db``; the group's other roles keep their level relative to it.
        """
        kit_map = {}
        for group, (name, level_db) in plan["kit_mix"].items():
            kit = self.kit(name)
            roles = [r for r in KIT_GROUPS[group] if r in kit.roles]
            picks = {r: kit.roles[r][int(rng.integers(len(kit.roles[r])))] for r in roles}
            if not picks:
                continue
            main = picks[roles[0]]
            top = max(l.vmax for l in main.layers)
            ref = next(l for l in main.layers if l.vmax == top)
            peak = float(np.abs(kit.sound(ref.path).audio).max()) * ref.gain * main.gain
            scale = 10.0 ** (float(level_db) / 20.0) / max(peak, 1e-6)
            for role, ins in picks.items():
                semis = 0.0
                if "tuning_semitones" in plan:
                    semis = float(plan["tuning_semitones"]) + float(rng.uniform(-0.5, 0.5))
                kit_map[role] = (kit, replace(ins, gain=ins.gain * scale), semis)
        return kit_map

    # -- sound-font kits
    def render_sf2(self, plan: dict, hits: list[Hit], n: int, rng: np.random.Generator):
        font, bank, preset = plan["font"], plan["bank"], plan["preset"]
        chan = 9
        keys = set()
        for h in hits:
            for cand in [h.note] + SF2_FALLBACK.get(h.note, []):
                keys.add((cand, h.velocity))
        lead = self.fluid.lead_ins(font, bank, preset, keys)
        events, placed = [], []
        for h in hits:
            note = next((c for c in [h.note] + SF2_FALLBACK.get(h.note, []) if lead[(c, h.velocity)] >= 0),
                        None)
            if note is None:
                continue
            pos = rc.snap(h.pos)
            events.append(rc.MidiEvent(pos, "on", chan, note, h.velocity))
            placed.append((pos + lead[(note, h.velocity)], Hit(pos, h.note, h.velocity, h.cls)))
        audio = self.fluid.render(events, n, {chan: (font, bank, preset)})
        # extra percussion hits come from the split's percussion sample kit
        if plan.get("extra_perc_rate_hz"):
            perc_kit = self.kit(PERC_HELD_OUT if plan["split"] != "train" else PERC_TRAIN)
            pool = [(perc_kit, ins) for ins in perc_kit.instruments]
            extra = self.extra_perc_hits(plan, n, rng, len(pool))
            for h in extra:
                h.note = perc_note(pool[h.source][1].name)
            if extra:
                perc_audio, perc_labels = mix_sample_kit(extra, {}, pool, n, rng)
                ratio = 10 ** (float(rng.uniform(-12, 0)) / 20)
                scale = ratio * (np.abs(audio).max() + 1e-6) / (np.abs(perc_audio).max() + 1e-6)
                audio = audio + perc_audio * np.float32(scale)
                placed += perc_labels
        return audio, placed

    # -- music
    def render_progression(self, plan: dict, music: dict, t0: float, n: int) -> tuple[np.ndarray, list]:
        """Piano chords and a bass line on the performance's own beats (I-vi-IV-V, 1 bar each).

        Used for the bundled example: the notes are generated here, so the audio owes nothing to
        the piano-midi.de files.
        """
        import pretty_midi

        pm = pretty_midi.PrettyMIDI(plan["midi"])
        beats = pm.get_beats()
        key = int(music.get("key", 0))
        chords = [(0, 4, 7), (9, 12, 16), (5, 9, 12), (7, 11, 14)]  # C, Am, F, G (+key)
        font = music["font"]
        piano, bass = 0, 1
        events = []
        for b, tb in enumerate(beats):
            if not t0 <= tb < t0 + n / self.sr:
                continue
            chord = chords[(b // 4) % 4]
            pos = rc.snap((tb - t0) * self.sr)
            next_tb = beats[b + 1] if b + 1 < len(beats) else tb + 0.5
            beat_len = rc.snap((next_tb - tb) * self.sr)
            if b % 2 == 0:  # piano chord on beats 1 and 3, held for two beats
                for iv in chord:
                    events.append(rc.MidiEvent(pos, "on", piano, 60 + key + iv, 62))
                    events.append(rc.MidiEvent(pos + 2 * beat_len - rc.BLOCK, "off", piano, 60 + key + iv))
            # bass: root on every beat, fifth on beat 4
            note = 36 + key + chord[0] + (7 if b % 4 == 3 else 0)
            events.append(rc.MidiEvent(pos, "on", bass, note, 85))
            events.append(rc.MidiEvent(pos + beat_len - rc.BLOCK, "off", bass, note))
        audio = self.fluid.render(events, n, {piano: (font, 0, music.get("piano_program", 0)),
                                              bass: (font, 0, music.get("bass_program", 33))})
        return audio, [f"piano:{music.get('piano_program', 0)}", f"bass:{music.get('bass_program', 33)}"]

    def render_band(self, plan: dict, music: dict, hits: list[Hit], t0: float,
                    n: int) -> tuple[np.ndarray, list]:
        """A band on the performance's beats (``music["band"]``, see :func:`draw_band`): real guitar
        strums, and GM bass and keys (the split's music font) in one key, a chord per bar.

        The beats are the MIDI tempo grid moved onto the drummer (:func:`follow_beats`); every
        band note gets a random timing offset (``timing_ms`` s.d.). None of it is labelled.
        """
        import pretty_midi

        sr = self.sr
        band = music["band"]
        rng = np.random.default_rng(band["seed"])
        pm = pretty_midi.PrettyMIDI(plan["midi"])
        grid = np.asarray(pm.get_beats(), float)
        if len(grid) < 2:
            return np.zeros(n, np.float32), ["band:no-beats"]
        spb = float(np.median(np.diff(grid)))
        end = t0 + n / sr
        if grid[-1] < end + 2 * spb:  # a clip may run past the MIDI file's last beat
            grid = np.concatenate([grid, grid[-1] + spb * np.arange(1, int((end - grid[-1]) / spb) + 4)])
        drum_t = [t0 + h.pos / sr for h in hits if h.cls in ("kick", "snare", "hihat")]
        beats = follow_beats(grid, np.array(drum_t))
        ts = pm.time_signature_changes
        bar_len = {2: 2, 3: 3, 6: 2, 9: 3, 12: 4}.get(ts[0].numerator if ts else 4, 4)
        prog, key = band["progression"], int(band["key"])
        sd = float(band["timing_ms"]) / 1000.0

        def chord(k: int) -> tuple[int, str]:
            off, quality = DEGREES[prog[(k // bar_len) % len(prog)]]
            return (key + off) % 12, quality

        def jitter() -> float:
            return float(np.clip(rng.normal(0.0, sd), -2.5 * sd, 2.5 * sd)) if sd > 0 else 0.0

        lo = int(np.searchsorted(beats, t0 - spb)) - 1
        ks = [k for k in range(max(lo, 0), len(beats) - 1) if beats[k] < end]
        # strums: eighth-note slots of the pattern, the chord of the beat's bar
        pattern = STRUM_PATTERNS[band["strum_pattern"]]
        strums, prev = [], None
        for k in ks:
            for half in (0, 1):
                v = pattern[((k % bar_len) * 2 + half) % len(pattern)]
                if not v:
                    continue
                t = beats[k] + half * (beats[k + 1] - beats[k]) / 2 + jitter()
                pc, quality = chord(k)
                layer = int(rng.choice([0, 1])) if v == 2 else int(rng.choice([1, 2]))
                slide = ""
                if (pc, quality) != prev and rng.random() < band["slide_prob"]:
                    slide = str(rng.choice(["up", "down"]))
                prev = (pc, quality)
                gain = float(rng.uniform(0.75, 1.0))
                if t0 - 0.05 <= t < end:
                    snd = self.strums.sound(self.strums.path(pc, quality, slide, layer))
                    strums.append((round((t - t0) * sr), snd, gain))
        strum_audio = np.zeros(n, np.float32)
        place_strums(strum_audio, strums, fade=int(0.02 * sr))
        desc = [f"key:{key}", f"strums:{band['strum_pattern']}"]
        # GM bass and keys
        events, programs = [], {}

        def note(t_on: float, t_off: float, chan: int, pitch: int, vel: int) -> None:
            p_on, p_off = rc.snap((t_on - t0) * sr), rc.snap((t_off - t0) * sr)
            if 0 <= p_on < n:
                events.append(rc.MidiEvent(p_on, "on", chan, pitch, vel))
                events.append(rc.MidiEvent(max(p_on + rc.BLOCK, p_off - rc.BLOCK), "off", chan, pitch))

        font = music["font"]
        if "bass" in band:
            program = band["bass"] if self.fluid.preset_exists(font, 0, band["bass"]) else 33
            programs[0] = (font, 0, program)
            bp = band["bass_pattern"]
            for k in ks:
                pos = k % bar_len
                if bp == "half" and pos % 2:
                    continue
                pc, _ = chord(k)
                root = 28 + (pc - 4) % 12  # E1..D#2
                pitch = root + 7 if bp == "root-fifth" and pos >= 2 else root
                length = 2 if bp == "half" else 1
                steps = [(0.0, 0.5), (0.5, 1.0)] if bp == "eighth" else [(0.0, float(length))]
                for a, b in steps:
                    t_on = beats[k] + a * spb + jitter()
                    note(t_on, beats[k] + b * spb, 0, pitch, int(rng.integers(70, 106)))
            desc.append(f"bass:{program}:{bp}")
        if "keys" in band:
            program = band["keys"] if self.fluid.preset_exists(font, 0, band["keys"]) else 0
            programs[1] = (font, 0, program)
            style = band["keys_style"]
            for k in ks:
                pos = k % bar_len
                if (style == "held" and pos) or (style == "beats" and pos % 2):
                    continue
                pc, quality = chord(k)
                length = bar_len if style == "held" else 2
                t_on = beats[k] + jitter()
                vel = int(rng.integers(45, 81))
                for iv in CHORD_INTERVALS[quality]:
                    note(t_on, beats[k] + length * spb, 1, 55 + (pc + iv - 55) % 12, vel)
            desc.append(f"keys:{program}:{style}")
        gm = self.fluid.render(events, n, programs) if events else np.zeros(n, np.float32)
        s_db, g_db = rc.active_rms_db(strum_audio, sr), rc.active_rms_db(gm, sr)
        if s_db > -90 and g_db > -90:
            strum_audio *= np.float32(10 ** ((g_db + float(band["strum_db"]) - s_db) / 20))
        return gm + strum_audio, desc

    def render_music(self, music: dict, n: int, preroll: int) -> tuple[np.ndarray, list]:
        rng = np.random.default_rng(music["seed"])
        parts = _parts(music["piece"])
        t0 = music["start_s"] - preroll / self.sr
        events, programs, desc = [], {}, []
        font = music["font"]
        chan = 0
        for part in parts[:4]:
            median = float(np.median(part.pitch)) if len(part.pitch) else 60.0
            if median < 55 and rng.random() < 0.6:
                family = "bass"
            else:
                family = str(rng.choice(["piano", "piano", "organ", "guitar", "strings"]))
            program = int(rng.choice(MUSIC_PROGRAMS[family]))
            transpose = 0
            src = part
            if family == "bass":
                transpose = -12 * int(max(0, round((median - 40) / 12)))
                src = _lowest_notes(part)
            if not self.fluid.preset_exists(font, 0, program):
                program = 0
            ev, _ = rc.part_events(src, chan, t0=t0, n_samples=n, sr=self.sr, transpose=transpose,
                                   pedal=family in ("piano", "guitar"))
            events += ev
            programs[chan] = (font, 0, program)
            desc.append(f"{family}:{program}{transpose:+d}" if transpose else f"{family}:{program}")
            chan += 1
            if chan == 9:
                chan += 1
        audio = self.fluid.render(events, n, programs) if events else np.zeros(n, np.float32)
        return audio, desc

    # -- one clip
    def render_clip(self, plan: dict, *, preroll_s: float = 1.0) -> tuple[np.ndarray, list, dict]:
        sr = self.sr
        rng = np.random.default_rng(plan["seed"])
        start = plan["start_s"]
        pre = min(preroll_s, start)
        pre_n = int(round(pre * sr))
        n_clip = int(round(plan["duration_s"] * sr))
        n = pre_n + n_clip
        t0 = start - pre
        muted = set(plan.get("muted", ()))
        all_hits = self.performance_hits(plan, t0, n)
        hits = [h for h in all_hits if h.cls not in muted]
        if plan["kit_source"] == "sf2":
            drums, placed = self.render_sf2(plan, hits, n, rng)
        else:  # "hydrogen", "multimic" (MuldjordKit), "mixed"
            drums, placed = self.render_hydrogen(plan, hits, n, rng)
        info = {}
        mix = drums
        if plan["variant"] == "mix":
            kind = plan["music"].get("kind")
            if kind == "progression":
                music, desc = self.render_progression(plan, plan["music"], t0, n)
            elif kind == "band":  # follows the drummer: every performance hit, muted ones too
                music, desc = self.render_band(plan, plan["music"], all_hits, t0, n)
            else:
                music, desc = self.render_music(plan["music"], n, pre_n)
            if plan["music"].get("fx"):
                music = apply_accomp_fx(music, sr, plan["music"]["fx"])
                desc = desc + ["fx"]
            d_db = rc.active_rms_db(drums[pre_n:], sr)
            m_db = rc.active_rms_db(music[pre_n:], sr)
            if m_db > -90:
                gain = 10 ** ((d_db - plan["music"]["drum_to_music_db"] - m_db) / 20)
                mix = drums + music * np.float32(gain)
            info["music_parts"] = " ".join(desc)
        audio = rc.apply_effects(mix, plan["effects"], sr, rng)[pre_n:]
        rows = []
        for onset, hit in placed:
            t = (onset - pre_n) / sr
            if 0.0 <= t < n_clip / sr:
                rows.append((t, hit.cls, hit.note, hit.velocity))
        return audio, rows, info


@lru_cache(maxsize=32)
def _parts(path: str):
    return rc.load_midi_parts(Path(path))


def _lowest_notes(part: rc.MidiPart, window_s: float = 0.03) -> rc.MidiPart:
    """Keep the lowest note of each chord (onsets closer than ``window_s``) for a bass line."""
    keep = []
    i = 0
    order = np.lexsort((part.pitch, part.start))
    while i < len(order):
        j = i
        while j + 1 < len(order) and part.start[order[j + 1]] - part.start[order[i]] < window_s:
            j += 1
        group = order[i:j + 1]
        keep.append(group[int(np.argmin(part.pitch[group]))])
        i = j + 1
    keep = np.array(sorted(keep), int)
    return rc.MidiPart(part.name, part.start[keep], part.end[keep], part.pitch[keep],
                       part.velocity[keep])


# --------------------------------------------------------------------------- band accompaniment

# Real acoustic guitar strums (Debian hydrogen-drumkits-effects; CC BY 3.0, Gabriel Verdugo Soto,
# www.belofilms.com): 25 chords, each plain and with a slide up / down into it, 4 velocity layers
# (``_00`` loudest .. ``_03`` softest), 2 s, 44.1/96 kHz stereo.
STRUM_DIR = rc.HYDROGEN_DIR / "belofilms_GuitarStrums"
_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_QUALITY = {"major": "maj", "minor": "min", "minor7b5": "m7b5", "minro7b5": "m7b5"}
CHORD_INTERVALS = {"maj": (0, 4, 7), "min": (0, 3, 7), "m7b5": (0, 3, 6, 10)}
DEGREES = {"I": (0, "maj"), "ii": (2, "min"), "iii": (4, "min"), "IV": (5, "maj"), "V": (7, "maj"),
           "vi": (9, "min")}
PROGRESSIONS = [("I", "V", "vi", "IV"), ("I", "IV", "V", "IV"), ("vi", "IV", "I", "V"),
                ("I", "vi", "IV", "V"), ("I", "IV", "I", "V"), ("ii", "V", "I", "vi"), ("I", "iii", "IV", "V")]
# eighth-note slots of a 4/4 bar: 2 accented strum, 1 light strum, 0 none (3/4 bars use 6 slots)
STRUM_PATTERNS = {
    "whole": (2, 0, 0, 0, 0, 0, 0, 0), "half": (2, 0, 0, 0, 2, 0, 0, 0),
    "quarter": (2, 0, 1, 0, 2, 0, 1, 0), "folk": (2, 0, 1, 1, 0, 1, 2, 1),
    "eighth": (2, 1, 1, 1, 2, 1, 1, 1), "offbeat": (0, 2, 0, 2, 0, 2, 0, 2),
}
BASS_PATTERNS = ("half", "quarter", "eighth", "root-fifth")


def parse_strum_name(fname: str) -> tuple[int, str, str, int] | None:
    """(root pitch class, quality, slide "" / "up" / "down", layer) of a strum file name."""
    m = re.fullmatch(r"([A-G])(sharp|flat)?\s*(major|minor7b5|minro7b5|minor)(?:_(UP|DOWN|Down))?_(\d\d)(?:wav)?"
                     r"\.flac", fname)
    if m is None:
        return None
    pc = (_PITCH_CLASS[m.group(1)] + {"sharp": 1, "flat": -1, None: 0}[m.group(2)]) % 12
    return pc, _QUALITY[m.group(3)], (m.group(4) or "").lower(), int(m.group(5))


@cache
def strum_index(root: Path = STRUM_DIR) -> dict[tuple[int, str], dict[str, dict[int, Path]]]:
    """``{(pc, quality): {slide: {layer: path}}}`` of the strum files."""
    out: dict = {}
    for path in sorted(root.glob("*.flac")):
        parsed = parse_strum_name(path.name)
        if parsed is not None:
            pc, quality, slide, layer = parsed
            out.setdefault((pc, quality), {}).setdefault(slide, {})[layer] = path
    return out


def follow_beats(grid: np.ndarray, hits: np.ndarray, *, tol: float = 1 / 6, context: int = 2) -> np.ndarray:
    """Beat times that follow the drummer: the MIDI tempo ``grid`` (seconds), each beat moved by the
    median offset of the ``hits`` (seconds) lying within ``tol`` beats of grid beats ``k - context ..
    k + context``; beats with no such hit keep the offset of the nearest beat that has one.

    Groove MIDI performances drift from their MIDI tempo grid (count-ins, rushing); a band follows
    the drummer, so its onsets should sit near the drum hits, not on the metronome.
    """
    grid = np.asarray(grid, float)
    hits = np.sort(np.asarray(hits, float))
    if len(grid) < 2 or len(hits) == 0:
        return grid.copy()
    spb = float(np.median(np.diff(grid)))
    idx = np.clip(np.searchsorted(grid, hits), 1, len(grid) - 1)
    nearest = np.where(hits - grid[idx - 1] < grid[idx] - hits, idx - 1, idx)
    dev = hits - grid[nearest]
    ok = np.abs(dev) <= tol * spb
    offsets = np.full(len(grid), np.nan)
    for k in range(len(grid)):
        sel = ok & (np.abs(nearest - k) <= context)
        if sel.any():
            offsets[k] = float(np.median(dev[sel]))
    known = np.nonzero(~np.isnan(offsets))[0]
    if len(known) == 0:
        return grid.copy()
    fill = known[np.argmin(np.abs(np.arange(len(grid))[:, None] - known[None, :]), axis=1)]
    return grid + offsets[fill]


def draw_band(rng: np.random.Generator, chords: set[tuple[int, str]]) -> dict:
    """Random settings of a band accompaniment: key, 4-bar progression, strum pattern, GM parts.

    ``chords``: (pitch class, quality) of the available strum chords; the key is drawn among those
    whose progression chords all exist.
    """
    prog = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    keys = [k for k in range(12) if all(((k + DEGREES[d][0]) % 12, DEGREES[d][1]) in chords for d in prog)]
    if not keys:
        prog = ("I", "IV", "V", "I")
        keys = [k for k in range(12) if all(((k + DEGREES[d][0]) % 12, DEGREES[d][1]) in chords for d in prog)]
    band = {"key": int(keys[int(rng.integers(len(keys)))]) if keys else 0, "progression": list(prog),
            "strum_pattern": str(rng.choice(list(STRUM_PATTERNS))),
            "strum_db": round(float(rng.uniform(-6, 6)), 1),  # strums re the GM parts (active RMS)
            "slide_prob": round(float(rng.uniform(0, 0.3)), 2),
            "timing_ms": round(float(rng.uniform(3, 15)), 1),  # the band's timing spread (s.d.)
            "seed": int(rng.integers(1 << 31))}
    if rng.random() < 0.8:
        band["bass"] = int(rng.choice(MUSIC_PROGRAMS["bass"]))
        band["bass_pattern"] = str(rng.choice(BASS_PATTERNS))
    if rng.random() < 0.6:
        family = str(rng.choice(["piano", "organ", "strings", "guitar"]))
        band["keys"] = int(rng.choice(MUSIC_PROGRAMS[family]))
        band["keys_style"] = str(rng.choice(["held", "beats"]))
    return band


def draw_accomp_fx(rng: np.random.Generator) -> dict:
    """Random EQ / room / compression of the accompaniment (softloc_cli.augment's functions)."""
    fx: dict = {"seed": int(rng.integers(1 << 31))}
    if rng.random() < 0.8:
        fx["eq_gain_db"] = round(float(rng.uniform(3, 9)), 1)
    if rng.random() < 0.7:
        fx["room"] = {"rt60_s": round(float(rng.uniform(0.2, 1.5)), 3),
                      "direct_to_reverb_db": round(float(rng.uniform(-3, 12)), 1)}
    if rng.random() < 0.6:
        fx["compress"] = {"ratio": round(float(rng.uniform(2, 8)), 2),
                          "threshold_pct": round(float(rng.uniform(50, 90)), 1),
                          "time_s": round(float(rng.uniform(0.01, 0.2)), 3)}
    return fx


def apply_accomp_fx(x: np.ndarray, sr: int, fx: dict) -> np.ndarray:
    """EQ, then a simulated room, then compression, as :func:`draw_accomp_fx` chose them."""
    from softloc_cli.augment import add_room, compress, random_eq

    rng = np.random.default_rng(fx["seed"])
    y = np.asarray(x, np.float64)
    if not np.any(y):
        return np.asarray(x, np.float32)
    if "eq_gain_db" in fx:
        y = random_eq(y, sr, rng, bands=3, gain_db=fx["eq_gain_db"])
    if "room" in fx:
        y = add_room(y, sr, rng, rt60_s=fx["room"]["rt60_s"],
                     direct_to_reverb_db=fx["room"]["direct_to_reverb_db"])
    if "compress" in fx:
        y = compress(y, sr, **fx["compress"])
    return y.astype(np.float32)


class StrumKit(SampleKit):
    """The guitar strums as sounds (mono, at the kit rate, lead-in measured like drum samples)."""

    licence = "CC BY 3.0"

    def __init__(self, sr: int, root: Path = STRUM_DIR):
        super().__init__("belofilms_GuitarStrums", sr)
        self.index = strum_index(root)

    def path(self, pc: int, quality: str, slide: str, layer: int) -> Path:
        variants = self.index[(pc, quality)]
        layers = variants.get(slide) or variants.get("") or next(iter(variants.values()))
        return layers.get(layer) or layers[min(layers, key=lambda l: abs(l - layer))]


def place_strums(out: np.ndarray, strums: list[tuple[int, Sound, float]], *, fade: int) -> None:
    """Add strums ``(onset_pos, sound, gain)`` to ``out`` so each sound's acoustic onset lands at
    ``onset_pos``; a strum is cut by the next one (a guitar plays one chord at a time) with a
    ``fade``-sample fade-out starting at the next onset."""
    strums = sorted(strums, key=lambda s: s[0])
    n = len(out)
    for i, (onset, snd, gain) in enumerate(strums):
        start = onset - snd.lead_in
        data = snd.audio * np.float32(gain)
        if i + 1 < len(strums):
            keep = max(0, strums[i + 1][0] - start)
            data = data[: keep + fade].copy()
            m = len(data) - keep
            if m > 0:
                data[keep:] *= np.linspace(1.0, 0.0, m, dtype=np.float32)
        a, b = max(start, 0), min(start + len(data), n)
        if b > a:
            out[a:b] += data[a - start: b - start]


# --------------------------------------------------------------------------- main

def manifest_row(plan: dict, counts: dict[str, int], info: dict) -> dict:
    eff = plan["effects"]
    row = {"path": plan["path"] + ".flac", "split": plan["split"], "variant": plan["variant"],
           "performance": plan["performance"], "style": plan["style"],
           "start_s": plan["start_s"], "duration_s": plan["duration_s"], "kit": plan["kit"],
           "kit_source": plan["kit_source"], "kit_group": plan["kit_group"], "seed": plan["seed"],
           "tuning_semitones": plan.get("tuning_semitones", 0.0),
           "extra_perc_rate_hz": plan.get("extra_perc_rate_hz", 0.0),
           "muted": " ".join(plan.get("muted", ()))}
    for cls in ("kick", "snare", "hihat", "tom", "crash", "ride", "other"):
        row[f"n_{cls}"] = counts.get(cls, 0)
    music = plan.get("music", {})
    band = music.get("kind") == "band"
    row["music_piece"] = Path(music["piece"]).name if music and not band else ""
    row["music_font"] = music.get("font", "")
    row["drum_to_music_db"] = music.get("drum_to_music_db", "")
    row["music_parts"] = info.get("music_parts", "")
    row["effects"] = json.dumps(eff, separators=(",", ":"))
    row["kit_mix"] = " ".join(f"{g}:{k}" for g, (k, _) in plan["kit_mix"].items()) if "kit_mix" in plan else ""
    row["mic_mix"] = json.dumps(plan["mic_mix"], separators=(",", ":")) if "mic_mix" in plan else ""
    row["music_kind"] = (music.get("kind") or "piano-midi") if music else ""
    row["music_fx"] = json.dumps(music["fx"], separators=(",", ":")) if music.get("fx") else ""
    return row


EXAMPLE_PERFORMANCE = "drummer1/eval_session/5"  # test split, funk groove, 84 bpm


def render_example(out_dir: Path, sr: int, *, duration_s: float = 12.0) -> Path:
    """The bundled example: a held-out TEST performance, the held-out BJA_Pacific kit, and a
    generated piano + bass accompaniment (FluidR3_GM), written as example.flac/.csv/README.md."""
    perf = next(p for p in performances("test") if p.id == EXAMPLE_PERFORMANCE)
    plan = {"index": 0, "split": "test", "performance": perf.id, "midi": str(perf.path),
            "style": perf.style, "start_s": 4.0, "duration_s": duration_s, "kit": "BJA_Pacific",
            "kit_source": "hydrogen", "kit_group": "acoustic", "font": "", "bank": 0, "preset": 0,
            "variant": "mix", "seed": 20240501,
            "effects": {"reverb": {"rt60_s": 0.4, "predelay_s": 0.008, "wet_db": -12.0, "seed": 7},
                        "level_db": -18.0},
            "music": {"kind": "progression", "font": "FluidR3_GM", "key": 2, "piano_program": 0,
                      "bass_program": 33, "drum_to_music_db": 4.0, "seed": 1}}
    renderer = Renderer(sr, rc.CACHE_DIR_DEFAULT)
    audio, rows, _ = renderer.render_clip(plan)
    rc.write_clip(out_dir / "example", audio, sr, rows)
    kit = renderer.kit("BJA_Pacific")
    text = (
        "# Bundled example\n\n"
        f"`example.flac` ({duration_s:.0f} s, {sr} Hz mono) and `example.csv` (its ground truth: "
        "`time_s,class,midi_note,velocity`, acoustic onsets) were rendered by "
        "`python scripts/render_drums.py --example softloc_cli/examples` from the Groove MIDI "
        f"Dataset test performance `{perf.id}` (Magenta, CC BY 4.0), seconds 4-{4 + duration_s:.0f}, "
        "played with the held-out Hydrogen kit BJA_Pacific (Pacific set sampled by Bransin James "
        f"Anderson; licence: {kit.licence}, i.e. CC BY-SA 3.0 US) over a generated piano and bass "
        "accompaniment (FluidR3_GM sound font, MIT). The audio is therefore CC BY-SA 3.0.\n"
    )
    rc.atomic_write_text(out_dir / "README.md", text)
    return out_dir / "example.flac"


def missing_recorded_sound(opts: RecordedSound, mix_fraction: float) -> list[str]:
    """What the recorded-sound features in use need and is absent."""
    missing = []
    if (opts.muldjord_fraction > 0 or opts.mixed_kit_fraction > 0) \
            and not (MULDJORD_DIR / "Data" / "macro.txt").is_file():
        missing.append(f"MuldjordKit at {MULDJORD_DIR} (Data/, Samples/)")
    if opts.mixed_kit_fraction > 0:
        absent = [stem for _, stems in SONIC_PI_INSTRUMENTS.values() for stem in stems
                  if not (SONIC_PI_DIR / f"{stem}.flac").is_file()]
        if absent:
            missing.append(f"Sonic Pi drum samples in {SONIC_PI_DIR} ({', '.join(absent[:3])}, ...)")
    if opts.strum_fraction > 0 and mix_fraction > 0 and not strum_index():
        missing.append(f"guitar strums in {STRUM_DIR} (Debian hydrogen-drumkits-effects)")
    if opts.accomp_fx_fraction > 0 and mix_fraction > 0:
        try:
            import softloc_cli.augment  # noqa: F401
        except ImportError as exc:
            missing.append(f"softloc_cli (the project, for its augment module): {exc}")
    return missing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__[__doc__.index("Examples"):])
    rc.add_common_args(ap, out_dir="data/drums", hours=(2.0, 0.25, 0.25))
    ap.add_argument("--mix-fraction", type=float, default=0.5,
                    help="share of clips mixed over accompaniment (0, 0.5 or 1 keep strict halves)")
    ap.add_argument("--mute-fraction", type=float, default=0.0,
                    help="share of clips with one or two of kick/snare/hi-hat left out (0..1)")
    d = RecordedSound()
    g = ap.add_argument_group("recorded sound (issue #17; all four at 0 render the earlier clips exactly)")
    g.add_argument("--muldjord-fraction", type=float, default=d.muldjord_fraction, metavar="F",
                   help="share of training clips played by the 15-microphone MuldjordKit, its mics mixed at "
                        f"random per clip (never in validation/test; default {d.muldjord_fraction})")
    g.add_argument("--mixed-kit-fraction", type=float, default=d.mixed_kit_fraction, metavar="F",
                   help="share of the clips drawn with a Hydrogen kit whose kick, snare, hi-hat, toms and "
                        "cymbals each come from their own kit of the split (training: Hydrogen, MuldjordKit, "
                        f"Sonic Pi; validation/test: the held-out kits) (default {d.mixed_kit_fraction})")
    g.add_argument("--strum-fraction", type=float, default=d.strum_fraction, metavar="F",
                   help="share of accompanied clips whose accompaniment is a band on the performance's beats: "
                        "real guitar strums (hydrogen-drumkits-effects) with GM bass and keys, instead of a "
                        f"piano-midi.de excerpt (default {d.strum_fraction})")
    g.add_argument("--accomp-fx-fraction", type=float, default=d.accomp_fx_fraction, metavar="F",
                   help="share of accompanied clips whose accompaniment goes through random EQ, room and "
                        f"compression (softloc_cli.augment) before mixing (default {d.accomp_fx_fraction})")
    g.add_argument("--drum-to-music-db", type=float, nargs=2, default=(-6.0, 12.0), metavar=("LO", "HI"),
                   help="range of the drums' level over the accompaniment, dB of active RMS (default -6 12)")
    ap.add_argument("--check-only", action="store_true", help="run the held-out sample check and exit")
    ap.add_argument("--example", type=Path, metavar="DIR",
                    help="only render the bundled 12 s example into DIR and exit")
    args = ap.parse_args(argv)
    if not 8000 <= args.sample_rate <= 96000:
        ap.error(f"--sample-rate {args.sample_rate} must be within 8000..96000 Hz")
    if not 0 < args.clip_min <= args.clip_max:
        ap.error(f"--clip-min {args.clip_min} and --clip-max {args.clip_max}: need 0 < min <= max")
    if not 0.0 <= args.mute_fraction <= 1.0:
        ap.error(f"--mute-fraction {args.mute_fraction} must be within 0..1")
    if not 0.0 <= args.mix_fraction <= 1.0:
        ap.error(f"--mix-fraction {args.mix_fraction} must be within 0..1")
    for flag in ("muldjord_fraction", "mixed_kit_fraction", "strum_fraction", "accomp_fx_fraction"):
        if not 0.0 <= getattr(args, flag) <= 1.0:
            ap.error(f"--{flag.replace('_', '-')} {getattr(args, flag)} must be within 0..1")
    if args.drum_to_music_db[0] > args.drum_to_music_db[1]:
        ap.error(f"--drum-to-music-db {args.drum_to_music_db}: need LO <= HI")
    recorded = RecordedSound(args.muldjord_fraction, args.mixed_kit_fraction, args.strum_fraction,
                             args.accomp_fx_fraction)

    kits = (HYDROGEN_TRAIN_ACOUSTIC + HYDROGEN_TRAIN_ELECTRONIC + HYDROGEN_HELD_OUT
            + [PERC_TRAIN, PERC_HELD_OUT])
    missing = rc.missing_requirements(hydrogen_kits=kits, sound_fonts=list(rc.SOUND_FONTS))
    if not (GMD_DIR / "info.csv").is_file():
        missing.append(f"Groove MIDI Dataset at {GMD_DIR} (info.csv)")
    missing += missing_recorded_sound(recorded, args.mix_fraction)
    if missing:
        rc.exit_missing(missing, packages=rc.DEBIAN_PACKAGES + " hydrogen-drumkits-effects sonic-pi-samples")

    if args.example is not None:
        path = render_example(args.example, args.sample_rate)
        print(f"wrote {path} (+ .csv, README.md)", file=sys.stderr)
        return 0

    if not args.skip_check or args.check_only:
        t = time.time()
        extra = ((MULDJORD,) if recorded.muldjord_fraction > 0 or recorded.mixed_kit_fraction > 0 else ()) + \
            ((SONIC_PI,) if recorded.mixed_kit_fraction > 0 else ())
        report = held_out_check(extra)  # the sample kits this configuration's training clips play
        ok = rc.print_overlap(report)
        print(f"  (check took {time.time() - t:.0f} s)", file=sys.stderr)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        rc.atomic_write_text(args.out_dir / "held_out_check.json", json.dumps(report, indent=1))
        if not ok:
            print("error: held-out kits share samples with training kits; fix the kit lists",
                  file=sys.stderr)
            return 1
        if args.check_only:
            return 0

    hours = {"train": args.hours_train, "validation": args.hours_val, "test": args.hours_test}
    renderer = Renderer(args.sample_rate, args.cache_dir)
    return rc.render_splits(
        SPLITS,
        lambda split: plan_split(split, hours[split], args.seed, clip_min_s=args.clip_min,
                                 clip_max_s=args.clip_max, p_mix=args.mix_fraction,
                                 mute_fraction=args.mute_fraction, recorded=recorded,
                                 drum_to_music_db=tuple(args.drum_to_music_db)),
        renderer.render_clip, manifest_row, out_dir=args.out_dir, sr=args.sample_rate,
        save_cache=renderer.fluid.save_cache, overwrite=args.overwrite, quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
