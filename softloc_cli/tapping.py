"""Tapping annotations along to playback: everything of ``softloc tap`` that needs no sound card.

Why apart from the device code (:mod:`softloc_cli.tap_io`): what ends up in the annotation —
which key is which class, where in the file a key press lands, undo, merging with an earlier
pass, the calibration statistics and where they are kept — is decided here from times and key
names alone, so tests drive it with a fake clock and scripted keys.

Time. A key press is stamped with the output stream's clock (``stream.time``), never the wall
clock. For each buffer it asks for, the stream reports when that buffer's first frame reaches the
speaker (PortAudio's ``outputBufferDacTime``); :class:`PlaybackClock` keeps these (DAC time, frame)
anchors, so a press at stream time ``t`` was made while frame ``frame + (t - dac) * samplerate``
was sounding: the output latency is already accounted for. The frame becomes a file position
through the rate the audio was resampled to (``--rate 0.75`` plays the file resampled to
``samplerate / 0.75``, tape-style) and the start position. What is left between sound and key
(reaction, the keyboard, latency a driver misreports) is the user's offset: ``softloc tap
--calibrate`` measures it on a click track (:func:`measure_calibration`) and it is subtracted
from every press, in stream seconds, so it is right at any rate.

Files. Taps are merged into the annotation already at the output path (a second pass adds a class;
earlier events are never dropped) and written atomically. Beside the annotation,
``<stem>.tapinfo`` (JSON; not an annotation extension, so folder scans do not take it for labels)
records each pass and the calibrated spread, which ``softloc train --softness auto`` can use
instead of measuring it against the base model (:func:`stored_tap_spread`). The calibration is
``tap-calibration.json`` in ``$SOFTLOC_CONFIG_DIR`` (default ``$XDG_CONFIG_HOME/softloc``, else
``~/.config/softloc``).
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import numpy as np

from .annotations import read_annotations, write_events
from .classmap import resolve_label
from .errors import ConfigError, SoftlocError, UsageError
from .events import Event, sort_events
from .fileio import atomic_write
from .hub import CONFIG_NAME
from .units import parse_duration

#: Keys that never tap: undo the last tap of this pass, or stop and save.
UNDO_KEYS = frozenset({"backspace", "u"})
STOP_KEYS = frozenset({"q", "esc", "ctrl-c"})
RESERVED_KEYS = UNDO_KEYS | STOP_KEYS
#: A press this far before the file's start (after the offset) is a tap on a hit at 0 s.
EARLY_S = 0.1
#: Playback goes on this long (real seconds) after the end, so the last hit can still be tapped.
TAIL_S = 0.5

CONFIG_ENV = "SOFTLOC_CONFIG_DIR"
CALIBRATION_NAME = "tap-calibration.json"
TAPINFO_SUFFIX = ".tapinfo"

CLICK_BPM = 100.0  # ±300 ms between clicks: offsets up to that are told apart
CLICK_COUNT = 16
CLICK_COUNT_IN = 4
CLICK_LEAD_S = 1.0
MIN_CALIBRATION_TAPS = 8


# --------------------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class KeyMap:
    """Which key taps which class.

    Attributes
    ----------
    keys : dict of str to str
        Key name (a lower-case character or ``"space"``) → class.
    any_key : str or None
        Class of every other key but the reserved ones (one-class maps: ``--class``, ``onsets``).
    """

    keys: dict[str, str]
    any_key: str | None = None

    def label_for(self, key: str) -> str | None:
        if key in self.keys:
            return self.keys[key]
        return self.any_key if key not in RESERVED_KEYS else None

    @property
    def classes(self) -> list[str]:
        labels = list(dict.fromkeys(self.keys.values()))
        return labels + [self.any_key] if self.any_key and self.any_key not in labels else labels

    def describe(self) -> str:
        if self.any_key is not None and set(self.keys.values()) <= {self.any_key}:
            return f"any key = {self.any_key}"
        return " · ".join(f"{key} {label}" for key, label in self.keys.items())


def normalise_label(text: str) -> str:
    """A class name as annotations resolve it (``BD`` → ``kick``, ``Clap`` → ``clap``)."""
    resolved = resolve_label(text)
    return resolved[0] if resolved else " ".join(text.split()).lower()


def _key_name(text: str) -> str | None:
    name = text.strip().lower()
    if name == "space" or (text and not name):  # the word, or a space typed in quotes
        return "space"
    return name if len(name) == 1 and name.isprintable() and name not in ",=" else None


def parse_keys(spec: str) -> KeyMap:
    """``"k=kick,s=snare,h=hihat"`` → KeyMap; keys are single characters or ``space``.

    Raises
    ------
    UsageError
        A malformed item, a key used twice, or a reserved key (u, Backspace: undo; q, Esc: stop).
    """
    keys: dict[str, str] = {}
    for item in (part for part in spec.split(",") if part.strip()):
        text, sep, label = item.partition("=")
        key = _key_name(text)
        if not sep or not label.strip() or key is None:
            raise UsageError(f"--keys: {item.strip()!r} is not KEY=CLASS with a one-character key (or space), "
                             "e.g. --keys k=kick,s=snare")
        if key in RESERVED_KEYS:
            raise UsageError(f"--keys: {key!r} is reserved (u and Backspace undo, q and Esc save and stop)")
        if key in keys:
            raise UsageError(f"--keys: key {key!r} is given twice")
        keys[key] = normalise_label(label)
    if not keys:
        raise UsageError("--keys: no keys given, e.g. --keys k=kick,s=snare")
    return KeyMap(keys)


def default_keys(labels: Sequence[str]) -> KeyMap:
    """One key per class: the first free letter of its name (then a digit); one class: any key.

    Raises
    ------
    UsageError
        More classes than keys (a piano model): choose some with ``--keys`` or ``--class``.
    """
    if len(labels) == 1:
        return class_keys(labels[0])
    taken, keys = set(RESERVED_KEYS), {}
    for label in labels:
        key = next((c for c in label.lower() if "a" <= c <= "z" and c not in taken), None) or \
            next((c for c in "1234567890" if c not in taken), None)
        if key is None:
            raise UsageError(f"the model has {len(labels)} classes, too many for one key each; map a few with "
                             "--keys (e.g. --keys k=kick,s=snare) or tap one at a time with --class")
        taken.add(key)
        keys[key] = label
    return KeyMap(keys)


def class_keys(label: str) -> KeyMap:
    """Space and every other key but the reserved ones tap ``label``."""
    label = normalise_label(label)
    return KeyMap({"space": label}, any_key=label)


# -------------------------------------------------------------------------------------- clock


class PlaybackClock:
    """Stream time → file position, from the (DAC time, frame) anchors the output stream reports.

    Parameters
    ----------
    samplerate : float
        Frames per second of the output stream.
    source_rate : float, optional
        Frames per second of *file* time in the played buffer: the rate the audio was resampled
        to (``samplerate / rate``; default ``samplerate``, i.e. normal speed).
    start_s : float
        File position of frame 0.
    """

    def __init__(self, samplerate: float, *, source_rate: float | None = None, start_s: float = 0.0,
                 history: int = 1024) -> None:
        self.samplerate = float(samplerate)
        self.source_rate = float(source_rate or samplerate)
        self.start_s = float(start_s)
        self._anchors: deque[tuple[float, int]] = deque(maxlen=history)
        self._lock = threading.Lock()  # anchors come from the audio thread

    @property
    def rate(self) -> float:
        """File seconds per played second (0.75 = slowed down)."""
        return self.samplerate / self.source_rate

    def anchor(self, dac_time: float, frame: int) -> None:
        """Frame ``frame`` of the played buffer reaches the speaker at stream time ``dac_time``."""
        with self._lock:
            self._anchors.append((float(dac_time), int(frame)))

    def frames_at(self, t: float) -> float | None:
        """Played frame sounding at stream time ``t`` (None before the first buffer)."""
        with self._lock:
            anchors = list(self._anchors)
        if not anchors:
            return None
        dac, frame = next((a for a in reversed(anchors) if a[0] <= t), anchors[0])
        return frame + (t - dac) * self.samplerate

    def file_time(self, t: float) -> float | None:
        """File position (seconds) sounding at stream time ``t``."""
        frames = self.frames_at(t)
        return None if frames is None else self.start_s + frames / self.source_rate


# ------------------------------------------------------------------------------------ session


class TapSession:
    """One pass over a file: presses become taps, undo drops the last one of this pass.

    Parameters
    ----------
    keymap : KeyMap
    clock : PlaybackClock
    offset_s : float
        The user's calibrated lag (stream seconds), subtracted from every press.
    existing : list of Event
        Events already in the annotation; kept as they are and written with the new taps.
    """

    def __init__(self, keymap: KeyMap, clock: PlaybackClock, *, offset_s: float = 0.0,
                 existing: Iterable[Event] = ()) -> None:
        self.keymap = keymap
        self.clock = clock
        self.offset_s = float(offset_s)
        self.existing = list(existing)
        self.taps: list[Event] = []
        self.too_early = 0

    def press(self, key: str, t: float) -> str:
        """Handle key ``key`` pressed at stream time ``t``.

        Returns
        -------
        what : str
            ``"tap"``, ``"undo"``, ``"stop"``, ``"ignored"`` (an unmapped key, nothing to undo, no
            audio yet) or ``"early"`` (before the start of the file).
        """
        if key in STOP_KEYS:
            return "stop"
        if key in UNDO_KEYS:
            return "undo" if self.undo() is not None else "ignored"
        label = self.keymap.label_for(key)
        position = self.clock.file_time(t - self.offset_s) if label is not None else None
        if position is None:
            return "ignored"
        if position < 0:
            if position < -EARLY_S:
                self.too_early += 1
                return "early"
            position = 0.0
        resolved = resolve_label(label)
        self.taps.append(Event(position, label, resolved[1] if resolved else None))
        return "tap"

    def undo(self) -> Event | None:
        """Drop the last tap of this pass (events of earlier passes are never undone)."""
        return self.taps.pop() if self.taps else None

    def counts(self) -> dict[str, int]:
        """New taps per class, in key-map order."""
        found = Counter(e.label for e in self.taps)
        return {label: found.get(label, 0) for label in self.keymap.classes} | dict(found)

    def events(self) -> list[Event]:
        """Earlier events and this pass's taps, sorted."""
        return sort_events(self.existing + self.taps)


class Player(Protocol):
    def start(self) -> None: ...
    def now(self) -> float: ...
    def stop(self) -> None: ...


class KeyReader(Protocol):
    def read(self, timeout: float) -> str | None: ...


def run_session(session: TapSession, player: Player, keys: KeyReader, *, end_s: float,
                on_status: Callable[[TapSession, float | None], None] | None = None, poll_s: float = 0.05) -> str:
    """Play and record until the end of the file (plus :data:`TAIL_S`) or a stop key.

    A press is stamped with ``player.now()`` as soon as the key is read. ``KeyboardInterrupt``
    propagates (the caller saves what was tapped); the player is stopped in every case.

    Returns
    -------
    how : str
        ``"end"`` or ``"stopped"``.
    """
    player.start()
    try:
        while True:
            key = keys.read(poll_s)
            now = player.now()
            if key is not None and session.press(key, now) == "stop":
                return "stopped"
            position = session.clock.file_time(now)
            if on_status is not None:
                on_status(session, position)
            if position is not None and position >= end_s + TAIL_S * session.clock.rate:
                return "end"
    finally:
        player.stop()


def format_position(seconds: float) -> str:
    """``83.25`` → ``1:23.2``."""
    seconds = max(seconds, 0.0)
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def status_line(session: TapSession, position: float | None, end_s: float) -> str:
    """``0:12.3 / 3:05.0  kick 4  snare 3  hihat 10  (u undo, q save)``: the live status."""
    where = format_position(position if position is not None else session.clock.start_s)
    counts = "  ".join(f"{label} {n}" for label, n in session.counts().items())
    return f"{where} / {format_position(end_s)}  {counts}  (u undo, q save)"


def parse_position(text: str) -> float:
    """A position in a file: ``1:30``, ``1:02:03.5``, ``90s`` or ``1.5min`` → seconds.

    Raises
    ------
    ValueError
        Anything else (a bare number is refused, as in :func:`softloc_cli.units.parse_duration`).
    """
    match = re.fullmatch(r"\s*(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)\s*", str(text))
    if match:
        hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
        if seconds >= 60 or (match.group(1) and minutes >= 60):
            raise ValueError(f"invalid position {text!r}: minutes and seconds go up to 59")
        return hours * 3600 + minutes * 60 + seconds
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"{exc}, or m:ss such as 1:30") from None


def model_labels(model_dir: str | os.PathLike[str]) -> list[str]:
    """Class names of a model directory, from ``config.json`` alone.

    :func:`softloc_cli.checkpoint.read_config` would import torch, and ``softloc tap`` only
    needs the names.

    Raises
    ------
    ConfigError
        No readable ``config.json`` or no class names in it.
    """
    path = Path(model_dir) / CONFIG_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the model's classes ({exc})") from None
    classes = data.get("classes") if isinstance(data, dict) else None
    names = [c.get("name") for c in classes if isinstance(c, dict)] if isinstance(classes, list) else []
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{path}: lists no class names")
    return names


# -------------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class ClickTrack:
    """A click track for calibration: a count-in, then the clicks that are measured."""

    times: np.ndarray  # every click, seconds
    count_in: int  # the first clicks are a count-in (higher pitch, not measured)
    interval_s: float
    duration_s: float

    @property
    def counted(self) -> np.ndarray:
        """The measured clicks (after the count-in), seconds."""
        return self.times[self.count_in:]

    def render(self, samplerate: int) -> np.ndarray:
        """Mono float32 audio: 25 ms decaying sine clicks, 1.5 kHz (count-in) or 1 kHz."""
        audio = np.zeros(int(math.ceil(self.duration_s * samplerate)), np.float32)
        t = np.arange(int(0.025 * samplerate)) / samplerate
        for k, when in enumerate(self.times):
            freq = 1500.0 if k < self.count_in else 1000.0
            click = (0.5 * np.sin(2 * np.pi * freq * t) * np.exp(-t / 0.006)).astype(np.float32)
            i = int(round(when * samplerate))
            audio[i : i + len(click)] += click[: len(audio) - i]
        return audio


def click_track(*, bpm: float = CLICK_BPM, clicks: int = CLICK_COUNT, count_in: int = CLICK_COUNT_IN,
                lead_s: float = CLICK_LEAD_S) -> ClickTrack:
    """``count_in`` + ``clicks`` clicks at ``bpm`` after ``lead_s`` of silence, and 1 s after."""
    interval = 60.0 / bpm
    times = lead_s + interval * np.arange(count_in + clicks)
    return ClickTrack(times, count_in, interval, float(times[-1] + 1.0))


@dataclass(frozen=True)
class Calibration:
    """A user's tapping lag and spread on this machine, from a click track.

    Attributes
    ----------
    offset_s : float
        Mean of tap − click (positive: late); removed from later taps.
    sigma_s : float
        Standard deviation of tap − click, after outliers are dropped.
    n : int
        Taps used.
    clicks : int
        Clicks measured.
    device : str or None
        Output device the calibration was made on.
    created : str or None
        ISO date and time.
    """

    offset_s: float
    sigma_s: float
    n: int
    clicks: int
    device: str | None = None
    created: str | None = None

    def summary(self) -> str:
        when = "late" if self.offset_s >= 0 else "early"
        return (f"your taps are {1000 * abs(self.offset_s):.0f} ms {when}, spread {1000 * self.sigma_s:.0f} ms "
                f"({self.n} of {self.clicks} clicks)")


def measure_calibration(clicks: Sequence[float], taps: Sequence[float], *,
                        interval_s: float | None = None) -> Calibration:
    """Lag and spread of ``taps`` against ``clicks``, robust to stray and double taps.

    Each tap goes to its nearest click (taps farther than half an interval from every click are
    dropped); of several taps on one click the one nearest the median lag is kept; taps more than
    4 robust standard deviations (1.4826 × MAD, at least 10 ms) from the median are slips (at 3,
    one Gaussian session of 16 taps in five loses an honest tap and σ comes out 7 % low; at 4, 1 %).
    With 16 clicks the lag is known to about σ/4 (10 ms for a 40 ms spread).

    Raises
    ------
    SoftlocError
        Fewer than :data:`MIN_CALIBRATION_TAPS` taps left.
    """
    c = np.sort(np.asarray(clicks, dtype=float))
    x = np.asarray(taps, dtype=float)
    interval = float(interval_s if interval_s is not None else np.median(np.diff(c)) if len(c) > 1 else 1.0)
    kept = np.zeros(0)
    if len(x) and len(c):
        nearest = np.abs(x[:, None] - c[None, :]).argmin(axis=1)
        dev = x - c[nearest]
        near = np.abs(dev) < interval / 2
        nearest, dev = nearest[near], dev[near]
        if len(dev):
            centre = float(np.median(dev))
            best: dict[int, float] = {}
            for j, d in zip(nearest.tolist(), dev.tolist()):
                if j not in best or abs(d - centre) < abs(best[j] - centre):
                    best[j] = d
            dev = np.array(list(best.values()))
            centre = float(np.median(dev))
            spread = max(4 * 1.4826 * float(np.median(np.abs(dev - centre))), 0.010)
            kept = dev[np.abs(dev - centre) <= spread]
    if len(kept) < MIN_CALIBRATION_TAPS:
        raise SoftlocError(f"only {len(kept)} of {len(c)} clicks were tapped in time (at least "
                           f"{MIN_CALIBRATION_TAPS} are needed); run `softloc tap --calibrate` again and tap "
                           "along with every click")
    return Calibration(offset_s=float(kept.mean()), sigma_s=float(kept.std(ddof=1)), n=int(len(kept)),
                       clicks=int(len(c)))


def config_dir() -> Path:
    """``$SOFTLOC_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/softloc``, else ``~/.config/softloc``."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser() / "softloc"


def calibration_path() -> Path:
    return config_dir() / CALIBRATION_NAME


def save_calibration(calibration: Calibration, path: str | os.PathLike[str] | None = None) -> Path:
    """Write the calibration (atomically; the folder is created)."""
    path = Path(path) if path is not None else calibration_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as fh:
        json.dump({"format_version": 1, **asdict(calibration)}, fh, indent=2)
        fh.write("\n")
    return path


def load_calibration(path: str | os.PathLike[str] | None = None) -> Calibration | None:
    """The stored calibration, or None if there is none.

    Raises
    ------
    ConfigError
        The file exists but is not a calibration.
    """
    path = Path(path) if path is not None else calibration_path()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Calibration(**{k: data[k] for k in ("offset_s", "sigma_s", "n", "clicks")},
                           device=data.get("device"), created=data.get("created"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a tap calibration ({type(exc).__name__}: {exc}); "
                          "run `softloc tap --calibrate` again") from None


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


# ---------------------------------------------------------------------------- annotation files


def read_existing(annotation: str | os.PathLike[str]) -> list[Event]:
    """Events already in the annotation (none if the file does not exist yet)."""
    return read_annotations(annotation) if Path(annotation).exists() else []


def tapinfo_path(annotation: str | os.PathLike[str]) -> Path:
    """``groove.csv`` → ``groove.tapinfo``."""
    return Path(annotation).with_suffix(TAPINFO_SUFFIX)


def read_tapinfo(annotation: str | os.PathLike[str]) -> dict | None:
    """The sidecar of an annotation, or None (missing or unreadable: it is only a hint)."""
    try:
        data = json.loads(tapinfo_path(annotation).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("passes"), list) else None


@dataclass
class PassRecord:
    """What one pass added: taps per class, playback rate and the calibration applied."""

    taps: int
    classes: dict[str, int]
    rate: float
    sigma_s: float | None  # calibrated spread in file seconds (σ × rate), None if not calibrated
    offset_s: float | None  # lag removed (stream seconds), None if none
    calibration_taps: int | None = None
    created: str = field(default_factory=now_iso)


def pass_record(session: TapSession, calibration: Calibration | None) -> PassRecord:
    """The record of a pass; ``calibration`` is the one whose offset the session removed, if any
    (only then is the spread of the taps known)."""
    counts = {k: v for k, v in session.counts().items() if v}
    rate = session.clock.rate
    return PassRecord(taps=len(session.taps), classes=counts, rate=round(rate, 6),
                      sigma_s=calibration.sigma_s * rate if calibration else None,
                      offset_s=calibration.offset_s if calibration else None,
                      calibration_taps=calibration.n if calibration else None)


def _pooled_sigma(info: dict) -> float | None:
    """Tap-weighted RMS spread of the passes; None if any events lack a calibrated spread."""
    passes = [p for p in info.get("passes", []) if p.get("taps")]
    if info.get("untracked_events") or not passes or any(p.get("sigma_s") is None for p in passes):
        return None
    total = sum(p["taps"] for p in passes)
    return math.sqrt(sum(p["taps"] * p["sigma_s"] ** 2 for p in passes) / total)


def save_taps(annotation: str | os.PathLike[str], session: TapSession, record: PassRecord) -> Path | None:
    """Write earlier events + this pass's taps to ``annotation`` and update its sidecar.

    Both files are written atomically, the annotation first. Nothing is written when the pass
    added no taps. Events that were in the annotation before its first recorded pass count as
    ``untracked_events`` (their spread is unknown).

    Returns
    -------
    sidecar : Path or None
        The ``.tapinfo`` file written, or None when nothing was written.
    """
    if not session.taps:
        return None
    write_events(session.events(), annotation)
    info = read_tapinfo(annotation) or {"format_version": 1, "untracked_events": len(session.existing),
                                        "passes": []}
    info["passes"].append(asdict(record))
    info["sigma_s"] = _pooled_sigma(info)
    if record.offset_s is not None:
        info["offset_s"], info["n"] = record.offset_s, record.calibration_taps
    path = tapinfo_path(annotation)
    with atomic_write(path) as fh:
        json.dump(info, fh, indent=2)
        fh.write("\n")
    return path


def stored_tap_spread(annotation: str | os.PathLike[str]) -> float | None:
    """Calibrated spread (σ, file seconds) of an annotation's taps, from its ``.tapinfo`` sidecar.

    None when there is no sidecar, when some events were not tapped with a calibration (an
    uncalibrated pass, ``--no-offset``, or events that were in the file before ``softloc tap``).

    Examples
    --------
    >>> stored_tap_spread("takes/groove.csv")
    0.031
    """
    info = read_tapinfo(annotation)
    return _pooled_sigma(info) if info is not None else None


def pooled_tap_spread(annotations: Iterable[str | os.PathLike[str]]) -> float | None:
    """Tap-weighted RMS of :func:`stored_tap_spread` over files; None unless every file has one."""
    total, weighted = 0, 0.0
    for annotation in annotations:
        info = read_tapinfo(annotation)
        sigma = _pooled_sigma(info) if info is not None else None
        if sigma is None:
            return None
        n = sum(p.get("taps", 0) for p in info["passes"])
        total, weighted = total + n, weighted + n * sigma ** 2
    return math.sqrt(weighted / total) if total else None
