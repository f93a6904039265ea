import json
import shutil

import numpy as np
import pytest
import torch

from softloc_cli.checkpoint import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    CheckpointConfig,
    ClassInfo,
    read_config,
    save_checkpoint,
)
from softloc_cli.errors import ConfigError, ModelNotFoundError, SoftlocError
from softloc_cli.model import ModelConfig, SoftlocNet
from softloc_cli.inference import compute_activations, load_model

from conftest import hits_audio


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    """A writable copy of the tiny model."""
    return shutil.copytree(tiny_model_dir, tmp_path / "model")


def edit_config(directory, change):
    path = directory / CONFIG_NAME
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_round_trip_gives_identical_activations(tmp_path):
    torch.manual_seed(1)
    config = CheckpointConfig(
        name="rt",
        classes=[ClassInfo("kick", 36), ClassInfo("snare", 38)],
        model=ModelConfig(n_classes=2, conv_channels=[4, 4], rnn_hidden=8, initial_probability=0.3),
    )
    net = SoftlocNet(config.model)
    with torch.no_grad():  # non-default BatchNorm statistics must survive the trip too
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    net.eval()
    save_checkpoint(tmp_path / "rt", net, config)
    assert sorted(p.name for p in (tmp_path / "rt").iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]

    loaded = load_model(tmp_path / "rt", device="cpu")
    audio = hits_audio(1.5)
    with torch.no_grad():
        expected = torch.sigmoid(net(loaded.features(torch.from_numpy(audio)[None])))[0].numpy()
    np.testing.assert_array_equal(compute_activations(loaded, audio), expected)
    assert loaded.config == config
    assert loaded.config.labels == ["kick", "snare"]
    assert loaded.config.midi_notes == [36, 38]


def test_config_json_records_what_changes_results(tiny_model_dir):
    data = json.loads((tiny_model_dir / CONFIG_NAME).read_text())
    assert data["format"] == "softloc-cli/1"
    assert data["features"]["sample_rate"] == 24000
    assert data["model"]["conv_channels"] == [4, 4]
    assert data["decode"]["threshold"] == 0.3
    assert data["classes"] == [{"name": "low", "midi_note": 36}, {"name": "high", "midi_note": 42}]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(colour="red"), r"unknown key\(s\) colour; valid keys are .*classes"),
        (lambda d: d["model"].update(rnn_hiden=8), r"config\.json\.model: unknown key\(s\) rnn_hiden; valid keys .*rnn_hidden"),
        (lambda d: d["decode"].update(threshold="high"), r"decode\.threshold: expected a number, got 'high'"),
        (lambda d: d["model"].update(conv_channels=4), r"model\.conv_channels: expected a list"),
        (lambda d: d.update(format="other/2"), r"format 'other/2' is not supported"),
        (lambda d: d["classes"].pop(), r"1 classes listed but the model has 2 outputs"),
        (lambda d: d["features"].update(n_mels=64), r"model expects 80 mel bands, features give 64"),
    ],
)
def test_bad_config_is_a_config_error(model_copy, change, message):
    edit_config(model_copy, change)
    with pytest.raises(ConfigError, match=message):
        read_config(model_copy)


def test_config_that_is_not_json(model_copy):
    (model_copy / CONFIG_NAME).write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_model(model_copy, device="cpu")


def test_weights_that_do_not_match_the_config(model_copy):
    edit_config(model_copy, lambda d: d["model"].update(rnn_hidden=16))
    with pytest.raises(ConfigError, match="weights do not match config.json"):
        load_model(model_copy, device="cpu")


def test_corrupt_weights(model_copy):
    (model_copy / WEIGHTS_NAME).write_bytes(b"\x00" * 64)
    with pytest.raises(ConfigError, match="unreadable weights"):
        load_model(model_copy, device="cpu")


@pytest.fixture
def no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("torch.load was called: checkpoints must never be unpickled")

    monkeypatch.setattr(torch, "load", refuse)


def test_pickle_only_directory_is_refused(tmp_path, no_unpickling):
    directory = tmp_path / "pickled"
    directory.mkdir()
    torch.save({"weights": torch.zeros(3)}, directory / "model.pt")
    with pytest.raises(ModelNotFoundError, match=r"not a model directory \(no config.json\)"):
        load_model(directory, device="cpu")


def test_pickle_beside_a_config_is_never_loaded(model_copy, no_unpickling):
    (model_copy / WEIGHTS_NAME).unlink()
    torch.save({"weights": torch.zeros(3)}, model_copy / "model.pt")
    with pytest.raises(ModelNotFoundError, match="no model.safetensors; found model.pt, which is not loaded because it could run code"):
        load_model(model_copy, device="cpu")


def test_save_refuses_an_inconsistent_config(tmp_path):
    config = CheckpointConfig(classes=[ClassInfo("kick", 36)], model=ModelConfig(n_classes=2))
    with pytest.raises(SoftlocError, match="1 classes listed but the model has 2 outputs"):
        save_checkpoint(tmp_path / "bad", SoftlocNet(config.model), config)
    assert not (tmp_path / "bad").exists()


def test_hub_constants_match_checkpoint_layout():
    from softloc_cli import hub

    assert (hub.CONFIG_NAME, hub.WEIGHTS_NAME) == ("config.json", "model.safetensors")
    assert hub.CONFIG_NAME in hub.HUB_FILES and hub.WEIGHTS_NAME in hub.HUB_FILES


def test_checkpoint_does_not_import_class_map_parsing():
    """Dependencies run one way: classmap may build on pitch names, checkpoint loading never needs it."""
    import subprocess
    import sys

    code = (
        "import sys, softloc_cli.checkpoint as c\n"
        "from softloc_cli.hub import resolve_model\n"
        "assert c.read_config(resolve_model('piano')).pitched\n"
        "assert not c.read_config(resolve_model('onsets')).pitched\n"
        "assert 'softloc_cli.classmap' not in sys.modules, 'checkpoint imported classmap'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
