#!/usr/bin/env python3
"""Where does a model lose its onset F1? Per-clip precision, recall and errors, worst first.

Class-agnostic, as ``scripts/eval_models.py`` scores real clips: references and detections merged
within 30 ms (``merge_labels``), matched within ``--window`` (``score_events``), stored thresholds.

    python scripts/per_clip.py onsets data/bock/val
    python scripts/per_clip.py onsets data/bock/train --top 12
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from softloc_cli.annotations import read_annotations
from softloc_cli.data import find_entries
from softloc_cli.events import ONSET_CLASS, Event, merge_labels
from softloc_cli.inference import load_model, transcribe_file
from softloc_cli.metrics import score_events


def clip_counts(reference, estimate, window_s: float) -> tuple[int, int, int]:
    """(references, detections, matched) for one clip, from onset times in seconds."""
    scores = score_events([Event(float(t), ONSET_CLASS) for t in reference],
                          [Event(float(t), ONSET_CLASS) for t in estimate], window_s=window_s,
                          classes=[ONSET_CLASS]).overall
    return scores.n_ref, scores.n_est, scores.tp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="model spec (bundled name, directory or hf://)")
    parser.add_argument("folder", type=Path, help="audio files with annotations of the same name")
    parser.add_argument("--window", type=float, default=0.05, help="matching tolerance in seconds (default 0.05)")
    parser.add_argument("--top", type=int, default=0, help="show only this many clips (default: all)")
    args = parser.parse_args()
    model = load_model(args.model, device="cpu")
    rows, totals = [], np.zeros(3, dtype=int)
    for entry in find_entries(args.folder):
        reference = [e.time_s for e in merge_labels(read_annotations(entry.annotation))]
        estimate = [e.time_s for e in merge_labels(transcribe_file(model, entry.audio).events)]
        counts = clip_counts(reference, estimate, args.window)
        totals += counts
        n_ref, n_est, matched = counts
        rows.append((n_ref + n_est - 2 * matched, entry.audio.stem, n_ref, n_est, matched))
    print("| errors | references | detections | precision | recall | clip |")
    print("|---:|---:|---:|---:|---:|---|")
    for errors, name, n_ref, n_est, matched in sorted(rows, reverse=True)[: args.top or None]:
        print(f"| {errors} | {n_ref} | {n_est} | {matched / max(n_est, 1):.2f} | {matched / max(n_ref, 1):.2f} | {name} |")
    n_ref, n_est, matched = totals
    print(f"\npooled: F1 {2 * matched / max(n_ref + n_est, 1):.4f} ({matched} of {n_ref} references, {n_est} detections)")


if __name__ == "__main__":
    main()
