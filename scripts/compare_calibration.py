"""Which calibration rule suits a model fine-tuned on loose taps? Thresholds from the taps, scored on other audio.

A fine-tuned model's weights are fixed; only the way its per-class thresholds are read off the
tapped files changes. For each rule the thresholds are tuned on ``--taps`` (the loose labels the
model was fine-tuned on, as ``softloc train`` does at its end: every tapped file, the base model's
thresholds as the starting point, the stored time offset kept) and the result is scored on
``--test`` (exact labels; mir_eval, 50 ms, pooled). The per-class best threshold on the test set
itself is printed as the ceiling no rule can pass, and ``base`` keeps the base model's thresholds
(no calibration on the taps at all).

    python scripts/compare_calibration.py --model runs/ft-electro/electro-newbase-softloc --init drums \\
        --taps data/ft/electro/taps-s50 --test data/ft/electro/test --case electro --out results.jsonl
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from softloc_cli.calibration import THRESHOLD_GRID, calibrate, score_decoded
from softloc_cli.data import find_entries, load_tracks
from softloc_cli.inference import activations_from_logmel, load_model

RULES = {  # name: (rule, matching window in s)
    "count": ("count", 0.10),
    "f1-100ms": ("f1", 0.10),
    "f1-50ms": ("f1", 0.05),
}


def activations_and_labels(model, folder: Path):
    labels, rate = model.config.labels, model.config.features.frame_rate_hz
    tracks, _ = load_tracks(find_entries(folder), classes=labels, feature_module=model.features,
                            require_every_class=False)
    acts = [activations_from_logmel(model.net, t.logmel, model.device, frame_rate_hz=rate) for t in tracks]
    return acts, [t.events for t in tracks]


def scores_on_test(model, decode, acts, refs) -> dict:
    labels, rate = model.config.labels, model.config.features.frame_rate_hz
    pooled = score_decoded(acts, refs, labels=labels, frame_rate_hz=rate, decode=decode, window_s=0.05).pooled
    return {"f1": round(pooled.overall.f1, 4), "per_class": {k: round(v.f1, 4) for k, v in pooled.classes.items()},
            "thresholds": {label: decode.threshold_for(label) for label in labels}}


def ceiling(model, acts, refs) -> dict:
    """Each class at its own best grid threshold on the test set (not a rule: it reads the answers)."""
    labels, rate = model.config.labels, model.config.features.frame_rate_hz
    best = {}
    for index, label in enumerate(labels):
        columns = [a[:, index : index + 1] for a in acts]
        events = [[e for e in ref if e.label == label] for ref in refs]

        def f1(threshold: float) -> float:
            decode = replace(model.config.decode, threshold=threshold, class_thresholds={})
            return score_decoded(columns, events, labels=[label], frame_rate_hz=rate, decode=decode,
                                 window_s=0.05).pooled.overall.f1

        best[label] = max(THRESHOLD_GRID, key=f1)
    return scores_on_test(model, replace(model.config.decode, class_thresholds=best), acts, refs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="the fine-tuned model")
    ap.add_argument("--init", required=True, help="the model it was fine-tuned from (its thresholds start each rule)")
    ap.add_argument("--taps", type=Path, required=True, help="the tapped folder it was fine-tuned on")
    ap.add_argument("--test", type=Path, required=True, help="other audio with exact labels")
    ap.add_argument("--case", default="", help="name of this case in the results")
    ap.add_argument("--out", type=Path, help="JSONL file to append to")
    args = ap.parse_args()

    model, base = load_model(args.model, device="cpu"), load_model(args.init, device="cpu")
    labels, rate = model.config.labels, model.config.features.frame_rate_hz
    start = replace(model.config.decode, class_thresholds={k: v for k, v in base.config.decode.class_thresholds.items()
                                                          if k in labels})
    tap_acts, tap_refs = activations_and_labels(model, args.taps)
    test_acts, test_refs = activations_and_labels(model, args.test)
    record = {"case": args.case, "model": args.model, "taps": str(args.taps), "test": str(args.test),
              "stored": scores_on_test(model, model.config.decode, test_acts, test_refs),
              "base": scores_on_test(model, start, test_acts, test_refs)}
    for name, (rule, window) in RULES.items():
        decode = calibrate(tap_acts, tap_refs, labels=labels, frame_rate_hz=rate, base=start, window_s=window,
                           smooth_grid=[model.config.decode.smooth_s], offset=False, rule=rule)
        record[name] = scores_on_test(model, decode, test_acts, test_refs)
    record["ceiling"] = ceiling(model, test_acts, test_refs)
    for key in ["stored", "base", *RULES, "ceiling"]:
        print(f"{args.case:12s} {key:9s} F1 {record[key]['f1']:.4f}  {record[key]['per_class']}  "
              f"thresholds {record[key]['thresholds']}")
    if args.out:
        with args.out.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
