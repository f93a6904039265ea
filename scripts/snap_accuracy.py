"""How many loose taps does snapping move onto their true hit? Taps vs the exact labels of the same takes.

For each tapped take whose exact labels are known (the taps are those labels jittered, e.g. by
``scripts/make_taps.py``), runs the base model, snaps the taps as ``softloc train --init`` does
(window twice the measured spread, lag removed) and counts per class: taps within 10 ms of a true
hit of their class before and after snapping, taps moved elsewhere, taps left where tapped.

    python scripts/snap_accuracy.py --model drums --taps data/ft/tr808/taps-s50 --exact data/ft/tr808/taps \\
        --case tr808 --out recipes/results/snap_accuracy.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from softloc_cli.annotations import read_annotations
from softloc_cli.data import find_entries
from softloc_cli.inference import load_model, transcribe_file
from softloc_cli.tap_snap import snap_events
from softloc_cli.tap_timing import estimate_tap_spread
from softloc_cli.training import snap_window

ON_TIME_S = 0.010


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--taps", type=Path, required=True, help="folder of audio + tapped labels")
    ap.add_argument("--exact", type=Path, required=True, help="folder with the exact labels, same file names")
    ap.add_argument("--case", required=True)
    ap.add_argument("--out", type=Path, required=True, help="JSONL file to append to")
    args = ap.parse_args()

    model = load_model(args.model, device="cpu")
    labels = model.config.labels
    takes = []
    for entry in find_entries(args.taps):
        taps = [e for e in read_annotations(entry.annotation) if e.label in labels]
        exact = [e for e in read_annotations(args.exact / entry.annotation.name) if e.label in labels]
        takes.append((taps, exact, transcribe_file(model, entry.audio).events))
    spread = estimate_tap_spread([t for t, _, _ in takes], [d for _, _, d in takes])
    window = snap_window(spread.sigma_s)
    counts = {label: dict.fromkeys(("taps", "on_time_tapped", "on_time_snapped", "moved_elsewhere", "left"), 0)
              for label in labels}
    for taps, exact, detections in takes:
        snapped, _ = snap_events(taps, detections, max_offset_s=window, offset_s=spread.offset_s)
        found = {(round(e.time_s, 6), e.label) for e in detections}
        for before, after in zip(taps, snapped):
            true = np.array([e.time_s for e in exact if e.label == before.label])
            c = counts[before.label]
            c["taps"] += 1
            c["on_time_tapped"] += bool(len(true) and np.min(np.abs(true - before.time_s)) <= ON_TIME_S)
            on_time = bool(len(true) and np.min(np.abs(true - after.time_s)) <= ON_TIME_S)
            moved = (round(after.time_s, 6), after.label) in found
            c["on_time_snapped"] += on_time
            c["moved_elsewhere"] += moved and not on_time
            c["left"] += not moved
    record = {"case": args.case, "model": args.model, "taps": str(args.taps), "sigma_s": round(spread.sigma_s, 4),
              "window_s": window, "per_class": counts}
    print(json.dumps(record))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
