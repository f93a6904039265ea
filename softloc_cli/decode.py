"""Frame activations → events.

Conventions: activations are probabilities in [0, 1], shape ``(n_frames, n_classes)``, frame
``t`` centred at ``t / frame_rate_hz`` seconds. A SoftLoc model concentrates each event's mass
in one frame, so decoding is a threshold plus suppression of smaller neighbours; models trained
with frame-wise losses on noisy labels give broad, low peaks and want ``smooth_s > 0``.
Event times are refined below the frame grid by a parabola through the peak and its neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from .events import Event, sort_events


@dataclass
class DecodeConfig:
    threshold: float = 0.3  # default peak threshold; calibrated per class by `softloc train`
    class_thresholds: dict[str, float] = field(default_factory=dict)  # per-class overrides
    min_interval_s: float = 0.03  # 30 ms: two hits of one class closer than this are one hit (flams ≈ 30–50 ms)
    smooth_s: float = 0.0  # Gaussian smoothing std before peak picking (0 = off; ~0.02 for BCE on noisy labels)
    refine: str = "parabolic"  # "parabolic" | "none": sub-frame time refinement
    time_offset_s: float = 0.0  # added to every event time; calibrated on validation data

    def threshold_for(self, label: str) -> float:
        return self.class_thresholds.get(label, self.threshold)


def override_thresholds(decode: DecodeConfig, spec: str, labels: Sequence[str]) -> DecodeConfig:
    """Apply a ``--threshold`` value: ``0.4`` for every class (the tuned per-class thresholds are
    dropped), or ``hihat=0.3,snare=0.2`` for those classes only (the others keep theirs).

    Raises ``ValueError`` saying what is wrong with ``spec``.

    >>> override_thresholds(DecodeConfig(class_thresholds={"kick": 0.1}), "hihat=0.3", ["kick", "hihat"]).class_thresholds
    {'kick': 0.1, 'hihat': 0.3}
    """
    if "=" not in spec:
        return replace(decode, threshold=_probability(spec), class_thresholds={})
    thresholds = dict(decode.class_thresholds)
    for part in spec.split(","):
        name, _, value = (text.strip() for text in part.partition("="))
        if not name or not value:
            raise ValueError(f"expected CLASS=VALUE, got {part.strip()!r}")
        if name not in labels:
            shown = ", ".join(list(labels)[:12]) + (" ..." if len(labels) > 12 else "")
            raise ValueError(f"the model has no class {name!r} (classes: {shown})")
        thresholds[name] = _probability(value)
    return replace(decode, class_thresholds=thresholds)


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a number; give e.g. 0.4 or hihat=0.3") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{value:g} is outside 0–1")
    return value


def _smooth(column: np.ndarray, sigma_frames: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(column, sigma_frames, mode="constant")


def pick_peaks(column: np.ndarray, *, threshold: float, min_distance: int) -> np.ndarray:
    """Frames that reach ``threshold`` and are the largest value within ±``min_distance`` frames.

    A plateau (equal maxima on neighbouring frames, however long) gives one peak, at its middle
    frame (the first of the two middle frames when its length is even).
    """
    from scipy.ndimage import maximum_filter1d

    window = 2 * max(min_distance, 1) + 1
    local_max = maximum_filter1d(column, size=window, mode="constant", cval=-np.inf)
    candidates = np.flatnonzero((column >= threshold) & (column >= local_max))
    if candidates.size:
        # adjacent candidates are equal (each is the maximum of the other's window): one plateau
        runs = np.split(candidates, np.flatnonzero(np.diff(candidates) > 1) + 1)
        candidates = np.asarray([run[(len(run) - 1) // 2] for run in runs], dtype=int)
    kept: list[int] = []
    for frame in candidates:
        if not kept or frame - kept[-1] > min_distance:
            kept.append(int(frame))
    return np.asarray(kept, dtype=int)


def suppression_radius(min_interval_s: float, frame_rate_hz: float) -> int:
    """Frames on either side of a peak within which a smaller peak is the same hit.

    Peaks *closer* than ``min_interval_s`` are one hit; two peaks exactly that far apart are
    two, as two reference onsets 30 ms apart are two onsets for the evaluation (which merges
    closer ones). At 100 frames/s, 30 ms gives 2: peaks 3 frames apart are both kept.

    >>> suppression_radius(0.03, 100.0), suppression_radius(0.025, 100.0), suppression_radius(0.0, 100.0)
    (2, 2, 1)
    """
    frames = int(np.ceil(min_interval_s * frame_rate_hz - 1e-9))
    return max(1, frames - 1)


def refine_parabolic(column: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Sub-frame offset in [-0.5, 0.5] of each peak from a parabola through three frames."""
    padded = np.pad(column, 1)
    left, centre, right = padded[peaks], padded[peaks + 1], padded[peaks + 2]
    curvature = left - 2 * centre + right
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
    return np.clip(offset, -0.5, 0.5)


def velocity_from_mass(column: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """MIDI velocity 1..127 from the activation mass in the peak frame and its two neighbours.

    A confident, concentrated hit has mass ≈ 1 and maps to 127; weak detections map lower.
    """
    padded = np.pad(column, 1)
    mass = padded[peaks] + padded[peaks + 1] + padded[peaks + 2]
    return np.clip(np.rint(1 + 126 * np.minimum(mass, 1.0)), 1, 127).astype(int)


def decode_activations(
    activations: np.ndarray,
    *,
    frame_rate_hz: float,
    labels: list[str],
    midi_notes: list[int | None] | None = None,
    config: DecodeConfig | None = None,
) -> list[Event]:
    """Turn activations into events.

    Parameters
    ----------
    activations : np.ndarray [shape=(n_frames, n_classes)], values in [0, 1]
    frame_rate_hz : float > 0
    labels : list of str, one per class
    midi_notes : list of int or None, one per class (GM note or pitch written to MIDI)
    config : DecodeConfig, thresholds, smoothing, refinement and offset

    Returns
    -------
    events : list of Event, sorted by time; empty when nothing reaches the threshold.

    Examples
    --------
    >>> acts = np.zeros((100, 1)); acts[50, 0] = 0.9
    >>> decode_activations(acts, frame_rate_hz=100.0, labels=["onset"])[0].time_s
    0.5
    """
    config = config or DecodeConfig()
    activations = np.asarray(activations, dtype=np.float64)
    if activations.ndim != 2 or activations.shape[1] != len(labels):
        raise ValueError(f"activations shape {activations.shape} does not match {len(labels)} labels")
    midi_notes = midi_notes or [None] * len(labels)
    min_distance = suppression_radius(config.min_interval_s, frame_rate_hz)
    events: list[Event] = []
    for index, label in enumerate(labels):
        column = activations[:, index]
        if config.smooth_s > 0:
            column = _smooth(column, config.smooth_s * frame_rate_hz)
        peaks = pick_peaks(column, threshold=config.threshold_for(label), min_distance=min_distance)
        if peaks.size == 0:
            continue
        offsets = refine_parabolic(column, peaks) if config.refine == "parabolic" else np.zeros(len(peaks))
        times = (peaks + offsets) / frame_rate_hz + config.time_offset_s
        velocities = velocity_from_mass(column, peaks)
        events += [
            Event(time_s=round(float(t), 6), label=label, midi_note=midi_notes[index], velocity=int(v))
            for t, v in zip(times, velocities)
            if t >= 0
        ]
    return sort_events(events)
