"""Read and write event annotations in every supported format.

Conventions
-----------
- Times are in seconds from the start of the audio, non-negative and below 10,000 s (a larger
  time is reported as probable milliseconds). Returned event lists are sorted by time, then label
  (:func:`softloc_cli.events.sort_events`). A file with no events is valid and gives ``[]``.
- Labels are resolved with :func:`softloc_cli.classmap.resolve_label`: case-insensitive class
  names, a few aliases (``bd``, ``sd``, ``hh``, ``hi-hat``), GM note numbers and, for pitched
  class maps, pitch names. With a class map, events whose label or note is not in the map are
  *unknown*: :func:`read_annotations` drops them (or raises, with ``on_unknown="error"``) and
  :func:`read_annotation_file` reports how many of each were dropped. Without a class map nothing
  is unknown: drum names and GM drum notes become drum classes, pitch names are normalised
  (``db4`` → ``C#4``), other labels are kept in lower case.
- A file without labels gives every event ``default_label`` (``"onset"``), which is then resolved
  like any other label.
- Parse errors name ``file:line`` and echo the bad line, as mir_eval's ``io.load_delimited`` does.

Formats read (detected by extension, then content)
--------------------------------------------------
========================  =================================================================
``.mid`` ``.midi``        MIDI. Drum tracks (channel 10): note → class through the drum map
                          (default :data:`~softloc_cli.classmap.DEFAULT_DRUM_MAP`). Pitched
                          tracks: label = pitch name (``C4``) without a class map, the pitch's
                          class with a pitched map, unknown with a drum map.
``.json``                 ``{"events": [{"time_s": .., "class": .., "midi_note": .., "velocity":
                          ..}], ...}`` (what :class:`JsonWriter` writes) or a bare list of such
                          objects or of times.
``.csv`` ``.tsv``         Delimited text (``,``, tab or ``;``), header optional. Header names:
``.txt`` ``.lab``         time (``time_s``, ``time``, ``onset``, ``start``, ``time_ms``, ...),
                          class (``class``, ``label``, ``instrument``), ``midi_note`` (``note``,
                          ``pitch``), ``velocity``; other columns are ignored. Without a header
                          the columns are ``time[,label[,velocity]]`` (the onset-dataset
                          ``0.17,onset`` rows fit this), except for two layouts recognised by
                          content: Audacity label tracks (``start<TAB>end<TAB>label``; ``\\``
                          frequency lines skipped) and Sonic Visualiser exports
                          (``time,value[,duration],label``). Whitespace-separated text is
                          ``time [label]`` with the label running to the end of the line.
========================  =================================================================

Formats written (:data:`WRITERS`)
---------------------------------
``mid`` (GM drums on channel 10, or a pitched track), ``csv`` (``time_s,class,midi_note,velocity``,
4 decimals), ``json`` (events plus metadata, 4 decimals), ``labels`` (Audacity label track,
``.txt``, 6 decimals). Every write is atomic (:func:`softloc_cli.fileio.atomic_write`). How events
are laid out (drum or pitched track, note length, ...) is a :class:`WriteOptions`; ``metadata`` is
a plain dict that only the JSON writer stores, so layout flags never end up as metadata.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

from .classmap import (
    DEFAULT_DRUM_MAP,
    ClassMap,
    as_class_map,
    pitch_label,
    resolve_label,
)
from .errors import AnnotationError, SoftlocError
from .events import Event, sort_events
from .fileio import atomic_write

__all__ = [
    "AnnotationFile",
    "CsvWriter",
    "EventWriter",
    "JsonWriter",
    "LabelsWriter",
    "MAX_TIME_S",
    "MidiWriter",
    "WRITERS",
    "WriteOptions",
    "format_for_path",
    "get_writer",
    "read_annotation_file",
    "read_annotations",
    "write_events",
]

#: Largest accepted annotation time (seconds). Larger values are almost always milliseconds.
MAX_TIME_S = 10_000.0
#: Velocity given to events whose file has none (MIDI default "mezzo-forte-ish").
DEFAULT_VELOCITY = 100

ClassMapLike = ClassMap | Mapping[str, Iterable[int]] | str | None

_TIME_COLUMNS = ("time_s", "time", "onset_s", "onset_time", "onset_time_s", "start_time_s",
                 "start_s", "start_time", "start", "times", "timestamp", "seconds", "sec", "t",
                 "onset")
_TIME_MS_COLUMNS = ("time_ms", "onset_ms", "start_ms", "start_time_ms", "ms")
_LABEL_COLUMNS = ("class", "label", "instrument", "class_name", "drum", "name", "type")
_NOTE_COLUMNS = ("midi_note", "note", "pitch", "pitch_midi", "midi_pitch", "midi", "note_number")
_PITCH_COLUMNS = ("pitch", "pitch_midi", "midi_pitch")  # unlabelled rows get the pitch name
_VELOCITY_COLUMNS = ("velocity", "vel")


@dataclass(frozen=True)
class AnnotationFile:
    """What :func:`read_annotation_file` found in one file.

    Attributes
    ----------
    path : Path
    format : str
        ``"midi"``, ``"json"``, ``"csv"`` (delimited, with or without header), ``"audacity"``,
        ``"sonic-visualiser"`` or ``"text"`` (whitespace-separated).
    events : list of Event
        Events whose labels resolved, sorted by time.
    unknown : dict of str to int
        Dropped events per unknown label (``"snar"``, ``"drum note 39"``, ...), most common first.
    """

    path: Path
    format: str
    events: list[Event]
    unknown: dict[str, int] = field(default_factory=dict)


def read_annotations(
    path: str | os.PathLike[str],
    *,
    class_map: ClassMapLike = None,
    default_label: str = "onset",
    on_unknown: Literal["drop", "error"] = "drop",
) -> list[Event]:
    """Read an annotation file of any supported format into sorted events.

    Parameters
    ----------
    path : str or os.PathLike
        Annotation file (see the module docstring for formats).
    class_map : ClassMap, dict, str or None
        Classes to keep, e.g. a model's class map. None keeps every label.
    default_label : str
        Label for events of files that carry none (plain time lists, Audacity labels left empty).
    on_unknown : {"drop", "error"}
        What to do with events whose label is not in ``class_map``: drop them, or raise
        :class:`AnnotationError` listing the unknown labels and the valid classes.

    Returns
    -------
    events : list of Event
        Sorted by time; empty for an empty file.

    Raises
    ------
    AnnotationError
        If the file is missing, not UTF-8 text, malformed (``file:line`` and the line are given)
        or, with ``on_unknown="error"``, has unknown labels.

    Examples
    --------
    >>> events = read_annotations("take1.txt", class_map="kick snare hihat")
    >>> events[0]
    Event(time_s=0.512, label='kick', midi_note=36, velocity=100)
    """
    if on_unknown not in ("drop", "error"):
        raise ValueError(f"on_unknown={on_unknown!r} must be 'drop' or 'error'")
    found = read_annotation_file(path, class_map=class_map, default_label=default_label)
    if found.unknown and on_unknown == "error":
        shown = ", ".join(f"{label!r} ({n})" for label, n in list(found.unknown.items())[:10])
        more = f" and {len(found.unknown) - 10} more" if len(found.unknown) > 10 else ""
        cm = as_class_map(class_map)
        classes = ", ".join(cm) if cm is not None else ", ".join(DEFAULT_DRUM_MAP)
        raise AnnotationError(
            f"{path}: {sum(found.unknown.values())} event(s) have labels that are not in the "
            f"class map: {shown}{more}; classes are {classes}. Rename the labels or extend the "
            "class map"
        )
    return found.events


def read_annotation_file(
    path: str | os.PathLike[str],
    *,
    class_map: ClassMapLike = None,
    default_label: str = "onset",
) -> AnnotationFile:
    """Read an annotation file and report the format found and the events dropped as unknown.

    Same parameters as :func:`read_annotations`; unknown events are always dropped and counted
    in :attr:`AnnotationFile.unknown`.

    Raises
    ------
    AnnotationError
        As :func:`read_annotations`.

    Examples
    --------
    >>> found = read_annotation_file("groove.mid")
    >>> found.format, found.unknown
    ('midi', {'drum note 39': 4})
    """
    path = Path(path)
    cm = as_class_map(class_map)
    if not path.is_file():
        raise AnnotationError(f"{path}: annotation file not found")
    collector = _Collector(path, cm, default_label)
    suffix = path.suffix.lower()
    if suffix in (".mid", ".midi"):
        fmt = _read_midi(path, collector)
    else:
        text = _read_text(path)
        if suffix == ".json" or (suffix not in (".csv", ".tsv") and text.lstrip()[:1] in "[{"
                                 and text.strip()):
            fmt = _read_json(path, text, collector)
        else:
            fmt = _read_delimited(path, text, collector)
    unknown = dict(collector.unknown.most_common())
    return AnnotationFile(path=path, format=fmt, events=sort_events(collector.events),
                          unknown=unknown)


# ---------------------------------------------------------------------------------------------
# reading helpers


class _Collector:
    """Resolves labels against the class map and accumulates events and unknown counts."""

    def __init__(self, path: Path, class_map: ClassMap | None, default_label: str) -> None:
        self.path = path
        self.class_map = class_map
        self.default_label = default_label
        self.events: list[Event] = []
        self.unknown: Counter[str] = Counter()

    def add(self, time_s: float, label: str | None, note: int | None, velocity: int) -> None:
        if label is None or not label.strip():
            label = str(note) if note is not None else self.default_label
        resolved = resolve_label(label, self.class_map)
        if resolved is None and note is not None and self.class_map is not None and not self.class_map.drums:
            # pitched maps: a row's MIDI note names its class whatever its label says
            # (``0.5,onset,60`` is C4 to a piano model)
            cls = self.class_map.class_of(note)
            resolved = (cls, note) if cls is not None else None
        if resolved is None:
            self.unknown[" ".join(label.split())] += 1
            return
        name, resolved_note = resolved
        self.events.append(Event(time_s, name, note if note is not None else resolved_note,
                                 velocity))


def _line_error(path: Path, lineno: int, message: str, line: str) -> AnnotationError:
    return AnnotationError(f"{path}:{lineno}: {message}: {line.strip()!r}")


def _check_time(value: float, text: str) -> str | None:
    """Why a parsed time is not acceptable, or None."""
    if not math.isfinite(value):
        return f"time {text!r} is not a finite number of seconds"
    if value < 0:
        return f"negative time {text} s (times are seconds from the start of the audio)"
    if value > MAX_TIME_S:
        return (f"time {text} s is over {MAX_TIME_S:,.0f} s (did you give milliseconds? "
                "times must be in seconds)")
    return None


def _parse_time(text: str, scale: float = 1.0) -> tuple[float | None, str | None]:
    """(seconds, None) or (None, reason)."""
    text = text.strip()
    if not text:
        return None, "missing time"
    try:
        value = float(text) * scale
    except ValueError:
        if re.fullmatch(r"\d+:\d+(\.\d*)?", text):
            return None, f"time {text!r} looks like minutes:seconds; give seconds (e.g. 83.5)"
        if re.fullmatch(r"\d+,\d+", text):
            return None, f"time {text!r} uses a decimal comma; use '.' as the decimal separator"
        return None, f"time {text!r} is not a number of seconds"
    reason = _check_time(value, text if scale == 1.0 else f"{value:g}")
    return (None, reason) if reason else (value, None)


def _parse_velocity(text: str) -> tuple[int | None, str | None]:
    text = text.strip()
    if not text:
        return DEFAULT_VELOCITY, None
    try:
        value = float(text)
    except ValueError:
        return None, f"velocity {text!r} is not a number"
    if not value.is_integer() or not 1 <= value <= 127:
        return None, f"velocity {text} must be an integer in 1..127"
    return int(value), None


def _parse_note(text: str) -> tuple[int | None, str | None]:
    text = text.strip()
    if not text:
        return None, None
    try:
        value = float(text)
    except ValueError:
        return None, f"MIDI note {text!r} is not a number"
    if not value.is_integer() or not 0 <= value <= 127:
        return None, f"MIDI note {text} must be an integer in 0..127"
    return int(value), None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read annotation file ({exc.strerror})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise AnnotationError(
            f"{path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x}); save the file as "
            "UTF-8 or use a supported format (.csv, .txt, .json, .mid)"
        ) from None


@dataclass
class _Layout:
    format: str
    delimiter: str | None  # None = whitespace, label to end of line
    time: int = 0
    label: int | None = None
    note: int | None = None
    velocity: int | None = None
    pitched: bool = False  # the note column is headed "pitch": unlabelled rows are named by pitch
    time_scale: float = 1.0
    min_fields: int = 1


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split(None, 1)
    return next(csv.reader([line], delimiter=delimiter, skipinitialspace=True))


def _header_layout(fields: list[str], delimiter: str | None, path: Path, lineno: int,
                   line: str) -> _Layout:
    names = [f.strip().lower() for f in fields]

    def first(candidates: tuple[str, ...], exclude: set[int]) -> int | None:
        for candidate in candidates:
            for i, name in enumerate(names):
                if name == candidate and i not in exclude:
                    return i
        return None

    layout = _Layout("csv", delimiter)
    time_col = first(_TIME_COLUMNS, set())
    if time_col is None:
        ms_col = first(_TIME_MS_COLUMNS, set())
        if ms_col is None:
            raise _line_error(
                path, lineno,
                "header has no time column (expected one of time_s, time, onset, start, "
                "time_ms, ...)", line)
        time_col, layout.time_scale = ms_col, 1e-3
    layout.time = time_col
    layout.label = first(_LABEL_COLUMNS, {time_col})
    if layout.label is None:  # onset-dataset style "time,onset": second "onset" column = label
        layout.label = first(("onset",), {time_col})
    layout.note = first(_NOTE_COLUMNS, {time_col})
    layout.pitched = layout.note is not None and names[layout.note] in _PITCH_COLUMNS
    layout.velocity = first(_VELOCITY_COLUMNS, {time_col})
    return layout


def _headerless_layout(fields: list[str], delimiter: str | None, suffix: str) -> _Layout:
    n = len(fields)
    if (delimiter == "\t" and n == 3 and _is_number(fields[0]) and _is_number(fields[1])
            and (not _is_number(fields[2]) or suffix in (".txt", ".lab"))):
        # Audacity label track: start, end, label (label may be empty)
        return _Layout("audacity", delimiter, time=0, label=2)
    if delimiter is not None and n >= 3 and _is_number(fields[1]) and not _is_number(fields[-1]):
        # Sonic Visualiser: time, value[, duration], label
        return _Layout("sonic-visualiser", delimiter, time=0, label=n - 1)
    if delimiter is None:
        return _Layout("text", None, time=0, label=1)
    return _Layout("csv", delimiter, time=0, label=1, velocity=2)


def _read_delimited(path: Path, text: str, collector: _Collector) -> str:
    layout: _Layout | None = None
    max_fields = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("\\"):
            continue  # blank, comment, Audacity frequency line
        if layout is None:
            delimiter = ("\t" if "\t" in stripped else "," if "," in stripped
                         else ";" if ";" in stripped else None)
            # keep trailing tabs: Audacity writes "start<TAB>end<TAB>" for an empty label
            fields = _split(line.strip(" \r\n") if delimiter else stripped, delimiter)
            if not _is_number(fields[0].strip()) and not re.fullmatch(
                    r"\d+(:|,)\d+(\.\d*)?", fields[0].strip()):
                layout = _header_layout(fields, delimiter, path, lineno, line)
                continue
            layout = _headerless_layout(fields, delimiter, path.suffix.lower())
            max_fields = 3 if layout.format == "csv" else 0
        fields = _split(line.strip() if layout.delimiter is None else line, layout.delimiter)
        if max_fields and len(fields) > max_fields:
            raise _line_error(path, lineno,
                              f"{len(fields)} columns; expected time[,label[,velocity]] "
                              "(or add a header row naming the columns)", line)

        def get(index: int | None) -> str:
            return fields[index].strip() if index is not None and index < len(fields) else ""

        time_s, reason = _parse_time(get(layout.time), layout.time_scale)
        if reason is None:
            velocity, reason = _parse_velocity(get(layout.velocity))
        if reason is None:
            note, reason = _parse_note(get(layout.note))
        if reason is not None:
            raise _line_error(path, lineno, reason, line)
        label = get(layout.label)
        if not label and layout.pitched and note is not None:
            label = pitch_label(note)  # "time_s,pitch,velocity" (pitched CsvWriter): 60 is C4, not a drum
        collector.add(time_s, label or None, note, velocity)  # type: ignore[arg-type]
    return layout.format if layout is not None else "text"


def _read_json(path: Path, text: str, collector: _Collector) -> str:
    if not text.strip():
        return "json"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        lines = text.splitlines()
        bad = lines[exc.lineno - 1] if 0 < exc.lineno <= len(lines) else ""
        raise _line_error(path, exc.lineno, f"invalid JSON ({exc.msg}, column {exc.colno})",
                          bad) from None
    items = data.get("events") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise AnnotationError(
            f"{path}: expected a JSON object with an \"events\" list or a list of events")
    for index, item in enumerate(items):
        where = f"{path}: events[{index}]"
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = {"time_s": item}
        if not isinstance(item, dict):
            raise AnnotationError(f"{where}: expected an object or a number: {json.dumps(item)}")
        time_key = next((k for k in ("time_s", "time", "onset", "start", "time_ms")
                         if k in item), None)
        if time_key is None:
            raise AnnotationError(f"{where}: missing \"time_s\": {json.dumps(item)}")
        raw_time = item[time_key]
        if isinstance(raw_time, bool) or not isinstance(raw_time, (int, float)):
            raise AnnotationError(
                f"{where}: {time_key} {raw_time!r} is not a number of seconds: {json.dumps(item)}")
        time_s = float(raw_time) * (1e-3 if time_key == "time_ms" else 1.0)
        reason = _check_time(time_s, f"{time_s:g}")
        label = next((item[k] for k in ("class", "label", "instrument") if k in item), None)
        note_value = next((item[k] for k in ("midi_note", "note", "pitch") if k in item), None)
        velocity_value = item.get("velocity", DEFAULT_VELOCITY)
        note = velocity = None
        if reason is None and label is not None and not isinstance(label, (str, int)):
            reason = f"class {label!r} must be a string"
        if reason is None and note_value is not None:
            note, reason = _parse_note(str(note_value))
        if reason is None:
            velocity, reason = _parse_velocity(
                str(DEFAULT_VELOCITY if velocity_value is None else velocity_value))
        if reason is not None:
            raise AnnotationError(f"{where}: {reason}: {json.dumps(item)}")
        collector.add(time_s, None if label is None else str(label), note, velocity)
    return "json"


def _read_midi(path: Path, collector: _Collector) -> str:
    import pretty_midi  # slow import; only when a MIDI file is read

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tempo/meta events on other tracks: harmless
            midi = pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # mido raises OSError, EOFError, KeyError, ValueError, ...
        raise AnnotationError(
            f"{path}: not a readable MIDI file ({type(exc).__name__}: {exc})") from None
    cm = collector.class_map
    for instrument in midi.instruments:
        for note in instrument.notes:
            time_s = float(note.start)
            velocity = min(max(int(note.velocity), 1), 127)
            if instrument.is_drum:
                drum_map = DEFAULT_DRUM_MAP if cm is None else cm
                name = drum_map.class_of(note.pitch) if drum_map.drums else None
                if name is None:
                    collector.unknown[f"drum note {note.pitch}"] += 1
                    continue
            elif cm is None:
                name = pitch_label(note.pitch)
            elif cm.drums:
                collector.unknown["notes of pitched instruments"] += 1
                continue
            else:
                name = cm.class_of(note.pitch)
                if name is None:
                    collector.unknown[f"pitch {pitch_label(note.pitch)}"] += 1
                    continue
            collector.events.append(Event(time_s, name, int(note.pitch), velocity))
    return "midi"


# ---------------------------------------------------------------------------------------------
# writers


@dataclass(frozen=True)
class WriteOptions:
    """How a writer lays events out; unlike ``metadata``, none of it is stored in the file.

    Attributes
    ----------
    drums : bool
        MIDI: one GM drum track on channel 10 (default), else one pitched track.
    pitched : bool
        CSV: ``time_s,pitch,velocity`` columns for a multi-pitch model's notes.
    note_duration_s : float > 0 or None
        MIDI note length; None gives 0.05 s for drums, 0.5 s for pitched notes.
    program : int in 0..127
        MIDI program of a pitched track (0 = piano).
    class_map : ClassMap, dict, str or None
        MIDI: notes of events that have none (default: the GM drum map).

    Raises
    ------
    ValueError
        ``note_duration_s`` not > 0, or ``program`` outside 0..127.

    Examples
    --------
    >>> write_events(events, "notes.mid", options=WriteOptions(drums=False, program=0))
    """

    drums: bool = True
    pitched: bool = False
    note_duration_s: float | None = None
    program: int = 0
    class_map: ClassMapLike = None

    def __post_init__(self) -> None:
        if self.note_duration_s is not None and not self.note_duration_s > 0:
            raise ValueError(f"note_duration_s={self.note_duration_s} must be > 0")
        if not 0 <= int(self.program) <= 127:
            raise ValueError(f"program={self.program} must be a MIDI program in 0..127")


class EventWriter:
    """Base of the output writers: subclasses set ``name``/``extension`` and define ``write_to``.

    Attributes
    ----------
    name : str
        Format name used by ``--format``.
    extension : str
        File extension without the dot.
    binary : bool
        Whether ``write_to`` expects a binary file handle.
    """

    name: ClassVar[str]
    extension: ClassVar[str]
    binary: ClassVar[bool] = False

    def write(self, events: list[Event], fh_or_path: IO | str | os.PathLike[str], *,
              options: WriteOptions | None = None, metadata: Mapping[str, Any] | None = None) -> None:
        """Write ``events`` to an open handle, or atomically to a path.

        Parameters
        ----------
        events : list of Event
        fh_or_path : file object or path
            A text handle (opened with ``newline=""``) or binary handle as ``binary`` says, or
            a path, which is written through :func:`softloc_cli.fileio.atomic_write`.
        options : WriteOptions, optional
            Layout (drum or pitched track, note length, ...); default ``WriteOptions()``.
        metadata : mapping, optional
            What the file records about the events (model, source); only JSON stores it.
        """
        options = options if options is not None else WriteOptions()
        metadata = dict(metadata or {})
        if isinstance(fh_or_path, (str, os.PathLike)):
            with atomic_write(fh_or_path, "wb" if self.binary else "w", newline="") as fh:
                self.write_to(sort_events(list(events)), fh, options, metadata)
        else:
            self.write_to(sort_events(list(events)), fh_or_path, options, metadata)

    def write_to(self, events: list[Event], fh: IO, options: WriteOptions,
                 metadata: dict[str, Any]) -> None:
        raise NotImplementedError


class CsvWriter(EventWriter):
    """``time_s,class,midi_note,velocity``; times with 4 decimals (0.1 ms), ``.`` decimal point,
    UTF-8, ``\\n`` line ends; an empty ``midi_note`` cell when the event has none. With
    ``options.pitched`` (a multi-pitch model's notes) the columns are ``time_s,pitch,velocity``,
    pitch as a MIDI number. ``metadata`` is not written (comment lines would break other CSV
    readers)."""

    name = "csv"
    extension = "csv"

    def write_to(self, events: list[Event], fh: IO, options: WriteOptions,
                 metadata: dict[str, Any]) -> None:
        writer = csv.writer(fh, lineterminator="\n")
        if options.pitched:
            writer.writerow(["time_s", "pitch", "velocity"])
            for e in events:
                writer.writerow([f"{e.time_s:.4f}", MidiWriter.note_of(e, drums=False), int(e.velocity)])
            return
        writer.writerow(["time_s", "class", "midi_note", "velocity"])
        for e in events:
            writer.writerow([f"{e.time_s:.4f}", e.label,
                             "" if e.midi_note is None else int(e.midi_note), int(e.velocity)])


def _json_default(value: Any) -> Any:
    if isinstance(value, ClassMap):
        return value.to_dict()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if hasattr(value, "tolist"):  # numpy array
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class JsonWriter(EventWriter):
    """``{"format_version": 1, <metadata keys>..., "events": [{"time_s", "class", "midi_note",
    "velocity"}]}`` with times rounded to 4 decimals; UTF-8, indented, keys in that order.
    ``options`` are not recorded: only ``metadata`` is."""

    name = "json"
    extension = "json"

    def write_to(self, events: list[Event], fh: IO, options: WriteOptions,
                 metadata: dict[str, Any]) -> None:
        if "events" in metadata:
            raise ValueError("metadata must not contain an 'events' key")
        head = json.dumps({"format_version": 1, **metadata}, indent=2, ensure_ascii=False,
                          default=_json_default)
        rows = [
            json.dumps({"time_s": round(e.time_s, 4), "class": e.label,
                        "midi_note": None if e.midi_note is None else int(e.midi_note),
                        "velocity": int(e.velocity)}, ensure_ascii=False)
            for e in events
        ]
        body = "[\n" + ",\n".join(f"    {row}" for row in rows) + "\n  ]" if rows else "[]"
        # one event per line: json.dumps(indent=2) would spread each event over six lines
        fh.write(f'{head[:-2]},\n  "events": {body}\n}}\n')


class LabelsWriter(EventWriter):
    """Audacity label track (``.txt``): ``start<TAB>end<TAB>label`` with start == end, 6 decimals
    as Audacity writes them. Notes and velocities are not kept."""

    name = "labels"
    extension = "txt"

    def write_to(self, events: list[Event], fh: IO, options: WriteOptions,
                 metadata: dict[str, Any]) -> None:
        for e in events:
            label = " ".join(e.label.split())  # no tabs or newlines inside a label
            fh.write(f"{e.time_s:.6f}\t{e.time_s:.6f}\t{label}\n")


class MidiWriter(EventWriter):
    """Standard MIDI file, 960 ticks per quarter at 120 bpm (1 tick ≈ 0.52 ms).

    ``options.drums`` (default True): one drum track on channel 10 with each event's
    ``midi_note``; otherwise one pitched track (``options.program``, default 0 = piano). Duration
    rule (the models detect onsets only): a note lasts ``options.note_duration_s`` (default 0.05 s
    for drums, 0.5 s for pitched notes) or until the next event on the same note, whichever is
    shorter. Events without a ``midi_note`` get their class's canonical note from
    ``options.class_map`` (default GM drum map) or, when pitched, the note of their pitch-name
    label. ``metadata`` is not written.
    Events on the same note less than 1 ms apart are written once (the louder one).
    """

    name = "mid"
    extension = "mid"
    binary = True
    resolution = 960  # ticks per quarter note; at 120 bpm one tick is 0.52 ms
    min_gap_s = 0.001  # same-note events closer than this are merged

    def write_to(self, events: list[Event], fh: IO, options: WriteOptions,
                 metadata: dict[str, Any]) -> None:
        import pretty_midi

        drums = options.drums
        duration = options.note_duration_s or (0.05 if drums else 0.5)
        class_map = as_class_map(options.class_map) or DEFAULT_DRUM_MAP
        by_note: dict[int, list[Event]] = {}
        for e in events:
            by_note.setdefault(self.note_of(e, drums=drums, class_map=class_map), []).append(e)
        midi = pretty_midi.PrettyMIDI(resolution=self.resolution, initial_tempo=120.0)
        instrument = pretty_midi.Instrument(program=0 if drums else int(options.program),
                                            is_drum=drums, name="drums" if drums else "notes")
        for pitch, group in sorted(by_note.items()):
            kept: list[Event] = []
            for e in group:  # already sorted by time
                if kept and e.time_s - kept[-1].time_s < self.min_gap_s:
                    if e.velocity > kept[-1].velocity:
                        kept[-1] = e
                    continue
                kept.append(e)
            for i, e in enumerate(kept):
                end = e.time_s + duration
                if i + 1 < len(kept):
                    end = min(end, kept[i + 1].time_s)
                instrument.notes.append(pretty_midi.Note(
                    velocity=min(max(int(e.velocity), 1), 127), pitch=pitch,
                    start=e.time_s, end=end))
        instrument.notes.sort(key=lambda n: (n.start, n.pitch))
        midi.instruments.append(instrument)
        midi.write(fh)

    @staticmethod
    def note_of(event: Event, *, drums: bool, class_map: ClassMap = DEFAULT_DRUM_MAP) -> int:
        """The MIDI note an event is written as (see the class docstring)."""
        if event.midi_note is not None:
            return int(event.midi_note)
        resolved = resolve_label(event.label, class_map if drums else
                                 ClassMap({"all": range(128)}, drums=False))
        if resolved is None or resolved[1] is None:
            what = f"a class of the class map ({', '.join(class_map)})" if drums else "a pitch name"
            raise AnnotationError(
                f"cannot write {event.label!r} events to MIDI: they have no MIDI note and "
                f"{event.label!r} is not {what}; give the classes MIDI notes in the class map")
        return resolved[1]


#: Output writers by format name.
WRITERS: dict[str, EventWriter] = {w.name: w for w in (MidiWriter(), CsvWriter(), JsonWriter(),
                                                        LabelsWriter())}

_EXTENSION_FORMATS = {".mid": "mid", ".midi": "mid", ".csv": "csv", ".json": "json",
                      ".txt": "labels"}


def get_writer(format: str) -> EventWriter:
    """The writer for a format name.

    Raises
    ------
    SoftlocError
        If the name is unknown; the message lists the formats.

    Examples
    --------
    >>> get_writer("csv").extension
    'csv'
    """
    try:
        return WRITERS[format.strip().lower()]
    except KeyError:
        raise SoftlocError(
            f"unknown output format {format!r}; formats are {', '.join(WRITERS)}") from None


def format_for_path(path: str | os.PathLike[str]) -> str:
    """Output format implied by a file name: ``.mid``/``.midi`` → mid, ``.csv``, ``.json``,
    ``.txt`` → labels.

    Raises
    ------
    SoftlocError
        For any other extension; the message lists the valid ones.

    Examples
    --------
    >>> format_for_path("out/hits.MID")
    'mid'
    """
    suffix = Path(path).suffix.lower()
    try:
        return _EXTENSION_FORMATS[suffix]
    except KeyError:
        raise SoftlocError(
            f"cannot tell the output format from {os.fspath(path)!r}; use one of the extensions "
            f"{', '.join(_EXTENSION_FORMATS)} or give the format explicitly") from None


def write_events(events: list[Event], path: str | os.PathLike[str], format: str | None = None,
                 *, options: WriteOptions | None = None, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write events to ``path`` atomically in ``format`` (default: from the extension).

    Parameters
    ----------
    events : list of Event
        Any order; written sorted by time. An empty list writes a valid empty file.
    path : str or os.PathLike
    format : {"mid", "csv", "json", "labels"}, optional
    options : WriteOptions, optional
        Layout: drum or pitched MIDI track, note length, pitched CSV columns.
    metadata : mapping, optional
        What the JSON file records about the events (model name, source, ...); other formats
        do not store it.

    Returns
    -------
    path : Path
        The file written.

    Raises
    ------
    SoftlocError
        Unknown format, or (AnnotationError) events that cannot be written as MIDI.

    Examples
    --------
    >>> write_events(events, "out/take1.csv")
    PosixPath('out/take1.csv')
    """
    writer = get_writer(format if format is not None else format_for_path(path))
    writer.write(events, path, options=options, metadata=metadata)
    return Path(path)

