"""Pitch names ↔ MIDI notes, with no other dependency (checkpoint and class-map code both use it).

Conventions: scientific pitch notation with middle C = ``C4`` = MIDI 60, written with sharps
(``C#4``); flats, ``♯``/``♭`` and lower case are accepted on input (``Db4``, ``c#4``). Notes are
MIDI numbers 0..127 (``C-1``..``G9``); the 88 piano keys are ``A0`` (21) .. ``C8`` (108).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import AnnotationError

__all__ = ["label_to_pitch", "parse_pitch", "pitch_label", "pitch_notes"]

_PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_PITCH_RE = re.compile(r"([A-Ga-g])([#♯b♭]{0,2})(-?\d+)")


def pitch_label(midi: int) -> str:
    """Scientific pitch name of a MIDI note: 60 → ``"C4"``, 61 → ``"C#4"``, 21 → ``"A0"``.

    Raises
    ------
    AnnotationError
        If ``midi`` is outside 0..127.

    Examples
    --------
    >>> pitch_label(60), pitch_label(70)
    ('C4', 'A#4')
    """
    if not 0 <= int(midi) <= 127:
        raise AnnotationError(f"MIDI note {midi} must be in 0..127")
    midi = int(midi)
    return f"{_PITCH_CLASSES[midi % 12]}{midi // 12 - 1}"


def parse_pitch(label: str) -> int | None:
    """MIDI note of a pitch name, or None when ``label`` is not one (or is outside 0..127).

    Examples
    --------
    >>> parse_pitch("C4"), parse_pitch("bb3"), parse_pitch("kick")
    (60, 58, None)
    """
    match = _PITCH_RE.fullmatch(label.strip())
    if not match:
        return None
    letter, accidentals, octave = match.groups()
    value = _STEPS[letter.upper()] + (int(octave) + 1) * 12
    value += sum(1 if a in "#♯" else -1 for a in accidentals)
    return value if 0 <= value <= 127 else None


def label_to_pitch(label: str) -> int:
    """MIDI note of a pitch name (inverse of :func:`pitch_label`; flats and lower case accepted).

    Raises
    ------
    AnnotationError
        If ``label`` is not a pitch name in MIDI range.

    Examples
    --------
    >>> label_to_pitch("C4"), label_to_pitch("Db4")
    (60, 61)
    """
    value = parse_pitch(label)
    if value is None:
        raise AnnotationError(
            f"{label!r} is not a pitch name in MIDI range (expected e.g. C4, F#2, Bb3; C-1..G9)"
        )
    return value


def pitch_notes(labels: Iterable[str]) -> list[int] | None:
    """The MIDI notes of class names that are all distinct pitch names, else None.

    This is what makes a model multi-pitch (one class per key): ``["A0", "A#0"]`` → ``[21, 22]``;
    a one-class ``onset`` model, drum names, no labels or two names of one note give None.

    Examples
    --------
    >>> pitch_notes(["C4", "C#4"]), pitch_notes(["onset"]), pitch_notes(["C#4", "Db4"])
    ([60, 61], None, None)
    """
    notes = [parse_pitch(label) for label in labels]
    if not notes or None in notes or len(set(notes)) != len(notes):
        return None
    return notes  # type: ignore[return-value]  (None was ruled out above)
