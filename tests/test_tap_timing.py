"""Tap-spread estimation (softloc_cli.tap_timing) on synthetic drum patterns.

Run as a script for the full table (5 seeds):  python tests/test_tap_timing.py
"""

from __future__ import annotations

import numpy as np
import pytest

from softloc_cli.events import Event
from softloc_cli.tap_timing import (
    TapSpread,
    estimate_tap_spread,
    nearest_deviations,
    one_to_one_deviations,
    suggest_softness,
)

SIGMAS_MS = (10, 20, 30, 50, 75, 100)


def drum_pattern(rng: np.random.Generator, duration_s: float = 30.0) -> list[Event]:
    """A groove: kick on 1 and 3 (+ random 8ths), snare on 2 and 4, 8th or 16th hi-hats, 90-140 bpm,
    with ±8 ms of human timing."""
    bpm = float(rng.uniform(90, 140))
    beat = 60.0 / bpm
    hat_div = int(rng.choice([2, 4]))
    events = []
    t_bar = 0.5
    while t_bar + 4 * beat < duration_s:
        for k in range(4 * hat_div):
            events.append(("hihat", t_bar + k * beat / hat_div))
        for b in (0, 2):
            events.append(("kick", t_bar + b * beat))
        for k in range(8):
            if k not in (0, 4) and rng.random() < 0.2:
                events.append(("kick", t_bar + k * beat / 2))
        for b in (1, 3):
            events.append(("snare", t_bar + b * beat))
        t_bar += 4 * beat
    return [Event(float(t + rng.normal(0, 0.008)), label) for label, t in events]


def simulate(sigma_s: float, seed: int, *, n_files: int = 3, offset_s: float = 0.0, det_noise_s: float = 0.005,
             p_miss: float = 0.05, p_extra: float = 0.05):
    """(taps, detections) per file: detections = truth + 5 ms noise, 5 % missed, 5 % spurious;
    taps = truth + offset + N(0, σ²), sorted, clamped at 0."""
    rng = np.random.default_rng(seed)
    taps, dets = [], []
    for _ in range(n_files):
        truth = drum_pattern(rng)
        duration = max(e.time_s for e in truth) + 0.5
        d = [Event(e.time_s + float(rng.normal(0, det_noise_s)), e.label) for e in truth if rng.random() >= p_miss]
        for label in ("kick", "snare", "hihat"):
            n_label = sum(e.label == label for e in truth)
            for t in rng.uniform(0, duration, rng.binomial(n_label, p_extra)):
                d.append(Event(float(t), label))
        tp = [Event(max(0.0, e.time_s + offset_s + float(rng.normal(0, sigma_s))), e.label) for e in truth]
        taps.append(sorted(tp, key=lambda e: e.time_s))
        dets.append(sorted(d, key=lambda e: e.time_s))
    return taps, dets


def sigma_table(seeds=range(5), n_files: int = 3) -> list[dict]:
    rows = []
    for s_ms in SIGMAS_MS:
        est, nn, oto = [], [], []
        for seed in seeds:
            taps, dets = simulate(s_ms / 1000, seed, n_files=n_files)
            est.append(estimate_tap_spread(taps, dets).sigma_s)
            nn.append(np.std(nearest_deviations(taps, dets)))
            oto.append(np.std(one_to_one_deviations(taps, dets)))
        rows.append({"true_ms": s_ms, "est_ms": 1000 * np.mean(est), "est_sd_ms": 1000 * np.std(est),
                     "nn_ms": 1000 * np.mean(nn), "one_to_one_ms": 1000 * np.mean(oto)})
    return rows


@pytest.mark.parametrize("sigma_ms", SIGMAS_MS)
def test_sigma_recovered_within_20_percent(sigma_ms):
    est = [estimate_tap_spread(*simulate(sigma_ms / 1000, seed)).sigma_s for seed in range(3)]
    mean_ms = 1000 * float(np.mean(est))
    assert abs(mean_ms - sigma_ms) <= max(0.2 * sigma_ms, 5.0), (sigma_ms, mean_ms)


def test_naive_matching_would_fail():
    """The test above is not trivially passed: the std of tap − nearest detection folds the
    deviations of dense hi-hats (far too small at σ = 100 ms) and counts spurious detections (too
    large at σ = 10 ms); a maximum-cardinality one-to-one matching (mir_eval-style) pairs spurious
    detections with far taps and is far too large at σ = 10 ms."""
    taps, dets = simulate(0.100, 0)
    assert 1000 * np.std(nearest_deviations(taps, dets)) < 80
    assert 80 < 1000 * estimate_tap_spread(taps, dets).sigma_s < 120
    taps, dets = simulate(0.010, 0)
    assert 1000 * np.std(nearest_deviations(taps, dets)) > 15
    assert 1000 * np.std(one_to_one_deviations(taps, dets)) > 15
    assert 1000 * estimate_tap_spread(taps, dets).sigma_s < 12.5


def test_offset_and_counts():
    taps, dets = simulate(0.030, 3, offset_s=0.040)
    spread = estimate_tap_spread(taps, dets)
    assert isinstance(spread, TapSpread)
    assert abs(spread.offset_s - 0.040) < 0.006
    assert abs(spread.sigma_s - 0.030) < 0.006
    assert spread.n_taps == spread.n_used == sum(len(t) for t in taps)
    assert 0.85 * spread.n_taps <= spread.n_matched <= spread.n_taps
    assert spread.outlier_fraction < 0.1
    assert spread.softness_s == 0.03
    assert spread.labels == ("hihat", "kick", "snare")
    assert spread.reliable
    assert "σ = " in spread.summary()


def test_labels_without_detections_are_left_out():
    """A new class (clap) the base model cannot detect: its taps are counted but not fitted."""
    taps, dets = simulate(0.020, 4, n_files=1)
    claps = [Event(t, "clap") for t in np.arange(1.0, 20.0, 1.0)]
    spread = estimate_tap_spread([sorted(taps[0] + claps, key=lambda e: e.time_s)], dets)
    assert spread.n_taps == len(taps[0]) + len(claps)
    assert spread.n_used == len(taps[0])
    assert "clap" not in spread.labels
    assert abs(spread.sigma_s - 0.020) < 0.005


def test_stray_taps_are_background():
    taps, dets = simulate(0.020, 5, n_files=2)
    rng = np.random.default_rng(0)
    strays = [Event(float(t), "snare") for t in rng.uniform(0, 30, 40)]
    taps[0] = sorted(taps[0] + strays, key=lambda e: e.time_s)
    spread = estimate_tap_spread(taps, dets)
    assert abs(spread.sigma_s - 0.020) < 0.005
    assert spread.outlier_fraction > 0.02


def test_detection_sigma_removed_in_quadrature():
    taps, dets = simulate(0.010, 6, det_noise_s=0.010)
    raw = estimate_tap_spread(taps, dets).sigma_s
    net = estimate_tap_spread(taps, dets, detection_sigma_s=0.010).sigma_s
    assert raw > 0.0125
    assert abs(net - 0.010) < 0.003
    assert net == pytest.approx(np.sqrt(max(raw ** 2 - 0.01 ** 2, 0.0)), rel=1e-9)


def test_suggest_softness():
    assert suggest_softness(0.0123) == 0.01
    assert suggest_softness(0.0478) == 0.05
    assert suggest_softness(0.001) == 0.01
    assert suggest_softness(0.4) == 0.15
    assert suggest_softness(float("nan")) == 0.15


def test_errors():
    taps, dets = simulate(0.02, 0, n_files=1)
    with pytest.raises(ValueError, match="files"):
        estimate_tap_spread(taps, dets + dets)
    with pytest.raises(ValueError, match="within"):
        estimate_tap_spread([[Event(1.0, "kick")]], [[Event(5.0, "kick")]])
    with pytest.raises(ValueError, match="within"):
        estimate_tap_spread([[Event(1.0, "kick")]], [[Event(1.0, "snare")]])
    with pytest.raises(ValueError, match="positive"):
        estimate_tap_spread(taps, dets, max_offset_s=0)


if __name__ == "__main__":
    print("| true σ (ms) | estimated σ (mean ± sd, 5 seeds) | nearest-neighbour std | one-to-one std |")
    print("|---:|---:|---:|---:|")
    for r in sigma_table():
        print(f"| {r['true_ms']} | {r['est_ms']:.1f} ± {r['est_sd_ms']:.1f} | {r['nn_ms']:.1f} | "
              f"{r['one_to_one_ms']:.1f} |")
