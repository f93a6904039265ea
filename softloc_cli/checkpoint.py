"""A checkpoint is a directory: ``config.json`` + ``model.safetensors`` (+ optional ``README.md``).

The same directory works from disk, from inside the package and as a Hugging Face Hub repo.
Weights are safetensors only, so loading a downloaded model never runs code. ``config.json``
holds everything that changes results: classes, features, architecture, decode settings, the
loss and training provenance, and validation scores.

This module does not import class-map parsing (:mod:`softloc_cli.classmap`): the pitch-name
helpers both need live in :mod:`softloc_cli.pitches`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .configs import from_dict, to_dict
from .decode import DecodeConfig
from .errors import ConfigError, ModelNotFoundError
from .features import FeatureConfig
from .fileio import atomic_write
from .hub import CONFIG_NAME, WEIGHTS_NAME  # defined in hub.py, which must not import torch
from .model import ModelConfig
from .pitches import pitch_notes

FORMAT = "softloc-cli/1"
#: File suffixes of pickled checkpoints: named in errors, never loaded or uploaded.
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl")


@dataclass
class ClassInfo:
    name: str
    midi_note: int | None = None


@dataclass
class CheckpointConfig:
    format: str = FORMAT
    name: str = "model"
    description: str = ""
    drums: bool = True  # events are drum hits (MIDI channel 10) rather than pitched notes
    classes: list[ClassInfo] = field(default_factory=list)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    loss: dict[str, Any] = field(default_factory=dict)  # the LossConfig used in training
    training: dict[str, Any] = field(default_factory=dict)  # provenance: data, steps, seed, time
    scores: dict[str, Any] = field(default_factory=dict)  # validation scores

    @property
    def labels(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def midi_notes(self) -> list[int | None]:
        return [c.midi_note for c in self.classes]

    @property
    def pitched(self) -> bool:
        """A multi-pitch model: not drums, one class per pitch name (``A0`` … ``C8``)."""
        return not self.drums and pitch_notes(self.labels) is not None

    def validate(self) -> None:
        if self.format != FORMAT:
            raise ConfigError(f"checkpoint format {self.format!r} is not supported (expected {FORMAT!r})")
        if len(self.classes) != self.model.n_classes:
            raise ConfigError(f"{len(self.classes)} classes listed but the model has {self.model.n_classes} outputs")
        if self.model.n_mels != self.features.n_mels:
            raise ConfigError(f"model expects {self.model.n_mels} mel bands, features give {self.features.n_mels}")
        if self.model.n_windows != len(self.features.n_ffts):
            raise ConfigError(f"model expects {self.model.n_windows} window size(s), features give "
                              f"{len(self.features.n_ffts)}")


def read_config(directory: Path) -> CheckpointConfig:
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise ModelNotFoundError(f"{directory}: not a model directory (no {CONFIG_NAME})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    config = from_dict(CheckpointConfig, data, where=str(path))
    config.validate()
    return config


def write_config(directory: Path, config: CheckpointConfig) -> None:
    with atomic_write(Path(directory) / CONFIG_NAME, "w") as fh:
        json.dump(to_dict(config), fh, indent=2)
        fh.write("\n")


def save_checkpoint(directory: str | Path, net, config: CheckpointConfig) -> Path:
    """Write weights and config into ``directory`` (created if needed), each file atomically."""
    from safetensors.torch import save

    directory = Path(directory)
    config.validate()
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_write(directory / WEIGHTS_NAME, "wb") as fh:
        fh.write(save(state, metadata={"format": "pt"}))
    write_config(directory, config)
    return directory


def load_weights(directory: Path, net) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(directory) / WEIGHTS_NAME
    if not path.is_file():
        present = sorted(p.name for p in Path(directory).iterdir()) if Path(directory).is_dir() else []
        pickled = [n for n in present if n.endswith(PICKLE_SUFFIXES)]
        hint = f"; found {', '.join(pickled)}, which is not loaded because it could run code" if pickled else ""
        raise ModelNotFoundError(f"{directory}: no {WEIGHTS_NAME}{hint}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ConfigError(f"{path}: unreadable weights ({exc})") from None
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor shape differs from what config.json describes
        detail = " ".join(str(exc).split())
        raise ConfigError(f"{path}: weights do not match config.json ({detail[:300]})") from None
    if missing or unexpected:
        raise ConfigError(
            f"{path}: weights do not match config.json (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
