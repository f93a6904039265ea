"""Re-tune a model's decode settings in place, every class from scratch, without retraining.

The maintainers' tool for the bundled models: after the calibration rule changes, re-run the
calibration `softloc train` does at its end on the full validation set and rewrite the model's
``config.json`` (``decode`` and ``scores.validation``); the weights are not touched. Users adapting
a model to their own takes want ``softloc models calibrate MODEL TAKES/ -o NEW/`` instead, which
writes a new directory and keeps the thresholds of classes their takes barely contain.

    python scripts/recalibrate.py softloc_cli/models/piano data/piano/validation
    python scripts/recalibrate.py my-model/ my-real-takes/ --no-offset --dry-run
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from softloc_cli.calibration import calibrate_model
from softloc_cli.checkpoint import read_config, write_config
from softloc_cli.inference import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="model directory (rewritten in place)")
    parser.add_argument("data", help="annotated audio folder or manifest CSV")
    parser.add_argument("--window", type=float, default=0.05, help="matching tolerance, seconds")
    parser.add_argument("--no-offset", action="store_true", help="keep the model's time offset")
    parser.add_argument("--dry-run", action="store_true", help="print the result, write nothing")
    args = parser.parse_args()

    model = load_model(args.model, device="cpu")
    result = calibrate_model(model, args.data, window_s=args.window, offset=not args.no_offset, fresh=True)
    decode = result.decode
    print(json.dumps({"files": result.files, "f1_before": round(result.before.pooled.overall.f1, 4),
                      "f1_after": round(result.after.pooled.overall.f1, 4), "threshold": decode.threshold,
                      "class_thresholds": len(decode.class_thresholds), "smooth_s": decode.smooth_s,
                      "time_offset_s": decode.time_offset_s}))
    if args.dry_run:
        return
    config = read_config(model.directory)
    scores = {**config.scores, "validation": result.after.to_dict(), "window_s": args.window}
    write_config(model.directory, replace(config, decode=decode, scores=scores))


if __name__ == "__main__":
    main()
