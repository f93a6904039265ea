"""Snapping loose taps onto a base model's detections (softloc_cli.tap_snap)."""

from __future__ import annotations

import numpy as np

from softloc_cli.events import Event
from softloc_cli.tap_snap import MAX_BLOCK, snap_events, snap_times


def sixteenth_hats(n: int, *, period_s: float = 0.125, start_s: float = 0.5) -> np.ndarray:
    return start_s + period_s * np.arange(n)


def test_dense_hihats_snap_one_to_one():
    """16th-note hi-hats 125 ms apart, taps σ = 50 ms off: a nearest-detection rule piles taps onto
    the same hit; the matching moves most taps onto their own hit and uses each hit once."""
    rng = np.random.default_rng(0)
    truth = sixteenth_hats(300)
    detections = truth + rng.normal(0, 0.002, len(truth))
    taps = truth + rng.normal(0, 0.050, len(truth))
    times, snapped = snap_times(taps, detections, max_offset_s=0.1)
    on_a_hit = np.min(np.abs(times[:, None] - detections[None, :]), axis=1) < 1e-9
    assert np.array_equal(on_a_hit, snapped)
    assert snapped.mean() > 0.9
    assert len(np.unique(times[snapped])) == snapped.sum()  # no hit used twice
    # the rule this replaces: many hits would get two taps
    nearest = detections[np.argmin(np.abs(taps[:, None] - detections[None, :]), axis=1)]
    assert len(np.unique(nearest)) < 0.9 * len(nearest)


def test_far_taps_and_unknown_labels_keep_their_time():
    taps = [Event(1.0, "kick", 36, 90), Event(2.0, "kick"), Event(1.02, "clap", None, 70)]
    detections = [Event(1.03, "kick"), Event(5.0, "snare")]
    out, count = snap_events(taps, detections, max_offset_s=0.05)
    assert out[0] == Event(1.03, "kick", 36, 90)  # moved; note and velocity kept
    assert out[1] == taps[1]  # 1 s from any kick
    assert out[2] == taps[2]  # the model has no clap
    assert (count.n_taps, count.n_snapped) == (3, 1)


def test_lag_is_removed_before_matching():
    """Taps 40 ms late with a 30 ms window: snapped only once the lag is taken out."""
    rng = np.random.default_rng(1)
    truth = np.sort(rng.uniform(0, 60, 100))
    truth = truth[np.concatenate([[True], np.diff(truth) > 0.2])]
    taps = truth + 0.040 + rng.normal(0, 0.005, len(truth))
    _, plain = snap_times(taps, truth, max_offset_s=0.03)
    times, lagged = snap_times(taps, truth, max_offset_s=0.03, offset_s=0.040)
    assert plain.mean() < 0.2
    assert lagged.mean() > 0.95
    assert np.allclose(times[lagged], truth[lagged])


def test_many_taps_are_matched_in_blocks_without_reusing_a_hit():
    rng = np.random.default_rng(2)
    truth = sixteenth_hats(3 * MAX_BLOCK + 17)
    order = rng.permutation(len(truth))  # taps in any order
    taps = (truth + rng.normal(0, 0.03, len(truth)))[order]
    times, snapped = snap_times(taps, truth, max_offset_s=0.08)
    assert snapped.mean() > 0.95
    assert len(np.unique(times[snapped])) == snapped.sum()
    assert np.mean(np.abs(times - truth[order]) < 1e-9) > 0.9  # mostly its own hit


def test_nothing_to_match():
    times, snapped = snap_times(np.array([1.0, 2.0]), np.array([]), max_offset_s=0.1)
    assert times.tolist() == [1.0, 2.0] and not snapped.any()
    out, count = snap_events([], [Event(1.0, "kick")], max_offset_s=0.1)
    assert out == [] and count.n_taps == 0
