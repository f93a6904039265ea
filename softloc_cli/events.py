"""The event: one detected or annotated hit.

Conventions: times are in seconds from the start of the audio; ``label`` is a class name
(``kick``, ``snare``, ``hihat``, ``onset``, or a pitch name such as ``C4`` for piano models);
``midi_note`` is the GM drum note or the pitch; ``velocity`` is a MIDI velocity 1..127.
Lists of events are kept sorted by time.

Merged (class-agnostic) onsets all carry the one label :data:`ONSET_CLASS`, and hits closer than
:data:`ONSET_COMBINE_S` are one onset (:func:`merge_labels`): training a one-class model,
``softloc evaluate --merge-classes`` and ``scripts/eval_models.py`` use this one rule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

#: The one class of class-agnostic onsets (one-class models, ``--merge-classes``).
ONSET_CLASS = "onset"
#: Merged onsets closer than this (seconds) are one onset: a chord, or a kick and a hi-hat struck
#: together, is one annotated onset in onset datasets (30 ms, madmom's ``combine`` default).
ONSET_COMBINE_S = 0.03


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


def merge_labels(events: Iterable[Event], label: str = ONSET_CLASS, *,
                 combine_within_s: float = ONSET_COMBINE_S) -> list[Event]:
    """Give every event the same label, for class-agnostic onsets.

    Parameters
    ----------
    events : iterable of Event
    label : str
        The one label (default :data:`ONSET_CLASS`, ``"onset"``).
    combine_within_s : float >= 0
        An event closer than this to the previous kept event is dropped, so hits of several
        classes at one instant (kick + hi-hat) count as one onset. Default
        :data:`ONSET_COMBINE_S` (0.03 s); 0 keeps every event, as plain mir_eval does.

    Returns
    -------
    events : list of Event
        Sorted by time, without MIDI notes.

    Examples
    --------
    >>> merge_labels([Event(1.0, "kick"), Event(1.001, "hihat")])
    [Event(time_s=1.0, label='onset', midi_note=None, velocity=100)]
    """
    merged: list[Event] = []
    for e in sorted(events, key=lambda e: e.time_s):
        if combine_within_s > 0 and merged and e.time_s - merged[-1].time_s < combine_within_s:
            continue
        merged.append(Event(e.time_s, label, None, e.velocity))
    return merged


def select_labels(events: Iterable[Event], classes: Sequence[str]) -> tuple[list[Event], Counter]:
    """Events whose label is one of ``classes`` (case-insensitive, renamed to the spelling in
    ``classes``), and the count of events left out per label.

    Examples
    --------
    >>> select_labels([Event(1.0, "Kick"), Event(1.5, "crash")], ["kick"])
    ([Event(time_s=1.0, label='kick', midi_note=None, velocity=100)], Counter({'crash': 1}))
    """
    wanted = {c.lower(): c for c in classes}
    kept, left_out = [], Counter()
    for e in events:
        name = wanted.get(e.label.lower())
        if name is None:
            left_out[e.label] += 1
        else:
            kept.append(Event(e.time_s, name, e.midi_note, e.velocity))
    return kept, left_out
