"""How a drum model's recall depends on how hard each hit was played, and its F1 without ghost notes.

Groove MIDI performances are full of ghost notes (MIDI velocity < 30) that are barely audible
under the other hits; this separates "misses quiet hits" from "misses hits". For every annotated
audio file in the given folders: transcribe, match per class (mir_eval, 50 ms), then report
recall per velocity band and the pooled F1 when reference hits below ``--min-velocity`` are left
out (estimates matched to such hits are left out too, so they count neither way). Loud hits are
also split into *isolated* ones and *crowded* ones (another annotated hit of any class, cymbals
and toms included, within ``--crowd-window``), separating "misses masked hits" from the rest.

    python scripts/velocity_breakdown.py --model drums data/drums/validation/drumonly data/drums/validation/mix
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from softloc_cli.annotations import read_annotations
from softloc_cli.data import find_entries
from softloc_cli.inference import load_model, transcribe_file

BANDS = [(0, 30), (30, 60), (60, 90), (90, 128)]


def main() -> None:
    import mir_eval

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--model", default="drums")
    parser.add_argument("--min-velocity", type=int, default=30)
    parser.add_argument("--window", type=float, default=0.05)
    parser.add_argument("--crowd-window", type=float, default=0.03, help="seconds; see above")
    args = parser.parse_args()
    model = load_model(args.model, device="cpu")
    labels = model.config.labels
    for folder in args.folders:
        hits = {band: [0, 0] for band in BANDS}  # band -> [matched, total]
        crowd = {"isolated": [0, 0], "crowded": [0, 0]}  # loud hits only
        tp = n_ref = n_est = 0
        for entry in find_entries(folder):
            everything = read_annotations(entry.annotation)
            all_times = np.array([e.time_s for e in everything])
            reference = [e for e in everything if e.label in labels]
            estimate = transcribe_file(model, entry.audio).events
            for label in labels:
                ref = sorted((e for e in reference if e.label == label), key=lambda e: e.time_s)
                est = sorted(e.time_s for e in estimate if e.label == label)
                matched = set()
                ghost_matched = 0
                if ref and est:
                    pairs = mir_eval.util.match_events(np.array([e.time_s for e in ref]), np.array(est), args.window)
                    matched = {i for i, _ in pairs}
                    ghost_matched = sum(1 for i, _ in pairs if ref[i].velocity < args.min_velocity)
                for i, e in enumerate(ref):
                    band = next(b for b in BANDS if b[0] <= e.velocity < b[1])
                    hits[band][1] += 1
                    hits[band][0] += i in matched
                    if e.velocity >= args.min_velocity:
                        near = int(np.sum(np.abs(all_times - e.time_s) < args.crowd_window)) - 1
                        counts = crowd["crowded" if near else "isolated"]
                        counts[1] += 1
                        counts[0] += i in matched
                loud = [i for i, e in enumerate(ref) if e.velocity >= args.min_velocity]
                tp += sum(1 for i in loud if i in matched)
                n_ref += len(loud)
                n_est += len(est) - ghost_matched
        precision, recall = tp / max(n_est, 1), tp / max(n_ref, 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-9)
        record = {
            "folder": folder,
            "recall_by_velocity": {f"{lo}-{hi - 1}": {"recall": round(m / t, 3) if t else None, "hits": t}
                                   for (lo, hi), (m, t) in hits.items()},
            f"f1_velocity_ge_{args.min_velocity}": round(f1, 4),
            "recall_loud_by_crowding": {k: {"recall": round(m / t, 3) if t else None, "hits": t}
                                        for k, (m, t) in crowd.items()},
            "precision": round(precision, 4),
            "recall": round(recall, 4),
        }
        print(json.dumps(record))


if __name__ == "__main__":
    main()
