#!/usr/bin/env python3
"""Render Groove MIDI drum performances into labelled training audio.

Each clip is a random 20-40 s excerpt of one Groove MIDI Dataset (GMD) performance, played by one
drum kit, written as 16-bit mono FLAC plus a sidecar CSV ``time_s,class,midi_note,velocity``:

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

Layout: OUT/{train,validation,test}/{drumonly,mix}/<clip>.flac + .csv, and OUT/<split>/manifest.csv.
Splits are written validation, train, test; existing clips are skipped (resuming is free).

Examples
--------
    python scripts/render_drums.py --hours-train 0.02 --hours-val 0.02 --hours-test 0 -o /tmp/drums
    python scripts/render_drums.py --hours-train 2.5 --hours-val 0.3 --hours-test 0.3
    python scripts/render_drums.py --check-only
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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
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
    49: ["crash", "crash2"], 55: ["crash", "crash2"], 57: ["crash2", "crash"], 52: ["crash2", "crash"],
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


class HydrogenKit:
    """A Hydrogen drumkit.xml (new <layer> format or old per-instrument <filename> format)."""

    def __init__(self, name: str, sr: int, root: Path = rc.HYDROGEN_DIR):
        self.name = name
        self.dir = root / name
        self.sr = sr
        xml = _strip_ns(ET.parse(self.dir / "drumkit.xml").getroot())
        self.licence = (xml.findtext("license") or "").strip()
        self.instruments: list[Instrument] = []
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
        self.roles: dict[str, list[Instrument]] = {}
        for ins in self.instruments:
            self.roles.setdefault(ins.role, []).append(ins)
        # a bare "Stick" may be sticks clicked together: prefer a real rim click / side stick
        rims = [i for i in self.roles.get("sidestick", []) if "rim" in i.name.lower()
                or "side" in i.name.lower()]
        if rims:
            self.roles["sidestick"] = rims
        self._sounds: dict[tuple[Path, float], Sound] = {}

    def sound(self, path: Path, semitones: float = 0.0) -> Sound:
        key = (path, round(semitones, 2))
        if key not in self._sounds:
            base = self._sounds.get((path, 0.0))
            if base is None:
                import soundfile as sf

                x, sr = sf.read(path, always_2d=True, dtype="float32")
                audio = rc.trim_tail(rc.resample(x.mean(1), sr, self.sr))
                base = Sound(audio, max(rc.measure_lead_in(audio), 0))
                self._sounds[(path, 0.0)] = base
            if key[1] != 0.0:
                audio = rc.pitch_shift_resample(base.audio, semitones)
                self._sounds[key] = Sound(audio, max(rc.measure_lead_in(audio), 0))
        return self._sounds[key]

    def drop_cache(self) -> None:
        self._sounds = {k: v for k, v in self._sounds.items() if k[1] == 0.0}

    def describe(self) -> str:
        return ", ".join(f"{r}:{'/'.join(i.name for i in ins)}" for r, ins in sorted(self.roles.items()))


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


def mix_sample_kit(hits: list[Hit], kit_map: dict[str, tuple[HydrogenKit, Instrument, float]],
                   pool: list[tuple[HydrogenKit, Instrument]], n: int,
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


# --------------------------------------------------------------------------- held-out check

def held_out_check() -> dict:
    """Compare held-out kit samples with every training sample (PCM hashes + fingerprints)."""
    def kit_source(name: str):
        kit = HydrogenKit(name, 24000)
        return rc.file_source(name, [l.path for ins in kit.instruments for l in ins.layers])

    train = [kit_source(k) for k in HYDROGEN_TRAIN_ACOUSTIC + HYDROGEN_TRAIN_ELECTRONIC + [PERC_TRAIN]]
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


def plan_split(split: str, hours: float, seed: int, *, clip_min_s: float, clip_max_s: float,
               p_mix: float = 0.5, mute_fraction: float = 0.0) -> list[dict]:
    """Deterministic list of clip plans (all random choices are drawn here).

    ``mute_fraction``: share of clips in which one or two of kick / snare / hi-hat are left out
    (no audio, no labels). For training, it breaks Groove MIDI's habit of a hi-hat with nearly
    every kick and snare (0.3 did not reduce a model's phantom hi-hats in the one experiment run,
    see recipes/results/README.md); at 1.0 on validation it gives a set that counts how often a
    class fires where it never plays. Drawn from its own random stream, so the other choices of
    every clip are the same with or without it.
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
                "drum_to_music_db": round(float(crng.uniform(-6.0, 12.0)), 1),
                "font": MUSIC_FONT[split],
                "seed": int(crng.integers(1 << 31)),
            }
        if mute_fraction > 0:
            mrng = np.random.default_rng([clip_seed, 7])
            if mrng.random() < mute_fraction:
                muted = mrng.choice(MUTABLE, size=int(mrng.integers(1, len(MUTABLE))), replace=False)
                plan["muted"] = sorted(str(c) for c in muted)
        perf_slug = perf.id.replace("/", "-")
        kit_slug = re.sub(r"[^A-Za-z0-9]+", "", kit.name)
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
        self._kits: dict[str, HydrogenKit] = {}

    def kit(self, name: str) -> HydrogenKit:
        if name not in self._kits:
            self._kits[name] = HydrogenKit(name, self.sr)
        return self._kits[name]

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
        kit = self.kit(plan["kit"])
        held_out = plan["split"] != "train"
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
            donors = [k for k in HYDROGEN_TRAIN_ACOUSTIC if k != kit.name]
            donor = self.kit(donors[int(rng.integers(len(donors)))])
            for role in missing:
                if role in donor.roles:
                    cands = donor.roles[role]
                    kit_map[role] = (donor, cands[int(rng.integers(len(cands)))], 0.0)
        perc_kit = self.kit(PERC_HELD_OUT if held_out else PERC_TRAIN)
        pool = [(kit, ins) for ins in kit.roles.get("perc", [])] + \
            [(perc_kit, ins) for ins in perc_kit.instruments]
        extra = self.extra_perc_hits(plan, n, rng, len(pool))
        for h in extra:
            h.note = perc_note(pool[h.source][1].name)
        audio, labels = mix_sample_kit(hits + extra, kit_map, pool, n, rng)
        return audio, labels

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
        hits = [h for h in self.performance_hits(plan, t0, n) if h.cls not in muted]
        if plan["kit_source"] == "hydrogen":
            drums, placed = self.render_hydrogen(plan, hits, n, rng)
        else:
            drums, placed = self.render_sf2(plan, hits, n, rng)
        info = {}
        mix = drums
        if plan["variant"] == "mix":
            if plan["music"].get("kind") == "progression":
                music, desc = self.render_progression(plan, plan["music"], t0, n)
            else:
                music, desc = self.render_music(plan["music"], n, pre_n)
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
    row["music_piece"] = Path(music["piece"]).name if music else ""
    row["music_font"] = music.get("font", "")
    row["drum_to_music_db"] = music.get("drum_to_music_db", "")
    row["music_parts"] = info.get("music_parts", "")
    row["effects"] = json.dumps(eff, separators=(",", ":"))
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__[__doc__.index("Examples"):])
    rc.add_common_args(ap, out_dir="data/drums", hours=(2.0, 0.25, 0.25))
    ap.add_argument("--mix-fraction", type=float, default=0.5,
                    help="share of clips mixed over accompaniment (0, 0.5 or 1 keep strict halves)")
    ap.add_argument("--mute-fraction", type=float, default=0.0,
                    help="share of clips with one or two of kick/snare/hi-hat left out (0..1)")
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

    kits = (HYDROGEN_TRAIN_ACOUSTIC + HYDROGEN_TRAIN_ELECTRONIC + HYDROGEN_HELD_OUT
            + [PERC_TRAIN, PERC_HELD_OUT])
    missing = rc.missing_requirements(hydrogen_kits=kits, sound_fonts=list(rc.SOUND_FONTS))
    if not (GMD_DIR / "info.csv").is_file():
        missing.append(f"Groove MIDI Dataset at {GMD_DIR} (info.csv)")
    if missing:
        rc.exit_missing(missing)

    if args.example is not None:
        path = render_example(args.example, args.sample_rate)
        print(f"wrote {path} (+ .csv, README.md)", file=sys.stderr)
        return 0

    if not args.skip_check or args.check_only:
        t = time.time()
        report = held_out_check()
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
                                 mute_fraction=args.mute_fraction),
        renderer.render_clip, manifest_row, out_dir=args.out_dir, sr=args.sample_rate,
        save_cache=renderer.fluid.save_cache, overwrite=args.overwrite, quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
