"""`softloc models list|info|pull|push`: the models on this machine and on the Hugging Face Hub."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from .app import JsonOpt, QuietOpt, UsageError, models_app, stderr, stdout

LIST_EXAMPLES = """
[b]Examples[/b]

  softloc models list
  softloc models list --json
  HF_HOME=/data/hf softloc models list
"""

INFO_EXAMPLES = """
[b]Examples[/b]

  softloc models info drums
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

    from ..classmap import describe_classes
    from ..catalog import list_models

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
    as_json: JsonOpt = False,
) -> None:
    """Classes with MIDI notes, features, architecture, decode thresholds, loss, provenance, scores."""
    from ..classmap import describe_classes
    from ..catalog import model_info

    info = model_info(model)
    document = info.to_dict()
    if as_json:
        _dump(document)
        return
    c = info.config
    def out(text: str) -> None:
        stdout.print(text, markup=False, soft_wrap=True)

    stdout.print(f"[b]{escape(c.name)}[/b]  ({escape(info.spec)} → {escape(str(info.directory))})", soft_wrap=True)
    if c.description:
        out(c.description)
    listed = (describe_classes(c.labels) if len(c.classes) > 12 else
              ', '.join(f'{k.name} ({k.midi_note})' if k.midi_note is not None else k.name for k in c.classes))
    out(f"classes      {listed}  [{'GM drums' if c.drums else 'pitched'}]")
    f = c.features
    out(f"features     log-mel + flux, {f.n_mels} bands {f.fmin:g}–{f.fmax:g} Hz, {f.sample_rate} Hz audio, "
        f"hop {f.hop_length} ({f.frame_rate_hz:g} frames/s), n_fft {f.n_fft}")
    m = c.model
    out(f"architecture conv {m.conv_channels} (kernel {m.kernel_time}×{m.kernel_freq}) → "
        f"{'bi' if m.bidirectional else ''}{m.rnn.upper()} {m.rnn_hidden} → {m.n_classes} outputs; "
        f"{info.n_parameters:,} parameters")
    d = c.decode
    per_class = ", ".join(f"{k} {v:g}" for k, v in d.class_thresholds.items())
    if len(d.class_thresholds) > 12:
        values = sorted(d.class_thresholds.values())
        per_class = f"per class {values[0]:g}–{values[-1]:g}"
    out(f"decode       threshold {d.threshold:g}{' (' + per_class + ')' if per_class else ''}, "
        f"min interval {1000 * d.min_interval_s:g} ms, smooth {1000 * d.smooth_s:g} ms, "
        f"offset {1000 * d.time_offset_s:+g} ms")
    for label, data in (("loss", c.loss), ("training", c.training), ("scores", c.scores)):
        out(f"{label:<12} {_flat(data) if data else '(not recorded)'}")
    out(f"files        {', '.join(f'{n} ({_size(s)})' for n, s in info.files.items())}")


def _flat(data: dict[str, Any], prefix: str = "") -> str:
    parts = []
    for key, value in data.items():
        if isinstance(value, dict):
            parts.append(_flat(value, f"{prefix}{key}."))
        elif isinstance(value, float):
            parts.append(f"{prefix}{key}={value:.4g}")
        else:
            parts.append(f"{prefix}{key}={value}")
    return ", ".join(p for p in parts if p)


@models_app.command("pull", epilog=PULL_EXAMPLES)
def pull_cmd(
    spec: Annotated[str, typer.Argument(help="hf://owner/name[@revision]", show_default=False)],
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Download a Hub model into the Hugging Face cache and check that it loads (then works offline)."""
    from ..hub import HUB_PREFIX
    from ..catalog import pull_model

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
    from ..publish import push_model, validate_repo_id
    from ..errors import ConfigError

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
