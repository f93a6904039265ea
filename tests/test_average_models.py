"""scripts/average_models.py: a model soup is the element-wise mean of equal networks."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import _save_tiny_model, load_script

soup = load_script("average_models")


def _model(tmp_path, name: str, seed: int):
    directory = _save_tiny_model(tmp_path / name, name=name, initial_probability=1e-3, threshold=0.3)
    weights = load_file(str(directory / "model.safetensors"))
    torch.manual_seed(seed)
    changed = {k: (v + torch.randn_like(v) if v.is_floating_point() else v) for k, v in weights.items()}
    from safetensors.torch import save_file

    save_file(changed, str(directory / "model.safetensors"))
    return directory, changed


def test_soup_is_the_mean_and_keeps_the_config(tmp_path, monkeypatch):
    (a, wa), (b, wb) = _model(tmp_path, "a", 1), _model(tmp_path, "b", 2)
    out = tmp_path / "soup"
    monkeypatch.setattr(sys, "argv", ["average_models", str(a), str(b), "-o", str(out)])
    soup.main()
    averaged = load_file(str(out / "model.safetensors"))
    for name, value in averaged.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (wa[name] + wb[name]) / 2)
        else:
            assert torch.equal(value, wa[name])
    assert json.loads((out / "config.json").read_text()) == json.loads((a / "config.json").read_text())


def test_unequal_networks_are_refused(tmp_path, monkeypatch):
    a, _ = _model(tmp_path, "a", 1)
    b, _ = _model(tmp_path, "b", 2)
    config = json.loads((b / "config.json").read_text())
    config["model"]["rnn_hidden"] = 16
    (b / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(sys, "argv", ["average_models", str(a), str(b), "-o", str(tmp_path / "soup")])
    with pytest.raises(SystemExit, match="differ in architecture"):
        soup.main()
    assert not (tmp_path / "soup").exists()
