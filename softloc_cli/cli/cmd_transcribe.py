"""`softloc transcribe`: audio files → MIDI / CSV / JSON / Audacity labels."""

from __future__ import annotations

import json
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from .app import DeviceOpt, JsonOpt, ModelOpt, QuietOpt, UsageError, VerboseOpt, app, stderr, stdout, thresholds

EXAMPLES = """
[b]Examples[/b]

  softloc transcribe song.wav -o hits.mid
  softloc transcribe songs/ -o out/ -f csv -f mid
  softloc transcribe "takes/*.flac" -m ./my-model/ --json > summary.json
  softloc transcribe stems/ -o out/ --dry-run
"""


class Format(str, Enum):
    mid = "mid"
    csv = "csv"
    json = "json"
    labels = "labels"
    all = "all"


def _resolve_formats(formats: list[Format], output: Optional[Path], single_input: bool) -> tuple[list[str], bool]:
    """Formats to write and whether ``-o`` names one file (one input, one format, a file suffix)."""
    from ..annotations import WRITERS, format_for_path

    names = [f.value for f in formats]
    if "all" in names:
        names = list(WRITERS)
    names = list(dict.fromkeys(names))
    names_file = output is not None and output.suffix != "" and not output.is_dir()
    if not names_file:
        return names or ["mid"], False
    if not single_input:
        raise UsageError(f"-o {output} names a file but several inputs were given; pass a folder to -o")
    try:
        implied = format_for_path(output)
    except Exception as exc:
        raise UsageError(f"-o {output}: {exc}") from None
    if names and names != [implied]:
        raise UsageError(f"-o {output} implies format {implied!r} but -f asks for {', '.join(names)}")
    return [implied], True


def _progress(enabled: bool):
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s audio"),
        TimeRemainingColumn(),
        console=stderr,
        disable=not enabled,
        transient=True,
    )


@app.command(epilog=EXAMPLES)
def transcribe(
    inputs: Annotated[list[str], typer.Argument(help="Audio files, folders or quoted glob patterns.", show_default=False)],
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="Output file (one input) or folder; default: beside each input."),
    ] = None,
    formats: Annotated[
        list[Format], typer.Option("--format", "-f", help="mid, csv, json, labels or all; repeatable. Default mid.")
    ] = [],
    model: ModelOpt = None,
    threshold: Annotated[
        Optional[str], typer.Option("--threshold", help="Peak threshold 0–1 for every class, or per class: hihat=0.3,snare=0.2")
    ] = None,
    device: DeviceOpt = "auto",
    recursive: Annotated[bool, typer.Option("--recursive/--no-recursive", help="Search folders recursively.")] = True,
    overwrite: Annotated[
        bool, typer.Option("--overwrite/--no-overwrite", help="Replace existing outputs (default: skip them).")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the planned outputs and exit.")] = False,
    plot: Annotated[
        Optional[Path], typer.Option("--plot", help="Draw activations and events of the one input (.png/.svg/.pdf).")
    ] = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Transcribe audio into drum hits or note onsets."""

    from ..annotations import WRITERS, write_events
    from ..batch import PlanError, expand_inputs, plan_jobs
    from ..errors import SoftlocError

    try:
        sources = expand_inputs(inputs, recursive=recursive)
    except PlanError as exc:
        raise UsageError(str(exc)) from None
    names, single_file = _resolve_formats(formats, output, single_input=len(sources) == 1)
    if plot is not None:
        from ..plot import PlotError, check_plot_path, plot_transcription, require_matplotlib

        if len(sources) != 1:
            raise UsageError(f"--plot draws one file but {len(sources)} inputs were given")
        require_matplotlib()
        try:
            check_plot_path(plot)
        except PlotError as exc:
            raise UsageError(f"--plot: {exc}") from None
    try:
        jobs = plan_jobs(
            sources,
            formats=names,
            extensions={n: WRITERS[n].extension for n in names},
            output=output,
            single_file_output=single_file,
        )
    except PlanError as exc:
        raise UsageError(str(exc)) from None

    if dry_run:
        for job in jobs:
            for fmt, path in job.outputs.items():
                state = "exists, skip" if path.exists() and not overwrite else "write"
                stdout.print(f"{job.source} -> {path} ({state})", markup=False)
        return

    from ..inference import load_model, transcribe_file

    loaded = load_model(model, device=device.value if hasattr(device, "value") else device)
    decode = loaded.config.decode
    if threshold is not None:
        decode = thresholds(decode, threshold, loaded.config.labels)
    if verbose and not quiet:
        stderr.print(
            f"model {loaded.name} ({loaded.directory}) on {loaded.device}; classes {', '.join(loaded.config.labels)}",
            markup=False,
            soft_wrap=True,
        )
    meta = {"model": loaded.name, "drums": loaded.config.drums, "pitched": loaded.config.pitched}

    records, failed = [], 0
    show_progress = not (quiet or as_json) and stderr.is_terminal
    with _progress(show_progress) as progress:
        for index, job in enumerate(jobs, 1):
            pending = job.pending(overwrite)
            record = {"input": str(job.source), "outputs": [str(p) for p in job.outputs.values()]}
            if not pending and plot is None:
                records.append({**record, "status": "skipped", "reason": "outputs exist (use --overwrite)"})
                continue
            task = progress.add_task(f"[{index}/{len(jobs)}] {job.source.name}", total=None)
            started = time.perf_counter()
            try:
                result = transcribe_file(
                    loaded,
                    job.source,
                    decode=decode,
                    on_progress=lambda done: progress.update(task, completed=done),
                )
                for fmt, path in pending.items():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    write_events(result.events, path, fmt, meta={**meta, "source": str(job.source)})
                if plot is not None:
                    plot_transcription(plot, result, labels=loaded.config.labels, decode=decode, title=job.source.name)
            except (SoftlocError, OSError) as exc:  # OSError: an output that cannot be written
                failed += 1
                message = " ".join(str(exc).split()) or type(exc).__name__
                records.append({**record, "status": "failed", "error": message})
                if not as_json:
                    stderr.print(f"[red]error:[/red] {escape(message)}", markup=True, soft_wrap=True)
                continue
            finally:
                progress.remove_task(task)
            elapsed = time.perf_counter() - started
            status = {"status": "written"} if pending else {"status": "skipped", "reason": "outputs exist (use --overwrite)"}
            records.append({**record, **status, "events": len(result.events), "duration_s": round(result.duration_s, 3)})
            if verbose and not quiet:
                stderr.print(
                    f"{job.source}: {len(result.events)} events, {result.duration_s:.1f} s audio in {elapsed:.2f} s",
                    markup=False,
                    soft_wrap=True,
                )
    _report(records, as_json=as_json, quiet=quiet, model=loaded.name)
    if failed:
        raise typer.Exit(1)


def _report(records: list[dict], *, as_json: bool, quiet: bool, model: str) -> None:
    counts = {s: sum(r["status"] == s for r in records) for s in ("written", "skipped", "failed")}
    if as_json:
        json.dump({"model": model, **counts, "files": records}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if quiet:
        return
    for record in records:
        if record["status"] == "skipped":
            stderr.print(f"skipped {record['input']}: {record['reason']}", markup=False, soft_wrap=True)
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    stdout.print(f"{summary} ({len(records)} file{'s' if len(records) != 1 else ''})")
