"""`softloc models list|info|pull|push`: the models on this machine and on the Hugging Face Hub."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from .app import JsonOpt, QuietOpt, UsageError, models_app, stderr, stdout

CLASS_ROWS = 12  # more classes than this (a piano model's 88 keys) are summarised unless --all-classes
MIN_EVENTS = 20  # a class needs this many validation events to be named among the best or worst

LIST_EXAMPLES = """
[b]Examples[/b]

  softloc models list
  softloc models list --json
  HF_HOME=/data/hf softloc models list
"""

INFO_EXAMPLES = """
[b]Examples[/b]

  softloc models info drums
  softloc models info piano --all-classes
  softloc models info ./my-model/
  softloc models info hf://me/my-kit@v1 --json
"""

PULL_EXAMPLES = """
[b]Examples[/b]

  softloc models pull hf://me/my-kit
  softloc models pull hf://me/my-kit@v1
  HF_HOME=/mnt/cache softloc models pull hf://me/my-kit   [dim]# then copy the cache to an offline machine[/dim]
"""

PUSH_EXAMPLES = """
[b]Examples[/b]

  softloc models push my-model/ me/my-kit --dry-run
  softloc models push my-model/ me/my-kit
  softloc models push my-model/ me/my-kit --private --revision v2
"""


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _headline(scores: dict[str, Any]) -> str:
    """The one number worth a column: overall F1 (and the window) if the scores have it."""
    from ..modelcard import find_score_table

    table, rest = find_score_table(scores)
    overall = table.get("overall") if table is not None else None
    if isinstance(overall, dict) and isinstance(overall.get("f1"), (int, float)):
        window = table.get("window_s", rest.get("window_s"))
        return f"F1 {overall['f1']:.3f}" + (f" @{1000 * window:g} ms" if isinstance(window, (int, float)) else "")
    for key in ("f1", "f_measure", "val_f1"):
        if isinstance(rest.get(key), (int, float)):
            return f"F1 {rest[key]:.3f}"
    return "–"


def _dump(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


@models_app.command("list", epilog=LIST_EXAMPLES)
def list_cmd(as_json: JsonOpt = False) -> None:
    """Bundled models and softloc models in the Hugging Face cache (HF_HOME / HF_HUB_CACHE)."""
    from rich.table import Table

    from ..catalog import list_models
    from ..classmap import describe_classes

    entries = list_models()
    if as_json:
        _dump({"models": [e.to_dict() for e in entries]})
        return
    table = Table(title="softloc models", title_justify="left")
    for name, justify in (("model", "left"), ("source", "left"), ("classes", "left"), ("size", "right"),
                          ("scores", "right")):
        table.add_column(name, justify=justify)
    for e in entries:
        classes = escape(describe_classes(list(e.classes))) if e.error is None else f"[red]{escape(e.error)}[/red]"
        table.add_row(escape(e.spec), e.source, classes, _size(e.size_bytes), _headline(e.scores))
    stdout.print(table)
    if not any(e.source == "cache" for e in entries):
        stderr.print("no Hub models cached; fetch one with `softloc models pull hf://owner/name`")


@models_app.command("info", epilog=INFO_EXAMPLES)
def info_cmd(
    model: Annotated[str, typer.Argument(help="Bundled name, model directory, or hf://owner/name[@rev].")],
    all_classes: Annotated[
        bool, typer.Option("--all-classes", help=f"One table row per class even past {CLASS_ROWS} classes.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Every class, and every loss and training setting.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Classes with MIDI notes, thresholds and validation scores; training data, decode settings, size."""
    from rich.console import Group

    from ..catalog import model_info

    info = model_info(model)
    if as_json:
        _dump(info.to_dict())
        return
    c = info.config
    same = info.spec == c.name or Path(info.spec).expanduser().resolve() == info.directory.resolve()
    where = str(info.directory) if same else f"{info.spec} → {info.directory}"
    sections: list[Any] = [f"[b]{escape(c.name)}[/b]  [dim]{escape(where)}[/dim]"]
    if c.description:
        sections.append(escape(c.description))
    classes = info.class_summaries()
    validation = info.validation
    sections += ["", _classes_heading(info, classes, validation)]
    summarised = len(classes) > CLASS_ROWS and not (all_classes or verbose)
    if summarised:
        sections.append(_settings(_class_digest(classes, validation, c.decode.threshold)))
    else:
        sections.append(_class_table(classes, validation))
    sections += ["", "[b]Training[/b]", _settings(_training_rows(c.training, c.loss, verbose=verbose))]
    if verbose:
        for title, data in (("Loss settings", c.loss), ("Training settings", c.training.get("config"))):
            if isinstance(data, dict) and data:
                sections += ["", f"[b]{title}[/b]", _settings([(k, _value(v)) for k, v in data.items()])]
    d = c.decode
    thresholds = f"{d.threshold:g} by default" + (
        f"; tuned per class for {len(d.class_thresholds)} of {len(classes)}" if d.class_thresholds else "")
    sections += ["", "[b]Decoding[/b]", _settings([
        ("threshold", thresholds),
        ("min interval", f"{1000 * d.min_interval_s:g} ms"),
        ("smoothing", f"{1000 * d.smooth_s:g} ms" if d.smooth_s > 0 else "off"),
        ("time offset", f"{1000 * d.time_offset_s:+g} ms"),
        ("refine", d.refine),
    ])]
    f, m = c.features, c.model
    weights = info.weights_bytes
    size = f"{info.n_parameters:,} parameters" + (f", weights {_size(weights)}" if weights else "")
    rows = [
        ("features", f"log-mel + flux, {f.n_mels} bands {f.fmin:g}–{f.fmax:g} Hz, {f.sample_rate} Hz audio, "
                     f"{f.frame_rate_hz:g} frames/s (hop {f.hop_length}, n_fft {f.n_fft})"),
        ("network", f"conv {'-'.join(map(str, m.conv_channels))} ({m.kernel_time}×{m.kernel_freq}) → "
                    f"{'bi' if m.bidirectional else ''}{m.rnn.upper()} {m.rnn_hidden} → {_plural(m.n_classes, 'output')}"),
        ("size", size),
        ("files", ", ".join(f"{n} ({_size(b)})" for n, b in info.files.items())),
    ]
    speed = c.training.get("speed", c.scores.get("speed"))
    if speed is not None:
        rows.append(("speed", _value(speed)))
    sections += ["", "[b]Model[/b]", _settings(rows)]
    extra = _other_scores(c.scores)
    if extra:
        sections += ["", "[b]Other scores[/b]", _settings(extra)]
    stdout.print(Group(*sections))
    if summarised:
        stderr.print(f"{len(classes)} classes summarised; `--all-classes` shows one row per class", style="dim")


def _settings(rows: list[tuple[str, str]]):
    """A two-column, borderless ``name  value`` block, indented under a section heading."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in rows:
        grid.add_row(f"  {escape(name)}", escape(value))
    return grid


def _value(value: Any) -> str:
    """A setting for display: numbers with 4 significant digits, tables as ``key value, ...``."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "–"}[value]
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(v) for v in value) or "–"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items()) or "–"
    return str(value)


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "es" if noun.endswith(("s", "ch")) else "s")


def _classes_heading(info, classes, validation: dict[str, Any]) -> str:
    if info.config.drums:
        kind = _plural(len(classes), "drum class") + " (General MIDI, channel 10)"
    elif info.config.pitched:
        kind = _plural(len(classes), "pitch") + " (one class per key)"
    else:
        kind = _plural(len(classes), "onset class") + " (written as pitched notes)"
    heading = f"[b]Classes[/b]  {kind}"
    if validation:
        window, n_files = validation.get("window_s"), validation.get("n_files")
        heading += "; validation scores" + (f" at ±{1000 * window:g} ms" if isinstance(window, (int, float)) else "")
        heading += f" on {n_files} files" if isinstance(n_files, int) else ""
    else:
        heading += "; no validation scores stored"
    return heading


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _count(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _class_table(classes, validation: dict[str, Any]):
    """One row per class: MIDI note, threshold, F1/P/R and event counts (the columns that are
    stored for some class), with an overall row below."""
    from rich.table import Table

    overall = validation.get("overall") if len(classes) > 1 else None
    overall = overall if isinstance(overall, dict) else None
    trained = [k.train_events for k in classes]
    columns = {  # heading → (per-class cell, overall cell)
        "  class": ([f"  {escape(k.name)}" for k in classes], "  [b]overall[/b]"),
        "MIDI": ([_count(k.midi_note) for k in classes], ""),
        # dim: the model's default threshold rather than one tuned for the class
        "threshold": ([f"{k.threshold:g}" if k.tuned else f"[dim]{k.threshold:g}[/dim]" for k in classes], ""),
    }
    if any(k.f1 is not None for k in classes):
        for heading, key in (("F1", "f1"), ("P", "precision"), ("R", "recall")):
            cells = [_score(getattr(k, key)) if k.val_events != 0 else "–" for k in classes]  # 0 events: no score
            columns[heading] = (cells, _score(overall.get(key)) if overall else "")
    if any(k.val_events is not None for k in classes):
        columns["val events"] = ([_count(k.val_events) for k in classes], _count(overall.get("n_ref")) if overall else "")
    if any(n is not None for n in trained):
        columns["train events"] = ([_count(n) for n in trained], _count(sum(trained)) if None not in trained else "–")
    table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False, header_style="dim")
    for heading in columns:
        table.add_column(heading, justify="left" if heading == "  class" else "right", no_wrap=True)
    for i in range(len(classes)):
        table.add_row(*(cells[i] for cells, _ in columns.values()))
    if overall:
        table.add_row(*(total for _, total in columns.values()))
    return table


def _class_digest(classes, validation: dict[str, Any], default: float) -> list[tuple[str, str]]:
    """Rows that stand in for a long class table (a piano model's 88 keys)."""
    notes = [k.midi_note for k in classes if k.midi_note is not None]
    rows = [("classes", f"{classes[0].name}–{classes[-1].name}"
             + (f" (MIDI {min(notes)}–{max(notes)})" if notes else ""))]
    tuned = sorted(k.threshold for k in classes if k.tuned)
    rows.append(("threshold", f"{default:g} by default" + (
        f"; {len(tuned)} classes tuned, {tuned[0]:g}–{tuned[-1]:g}" if tuned else "")))
    overall = validation.get("overall")
    if isinstance(overall, dict):
        rows.append(("overall", "  ".join(f"{label} {_score(overall.get(key))}" for key, label in
                                          (("f1", "F1"), ("precision", "P"), ("recall", "R")))
                     + f"  ({_count(overall.get('n_ref'))} val events)"))
    scored = sorted((k for k in classes if k.f1 is not None and k.val_events), key=lambda k: k.f1)
    if scored:
        median = scored[len(scored) // 2].f1
        supported = [k for k in scored if k.val_events >= MIN_EVENTS]  # a handful of events gives noise
        rows.append(("per class F1", f"median {median:.3f} over {len(scored)} classes with validation events"
                     + (f" (weakest/strongest: ≥ {MIN_EVENTS} events)" if supported else "")))
        if supported:
            for label, ends in (("weakest", supported[:5]), ("strongest", supported[::-1][:5])):
                rows.append((label, ", ".join(f"{k.name} {k.f1:.3f}" for k in ends)))
    return rows


def _data_line(summary: Any) -> str | None:
    """``923 files, 7.51 h, 200,301 events; left out: tom 16,592, ...`` from a stored data summary."""
    if not isinstance(summary, dict):
        return None
    files, hours, events = summary.get("files"), summary.get("hours"), summary.get("events")
    counted = isinstance(events, dict) and all(isinstance(v, int) for v in events.values())
    line = ", ".join(part for part in (
        f"{files:,} files" if isinstance(files, int) else None,
        f"{hours:.2f} h" if isinstance(hours, (int, float)) else None,
        f"{sum(events.values()):,} events" if counted else None,
    ) if part)
    ignored = summary.get("ignored_labels")
    if isinstance(ignored, dict) and ignored:
        line += f"; left out: {_value(ignored)}"
    return line or None


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _loss_line(loss: dict[str, Any]) -> str:
    """The loss and the settings that matter for it: ``softloc: softness 30 → 10 ms, α 0.2 → 0.9``."""
    name = loss.get("name", loss.get("kind"))
    parts = []

    def ms(key: str) -> str | None:
        value = loss.get(key)
        return f"{1000 * value:g}" if isinstance(value, (int, float)) else None

    if name in ("softloc", "sll", None) and ms("softness_s"):
        end = ms("softness_end_s")
        parts.append(f"softness {ms('softness_s')}{f' → {end}' if end else ''} ms")
        if isinstance(loss.get("measure"), str):
            parts.append(f"{loss['measure']} measure")
    if name in ("softloc", None) and isinstance(loss.get("alpha_end"), (int, float)):
        start = loss.get("alpha_start")
        parts.append(f"α {_value(start)} → {_value(loss['alpha_end'])}" if isinstance(start, (int, float))
                     else f"α {_value(loss['alpha_end'])}")
    elif name == "bce":
        parts.append(f"positive weight {_value(loss.get('bce_pos_weight'))}, "
                     f"targets widened ±{_value(loss.get('bce_widen_frames'))} frames")
    elif name == "smoothed" and ms("smoothed_sigma_s"):
        parts.append(f"label σ {ms('smoothed_sigma_s')} ms")
    elif name == "bootstrap":
        parts.append(f"β {_value(loss.get('bootstrap_beta'))}")
    if not parts:  # a loss this command does not know: its scalar settings as they are
        parts = [f"{k} {_value(v)}" for k, v in loss.items() if k not in ("name", "kind") and not isinstance(v, dict)]
    return f"{name or 'loss'}" + (f": {', '.join(parts)}" if parts else "")


def _training_rows(training: dict[str, Any], loss: dict[str, Any], *, verbose: bool) -> list[tuple[str, str]]:
    if not training and not loss:
        return [("provenance", "not recorded in config.json")]
    rows = []
    for label, key in (("data", "train_data"), ("validation", "val_data")):
        line = _data_line(training.get(key))
        if line:
            rows.append((label, line))
    for source in training.get("sources") or []:  # training sets mixed by share ([[mix]])
        if isinstance(source, dict):
            share = source.get("share")
            name = str(source.get("path", "?")) + (f" ({share:.0%})" if isinstance(share, (int, float)) else "")
            rows.append(("source", f"{name}: {_data_line(source) or '–'}"))
    run = []
    if isinstance(training.get("steps"), int):
        run.append(f"{training['steps']:,} steps")
        if isinstance(training.get("best_step"), int) and training["best_step"] != training["steps"]:
            run[-1] += f" (best at {training['best_step']:,})"
    if isinstance(training.get("seconds"), (int, float)):
        took = _duration(training["seconds"])
        if isinstance(training.get("device"), str):
            world = training.get("world_size")
            took += f" on {training['device']}" + (f" × {world}" if isinstance(world, int) and world > 1 else "")
        run.append(took)
    elif isinstance(training.get("device"), str):
        run.append(f"on {training['device']}")
    for key in ("finished", "date", "trained_at", "created"):
        if training.get(key):
            run.append(f"finished {training[key]}")
            break
    if run:
        rows.append(("run", ", ".join(run)))
    settings = training.get("config")
    if isinstance(settings, dict) and not verbose:
        recipe = []
        if isinstance(settings.get("batch_size"), int):
            crop = settings.get("crop_s")
            recipe.append(f"batch {settings['batch_size']}" + (f" × {crop:g} s" if isinstance(crop, (int, float)) else ""))
        if isinstance(settings.get("lr"), (int, float)):
            schedule = settings.get("lr_schedule")
            recipe.append(f"lr {settings['lr']:g}" + (f" {schedule}" if isinstance(schedule, str) else ""))
        if settings.get("init"):
            recipe.append(f"from {settings['init']}")
        if settings.get("seed") is not None:
            recipe.append(f"seed {settings['seed']}")
        if recipe:
            rows.append(("recipe", ", ".join(recipe)))
    if loss:
        rows.append(("loss", _loss_line(loss)))
    leftover = {k: v for k, v in training.items() if k not in
                ("config", "train_data", "val_data", "sources", "steps", "best_step", "seconds", "device", "world_size",
                 "finished", "date", "trained_at", "created", "speed")}
    rows += [(k, _value(v)) for k, v in leftover.items()]
    return rows


def _other_scores(scores: dict[str, Any]) -> list[tuple[str, str]]:
    """Stored scores beside the validation table (e.g. ``peak_share``), one row each."""
    from ..modelcard import find_score_table

    table, rest = find_score_table(scores)
    window = table.get("window_s") if table is not None else None
    return [(k, _value(v)) for k, v in rest.items()
            if k != "speed" and not (k == "window_s" and v == window) and not (k == "n_files")]


@models_app.command("pull", epilog=PULL_EXAMPLES)
def pull_cmd(
    spec: Annotated[str, typer.Argument(help="hf://owner/name[@revision]", show_default=False)],
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Download a Hub model into the Hugging Face cache and check that it loads (then works offline)."""
    from ..catalog import pull_model
    from ..hub import HUB_PREFIX

    if not spec.startswith(HUB_PREFIX):
        raise UsageError(f"{spec!r}: `models pull` takes hf://owner/name[@revision]")
    directory, config = pull_model(spec)
    if as_json:
        _dump({"spec": spec, "directory": str(directory), "name": config.name, "classes": config.labels})
    elif not quiet:
        stdout.print(f"{spec} ready in {directory} (classes: {', '.join(config.labels)})", markup=False, soft_wrap=True)


@models_app.command("push", epilog=PUSH_EXAMPLES)
def push_cmd(
    directory: Annotated[Path, typer.Argument(help="Model directory (config.json + model.safetensors).",
                                              show_default=False)],
    repo_id: Annotated[str, typer.Argument(help="owner/name on the Hub.", show_default=False)],
    private: Annotated[bool, typer.Option("--private", help="Create the repo private.")] = False,
    revision: Annotated[
        Optional[str], typer.Option("--revision", "--branch", help="Branch to upload to (created if missing).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write README.md locally and list what would be uploaded.")
    ] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Publish a model directory: model card README.md, then create/update the Hub repo.

    Uses the token of `hf auth login` (or HF_TOKEN). Only config.json, model.safetensors and
    README.md are uploaded; a README.md you wrote yourself is kept.
    """
    from ..errors import ConfigError
    from ..publish import push_model, validate_repo_id

    if not directory.exists():
        raise UsageError(f"model directory {str(directory)!r} does not exist")
    try:
        validate_repo_id(repo_id)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    result = push_model(directory, repo_id, private=private, revision=revision, dry_run=dry_run)
    if as_json:
        _dump(result.to_dict())
        return
    if quiet:
        return
    card = "README.md written" if result.card == "written" else "README.md kept (not generated by softloc)"
    target = f"{result.repo_id}" + (f" (branch {result.revision})" if result.revision else "") + (
        ", private" if result.private else "")
    if dry_run:
        stderr.print(f"dry run: {card} in {directory}; nothing uploaded", markup=False, soft_wrap=True)
        stdout.print(f"would upload to {target}:", markup=False, soft_wrap=True)
    else:
        stdout.print(f"uploaded to {target}: {result.url}", markup=False, soft_wrap=True)
    for name, size in result.files.items():
        stdout.print(f"  {name} ({_size(size)})", markup=False)
