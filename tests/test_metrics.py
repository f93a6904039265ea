"""Tests for mir_eval-based scoring: hand-computed cases and data-driven fixtures."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import mir_eval
import numpy as np
import pytest

from softloc_cli.annotations import read_annotations
from softloc_cli.errors import AnnotationError
from softloc_cli.events import Event, merge_labels, times_by_label
from softloc_cli.metrics import (
    ClassScores,
    pool_scores,
    score_events,
    score_onsets,
    scores_rows,
)

DATA = Path(__file__).parent / "data" / "metrics"


def ev(label, *times):
    return [Event(t, label) for t in times]


@pytest.fixture(autouse=True)
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # empty inputs must not trigger mir_eval's warnings
        yield


def test_hand_computed_single_class():
    s = score_events(ev("kick", 1.0, 2.0, 3.0), ev("kick", 1.01, 2.2, 3.04, 4.0))
    k = s.classes["kick"]
    assert (k.n_ref, k.n_est, k.tp, k.fp, k.fn) == (3, 4, 2, 2, 1)
    assert k.precision == 0.5 and k.recall == pytest.approx(2 / 3)
    assert k.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert k.mean_dev_s == pytest.approx(0.025) and k.median_dev_s == pytest.approx(0.025)
    assert k.std_dev_s == pytest.approx(0.015)


def test_one_to_one_matching():
    k = score_events(ev("kick", 1.0), ev("kick", 0.99, 1.01)).classes["kick"]
    assert (k.tp, k.fp, k.fn) == (1, 1, 0)


def test_maximum_matching_not_greedy():
    k = score_events(ev("sd", 1.0, 1.08), ev("sd", 1.04, 1.12)).classes["sd"]
    assert k.tp == 2


@pytest.mark.parametrize("ref,est,hit", [
    (0.0, 0.05, True), (0.05, 0.0, True),           # |d| == window: a hit, as in mir_eval
    (0.0, 0.0500001, False), (0.0500001, 0.0, False),
    (1.0, 1.05, True), (1.05, 1.0, True),           # 1.05 - 1.0 > 0.05 in floats: EPS_S fixes it
    (2.0, 2.0500001, False), (2.0, 1.9499999, False),
])
def test_window_edge(ref, est, hit):
    assert score_events(ev("x", ref), ev("x", est), window_s=0.05).classes["x"].tp == int(hit)


def test_window_edge_matches_mir_eval_where_floats_are_exact():
    for ref, est in [(0.0, 0.05), (0.0, 0.0500001), (0.25, 0.3)]:
        ours = score_events(ev("x", ref), ev("x", est)).classes["x"].f1
        theirs, _, _ = mir_eval.onset.f_measure(np.array([ref]), np.array([est]), window=0.05)
        assert ours == theirs


@pytest.mark.parametrize("ref,est", [([], [0.5]), ([0.5], []), ([], [])])
def test_empty_sides(ref, est):
    s = score_events(ev("kick", *ref), ev("kick", *est), classes=["kick"])
    k = s.classes["kick"]
    assert (k.precision, k.recall, k.f1) == (0.0, 0.0, 0.0)  # mir_eval's convention
    assert (k.tp, k.fp, k.fn) == (0, len(est), len(ref))
    assert k.mean_dev_s is k.median_dev_s is k.std_dev_s is None
    json.dumps(s.to_dict())  # None → null, all plain Python numbers


def test_no_events_at_all():
    s = score_events([], [])
    assert s.classes == {} and s.overall.f1 == 0.0 and s.overall.n_ref == 0


def test_per_class_no_cross_matching_and_order():
    ref = ev("snare", 1.0) + ev("kick", 1.0) + ev("clap", 3.0)
    est = ev("snare", 1.01) + ev("hihat", 1.0)
    s = score_events(ref, est)
    assert list(s.classes) == ["kick", "snare", "hihat", "clap"]  # drum order, then others
    assert s.classes["kick"].fn == 1 and s.classes["hihat"].fp == 1
    assert s.classes["snare"].f1 == 1.0
    o = s.overall
    assert (o.n_ref, o.n_est, o.tp) == (3, 2, 1)
    assert o.precision == 0.5 and o.recall == pytest.approx(1 / 3)


def test_classes_argument_restricts_and_includes_absent():
    s = score_events(ev("kick", 1.0) + ev("clap", 2.0), ev("kick", 1.0),
                     classes=["snare", "kick"])
    assert list(s.classes) == ["snare", "kick"]
    assert s.classes["snare"].present is False and s.overall.n_ref == 1


def test_timing_deviation_sign_est_minus_ref():
    s = score_events(ev("k", 1.0, 2.0, 3.0), ev("k", 1.01, 1.98, 3.03))
    k = s.classes["k"]
    assert k.deviations_s.tolist() == pytest.approx([0.01, -0.02, 0.03])
    assert k.mean_dev_s == pytest.approx(0.02 / 3)
    assert k.median_dev_s == pytest.approx(0.01)
    assert k.std_dev_s == pytest.approx(np.std([0.01, -0.02, 0.03]))


def test_agrees_with_mir_eval_on_random_events():
    rng = np.random.default_rng(0)
    for _ in range(20):
        ref = np.sort(rng.uniform(0, 10, rng.integers(1, 30)))
        kept = ref[rng.random(ref.size) < 0.8]
        est = np.concatenate([kept + rng.normal(0, 0.04, kept.size),
                              rng.uniform(0, 10, rng.integers(0, 5))])
        est = np.sort(np.clip(est, 0, None))
        k = score_events(ev("x", *ref), ev("x", *est)).classes["x"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty estimate makes mir_eval warn
            f, p, r = mir_eval.onset.f_measure(ref, est, window=0.05)
        assert (k.f1, k.precision, k.recall) == pytest.approx((f, p, r))


def test_pooled_vs_mean_per_file():
    a = score_events(ev("kick", 1.0), ev("kick", 1.0))                     # F = 1
    b = score_events(ev("kick", 1.0, 2.0, 3.0) + ev("snare", 1.0), [])    # F = 0
    pooled = pool_scores([a, b])
    k = pooled.pooled.classes["kick"]
    assert (k.n_ref, k.n_est, k.tp) == (4, 1, 1)
    assert k.precision == 1.0 and k.recall == 0.25 and k.f1 == pytest.approx(0.4)
    assert pooled.mean_per_file["kick"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5,
                                            "n_files": 2}
    # snare only occurs in file b: file a is not counted in its mean
    assert pooled.mean_per_file["snare"]["n_files"] == 1
    assert pooled.mean_per_file["overall"]["f1"] == pytest.approx(0.5)
    assert pooled.n_files == 2
    d = pooled.to_dict()
    json.dumps(d)
    assert d["overall"]["tp"] == 1 and d["mean_per_file"]["kick"]["f1"] == 0.5


def test_pool_keeps_deviations_and_checks_window():
    a = score_events(ev("k", 1.0), ev("k", 1.01))
    b = score_events(ev("k", 1.0), ev("k", 0.97))
    k = pool_scores([a, b]).pooled.classes["k"]
    assert k.median_dev_s == pytest.approx(-0.01)
    with pytest.raises(ValueError, match="different windows"):
        pool_scores([a, score_events([], [], window_s=0.03)])
    assert pool_scores([]).pooled.overall.n_ref == 0


def test_class_agnostic_scoring():
    ref = ev("onset", 1.0, 2.0)
    est = ev("kick", 1.0) + ev("hihat", 1.002) + ev("snare", 2.01)
    combined = score_onsets(ref, est).overall  # kick + hi-hat at one instant: one onset (30 ms rule)
    assert (combined.tp, combined.fp) == (2, 0)
    every_hit = score_onsets(ref, est, combine_within_s=0).overall  # plain mir_eval: two onsets
    assert (every_hit.tp, every_hit.fp) == (2, 1)
    assert [e.label for e in merge_labels(est)] == ["onset"] * 2
    assert [e.label for e in merge_labels(est, combine_within_s=0)] == ["onset"] * 3


def test_scores_rows():
    s = score_events(ev("kick", 1.0), ev("kick", 1.0) + ev("snare", 2.0))
    rows = scores_rows(s)
    assert [r["class"] for r in rows] == ["kick", "snare", "overall"]
    assert rows[-1]["precision"] == 0.5 and list(rows[0])[0] == "class"
    prow = scores_rows(pool_scores([s]))
    assert prow[0]["file_mean_f1"] == 1.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="window_s=0"):
        score_events([], [], window_s=0)
    with pytest.raises(AnnotationError, match="did you supply event times in seconds"):
        score_events(ev("k", 45000.0), ev("k", 1.0))
    assert ClassScores.combine([]).n_ref == 0


# ---------------------------------------------------------------------------------------------
# data-driven fixtures (tests/data/metrics/<case>/{ref.*, est.*, scores.json})

CASES = sorted(p for p in DATA.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fixture(case):
    expected = json.loads((case / "scores.json").read_text())
    ref = read_annotations(next(case.glob("ref.*")))
    est = read_annotations(next(case.glob("est.*")))
    got = score_events(ref, est, window_s=expected["window_s"]).to_dict()
    assert _close(got, expected)
    if case.name != "window_edge":  # elsewhere plain mir_eval must agree class by class
        ref_t, est_t = times_by_label(ref), times_by_label(est)
        for name, scores in got["classes"].items():
            r, e = ref_t.get(name, np.zeros(0)), est_t.get(name, np.zeros(0))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f, p, rec = mir_eval.onset.f_measure(r, e, window=expected["window_s"])
            assert (scores["f1"], scores["precision"], scores["recall"]) == pytest.approx(
                (f, p, rec))


def _close(got, expected):
    if isinstance(expected, dict):
        assert set(got) == set(expected)
        return all(_close(got[k], expected[k]) for k in expected)
    if isinstance(expected, float):
        assert got == pytest.approx(expected, abs=1e-9)
        return True
    assert got == expected
    return True
