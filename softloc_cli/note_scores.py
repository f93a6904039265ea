"""Note-level scores for multi-pitch models: ``mir_eval.transcription`` with onsets only.

A note is a hit when an estimated note of the same pitch (within 50 cents, i.e. the same MIDI
number here) starts within ``onset_tolerance`` of a reference note; offsets are ignored
(``offset_ratio=None``), as in the paper's piano experiment and MAPS onset scores. The models
detect onsets only, so intervals are given a nominal 0.1 s length, which onset-only scoring
never looks at. Files are pooled by summing counts (micro average), like :mod:`.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import AnnotationError
from .events import Event

NOMINAL_LENGTH_S = 0.1  # onset-only scoring ignores it; mir_eval needs intervals of positive length


@dataclass(frozen=True)
class NoteScores:
    """Counts of one file or of several pooled (sums), with mir_eval's P/R/F1 from them."""

    n_ref: int
    n_est: int
    tp: int
    n_files: int = 1

    @property
    def precision(self) -> float:
        return self.tp / self.n_est if self.n_est else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_ref if self.n_ref else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: NoteScores) -> NoteScores:
        return NoteScores(self.n_ref + other.n_ref, self.n_est + other.n_est, self.tp + other.tp,
                          self.n_files + other.n_files)

    def to_dict(self) -> dict[str, Any]:
        return {"n_ref": self.n_ref, "n_est": self.n_est, "tp": self.tp, "precision": round(self.precision, 5),
                "recall": round(self.recall, 5), "f1": round(self.f1, 5), "n_files": self.n_files}


def _notes(events: Sequence[Event], side: str) -> tuple[np.ndarray, np.ndarray]:
    import mir_eval

    missing = [e.label for e in events if e.midi_note is None]
    if missing:
        raise AnnotationError(f"{side} event {missing[0]!r} has no MIDI pitch; note-level scoring needs one per event")
    onsets = np.asarray([e.time_s for e in events], dtype=float).reshape(-1)
    intervals = np.stack([onsets, onsets + NOMINAL_LENGTH_S], axis=1) if len(events) else np.zeros((0, 2))
    pitches = mir_eval.util.midi_to_hz(np.asarray([e.midi_note for e in events], dtype=float))
    return intervals, pitches


def score_notes(reference: Sequence[Event], estimate: Sequence[Event], *, onset_tolerance: float = 0.05) -> NoteScores:
    """Pitch-aware onset matching of two note lists with ``mir_eval.transcription.match_notes``.

    Examples
    --------
    >>> s = score_notes([Event(1.0, "C4", 60)], [Event(1.02, "C4", 60), Event(1.0, "D4", 62)])
    >>> s.tp, s.precision, s.recall
    (1, 0.5, 1.0)
    """
    import mir_eval

    ref_intervals, ref_pitches = _notes(reference, "reference")
    est_intervals, est_pitches = _notes(estimate, "estimated")
    if len(reference) == 0 or len(estimate) == 0:
        return NoteScores(len(reference), len(estimate), 0)
    matched = mir_eval.transcription.match_notes(
        ref_intervals, ref_pitches, est_intervals, est_pitches, onset_tolerance=onset_tolerance, offset_ratio=None)
    return NoteScores(len(reference), len(estimate), len(matched))


def pool_notes(per_file: Sequence[NoteScores]) -> NoteScores | None:
    """Counts summed over files (None for no files)."""
    if not per_file:
        return None
    total = per_file[0]
    for scores in per_file[1:]:
        total = total + scores
    return total
