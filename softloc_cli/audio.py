"""Decoding audio files to mono float32 at the model's sample rate.

Files libsndfile can read (wav, flac, ogg, mp3 with libsndfile ≥ 1.1, aiff) are streamed in
blocks through a soxr resampler, so a long file never exists in memory at its original rate
and channel count. Anything else falls back to librosa (audioread / ffmpeg). Errors from
every decoder tried are reported together. A WAV file shorter than its header says (a copy or
download cut off) is read as far as it goes, with a :class:`TruncatedAudioWarning`.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np

from .errors import AudioLoadError

BLOCK_SECONDS = 30  # streaming block length; bounds peak memory for long files


class TruncatedAudioWarning(UserWarning):
    """The file holds fewer samples than its header promises: the rest of the audio is missing."""


def _wav_header_frames(path: Path) -> int | None:
    """Frames the ``data`` chunk of a RIFF/WAVE header declares, or None (not WAV, RF64, size unknown).

    libsndfile silently clips ``frames`` to what the file holds, so the header is read here.
    """
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block_align = None
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                # 0 and 0xFFFFFFFF are what streaming writers leave when the length is unknown
                if not block_align or size == 0 or size >= 0xFFFFFFF0:
                    return None
                return size // block_align
            body = fh.read(size + (size & 1)) if chunk_id == b"fmt " else None
            if body is not None:
                if len(body) < 14:
                    return None
                block_align = struct.unpack("<H", body[12:14])[0]
            else:
                fh.seek(size + (size & 1), 1)


def _seconds(value: float) -> str:
    """``3.0``, ``1.25``, ``0.0004``: short, but never rounded to zero."""
    if value >= 0.001:
        text = f"{value:.4f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    return f"{value:.1g}"


def _load_soundfile(path: Path, sample_rate: int) -> np.ndarray:
    import soundfile as sf
    import soxr

    with sf.SoundFile(str(path)) as f:
        if f.frames == 0:
            raise AudioLoadError(f"{path}: the file holds no audio samples")
        promised = _wav_header_frames(path) if f.format in ("WAV", "WAVEX") else None
        read = 0
        resampler = soxr.ResampleStream(f.samplerate, sample_rate, 1, dtype="float32") if f.samplerate != sample_rate else None
        pieces = []
        block = max(1, int(BLOCK_SECONDS * f.samplerate))
        while True:
            data = f.read(block, dtype="float32", always_2d=True)
            read += len(data)
            last = len(data) < block
            mono = data.mean(axis=1) if len(data) else np.zeros(0, np.float32)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last)
            pieces.append(np.asarray(mono, dtype=np.float32))
            if last:
                break
        if promised is not None and read < promised:
            warnings.warn(
                f"{path}: file is truncated: header says {_seconds(promised / f.samplerate)} s, "
                f"{_seconds(read / f.samplerate)} s read; transcribing what is there",
                TruncatedAudioWarning,
                stacklevel=3,  # the caller of load_audio
            )
    return np.concatenate(pieces)


def _load_librosa(path: Path, sample_rate: int) -> np.ndarray:
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

    Warns
    -----
    TruncatedAudioWarning
        A WAV file holds fewer samples than its header says; what is there is returned.

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
