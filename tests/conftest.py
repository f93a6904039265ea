"""Shared fixtures: tiny random models saved as real checkpoints, and short synthetic audio.

Everything is made here, in temporary folders: no test reads ../shared or the network. The
models are randomly initialised (like demucs's ``demucs_unittest``): their events mean nothing,
but they run the whole pipeline (features → network → decode → writers) in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SAMPLE_RATE = 24000  # FeatureConfig().sample_rate


def _save_tiny_model(
    directory: Path, *, name: str, initial_probability: float, threshold: float, class_thresholds: dict | None = None
) -> Path:
    import torch

    from softloc_cli.checkpoint import CheckpointConfig, ClassInfo, save_checkpoint
    from softloc_cli.decode import DecodeConfig
    from softloc_cli.features import FeatureConfig
    from softloc_cli.model import ModelConfig, SoftlocNet

    torch.manual_seed(0)
    model_config = ModelConfig(
        conv_channels=[4, 4],
        rnn_hidden=8,
        n_classes=2,
        n_mels=FeatureConfig().n_mels,
        initial_probability=initial_probability,
    )
    config = CheckpointConfig(
        name=name,
        description="tiny random model for tests",
        classes=[ClassInfo("low", 36), ClassInfo("high", 42)],
        model=model_config,
        decode=DecodeConfig(threshold=threshold, class_thresholds=dict(class_thresholds or {})),
    )
    return save_checkpoint(directory, SoftlocNet(model_config).eval(), config)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-class (low, high) random model with the default 1e-3 prior and decode settings.

    Its activations stay near 1e-3, far below the 0.3 threshold: it detects nothing, like an
    untrained model, so it gives empty outputs on any audio.
    """
    return _save_tiny_model(tmp_path_factory.mktemp("models") / "tiny", name="tiny", initial_probability=1e-3, threshold=0.3)


@pytest.fixture(scope="session")
def eventful_model_dir(tmp_path_factory) -> Path:
    """The same tiny network with a 0.2 prior and thresholds just below its activations
    (≈ 0.14–0.18 for low, 0.19–0.23 for high): it emits events of both classes with varied
    velocities on any audio, which the output-format tests need."""
    return _save_tiny_model(
        tmp_path_factory.mktemp("models") / "eventful",
        name="eventful",
        initial_probability=0.2,
        threshold=0.2,
        class_thresholds={"low": 0.16},
    )


def load_script(name: str):
    """Import ``scripts/<name>.py`` as a module (the scripts folder is not a package)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def write_wav(path: Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, sample_rate, subtype="FLOAT" if path.suffix == ".wav" else None)
    return path


def hits_audio(duration_s: float = 2.0, seed: int = 0) -> np.ndarray:
    from softloc_cli.synthetic import render_hits

    audio, _ = render_hits(duration_s, sample_rate=SAMPLE_RATE, seed=seed)
    return audio


@pytest.fixture
def make_wav(tmp_path):
    """``make_wav("a/song.wav", duration_s=2.0, seed=0, silent=False)`` → a synthetic wav in tmp_path."""

    def make(relative: str, *, duration_s: float = 2.0, seed: int = 0, silent: bool = False) -> Path:
        audio = np.zeros(int(duration_s * SAMPLE_RATE), np.float32) if silent else hits_audio(duration_s, seed)
        return write_wav(tmp_path / relative, audio)

    return make


# -- a local Hugging Face Hub cache ------------------------------------------------------------

COMMIT = "0123456789abcdef0123456789abcdef01234567"  # a 40-hex commit hash


class HubCache:
    """Builds the huggingface_hub cache layout by hand:
    ``models--owner--name/{refs/<branch>, blobs/<sha>, snapshots/<commit>/<file> -> blob}``."""

    def __init__(self, root: Path):
        self.root = root
        self.connections: list[tuple] = []  # network connections attempted (must stay empty)

    def add(self, repo_id: str, files: dict[str, bytes], *, ref: str = "main", commit: str = COMMIT) -> Path:
        import hashlib

        repo = self.root / ("models--" + repo_id.replace("/", "--"))
        snapshot = repo / "snapshots" / commit
        snapshot.mkdir(parents=True, exist_ok=True)
        (repo / "blobs").mkdir(exist_ok=True)
        for name, data in files.items():
            blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
            blob.write_bytes(data)
            link = snapshot / name
            link.unlink(missing_ok=True)
            link.symlink_to(Path("..") / ".." / "blobs" / blob.name)
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)  # no trailing newline, as huggingface_hub writes it
        return snapshot

    def add_model(self, repo_id: str, model_dir: Path, **kwargs) -> Path:
        files = {p.name: p.read_bytes() for p in sorted(model_dir.iterdir()) if p.is_file()}
        return self.add(repo_id, files, **kwargs)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hub cache in tmp_path, offline, with sockets blocked.

    huggingface_hub reads HF_HUB_OFFLINE and HF_HUB_CACHE into ``huggingface_hub.constants``
    once, at import, so setting the environment is not enough inside this process: the
    constants are patched as well (the environment still matters for subprocesses and for
    softloc's own offline check).
    """
    import socket

    from huggingface_hub import constants

    root = tmp_path / "hf-home" / "hub"
    root.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(root.parent))
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HOME", str(root.parent))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(root))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    cache = HubCache(root)

    def no_network(*args, **kwargs):
        cache.connections.append(args)
        raise OSError("tests never open network connections")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    yield cache
    assert cache.connections == [], "a test tried to reach the network"


@pytest.fixture(scope="session")
def pitched_model_dir(tmp_path_factory) -> Path:
    """A tiny random two-key model (classes C4 and E4, not drums) that, like ``eventful``,
    emits events on any audio: the multi-pitch (piano-type) output path."""
    import torch

    from softloc_cli.checkpoint import CheckpointConfig, ClassInfo, save_checkpoint
    from softloc_cli.decode import DecodeConfig
    from softloc_cli.features import FeatureConfig
    from softloc_cli.model import ModelConfig, SoftlocNet

    torch.manual_seed(0)
    model_config = ModelConfig(conv_channels=[4, 4], rnn_hidden=8, n_classes=2, n_mels=FeatureConfig().n_mels,
                               initial_probability=0.2)
    config = CheckpointConfig(name="keys", description="tiny random pitched model for tests", drums=False,
                              classes=[ClassInfo("C4", 60), ClassInfo("E4", 64)], model=model_config,
                              decode=DecodeConfig(threshold=0.16))
    return save_checkpoint(tmp_path_factory.mktemp("models") / "keys", SoftlocNet(model_config).eval(), config)


@pytest.fixture(scope="module")
def restore_torch_threads():
    """Training sets torch's thread count process-wide (TrainConfig.threads); put it back after
    the module. Modules that train use it with ``pytestmark``."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
