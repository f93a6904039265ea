"""Sound output and single key presses for ``softloc tap``: the only code that touches a device.

sounddevice (PortAudio) is the optional extra ``softloc-cli[tap]``, imported here only when
tapping starts, so the rest of the package and every test run without it; a missing module,
a missing PortAudio library and a machine without an output device each become one line that
says what to install or connect. The command gets its stream through :func:`output_stream_factory`
and its keys through :func:`key_reader`, which tests replace with fakes; :class:`Player`, whose
callback stamps each buffer with the time it reaches the speaker, is the same code either way.
"""

from __future__ import annotations

import os
import select
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import SoftlocError
from .tapping import PlaybackClock

INSTALL_HINT = "pip install 'softloc-cli[tap]'"
PORTAUDIO_HINT = "the PortAudio library (Debian/Ubuntu: sudo apt install libportaudio2; macOS: brew install portaudio)"


@dataclass(frozen=True)
class OutputDevice:
    """The default output: its name, native sample rate and the channels a stream opens with."""

    name: str
    samplerate: int
    channels: int = 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def import_sounddevice():
    """The sounddevice module, or one line saying what to install."""
    try:
        import sounddevice
    except ImportError:
        raise SoftlocError(f"softloc tap plays audio through sounddevice, which is not installed: {INSTALL_HINT} "
                           f"(it also needs {PORTAUDIO_HINT})") from None
    except OSError as exc:  # sounddevice raises OSError("PortAudio library not found") on import
        raise SoftlocError(f"sounddevice cannot load PortAudio ({_one_line(exc)}): install {PORTAUDIO_HINT}") from None
    return sounddevice


def default_output(sd) -> OutputDevice:
    """The default output device, or one line saying there is none."""
    hint = "connect headphones or speakers, or check that the sound server (PipeWire, PulseAudio) is running"
    try:
        info = sd.query_devices(kind="output")
    except Exception as exc:  # PortAudioError ("Error querying device -1"), ValueError: no default output
        raise SoftlocError(f"no audio output device found ({_one_line(exc)}); {hint}") from None
    channels = int(info.get("max_output_channels", 0)) if info else 0
    if channels < 1:
        raise SoftlocError(f"no audio output device found; {hint}")
    return OutputDevice(str(info["name"]), int(round(float(info["default_samplerate"]))), min(channels, 2))


def output_stream_factory() -> tuple[Callable[..., Any], OutputDevice]:
    """``(open_stream, device)``: ``open_stream(**kwargs)`` opens a ``sounddevice.OutputStream`` on
    the default output; failures to open it are one line too."""
    sd = import_sounddevice()
    device = default_output(sd)

    def open_stream(**kwargs):
        try:
            return sd.OutputStream(**kwargs)
        except Exception as exc:  # PortAudioError, ValueError (unsupported rate or channels)
            raise SoftlocError(f"cannot open the audio output {device.name!r}: {_one_line(exc)}") from None

    return open_stream, device


class Player:
    """Plays mono audio through an output stream and anchors a :class:`PlaybackClock` at every buffer.

    In the stream callback, ``time.outputBufferDacTime`` is when the buffer's first frame reaches
    the speaker; some host APIs leave it 0, and then ``currentTime`` plus the stream's reported
    output latency stands in. After the audio, the stream plays silence (and keeps anchoring).
    """

    def __init__(self, audio: np.ndarray, clock: PlaybackClock, open_stream: Callable[..., Any], *,
                 channels: int = 1) -> None:
        self.audio = np.ascontiguousarray(audio, dtype=np.float32)
        self.clock = clock
        self._frame = 0
        self._stream = open_stream(samplerate=clock.samplerate, channels=channels, dtype="float32",
                                   callback=self._callback)
        self._latency = float(getattr(self._stream, "latency", 0.0) or 0.0)

    def _callback(self, outdata, frames, time_info, status) -> None:
        start = self._frame
        chunk = self.audio[start : start + frames]
        outdata[: len(chunk)] = chunk[:, None]
        outdata[len(chunk) :] = 0
        dac = time_info.outputBufferDacTime or time_info.currentTime + self._latency
        self.clock.anchor(dac, start)
        self._frame = start + frames

    def start(self) -> None:
        self._stream.start()

    def now(self) -> float:
        """The stream's clock (the one DAC times are given in)."""
        return float(self._stream.time)

    def stop(self) -> None:
        try:
            self._stream.stop()
        finally:
            self._stream.close()


# ---------------------------------------------------------------------------------------- keys


def decode_keys(data: bytes) -> list[str]:
    """Terminal bytes → key names: a lower-case character, ``space``, ``backspace``, ``esc``,
    ``enter``, ``ctrl-c``; escape sequences (arrows, function keys) are skipped."""
    text = data.decode("utf-8", errors="ignore")
    keys, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\x1b":
            if i + 1 < len(text) and text[i + 1] in "[O":  # CSI / SS3: ends at a byte in @..~
                j = i + 2
                while j < len(text) and not ("@" <= text[j] <= "~"):
                    j += 1
                i = j + 1
                continue
            keys.append("esc")
        elif ch in "\x7f\x08":
            keys.append("backspace")
        elif ch == " ":
            keys.append("space")
        elif ch in "\r\n":
            keys.append("enter")
        elif ch == "\x03":
            keys.append("ctrl-c")
        elif ch.isprintable():
            keys.append(ch.lower())
        i += 1
    return keys


class TerminalKeys:
    """Single key presses from a POSIX terminal, without Enter and without echo (cbreak mode,
    which keeps Ctrl-C a signal); the terminal is restored on exit, whatever happened."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved = None
        self._pending: deque[str] = deque()

    def __enter__(self) -> TerminalKeys:
        import termios
        import tty

        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        return self

    def __exit__(self, *exc) -> None:
        import termios

        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def read(self, timeout: float) -> str | None:
        """The next key, or None after ``timeout`` seconds without one."""
        if not self._pending:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if ready:
                self._pending.extend(decode_keys(os.read(self.fd, 64)))
        return self._pending.popleft() if self._pending else None


class WindowsKeys:
    """Single key presses from a Windows console (msvcrt)."""

    def __enter__(self) -> WindowsKeys:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def read(self, timeout: float) -> str | None:
        import msvcrt

        deadline = time.monotonic() + timeout
        while True:
            if msvcrt.kbhit():
                ch = msvcrt.getwch()
                if ch in ("\x00", "\xe0"):  # arrow and function keys: a second code follows
                    msvcrt.getwch()
                    continue
                keys = decode_keys(ch.encode("utf-8"))
                if keys:
                    return keys[0]
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.005)


def key_reader(stream=None):
    """A context manager whose ``read(timeout)`` returns single key presses from the terminal.

    Raises
    ------
    SoftlocError
        stdin is not a terminal (a pipe, a file, an IDE console).
    """
    stream = sys.stdin if stream is None else stream
    if not (hasattr(stream, "isatty") and stream.isatty()):
        raise SoftlocError("softloc tap reads single key presses from a terminal, and stdin is not one; "
                           "run it in a terminal, not through a pipe")
    return WindowsKeys() if os.name == "nt" else TerminalKeys(stream.fileno())
