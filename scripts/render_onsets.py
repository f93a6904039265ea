#!/usr/bin/env python3
"""Render piano-midi.de pieces into labelled audio for a generic one-class note-onset model.

Each clip is a random 20-40 s excerpt of one piece, played through FluidSynth by a GM piano
(programs 0-7) or by other instruments with a clear attack (mallets, guitars, basses, pizzicato,
harp, timpani, plucked ethnic instruments, steel drums), written as 16-bit mono FLAC plus a
sidecar CSV ``time_s,class,midi_note,velocity`` with class ``onset`` and ``midi_note`` the pitch
(chords give one row per note; the training code merges onsets at the same time).

Each label is the note-on time snapped to FluidSynth's 64-sample block plus the note's measured
lead-in (that pitch and velocity of that preset rendered alone, first sample at -30 dB re its
peak; see render_common). Notes the preset leaves silent get no label.

Held out of training: the composers Grieg, Haydn, Borodin (validation) and Schumann, Debussy,
Albeniz (test), and the TimGM6mb sound font (validation and test use only TimGM6mb; train uses
only FluidR3_GM). The two fonts are checked for shared samples before rendering.

Layout: OUT/{train,validation,test}/{piano,other}/<clip>.flac + .csv and OUT/<split>/manifest.csv.
Splits are written validation, train, test; existing clips are skipped (resuming is free).

Examples
--------
    python scripts/render_onsets.py --hours-train 0.02 --hours-val 0.02 --hours-test 0 -o /tmp/onsets
    python scripts/render_onsets.py --hours-train 1.5 --hours-val 0.2 --hours-test 0.2
    python scripts/render_onsets.py --example softloc_cli/examples   # piano.flac/.csv (bundled)
    # the piano model's data (recipes/piano.toml): acoustic and electric grands only
    python scripts/render_onsets.py --piano-fraction 1 --piano-programs 0 1 2 --hours-train 2.5 \
        --hours-val 0.25 --hours-test 0.25 -o data/piano
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import render_common as rc  # noqa: E402

SPLITS = ("validation", "train", "test")
FONT = {"train": "FluidR3_GM", "validation": "TimGM6mb", "test": "TimGM6mb"}

# GM programs with a clear attack, by family (bank 0).
PROGRAMS = {
    "piano": [0, 1, 2, 3, 4, 5, 6, 7],
    "mallets": [8, 9, 10, 11, 12, 13, 14, 15],
    "guitar": [24, 25, 26, 27, 28],
    "bass": [32, 33, 34, 35, 36, 37],
    "plucked": [45, 46, 104, 105, 106, 107, 108],
    "drum": [47, 114],
}
FAMILY_WEIGHTS = {"mallets": 0.3, "guitar": 0.3, "bass": 0.1, "plucked": 0.25, "drum": 0.05}
# lowest / highest sensible median pitch per family: parts are transposed by octaves into range
FAMILY_RANGE = {"piano": (36, 84), "mallets": (60, 84), "guitar": (48, 72), "bass": (33, 50),
                "plucked": (48, 76), "drum": (45, 72)}


def choose_program(rng: np.random.Generator, family: str, piano_programs: list[int] | None = None) -> int:
    choices = piano_programs if family == "piano" and piano_programs else PROGRAMS[family]
    return int(rng.choice(choices))


def plan_split(split: str, hours: float, seed: int, *, clip_min_s: float, clip_max_s: float,
               p_piano: float, piano_programs: list[int] | None = None) -> list[dict]:
    """Deterministic list of clip plans (all random choices are drawn here)."""
    if hours <= 0:
        return []
    rng = np.random.default_rng([seed, 100 + SPLITS.index(split)])
    pieces = [p for p in rc.piano_pieces(min_duration_s=30.0) if p.split == split]
    if not pieces:
        raise RuntimeError(f"no piano-midi pieces for split {split!r}")
    w = np.array([p.duration_s for p in pieces])
    w = w / w.sum()
    fams = list(FAMILY_WEIGHTS)
    fam_w = np.array([FAMILY_WEIGHTS[f] for f in fams])
    fam_w = fam_w / fam_w.sum()
    plans, total, i = [], 0.0, 0
    while total < hours * 3600.0:
        piece = pieces[int(rng.choice(len(pieces), p=w))]
        dur = min(float(rng.uniform(clip_min_s, clip_max_s)), piece.duration_s - 1.0)
        start = float(rng.uniform(0.0, max(piece.duration_s - dur - 1.0, 0.0)))
        variant = "piano" if int((i + 1) * p_piano) > int(i * p_piano) else "other"
        clip_seed = int(rng.integers(1 << 31))
        crng = np.random.default_rng(clip_seed)
        if variant == "piano":
            families = ["piano"]
        else:
            families = [fams[int(crng.choice(len(fams), p=fam_w))]]
            if crng.random() < 0.3:  # a second instrument takes the lower part
                families.append(fams[int(crng.choice(len(fams), p=fam_w))])
        programs = [choose_program(crng, f, piano_programs) for f in families]
        plan = {"index": i, "split": split, "piece": str(piece.path), "composer": piece.composer,
                "start_s": round(start, 3), "duration_s": round(dur, 3), "variant": variant,
                "font": FONT[split], "families": families, "programs": programs,
                "velocity_scale": round(float(crng.uniform(0.7, 1.15)), 3),
                "pedal": bool(crng.random() < 0.8) if variant == "piano" else bool(crng.random() < 0.3),
                "effects": rc.effect_params(crng, 24000), "seed": clip_seed}
        slug = re.sub(r"[^A-Za-z0-9]+", "", Path(piece.path).stem)
        fslug = "-".join(f"{f}{p}" for f, p in zip(families, programs))
        plan["name"] = f"{piece.composer}-{slug}__{plan['font'].split('_')[0]}-{fslug}__{seed}-{i:05d}"
        plan["path"] = f"{variant}/{plan['name']}"
        plans.append(plan)
        total += dur
        i += 1
    return plans


@lru_cache(maxsize=16)
def _parts(path: str):
    return rc.load_midi_parts(Path(path))


def octave_shift(part: rc.MidiPart, lo: int, hi: int) -> int:
    if not len(part.pitch):
        return 0
    med = float(np.median(part.pitch))
    shift = 0
    while med + shift < lo:
        shift += 12
    while med + shift > hi:
        shift -= 12
    return shift


class OnsetRenderer:
    def __init__(self, sr: int, cache_dir: Path):
        self.sr = sr
        fonts = {k: rc.SOUND_FONTS[k] for k in ("FluidR3_GM", "TimGM6mb")}
        self.fluid = rc.FluidRenderer(sr, fonts, cache_dir=cache_dir)

    def render_clip(self, plan: dict, *, preroll_s: float = 1.0):
        sr = self.sr
        rng = np.random.default_rng(plan["seed"])
        parts = _parts(plan["piece"])
        pre = min(preroll_s, plan["start_s"])
        pre_n = rc.snap(pre * sr)
        n_clip = int(round(plan["duration_s"] * sr))
        n = pre_n + n_clip
        t0 = plan["start_s"] - pre_n / sr
        font = plan["font"]
        families, programs = plan["families"], plan["programs"]
        # one instrument plays every part; with two instruments the lowest part goes to the second
        order = sorted(range(len(parts)), key=lambda k: float(np.median(parts[k].pitch)))
        assign = {k: 0 for k in range(len(parts))}
        if len(families) > 1 and len(parts) > 1:
            assign[order[0]] = 1
        events, onsets, chan_prog = [], [], {}
        for k, part in enumerate(parts[:15]):
            inst = assign[k]
            chan = k if k < 9 else k + 1
            lo, hi = FAMILY_RANGE[families[inst]]
            shift = 0 if families[inst] == "piano" else octave_shift(part, lo, hi)
            ev, ons = rc.part_events(part, chan, t0=t0, n_samples=n, sr=sr, transpose=shift,
                                     pedal=plan["pedal"], vel_scale=plan["velocity_scale"])
            events += ev
            onsets += [(pos, pitch, vel, inst) for pos, pitch, vel in ons]
            chan_prog[chan] = (font, 0, programs[inst])
        # lead-in of every (pitch, velocity) of each program, measured alone
        leads = {}
        for inst, prog in enumerate(programs):
            keys = {(p, v) for _, p, v, i in onsets if i == inst}
            if keys:
                leads[inst] = self.fluid.lead_ins(font, 0, prog, keys)
        audio = self.fluid.render(events, n, chan_prog) if events else np.zeros(n, np.float32)
        audio = rc.apply_effects(audio, plan["effects"], sr, rng)[pre_n:]
        rows = []
        for pos, pitch, vel, inst in onsets:
            lead = leads[inst][(pitch, vel)]
            if lead < 0:
                continue  # the preset is silent on this note: no sound, no label
            t = (pos + lead - pre_n) / sr
            if 0.0 <= t < n_clip / sr:
                rows.append((t, "onset", pitch, vel))
        return audio, rows


EXAMPLE_PIECE = "scn15_1.mid"  # Schumann, Scenes from Childhood 1 "Of Foreign Lands" (a held-out test composer)


def render_piano_example(out_dir: Path, sr: int, *, duration_s: float = 12.0) -> Path:
    """The bundled piano example: 12 s of a held-out test piece on the FluidR3_GM grand piano,
    written as piano.flac/.csv beside the drum example."""
    piece = next(p for p in rc.piano_pieces(min_duration_s=30.0) if Path(p.path).name == EXAMPLE_PIECE)
    plan = {"index": 0, "split": "test", "piece": str(piece.path), "composer": piece.composer,
            "start_s": 0.0, "duration_s": duration_s, "variant": "piano", "font": "FluidR3_GM",
            "families": ["piano"], "programs": [0], "velocity_scale": 1.0, "pedal": True,
            "effects": {"reverb": {"rt60_s": 0.6, "predelay_s": 0.01, "wet_db": -14.0, "seed": 3},
                        "level_db": -18.0},
            "seed": 20240502}
    audio, rows = OnsetRenderer(sr, rc.CACHE_DIR_DEFAULT).render_clip(plan)
    rc.write_clip(out_dir / "piano", audio, sr, rows)
    return out_dir / "piano.flac"


def held_out_check() -> dict:
    return rc.sample_overlap([rc.sf2_source("FluidR3_GM")], {"TimGM6mb": [rc.sf2_source("TimGM6mb")]})


def manifest_row(plan: dict, n_onsets: int) -> dict:
    return {"path": plan["path"] + ".flac", "split": plan["split"], "variant": plan["variant"],
            "piece": Path(plan["piece"]).name, "composer": plan["composer"],
            "start_s": plan["start_s"], "duration_s": plan["duration_s"], "font": plan["font"],
            "families": " ".join(plan["families"]),
            "programs": " ".join(str(p) for p in plan["programs"]),
            "pedal": plan["pedal"], "velocity_scale": plan["velocity_scale"], "seed": plan["seed"],
            "n_onsets": n_onsets, "effects": json.dumps(plan["effects"], separators=(",", ":"))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__[__doc__.index("Examples"):])
    rc.add_common_args(ap, out_dir="data/onsets", hours=(1.5, 0.2, 0.2))
    ap.add_argument("--piano-fraction", type=float, default=0.6,
                    help="share of clips played by a piano program (the rest: other instruments)")
    ap.add_argument("--piano-programs", type=int, nargs="+", metavar="PROGRAM",
                    help="GM programs the piano clips draw from (default 0-7: acoustic, electric, "
                         "honky-tonk pianos, harpsichord, clavinet)")
    ap.add_argument("--example", type=Path, metavar="DIR",
                    help="only render the bundled 12 s piano example into DIR and exit")
    args = ap.parse_args(argv)
    if args.example is not None:
        print(f"wrote {render_piano_example(args.example, args.sample_rate)}")
        return 0
    if not 8000 <= args.sample_rate <= 96000:
        ap.error(f"--sample-rate {args.sample_rate} must be within 8000..96000 Hz")
    if not 0 < args.clip_min <= args.clip_max:
        ap.error(f"--clip-min {args.clip_min} and --clip-max {args.clip_max}: need 0 < min <= max")
    if not 0.0 <= args.piano_fraction <= 1.0:
        ap.error(f"--piano-fraction {args.piano_fraction} must be within 0..1")
    if args.piano_programs and not all(p in PROGRAMS["piano"] for p in args.piano_programs):
        ap.error(f"--piano-programs {args.piano_programs}: GM piano programs are 0..7")
    missing = rc.missing_requirements(sound_fonts=["FluidR3_GM", "TimGM6mb"])
    if not (rc.SHARED_DATA / "piano-midi" / "metadata.csv").is_file():
        missing.append(f"piano-midi.de pieces at {rc.SHARED_DATA / 'piano-midi'} (metadata.csv)")
    if missing:
        rc.exit_missing(missing)

    if not args.skip_check:
        t = time.time()
        report = held_out_check()
        ok = rc.print_overlap(report)
        print(f"  (check took {time.time() - t:.0f} s)", file=sys.stderr)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        rc.atomic_write_text(args.out_dir / "held_out_check.json", json.dumps(report, indent=1))
        if not ok:
            print("error: the held-out sound font shares samples with the training font", file=sys.stderr)
            return 1

    hours = {"train": args.hours_train, "validation": args.hours_val, "test": args.hours_test}
    renderer = OnsetRenderer(args.sample_rate, args.cache_dir)
    return rc.render_splits(
        SPLITS,
        lambda split: plan_split(split, hours[split], args.seed, clip_min_s=args.clip_min,
                                 clip_max_s=args.clip_max, p_piano=args.piano_fraction,
                                 piano_programs=args.piano_programs),
        lambda plan: (*renderer.render_clip(plan), {}),
        lambda plan, counts, info: manifest_row(plan, counts.get("onset", 0)),
        out_dir=args.out_dir, sr=args.sample_rate, save_cache=renderer.fluid.save_cache,
        overwrite=args.overwrite, quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
