"""Check a drum model on real solo recordings: a kick-only take must give kicks and nothing else.

The real recordings at hand are annotated without classes, but some hold one drum alone (the
``real-onsets/percussion`` clips include a kick-only and a snare-only take). For each
``CLASS=AUDIO`` clip (annotation: same stem, one onset per row) this prints the F1 of the expected
class against the annotated onsets (mir_eval, 50 ms) and how many events of *other* classes the
model adds per annotated onset: the phantom hi-hats a model learns from grooves where the hi-hat
plays with every kick and snare.

    python scripts/solo_clips.py --model drums \
        --clip kick=real-onsets/percussion/SoundCheck2_74_Instrumental_Kick_drum.flac \
        --clip snare=real-onsets/percussion/SoundCheck2_75_Instrumental_Snare_drum.flac
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from softloc_cli.annotations import read_annotations
from softloc_cli.events import Event
from softloc_cli.metrics import score_events
from softloc_cli.inference import load_model, transcribe_file


def check_clip(model, label: str, audio: Path, annotation: Path, window_s: float) -> dict:
    reference = [Event(e.time_s, label) for e in read_annotations(annotation)]
    events = transcribe_file(model, audio).events
    scores = score_events(reference, [e for e in events if e.label == label], window_s=window_s, classes=[label])
    others: dict[str, int] = {}
    for event in events:
        if event.label != label:
            others[event.label] = others.get(event.label, 0) + 1
    return {"clip": audio.name, "class": label, "onsets": len(reference), "f1": round(scores.overall.f1, 4),
            "other_events": others, "other_per_onset": round(sum(others.values()) / max(len(reference), 1), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="model spec (repeatable)")
    parser.add_argument("--clip", action="append", required=True, help="CLASS=AUDIO (repeatable)")
    parser.add_argument("--window", type=float, default=0.05)
    args = parser.parse_args()
    for spec in args.model:
        model = load_model(spec, device="cpu")
        rows = []
        for clip in args.clip:
            label, _, path = clip.partition("=")
            audio = Path(path)
            if label not in model.config.labels:
                raise SystemExit(f"error: {spec} has no class {label!r} ({', '.join(model.config.labels)})")
            annotation = next((p for p in sorted(audio.parent.glob(audio.stem + ".*")) if p.suffix != audio.suffix), None)
            if annotation is None:
                raise SystemExit(f"error: no annotation beside {audio}")
            rows.append(check_clip(model, label, audio, annotation, args.window))
        print(json.dumps({"model": spec, "clips": rows,
                          "mean_other_per_onset": round(float(np.mean([r["other_per_onset"] for r in rows])), 3)}))


if __name__ == "__main__":
    main()
