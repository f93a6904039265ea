#!/usr/bin/env python3
"""Make a 'loosely tapped' copy of an annotated folder: every label time + N(offset, σ²).

Simulates a user who tapped the hits along to the audio: each event of each annotation file is
moved by an independent Gaussian error (σ in milliseconds, a fixed seed), clamped at 0 s and
re-sorted; labels, MIDI notes and velocities are kept. Annotations are written as CSV
(``time_s,class,midi_note,velocity``) with the stem of their audio file; the audio files are
symlinked (default) or copied. Files are processed in sorted order, each from its own random
stream (seed, file name), so the result does not depend on which other files are present.

Usage
-----
    python scripts/make_taps.py data/ft/tr808/taps data/ft/tr808/taps-s50 --sigma-ms 50 --seed 0
    python scripts/make_taps.py IN OUT --sigma-ms 30 --offset-ms 20 --copy     # late taps, copied audio
    python scripts/make_taps.py IN OUT --sigma-ms 50 --classes kick,snare      # only these classes jittered

Only annotated audio (an audio file with a sidecar annotation of the same stem) is copied; a
``manifest.csv``-only folder is not supported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import zlib
from pathlib import Path

import numpy as np

from softloc_cli.annotations import read_annotations, write_events
from softloc_cli.evaluation import find_annotated_audio
from softloc_cli.events import Event, sort_events


def tap_events(events: list[Event], sigma_s: float, rng: np.random.Generator, *, offset_s: float = 0.0,
               classes: set[str] | None = None) -> list[Event]:
    """Events moved by N(offset, σ²) (only ``classes`` if given), clamped at 0, sorted."""
    out = []
    for e in events:
        if classes is None or e.label in classes:
            t = max(0.0, e.time_s + offset_s + float(rng.normal(0.0, sigma_s)) if sigma_s > 0 else
                    e.time_s + offset_s)
            out.append(Event(round(t, 6), e.label, e.midi_note, e.velocity))
        else:
            out.append(e)
    return sort_events(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__[__doc__.index("Usage"):])
    ap.add_argument("input", type=Path, help="folder of audio files with sidecar annotations")
    ap.add_argument("output", type=Path, help="folder to write (created)")
    ap.add_argument("--sigma-ms", type=float, required=True, help="tap timing spread σ, milliseconds")
    ap.add_argument("--offset-ms", type=float, default=0.0, help="systematic lag added to every tap (ms)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--classes", help="comma-separated classes to jitter (default: all)")
    ap.add_argument("--copy", action="store_true", help="copy the audio instead of symlinking it")
    ap.add_argument("--overwrite", action="store_true", help="replace files already in OUTPUT")
    args = ap.parse_args(argv)
    if args.sigma_ms < 0:
        ap.error("--sigma-ms must be >= 0")
    if args.input.resolve() == args.output.resolve():
        ap.error("OUTPUT must differ from INPUT")

    pairing = find_annotated_audio(args.input)
    if not pairing.pairs:
        ap.error(f"no annotated audio in {args.input}")
    classes = {c.strip() for c in args.classes.split(",") if c.strip()} if args.classes else None
    args.output.mkdir(parents=True, exist_ok=True)
    n_events = 0
    for pair in sorted(pairing.pairs, key=lambda p: str(p.estimate)):
        audio, annotation = Path(pair.estimate), Path(pair.reference)
        try:  # keep sub-folders of INPUT
            rel = audio.parent.resolve().relative_to(args.input.resolve())
        except ValueError:
            rel = Path()
        dest_dir = args.output / rel
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest_audio = dest_dir / audio.name
        if dest_audio.exists() or dest_audio.is_symlink():
            if not args.overwrite:
                print(f"skip {dest_audio} (exists; --overwrite to replace)", file=sys.stderr)
                continue
            dest_audio.unlink()
        if args.copy:
            shutil.copy2(audio, dest_audio)
        else:
            os.symlink(os.path.relpath(audio.resolve(), dest_dir.resolve()), dest_audio)
        rng = np.random.default_rng([args.seed, zlib.crc32(audio.name.encode())])
        events = tap_events(read_annotations(annotation), args.sigma_ms / 1000.0, rng,
                            offset_s=args.offset_ms / 1000.0, classes=classes)
        write_events(events, dest_dir / (audio.stem + ".csv"), "csv")
        n_events += len(events)
    print(f"{args.output}: {len(pairing.pairs)} files, {n_events} events, σ = {args.sigma_ms:g} ms, "
          f"offset {args.offset_ms:+g} ms, seed {args.seed}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
