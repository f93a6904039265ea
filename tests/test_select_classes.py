"""scripts/select_classes.py: dropping output classes keeps the kept classes' activations."""

from __future__ import annotations

import numpy as np

from softloc_cli.checkpoint import read_config
from softloc_cli.inference import load_model, transcribe_audio

from conftest import hits_audio, load_script

select = load_script("select_classes")


def test_kept_class_has_the_same_activations_and_threshold(eventful_model_dir, tmp_path):
    out = tmp_path / "high-only"
    assert select.main([str(eventful_model_dir), "--classes", "high", "-o", str(out)]) == 0
    config = read_config(out)
    assert config.labels == ["high"] and config.model.n_classes == 1
    assert config.training["trained_classes"] == ["low", "high"]
    assert "validation" not in config.scores
    audio = hits_audio(1.0)
    full = transcribe_audio(load_model(str(eventful_model_dir), device="cpu"), audio)
    kept = transcribe_audio(load_model(str(out), device="cpu"), audio)
    np.testing.assert_allclose(kept.activations[:, 0], full.activations[:, 1], rtol=1e-5, atol=1e-6)
    expected = [e.time_s for e in full.events if e.label == "high"]
    assert expected and len(kept.events) == len(expected)
    np.testing.assert_allclose([e.time_s for e in kept.events], expected, atol=1e-4)  # float32 matmul order


def test_unknown_class_is_one_error_line(eventful_model_dir, tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit, match="cannot keep tom"):
        select.main([str(eventful_model_dir), "--classes", "high,tom", "-o", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()
