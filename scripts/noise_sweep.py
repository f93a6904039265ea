"""Label-noise sweep (issue 7): does SoftLoc keep its clean-label F1 as training labels get misaligned?

Trains one model per grid point of ``recipes/noise-sweep.toml`` (loss × σ of Gaussian label noise,
loss × ±δ file shift, softloc softness at fixed σ; × seeds) on rendered drums, calibrates a decoder
for each model on the clean validation set (per-class thresholds, a smoothing width from the
recipe's ``smooth_grid_s``, a global time offset) and scores it on the clean test set. Each run
writes one JSON result file ``OUT/<run-id>.json`` and then deletes its model folder; a run whose
result file exists is skipped, so the sweep is resumable and can be split across machines
(``--shard i/n``) that write into copies of OUT (merge them with ``scripts/report_sweep.py``).

    python scripts/noise_sweep.py --dry-run
    python scripts/noise_sweep.py --data data/drums --seeds 0 1 2 --cache-dir runs/feature-cache
    python scripts/noise_sweep.py --only loss=softloc,sigma=100 --steps 500 --out /tmp/sweep

``--only`` takes ``key=value`` pairs separated by commas; a key given twice matches either value,
different keys must all match. Keys: loss, sigma, shift, softness (ms), seed, group
(noise | shift | softness); ``sigma`` matches Gaussian-noise runs only (not the ±δ shift runs).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RECIPE = ROOT / "recipes" / "noise-sweep.toml"
DEFAULT_OUT = ROOT / "recipes" / "noise-sweep" / "runs"
SCHEMA = 1
RULE_KEYS = ("softness_rule", "softness_min_ms", "smoothed_rule", "smoothed_min_ms")
SCALED_TRAIN_KEYS = ("warmup_steps", "val_every")
SCALED_LOSS_KEYS = ("alpha_ramp_start", "alpha_ramp_steps", "softness_ramp_start", "softness_ramp_steps")
FILTER_KEYS = ("loss", "sigma", "shift", "softness", "seed", "group")


@dataclass
class Run:
    loss: str  # loss id: a [losses.<id>] table of the recipe
    sigma_ms: float  # Gaussian label noise σ
    shift_ms: float  # ±δ shift per file
    softness_ms: float | None  # L_SLL softness (None for losses without one)
    seed: int
    loss_settings: dict[str, Any]  # LossConfig fields
    groups: list[str] = field(default_factory=list)  # studies this run belongs to
    run_id: str = ""


# ----------------------------------------------------------------------------------------------
# Planning
# ----------------------------------------------------------------------------------------------


def load_recipe(path: Path) -> dict[str, Any]:
    import tomllib

    with Path(path).open("rb") as fh:
        recipe = tomllib.load(fh)
    for key in ("sweep", "train", "losses"):
        if key not in recipe:
            raise SystemExit(f"{path}: the recipe needs a [{key}] table")
    return recipe


def fmt_ms(value: float) -> str:
    """``50 → "050"``, ``12.5 → "012p5"`` (run ids sort by value)."""
    whole = int(value)
    if value == whole:
        return f"{whole:03d}"
    return f"{whole:03d}p{str(value).split('.')[1]}"


def loss_settings(recipe: dict[str, Any], loss_id: str, m_ms: float, softness_ms: float | None = None):
    """LossConfig fields for ``loss_id`` at misalignment ``m_ms``, and the softness (ms) used."""
    try:
        table = dict(recipe["losses"][loss_id])
    except KeyError:
        raise SystemExit(f"loss {loss_id!r} is used in a grid but the recipe has no [losses.{loss_id}]") from None
    settings = {k: v for k, v in table.items() if k not in RULE_KEYS}
    used_softness = None
    if table.get("softness_rule"):
        if table["softness_rule"] != "max":
            raise SystemExit(f"[losses.{loss_id}] softness_rule must be \"max\"")
        used_softness = softness_ms if softness_ms is not None else max(m_ms, float(table.get("softness_min_ms", 0)))
        settings["softness_s"] = used_softness / 1000
    elif "softness_s" in settings and settings.get("name") in ("softloc", "sll"):
        used_softness = 1000 * float(settings["softness_s"])
    if table.get("smoothed_rule"):
        if table["smoothed_rule"] != "max":
            raise SystemExit(f"[losses.{loss_id}] smoothed_rule must be \"max\"")
        settings["smoothed_sigma_s"] = max(m_ms, float(table.get("smoothed_min_ms", 20))) / 1000
    return settings, used_softness


def plan_runs(recipe: dict[str, Any], seeds: list[int], *, steps_suffix: str = "") -> list[Run]:
    """Every run of the recipe's grids, deduplicated by run id (a run shared by two studies is
    trained once and lists both in ``groups``), in a useful order: seed, study, σ/δ, loss."""
    sweep = recipe["sweep"]
    points: list[tuple[str, str, float, float, float | None]] = []  # group, loss, sigma, shift, softness
    noise = sweep.get("noise", {})
    for sigma in noise.get("sigma_ms", []):
        for loss in noise.get("losses", []):
            points.append(("noise", loss, float(sigma), 0.0, None))
    shift = sweep.get("shift", {})
    for delta in shift.get("shift_ms", []):
        for loss in shift.get("losses", []):
            points.append(("shift", loss, 0.0, float(delta), None))
    soft = sweep.get("softness", {})
    if soft:
        for softness in soft.get("softness_ms", []):
            for loss in soft.get("losses", []):
                points.append(("softness", loss, float(soft["sigma_ms"]), 0.0, float(softness)))
    runs: dict[str, Run] = {}
    for seed in seeds:
        for group, loss, sigma, delta, softness in points:
            settings, used = loss_settings(recipe, loss, max(sigma, delta), softness)
            if group == "softness" and used is None:
                raise SystemExit(f"softness study: loss {loss!r} has no softness_rule")
            parts = [loss, f"sigma{fmt_ms(sigma)}" if delta == 0 else f"shift{fmt_ms(delta)}"]
            if used is not None:
                parts.append(f"soft{fmt_ms(used)}")
            run_id = "-".join(parts) + f"-seed{seed}" + steps_suffix
            if run_id in runs:
                if group not in runs[run_id].groups:
                    runs[run_id].groups.append(group)
                continue
            runs[run_id] = Run(loss, sigma, delta, used, seed, settings, [group], run_id)
    return list(runs.values())


def parse_only(text: str | None) -> dict[str, list[str]]:
    wanted: dict[str, list[str]] = {}
    for part in filter(None, (text or "").split(",")):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in FILTER_KEYS:
            raise SystemExit(f"--only: {part!r} is not key=value with key one of {', '.join(FILTER_KEYS)}")
        wanted.setdefault(key, []).append(value.strip())
    return wanted


def matches(run: Run, wanted: dict[str, list[str]]) -> bool:
    values = {"loss": run.loss, "sigma": run.sigma_ms, "shift": run.shift_ms, "softness": run.softness_ms,
              "seed": run.seed}
    for key, options in wanted.items():
        if key == "group":
            if not set(options) & set(run.groups):
                return False
            continue
        if key == "sigma" and run.shift_ms > 0:  # σ filters select Gaussian-noise runs only
            return False
        actual = values[key]
        ok = False
        for option in options:
            if isinstance(actual, str):
                ok |= actual == option
            elif actual is None:
                ok |= option.lower() in ("none", "-")
            else:
                try:
                    ok |= abs(float(actual) - float(option)) < 1e-9
                except ValueError:
                    raise SystemExit(f"--only {key}={option}: expected a number") from None
        if not ok:
            return False
    return True


def parse_shard(text: str | None) -> tuple[int, int]:
    if not text:
        return 0, 1
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise SystemExit(f"--shard {text!r}: expected i/n, e.g. 0/3") from None
    if not (count >= 1 and 0 <= index < count):
        raise SystemExit(f"--shard {text!r}: need 0 <= i < n (shards are numbered from 0)")
    return index, count


# ----------------------------------------------------------------------------------------------
# One run
# ----------------------------------------------------------------------------------------------


def train_overrides(recipe: dict[str, Any], run: Run, *, steps: int | None) -> dict[str, Any]:
    """The [train] table with this run's loss, noise, seed (and a --steps override with its ramps scaled)."""
    base = json.loads(json.dumps(recipe["train"]))
    loss = {**base.pop("loss", {}), **run.loss_settings}
    recipe_steps = int(base.get("steps", 3000))
    if steps is not None and steps != recipe_steps:
        ratio = steps / recipe_steps
        base["steps"] = steps
        for key in SCALED_TRAIN_KEYS:
            if key in base:
                base[key] = max(1, int(round(base[key] * ratio)))
        for key in SCALED_LOSS_KEYS:
            if key in loss:
                low = 0 if key.endswith("start") else 1
                loss[key] = max(low, int(round(loss[key] * ratio)))
    base["loss"] = loss
    base["label_noise_s"] = run.sigma_ms / 1000
    base["label_shift_s"] = run.shift_ms / 1000
    base["seed"] = run.seed
    return base


class Evaluator:
    """Clean validation/test tracks (loaded once per process) and the scoring of one model."""

    def __init__(self, *, val_dir: Path, test_dir: Path, cache_dir: Path | None, smooth_grid: list[float],
                 window_s: float = 0.05):
        self.val_dir, self.test_dir, self.cache_dir = val_dir, test_dir, cache_dir
        self.smooth_grid, self.window_s = smooth_grid, window_s
        self._tracks: dict[tuple, list] = {}

    def tracks(self, folder: Path, labels: list[str], feature_module):
        """Clean tracks; for a multi-pitch model (classes A0..C8) labels are matched by MIDI note."""
        from softloc_cli.classmap import pitched_class_map
        from softloc_cli.data import find_entries, load_tracks

        key = (str(folder), tuple(labels), json.dumps(asdict(feature_module.config), sort_keys=True))
        if key not in self._tracks:
            pitched = pitched_class_map(labels)
            self._tracks[key], _ = load_tracks(find_entries(folder), classes=labels, feature_module=feature_module,
                                               class_map=pitched, cache_dir=self.cache_dir,
                                               require_every_class=pitched is None)
        return self._tracks[key]

    def evaluate(self, model_dir: Path, device: str) -> dict[str, Any]:
        from softloc_cli.calibration import calibrate, peak_mass_share, score_decoded
        from softloc_cli.inference import activations_from_logmel as predict
        from softloc_cli.inference import load_model

        model = load_model(model_dir, device=device)
        labels, rate = model.config.labels, model.frame_rate_hz
        val = self.tracks(self.val_dir, labels, model.features)
        test = self.tracks(self.test_dir, labels, model.features)
        val_acts = [predict(model.net, t.logmel, model.device, frame_rate_hz=model.frame_rate_hz) for t in val]
        val_refs = [t.events for t in val]
        decode = calibrate(val_acts, val_refs, labels=labels, frame_rate_hz=rate, base=model.config.decode,
                           window_s=self.window_s, smooth_grid=self.smooth_grid)
        test_acts = [predict(model.net, t.logmel, model.device, frame_rate_hz=model.frame_rate_hz) for t in test]
        test_refs = [t.events for t in test]

        def scored(acts, refs):
            pooled = score_decoded(acts, refs, labels=labels, frame_rate_hz=rate, decode=decode,
                                   window_s=self.window_s)
            summary = summarize(pooled, peak_mass_share(acts, refs, labels=labels, frame_rate_hz=rate))
            if model.config.pitched:  # the paper's piano metric, straight from mir_eval.transcription
                summary["notes"] = note_scores(acts, refs, labels=labels, midi_notes=model.config.midi_notes,
                                               rate=rate, decode=decode, window_s=self.window_s)
            return summary

        subsets: dict[str, list[int]] = {}
        for i, t in enumerate(test):
            rel = Path(t.entry.audio).absolute().relative_to(self.test_dir.absolute())
            subsets.setdefault(rel.parts[0] if len(rel.parts) > 1 else ".", []).append(i)
        return {
            "labels": labels,
            "params": sum(p.numel() for p in model.net.parameters()),
            "device": model.device,
            "decode": asdict(decode),
            "validation": scored(val_acts, val_refs),
            "test": scored(test_acts, test_refs),
            "test_subsets": {name: scored([test_acts[i] for i in idx], [test_refs[i] for i in idx])
                             for name, idx in sorted(subsets.items())} if len(subsets) > 1 else {},
            "training": model.config.training,
        }


def note_scores(acts, refs, *, labels, midi_notes, rate, decode, window_s) -> dict[str, Any]:
    from softloc_cli.decode import decode_activations
    from softloc_cli.note_scores import pool_notes, score_notes

    per_file = [score_notes(ref, decode_activations(a, labels=labels, frame_rate_hz=rate, config=decode,
                                                    midi_notes=midi_notes),
                            onset_tolerance=window_s)
                for a, ref in zip(acts, refs)]
    return pool_notes(per_file).to_dict()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 2)


def summarize(pooled, peak_share: float | None) -> dict[str, Any]:
    def one(s) -> dict[str, Any]:
        return {"f1": round(s.f1, 5), "precision": round(s.precision, 5), "recall": round(s.recall, 5),
                "n_ref": s.n_ref, "n_est": s.n_est, "tp": s.tp, "median_dev_ms": _ms(s.median_dev_s),
                "mean_dev_ms": _ms(s.mean_dev_s), "std_dev_ms": _ms(s.std_dev_s)}

    overall = pooled.pooled.overall
    return {**one(overall), "file_mean_f1": round(pooled.mean_per_file["overall"]["f1"], 5),
            "n_files": pooled.n_files, "peak_share": None if peak_share is None else round(peak_share, 4),
            "per_class": {name: one(s) for name, s in pooled.pooled.classes.items()}}


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def execute(run: Run, *, recipe, args, evaluator: Evaluator, data: dict[str, Path]) -> dict[str, Any]:
    from softloc_cli.training import make_config, train

    started = time.perf_counter()
    model_dir = args.work_dir / run.run_id
    overrides = train_overrides(recipe, run, steps=args.steps)
    config = make_config(overrides, data=str(data["train"]), val=str(data["validation"]), output=str(model_dir),
                         name=run.run_id, cache_dir=str(args.cache_dir) if args.cache_dir else None,
                         device=args.device, threads=args.threads or None)
    step_every = max(1, config.steps // 10)

    def log(event: dict[str, Any]) -> None:
        if event["kind"] == "step" and (event["step"] % step_every == 0 or event["step"] == event["total"]):
            print(f"  [{run.run_id}] step {event['step']}/{event['total']} loss {event['loss']:.4g}", flush=True)

    train_s = None
    if (model_dir / "config.json").is_file():
        print(f"  [{run.run_id}] trained model found in {model_dir}: evaluating it", flush=True)
    elif (model_dir / ".train_state" / "state.json").is_file():
        print(f"  [{run.run_id}] resuming {model_dir}", flush=True)
        train_s = train(config, resume=True, on_event=log).seconds
    else:
        if model_dir.exists():
            shutil.rmtree(model_dir)
        train_s = train(config, on_event=log).seconds
    scores = evaluator.evaluate(model_dir, args.device)
    training = scores.pop("training")
    import torch

    import softloc_cli

    return {
        "schema": SCHEMA,
        "run_id": run.run_id,
        "groups": run.groups,
        "loss": run.loss,
        "loss_name": run.loss_settings.get("name", run.loss),
        "sigma_ms": run.sigma_ms,
        "shift_ms": run.shift_ms,
        "softness_ms": run.softness_ms,
        "seed": run.seed,
        "steps": training.get("steps", config.steps),
        "best_step": training.get("best_step"),
        "batch_size": config.batch_size,
        "crop_s": config.crop_s,
        "model": asdict(config.model),
        "loss_config": asdict(config.loss),
        "params": scores.pop("params"),
        "device": scores.pop("device"),
        "wall_s": round(time.perf_counter() - started, 1),
        "train_s": None if train_s is None else round(train_s, 1),
        "data": {"train": str(data["train"]), "validation": str(data["validation"]), "test": str(data["test"]),
                 "train_hours": training.get("train_data", {}).get("hours")},
        **scores,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "git_commit": git_commit(),
        "versions": {"softloc_cli": getattr(softloc_cli, "__version__", None), "torch": torch.__version__,
                     "python": platform.python_version()},
    }


def write_result(path: Path, record: dict[str, Any]) -> None:
    from softloc_cli.fileio import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as fh:
        json.dump(record, fh, indent=1)
        fh.write("\n")


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--recipe", type=Path, default=DEFAULT_RECIPE)
    parser.add_argument("--data", type=Path, default=Path("data/drums"),
                        help="folder with the recipe's train/validation/test subfolders (default data/drums)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result files (default recipes/noise-sweep/runs)")
    parser.add_argument("--work-dir", type=Path, default=Path("runs/noise-sweep"),
                        help="per-run model folders, deleted once the result is written (default runs/noise-sweep)")
    parser.add_argument("--cache-dir", type=Path, default=Path("runs/feature-cache"),
                        help="shared on-disk feature cache (default runs/feature-cache)")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds (default: the recipe's)")
    parser.add_argument("--steps", type=int, help="override the recipe's steps (ramps, warm-up, val_every scaled; "
                                                  "run ids get a -stepsN suffix)")
    parser.add_argument("--only", help="run only matching points, e.g. loss=softloc,sigma=100")
    parser.add_argument("--shard", help="i/n: run every n-th planned run starting at i (0 <= i < n)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--keep-models", action="store_true", help="keep each run's model folder")
    parser.add_argument("--dry-run", action="store_true", help="list the planned runs and exit")
    args = parser.parse_args(argv)

    recipe = load_recipe(args.recipe)
    seeds = args.seeds if args.seeds is not None else list(recipe["sweep"].get("seeds", [0]))
    recipe_steps = int(recipe["train"].get("steps", 3000))
    if args.steps is not None and args.steps < 1:
        raise SystemExit("--steps must be >= 1")
    suffix = f"-steps{args.steps}" if args.steps is not None and args.steps != recipe_steps else ""
    runs = [r for r in plan_runs(recipe, seeds, steps_suffix=suffix) if matches(r, parse_only(args.only))]
    index, count = parse_shard(args.shard)
    runs = runs[index::count]
    todo = [r for r in runs if not (args.out / f"{r.run_id}.json").is_file()]
    print(f"{len(runs)} run(s) planned, {len(runs) - len(todo)} already done, {len(todo)} to run "
          f"(results in {args.out})", flush=True)
    if args.dry_run:
        for r in runs:
            state = "done" if r not in todo else "todo"
            print(f"  {state}  {r.run_id:40s} groups={','.join(r.groups)}")
        return 0
    if not todo:
        return 0

    sweep = recipe["sweep"]
    data = {key: args.data / sweep.get(key, key) for key in ("train", "validation", "test")}
    for key, folder in data.items():
        if not folder.is_dir():
            raise SystemExit(f"{key} folder {folder} does not exist (--data {args.data})")
    evaluator = Evaluator(val_dir=data["validation"], test_dir=data["test"], cache_dir=args.cache_dir,
                          smooth_grid=[float(x) for x in sweep.get("smooth_grid_s", [0.0, 0.01, 0.02, 0.04])])
    args.work_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for n, run in enumerate(todo, 1):
        result_path = args.out / f"{run.run_id}.json"
        if result_path.is_file():  # written meanwhile by another process sharing OUT
            continue
        print(f"[{n}/{len(todo)}] {run.run_id}", flush=True)
        try:
            record = execute(run, recipe=recipe, args=args, evaluator=evaluator, data=data)
        except Exception:  # keep the sweep going; the model folder stays for --resume / inspection
            traceback.print_exc()
            failed.append(run.run_id)
            continue
        write_result(result_path, record)
        if not args.keep_models:
            shutil.rmtree(args.work_dir / run.run_id, ignore_errors=True)
        test = record["test"]
        print(f"  -> test F1 {test['f1']:.4f} (P {test['precision']:.3f} R {test['recall']:.3f}, median dev "
              f"{test['median_dev_ms']} ms, peak share {test['peak_share']}) in {record['wall_s']:.0f} s "
              f"on {record['device']}; {result_path}", flush=True)
    if failed:
        print(f"{len(failed)} run(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
