"""The event: one detected or annotated hit.

Conventions: times are in seconds from the start of the audio; ``label`` is a class name
(``kick``, ``snare``, ``hihat``, ``onset``, or a pitch name such as ``C4`` for piano models);
``midi_note`` is the GM drum note or the pitch; ``velocity`` is a MIDI velocity 1..127.
Lists of events are kept sorted by time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Event:
    time_s: float
    label: str
    midi_note: int | None = None
    velocity: int = 100


def sort_events(events: list[Event]) -> list[Event]:
    """Events ordered by time, then label, so outputs are deterministic."""
    return sorted(events, key=lambda e: (e.time_s, e.label))


def times_by_label(events: list[Event]) -> dict[str, np.ndarray]:
    """Onset times (seconds, increasing) grouped by label."""
    grouped: dict[str, list[float]] = {}
    for event in events:
        grouped.setdefault(event.label, []).append(event.time_s)
    return {label: np.sort(np.asarray(times, dtype=float)) for label, times in grouped.items()}
