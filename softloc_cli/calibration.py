"""Decode settings tuned on annotated audio: per-class thresholds, smoothing and time offset.

Used at the end of ``softloc train`` and by ``softloc models calibrate``. Thresholds tuned on one
kind of audio do not carry to another, so a handful of annotated takes of the user's own material
is the cheapest adaptation there is.

Two rules pick a class's threshold:

- ``"f1"`` (exact annotations): the best F1 within the matching window.
- ``"count"`` (loose taps): the detected count closest to the tapped count. Taps say *how many*
  hits there are far better than *where*, and F1 against taps falls for every threshold alike.

Either way a threshold is read off a plateau, not a point: impulse-like outputs score the same from
0.02 to 0.5, and taking the first grid value of such a plateau stored 0.02 for snare and hi-hat
after fine-tuning on taps (extra hits on new audio). The base threshold is kept whenever it scores
within the plateau's tolerance; otherwise the plateau's middle is taken.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .checkpoint import WEIGHTS_NAME, CheckpointConfig, write_config
from .classmap import pitched_class_map
from .data import find_entries, load_tracks
from .decode import DecodeConfig, decode_activations
from .errors import ConfigError
from .events import Event
from .inference import LoadedModel, activations_from_logmel
from .metrics import PooledScores, pool_scores, score_events

THRESHOLD_GRID = [0.02, 0.03, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
SMOOTH_GRID_S = [0.0, 0.01, 0.02]  # 0 suits impulse-like outputs; 10–20 ms suits broad BCE peaks
MIN_CALIBRATION_EVENTS = 30  # fewer events of a class than this: keep its current threshold
F1_PLATEAU = 0.005  # thresholds scoring within this of the best F1 are equally supported
COUNT_PLATEAU = 0.02  # ... or whose count is within 2% of the best count match
RULES = ("f1", "count")


def score_decoded(activations: list[np.ndarray], references: list[list[Event]], *, labels: list[str],
                  frame_rate_hz: float, decode: DecodeConfig, window_s: float) -> PooledScores:
    """Pooled scores of decoded activations against reference events."""
    per_file = []
    for acts, ref in zip(activations, references):
        est = decode_activations(acts, frame_rate_hz=frame_rate_hz, labels=labels, config=decode)
        per_file.append(score_events(ref, est, window_s=window_s, classes=labels))
    return pool_scores(per_file)


def calibrate(activations, references, *, labels, frame_rate_hz, base: DecodeConfig, window_s: float,
              smooth_grid: list[float] | None = None, offset: bool = True, rule: str = "f1") -> DecodeConfig:
    """Per-class thresholds, one smoothing width and a global time offset for these files.

    Thresholds follow ``rule`` (see the module docstring); the smoothing maximises pooled F1;
    the offset is minus the median deviation of matched hits (kept from ``base`` when
    ``offset=False``: loose taps cannot place it).

    A class with fewer than ``MIN_CALIBRATION_EVENTS`` events cannot pin its own threshold down:
    it keeps its threshold in ``base`` (for fine-tuning: the initial model's) or, without one,
    gets the single threshold that suits all classes together (the rarely played outer keys of a
    piano model).
    """
    if rule not in RULES:
        raise ValueError(f"unknown calibration rule {rule!r}; rules are {', '.join(RULES)}")
    counts = {label: sum(1 for ref in references for e in ref if e.label == label) for label in labels}
    rare = [label for label in labels if counts[label] < MIN_CALIBRATION_EVENTS]
    best_total, best = -1.0, base
    for smooth_s in smooth_grid if smooth_grid is not None else SMOOTH_GRID_S:
        plain = replace(base, class_thresholds={}, smooth_s=smooth_s, time_offset_s=0.0)
        default = base.threshold
        if any(label not in base.class_thresholds for label in rare):
            default = pick_threshold(activations, references, labels=labels, frame_rate_hz=frame_rate_hz,
                                     decode=plain, window_s=window_s, rule=rule, base_threshold=base.threshold)
        thresholds = {label: base.class_thresholds[label] for label in rare if label in base.class_thresholds}
        for label in labels:
            if label not in rare:
                index = labels.index(label)
                thresholds[label] = pick_threshold(
                    [a[:, index : index + 1] for a in activations],
                    [[e for e in ref if e.label == label] for ref in references], labels=[label],
                    frame_rate_hz=frame_rate_hz, decode=plain, window_s=window_s, rule=rule,
                    base_threshold=base.threshold_for(label))
        candidate = replace(base, threshold=default, class_thresholds=thresholds, smooth_s=smooth_s, time_offset_s=0.0)
        total = score_decoded(activations, references, labels=labels, frame_rate_hz=frame_rate_hz,
                              decode=candidate, window_s=window_s).pooled.overall.f1
        if total > best_total:
            best_total, best = total, candidate
    if not offset:
        return replace(best, time_offset_s=base.time_offset_s)
    scores = score_decoded(activations, references, labels=labels, frame_rate_hz=frame_rate_hz, decode=best,
                           window_s=window_s)
    median = scores.pooled.overall.median_dev_s
    return replace(best, time_offset_s=round(-(median or 0.0), 4))


def pick_threshold(activations, references, *, labels, frame_rate_hz, decode: DecodeConfig, window_s: float,
                   rule: str = "f1", base_threshold: float | None = None) -> float:
    """One threshold of ``THRESHOLD_GRID`` for every class in ``labels``, read off the plateau of
    near-best values of ``rule``: ``base_threshold`` when it lies on it, else the plateau's middle."""
    n_ref = sum(len(ref) for ref in references)

    def quality(threshold: float) -> float:  # higher is better
        candidate = replace(decode, threshold=threshold)
        if rule == "count":
            return -abs(_count_detections(activations, labels, frame_rate_hz, candidate) - n_ref) / max(1, n_ref)
        return score_decoded(activations, references, labels=labels, frame_rate_hz=frame_rate_hz, decode=candidate,
                             window_s=window_s).pooled.overall.f1

    values = np.array([quality(t) for t in THRESHOLD_GRID])
    floor = values.max() - (COUNT_PLATEAU if rule == "count" else F1_PLATEAU)
    if base_threshold is not None:
        on_grid = base_threshold in THRESHOLD_GRID
        if (values[THRESHOLD_GRID.index(base_threshold)] if on_grid else quality(base_threshold)) >= floor:
            return float(base_threshold)
    return THRESHOLD_GRID[_plateau_middle(values >= floor)]


def _plateau_middle(supported: np.ndarray) -> int:
    """Index of the middle of the longest run of True in ``supported`` (ties: the lower run)."""
    best_start, best_length, start = 0, 0, None
    for index, ok in enumerate(list(supported) + [False]):
        if ok and start is None:
            start = index
        elif not ok and start is not None:
            if index - start > best_length:
                best_start, best_length = start, index - start
            start = None
    return best_start + (best_length - 1) // 2


def _count_detections(activations, labels, frame_rate_hz: float, decode: DecodeConfig) -> int:
    return sum(len(decode_activations(a, frame_rate_hz=frame_rate_hz, labels=labels, config=decode))
               for a in activations)


def peak_mass_share(activations: list[np.ndarray], references: list[list[Event]], *, labels: list[str],
                    frame_rate_hz: float, radius: int = 5) -> float | None:
    """Median over reference hits of the share of activation mass (±``radius`` frames) lying in
    the peak frame: 1.0 means impulse-like outputs (mass convergence), ≈ 0.2 a smeared bump."""
    shares = []
    for acts, ref in zip(activations, references):
        for event in ref:
            column = acts[:, labels.index(event.label)]
            centre = int(round(event.time_s * frame_rate_hz))
            window = column[max(0, centre - radius) : centre + radius + 1]
            if window.size and window.sum() > 0.1:
                shares.append(float(window.max() / window.sum()))
    return float(np.median(shares)) if shares else None


@dataclass
class Calibration:
    decode: DecodeConfig
    before: PooledScores  # with the model's stored decode settings
    after: PooledScores  # with the tuned ones
    files: int


def calibrate_model(model: LoadedModel, data: str | Path, *, window_s: float = 0.05, offset: bool = True,
                    fresh: bool = False, rule: str = "f1") -> Calibration:
    """Tune ``model``'s decode on the annotated audio in ``data`` (folder or manifest CSV).

    Classes with too few annotated events there keep the model's thresholds; ``fresh=True``
    drops those first (they get the threshold tuned on all classes together), for re-tuning a
    model on a full validation set after the calibration rule changed.

    ``offset=False`` keeps the stored time offset and ``rule="count"`` matches counts instead of
    F1 (use both when the annotations are loose taps). With ``rule="f1"`` the result never scores
    below the stored settings on ``data``.
    """
    config = model.config
    labels, rate = config.labels, config.features.frame_rate_hz
    tracks, _ = load_tracks(find_entries(data), classes=labels, feature_module=model.features,
                            class_map=pitched_class_map(labels) if config.pitched else None,
                            require_every_class=False)
    activations = [activations_from_logmel(model.net, t.logmel, model.device, frame_rate_hz=rate) for t in tracks]
    references = [t.events for t in tracks]
    before = score_decoded(activations, references, labels=labels, frame_rate_hz=rate, decode=config.decode,
                           window_s=window_s)
    base = replace(config.decode, class_thresholds={}) if fresh else config.decode
    decode = calibrate(activations, references, labels=labels, frame_rate_hz=rate, window_s=window_s, base=base,
                       offset=offset, rule=rule)
    after = score_decoded(activations, references, labels=labels, frame_rate_hz=rate, decode=decode, window_s=window_s)
    if rule == "f1" and after.pooled.overall.f1 < before.pooled.overall.f1:  # the grid missed the stored values
        decode, after = config.decode, before
    return Calibration(decode, before, after, len(tracks))


def check_new_directory(output: str | Path) -> None:
    """Refuse to write a model over anything that is already there (checked before the work)."""
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ConfigError(f"{output} exists and is not empty; choose a new directory")


def save_calibrated(model: LoadedModel, calibration: Calibration, output: str | Path, *, data: str) -> Path:
    """Write ``model`` with the tuned decode into a new directory ``output`` (all or nothing)."""
    output = Path(output)
    check_new_directory(output)
    config: CheckpointConfig = replace(
        model.config, decode=calibration.decode,
        scores={**model.config.scores, "calibration": {"data": str(data), "files": calibration.files,
                                                        "before": calibration.before.to_dict(),
                                                        "after": calibration.after.to_dict()}},
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        shutil.copyfile(model.directory / WEIGHTS_NAME, staging / WEIGHTS_NAME)
        write_config(staging, config)
        if output.exists():
            output.rmdir()
        staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output
