"""Features, the network, and chunked inference over long audio."""

import math

import numpy as np
import pytest
import torch

from softloc_cli.features import FeatureConfig, LogMelFlux
from softloc_cli.model import ModelConfig, SoftlocNet
from softloc_cli.inference import compute_activations, load_model, transcribe_audio

from conftest import SAMPLE_RATE, hits_audio


@pytest.fixture(scope="module")
def frontend():
    return LogMelFlux(FeatureConfig())


def logit(p):
    p = np.asarray(p, dtype=np.float64)
    return np.log(p / (1 - p))


@pytest.mark.parametrize("n_samples", [1, 239, 240, 24000, 24001])
def test_feature_shape(frontend, n_samples):
    feats = frontend(torch.zeros(2, n_samples))
    assert feats.shape == (2, 2, frontend.n_frames(n_samples), FeatureConfig().n_mels)
    assert frontend.n_frames(n_samples) == n_samples // 240 + 1


def test_features_are_finite_on_silence_and_flux_is_non_negative(frontend):
    silent = frontend(torch.zeros(SAMPLE_RATE))
    assert torch.isfinite(silent).all()
    assert silent.abs().max() == 0  # log1p(0): silence is exactly zero, no -inf
    feats = frontend(torch.from_numpy(hits_audio(1.0)))
    assert torch.isfinite(feats).all()
    assert feats.shape[0] == 1  # a 1-d waveform is one batch item
    logmel, flux = feats[0, 0], feats[0, 1]
    assert (flux >= 0).all() and flux.max() > 0
    assert (flux[0] == 0).all()
    assert torch.allclose(flux[1:], torch.relu(logmel[1:] - logmel[:-1]))


def test_feature_frames_are_centred():
    """Frame t is centred at t / 100 s: an impulse at 0.5 s peaks in frame 50's flux."""
    frontend = LogMelFlux(FeatureConfig())
    audio = torch.zeros(SAMPLE_RATE)
    audio[12000:] = 0  # impulse alone
    audio[12000] = 1.0
    energy = frontend(audio)[0, 0].sum(dim=1)
    assert int(energy.argmax()) == 50


@pytest.mark.parametrize("rnn, bidirectional", [("gru", True), ("lstm", False)])
def test_model_output_shape(rnn, bidirectional):
    config = ModelConfig(n_classes=3, conv_channels=[4, 4, 8], rnn=rnn, rnn_hidden=8, bidirectional=bidirectional)
    net = SoftlocNet(config).eval()
    logits = net(torch.randn(2, 2, 37, config.n_mels))
    assert logits.shape == (2, 37, 3)


def test_output_bias_starts_at_the_event_prior():
    net = SoftlocNet(ModelConfig(conv_channels=[4], rnn_hidden=8))
    assert torch.allclose(net.head.bias, torch.full((3,), math.log(1e-3 / (1 - 1e-3))))
    assert net.head.bias[0].item() == pytest.approx(-6.9068, abs=1e-4)
    # re-initialising one row (new class on a fine-tuned model) leaves the others alone
    with torch.no_grad():
        net.head.bias.fill_(1.0)
    net.reset_head([2])
    assert net.head.bias.tolist()[:2] == [1.0, 1.0]
    assert net.head.bias[2].item() == pytest.approx(math.log(1e-3 / (1 - 1e-3)))


# -- chunked inference ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def eventful(eventful_model_dir):
    return load_model(eventful_model_dir, device="cpu")


@pytest.fixture(scope="module")
def long_audio():
    return hits_audio(8.0, seed=3)


def test_chunked_activations_match_one_chunk(eventful, long_audio):
    """Chunks of 1 s with 0.5 s of context on each side reproduce the one-pass activations.

    Measured on this random model: max |Δ logit| ≈ 2e-7 to 5e-7 (float32 noise); the tolerance of 1e-4
    leaves room for other BLAS builds. The logits span about 0.6 on this audio.
    """
    whole = compute_activations(eventful, long_audio, chunk_s=100.0)
    assert whole.shape == (len(long_audio) // 240 + 1, 2)
    chunked = compute_activations(eventful, long_audio, chunk_s=1.0, context_s=0.5)
    assert chunked.shape == whole.shape
    assert np.abs(logit(chunked) - logit(whole)).max() < 1e-4
    assert np.ptp(logit(whole)) > 0.1  # the comparison is not between two constants


def test_without_context_errors_stay_at_chunk_borders(eventful, long_audio):
    """Context-free chunks differ near their borders (the recurrent layer and the STFT lose their
    neighbours) but agree 0.3 s away from any border (measured: Δ logit ≈ 5e-6 there, 0.13 at
    the borders)."""
    whole = logit(compute_activations(eventful, long_audio, chunk_s=100.0))
    chunked = logit(compute_activations(eventful, long_audio, chunk_s=2.0, context_s=0.0))
    diff = np.abs(chunked - whole).max(axis=1)
    frames = np.arange(len(diff))
    distance = np.minimum(frames % 200, 200 - frames % 200)
    assert diff[distance >= 30].max() < 1e-4
    assert diff[distance <= 1].max() > 10 * diff[distance >= 30].max()


def test_chunks_batched_match_chunks_one_by_one(eventful, long_audio):
    """Chunks of unequal lengths (the first and last lack context) share one packed pass through
    the recurrent layer and get the logits each gets alone (measured: max |Δ logit| ≈ 1e-7)."""
    alone = logit(compute_activations(eventful, long_audio, chunk_s=1.0, context_s=0.5, chunks_per_batch=1))
    batched = logit(compute_activations(eventful, long_audio, chunk_s=1.0, context_s=0.5, chunks_per_batch=8))
    assert np.abs(batched - alone).max() < 1e-4
    assert np.ptp(alone) > 0.1


def test_equal_chunks_batched_match_chunks_one_by_one(eventful, long_audio):
    """400 frames in chunks of 100 without context, two per batch: the first batch holds two
    equal lengths (101 feature frames each: one unpacked pass), the second 101 and 100 (packed)."""
    audio = long_audio[: 399 * 240]
    alone = logit(compute_activations(eventful, audio, chunk_s=1.0, context_s=0.0, chunks_per_batch=1))
    batched = logit(compute_activations(eventful, audio, chunk_s=1.0, context_s=0.0, chunks_per_batch=2))
    assert alone.shape == (400, 2)
    assert np.abs(batched - alone).max() < 1e-4


def test_progress_reports_seconds_done(eventful, long_audio):
    seen = []
    compute_activations(eventful, long_audio, chunk_s=3.0, context_s=0.5, chunks_per_batch=1, on_progress=seen.append)
    assert seen == pytest.approx([3.0, 6.0, len(long_audio) / SAMPLE_RATE])
    seen = []
    compute_activations(eventful, long_audio, chunk_s=3.0, context_s=0.5, chunks_per_batch=2, on_progress=seen.append)
    assert seen == pytest.approx([6.0, len(long_audio) / SAMPLE_RATE])


@pytest.mark.parametrize("n_samples", [0, 1, 240, 24000])
def test_short_and_empty_audio(eventful, n_samples):
    result = transcribe_audio(eventful, np.zeros(n_samples, np.float32))
    assert result.activations.shape == (n_samples // 240 + 1, 2)
    assert result.duration_s == n_samples / SAMPLE_RATE


def test_shift_mel_moves_bands_and_repeats_edges():
    import torch

    from softloc_cli.features import shift_mel

    x = torch.arange(6.0).view(1, 1, 6).repeat(3, 2, 1)
    out = shift_mel(x, [2, -1, 0])
    assert out[0, 0].tolist() == [0, 0, 0, 1, 2, 3]
    assert out[1, 0].tolist() == [1, 2, 3, 4, 5, 5]
    assert torch.equal(out[2], x[2])
