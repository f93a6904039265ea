#!/usr/bin/env python3
"""End-to-end check of ``softloc tap``: keyboard-like taps → offset removal → fine-tuning → F1.

A simulated user taps along to rendered clips of a kit the bundled ``drums`` model never heard
(``data/ft/tr808/taps``: audio + exact labels), one pass per class of the model, as ``softloc tap
--class kick`` etc. would record them; every press lands N(offset, σ²) after the hit (60 ms and
40 ms by default: a computer keyboard through a typical output). The same user first does
``softloc tap --calibrate``: taps on the click track with the same offset and spread, measured by
:func:`softloc_cli.tapping.measure_calibration`. Each pass then runs through
:class:`softloc_cli.tapping.TapSession` on a clock anchored at 0 (the calibrated offset is
removed there) and :func:`softloc_cli.tapping.save_taps` (merge + ``.tapinfo`` sidecar), exactly
the code behind the command. Then ``softloc train TAPS --init drums`` (softness auto; library
call, as ``finetune_proof.py`` does) and the base and fine-tuned models are scored on other clips
of the kit (``data/ft/tr808/test``; mir_eval, 50 ms, pooled), with ``finetune_proof.score``.

Usage
-----
    python scripts/tap_e2e.py --taps data/ft/tr808/taps --test data/ft/tr808/test \\
        --work /tmp/tap-e2e --report recipes/results/tap_e2e.json

About 5 minutes on 2 CPU cores. Only the model's classes are tapped (the clips' rides, toms and
crashes are left untapped, as a user with the default key map would).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from softloc_cli.annotations import read_annotations
from softloc_cli.data import find_entries
from softloc_cli.events import Event
from softloc_cli.hub import resolve_model
from softloc_cli.tapping import (
    Calibration,
    PlaybackClock,
    TapSession,
    class_keys,
    click_track,
    measure_calibration,
    model_labels,
    pass_record,
    pooled_tap_spread,
    read_existing,
    save_taps,
)

SCRIPTS = Path(__file__).resolve().parent
#: A user's taps of one class: (true events, rng) → tapped events (times the keys were pressed).
Jitter = Callable[[list[Event], np.random.Generator], list[Event]]


def simulate_calibration(jitter: Jitter, rng: np.random.Generator) -> Calibration:
    """``softloc tap --calibrate`` for this user: the count-in is tapped too, as people do."""
    track = click_track()
    clicks = [Event(float(t), "click") for t in track.times]
    taps = [e.time_s for e in jitter(clicks, rng)]
    return measure_calibration(track.counted, taps, interval_s=track.interval_s)


def tap_file(annotation: Path, output: Path, labels: list[str], calibration: Calibration, jitter: Jitter,
             rng: np.random.Generator) -> list[float]:
    """One pass per label over one file, merged into ``output`` with its sidecar.

    Returns tap − hit of every tap after the offset was removed.
    """
    truth = read_annotations(annotation)
    residuals = []
    for label in labels:
        hits = [e for e in truth if e.label == label]
        if not hits:
            continue
        clock = PlaybackClock(48000)
        clock.anchor(0.0, 0)  # stream time = file time: the user's lag is the only one
        session = TapSession(class_keys(label), clock, offset_s=calibration.offset_s, existing=read_existing(output))
        presses = sorted((jitter([hit], rng)[0].time_s, hit.time_s) for hit in hits)
        for pressed, hit in presses:
            if session.press("space", pressed) == "tap":
                residuals.append(session.taps[-1].time_s - hit)
        save_taps(output, session, pass_record(session, calibration))
    return residuals


def tap_folder(source: Path, dest: Path, labels: list[str], calibration: Calibration, jitter: Jitter,
               *, seed: int = 0) -> dict:
    """Tap every annotated clip of ``source`` into ``dest`` (audio symlinked, ``.csv`` + ``.tapinfo``)."""
    dest.mkdir(parents=True, exist_ok=True)
    residuals, files = [], 0
    for entry in sorted(find_entries(source), key=lambda e: str(e.audio)):
        link = dest / entry.audio.name
        if not link.exists():
            os.symlink(os.path.relpath(entry.audio.resolve(), dest.resolve()), link)
        output = dest / (entry.audio.stem + ".csv")
        if output.exists():
            raise SystemExit(f"{output} exists; give an empty --work folder")
        rng = np.random.default_rng([seed, zlib.crc32(entry.audio.name.encode())])
        residuals += tap_file(entry.annotation, output, labels, calibration, jitter, rng)
        files += 1
    r = np.asarray(residuals)
    return {"files": files, "taps": int(len(r)), "residual_mean_s": round(float(r.mean()), 4),
            "residual_sigma_s": round(float(r.std()), 4), "sidecar_sigma_s": pooled_tap_spread(
                sorted(dest.glob("*.csv")))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__[__doc__.index("Usage"):])
    ap.add_argument("--taps", type=Path, default=Path("data/ft/tr808/taps"), help="clips to tap (exact labels)")
    ap.add_argument("--test", type=Path, default=Path("data/ft/tr808/test"), help="other clips to score on")
    ap.add_argument("--init", default="drums", help="base model (its classes are tapped)")
    ap.add_argument("--offset-ms", type=float, default=60.0, help="the user's lag, ms")
    ap.add_argument("--sigma-ms", type=float, default=40.0, help="the user's spread, ms")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None, help="empty folder for the taps and the model (default: temp)")
    ap.add_argument("--report", type=Path, required=True, help="JSON file to write the results to")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(SCRIPTS))
    from finetune_proof import score  # imports torch
    from make_taps import tap_events

    from softloc_cli.training import make_config, train

    offset_s, sigma_s = args.offset_ms / 1000, args.sigma_ms / 1000

    def jitter(events: list[Event], rng: np.random.Generator) -> list[Event]:
        return tap_events(events, sigma_s, rng, offset_s=offset_s)

    work = args.work or Path(tempfile.mkdtemp(prefix="tap-e2e-"))
    labels = model_labels(resolve_model(args.init))
    calibration = simulate_calibration(jitter, np.random.default_rng([args.seed, 1]))
    print(f"calibration: {calibration.summary()}", flush=True)
    tapped = tap_folder(args.taps, work / "taps", labels, calibration, jitter, seed=args.seed)
    print(f"tapped {tapped['taps']} hits in {tapped['files']} files; after offset removal "
          f"{1000 * tapped['residual_mean_s']:+.0f} ms ± {1000 * tapped['residual_sigma_s']:.0f} ms; "
          f"sidecar spread {tapped['sidecar_sigma_s']}", flush=True)

    output = work / "model"
    config = make_config(data=str(work / "taps"), output=str(output), init=args.init, auto_softness=True,
                         seed=args.seed, threads=args.threads, device="cpu")
    started = time.perf_counter()
    result = train(config, on_event=lambda e: print(f"  {e}", flush=True) if e["kind"] in ("softness", "val") else None)
    seconds = time.perf_counter() - started
    softness = json.loads((output / "config.json").read_text(encoding="utf-8"))["loss"]["softness_s"]
    base, tuned = score(args.init, args.test), score(str(output), args.test)

    print(f"\n| model | F1 | {' | '.join(base['per_class'])} |")
    print("|---|---:|" + "---:|" * len(base["per_class"]))
    for name, s in ((f"{args.init} (base)", base), ("fine-tuned on taps", tuned)):
        print(f"| {name} | {s['f1']:.3f} | " + " | ".join(f"{s['per_class'].get(c, 0.0):.3f}" for c in base["per_class"])
              + " |")
    record = {"taps": str(args.taps), "test": str(args.test), "init": args.init, "seed": args.seed,
              "user": {"offset_s": offset_s, "sigma_s": sigma_s},
              "calibration": {k: v for k, v in vars(calibration).items() if v is not None},
              "tapped": tapped, "softness_s": softness,
              "measured_tap_spread": None if result.tap_spread is None else vars(result.tap_spread),
              "steps": result.steps, "train_seconds": round(seconds, 1),
              "base": base, "tuned": tuned, "gain": round(tuned["f1"] - base["f1"], 4)}
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nsoftness {1000 * softness:.0f} ms; F1 {base['f1']:.3f} -> {tuned['f1']:.3f} "
          f"({100 * record['gain']:+.1f}); wrote {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
