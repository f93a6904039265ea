"""Score estimated events against reference events: mir_eval onset F-measure, per class.

Conventions
-----------
- Onset times are in seconds; each class's times are sorted into increasing order here, as
  ``mir_eval.onset`` expects.
- An estimate is a hit when ``|est - ref| <= window_s`` (default 0.05 s, the usual onset
  tolerance) and each event is matched at most once; the matching is maximal
  (``mir_eval.util.match_events``). The window is widened by 1 ns (``EPS_S``) so that a deviation
  of exactly ``window_s`` written in decimal is a hit whatever the binary rounding (in floats,
  ``1.05 - 1.0 > 0.05``, and plain mir_eval calls that a miss).
- Per class: ``TP`` = matches, ``FP = n_est - TP``, ``FN = n_ref - TP``;
  ``P = TP / n_est``, ``R = TP / n_ref``, ``F = 2PR / (P + R)``, exactly mir_eval's
  ``onset.f_measure``. As in mir_eval, P = R = F = 0 when either side is empty, and also when
  both are. A class with no events on either side is *absent* from that file: it is left out of
  the per-file means of :func:`pool_scores` (pooled counts are unaffected).
- ``overall`` pools the classes (sums of counts, a micro average).
- Class-agnostic scores (:func:`score_onsets`) merge every label into ``onset`` with
  :func:`softloc_cli.events.merge_labels`: hits closer than 30 ms are one onset.
- Timing: for matched pairs, the deviation ``est - ref`` in seconds (positive = estimate late);
  mean, median and population standard deviation, or None without matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .classmap import DRUM_CLASSES
from .errors import AnnotationError
from .events import ONSET_CLASS, ONSET_COMBINE_S, Event, merge_labels
from .pitches import parse_pitch

__all__ = [
    "ClassScores",
    "EPS_S",
    "PooledScores",
    "Scores",
    "merge_labels",  # re-exported from softloc_cli.events, where it lives
    "order_classes",
    "pool_scores",
    "score_events",
    "score_onsets",
    "scores_rows",
]

#: Added to the window so decimal-exact edge deviations count as hits (see module docstring).
EPS_S = 1e-9
#: mir_eval's largest valid event time (seconds); larger ones are probably milliseconds.
MAX_TIME_S = 30_000.0


@dataclass(frozen=True)
class ClassScores:
    """Counts, scores and timing of one class (or of all classes pooled).

    Attributes
    ----------
    n_ref, n_est, tp : int
        Reference events, estimated events, matched pairs.
    deviations_s : np.ndarray [shape=(tp,)]
        ``est - ref`` of each matched pair, seconds (not in :meth:`to_dict`).
    """

    n_ref: int
    n_est: int
    tp: int
    deviations_s: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False,
                                     compare=False)

    @property
    def fp(self) -> int:
        return self.n_est - self.tp

    @property
    def fn(self) -> int:
        return self.n_ref - self.tp

    @property
    def present(self) -> bool:
        """Whether the class has any event on either side."""
        return self.n_ref + self.n_est > 0

    @property
    def precision(self) -> float:
        return self.tp / self.n_est if self.n_est and self.n_ref else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_ref if self.n_est and self.n_ref else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    @property
    def mean_dev_s(self) -> float | None:
        return float(np.mean(self.deviations_s)) if self.tp else None

    @property
    def median_dev_s(self) -> float | None:
        return float(np.median(self.deviations_s)) if self.tp else None

    @property
    def std_dev_s(self) -> float | None:
        return float(np.std(self.deviations_s)) if self.tp else None

    @classmethod
    def combine(cls, parts: Iterable[ClassScores]) -> ClassScores:
        """Pool several scores: counts summed, deviations concatenated."""
        parts = list(parts)
        return cls(
            n_ref=sum(p.n_ref for p in parts),
            n_est=sum(p.n_est for p in parts),
            tp=sum(p.tp for p in parts),
            deviations_s=np.concatenate([p.deviations_s for p in parts]) if parts
            else np.zeros(0),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts, P/R/F and timing (seconds; None without matches)."""
        return {
            "n_ref": self.n_ref, "n_est": self.n_est,
            "tp": self.tp, "fp": self.fp, "fn": self.fn,
            "precision": self.precision, "recall": self.recall, "f1": self.f1,
            "mean_dev_s": self.mean_dev_s, "median_dev_s": self.median_dev_s,
            "std_dev_s": self.std_dev_s,
        }


@dataclass(frozen=True)
class Scores:
    """Scores of one estimate against one reference.

    Attributes
    ----------
    window_s : float
        Matching tolerance used, seconds.
    classes : dict of str to ClassScores
        Per class, in report order.
    """

    window_s: float
    classes: dict[str, ClassScores]

    @property
    def overall(self) -> ClassScores:
        """All classes pooled (micro average)."""
        return ClassScores.combine(self.classes.values())

    def to_dict(self) -> dict[str, Any]:
        """``{"window_s", "classes": {name: {...}}, "overall": {...}}``, JSON-ready."""
        return {
            "window_s": self.window_s,
            "classes": {name: s.to_dict() for name, s in self.classes.items()},
            "overall": self.overall.to_dict(),
        }


@dataclass(frozen=True)
class PooledScores:
    """Scores of many files: pooled counts, and the mean of per-file scores.

    Attributes
    ----------
    pooled : Scores
        Counts summed over files, per class and overall; the headline numbers.
    mean_per_file : dict of str to dict
        Per class and ``"overall"``: mean ``precision``, ``recall``, ``f1`` over the files where
        the class is present (has events on either side), and that number of files ``n_files``.
    n_files : int
    """

    pooled: Scores
    mean_per_file: dict[str, dict[str, float]]
    n_files: int

    @property
    def window_s(self) -> float:
        return self.pooled.window_s

    def to_dict(self) -> dict[str, Any]:
        return {**self.pooled.to_dict(), "n_files": self.n_files,
                "mean_per_file": self.mean_per_file}


def order_classes(labels: Iterable[str]) -> list[str]:
    """The distinct labels in report order: drum classes in model order first, then pitch names
    from low to high, then the rest alphabetically.

    Examples
    --------
    >>> order_classes(["tom", "snare", "kick", "snare"]), order_classes(["D4", "A#3", "C4"])
    (['kick', 'snare', 'tom'], ['A#3', 'C4', 'D4'])
    """
    rank = {name: i for i, name in enumerate(DRUM_CLASSES)}

    def key(name: str) -> tuple[int, int, str]:
        if name in rank:
            return 0, rank[name], name
        pitch = parse_pitch(name)
        return (1, pitch, name) if pitch is not None else (2, 0, name)

    return sorted(set(labels), key=key)


def _times(events: Iterable[Event], label: str, side: str) -> np.ndarray:
    times = np.sort(np.asarray([e.time_s for e in events if e.label == label], dtype=float))
    bad = ~np.isfinite(times) | (times < 0) | (times > MAX_TIME_S)
    if bad.any():
        raise AnnotationError(
            f"{side} time {times[bad][0]} for {label!r} is not in 0..{MAX_TIME_S:.0f} s "
            "(did you supply event times in seconds?)")
    return times


def _score_times(ref: np.ndarray, est: np.ndarray, window_s: float) -> ClassScores:
    if ref.size == 0 or est.size == 0:  # mir_eval would warn and return 0s
        return ClassScores(int(ref.size), int(est.size), 0)
    import mir_eval  # imported here: pulls in scipy

    matching = mir_eval.util.match_events(ref, est, window_s + EPS_S)
    deviations = np.asarray([est[j] - ref[i] for i, j in matching], dtype=float)
    return ClassScores(int(ref.size), int(est.size), len(matching), deviations)


def score_events(reference: Sequence[Event], estimate: Sequence[Event], *,
                 window_s: float = 0.05, classes: Iterable[str] | None = None) -> Scores:
    """Per-class precision, recall, F1 and timing of estimated against reference events.

    Parameters
    ----------
    reference, estimate : sequence of Event
        Any order. Events are compared only with events of the same label.
    window_s : float > 0
        Matching tolerance in seconds (default 0.05, the mir_eval onset default).
    classes : iterable of str, optional
        Classes to score, in report order; events with other labels are ignored, and a listed
        class with no events is reported with zero counts. Default: every label present, drum
        classes first.

    Returns
    -------
    scores : Scores

    Raises
    ------
    ValueError
        If ``window_s`` is not positive.
    AnnotationError
        If a time is negative, not finite, or over 30,000 s.

    Examples
    --------
    >>> s = score_events([Event(1.0, "kick")], [Event(1.02, "kick"), Event(2.0, "snare")])
    >>> s.classes["kick"].f1, s.overall.precision
    (1.0, 0.5)
    """
    if not window_s > 0:
        raise ValueError(f"window_s={window_s} must be > 0 seconds")
    reference, estimate = list(reference), list(estimate)
    if classes is None:
        names = order_classes(e.label for e in [*reference, *estimate])
    else:
        names = list(dict.fromkeys(classes))
    return Scores(
        window_s=float(window_s),
        classes={name: _score_times(_times(reference, name, "reference"),
                                    _times(estimate, name, "estimated"), window_s)
                 for name in names},
    )


def score_onsets(reference: Sequence[Event], estimate: Sequence[Event], *,
                 window_s: float = 0.05, combine_within_s: float = ONSET_COMBINE_S) -> Scores:
    """Class-agnostic scores: all labels merged into one class ``"onset"`` by
    :func:`softloc_cli.events.merge_labels`, hits closer than ``combine_within_s`` (default
    0.03 s) being one onset; ``combine_within_s=0`` keeps every hit, as plain mir_eval does.

    See :func:`score_events`.

    Examples
    --------
    >>> score_onsets([Event(1.0, "onset")], [Event(1.01, "kick"), Event(1.012, "hihat")]).overall.f1
    1.0
    """
    return score_events(merge_labels(reference, combine_within_s=combine_within_s),
                        merge_labels(estimate, combine_within_s=combine_within_s),
                        window_s=window_s, classes=[ONSET_CLASS])


def pool_scores(per_file: Sequence[Scores]) -> PooledScores:
    """Combine the scores of several files.

    Parameters
    ----------
    per_file : sequence of Scores
        One per file, all with the same ``window_s``.

    Returns
    -------
    pooled : PooledScores
        Pooled counts per class and overall (the headline numbers), and per-file means over the
        files where each class is present.

    Raises
    ------
    ValueError
        If the files were scored with different windows.

    Examples
    --------
    >>> pool_scores([score_events(ref_a, est_a), score_events(ref_b, est_b)]).pooled.overall.f1
    0.91
    """
    windows = {s.window_s for s in per_file}
    if len(windows) > 1:
        raise ValueError(f"cannot pool scores with different windows: {sorted(windows)}")
    window_s = windows.pop() if windows else 0.05
    names = list(dict.fromkeys(name for s in per_file for name in s.classes))
    pooled = Scores(window_s, {
        name: ClassScores.combine(s.classes[name] for s in per_file if name in s.classes)
        for name in names})

    def mean(parts: list[ClassScores]) -> dict[str, float]:
        present = [p for p in parts if p.present]
        if not present:
            return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "n_files": 0}
        return {"precision": float(np.mean([p.precision for p in present])),
                "recall": float(np.mean([p.recall for p in present])),
                "f1": float(np.mean([p.f1 for p in present])),
                "n_files": len(present)}

    mean_per_file = {name: mean([s.classes[name] for s in per_file if name in s.classes])
                     for name in names}
    mean_per_file["overall"] = mean([s.overall for s in per_file])
    return PooledScores(pooled, mean_per_file, len(per_file))


def scores_rows(scores: Scores | PooledScores) -> list[dict[str, Any]]:
    """Table rows: one per class, then ``"overall"``; keys as :meth:`ClassScores.to_dict` plus
    ``"class"`` first, and for pooled scores ``"file_mean_f1"``.

    Examples
    --------
    >>> [row["class"] for row in scores_rows(score_events(ref, est))]
    ['kick', 'snare', 'overall']
    """
    pooled = scores.pooled if isinstance(scores, PooledScores) else scores
    items: list[tuple[str, ClassScores]] = [*pooled.classes.items(), ("overall", pooled.overall)]
    rows = []
    for name, s in items:
        row = {"class": name, **s.to_dict()}
        if isinstance(scores, PooledScores):
            row["file_mean_f1"] = scores.mean_per_file[name]["f1"]
        rows.append(row)
    return rows
