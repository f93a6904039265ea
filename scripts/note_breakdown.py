"""Which drums does a model find? Recall per MIDI note, detections per class, other instruments present.

A class such as ``hihat`` pools several GM notes (closed 42, pedal 44, open 46), and a clip also
holds instruments the model has no class for (ride, toms) that it may take for one it has. For
each model and folder this prints, per class, how many events the model detects, the recall of
the annotated hits of each MIDI note (a detection of that class within ``--window``), and the
count of every annotated label outside the model's classes:

    python scripts/note_breakdown.py --model drums --model runs/ft-electro/electro-newbase-softloc \\
        data/ft/electro/taps data/ft/electro/test
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from softloc_cli.annotations import read_annotations
from softloc_cli.data import find_entries
from softloc_cli.inference import load_model, transcribe_file


def breakdown(model, folder: Path, window_s: float) -> dict:
    labels = model.config.labels
    detections, found, total, others = Counter(), Counter(), Counter(), Counter()
    for entry in find_entries(folder):
        reference = read_annotations(entry.annotation)
        events = transcribe_file(model, entry.audio).events
        for label in labels:
            times = np.array([e.time_s for e in events if e.label == label])
            detections[label] += len(times)
            for hit in (e for e in reference if e.label == label):
                total[label, hit.midi_note] += 1
                found[label, hit.midi_note] += bool(len(times)) and np.min(np.abs(times - hit.time_s)) <= window_s
        others.update(e.label for e in reference if e.label not in labels)
    return {"detections": dict(detections), "others": dict(others),
            "recall": {f"{label} {note}": f"{found[label, note]}/{n}" for (label, note), n in sorted(total.items())}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--model", action="append", required=True, help="model spec (repeatable)")
    ap.add_argument("--window", type=float, default=0.05, help="seconds (default 0.05)")
    args = ap.parse_args()
    for spec in args.model:
        model = load_model(spec, device="cpu")
        for folder in args.folders:
            result = breakdown(model, folder, args.window)
            print(f"{spec}  {folder}\n  detections {result['detections']}\n  recall {result['recall']}\n"
                  f"  other labels {result['others']}")


if __name__ == "__main__":
    main()
