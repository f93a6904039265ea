"""Class maps: which MIDI notes belong to which event class, and pitch names.

Conventions
-----------
- A class map maps a class name to the MIDI notes that count as that class. The *first* note of a
  class is its canonical note: the one written on export. Every other note is accepted on import.
- Class names contain no whitespace, ``=``, ``,`` or ``;`` and are matched case-insensitively
  (two names may not differ only in case). Drum classes are lower-case (``kick``); pitched maps
  may use pitch names (``C4``). A few common aliases (``bd``, ``sd``, ``hh``, ``hi-hat``, ...)
  are understood in labels read from files.
- Drum maps (``drums=True``) speak General MIDI percussion notes (channel 10); pitched maps
  (``drums=False``) speak pitches, e.g. ``{"onset": range(21, 109)}`` for piano onsets.
- Pitch names use scientific pitch notation with middle C = ``C4`` = MIDI 60 and sharps
  (``C#4``); flats are accepted on input (``Db4``). The helpers live in
  :mod:`softloc_cli.pitches` (``pitch_label`` and ``label_to_pitch`` are re-exported here).

The default drum map follows the GM percussion map and adds the Roland TD-11 note numbers that
the Groove MIDI Dataset uses beside GM ones (22, 26 hi-hat edge; 52, 55 crash; 53 ride bell;
58 tom rim). GM 39 (hand clap) and other percussion stay unmapped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from .errors import ConfigError
from .pitches import label_to_pitch, parse_pitch, pitch_label, pitch_notes

__all__ = [
    "ClassMap",
    "DEFAULT_DRUM_MAP",
    "DRUM_CLASSES",
    "LABEL_ALIASES",
    "as_class_map",
    "class_to_note",
    "label_to_pitch",
    "note_to_class",
    "parse_class_map",
    "pitch_label",
    "resolve_label",
]

_BAD_NAME = re.compile(r"[\s=,;]")


class ClassMap(Mapping[str, tuple[int, ...]]):
    """An ordered, immutable mapping ``class name -> MIDI notes`` (first note = canonical).

    Parameters
    ----------
    notes : Mapping[str, Iterable[int]]
        Class names and their MIDI notes (0..127), each class with at least one note. Order is
        kept: it is the order of a model's output classes.
    drums : bool
        True for GM percussion notes, False for pitches.

    Raises
    ------
    ConfigError
        If a name is empty or contains whitespace, ``=``, ``,`` or ``;``; if a class has no
        notes; if a note is outside 0..127 or belongs to two classes.

    Examples
    --------
    >>> cm = ClassMap({"kick": [36, 35], "snare": [38]})
    >>> cm.class_of(35), cm.note_of("kick")
    ('kick', 36)
    """

    def __init__(self, notes: Mapping[str, Iterable[int]], *, drums: bool = True) -> None:
        classes: dict[str, tuple[int, ...]] = {}
        lowered: dict[str, str] = {}
        owner: dict[int, str] = {}
        for raw_name, raw_notes in notes.items():
            name = str(raw_name).strip()
            if not name or _BAD_NAME.search(name):
                raise ConfigError(
                    f"class name {raw_name!r} must be non-empty without spaces, '=', ',' or ';'"
                )
            if name.lower() in lowered:
                raise ConfigError(f"class {name!r} is given twice in the class map")
            lowered[name.lower()] = name
            note_list: list[int] = []
            for note in raw_notes:
                if isinstance(note, bool) or not isinstance(note, int) or not 0 <= note <= 127:
                    raise ConfigError(
                        f"class {name!r}: MIDI note {note!r} must be an integer in 0..127"
                    )
                if note in owner and owner[note] != name:
                    raise ConfigError(
                        f"MIDI note {note} is mapped to both {owner[note]!r} and {name!r}; "
                        "each note may belong to one class only"
                    )
                if note not in note_list:
                    note_list.append(note)
                owner[note] = name
            if not note_list:
                raise ConfigError(f"class {name!r} has no MIDI notes")
            classes[name] = tuple(note_list)
        self._classes = classes
        self._lowered = lowered
        self._owner = owner
        self.drums = bool(drums)

    # Mapping protocol
    def __getitem__(self, name: str) -> tuple[int, ...]:
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ClassMap):
            return self._classes == other._classes and self.drums == other.drums
        if isinstance(other, Mapping):
            return dict(self._classes) == {k: tuple(v) for k, v in other.items()}
        return NotImplemented

    def __hash__(self) -> int:
        return hash((tuple(self._classes.items()), self.drums))

    def __repr__(self) -> str:
        return f"ClassMap({self.to_dict()!r}, drums={self.drums})"

    def __str__(self) -> str:
        return " ".join(f"{k}={','.join(map(str, v))}" for k, v in self._classes.items())

    def class_of(self, note: int) -> str | None:
        """Class a MIDI note belongs to, or None."""
        return self._owner.get(int(note))

    def find(self, name: str) -> str | None:
        """The class name matching ``name`` case-insensitively, or None."""
        return self._lowered.get(name.strip().lower())

    def note_of(self, name: str) -> int:
        """Canonical (export) note of a class (any case); raises ConfigError listing the classes."""
        found = self.find(name)
        if found is None:
            raise ConfigError(
                f"unknown class {name!r}; classes are {', '.join(self._classes) or '(none)'}"
            )
        return self._classes[found][0]

    def subset(self, names: Iterable[str]) -> ClassMap:
        """A class map with only ``names`` (in that order); unknown names raise ConfigError."""
        picked: dict[str, tuple[int, ...]] = {}
        for name in names:
            found = self.find(name)
            if found is None:
                raise ConfigError(f"unknown class {name!r}; classes are {', '.join(self._classes)}")
            picked[found] = self._classes[found]
        return ClassMap(picked, drums=self.drums)

    def to_dict(self) -> dict[str, list[int]]:
        """JSON-ready ``{class: [notes]}`` (for ``config.json``)."""
        return {k: list(v) for k, v in self._classes.items()}


#: Drum classes in model output order.
DRUM_CLASSES: tuple[str, ...] = ("kick", "snare", "hihat", "tom", "crash", "ride")

#: GM drum map plus the TD-11 numbers of the Groove MIDI Dataset. First note = exported note.
DEFAULT_DRUM_MAP = ClassMap(
    {
        "kick": (36, 35),  # bass drum 1, acoustic bass drum
        "snare": (38, 40, 37),  # acoustic, electric snare, side stick (TD-11: rim)
        "hihat": (42, 44, 46, 22, 26),  # closed, pedal, open; TD-11 closed/open edge
        "tom": (45, 41, 43, 47, 48, 50, 58),  # low tom canonical; TD-11 58 = floor tom rim
        "crash": (49, 57, 52, 55),  # crash 1, 2; TD-11 52 (crash 2 edge), 55 (crash 1 edge)
        "ride": (51, 59, 53),  # ride 1, 2, bell
    },
    drums=True,
)

#: Alternative spellings of drum class names (matched case-insensitively, after stripping).
LABEL_ALIASES: dict[str, str] = {
    "bd": "kick",
    "kd": "kick",
    "kick drum": "kick",
    "kickdrum": "kick",
    "bass drum": "kick",
    "sd": "snare",
    "snare drum": "snare",
    "snaredrum": "snare",
    "hh": "hihat",
    "hi-hat": "hihat",
    "hi hat": "hihat",
    "hat": "hihat",
    "hihats": "hihat",
    "toms": "tom",
    "tom-tom": "tom",
    "crash cymbal": "crash",
    "ride cymbal": "ride",
}


def as_class_map(value: ClassMap | Mapping[str, Iterable[int]] | str | None) -> ClassMap | None:
    """Coerce a class map given as a ClassMap, a dict or text (see :func:`parse_class_map`).

    A plain dict is taken as a drum map. None stays None.

    Examples
    --------
    >>> as_class_map({"kick": [36]}).drums
    True
    """
    if value is None or isinstance(value, ClassMap):
        return value
    if isinstance(value, str):
        return parse_class_map(value)
    if isinstance(value, Mapping):
        return ClassMap(value)
    raise ConfigError(f"a class map must be a mapping or text, not {type(value).__name__}")


def parse_class_map(text: str, *, drums: bool = True) -> ClassMap:
    """Parse ``"kick=36,35 snare=38,40 hihat=42,44,46"`` into a :class:`ClassMap`.

    Entries are separated by whitespace or ``;``; notes by ``,``. A note is a MIDI number or a
    pitch name (``C4``). An entry without ``=`` names a class of :data:`DEFAULT_DRUM_MAP` and takes
    its notes, so ``"kick snare hihat"`` selects three default classes.

    Parameters
    ----------
    text : str
        The class map text.
    drums : bool
        Whether the notes are GM drum notes (True) or pitches (False).

    Returns
    -------
    class_map : ClassMap

    Raises
    ------
    ConfigError
        On an empty map, a malformed entry, a bad note, a repeated class or a note in two classes.
        The message quotes the bad entry.

    Examples
    --------
    >>> parse_class_map("kick=36,35 snare=38")["kick"]
    (36, 35)
    """
    entries = [e for e in re.split(r"[\s;]+", text.strip()) if e]
    if not entries:
        raise ConfigError("class map is empty; expected e.g. 'kick=36,35 snare=38,40'")
    notes: dict[str, list[int]] = {}
    for entry in entries:
        name, sep, note_text = entry.partition("=")
        name = name.strip()
        if not name:
            raise ConfigError(f"class map entry {entry!r} has no class name; expected NAME=NOTE[,NOTE...]")
        if name.lower() in (n.lower() for n in notes):
            raise ConfigError(f"class map entry {entry!r}: class {name!r} is given twice")
        if not sep:
            default = DEFAULT_DRUM_MAP.find(name)
            if default is not None:
                notes[default] = list(DEFAULT_DRUM_MAP[default])
                continue
            raise ConfigError(
                f"class map entry {entry!r} has no notes; write {name}=NOTE[,NOTE...] "
                f"(classes with default notes: {', '.join(DRUM_CLASSES)})"
            )
        parsed: list[int] = []
        for item in note_text.split(","):
            item = item.strip()
            note = _parse_note(item)
            if note is None:
                raise ConfigError(
                    f"class map entry {entry!r}: {item!r} is not a MIDI note "
                    "(an integer 0..127 or a pitch name such as C4)"
                )
            parsed.append(note)
        notes[name] = parsed
    return ClassMap(notes, drums=drums)


def _parse_note(text: str) -> int | None:
    """A MIDI note from ``'38'`` or ``'C4'``; None when it is neither (or out of range)."""
    if re.fullmatch(r"[+-]?\d+", text):
        value = int(text)
        return value if 0 <= value <= 127 else None
    return parse_pitch(text)


def note_to_class(note: int, class_map: Mapping[str, Iterable[int]] | None = None) -> str | None:
    """Class of a MIDI note in a class map (default :data:`DEFAULT_DRUM_MAP`), or None.

    Examples
    --------
    >>> note_to_class(35), note_to_class(39)
    ('kick', None)
    """
    cm = as_class_map(class_map) if class_map is not None else DEFAULT_DRUM_MAP
    return cm.class_of(note)


def class_to_note(name: str, class_map: Mapping[str, Iterable[int]] | None = None) -> int:
    """Canonical (export) note of a class (default :data:`DEFAULT_DRUM_MAP`).

    Raises
    ------
    ConfigError
        If the class is not in the map; the message lists the classes.

    Examples
    --------
    >>> class_to_note("hihat")
    42
    """
    cm = as_class_map(class_map) if class_map is not None else DEFAULT_DRUM_MAP
    return cm.note_of(name)


def resolve_label(
    label: str, class_map: ClassMap | Mapping[str, Iterable[int]] | None = None
) -> tuple[str, int | None] | None:
    """Turn a label read from a file into ``(class, midi_note)``, or None if it is unknown.

    With a class map, a label resolves by, in order: the class name (any case); an alias from
    :data:`LABEL_ALIASES`; a MIDI note number in the map; for pitched maps, a pitch name whose
    note is in the map. Anything else is unknown (None). A class name gives the class's
    canonical note; a number or pitch keeps its own note.

    Without a class map nothing is unknown: drum names, aliases and GM numbers of
    :data:`DEFAULT_DRUM_MAP` become drum classes, pitch names are normalised (``c#4`` → ``C#4``)
    and other labels are kept in lower case with no note.

    Examples
    --------
    >>> resolve_label("HH"), resolve_label("46"), resolve_label("Clap")
    (('hihat', 42), ('hihat', 46), ('clap', None))
    """
    class_map = as_class_map(class_map)
    text = " ".join(label.split())  # strip and collapse inner whitespace
    key = text.lower()
    if class_map is None:
        found = resolve_label(text, DEFAULT_DRUM_MAP)
        if found is not None:
            return found
        pitch = parse_pitch(text)
        if pitch is not None:
            return pitch_label(pitch), pitch
        if re.fullmatch(r"\d+", text) and 0 <= int(text) <= 127:
            return text, int(text)
        return key, None
    found = class_map.find(key)
    if found is not None:
        return found, class_map[found][0]
    alias = class_map.find(LABEL_ALIASES.get(key, ""))
    if alias is not None:
        return alias, class_map[alias][0]
    if re.fullmatch(r"\d+", text):
        cls = class_map.class_of(int(text)) if int(text) <= 127 else None
        return (cls, int(text)) if cls is not None else None
    if not class_map.drums:
        pitch = parse_pitch(text)
        if pitch is not None:
            cls = class_map.class_of(pitch)
            return (cls, pitch) if cls is not None else None
    return None


_RANGE_RE = re.compile(r"\s*(\S+?)\s*\.\.\s*(\S+)\s*")


def expand_pitch_ranges(names: Iterable[str]) -> list[str]:
    """Class names with pitch ranges written out: ``["A0..C1"]`` → ``["A0", "A#0", "B0", "C1"]``.

    Lets a recipe name an 88-key model's classes as ``A0..C8``. Other names pass unchanged.

    Raises
    ------
    ConfigError
        If a range end is not a pitch name or the range runs downwards.

    Examples
    --------
    >>> expand_pitch_ranges(["kick", "C4..D4"])
    ['kick', 'C4', 'C#4', 'D4']
    """
    out: list[str] = []
    for name in names:
        match = _RANGE_RE.fullmatch(name)
        if match is None:
            out.append(name)
            continue
        low, high = (parse_pitch(end) for end in match.groups())
        if low is None or high is None or low > high:
            raise ConfigError(f"class range {name!r}: expected LOW..HIGH pitch names, e.g. A0..C8")
        out.extend(pitch_label(note) for note in range(low, high + 1))
    return out


def pitched_class_map(labels: Iterable[str]) -> ClassMap | None:
    """A pitched class map with one class per pitch name (``C4`` → note 60), or None when the
    labels are not distinct pitch names (a one-class ``onset`` model, say); see
    :func:`softloc_cli.pitches.pitch_notes`.

    Examples
    --------
    >>> pitched_class_map(["C4", "D4"])["D4"], pitched_class_map(["onset"])
    ((62,), None)
    """
    labels = list(labels)
    notes = pitch_notes(labels)
    if notes is None:
        return None
    return ClassMap({label: (note,) for label, note in zip(labels, notes, strict=True)}, drums=False)


def describe_classes(labels: list[str], *, limit: int = 12) -> str:
    """Class names for a listing: all of them, or ``88 pitches A0–C8`` for a multi-pitch model."""
    if len(labels) > limit and pitch_notes(labels) is not None:
        return f"{len(labels)} pitches {labels[0]}–{labels[-1]}"
    if len(labels) > limit:
        return ", ".join(labels[:limit]) + f" and {len(labels) - limit} more"
    return ", ".join(labels)
