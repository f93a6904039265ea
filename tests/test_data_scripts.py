"""scripts/cache_features.py fills the very cache entries `softloc train` reads; scripts/augment_set.py
writes a recorded-sounding copy of a set with its annotations unchanged."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from softloc_cli.audio import load_audio
from softloc_cli.annotations import read_annotations, write_events
from softloc_cli.data import compute_logmel, find_entries
from softloc_cli.events import Event
from softloc_cli.features import LogMelFlux
from softloc_cli.training import load_recipe, make_config

from conftest import hits_audio, load_script, write_wav

cache_features = load_script("cache_features")
augment_set = load_script("augment_set")


def _dataset(folder, n=3):
    for i in range(n):
        write_wav(folder / f"take{i}.flac", hits_audio(1.5, seed=i))
        write_events([Event(0.25, "kick", 36), Event(0.8, "snare", 38)], folder / f"take{i}.csv")
    return folder


def test_cached_entries_are_the_ones_training_reads(tmp_path, monkeypatch):
    data, cache = _dataset(tmp_path / "data"), tmp_path / "cache"
    recipe = tmp_path / "r.toml"
    recipe.write_text("seed = 3\n[augment]\ncopies = 1\n")
    monkeypatch.setattr(sys, "argv", ["cache_features", str(data), "--recipe", str(recipe),
                                      "--cache-dir", str(cache), "--jobs", "2"])
    cache_features.main()
    assert len(list(cache.glob("*.npz"))) == 3 * 2  # original + one copy per file
    config = make_config(load_recipe(recipe), data=str(data))
    module = LogMelFlux(config.features)
    for entry in find_entries(data):
        fresh, _ = compute_logmel(entry.audio, module, cache_dir=None, augment=config.augment, copy=1, seed=3)
        cached, _ = compute_logmel(entry.audio, module, cache_dir=cache, augment=config.augment, copy=1, seed=3)
        np.testing.assert_array_equal(fresh, cached)
    assert len(list(cache.glob("*.npz"))) == 6  # reading added nothing: every entry was a hit


def test_augmented_copy_keeps_labels_and_changes_sound(tmp_path):
    data = _dataset(tmp_path / "data", n=2)
    out = tmp_path / "aug"
    assert augment_set.main([str(data), str(out), "--seed", "1"]) == 0
    entries = find_entries(out)
    assert sorted(e.audio.name for e in entries) == ["take0-aug.flac", "take1-aug.flac"]
    changed = []
    for entry in entries:
        original = data / entry.annotation.name.replace("-aug", "")
        assert read_annotations(entry.annotation) == read_annotations(original)
        before = load_audio(original.with_suffix(".flac"), sample_rate=24000)
        after = load_audio(entry.audio, sample_rate=24000)
        assert len(after) == len(before)  # no speed change: the labels still fit
        changed.append(not np.allclose(after, before, atol=1e-3))
    assert any(changed)
    with pytest.raises(SystemExit, match="exists"):
        augment_set.main([str(data), str(out)])


def test_per_clip_counts_match_each_reference_once():
    per_clip = load_script("per_clip")
    reference = np.array([1.0, 2.0, 3.0])
    assert per_clip.clip_counts(reference, np.array([1.02, 1.04, 2.2, 3.0]), 0.05) == (3, 4, 2)
    assert per_clip.clip_counts(reference, np.array([]), 0.05) == (3, 0, 0)
