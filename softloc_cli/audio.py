"""Decoding audio files to mono float32 at the model's sample rate.

Files libsndfile can read (wav, flac, ogg, mp3 with libsndfile ≥ 1.1, aiff) are streamed in
blocks through a soxr resampler, so a long file never exists in memory at its original rate
and channel count. Anything else falls back to librosa (audioread / ffmpeg). Errors from
every decoder tried are reported together.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import AudioLoadError

BLOCK_SECONDS = 30  # streaming block length; bounds peak memory for long files


def _load_soundfile(path: Path, sample_rate: int) -> np.ndarray:
    import soundfile as sf
    import soxr

    with sf.SoundFile(str(path)) as f:
        if f.frames == 0:
            raise AudioLoadError(f"{path}: the file holds no audio samples")
        resampler = soxr.ResampleStream(f.samplerate, sample_rate, 1, dtype="float32") if f.samplerate != sample_rate else None
        pieces = []
        block = max(1, int(BLOCK_SECONDS * f.samplerate))
        while True:
            data = f.read(block, dtype="float32", always_2d=True)
            last = len(data) < block
            mono = data.mean(axis=1) if len(data) else np.zeros(0, np.float32)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last)
            pieces.append(np.asarray(mono, dtype=np.float32))
            if last:
                break
    return np.concatenate(pieces)


def _load_librosa(path: Path, sample_rate: int) -> np.ndarray:
    import warnings

    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        audio, _ = librosa.load(str(path), sr=sample_rate, mono=True)
    return audio.astype(np.float32)


def load_audio(path: str | Path, *, sample_rate: int) -> np.ndarray:
    """Read ``path`` as mono float32 at ``sample_rate``.

    Parameters
    ----------
    path : str or Path
        Any common audio format.
    sample_rate : int > 0
        Target rate in Hz (the model's ``FeatureConfig.sample_rate``).

    Returns
    -------
    audio : np.ndarray [shape=(n_samples,)], float32

    Raises
    ------
    AudioLoadError
        Missing, empty, corrupt or undecodable file; the message lists each decoder's error.

    Examples
    --------
    >>> audio = load_audio("song.wav", sample_rate=24000)
    """
    path = Path(path)
    if not path.exists():
        raise AudioLoadError(f"{path}: no such file")
    if path.is_dir():
        raise AudioLoadError(f"{path}: is a directory, expected an audio file")
    if path.stat().st_size == 0:
        raise AudioLoadError(f"{path}: the file is empty (0 bytes)")
    errors = []
    for name, loader in (("soundfile", _load_soundfile), ("librosa/audioread", _load_librosa)):
        try:
            audio = loader(path, sample_rate)
        except AudioLoadError:
            raise
        except Exception as exc:  # decoders raise many unrelated types; all mean "could not decode"
            errors.append(f"{name}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
            continue
        if audio.size == 0:
            raise AudioLoadError(f"{path}: the file holds no audio samples")
        if not np.all(np.isfinite(audio)):
            raise AudioLoadError(f"{path}: the audio contains NaN or infinite samples")
        return audio
    raise AudioLoadError(f"{path}: cannot decode audio ({'; '.join(errors)})")
