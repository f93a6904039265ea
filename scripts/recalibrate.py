"""Re-tune a trained model's decode settings on an annotated folder, without retraining.

Runs the model over DATA (audio with same-stem annotations), tunes per-class thresholds, the
smoothing width and a global time offset exactly as ``softloc train`` does at the end of training
(``softloc_cli.training.calibrate``, starting from no per-class thresholds), and rewrites the
model's ``config.json`` with the new ``decode`` and ``scores.validation``. The weights are not
touched. Use it after the calibration rule changes, or to fit thresholds to your own recordings
(the prototype in ``../shared/notes`` found rendered-audio thresholds do not carry to real audio).

    python scripts/recalibrate.py softloc_cli/models/piano data/piano/validation
    python scripts/recalibrate.py my-model/ my-real-takes/ --no-offset --dry-run
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from softloc_cli.checkpoint import read_config, write_config
from softloc_cli.classmap import pitched_class_map
from softloc_cli.data import find_entries, load_tracks
from softloc_cli.training import calibrate, peak_mass_share, predict, score_decoded
from softloc_cli.transcribe import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="model directory (rewritten in place)")
    parser.add_argument("data", help="annotated audio folder or manifest CSV")
    parser.add_argument("--window", type=float, default=0.05, help="matching tolerance, seconds")
    parser.add_argument("--no-offset", action="store_true", help="keep the model's time offset")
    parser.add_argument("--dry-run", action="store_true", help="print the result, write nothing")
    args = parser.parse_args()

    model = load_model(args.model, device="cpu")
    config = read_config(model.directory)
    labels, rate = config.labels, config.features.frame_rate_hz
    tracks, _ = load_tracks(find_entries(args.data), classes=labels, feature_module=model.features,
                            class_map=pitched_class_map(labels) if config.pitched else None,
                            require_every_class=not config.pitched)
    acts = [predict(model.net, t.logmel, model.device, frame_rate_hz=rate) for t in tracks]
    refs = [t.events for t in tracks]
    before = score_decoded(acts, refs, labels=labels, frame_rate_hz=rate, decode=config.decode, window_s=args.window)
    decode = calibrate(acts, refs, labels=labels, frame_rate_hz=rate, window_s=args.window,
                       base=replace(config.decode, class_thresholds={}), offset=not args.no_offset)
    after = score_decoded(acts, refs, labels=labels, frame_rate_hz=rate, decode=decode, window_s=args.window)
    print(json.dumps({"files": len(tracks), "f1_before": round(before.pooled.overall.f1, 4),
                      "f1_after": round(after.pooled.overall.f1, 4), "threshold": decode.threshold,
                      "class_thresholds": len(decode.class_thresholds), "smooth_s": decode.smooth_s,
                      "time_offset_s": decode.time_offset_s}))
    if args.dry_run:
        return
    scores = {**config.scores, "validation": after.to_dict(), "window_s": args.window,
              "peak_share": peak_mass_share(acts, refs, labels=labels, frame_rate_hz=rate)}
    write_config(model.directory, replace(config, decode=decode, scores=scores))


if __name__ == "__main__":
    main()
