"""`softloc evaluate`: score estimates against references, or a model on an annotated folder.

Exit codes: 0 when at least one file was scored and none failed (unmatched files are listed on
stderr and do not fail the run); 1 when nothing could be paired or a file could not be read or
transcribed; 2 for usage errors.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..classmap import parse_class_map
from ..errors import ConfigError
from .app import DeviceOpt, JsonOpt, ModelOpt, QuietOpt, UsageError, VerboseOpt, app, duration, stderr, stdout, thresholds

EXAMPLES = """
[b]Examples[/b]

  softloc evaluate refs/ estimates/
  softloc evaluate take1.mid take1.csv --class-map "kick=35,36 snare=38,40" --window 30ms
  softloc evaluate --model hf://me/my-kit my-data/ --json > scores.json
  softloc evaluate --model ./my-model/ my-data/ --plot take1.png --plot-file take1
"""

MAX_EMPTY_ROWS = 12  # with more classes than this, classes without events get no table row


def _parse_classes(text: Optional[str]) -> Optional[list[str]]:
    if text is None:
        return None
    names = [n.strip() for n in text.replace(";", ",").split(",") if n.strip()]
    if not names:
        raise UsageError("--classes: give class names separated by commas, e.g. kick,snare")
    return list(dict.fromkeys(names))


def _check_options(paths, model, *, threshold, plot, plot_file, class_map, classes):
    """Flag combinations and values, checked before any file is read or model loaded."""
    if model is not None and len(paths) != 1:
        raise UsageError(f"--model takes one DATA folder (audio with sidecar annotations), got {len(paths)} paths")
    if model is None and len(paths) != 2:
        raise UsageError(
            f"give REF and EST (files or folders), or --model MODEL DATA; got {len(paths)} path(s)")
    if model is None:
        for flag, value in (("--threshold", threshold), ("--plot", plot)):
            if value is not None:
                raise UsageError(f"{flag} needs --model (it applies to a model's output)")
    if plot_file is not None and plot is None:
        raise UsageError("--plot-file needs --plot FILE.png")
    for path in paths:
        if not Path(path).exists():
            raise UsageError(f"input {str(path)!r} does not exist")
    cm = None
    if class_map is not None:
        try:
            cm = parse_class_map(class_map)
        except ConfigError as exc:
            raise UsageError(f"--class-map: {exc}") from None
        if classes is not None:
            unknown = [c for c in classes if cm.find(c) is None]
            if unknown:
                raise UsageError(f"--classes {', '.join(unknown)} not in --class-map; its classes are {', '.join(cm)}")
    if plot is not None:
        from ..plot import PlotError, check_plot_path, require_matplotlib

        require_matplotlib()
        try:
            check_plot_path(plot)
        except PlotError as exc:
            raise UsageError(f"--plot: {exc}") from None
    return cm


@app.command(epilog=EXAMPLES)
def evaluate(
    paths: Annotated[
        list[str],
        typer.Argument(help="REF EST (annotation files or folders, matched by stem), or DATA with --model.",
                       show_default=False),
    ],
    model: ModelOpt = None,
    window: Annotated[str, typer.Option("--window", "-w", help="Matching tolerance with unit (50ms, 0.05s).")] = "50ms",
    class_map: Annotated[
        Optional[str],
        typer.Option("--class-map", help='Map labels/MIDI notes of both sides to classes: "kick=35,36 snare=38,40".'),
    ] = None,
    classes: Annotated[Optional[str], typer.Option("--classes", help="Score only these classes: kick,snare.")] = None,
    merge_classes: Annotated[
        bool, typer.Option("--merge-classes", help="Ignore classes: score every event as one onset "
                           "(hits closer than 30 ms are one onset).")
    ] = False,
    notes: Annotated[
        Optional[bool],
        typer.Option("--notes/--no-notes", help="Also score note by note (mir_eval.transcription, pitch-aware "
                     "onsets, offsets ignored). Default: on for multi-pitch models such as piano, and "
                     "when REF and EST share no class name but both carry MIDI pitches."),
    ] = None,
    threshold: Annotated[
        Optional[str], typer.Option("--threshold", help="With --model: peak threshold 0–1, or per class: hihat=0.3")
    ] = None,
    csv_path: Annotated[Optional[Path], typer.Option("--csv", help="Also write the table to this CSV file.")] = None,
    plot: Annotated[
        Optional[Path], typer.Option("--plot", help="With --model: draw activations and events of one file (.png/.svg/.pdf).")
    ] = None,
    plot_file: Annotated[
        Optional[str], typer.Option("--plot-file", help="Stem of the file to plot (default: the first).")
    ] = None,
    recursive: Annotated[bool, typer.Option("--recursive/--no-recursive", help="Search folders recursively.")] = True,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Score estimated events against references (mir_eval onset F-measure, per class and overall).

    Prints P, R, F1, TP, FP, FN and the mean/median timing deviation of matched events per class,
    pooled over files, plus the mean of per-file scores; with --notes (default for piano-type
    models) also the note-level row of mir_eval.transcription. Exits 0 when something was scored, 1
    when nothing could be paired or a file failed.
    """

    # numpy, mir_eval and (for --model) torch load only when a command runs, not for --help
    from ..evaluation import evaluate_model, evaluate_pairs, find_annotated_audio, pair_annotations, write_scores_csv

    window_s = duration(window, "--window")
    if not window_s > 0:
        raise UsageError(f"--window {window} must be greater than zero")
    class_list = _parse_classes(classes)
    cm = _check_options(paths, model, threshold=threshold, plot=plot, plot_file=plot_file,
                        class_map=class_map, classes=class_list)
    if csv_path is not None and not csv_path.parent.is_dir():
        raise UsageError(f"--csv {csv_path}: folder {str(csv_path.parent)!r} does not exist")
    talk = not (quiet or as_json)
    options = dict(window_s=window_s, class_map=cm, classes=class_list, merge_classes=merge_classes)

    if model is None:
        pairing = pair_annotations(paths[0], paths[1], recursive=recursive)
        _report_unmatched(pairing, quiet=quiet, verbose=verbose, model=False)
        if not pairing.pairs:
            raise typer.Exit(_nothing_paired(paths, as_json))
        evaluation = evaluate_pairs(pairing, notes=notes, **options)
    else:
        from ..inference import load_model

        pairing = find_annotated_audio(paths[0], recursive=recursive)
        stems = [p.stem for p in pairing.pairs]
        if plot_file is not None and plot_file not in stems:
            shown = ", ".join(stems[:8]) + (" ..." if len(stems) > 8 else "")
            raise UsageError(f"--plot-file {plot_file!r} is not an annotated audio file in {paths[0]}; stems: {shown}")
        _report_unmatched(pairing, quiet=quiet, verbose=verbose, model=True)
        if not pairing.pairs:
            raise typer.Exit(_nothing_paired(paths, as_json))
        loaded = load_model(model, device=device.value if hasattr(device, "value") else device)
        decode = loaded.config.decode
        if threshold is not None:
            decode = thresholds(decode, threshold, loaded.config.labels)
        if verbose and not quiet:
            stderr.print(f"model {loaded.name} ({loaded.directory}) on {loaded.device}; "
                         f"classes {', '.join(loaded.config.labels)}", markup=False, soft_wrap=True)
        total = len(pairing.pairs)
        counter = iter(range(1, total + 1))
        on_file = (lambda pair: stderr.print(f"[{next(counter)}/{total}] {pair.estimate}", markup=False)) if talk and verbose else None
        evaluation = evaluate_model(
            loaded, pairing, decode=decode, plot_stem=(plot_file or stems[0]) if plot else None,
            on_file=on_file, notes=notes, **options)
        if plot is not None and evaluation.plot is not None:
            from ..plot import plot_transcription

            shown = evaluation.plot
            plot_transcription(plot, shown.transcription, labels=loaded.config.labels, decode=decode,
                               reference=shown.reference, title=f"{shown.stem} — {loaded.name}")
            if talk:
                stderr.print(f"plot written to {plot}", markup=False, soft_wrap=True)
        elif plot is not None and talk:
            stderr.print(f"no plot: {plot_file or stems[0]} could not be transcribed", markup=False, soft_wrap=True)

    if not quiet:
        for warning in evaluation.warnings:
            stderr.print(f"[yellow]warning:[/yellow] {escape(warning)}", markup=True, soft_wrap=True)
    for result in evaluation.failed:
        if not as_json:
            stderr.print(f"[red]error:[/red] {escape(result.stem)}: {escape(result.error)}", markup=True, soft_wrap=True)
    if verbose and not quiet:
        for result in evaluation.scored:
            if result.dropped:
                shown = ", ".join(f"{k} ({n})" for k, n in list(result.dropped.items())[:6])
                stderr.print(f"{result.stem}: left out {shown}", markup=False, soft_wrap=True)
    if csv_path is not None and evaluation.scores is not None:
        write_scores_csv(evaluation.scores, csv_path)
    if as_json:
        json.dump(evaluation.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif evaluation.scores is not None and not quiet:
        stdout.print(scores_table(evaluation))
    if evaluation.failed or evaluation.scores is None:
        raise typer.Exit(1)


def _nothing_paired(paths: list[str], as_json: bool) -> int:
    message = "nothing to score: no file was paired with a counterpart of the same stem"
    if as_json:
        json.dump({"scored": 0, "failed": 0, "error": message}, sys.stdout)
        sys.stdout.write("\n")
    stderr.print(f"[red]error:[/red] {message} ({escape(' vs '.join(paths))})", markup=True, soft_wrap=True)
    return 1


def _report_unmatched(pairing, *, quiet: bool, verbose: bool, model: bool) -> None:
    """Unmatched files go to stderr (they are not an error), so the user sees what was skipped."""
    if quiet:
        return
    groups = (
        ("audio without annotation" if model else "reference without estimate",
         pairing.unmatched_estimate if model else pairing.unmatched_reference),
        ("annotation without audio" if model else "estimate without reference",
         pairing.unmatched_reference if model else pairing.unmatched_estimate),
    )
    for what, files in groups:
        if files:
            stderr.print(f"unmatched ({what}, {len(files)}): " + ", ".join(str(p) for p in files[:20])
                         + (f" and {len(files) - 20} more" if len(files) > 20 else ""), markup=False, soft_wrap=True)
    if verbose and pairing.ignored:
        stderr.print("ignored (another file of the same stem is used): " + ", ".join(map(str, pairing.ignored)),
                     markup=False, soft_wrap=True)


def _ms(value: Optional[float]) -> str:
    return "–" if value is None else f"{1000 * value:+.1f}"


def scores_table(evaluation):
    """A rich table: one row per class, overall pooled, and the mean of per-file scores."""
    from rich.table import Table

    scores = evaluation.scores.pooled
    n = evaluation.scores.n_files
    title = f"±{1000 * scores.window_s:g} ms window, {n} file{'s' if n != 1 else ''}; deviations est − ref in ms"
    if evaluation.model:
        title = f"{evaluation.model}: {title}"
    table = Table(title=title, title_justify="left")
    table.add_column("class", no_wrap=True)
    for name in ("P", "R", "F1", "TP", "FP", "FN", "mean dev", "median dev"):
        table.add_column(name, justify="right", min_width=5)  # numbers never shrink to "0.…"

    def row(name, s, style=None):
        table.add_row(name, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", str(s.tp), str(s.fp),
                      str(s.fn), _ms(s.mean_dev_s), _ms(s.median_dev_s), style=style)

    many = len(scores.classes) > MAX_EMPTY_ROWS
    for name, s in scores.classes.items():
        if not (many and s.n_ref == 0 and s.n_est == 0):  # 88 piano keys: only the keys played
            row(name, s)
    table.add_section()
    row("overall (pooled)", scores.overall, style="bold")
    mean = evaluation.scores.mean_per_file["overall"]
    table.add_row("mean per file", f"{mean['precision']:.3f}", f"{mean['recall']:.3f}", f"{mean['f1']:.3f}",
                  "", "", "", "", "")
    if evaluation.notes is not None:
        n = evaluation.notes
        table.add_row("notes (pitch + onset)", f"{n.precision:.3f}", f"{n.recall:.3f}", f"{n.f1:.3f}",
                      str(n.tp), str(n.n_est - n.tp), str(n.n_ref - n.tp), "", "", style="bold")
    return table
