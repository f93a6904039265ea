"""Does fine-tuning on loose taps help? One case: base model → fine-tuned on taps → scored on other audio.

Fine-tunes ``--init`` on the tapped folder with the defaults of ``softloc train TAPS --init MODEL``
(steps sized to the audio, softness measured from the taps, count-calibrated thresholds), once
per ``--loss``, with the same step budget, and scores the base and each fine-tuned model on the
``--test`` folder (exact annotations; mir_eval, 50 ms, pooled over files, per class and overall).
Appends one JSON record per run to ``--out``.

    python scripts/finetune_proof.py --case tr808 --init drums --taps data/ft/tr808/taps-s50 \\
        --test data/ft/tr808/test --loss softloc --loss bce --out recipes/results/finetune_proof.jsonl
    python scripts/finetune_proof.py --report recipes/results/finetune_proof.jsonl   # markdown table
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

from softloc_cli.annotations import read_annotations
from softloc_cli.data import find_entries
from softloc_cli.inference import load_model, transcribe_file
from softloc_cli.metrics import pool_scores, score_events
from softloc_cli.training import make_config, train


def score(model_spec: str, folder: Path, window_s: float = 0.05) -> dict:
    model = load_model(model_spec, device="cpu")
    labels = model.config.labels
    per_file = []
    for entry in find_entries(folder):
        reference = [e for e in read_annotations(entry.annotation) if e.label in labels]
        per_file.append(score_events(reference, transcribe_file(model, entry.audio).events, window_s=window_s,
                                     classes=labels))
    pooled = pool_scores(per_file).pooled
    return {"f1": round(pooled.overall.f1, 4), "per_class": {k: round(v.f1, 4) for k, v in pooled.classes.items()},
            "n_ref": pooled.overall.n_ref}


def report(path: Path) -> None:
    """One markdown row per run: base → tuned F1 (per class), time, steps, measured softness."""
    print("| case | loss | settings | base F1 | tuned F1 | gain | per class (tuned) | train time | steps | "
          "taps off by (measured) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        spread = r["tap_spread"]
        measured = f"{1000 * spread['sigma_s']:.0f} ms" if spread else "–"
        classes = ", ".join(f"{k} {v:.3f}" for k, v in r["tuned"]["per_class"].items())
        settings = ", ".join(f"{k}={v}" for k, v in r["settings"].items() if k != "classes") or "defaults"
        print(f"| {r['case']} | {r['loss']} | {settings} | {r['base']['f1']:.3f} | {r['tuned']['f1']:.3f} | "
              f"{100 * r['gain']:+.1f} | {classes} | {r['train_seconds'] / 60:.1f} min | {r['steps']} | {measured} |")


def report_seeds(paths: list[Path]) -> None:
    """One markdown row per case run with several seeds (``CASE``, ``CASE-seedN``): mean and range."""
    groups: dict[str, list[dict]] = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            groups.setdefault(re.sub(r"-seed\d+$", "", r["case"]), []).append(r)
    print("| case | seeds | base F1 | tuned F1, mean (min–max) | gain, mean | per class, mean | train time, mean |")
    print("|---|---:|---:|---|---:|---|---:|")
    for case, runs in groups.items():
        if len(runs) < 2:
            continue
        tuned = [r["tuned"]["f1"] for r in runs]
        per_class = {k: sum(r["tuned"]["per_class"][k] for r in runs) / len(runs) for k in runs[0]["tuned"]["per_class"]}
        classes = ", ".join(f"{k} {v:.3f}" for k, v in per_class.items())
        print(f"| {case} | {len(runs)} | {sum(r['base']['f1'] for r in runs) / len(runs):.3f} | "
              f"{sum(tuned) / len(tuned):.3f} ({min(tuned):.3f}–{max(tuned):.3f}) | "
              f"{100 * sum(r['gain'] for r in runs) / len(runs):+.1f} | {classes} | "
              f"{sum(r['train_seconds'] for r in runs) / len(runs) / 60:.1f} min |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", type=Path, default=None, help="print the results in this JSONL file and exit")
    ap.add_argument("--report-seeds", type=Path, nargs="+", default=None,
                    help="print mean and range over seeds of the cases in these JSONL files and exit")
    ap.add_argument("--case", help="name of this case in the results")
    ap.add_argument("--init", help="base model spec")
    ap.add_argument("--taps", type=Path, help="folder of audio + tapped annotations")
    ap.add_argument("--test", type=Path, help="folder of other audio + exact annotations")
    ap.add_argument("--loss", action="append", default=None, help="softloc (default) and/or bce")
    ap.add_argument("--steps", type=int, default=None, help="override the sized default")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="extra TrainConfig setting, e.g. freeze_frontend=true or lr=1e-4")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, default=None, help="keep the fine-tuned models under this folder")
    ap.add_argument("--out", type=Path, help="JSONL file to append to")
    args = ap.parse_args()
    if args.report:
        return report(args.report)
    if args.report_seeds:
        return report_seeds(args.report_seeds)
    if not (args.case and args.init and args.taps and args.test and args.out):
        ap.error("--case, --init, --taps, --test and --out are needed to run a case")

    extra = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.set)}
    base = score(args.init, args.test)
    print(f"[{args.case}] base {args.init}: F1 {base['f1']:.3f} {base['per_class']}", flush=True)
    for loss in args.loss or ["softloc"]:
        work = Path(tempfile.mkdtemp(prefix="ft-"))
        output = (args.keep / f"{args.case}-{loss}") if args.keep else work / "model"
        settings = {"auto_softness": True, "steps": args.steps, "seed": args.seed, "threads": args.threads,
                    "device": "cpu", **extra, "loss": {"name": loss, **extra.get("loss", {})}}
        config = make_config(data=str(args.taps), output=str(output), init=args.init, **settings)
        started = time.perf_counter()
        shown = ("val", "softness", "snap", "classes")
        result = train(config, on_event=lambda e: print(f"  {e}", flush=True) if e["kind"] in shown else None)
        seconds = time.perf_counter() - started
        tuned = score(str(output), args.test)
        training = json.loads((output / "config.json").read_text())["training"]
        record = {"case": args.case, "init": args.init, "loss": loss, "taps": str(args.taps), "test": str(args.test),
                  "settings": extra, "seed": args.seed, "threads": args.threads, "steps": result.steps,
                  "best_step": result.best_step, "train_seconds": round(seconds, 1),
                  "train_hours": training["train_data"]["hours"], "snapped_taps": training.get("snapped_taps"),
                  "tap_spread": None if result.tap_spread is None else vars(result.tap_spread),
                  "thresholds": {c: result.decode.threshold_for(c) for c in tuned["per_class"]},
                  "base": base, "tuned": tuned, "gain": round(tuned["f1"] - base["f1"], 4)}
        print(f"[{args.case}] {loss}: F1 {base['f1']:.3f} -> {tuned['f1']:.3f} in {seconds:.0f} s "
              f"({result.steps} steps) {tuned['per_class']}", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=str) + "\n")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
