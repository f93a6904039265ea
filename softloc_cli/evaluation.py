"""Evaluation runs: pair reference and estimate files, or run a model over an annotated folder,
and score everything with :mod:`softloc_cli.metrics`.

Conventions
-----------
- Files pair by *stem*: the path below the folder without its extension (``a/song.mid`` pairs
  with ``a/song.csv``); a file whose stem has no counterpart at that path pairs by bare name
  (``song``) when that name is unique on both sides. Two given files always pair. Files left
  over are reported as unmatched, never an error.
- When one folder has several annotation files of one stem (``song.csv`` and ``song.mid``),
  the first extension in alphabetical order is used, as :func:`softloc_cli.data.find_entries`
  does for training; the others are reported in ``ignored``. Hidden files and folders are
  skipped (:func:`softloc_cli.fileio.find_files`).
- An annotated data folder holds audio files, each with a *sidecar* annotation of the same stem
  beside it; a CSV manifest (``audio,annotation``) works too.
- Labels: with a class map, both sides are mapped through it and events outside it are dropped
  (and counted per file). ``classes`` restricts scoring to those classes (rows with zero counts
  are still reported); ``merge_classes`` scores all events as one class ``onset``, hits closer
  than 30 ms being one onset (:func:`softloc_cli.events.merge_labels`, the rule training uses).
- When the two sides share no class name (``onset`` against ``C4``, ``D4``, ...), every score
  would be 0: if every event carries a MIDI pitch and one side is labelled by pitch names, both
  sides are compared by pitch (as for a multi-pitch model) and scored note by note too; if not,
  :attr:`Evaluation.warnings` says so and names the fix.
- One unreadable file does not stop an evaluation: it is recorded with its error, and the
  others are scored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .annotations import read_annotation_file
from .classmap import ClassMap, as_class_map, pitched_class_map, resolve_label
from .data import find_entries, scan_folder
from .errors import ConfigError, DatasetError, SoftlocError
from .events import ONSET_CLASS, Event, merge_labels, select_labels
from .fileio import ANNOTATION_EXTENSIONS, AUDIO_EXTENSIONS, atomic_write, index_annotations
from .inference import Transcription, transcribe_file
from .metrics import PooledScores, Scores, order_classes, pool_scores, score_events, scores_rows
from .note_scores import NoteScores, pool_notes, score_notes
from .pitches import parse_pitch, pitch_label

__all__ = [
    "DataItem",
    "Evaluation",
    "FileResult",
    "Pair",
    "Pairing",
    "PlotData",
    "evaluate_model",
    "evaluate_pairs",
    "find_annotated_audio",
    "map_events",
    "pair_annotations",
    "write_scores_csv",
]

CSV_FIELDS = ["class", "n_ref", "n_est", "tp", "fp", "fn", "precision", "recall", "f1",
              "mean_dev_s", "median_dev_s", "std_dev_s",
              "file_mean_precision", "file_mean_recall", "file_mean_f1", "n_files"]


@dataclass(frozen=True)
class Pair:
    """A reference annotation and what it is compared with (an annotation or, for a model, audio)."""

    stem: str
    reference: Path
    estimate: Path


@dataclass
class Pairing:
    """Result of matching two sides by stem."""

    pairs: list[Pair]
    unmatched_reference: list[Path] = field(default_factory=list)
    unmatched_estimate: list[Path] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)  # same-stem duplicates not used


@dataclass(frozen=True)
class DataItem:
    """An audio file and its sidecar annotation."""

    stem: str
    audio: Path
    annotation: Path


@dataclass
class FileResult:
    """Scores of one file, or why it could not be scored."""

    stem: str
    reference: Path
    estimate: Path
    scores: Scores | None = None
    error: str | None = None
    dropped: dict[str, int] = field(default_factory=dict)  # label → events left out (class map / classes)
    notes: NoteScores | None = None  # note-level (pitch-aware) scores, when asked for

    def to_dict(self) -> dict[str, Any]:
        return {
            "stem": self.stem,
            "reference": str(self.reference),
            "estimate": str(self.estimate),
            "status": "failed" if self.error else "scored",
            "error": self.error,
            "dropped": self.dropped,
            "scores": self.scores.to_dict() if self.scores is not None else None,
            "notes": self.notes.to_dict() if self.notes is not None else None,
        }


@dataclass(frozen=True)
class PlotData:
    """What ``softloc evaluate --plot`` draws for one file of a model evaluation."""

    stem: str
    transcription: Transcription  # the model's activations and events
    reference: list[Event]  # the annotation's events, as read (before class selection)


@dataclass
class Evaluation:
    """Everything an evaluation produced: per-file results, pooled scores, what was unmatched.

    Attributes
    ----------
    window_s : float
        Matching tolerance used, seconds.
    files : list of FileResult
        One per pair, scored or failed.
    scores : PooledScores or None
        Scores pooled over the scored files (``scores.pooled`` the summed counts,
        ``scores.mean_per_file`` the per-file means); None when no file could be scored.
    unmatched_reference, unmatched_estimate : list of Path
    model : str or None
        Name of the model evaluated, if any.
    plot : PlotData or None
        For model evaluations, the file asked for with ``plot_stem``.
    notes : NoteScores or None
        Pooled note-level scores (``mir_eval.transcription``, onsets only) when asked for.
    warnings : list of str
        Things the user should know to read the scores (e.g. two sides sharing no class name).
    """

    window_s: float
    files: list[FileResult]
    scores: PooledScores | None
    unmatched_reference: list[Path] = field(default_factory=list)
    unmatched_estimate: list[Path] = field(default_factory=list)
    model: str | None = None
    plot: PlotData | None = None
    notes: NoteScores | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def scored(self) -> list[FileResult]:
        return [f for f in self.files if f.scores is not None]

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.error is not None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the pooled :meth:`PooledScores.to_dict` keys at top level, plus files."""
        pooled = self.scores.to_dict() if self.scores is not None else {
            "window_s": self.window_s, "classes": {}, "overall": None, "n_files": 0, "mean_per_file": {}}
        return {
            "model": self.model,
            **pooled,
            "scored": len(self.scored),
            "failed": len(self.failed),
            "warnings": list(self.warnings),
            "unmatched": {
                "reference": [str(p) for p in self.unmatched_reference],
                "estimate": [str(p) for p in self.unmatched_estimate],
            },
            "notes": self.notes.to_dict() if self.notes is not None else None,
            "files": [f.to_dict() for f in self.files],
        }


# ---------------------------------------------------------------------------------------------
# pairing


def _match(ref: dict[str, Path], est: dict[str, Path]) -> tuple[list[Pair], list[Path], list[Path]]:
    pairs = [Pair(key, ref[key], est[key]) for key in ref if key in est]
    left_ref = {k: p for k, p in ref.items() if k not in est}
    left_est = {k: p for k, p in est.items() if k not in ref}
    by_name_ref: dict[str, list[str]] = {}
    by_name_est: dict[str, list[str]] = {}
    for key in left_ref:
        by_name_ref.setdefault(key.rsplit("/", 1)[-1], []).append(key)
    for key in left_est:
        by_name_est.setdefault(key.rsplit("/", 1)[-1], []).append(key)
    for name, keys in by_name_ref.items():
        others = by_name_est.get(name, [])
        if len(keys) == 1 and len(others) == 1:
            pairs.append(Pair(keys[0], left_ref.pop(keys[0]), left_est.pop(others[0])))
    pairs.sort(key=lambda p: p.stem)
    return pairs, sorted(left_ref.values()), sorted(left_est.values())


def pair_annotations(reference: str | Path, estimate: str | Path, *, recursive: bool = True) -> Pairing:
    """Pair reference and estimate annotation files; each side is a file or a folder.

    Parameters
    ----------
    reference, estimate : str or Path
        Annotation files (any format :func:`softloc_cli.annotations.read_annotations` reads) or
        folders of them.
    recursive : bool
        Search folders recursively.

    Returns
    -------
    pairing : Pairing
        Pairs sorted by stem, plus the files of either side left without a counterpart. A file
        given against a folder that lacks its stem is unmatched; the folder's other files are
        not listed.

    Raises
    ------
    DatasetError
        A path that does not exist.

    Examples
    --------
    >>> pairing = pair_annotations("refs/", "estimates/")
    >>> [p.stem for p in pairing.pairs], pairing.unmatched_reference
    (['take1', 'take2'], [PosixPath('refs/take3.csv')])
    """
    reference, estimate = Path(reference), Path(estimate)
    for path, side in ((reference, "reference"), (estimate, "estimate")):
        if not path.exists():
            raise DatasetError(f"{side} {str(path)!r} does not exist")
    if reference.is_file() and estimate.is_file():
        return Pairing([Pair(reference.stem, reference, estimate)])
    if reference.is_file():
        index, ignored = index_annotations(estimate, recursive=recursive)
        pairs, unmatched, _ = _match({reference.stem: reference}, index)
        return Pairing(pairs, unmatched, [], [p for p in ignored if p.stem == reference.stem])
    if estimate.is_file():
        index, ignored = index_annotations(reference, recursive=recursive)
        pairs, _, unmatched = _match(index, {estimate.stem: estimate})
        return Pairing(pairs, [], unmatched, [p for p in ignored if p.stem == estimate.stem])
    ref_index, ref_ignored = index_annotations(reference, recursive=recursive)
    est_index, est_ignored = index_annotations(estimate, recursive=recursive)
    if not ref_index:
        raise DatasetError(
            f"{reference}: no annotation files found (looked for {', '.join(sorted(ANNOTATION_EXTENSIONS))})")
    pairs, left_ref, left_est = _match(ref_index, est_index)
    return Pairing(pairs, left_ref, left_est, ref_ignored + est_ignored)


def find_annotated_audio(data: str | Path, *, recursive: bool = True) -> Pairing:
    """Audio files of a folder (or one audio file, or a CSV manifest) with their sidecar annotations.

    Returns
    -------
    pairing : Pairing
        ``pairs`` with ``reference`` = annotation and ``estimate`` = audio; audio without an
        annotation is in ``unmatched_estimate``, annotations without audio in
        ``unmatched_reference`` (a ``manifest.csv`` without audio of its name is skipped).

    Raises
    ------
    DatasetError
        A missing path, a folder without audio, or a malformed manifest.

    Examples
    --------
    >>> [p.stem for p in find_annotated_audio("my-data/").pairs]
    ['take1', 'take2']
    """
    data = Path(data)
    if not data.exists():
        raise DatasetError(f"data {str(data)!r} does not exist")
    if data.is_file() and data.suffix.lower() in AUDIO_EXTENSIONS:
        sidecars = [p for p in (data.with_suffix(ext) for ext in sorted(ANNOTATION_EXTENSIONS)) if p.is_file()]
        if not sidecars:
            return Pairing([], [], [data])
        return Pairing([Pair(data.stem, sidecars[0], data)], ignored=sidecars[1:])
    if data.is_file():  # a manifest: audio,annotation columns
        return Pairing([Pair(e.audio.stem, e.annotation, e.audio) for e in find_entries(data)])
    scan = scan_folder(data, recursive=recursive)
    if not scan.entries and not scan.orphans:
        raise DatasetError(
            f"{data}: no audio files found (looked for {', '.join(sorted(AUDIO_EXTENSIONS))}); "
            "to score annotation files against each other use `softloc evaluate REF EST`")
    pairs = [Pair(e.audio.relative_to(data).with_suffix("").as_posix(), e.annotation, e.audio) for e in scan.entries]
    return Pairing(pairs, scan.stray, scan.orphans, scan.ignored)


# ---------------------------------------------------------------------------------------------
# labels


def map_events(events: Iterable[Event], class_map: ClassMap | str | dict | None) -> tuple[list[Event], Counter]:
    """Rename events to the classes of ``class_map`` (by label, then by MIDI note).

    Returns the mapped events and the count of events dropped per label (not in the map).
    Without a class map the events are returned unchanged.

    Examples
    --------
    >>> map_events([Event(1.0, "bd", 36)], "kick=35,36")[0]
    [Event(time_s=1.0, label='kick', midi_note=36, velocity=100)]
    """
    cm = as_class_map(class_map)
    events = list(events)
    if cm is None:
        return events, Counter()
    kept, dropped = [], Counter()
    for e in events:
        found = resolve_label(e.label, cm)
        if found is None and e.midi_note is not None:
            found = resolve_label(str(e.midi_note), cm)
        if found is None:
            dropped[e.label] += 1
            continue
        kept.append(Event(e.time_s, found[0], e.midi_note, e.velocity))
    return kept, dropped


def _select(events: list[Event], classes: Sequence[str] | None, merge: bool,
            dropped: Counter) -> list[Event]:
    """Events of ``classes`` (all when None; the others counted in ``dropped``), merged into
    class-agnostic onsets with ``merge``."""
    if classes is not None:
        events, left_out = select_labels(events, classes)
        dropped.update(left_out)
    return merge_labels(events) if merge else events


def _describe(labels: Iterable[str], *, ordered: bool = False, limit: int = 6) -> str:
    """``{kick, snare, …}``: the first ``limit`` names, in report order unless ``ordered``."""
    names = list(dict.fromkeys(labels)) if ordered else order_classes(labels)
    return "{" + ", ".join(names[:limit]) + (", …" if len(names) > limit else "") + "}"


def _by_pitch(events: list[Event]) -> list[Event]:
    return [Event(e.time_s, pitch_label(e.midi_note), e.midi_note, e.velocity) for e in events]


def _compare_labels(
    loaded: list[tuple[FileResult, list[Event], list[Event]]], *, allow_pitch: bool,
) -> tuple[list[tuple[FileResult, list[Event], list[Event]]], bool, str | None]:
    """Check that reference and estimate share a class name (over all files).

    Returns the (possibly relabelled) files, whether they are now compared by pitch, and a
    warning. Sides that share no name are relabelled by pitch name (``C4``) when ``allow_pitch``,
    every event carries a MIDI pitch and one side is labelled by pitch names; otherwise the
    warning says why every score is 0 and what to do.
    """
    ref_labels = {e.label for _, ref, _ in loaded for e in ref}
    est_labels = {e.label for _, _, est in loaded for e in est}
    if not ref_labels or not est_labels or ref_labels & est_labels:
        return loaded, False, None
    what = f"reference classes {_describe(ref_labels)} and estimate classes {_describe(est_labels)} share no name"
    pitched = all(e.midi_note is not None for _, ref, est in loaded for e in (*ref, *est))
    pitch_named = any(all(parse_pitch(name) is not None for name in side) for side in (ref_labels, est_labels))
    if allow_pitch and pitched and pitch_named:
        relabelled = [(result, _by_pitch(ref), _by_pitch(est)) for result, ref, est in loaded]
        return relabelled, True, (f"{what}; both sides carry MIDI pitches, so events are compared by pitch "
                                  "(C4 = 60) and note by note; use --merge-classes to ignore pitch")
    hint = "use --merge-classes to score onsets whatever their class, or --class-map to give both sides the same names"
    if pitched:
        hint += ", or --notes to score them note by note (both sides carry MIDI pitches)"
    return loaded, False, f"{what}, so every class scores 0; {hint}"


def _score_all(
    loaded: list[tuple[FileResult, list[Event], list[Event]]],
    *,
    window_s: float,
    classes: Sequence[str] | None,
    merge_classes: bool,
    notes: bool = False,
) -> tuple[PooledScores | None, NoteScores | None]:
    """Score every loaded file with one class list, so that rows and means line up, and with
    ``notes`` also note by note (a file whose events lack pitches fails with that message)."""
    if notes:
        kept = []
        for result, ref, est in loaded:
            try:
                result.notes = score_notes(ref, est, onset_tolerance=window_s)
            except SoftlocError as exc:
                result.error = str(exc)
                continue
            kept.append((result, ref, est))
        loaded = kept
    if merge_classes:
        names = [ONSET_CLASS]
    elif classes is not None:
        names = list(classes)
    else:
        names = order_classes(e.label for _, ref, est in loaded for e in (*ref, *est))
    for result, ref, est in loaded:
        result.scores = score_events(ref, est, window_s=window_s, classes=names)
    scored = [r.scores for r, _, _ in loaded]
    note_scores = pool_notes([r.notes for r, _, _ in loaded]) if notes else None
    return (pool_scores(scored) if scored else None), note_scores


def _read(path: Path, class_map: ClassMap | None, default_label: str) -> tuple[list[Event], dict[str, int]]:
    found = read_annotation_file(path, class_map=class_map, default_label=default_label)
    return found.events, dict(found.unknown)


def _read_pairs(
    pairing: Pairing,
    class_map: ClassMap | None,
    results: list[FileResult],
    on_file: Callable[[Pair], None] | None,
    read_estimate: Callable[[Pair], Any],
) -> Iterator[tuple[Pair, FileResult, list[Event], dict[str, int], Any]]:
    """For each pair: call ``on_file``, append its :class:`FileResult` to ``results``, then read
    its reference and (``read_estimate``) its estimate. Yields ``(pair, result, reference events,
    dropped reference labels, estimate)``; a pair that raises :class:`SoftlocError` is not yielded
    and keeps the message in ``result.error``."""
    for pair in pairing.pairs:
        if on_file is not None:
            on_file(pair)
        result = FileResult(pair.stem, pair.reference, pair.estimate)
        results.append(result)
        try:
            ref, ref_unknown = _read(pair.reference, class_map, ONSET_CLASS)
            estimate = read_estimate(pair)
        except SoftlocError as exc:
            result.error = str(exc)
            continue
        yield pair, result, ref, ref_unknown, estimate


def evaluate_pairs(
    pairing: Pairing,
    *,
    window_s: float = 0.05,  # the mir_eval onset tolerance
    class_map: ClassMap | str | None = None,
    classes: Sequence[str] | None = None,
    merge_classes: bool = False,
    notes: bool | None = None,
    on_file: Callable[[Pair], None] | None = None,
) -> Evaluation:
    """Score each pair's estimate annotation against its reference annotation.

    Parameters
    ----------
    pairing : Pairing
        From :func:`pair_annotations`.
    window_s : float > 0
        Matching tolerance in seconds (default 0.05).
    class_map : ClassMap or str, optional
        Applied to both sides (e.g. ``"kick=35,36 snare=38,40"``); other labels are dropped.
    classes : sequence of str, optional
        Score only these classes, in this order.
    merge_classes : bool
        Class-agnostic onset scoring: every event is an ``onset`` and hits closer than 30 ms
        are one onset (:func:`softloc_cli.events.merge_labels`).
    notes : bool, optional
        Also score note by note with ``mir_eval.transcription`` (pitch-aware onsets, offsets
        ignored); every event needs a MIDI pitch. Default: only when the two sides share no
        class name and are compared by pitch (see the module docstring).
    on_file : callable, optional
        Called with each pair before it is read.

    Returns
    -------
    evaluation : Evaluation
        Files that cannot be read carry their error; ``scores`` is None if none could be scored;
        ``warnings`` says when the two sides share no class name.

    Examples
    --------
    >>> ev = evaluate_pairs(pair_annotations("refs/", "est/"), class_map="kick=35,36 snare=38")
    >>> ev.scores.pooled.overall.f1
    0.93
    """
    cm = as_class_map(class_map)
    results, loaded, warnings = [], [], []
    pairs = _read_pairs(pairing, cm, results, on_file, lambda p: _read(p.estimate, cm, ONSET_CLASS))
    for _, result, ref, ref_unknown, (est, est_unknown) in pairs:
        dropped = Counter(ref_unknown) + Counter(est_unknown)
        ref = _select(ref, classes, merge_classes, dropped)
        est = _select(est, classes, merge_classes, dropped)
        result.dropped = dict(dropped.most_common())
        loaded.append((result, ref, est))
    by_pitch = False
    if not merge_classes and classes is None:
        loaded, by_pitch, warning = _compare_labels(loaded, allow_pitch=cm is None)
        warnings += [warning] if warning else []
    scores, note_scores = _score_all(loaded, window_s=window_s, classes=classes, merge_classes=merge_classes,
                                     notes=by_pitch if notes is None else notes)
    return Evaluation(window_s, results, scores, pairing.unmatched_reference, pairing.unmatched_estimate,
                      notes=note_scores, warnings=warnings)


def evaluate_model(
    model,
    pairing: Pairing,
    *,
    decode=None,
    window_s: float = 0.05,  # the mir_eval onset tolerance
    class_map: ClassMap | str | None = None,
    classes: Sequence[str] | None = None,
    merge_classes: bool = False,
    notes: bool | None = None,
    plot_stem: str | None = None,
    on_file: Callable[[Pair], None] | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Evaluation:
    """Transcribe each audio file with ``model`` and score it against its sidecar annotation.

    Parameters
    ----------
    model : LoadedModel
        From :func:`softloc_cli.inference.load_model`.
    pairing : Pairing
        From :func:`find_annotated_audio` (``reference`` = annotation, ``estimate`` = audio).
    decode : DecodeConfig, optional
        Overrides the model's stored decode settings (e.g. a threshold).
    window_s, class_map, merge_classes
        As :func:`evaluate_pairs`. A multi-pitch model (classes ``A0`` … ``C8``) reads references
        through its own pitched class map unless one is given, so ``0.5,onset,60`` is C4.
    notes : bool, optional
        Note-level scores as :func:`evaluate_pairs`; default: on for multi-pitch models.
    classes : sequence of str, optional
        Classes to score; default the model's classes (reference labels the model does not
        have are left out and counted in ``dropped``). A one-class ``onset`` model is scored
        class-agnostically.
    plot_stem : str, optional
        Keep this file's transcription (with activations) and reference in ``Evaluation.plot``
        (a :class:`PlotData`).
    on_file, on_progress : callable, optional
        Called with each pair before it is processed, and with seconds of audio done.

    Returns
    -------
    evaluation : Evaluation
        ``warnings`` says when no reference event has a class of the model.

    Raises
    ------
    ConfigError
        A name in ``classes`` that the model (or class map) does not have.

    Examples
    --------
    >>> ev = evaluate_model(load_model("drums"), find_annotated_audio("my-data/"))
    >>> ev.scores.pooled.classes["kick"].f1
    0.97
    """
    cm = as_class_map(class_map)
    if cm is None and model.config.pitched:
        cm = pitched_class_map(model.config.labels)
    if notes is None:
        notes = model.config.pitched
    labels = list(model.config.labels)
    mapped, _ = map_events([Event(0.0, n, m) for n, m in zip(labels, model.config.midi_notes)], cm)
    model_classes = list(dict.fromkeys(e.label for e in mapped))
    if classes is not None:
        known = {c.lower() for c in model_classes}
        unknown = [c for c in classes if c.lower() not in known]
        if unknown:
            raise ConfigError(f"class(es) {', '.join(unknown)} not predicted by the model; "
                              f"its classes are {', '.join(model_classes)}")
    if model_classes == [ONSET_CLASS]:
        merge_classes = True
    selection = list(classes) if classes is not None else model_classes
    results, loaded, plot, ref_labels = [], [], None, Counter()
    pairs = _read_pairs(pairing, cm, results, on_file,
                        lambda p: transcribe_file(model, p.estimate, decode=decode, on_progress=on_progress))
    for pair, result, ref, ref_unknown, transcription in pairs:
        if plot_stem is not None and pair.stem == plot_stem:
            plot = PlotData(pair.stem, transcription, ref)
        ref_labels.update(e.label for e in ref)
        est, est_dropped = map_events(transcription.events, cm)
        dropped = Counter(ref_unknown) + est_dropped
        keep = None if merge_classes and classes is None else selection
        ref = _select(ref, keep, merge_classes, dropped)
        est = _select(est, keep, merge_classes, dropped)
        result.dropped = dict(dropped.most_common())
        loaded.append((result, ref, est))
    warnings = []
    if not merge_classes and ref_labels and not {n.lower() for n in ref_labels} & {n.lower() for n in selection}:
        warnings.append(
            f"no reference event has a class of model {model.config.name} {_describe(selection, ordered=True)} "
            f"(reference classes {_describe(ref_labels)}), so every class scores 0; use --merge-classes to "
            "score onsets whatever their class, or --class-map to map the reference labels")
    scores, note_scores = _score_all(loaded, window_s=window_s, classes=None if merge_classes else selection,
                                     merge_classes=merge_classes, notes=notes)
    return Evaluation(window_s, results, scores, pairing.unmatched_reference, pairing.unmatched_estimate,
                      model=model.config.name, plot=plot, notes=note_scores, warnings=warnings)


# ---------------------------------------------------------------------------------------------
# output


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def write_scores_csv(pooled: PooledScores, path: str | Path) -> Path:
    """Write pooled scores as CSV, atomically: one row per class, then ``overall``.

    Columns are :data:`CSV_FIELDS`: pooled counts, P/R/F1, timing in seconds (empty without
    matches) and the per-file means; floats with 6 decimals, ``.`` as the decimal point.

    Examples
    --------
    >>> write_scores_csv(evaluation.scores, "scores.csv")
    PosixPath('scores.csv')
    """
    path = Path(path)
    with atomic_write(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in scores_rows(pooled):
            mean = pooled.mean_per_file.get(row["class"], {})
            full = {**row, "file_mean_precision": mean.get("precision"), "file_mean_recall": mean.get("recall"),
                    "file_mean_f1": mean.get("f1"), "n_files": mean.get("n_files")}
            writer.writerow({k: _cell(full.get(k)) for k in CSV_FIELDS})
    return path
