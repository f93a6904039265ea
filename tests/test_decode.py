import numpy as np
import pytest

from softloc_cli.decode import DecodeConfig, decode_activations, pick_peaks, refine_parabolic

RATE = 100.0  # frames per second


def decode(acts, labels=("a",), **config):
    acts = np.asarray(acts, dtype=float)
    if acts.ndim == 1:
        acts = acts[:, None]
    return decode_activations(acts, frame_rate_hz=RATE, labels=list(labels), config=DecodeConfig(**config))


def test_impulses_give_exact_times():
    acts = np.zeros(300)
    frames = [10, 57, 123, 250]
    acts[frames] = 0.9
    events = decode(acts)
    assert [e.time_s for e in events] == [f / RATE for f in frames]
    assert {e.label for e in events} == {"a"}


def test_two_classes_sorted_by_time_with_midi_notes():
    acts = np.zeros((100, 2))
    acts[40, 0] = 0.8
    acts[20, 1] = 0.8
    events = decode_activations(acts, frame_rate_hz=RATE, labels=["kick", "hihat"], midi_notes=[36, 42])
    assert [(e.time_s, e.label, e.midi_note) for e in events] == [(0.2, "hihat", 42), (0.4, "kick", 36)]


@pytest.mark.parametrize("length", [2, 3, 5, 9])
def test_plateau_gives_one_event_near_its_centre(length):
    acts = np.zeros(100)
    acts[40 : 40 + length] = 0.7
    events = decode(acts, min_interval_s=0.03)
    assert len(events) == 1
    centre = (40 + (length - 1) / 2) / RATE
    assert abs(events[0].time_s - centre) <= 0.5 / RATE + 1e-9


def test_two_frame_plateau_is_refined_to_its_exact_centre():
    acts = np.zeros(100)
    acts[[40, 41]] = 0.7
    assert decode(acts)[0].time_s == pytest.approx(0.405)


@pytest.mark.parametrize("true_frame", [30.2, 30.5, 29.75, 31.0])
def test_parabolic_refinement_is_sub_frame(true_frame):
    # samples of a parabola with its vertex at true_frame: refinement recovers it exactly
    frames = np.arange(60)
    acts = np.clip(0.9 - 0.1 * (frames - true_frame) ** 2, 0, None)
    event = decode(acts)[0]
    assert event.time_s == pytest.approx(true_frame / RATE, abs=1e-6)
    assert decode(acts, refine="none")[0].time_s == round(true_frame) / RATE


def test_refine_parabolic_offsets_are_bounded():
    column = np.array([0.0, 1.0, 0.0, 0.5, 0.5, 0.0])
    offsets = refine_parabolic(column, np.array([1, 3]))
    assert offsets[0] == 0.0
    assert offsets[1] == pytest.approx(0.5)
    assert np.all(np.abs(offsets) <= 0.5)


def test_threshold_per_class():
    acts = np.zeros((100, 2))
    acts[20, :] = 0.4
    acts[60, :] = 0.2
    events = decode(acts, labels=("kick", "snare"), threshold=0.3, class_thresholds={"snare": 0.1})
    assert [(e.time_s, e.label) for e in events] == [(0.2, "kick"), (0.2, "snare"), (0.6, "snare")]
    # exactly at the threshold counts
    assert len(decode(acts[:, :1], threshold=0.4)) == 1


def test_min_interval_keeps_the_larger_peak():
    acts = np.zeros(200)
    acts[50], acts[52] = 0.5, 0.9  # 20 ms apart: one hit
    acts[100], acts[105] = 0.9, 0.8  # 50 ms apart: two hits
    events = decode(acts, min_interval_s=0.03)
    assert [e.time_s for e in events] == [0.52, 1.0, 1.05]
    # a longer interval merges the second pair as well
    assert [e.time_s for e in decode(acts, min_interval_s=0.06)] == [0.52, 1.0]


def test_peaks_exactly_min_interval_apart_are_two_hits():
    # the evaluation merges reference onsets closer than 30 ms: two 30 ms apart are two onsets
    acts = np.zeros(200)
    acts[50], acts[53] = 0.9, 0.8  # 30 ms apart at 100 frames/s
    acts[100], acts[102] = 0.9, 0.8  # 20 ms apart
    assert [e.time_s for e in decode(acts, min_interval_s=0.03)] == [0.5, 0.53, 1.0]
    assert [e.time_s for e in decode(acts, min_interval_s=0.031)] == [0.5, 1.0]


def test_pick_peaks_equal_peaks_closer_than_min_distance_keep_the_first():
    column = np.zeros(50)
    column[[10, 12]] = 0.5
    assert pick_peaks(column, threshold=0.3, min_distance=3).tolist() == [10]


def test_smoothing_merges_a_broad_noisy_peak():
    acts = np.zeros(200)
    acts[95:106] = [0.30, 0.35, 0.50, 0.40, 0.55, 0.50, 0.52, 0.45, 0.50, 0.38, 0.30]
    assert len(decode(acts, threshold=0.3, min_interval_s=0.01)) > 1
    smoothed = decode(acts, threshold=0.2, min_interval_s=0.01, smooth_s=0.03)
    assert len(smoothed) == 1
    assert smoothed[0].time_s == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("shape", [(0, 1), (50, 1)])
def test_empty_or_silent_activations_give_no_events(shape):
    assert decode(np.zeros(shape)) == []


def test_time_offset_shifts_and_drops_negative_times():
    acts = np.zeros(100)
    acts[[1, 50]] = 0.9
    assert [e.time_s for e in decode(acts, time_offset_s=0.015)] == [0.025, 0.515]
    assert [e.time_s for e in decode(acts, time_offset_s=-0.02)] == [0.48]


def test_velocity_from_mass():
    acts = np.zeros(100)
    acts[20] = 1.0
    acts[60] = 0.3
    loud, soft = decode(acts)
    assert loud.velocity == 127
    assert 1 <= soft.velocity < loud.velocity


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match=r"shape \(10, 2\) does not match 1 labels"):
        decode_activations(np.zeros((10, 2)), frame_rate_hz=RATE, labels=["a"])
