"""Audio → activations → events, for one model loaded once and used for many files.

Long audio is cut into chunks with context on both sides (the recurrent layer sees past and
future), so memory stays bounded whatever the file's length; only each chunk's core frames
are kept. Times are seconds from the file's start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .audio import load_audio
from .checkpoint import CheckpointConfig, load_weights, read_config
from .decode import DecodeConfig, decode_activations
from .errors import ConfigError
from .events import Event
from .features import LogMelFlux, add_flux
from .hub import resolve_model
from .model import SoftlocNet

CHUNK_S = 30.0  # seconds of output per chunk
CONTEXT_S = 2.0  # seconds of audio either side of a chunk, discarded after the network
CHUNKS_PER_BATCH = 8  # chunks run through the recurrent layer side by side (≈ 4.5 min of audio)


@dataclass
class LoadedModel:
    """A network with its features and config, ready on ``device``."""

    name: str
    directory: Path
    config: CheckpointConfig
    net: object  # SoftlocNet
    features: object  # LogMelFlux
    device: str

    @property
    def frame_rate_hz(self) -> float:
        return self.config.features.frame_rate_hz


@dataclass
class Transcription:
    events: list[Event]
    activations: np.ndarray  # (n_frames, n_classes), probabilities
    frame_rate_hz: float
    duration_s: float


def resolve_device(device: str = "auto") -> str:
    """``auto`` → cuda, then mps, then cpu; an explicit device must be available."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("--device mps was asked for but MPS is not available; use --device cpu")
    return device


def build_network(config: CheckpointConfig):
    return SoftlocNet(config.model), LogMelFlux(config.features)


def load_model(spec: str | Path | None = None, *, device: str = "auto") -> LoadedModel:
    """Resolve ``spec`` (bundled name, directory, ``hf://owner/name``) and load it for inference.

    Raises
    ------
    ModelNotFoundError, ConfigError

    Examples
    --------
    >>> model = load_model("drums", device="cpu")
    >>> model.config.labels
    ['kick', 'snare', 'hihat']
    """
    directory = resolve_model(spec)
    config = read_config(directory)
    net, features = build_network(config)
    load_weights(directory, net)
    device = resolve_device(device)
    net.eval().to(device)
    features.to(device)
    return LoadedModel(name=config.name, directory=directory, config=config, net=net, features=features, device=device)


def _chunked(net, n_frames: int, features: Callable[[int, int], Any], *, chunk_frames: int, context_frames: int,
             chunks_per_batch: int = CHUNKS_PER_BATCH, on_chunk: Callable[[int], None] | None = None) -> np.ndarray:
    """The one chunk-with-context loop: ``features(first, last)`` returns the network's input
    for frames ``first:last``; only each chunk's core frames are kept. Up to
    ``chunks_per_batch`` chunks go through the recurrent layer together."""
    import torch

    spans = []  # (start, stop, first, last) per chunk
    for start in range(0, n_frames, chunk_frames):
        stop = min(start + chunk_frames, n_frames)
        spans.append((start, stop, max(0, start - context_frames), min(n_frames, stop + context_frames)))
    out = np.zeros((n_frames, net.config.n_classes), dtype=np.float32)
    with torch.inference_mode():
        for index in range(0, len(spans), chunks_per_batch):
            batch = spans[index : index + chunks_per_batch]
            encoded = [net.encode(features(first, last))[0] for _, _, first, last in batch]
            for (start, stop, first, _), logits in zip(batch, net.logits_of_sequences(encoded)):
                probs = torch.sigmoid(logits.float()).cpu().numpy()
                out[start:stop] = probs[start - first : start - first + (stop - start)]
            if on_chunk is not None:
                on_chunk(batch[-1][1])
    return out


def compute_activations(
    model: LoadedModel,
    audio: np.ndarray,
    *,
    chunk_s: float = CHUNK_S,
    context_s: float = CONTEXT_S,
    chunks_per_batch: int = CHUNKS_PER_BATCH,
    on_progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """Probabilities ``(n_frames, n_classes)`` for mono ``audio`` at the model's sample rate.

    ``on_progress`` receives the seconds of audio finished after each batch of chunks.
    """
    import torch

    hop, rate = model.config.features.hop_length, model.frame_rate_hz
    sample_rate = model.config.features.sample_rate

    def features(first: int, last: int):
        segment = torch.from_numpy(np.ascontiguousarray(audio[first * hop : last * hop])).to(model.device)
        if segment.numel() == 0:
            segment = torch.zeros(1, device=model.device)
        return model.features(segment[None])

    report = None if on_progress is None else (lambda stop: on_progress(min(stop * hop, len(audio)) / sample_rate))
    return _chunked(model.net, len(audio) // hop + 1, features, chunk_frames=max(1, int(chunk_s * rate)),
                    context_frames=int(context_s * rate), chunks_per_batch=chunks_per_batch, on_chunk=report)


def activations_from_logmel(net, logmel: np.ndarray, device: str, *, frame_rate_hz: float,
                            chunk_s: float = CHUNK_S, context_s: float = CONTEXT_S) -> np.ndarray:
    """Probabilities ``(n_frames, n_classes)`` from cached log-mel ``(n_frames, n_mels)`` (training
    and calibration keep features, not audio), with the same chunks and context as audio input."""
    import torch

    def features(first: int, last: int):
        return add_flux(torch.from_numpy(np.asarray(logmel[first:last], dtype=np.float32))[None].to(device))

    return _chunked(net, len(logmel), features, chunk_frames=max(1, int(chunk_s * frame_rate_hz)),
                    context_frames=int(context_s * frame_rate_hz))


def transcribe_audio(
    model: LoadedModel,
    audio: np.ndarray,
    *,
    decode: DecodeConfig | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Transcription:
    """Events for mono ``audio`` (float32 at ``model.config.features.sample_rate``).

    ``decode`` overrides the model's stored decode settings (thresholds, offset).
    """
    activations = compute_activations(model, audio, on_progress=on_progress)
    events = decode_activations(
        activations,
        frame_rate_hz=model.frame_rate_hz,
        labels=model.config.labels,
        midi_notes=model.config.midi_notes,
        config=decode or model.config.decode,
    )
    duration = len(audio) / model.config.features.sample_rate
    return Transcription(events=events, activations=activations, frame_rate_hz=model.frame_rate_hz, duration_s=duration)


def transcribe_file(
    model: LoadedModel,
    path: str | Path,
    *,
    decode: DecodeConfig | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Transcription:
    """Load ``path`` and transcribe it; raises AudioLoadError for unreadable audio.

    Examples
    --------
    >>> result = transcribe_file(load_model("drums"), "song.wav")
    >>> [e.label for e in result.events][:3]
    """
    audio = load_audio(path, sample_rate=model.config.features.sample_rate)
    return transcribe_audio(model, audio, decode=decode, on_progress=on_progress)
