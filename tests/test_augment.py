"""Recorded-sound augmentation (audio chain, cached copies), mixed training sets, mixup and the
stacked-window front end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from softloc_cli.annotations import write_events
from softloc_cli.augment import AugmentConfig, add_noise, add_room, augment_audio, change_speed, compress, random_eq
from softloc_cli.data import CropSampler, FileEntry, TrackData, load_tracks
from softloc_cli.errors import ConfigError, DatasetError
from softloc_cli.events import Event
from softloc_cli.training import MixSource, _mixup, make_config, source_shares

from conftest import hits_audio, write_wav

SR = 24000
ALL_ON = AugmentConfig(copies=2, speed_prob=1, eq_prob=1, room_prob=1, compress_prob=1, noise_prob=1)


def click(n: int = SR, at: int = SR // 4) -> np.ndarray:
    x = np.zeros(n)
    x[at] = 1.0
    return x


# -- the audio chain -------------------------------------------------------------------------


def test_speed_change_moves_an_impulse_by_the_returned_time_factor():
    y, scale = change_speed(click(at=12000), 1.05)
    assert scale == pytest.approx(1 / 1.05, rel=1e-3)
    assert len(y) == pytest.approx(SR * scale, abs=2)
    assert abs(int(np.argmax(np.abs(y))) - 12000 * scale) <= 2


def test_room_keeps_the_direct_sound_at_lag_zero_and_adds_a_tail():
    y = add_room(click(), SR, np.random.default_rng(0), rt60_s=0.5, direct_to_reverb_db=6.0)
    assert int(np.argmax(np.abs(y))) == SR // 4 and y[SR // 4] == pytest.approx(1.0, abs=0.05)
    tail = y[SR // 4 + 1:]
    assert 10 * np.log10(1.0 / np.sum(tail**2)) == pytest.approx(6.0, abs=0.5)  # direct-to-reverb energy
    assert np.max(np.abs(y[: SR // 4])) < 1e-9  # nothing before the hit: labels stay where they were


def test_compressor_narrows_the_gap_between_loud_and_soft_passages_and_keeps_the_loudness():
    t = np.arange(2 * SR) / SR
    x = np.sin(2 * np.pi * 440 * t) * np.where((t // 0.5) % 2 == 0, 1.0, 0.1)  # 20 dB apart
    y = compress(x, SR, ratio=4.0, threshold_pct=30, time_s=0.02)
    level = lambda a, start: 20 * np.log10(np.sqrt(np.mean(a[int(start * SR):int((start + 0.3) * SR)] ** 2)))  # noqa: E731
    gap = level(y, 0.1) - level(y, 0.6)
    assert 3.0 < gap < 12.0  # a 4:1 ratio over the threshold: 20 dB of level difference shrinks to ~5-10
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=1e-6)


@pytest.mark.parametrize("colour", ["white", "pink", "brown"])
def test_noise_is_added_at_the_requested_snr(colour):
    x = hits_audio(2.0, 1)
    y = add_noise(x, np.random.default_rng(0), snr_db=20.0, colour=colour)
    snr = 10 * np.log10(np.mean(x**2) / np.mean((y - x) ** 2))
    assert snr == pytest.approx(20.0, abs=0.1)


def test_eq_is_stable_and_changes_the_spectrum():
    x = np.random.default_rng(0).standard_normal(SR)
    y = random_eq(x, SR, np.random.default_rng(3), bands=3, gain_db=9.0)
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) < 20 * np.max(np.abs(x))
    _, px = signal.welch(x, SR)
    _, py = signal.welch(y, SR)
    assert np.max(np.abs(10 * np.log10(py / px))) > 3.0


def test_chain_is_seeded_and_pitched_models_keep_their_timing():
    x = hits_audio(1.0, 2).astype(np.float32)
    a, scale_a = augment_audio(x, SR, np.random.default_rng(5), ALL_ON)
    b, scale_b = augment_audio(x, SR, np.random.default_rng(5), ALL_ON)
    np.testing.assert_array_equal(a, b)
    assert scale_a == scale_b != 1.0
    fixed, scale = augment_audio(x, SR, np.random.default_rng(5), ALL_ON, allow_pitch=False)
    assert scale == 1.0 and len(fixed) == len(x) and a.dtype == np.float32


# -- cached augmented copies -----------------------------------------------------------------


@pytest.fixture(scope="module")
def features():
    from softloc_cli.features import FeatureConfig, LogMelFlux

    return LogMelFlux(FeatureConfig())


def one_file(folder: Path) -> FileEntry:
    audio = write_wav(folder / "a.wav", hits_audio(2.0, 0))
    annotation = write_events([Event(0.5, "onset"), Event(1.5, "onset")], folder / "a.csv", "csv")
    return FileEntry(audio, annotation)


def test_copies_are_extra_tracks_with_labels_moved_by_the_speed_change(tmp_path, features):
    entry = one_file(tmp_path)
    tracks, summary = load_tracks([entry], classes=["onset"], feature_module=features, augment=ALL_ON,
                                  cache_dir=tmp_path / "cache")
    assert [t.copy for t in tracks] == [0, 1, 2]
    assert summary.files == 1 and summary.events == {"onset": 2} and summary.augmented_copies == 2
    assert summary.hours == pytest.approx(2.0 / 3600, abs=1e-4)  # originals only
    for track in tracks[1:]:
        first, second = (e.time_s for e in track.events)
        assert second == pytest.approx(3 * first)  # one time factor for the whole copy
        assert first / 0.5 == pytest.approx(track.duration_s / tracks[0].duration_s, abs=0.01)
        frames = np.flatnonzero(track.targets[:, 0])
        assert frames.tolist() == [round(e.time_s * 100) for e in track.events]
        assert not np.array_equal(track.logmel[: len(tracks[0].logmel)], tracks[0].logmel[: len(track.logmel)])
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 3
    again, _ = load_tracks([entry], classes=["onset"], feature_module=features, augment=ALL_ON,
                           cache_dir=tmp_path / "cache")
    for first, second in zip(tracks, again):
        np.testing.assert_array_equal(first.logmel, second.logmel)


# -- mixing training sets --------------------------------------------------------------------


def test_a_negatives_set_has_silent_targets_whatever_its_labels_say(tmp_path, features):
    """Real audio without the model's classes (``negatives = true``): no error for the missing
    classes, every target zero, even where the file's annotations use the model's labels."""
    entry = one_file(tmp_path)  # annotated "onset" twice
    with pytest.raises(DatasetError, match="never appear"):  # a plain set with none of the classes is a mistake
        load_tracks([entry], classes=["kick"], feature_module=features)
    tracks, summary = load_tracks([entry], classes=["kick"], feature_module=features, negatives=True)
    assert summary.events == {"kick": 0} and summary.ignored_labels == {"onset": 2}
    tracks, summary = load_tracks([entry], classes=["onset"], feature_module=features, negatives=True)
    assert not tracks[0].targets.any() and tracks[0].events == [] and summary.ignored_labels == {"onset": 2}
    config = make_config({"mix": [{"path": "real/", "share": 0.2, "negatives": True}]})
    assert config.mix[0].negatives


def fake_track(n_frames: int, source: int) -> TrackData:
    return TrackData(FileEntry(Path(f"{source}.wav"), Path(f"{source}.csv")), np.zeros((n_frames, 4), np.float16),
                     np.zeros((n_frames, 1), np.float32), [], n_frames / 100, source=source)


def test_shares_decide_how_often_each_set_is_drawn_whatever_its_size():
    tracks = [fake_track(5000, 0), fake_track(4000, 0), fake_track(100, 1), fake_track(300, 1)]
    sampler = CropSampler(tracks, crop_frames=10, rng=np.random.default_rng(0), shares={0: 0.3, 1: 0.7})
    _, _, _, chosen = sampler.sample(4000)
    sources = np.array([tracks[i].source for i in chosen])
    assert np.mean(sources == 1) == pytest.approx(0.7, abs=0.03)
    assert np.mean(chosen == 3) / np.mean(chosen == 2) == pytest.approx(3.0, rel=0.2)  # by length inside a set


def test_recipe_mix_tables_and_share_checks():
    config = make_config({"mix": [{"path": "real/", "share": 0.6}], "augment": {"copies": 2, "mixup_prob": 0.3}})
    assert config.mix == [MixSource("real/", 0.6)] and config.augment.copies == 2
    assert source_shares(config) == pytest.approx({0: 0.4, 1: 0.6})
    with pytest.raises(ConfigError, match="leave a share for DATA"):
        source_shares(make_config({"mix": [{"path": "a", "share": 0.5}, {"path": "b", "share": 0.5}]}))
    with pytest.raises(ConfigError, match="unknown key"):
        make_config({"augment": {"reverb": 1.0}})


def test_mixup_adds_magnitudes_events_and_masks():
    rng = np.random.default_rng(0)
    logmel = np.log1p(rng.uniform(0, 5, size=(2, 8, 3))).astype(np.float32)
    targets = np.zeros((2, 8, 1), np.float32)
    targets[0, 2], targets[1, 5] = 1, 1
    mask = np.ones((2, 8), bool)
    mask[1, 6:] = False
    config = AugmentConfig(mixup_prob=1.0, mixup_gain_db=(0.0, 0.0))
    out, out_targets, out_mask = _mixup(logmel, targets, mask, config, np.random.default_rng(1))
    for i in range(2):  # each crop got the other one
        np.testing.assert_allclose(np.expm1(out[i]), np.expm1(logmel[0]) + np.expm1(logmel[1]), rtol=1e-5)
        assert out_targets[i, 2, 0] == 1 and out_targets[i, 5, 0] == 1 and out_mask[i].all()
    assert targets.sum() == 2  # inputs untouched


def test_mixup_partners_from_mix_sets_only():
    """With ``mixup_partners = "mix"`` only crops of the [[mix]] sets are added, as backings."""
    rng = np.random.default_rng(0)
    logmel = np.log1p(rng.uniform(0, 5, size=(4, 8, 3))).astype(np.float32)
    targets = np.zeros((4, 8, 1), np.float32)
    targets[0, 1] = targets[1, 3] = 1  # rendered crops with hits; crops 2 and 3 come from the mix set
    mask = np.ones((4, 8), bool)
    sources = np.array([0, 0, 1, 1])
    config = AugmentConfig(mixup_prob=1.0, mixup_gain_db=(0.0, 0.0), mixup_partners="mix")
    out, out_targets, _ = _mixup(logmel, targets, mask, config, np.random.default_rng(1), sources=sources)
    for i in range(2):  # each rendered crop got one of the mix crops under it, and kept only its own hits
        added = np.expm1(out[i]) - np.expm1(logmel[i])
        assert any(np.allclose(added, np.expm1(logmel[j]), rtol=1e-4) for j in (2, 3))
        np.testing.assert_array_equal(out_targets[i], targets[i])
    for i in (2, 3):  # a mix crop's only eligible partner is the other mix crop
        np.testing.assert_allclose(np.expm1(out[i]) - np.expm1(logmel[i]), np.expm1(logmel[5 - i]), rtol=1e-4)
    lone = _mixup(logmel, targets, mask, config, np.random.default_rng(1), sources=np.array([0, 0, 0, 1]))[0]
    np.testing.assert_array_equal(lone[3], logmel[3])  # no other mix crop: left as it is
    with pytest.raises(ConfigError, match="mixup_partners"):  # refused with the recipe, before any work
        make_config({"augment": {"mixup_partners": "any"}})


# -- stacked STFT windows ----------------------------------------------------------------------


def test_stacked_windows_become_channels_of_the_network():
    import torch

    from softloc_cli.checkpoint import CheckpointConfig, ClassInfo
    from softloc_cli.features import FeatureConfig, LogMelFlux, add_flux, shift_mel
    from softloc_cli.model import ModelConfig, SoftlocNet

    config = FeatureConfig(extra_n_ffts=[512, 2048])
    front = LogMelFlux(config)
    audio = torch.from_numpy(hits_audio(1.0, 0)).float()
    logmel = front.logmel(audio)
    assert logmel.shape == (1, 101, 3 * config.n_mels)
    single = LogMelFlux(FeatureConfig()).logmel(audio)
    torch.testing.assert_close(logmel[..., : config.n_mels], single)  # the first window is the plain front end
    net = SoftlocNet(ModelConfig(n_classes=1, n_windows=3, conv_channels=[4, 4], rnn_hidden=8))
    assert net(add_flux(logmel)).shape == (1, 101, 1)
    shifted = shift_mel(logmel, [2], config.n_mels)
    for window in range(3):
        part = slice(window * config.n_mels, (window + 1) * config.n_mels)
        torch.testing.assert_close(shifted[0, :, part][:, 2:], logmel[0, :, part][:, :-2])
    ckpt = CheckpointConfig(model=ModelConfig(n_classes=1), features=config, classes=[ClassInfo("onset", 60)])
    with pytest.raises(ConfigError, match="window size"):
        ckpt.validate()
