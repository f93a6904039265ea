"""Fine-tuning demonstration: a producer's own kit, loosely tapped labels, a few CPU minutes.

Takes the clips of one held-out kit (never heard in training) from ``--data``: a few minutes
become the tapped set (labels jittered by N(0, σ²), default σ = 60 ms, as sloppy pad taps would
be); the rest, or the kit's clips in ``--held-out-data``, are the clean held-out set. It
fine-tunes a model on the tapped set as ``softloc train --init`` does, and scores the model
before and after on the clean held-out clips (mir_eval, 50 ms, pooled over classes).

    python scripts/finetune_demo.py --data data/drums/validation --held-out-data data/drums/test \
        --kit BJAPacific --minutes 4 --init drums --steps 500 --lr 5e-4 --out recipes/results/finetune_demo.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from softloc_cli.annotations import read_annotations, write_events
from softloc_cli.data import find_entries, perturb_times
from softloc_cli.evaluation import evaluate_model, find_annotated_audio
from softloc_cli.events import Event, sort_events
from softloc_cli.training import make_config, train
from softloc_cli.inference import load_model


def score(model_spec: str, folder: Path, classes: list[str], decode=None) -> dict:
    model = load_model(model_spec, device="cpu")
    result = evaluate_model(model, find_annotated_audio(folder), classes=classes, decode=decode)
    pooled = result.scores.pooled
    dev = pooled.overall.median_dev_s
    return {"f1": round(pooled.overall.f1, 4), "per_class": {k: round(v.f1, 4) for k, v in pooled.classes.items()},
            "median_dev_ms": round(1000 * dev, 2) if dev is not None else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="split folder with */<clip>.flac + .csv")
    parser.add_argument("--held-out-data", type=Path,
                        help="split folder to score on (default: the --data clips not used for tapping)")
    parser.add_argument("--kit", required=True, help="kit name as it appears in the clip names")
    parser.add_argument("--minutes", type=float, default=4.0, help="tapped audio to fine-tune on")
    parser.add_argument("--jitter", type=float, default=0.06, help="label jitter σ in seconds")
    parser.add_argument("--init", default="drums")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import soundfile as sf

    entries = [e for e in find_entries(args.data) if f"__{args.kit}__" in e.audio.name]
    if len(entries) < 4:
        raise SystemExit(f"only {len(entries)} clips of kit {args.kit} in {args.data}")
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(entries))
    classes = load_model(args.init, device="cpu").config.labels
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        taps, held = tmp / "taps", tmp / "held-out"
        taps.mkdir(), held.mkdir()
        tapped_s = 0.0
        for i in order:
            entry = entries[i]
            duration = sf.info(entry.audio).duration
            target = taps if tapped_s < args.minutes * 60 else held
            if target is held and args.held_out_data is not None:
                break
            shutil.copy(entry.audio, target / entry.audio.name)
            events = read_annotations(entry.annotation)
            if target is taps:
                tapped_s += duration
                times = perturb_times(np.array([e.time_s for e in events]), noise_s=args.jitter, shift_s=0.0, rng=rng)
                events = sort_events([Event(float(max(0.0, t)), e.label, e.midi_note, e.velocity) for e, t in zip(events, times)])
            write_events(events, target / entry.annotation.name, "csv")
        if args.held_out_data is not None:
            for entry in find_entries(args.held_out_data):
                if f"__{args.kit}__" in entry.audio.name:
                    shutil.copy(entry.audio, held / entry.audio.name)
                    shutil.copy(entry.annotation, held / entry.annotation.name)
        before = score(args.init, held, classes)
        started = time.perf_counter()
        config = make_config(None, data=str(taps), output=str(tmp / "model"), init=args.init, steps=args.steps,
                             batch_size=8, lr=args.lr, warmup_steps=20, val_every=max(1, args.steps // 4),
                             seed=args.seed, threads=1, loss={"name": "softloc", "softness_s": args.jitter})
        train(config)  # fine-tuning validates on 10% of the tapped clips (their labels are jittered too)
        wall = time.perf_counter() - started
        after = score(str(tmp / "model"), held, classes)
        # The same fine-tuned network decoded with the original model's thresholds: separates what
        # the network learnt from what the (small, noisy) calibration set chose.
        after_init_decode = score(str(tmp / "model"), held, classes, decode=load_model(args.init).config.decode)
        n_held = len(list(held.glob("*.csv")))
    result = {"kit": args.kit, "tapped_minutes": round(tapped_s / 60, 2), "held_out_clips": n_held,
              "jitter_s": args.jitter, "steps": args.steps, "wall_s": round(wall, 1), "before": before, "after": after,
              "after_with_init_thresholds": after_init_decode}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
