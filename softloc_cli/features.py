"""The spectral front end: log-mel magnitude plus its positive first difference.

Plain torch (``torch.stft`` and a librosa mel filter bank held as a buffer), so it runs on
CPU or GPU with any torch build and needs no torchaudio. Frame ``t`` is centred at
``t / frame_rate_hz`` seconds (centred STFT), which is the time convention everywhere else.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class FeatureConfig:
    sample_rate: int = 24000  # Hz; 12 kHz Nyquist keeps hi-hat energy, 240-sample hop = 10 ms
    hop_length: int = 240  # samples; 100 frames per second
    n_fft: int = 1024  # 42.7 ms window: short enough for sharp attacks, 23 Hz bins for kicks
    n_mels: int = 80
    fmin: float = 30.0  # Hz
    fmax: float = 11000.0  # Hz
    log_gain: float = 100.0  # log(1 + log_gain * mel): compresses like dB but stays finite at silence
    extra_n_ffts: list[int] = field(default_factory=list)  # more window sizes, their log-mel bands
    # appended after the first's (madmom's onset CNN stacks three); the network sees them as channels

    @property
    def n_ffts(self) -> list[int]:
        return [self.n_fft, *self.extra_n_ffts]

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate / self.hop_length


class LogMelFlux(nn.Module):
    """Waveform ``(batch, samples)`` → features ``(batch, 2, frames, n_mels × window sizes)``.

    Channel 0 is the log-mel magnitude, channel 1 its positive difference to the previous
    frame (spectral flux per band), which makes onsets stand out. With several window sizes
    their bands sit side by side; :class:`softloc_cli.model.SoftlocNet` splits them into channels.
    """

    def __init__(self, config: FeatureConfig):
        super().__init__()
        import librosa  # deferred: keeps `softloc --help` fast

        self.config = config
        for index, n_fft in enumerate(config.n_ffts):
            with warnings.catch_warnings():  # short windows leave the lowest mel bands empty; the long ones fill them
                warnings.simplefilter("ignore", UserWarning)
                mel = librosa.filters.mel(
                    sr=config.sample_rate, n_fft=n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax
                )
            suffix = "" if index == 0 else f"_{index}"
            self.register_buffer(f"mel_basis{suffix}", torch.from_numpy(mel).float(), persistent=False)
            self.register_buffer(f"window{suffix}", torch.hann_window(n_fft), persistent=False)

    def n_frames(self, n_samples: int) -> int:
        return n_samples // self.config.hop_length + 1

    def logmel(self, waveform: torch.Tensor) -> torch.Tensor:
        """Waveform ``(batch, samples)`` → log-mel ``(batch, frames, n_mels)``."""
        if waveform.dim() == 1:
            waveform = waveform.unsqueeze(0)
        bands = []
        for index, n_fft in enumerate(self.config.n_ffts):
            suffix = "" if index == 0 else f"_{index}"
            spec = torch.stft(
                waveform.float(),
                n_fft=n_fft,
                hop_length=self.config.hop_length,
                window=getattr(self, f"window{suffix}"),
                center=True,
                pad_mode="constant",
                return_complex=True,
            ).abs()  # (B, F, T)
            bands.append(torch.matmul(getattr(self, f"mel_basis{suffix}"), spec))  # (B, M, T)
        mel = bands[0] if len(bands) == 1 else torch.cat(bands, dim=1)
        return torch.log1p(self.config.log_gain * mel).transpose(1, 2)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return add_flux(self.logmel(waveform))


def add_flux(logmel: torch.Tensor) -> torch.Tensor:
    """Log-mel ``(batch, frames, n_mels)`` → ``(batch, 2, frames, n_mels)`` with its positive difference."""
    logmel = logmel.float()
    flux = torch.relu(logmel[:, 1:] - logmel[:, :-1])
    flux = torch.cat([torch.zeros_like(logmel[:, :1]), flux], dim=1)
    return torch.stack([logmel, flux], dim=1)


def scale_gain(logmel: torch.Tensor, gain: torch.Tensor, log_gain: float) -> torch.Tensor:
    """Log-mel of the same audio played ``gain`` times louder (amplitude factor per batch item).

    Exact, because ``log1p`` is invertible: lets training augment gain on cached features.
    """
    mel = torch.expm1(logmel.float()) / log_gain
    return torch.log1p(log_gain * mel * gain.view(-1, 1, 1))


def shift_mel(logmel: torch.Tensor, shifts: list[int], n_mels: int | None = None) -> torch.Tensor:
    """Move each batch item's log-mel ``(batch, frames, n_mels)`` up or down by whole bands,
    repeating the edge band; a cheap stand-in for other tunings and kits in training.
    With stacked window sizes (``n_mels`` per window), each window's bands move on their own."""
    if n_mels is not None and logmel.shape[-1] > n_mels:
        batch, frames, width = logmel.shape
        per_window = logmel.reshape(batch, frames, width // n_mels, n_mels).permute(2, 0, 1, 3)
        return torch.cat([shift_mel(part, shifts) for part in per_window], dim=-1)
    out = torch.empty_like(logmel)
    for index, shift in enumerate(shifts):
        item = logmel[index]
        if shift > 0:
            out[index] = torch.cat([item[:, :1].expand(-1, shift), item[:, :-shift]], dim=1)
        elif shift < 0:
            out[index] = torch.cat([item[:, -shift:], item[:, -1:].expand(-1, -shift)], dim=1)
        else:
            out[index] = item
    return out
