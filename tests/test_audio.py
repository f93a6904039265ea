import warnings

import numpy as np
import pytest
import soundfile as sf

from softloc_cli import audio as audio_module
from softloc_cli.audio import TruncatedAudioWarning, load_audio
from softloc_cli.errors import AudioLoadError

from conftest import SAMPLE_RATE


def test_mono_float32_at_model_rate(tmp_path):
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    wave = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(tmp_path / "a.wav", wave, SAMPLE_RATE, subtype="FLOAT")
    loaded = load_audio(tmp_path / "a.wav", sample_rate=SAMPLE_RATE)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, wave)


def test_stereo_is_averaged_and_resampled(tmp_path):
    rate = 44100
    t = np.arange(int(1.5 * rate)) / rate
    tone = np.sin(2 * np.pi * 200 * t)
    sf.write(tmp_path / "s.flac", np.stack([0.4 * tone, 0.2 * tone], axis=1), rate)
    loaded = load_audio(tmp_path / "s.flac", sample_rate=SAMPLE_RATE)
    assert loaded.dtype == np.float32 and loaded.ndim == 1
    assert abs(len(loaded) - 1.5 * SAMPLE_RATE) <= 1
    reference = 0.3 * np.sin(2 * np.pi * 200 * np.arange(len(loaded)) / SAMPLE_RATE)
    middle = slice(1000, -1000)  # away from the resampler's edges
    assert np.abs(loaded[middle] - reference[middle]).max() < 2e-3


def test_streamed_blocks_equal_one_block(tmp_path, monkeypatch):
    """Resampling block by block (long files) gives the same samples as one read."""
    rate = 22050
    noise = np.random.default_rng(0).normal(0, 0.1, 3 * rate).astype(np.float32)
    sf.write(tmp_path / "n.wav", noise, rate, subtype="FLOAT")
    whole = load_audio(tmp_path / "n.wav", sample_rate=SAMPLE_RATE)
    monkeypatch.setattr(audio_module, "BLOCK_SECONDS", 0.7)
    blocks = load_audio(tmp_path / "n.wav", sample_rate=SAMPLE_RATE)
    assert len(blocks) == len(whole)
    np.testing.assert_allclose(blocks, whole, atol=1e-5)


def test_exact_multiple_of_block_length(tmp_path, monkeypatch):
    rate = 16000
    sf.write(tmp_path / "m.wav", np.zeros(2 * rate, np.float32), rate)
    monkeypatch.setattr(audio_module, "BLOCK_SECONDS", 1)
    assert len(load_audio(tmp_path / "m.wav", sample_rate=SAMPLE_RATE)) == 2 * SAMPLE_RATE


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.wav", b"", r"empty\.wav: the file is empty \(0 bytes\)"),
        ("notes.wav", b"this is not audio\n" * 20, r"notes\.wav: cannot decode audio \(soundfile: .*; librosa/audioread: "),
        ("notes.txt", b"0.5,kick\n", r"notes\.txt: cannot decode audio"),
    ],
)
def test_unreadable_files(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(AudioLoadError, match=message) as info:
        load_audio(tmp_path / name, sample_rate=SAMPLE_RATE)
    assert "\n" not in str(info.value)


def test_truncated_and_sample_free_wavs(tmp_path):
    sf.write(tmp_path / "ok.wav", np.zeros(4800, np.float32), SAMPLE_RATE)
    data = (tmp_path / "ok.wav").read_bytes()
    (tmp_path / "header-only.wav").write_bytes(data[:30])
    with pytest.raises(AudioLoadError, match="header-only.wav"):
        load_audio(tmp_path / "header-only.wav", sample_rate=SAMPLE_RATE)
    sf.write(tmp_path / "zero.wav", np.zeros(0, np.float32), SAMPLE_RATE)
    with pytest.raises(AudioLoadError, match="holds no audio samples"):
        load_audio(tmp_path / "zero.wav", sample_rate=SAMPLE_RATE)


@pytest.mark.parametrize("subtype, header_bytes", [("PCM_16", 44), ("FLOAT", 80)])
def test_truncated_wav_warns_and_keeps_what_is_there(tmp_path, subtype, header_bytes):
    """libsndfile clips ``frames`` to the bytes present, so a cut-off copy would pass as a short file."""
    sf.write(tmp_path / "full.wav", np.zeros(3 * SAMPLE_RATE, np.float32), SAMPLE_RATE, subtype=subtype)
    width = 2 if subtype == "PCM_16" else 4
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: header_bytes + 10 * width])  # header + 10 samples
    with pytest.warns(TruncatedAudioWarning) as caught:
        audio = load_audio(tmp_path / "cut.wav", sample_rate=SAMPLE_RATE)
    assert len(audio) == 10
    assert [str(w.message) for w in caught] == [
        f"{tmp_path / 'cut.wav'}: file is truncated: header says 3.0 s, 0.0004 s read; transcribing what is there"
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the intact file: no warning
        assert len(load_audio(tmp_path / "full.wav", sample_rate=SAMPLE_RATE)) == 3 * SAMPLE_RATE


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(AudioLoadError, match="no such file"):
        load_audio(tmp_path / "gone.wav", sample_rate=SAMPLE_RATE)
    with pytest.raises(AudioLoadError, match="is a directory"):
        load_audio(tmp_path, sample_rate=SAMPLE_RATE)


def test_non_finite_samples(tmp_path):
    wave = np.zeros(2400, np.float32)
    wave[100] = np.nan
    sf.write(tmp_path / "nan.wav", wave, SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(AudioLoadError, match="NaN or infinite"):
        load_audio(tmp_path / "nan.wav", sample_rate=SAMPLE_RATE)
