"""Training data: finding audio/annotation pairs, label selection and perturbation, frame
targets, feature loading (and its disk cache), random crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from softloc_cli.annotations import write_events
from softloc_cli.data import (
    CropSampler,
    FileEntry,
    TrackData,
    find_entries,
    frame_targets,
    load_tracks,
    perturb_times,
    select_events,
)
from softloc_cli.errors import DatasetError, SoftlocError
from softloc_cli.events import ONSET_CLASS, Event

from conftest import hits_audio, write_wav

FRAME_RATE = 100.0  # FeatureConfig(): 24 kHz, hop 240


@pytest.fixture(scope="module")
def features():
    from softloc_cli.features import FeatureConfig, LogMelFlux

    return LogMelFlux(FeatureConfig())


def pair(folder: Path, stem: str, events: list[Event], *, fmt: str = "csv", ext: str | None = None,
         duration_s: float = 1.0, seed: int = 0) -> tuple[Path, Path]:
    """``stem.wav`` (synthetic hits) + ``stem.<ext>`` annotation in ``folder``."""
    audio = write_wav(folder / f"{stem}.wav", hits_audio(duration_s, seed))
    annotation = write_events(events, folder / f"{stem}.{ext or fmt}", fmt)
    return audio, annotation


KICK_SNARE = [Event(0.1, "kick", 36), Event(0.5, "snare", 38)]


# -- find_entries ----------------------------------------------------------------------------


def test_find_entries_pairs_sidecars_of_any_format(tmp_path):
    pair(tmp_path, "a", KICK_SNARE, fmt="csv")
    pair(tmp_path, "b", KICK_SNARE, fmt="labels", ext="txt")
    pair(tmp_path / "sub", "c", KICK_SNARE, fmt="mid")
    pair(tmp_path, "d", KICK_SNARE, fmt="json")

    entries = find_entries(tmp_path)

    found = {e.audio.name: e.annotation.name for e in entries}
    assert found == {"a.wav": "a.csv", "b.wav": "b.txt", "c.wav": "c.mid", "d.wav": "d.json"}
    assert all(e.softness_s is None and e.annotator is None for e in entries)


def test_find_entries_reads_a_manifest_with_softness_and_annotator(tmp_path):
    pair(tmp_path / "audio", "a", KICK_SNARE)
    pair(tmp_path / "audio", "b", KICK_SNARE, fmt="mid")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "audio,annotation,softness_s,annotator\n"
        "audio/a.wav,audio/a.csv,0.08,ann1\n"
        "audio/b.wav,audio/b.mid,,\n"
    )

    entries = find_entries(manifest)

    assert entries == [
        FileEntry(tmp_path / "audio/a.wav", tmp_path / "audio/a.csv", 0.08, "ann1"),
        FileEntry(tmp_path / "audio/b.wav", tmp_path / "audio/b.mid", None, None),
    ]


def test_find_entries_refuses_a_folder_without_audio(tmp_path):
    (tmp_path / "notes.csv").write_text("time_s\n0.5\n")
    with pytest.raises(DatasetError, match=r"no audio files found \(looked for .*\.wav"):
        find_entries(tmp_path)


def test_find_entries_names_audio_without_annotation(tmp_path):
    pair(tmp_path, "good", KICK_SNARE)
    write_wav(tmp_path / "orphan.wav", hits_audio(0.5))
    with pytest.raises(DatasetError, match=r"1 audio file\(s\) have no annotation.*orphan\.wav.*expected e\.g\. orphan\.csv"):
        find_entries(tmp_path)


def test_find_entries_refuses_a_missing_path(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        find_entries(tmp_path / "nowhere")


def test_manifest_row_naming_a_missing_file_gives_file_and_line(tmp_path):
    pair(tmp_path, "a", KICK_SNARE)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("audio,annotation\na.wav,a.csv\nb.wav,b.csv\n")
    with pytest.raises(DatasetError, match=r"manifest\.csv:3: .*b\.wav does not exist"):
        find_entries(manifest)


@pytest.mark.parametrize(
    "text, message",
    [
        ("file,labels\na.wav,a.csv\n", "needs a header with columns audio,annotation"),
        ("audio,annotation,softness_s\na.wav,a.csv,80ms\n", r"manifest\.csv:2: softness_s '80ms' is not a number"),
        ("audio,annotation\na.wav,a.csv\na.wav\n", r"manifest\.csv:3: the audio and annotation columns must both be filled"),
        ("audio,annotation\n", "the manifest lists no files"),
    ],
)
def test_manifest_format_errors(tmp_path, text, message):
    pair(tmp_path, "a", KICK_SNARE)
    (tmp_path / "manifest.csv").write_text(text)
    with pytest.raises(DatasetError, match=message):
        find_entries(tmp_path / "manifest.csv")


# -- select_events, perturb_times, frame_targets ---------------------------------------------


def test_select_events_keeps_training_classes_and_counts_distractors():
    events = [Event(0.1, "kick", 36), Event(0.2, "crash", 49), Event(0.3, "Snare", 38), Event(0.4, "crash", 49),
              Event(0.5, "ride", 51)]

    kept, ignored = select_events(events, ["kick", "snare"])

    assert [(e.time_s, e.label, e.midi_note) for e in kept] == [(0.1, "kick", 36), (0.3, "snare", 38)]
    assert ignored == {"crash": 2, "ride": 1}


def test_select_events_merges_everything_into_onsets():
    events = [Event(0.1, "kick", 36), Event(0.2, "crash", 49), Event(0.3, "C4", 60), Event(0.31, "E4", 64)]

    kept, ignored = select_events(events, [ONSET_CLASS])

    # the chord C4 + E4 (10 ms apart) is one onset
    assert [(e.time_s, e.label) for e in kept] == [(0.1, "onset"), (0.2, "onset"), (0.3, "onset")]
    assert ignored == {}


def test_perturb_times_is_seeded():
    times = np.linspace(0.5, 5.0, 50)

    first = perturb_times(times, noise_s=0.04, shift_s=0.0, rng=np.random.default_rng([3, 1]))
    again = perturb_times(times, noise_s=0.04, shift_s=0.0, rng=np.random.default_rng([3, 1]))
    other = perturb_times(times, noise_s=0.04, shift_s=0.0, rng=np.random.default_rng([4, 1]))

    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert 0.02 < np.std(first - times) < 0.06
    np.testing.assert_array_equal(times, np.linspace(0.5, 5.0, 50))  # the input is not modified


def test_perturb_times_shifts_a_whole_file_by_plus_or_minus_delta():
    times = np.array([0.5, 1.0, 2.5])
    signs = set()
    for seed in range(20):
        moved = perturb_times(times, noise_s=0.0, shift_s=0.05, rng=np.random.default_rng(seed))
        delta = moved - times
        np.testing.assert_allclose(delta, delta[0])  # one shift per file
        assert abs(delta[0]) == pytest.approx(0.05)
        signs.add(np.sign(delta[0]))
    assert signs == {-1.0, 1.0}


def test_perturb_times_without_noise_changes_nothing():
    times = np.array([0.5, 1.0])
    np.testing.assert_array_equal(perturb_times(times, noise_s=0.0, shift_s=0.0, rng=np.random.default_rng(0)), times)


def test_frame_targets_round_count_and_clip():
    events = [Event(0.014, "kick"), Event(0.016, "kick"), Event(0.104, "snare"), Event(0.096, "snare"),
              Event(-0.2, "kick"), Event(9.0, "snare")]
    times = np.array([e.time_s for e in events])

    targets = frame_targets(events, ["kick", "snare"], 20, FRAME_RATE, times)

    assert targets.shape == (20, 2) and targets.dtype == np.float32
    assert targets[1, 0] == 1 and targets[2, 0] == 1  # 14 ms → frame 1, 16 ms → frame 2
    assert targets[10, 1] == 2  # two events in one frame are counted, not capped at 1
    assert targets[0, 0] == 1 and targets[19, 1] == 1  # outside the file: clipped to its ends
    assert targets.sum() == len(events)


def test_frame_targets_use_the_given_times_not_the_event_times():
    events = [Event(0.10, "kick")]
    targets = frame_targets(events, ["kick"], 50, FRAME_RATE, np.array([0.30]))
    assert np.flatnonzero(targets[:, 0]).tolist() == [30]


# -- load_tracks -----------------------------------------------------------------------------


def test_load_tracks_builds_features_targets_and_summary(tmp_path, features):
    events = [Event(0.1, "kick", 36), Event(0.3, "crash", 49), Event(0.5, "snare", 38), Event(0.7, "kick", 36)]
    entries = [FileEntry(*pair(tmp_path, "a", events, duration_s=1.0))]
    done = []

    tracks, summary = load_tracks(entries, classes=["kick", "snare"], feature_module=features, on_file=done.append)

    (track,) = tracks
    assert track.logmel.shape == (101, 80) and track.logmel.dtype == np.float16
    assert track.targets.shape == (101, 2)
    assert np.flatnonzero(track.targets[:, 0]).tolist() == [10, 70]
    assert np.flatnonzero(track.targets[:, 1]).tolist() == [50]
    assert track.duration_s == pytest.approx(1.0)
    assert summary.files == 1 and summary.events == {"kick": 2, "snare": 1}
    assert summary.ignored_labels == {"crash": 1}
    assert done == [1]


def test_load_tracks_perturbs_targets_but_keeps_the_given_events(tmp_path, features):
    events = [Event(t, "kick", 36) for t in (0.2, 0.6, 1.0, 1.4)]
    entries = [FileEntry(*pair(tmp_path, "a", events, duration_s=2.0))]
    kwargs = dict(classes=["kick"], feature_module=features, label_shift_s=0.05, seed=7)

    (track,), _ = load_tracks(entries, **kwargs)
    (again,), _ = load_tracks(entries, **kwargs)

    assert [e.time_s for e in track.events] == [0.2, 0.6, 1.0, 1.4]
    frames = np.flatnonzero(track.targets[:, 0])
    assert frames.tolist() in ([25, 65, 105, 145], [15, 55, 95, 135])
    np.testing.assert_array_equal(track.targets, again.targets)  # same seed, same draw


def test_load_tracks_refuses_annotations_past_the_end_and_suggests_ms(tmp_path, features):
    entries = [FileEntry(*pair(tmp_path, "a", [Event(0.1, "kick", 36), Event(250.0, "kick", 36)], duration_s=1.0))]
    with pytest.raises(DatasetError, match=r"a\.csv: 1 event\(s\) after the end of a\.wav \(1\.00 s\), first at 250\.000 s "
                                           r"\(times in milliseconds\? wrong audio file\?\)"):
        load_tracks(entries, classes=["kick"], feature_module=features)


def test_load_tracks_accepts_events_slightly_past_the_end(tmp_path, features):
    entries = [FileEntry(*pair(tmp_path, "a", [Event(0.1, "kick", 36), Event(1.3, "kick", 36)], duration_s=1.0))]
    (track,), _ = load_tracks(entries, classes=["kick"], feature_module=features)
    assert track.targets[-1, 0] == 1  # clipped to the last frame


def test_load_tracks_names_a_class_that_never_appears(tmp_path, features):
    entries = [FileEntry(*pair(tmp_path, "a", [Event(0.1, "kick", 36), Event(0.3, "crash", 49)]))]
    with pytest.raises(DatasetError, match=r"class\(es\) snare never appear in the annotations; labels found: crash, kick"):
        load_tracks(entries, classes=["kick", "snare"], feature_module=features)


def test_disk_cache_is_read_on_the_second_load(tmp_path, features, monkeypatch):
    import softloc_cli.data

    entries = [FileEntry(*pair(tmp_path, "a", KICK_SNARE, duration_s=1.0))]
    cache = tmp_path / "cache"
    (first,), _ = load_tracks(entries, classes=["kick", "snare"], feature_module=features, cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("load_audio called although the features are cached")

    monkeypatch.setattr(softloc_cli.data, "load_audio", no_decoding)
    (second,), _ = load_tracks(entries, classes=["kick", "snare"], feature_module=features, cache_dir=cache)
    np.testing.assert_array_equal(second.logmel, first.logmel)
    with pytest.raises(AssertionError, match="load_audio called"):  # without the cache it decodes again
        load_tracks(entries, classes=["kick", "snare"], feature_module=features)


def test_disk_cache_misses_when_the_audio_changes(tmp_path, features):
    audio, annotation = pair(tmp_path, "a", KICK_SNARE, duration_s=1.0)
    cache = tmp_path / "cache"
    load_tracks([FileEntry(audio, annotation)], classes=["kick", "snare"], feature_module=features, cache_dir=cache)
    write_wav(audio, hits_audio(1.5, seed=3))

    (track,), _ = load_tracks([FileEntry(audio, annotation)], classes=["kick", "snare"], feature_module=features,
                              cache_dir=cache)

    assert len(track.logmel) == 151
    assert len(list(cache.glob("*.npz"))) == 2


def test_unreadable_annotation_is_a_softloc_error(tmp_path, features):
    audio = write_wav(tmp_path / "a.wav", hits_audio(0.5))
    (tmp_path / "a.csv").write_text("time_s,class\nsoon,kick\n")
    with pytest.raises(SoftlocError, match=r"a\.csv:2"):
        load_tracks([FileEntry(audio, tmp_path / "a.csv")], classes=["kick"], feature_module=features)


# -- CropSampler -----------------------------------------------------------------------------


def fake_track(n_frames: int, *, value: float, n_mels: int = 4, n_classes: int = 2) -> TrackData:
    logmel = np.full((n_frames, n_mels), value, dtype=np.float16)
    logmel[:, 0] = np.arange(n_frames)  # frame index, to check crops are contiguous
    targets = np.zeros((n_frames, n_classes), dtype=np.float32)
    return TrackData(FileEntry(Path(f"{value}.wav"), Path(f"{value}.csv")), logmel, targets, [], n_frames / FRAME_RATE)


def test_crop_sampler_shapes_and_contiguous_crops():
    sampler = CropSampler([fake_track(500, value=1.0), fake_track(300, value=2.0)], crop_frames=64,
                          rng=np.random.default_rng(0))

    logmel, targets, mask, chosen = sampler.sample(6)

    assert logmel.shape == (6, 64, 4) and logmel.dtype == np.float32
    assert targets.shape == (6, 64, 2) and mask.shape == (6, 64) and mask.all()
    assert chosen.shape == (6,) and set(chosen) <= {0, 1}
    for crop, which in zip(logmel, chosen):
        assert crop[0, 1] == (1.0, 2.0)[which]
        np.testing.assert_array_equal(np.diff(crop[:, 0]), 1)


def test_crop_sampler_pads_and_masks_short_files():
    sampler = CropSampler([fake_track(40, value=1.0)], crop_frames=64, rng=np.random.default_rng(0))

    logmel, targets, mask, _ = sampler.sample(3)

    assert mask[:, :40].all() and not mask[:, 40:].any()
    assert (logmel[:, 40:] == 0).all() and (targets[:, 40:] == 0).all()
    np.testing.assert_array_equal(logmel[0, :40, 0], np.arange(40))


def test_crop_sampler_draws_files_in_proportion_to_length():
    sampler = CropSampler([fake_track(900, value=1.0), fake_track(100, value=2.0)], crop_frames=10,
                          rng=np.random.default_rng(0))
    _, _, _, chosen = sampler.sample(2000)
    assert 0.85 < np.mean(chosen == 0) < 0.95


def test_crop_sampler_is_deterministic_with_a_seed():
    tracks = [fake_track(500, value=1.0), fake_track(300, value=2.0)]
    a = CropSampler(tracks, crop_frames=32, rng=np.random.default_rng([5, 0, 1])).sample(8)
    b = CropSampler(tracks, crop_frames=32, rng=np.random.default_rng([5, 0, 1])).sample(8)
    c = CropSampler(tracks, crop_frames=32, rng=np.random.default_rng([6, 0, 1])).sample(8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
