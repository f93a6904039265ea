"""The network: convolutions with frequency-only pooling, a recurrent layer, one sigmoid per class.

Follows the paper's architecture (conv 3×k blocks, max-pooling over frequency only so every
frame keeps its own time step, a recurrent layer, dense outputs). ``forward`` returns logits
``(batch, frames, classes)``; probabilities are ``torch.sigmoid`` of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class ModelConfig:
    n_classes: int = 3
    n_mels: int = 80  # must match FeatureConfig.n_mels
    n_windows: int = 1  # STFT window sizes stacked in the features (FeatureConfig.n_ffts)
    conv_channels: list[int] = field(default_factory=lambda: [8, 16, 16, 32])  # 8 first: the full-resolution layer dominates CPU time
    kernel_time: int = 3  # frames
    kernel_freq: int = 3  # mel bands
    rnn: str = "gru"  # "gru" | "lstm"
    rnn_hidden: int = 48
    bidirectional: bool = True  # offline transcription: look ahead as well as back
    dropout: float = 0.1
    # Output bias so that p ≈ 1e-3 per frame, P(no event in a 2 s crop) ≈ 0.8
    # (the authors' initialisation; reference-notes.md).
    initial_probability: float = 1e-3


class SoftlocNet(nn.Module):
    """Features ``(batch, 2, frames, n_mels × n_windows)`` → logits ``(batch, frames, n_classes)``.

    Stacked window sizes become input channels: 2 × n_windows maps of n_mels bands.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = [nn.BatchNorm2d(2 * config.n_windows)]
        in_channels, n_freq = 2 * config.n_windows, config.n_mels
        for channels in config.conv_channels:
            layers += [
                nn.Conv2d(
                    in_channels,
                    channels,
                    (config.kernel_time, config.kernel_freq),
                    padding=(config.kernel_time // 2, config.kernel_freq // 2),
                ),
                nn.BatchNorm2d(channels),
                nn.ReLU(),
                FrequencyMaxPool(),
            ]
            in_channels, n_freq = channels, n_freq // 2
        self.conv = nn.Sequential(*layers)
        self.dropout = nn.Dropout(config.dropout)
        rnn_type = {"gru": nn.GRU, "lstm": nn.LSTM}[config.rnn]
        self.rnn = rnn_type(
            in_channels * n_freq, config.rnn_hidden, batch_first=True, bidirectional=config.bidirectional
        )
        rnn_out = config.rnn_hidden * (2 if config.bidirectional else 1)
        self.head = nn.Linear(rnn_out, config.n_classes)
        self.reset_head()

    def reset_head(self, rows: list[int] | None = None) -> None:
        """Initialise output rows (all by default) to the low event prior."""
        rows = list(range(self.config.n_classes)) if rows is None else rows
        p = self.config.initial_probability
        with torch.no_grad():
            fresh = nn.Linear(self.head.in_features, self.config.n_classes)
            self.head.weight[rows] = fresh.weight[rows]
            self.head.bias[rows] = math.log(p / (1 - p))

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """Features → the convolutional stack's output ``(batch, frames, channels × bands)``."""
        if self.config.n_windows > 1:
            batch, channels, frames, width = features.shape
            features = features.reshape(batch, channels, frames, self.config.n_windows, width // self.config.n_windows)
            features = features.permute(0, 1, 3, 2, 4).reshape(batch, channels * self.config.n_windows, frames, -1)
        x = self.conv(features)  # (B, C, T, F)
        batch, channels, frames, freq = x.shape
        return x.permute(0, 2, 1, 3).reshape(batch, frames, channels * freq)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x, _ = self.rnn(self.dropout(self.encode(features)))
        return self.head(self.dropout(x))

    def logits_of_sequences(self, encoded: list[torch.Tensor]) -> list[torch.Tensor]:
        """Logits ``(frames_i, classes)`` for several encoded sequences ``(frames_i, width)`` of any
        lengths, run through the recurrent layer side by side (inference only).

        The recurrent layer steps frame by frame, so on CPU one batch of n sequences costs little
        more than one of them: this is what makes chunked inference fast. Unequal lengths are
        packed, so every sequence gets exactly the result it would get alone; on Apple's MPS,
        where packed recurrent layers are unreliable (pytorch/pytorch#102911), they run one by one."""
        lengths = [len(x) for x in encoded]
        equal = len(set(lengths)) == 1
        if not equal and encoded[0].device.type not in ("cpu", "cuda"):
            return [self.logits_of_sequences([x])[0] for x in encoded]
        padded = nn.utils.rnn.pad_sequence(encoded, batch_first=True)
        if equal:
            out, _ = self.rnn(padded)
        else:
            packed = nn.utils.rnn.pack_padded_sequence(padded, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        logits = self.head(out)
        return [logits[index, :length] for index, length in enumerate(lengths)]


class FrequencyMaxPool(nn.Module):
    """Max over neighbouring pairs of bands, as ``nn.MaxPool2d((1, 2))`` (an odd last band is
    dropped) but several times faster on CPU, where the pooling layers cost as much as the
    convolutions."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        even = x.shape[-1] // 2 * 2
        return torch.maximum(x[..., 0:even:2], x[..., 1:even:2])


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
