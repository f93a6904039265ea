#!/usr/bin/env python3
"""Fine-tuning variants side by side: clean test F1, F1 on recorded-sounding copies of the test
clips at the stored thresholds, the calibration gap there, and the thresholds stored.

Reads the ``finetune_proof.py`` records (one per run, models kept with ``--keep``) and the
``eval_models.py`` JSON files that scored those kept models on each kit's ``test`` and
``test-aug`` sets (``scripts/augment_set.py TEST TEST-aug --seed 1``). A case is named
``KIT-VARIANT-seedN``; rows are variants, averaged over kits and seeds.

    python scripts/report_finetune_variants.py recipes/results/finetune_widen.jsonl \
        --eval recipes/results/finetune_widen_eval_*.json
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

CASE = re.compile(r"^(?P<kit>[^-]+)-(?P<variant>.+)-seed(?P<seed>\d+)$")


def model_scores(eval_files: list[Path]) -> dict[str, dict[str, dict]]:
    """Model path -> set name ("test" / "test-aug") -> that model's entry in the eval JSON."""
    scores: dict[str, dict[str, dict]] = defaultdict(dict)
    for path in eval_files:
        data = json.loads(path.read_text())
        for set_name, entry in data["sets"].items():
            kind = "test-aug" if set_name.endswith("test-aug") else "test"
            for model, result in entry["models"].items():
                scores[model][kind] = result
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("records", type=Path, help="finetune_proof.py JSONL (runs kept with --keep)")
    ap.add_argument("--eval", type=Path, nargs="+", required=True, help="eval_models.py JSON files")
    ap.add_argument("--keep", default="runs/ftw", help="the --keep folder of the runs")
    args = ap.parse_args()
    scores = model_scores(args.eval)
    rows: dict[str, list[dict]] = defaultdict(list)
    for line in args.records.read_text().splitlines():
        record = json.loads(line)
        match = CASE.match(record["case"])
        model = f"{args.keep}/{record['case']}-{record['loss']}"
        if not match or model not in scores:
            continue
        rows[match["variant"]].append({"kit": match["kit"], "clean": record["tuned"]["f1"],
                                       "aug": scores[model]["test-aug"]["f1"],
                                       "gap": scores[model]["test-aug"].get("class_calibration_gap"),
                                       "thresholds": list(record["thresholds"].values())})
    print("| variant | runs | clean test F1 | recorded-sounding copy F1 | its calibration gap | stored thresholds (median, min) | per kit, clean |")
    print("|---|---:|---:|---:|---:|---|---|")
    for variant, runs in rows.items():
        kits = sorted({r["kit"] for r in runs})
        per_kit = ", ".join(f"{k} {np.mean([r['clean'] for r in runs if r['kit'] == k]):.3f}" for k in kits)
        thresholds = np.concatenate([r["thresholds"] for r in runs])
        gaps = [r["gap"] for r in runs if r["gap"] is not None]
        print(f"| {variant} | {len(runs)} | {np.mean([r['clean'] for r in runs]):.3f} | "
              f"{np.mean([r['aug'] for r in runs]):.3f} | {100 * np.mean(gaps):+.1f} | "
              f"{np.median(thresholds):.2f}, {thresholds.min():.2f} | {per_kit} |")


if __name__ == "__main__":
    main()
