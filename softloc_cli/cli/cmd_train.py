"""`softloc train`: learn a model from audio with (loosely) annotated events."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import DeviceOpt, JsonOpt, QuietOpt, UsageError, app, duration, stderr, stdout

EXAMPLES = """
[b]Examples[/b]

  softloc train my-taps/ --init drums -o my-model/             # fine-tune on your taps (softness measured)
  softloc train my-taps/ --init drums --softness 80ms -o my-model/
  softloc train data/train --val data/val --classes kick,snare,hihat --steps 6000 -o drums-v2/
  softloc train data/ --recipe recipes/drums.toml -o drums/ --device cuda
  softloc train rendered/ --mix real/=0.6 --val real-val/ --classes onset -o onsets-v2/   # 60% of crops from real/
  softloc train data/ -o drums-v2/ --resume
"""


class LossName(str, Enum):
    softloc = "softloc"
    sll = "sll"
    mc = "mc"
    bce = "bce"
    smoothed = "smoothed"
    bootstrap = "bootstrap"


InitOpt = Annotated[
    Optional[str],
    typer.Option("--init", "-m", "--model",
                 help="Fine-tune this model: a bundled name (drums, onsets, piano), a directory or hf://owner/name."),
]


@app.command(epilog=EXAMPLES)
def train(
    data: Annotated[Optional[Path], typer.Argument(help="Folder of audio + same-stem annotations, or a manifest CSV.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write.")] = ...,
    val: Annotated[Optional[Path], typer.Option("--val", help="Validation folder (default: 10% of DATA).")] = None,
    mix: Annotated[Optional[list[str]], typer.Option("--mix", help="Another training set and its share of the crops, e.g. real/=0.6 (repeatable; DATA gets the rest).")] = None,
    init: InitOpt = None,
    classes: Annotated[Optional[str], typer.Option("--classes", help="Comma-separated classes (default: those of --init plus new labels, else every label in DATA).")] = None,
    class_map: Annotated[Optional[str], typer.Option("--class-map", help='Label map, e.g. "kick=35,36 snare=38,40".')] = None,
    loss: Annotated[Optional[LossName], typer.Option("--loss", help="softloc, sll, mc, bce, smoothed or bootstrap.")] = None,
    softness: Annotated[Optional[str], typer.Option("--softness", help="How far off your labels are, e.g. 80ms, or auto (measured against --init; the default when fine-tuning).")] = None,
    snap: Annotated[Optional[bool], typer.Option("--snap/--no-snap", help="Move each tap onto the --init model's matching hit before training (default when fine-tuning).")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", min=1, help="Optimizer steps (default: 3000; fine-tuning: sized to the audio).")] = None,
    epochs: Annotated[Optional[float], typer.Option("--epochs", min=0.01, help="Passes over the training audio (instead of --steps).")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", min=1, help="Crops per step.")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", min=0.0, help="Adam learning rate (default 1e-3).")] = None,
    label_noise: Annotated[Optional[str], typer.Option("--label-noise", help="Experiments: jitter training labels by N(0, σ²), e.g. 50ms.")] = None,
    label_shift: Annotated[Optional[str], typer.Option("--label-shift", help="Experiments: move each training file's labels by ±δ, e.g. 50ms.")] = None,
    device: DeviceOpt = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed (crops, label noise, init).")] = None,
    recipe: Annotated[Optional[Path], typer.Option("--recipe", help="TOML file with every training setting; flags override it.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in -o exactly where it stopped.")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="Keep computed features here between runs.")] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Train or fine-tune a model; loosely timed labels are fine (SoftLoc loss)."""
    from ..train_state import check_resume_flags, saved_config
    from ..training import TrainConfig, load_recipe, make_config, train as run_training

    if epochs is not None and steps is not None:
        raise UsageError("give --steps or --epochs, not both")
    if data is None and not resume:
        raise UsageError("missing DATA (a folder of audio + annotations, or a manifest CSV)")
    if data is not None and not data.exists():
        raise UsageError(f"DATA {str(data)!r} does not exist")
    if val is not None and not val.exists():
        raise UsageError(f"--val {str(val)!r} does not exist")
    auto_softness = softness is not None and softness.strip().lower() == "auto"
    mix_sources = [_mix_source(item) for item in mix or []]
    flags = {
        "data": str(data) if data else None,
        "val": str(val) if val else None,
        "mix": mix_sources or None,
        "output": str(output),
        "init": init,
        "classes": [c.strip() for c in classes.split(",") if c.strip()] if classes else None,
        "class_map": class_map,
        "loss": {"name": loss.value if loss else None,
                 "softness_s": None if auto_softness else duration(softness, "--softness")},
        "auto_softness": True if auto_softness else (False if softness is not None else None),
        "snap_taps": snap,
        "steps": steps,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "label_noise_s": duration(label_noise, "--label-noise"),
        "label_shift_s": duration(label_shift, "--label-shift"),
        "device": device.value if device else None,
        "seed": seed,
        "cache_dir": str(cache_dir) if cache_dir else None,
    }
    if resume:
        config = saved_config(output, TrainConfig)
        check_resume_flags(config, flags)
    else:
        recipe_data = load_recipe(recipe) if recipe else {}
        fine_tuning = (init or recipe_data.get("init")) is not None
        if flags["auto_softness"] is None and fine_tuning and "softness_s" not in recipe_data.get("loss", {}):
            flags["auto_softness"] = True  # fine-tuning measures the taps' spread unless told otherwise
        config = make_config(recipe_data, **flags)
    reporter = _Reporter(enabled=not (quiet or as_json))
    with reporter:
        result = run_training(config, resume=resume, on_event=reporter)
    if result is None:  # not rank 0 under torchrun
        return
    overall = result.scores["validation"]["overall"]
    summary = {
        "output": str(result.output),
        "steps": result.steps,
        "best_step": result.best_step,
        "averaged_validations": result.averaged,
        "seconds": round(result.seconds, 1),
        "validation": result.scores["validation"],
        "peak_share": result.scores.get("peak_share"),
        "tap_spread": asdict(result.tap_spread) if result.tap_spread else None,
        "decode": {"thresholds": {c: result.decode.threshold_for(c) for c in result.scores["validation"]["classes"]},
                   "smooth_s": result.decode.smooth_s, "time_offset_s": result.decode.time_offset_s},
    }
    if as_json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not quiet:
        per_class = _class_scores({k: v["f1"] if v["n_ref"] else None  # a class the held-out takes lack
                                   for k, v in result.scores["validation"]["classes"].items()})
        stdout.print(
            f"wrote {result.output} after {result.steps} steps ({result.seconds:.0f} s); "
            f"validation F1 {overall['f1']:.3f}{f' ({per_class})' if per_class else ''}; "
            + (f"weights averaged over {result.averaged} validations" if result.averaged
               else f"best step {result.best_step}")
        )
        shown = _class_scores(summary["decode"]["thresholds"], fmt="{:g}")
        if shown:
            stdout.print(f"stored thresholds: {shown}", markup=False)


def _mix_source(item: str) -> dict:
    """``real/=0.6`` → {"path": "real/", "share": 0.6}."""
    path, sep, share = item.rpartition("=")
    try:
        value = float(share)
    except ValueError:
        value = None
    if not sep or not path or value is None or not 0 < value < 1:
        raise UsageError(f"--mix {item!r}: expected FOLDER=SHARE with a share between 0 and 1, e.g. real/=0.6")
    if not Path(path).exists():
        raise UsageError(f"--mix {path!r} does not exist")
    return {"path": path, "share": value}


MAX_LISTED_CLASSES = 12  # an 88-key model's per-class F1s stay in config.json / metrics.jsonl


def _class_scores(scores: dict[str, float | None], sep: str = ", ", fmt: str = "{:.3f}") -> str:
    """``kick 0.912, snare 0.884, hihat –`` for a few classes (None: not scored); empty for many."""
    if len(scores) > MAX_LISTED_CLASSES:
        return ""
    return sep.join(f"{name} {'–' if value is None else fmt.format(value)}" for name, value in scores.items())


class _Reporter:
    """Live progress on stderr: step, loss, validation F1, ETA."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and stderr.is_terminal
        self.log = enabled  # plain lines when stderr is not a terminal
        self.progress = None
        self.task = None
        self.best = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                TimeRemainingColumn(), console=stderr, transient=False,
            )
            self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def __call__(self, event: dict) -> None:
        kind = event["kind"]
        if kind == "classes" and self.log:
            counts = event["counts"]
            shown = ", ".join(f"{name} ({counts[name]})" for name in list(counts)[:MAX_LISTED_CLASSES])
            more = f" and {len(counts) - MAX_LISTED_CLASSES} more" if len(counts) > MAX_LISTED_CLASSES else ""
            new = f"; new: {', '.join(event['new'])}" if event["new"] else ""
            stderr.print(f"classes: {shown}{more}{new}", markup=False)
        elif kind == "softness" and self.log:
            spread = event["spread"]
            if event.get("stored_sigma_s") is not None:
                stderr.print(f"your taps spread about {1000 * event['stored_sigma_s']:.0f} ms (softloc tap --calibrate); "
                             f"softness {1000 * event['softness_s']:.0f} ms", markup=False)
            elif spread is None:
                stderr.print(f"softness: no taps matched the base model's detections; "
                             f"using {1000 * event['softness_s']:.0f} ms", markup=False)
            else:
                stderr.print(f"your taps are off by about {1000 * spread['sigma_s']:.0f} ms "
                             f"({spread['n_matched']} of {spread['n_taps']} taps matched); "
                             f"softness {1000 * event['softness_s']:.0f} ms", markup=False)
        elif kind == "snap" and self.log:
            kept = event["taps"] - event["snapped"]
            stderr.print(f"snapped {event['snapped']} of {event['taps']} taps onto the base model's hits "
                         f"(within {1000 * event['window_s']:.0f} ms); {kept} kept as tapped; "
                         f"softness {1000 * event['softness_s']:.0f} ms", markup=False)
        elif kind == "data" and self.log:
            train, val = event["train"], event["val"]
            events = train["events"]
            if len(events) > MAX_LISTED_CLASSES:
                played = sum(1 for n in events.values() if n)
                events = f"{sum(events.values())} in {played} of {len(events)} classes"
            stderr.print(
                f"data: {train['files']} training files ({train['hours'] * 60:.1f} min, events {events}), "
                f"{val['files']} validation files ({val['hours'] * 60:.1f} min)"
            )
        elif kind == "step" and self.progress is not None:
            if self.task is None:
                self.task = self.progress.add_task("train", total=event["total"], info="")
            best = f" val F1 {self.best:.3f}" if self.best is not None else ""
            self.progress.update(self.task, completed=event["step"], info=f"loss {event['loss']:.4f}{best}")
        elif kind == "val":
            self.best = event["best_f1"]
            if self.log:
                classes = _class_scores(event["per_class"], sep=" ")
                share = f", peak share {event['peak_share']:.2f}" if event.get("peak_share") is not None else ""
                stderr.print(
                    f"step {event['step']}: val F1 {event['f1_tuned']:.3f} (at default thresholds "
                    f"{event['f1_default']:.3f}{': ' + classes if classes else ''}){share}, best {event['best_f1']:.3f} @ {event['best_step']}"
                )
