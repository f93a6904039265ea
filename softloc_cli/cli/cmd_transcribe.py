"""`softloc transcribe`: audio files → MIDI / CSV / JSON / Audacity labels."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markup import escape

from ..annotations import WRITERS
from .app import DeviceOpt, JsonOpt, ModelOpt, QuietOpt, UsageError, VerboseOpt, app, stderr, stdout, thresholds

from ..plan import Job, expand_inputs, plan_jobs, resolve_output

if TYPE_CHECKING:
    from ..batch import FileRecord

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


def _progress(enabled: bool):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f} s audio"),  # the length is unknown until the file is decoded
        TimeElapsedColumn(),
        console=stderr,
        disable=not enabled,
        transient=True,
    )


@app.command(epilog=EXAMPLES)
def transcribe(
    inputs: Annotated[list[str], typer.Argument(help="Audio files, folders or quoted glob patterns.", show_default=False)],
    output: Annotated[
        Optional[str],  # a str, not a Path: Path() drops the trailing / that marks "out.dir/" a folder
        typer.Option(
            "--output", "-o", metavar="PATH",
            help="Output file (one input) or folder (end it with / if its name has a dot); default: beside each input.",
        ),
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
    # PlanError is a UsageError: the app prints it and exits 2, before any model is loaded
    sources = expand_inputs(inputs, recursive=recursive)
    names, output_path, single_file = resolve_output(output, [f.value for f in formats], n_inputs=len(sources))
    if plot is not None:
        # plot pulls numpy (and matplotlib when drawing): kept off the --help path
        from ..plot import PlotError, check_plot_path, require_matplotlib

        if len(sources) != 1:
            raise UsageError(f"--plot draws one file but {len(sources)} inputs were given")
        require_matplotlib()
        try:
            check_plot_path(plot)
        except PlotError as exc:
            raise UsageError(f"--plot: {exc}") from None
    jobs = plan_jobs(
        sources,
        formats=names,
        extensions={n: WRITERS[n].extension for n in names},
        output=output_path,
        single_file_output=single_file,
    )

    if dry_run:
        for job in jobs:
            for fmt, path in job.outputs.items():
                state = "exists, skip" if path.exists() and not overwrite else "write"
                stdout.print(f"{job.source} -> {path} ({state})", markup=False)
        return

    from ..batch import transcribe_batch  # imports torch (2 s): only once there is work to do
    from ..inference import load_model

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

    def draw(job: Job, result) -> None:
        from ..plot import plot_transcription  # numpy, matplotlib

        plot_transcription(plot, result, labels=loaded.config.labels, decode=decode, title=job.source.name)

    show_progress = not (quiet or as_json) and stderr.is_terminal
    with _progress(show_progress) as progress:
        tasks: dict[Path, object] = {}
        position = {job.source: index for index, job in enumerate(jobs, 1)}

        def on_progress(job: Job, done_s: float) -> None:
            if job.source not in tasks:
                tasks[job.source] = progress.add_task(f"[{position[job.source]}/{len(jobs)}] {job.source.name}", total=None)
            progress.update(tasks[job.source], completed=done_s)

        def on_file(record: FileRecord) -> None:
            if record.source in tasks:
                progress.remove_task(tasks[record.source])
            if not quiet:
                for message in record.warnings:
                    stderr.print(f"[yellow]warning:[/yellow] {escape(message)}", markup=True, soft_wrap=True)
            if record.status == "failed" and not as_json:
                stderr.print(f"[red]error:[/red] {escape(record.error)}", markup=True, soft_wrap=True)
            elif verbose and not quiet and record.n_events is not None:
                stderr.print(
                    f"{record.source}: {record.n_events} events, {record.duration_s:.1f} s audio in {record.seconds:.2f} s",
                    markup=False,
                    soft_wrap=True,
                )

        records = transcribe_batch(
            loaded,
            jobs,
            overwrite=overwrite,
            decode=decode,
            metadata={"model": loaded.name},
            on_result=draw if plot is not None else None,
            on_file=on_file,
            on_progress=on_progress,
        )
    _report(records, as_json=as_json, quiet=quiet, model=loaded.name)
    if any(r.status == "failed" for r in records):
        raise typer.Exit(1)


def _report(records: list[FileRecord], *, as_json: bool, quiet: bool, model: str) -> None:
    counts = {s: sum(r.status == s for r in records) for s in ("written", "skipped", "failed")}
    if as_json:
        json.dump({"model": model, **counts, "files": [r.to_dict() for r in records]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if quiet:
        return
    for record in records:
        if record.status == "skipped":
            stderr.print(f"skipped {record.source}: {record.reason}", markup=False, soft_wrap=True)
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    stdout.print(f"{summary} ({len(records)} file{'s' if len(records) != 1 else ''})")
