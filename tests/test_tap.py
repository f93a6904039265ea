"""`softloc tap` without a sound device: a fake output stream with a known clock and scripted keys.

The fake stream behaves like ``sounddevice.OutputStream``: it asks the (real) callback for each
buffer ``latency`` seconds before that buffer reaches the speaker and reports that DAC time, and
its ``time`` is the stream clock the key presses are stamped with. A press scripted at stream time
``T0 + latency + x`` is therefore made while file position ``x`` sounds (at rate 1, from 0 s).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import deque
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

import softloc_cli.cli  # noqa: F401  (registers the commands)
from conftest import load_script
from softloc_cli import tap_io, tapping
from softloc_cli.audio import load_audio
from softloc_cli.cli import app
from softloc_cli.errors import SoftlocError, UsageError
from softloc_cli.events import Event

REAL_KEY_READER = tap_io.key_reader
T0 = 100.0  # the stream clock when playback starts
SR = 48000
BLOCK = 480
HEADER = "time_s,class,midi_note,velocity\n"


class FakeClock:
    def __init__(self) -> None:
        self.t = T0
        self.streams: list[FakeStream] = []

    def advance(self, t: float) -> None:
        self.t = max(self.t, t)
        for stream in self.streams:
            stream.pump()


class FakeStream:
    """sounddevice.OutputStream's interface: each buffer is requested ``latency`` before its DAC time."""

    def __init__(self, clock: FakeClock, latency: float, *, samplerate, channels, dtype, callback) -> None:
        assert dtype == "float32"
        self.clock, self.latency, self.samplerate, self.channels = clock, latency, float(samplerate), channels
        self.callback = callback
        self.started_at: float | None = None
        self.k = 0
        self.played: list[np.ndarray] = []
        self.closed = False
        clock.streams.append(self)

    @property
    def time(self) -> float:
        return self.clock.t

    def start(self) -> None:
        self.started_at = self.clock.t
        self.pump()

    def pump(self) -> None:
        while self.started_at is not None and self.started_at + self.k * BLOCK / self.samplerate <= self.clock.t:
            request = self.started_at + self.k * BLOCK / self.samplerate
            out = np.full((BLOCK, self.channels), np.nan, np.float32)
            self.callback(out, BLOCK, SimpleNamespace(outputBufferDacTime=request + self.latency,
                                                      currentTime=request), None)
            self.played.append(out[:, 0].copy())
            self.k += 1

    def stop(self) -> None:
        self.started_at = None

    def close(self) -> None:
        self.closed = True


class FakeKeys:
    """Scripted presses at stream times; ``KeyboardInterrupt`` in the script is Ctrl-C."""

    def __init__(self, clock: FakeClock, script) -> None:
        self.clock = clock
        self.script = deque(sorted(script, key=lambda item: item[0]))

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.restored = True

    def read(self, timeout: float):
        if self.script and self.script[0][0] <= self.clock.t + timeout:
            t, key = self.script.popleft()
            self.clock.advance(t)
            if key is KeyboardInterrupt:
                raise KeyboardInterrupt
            return key
        self.clock.advance(self.clock.t + timeout)
        return None


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    """No test reads or writes the user's real calibration."""
    directory = tmp_path / "config"
    monkeypatch.setenv("SOFTLOC_CONFIG_DIR", str(directory))
    return directory


@pytest.fixture
def device(monkeypatch):
    """``device(script, latency=0.1)`` installs a fake output and scripted keys; returns the streams."""

    def install(script, *, latency: float = 0.1, channels: int = 1):
        clock = FakeClock()

        def factory():
            def open_stream(**kwargs):
                return FakeStream(clock, latency, **kwargs)

            return open_stream, tap_io.OutputDevice("Fake Speakers", SR, channels)

        monkeypatch.setattr(tap_io, "output_stream_factory", factory)
        monkeypatch.setattr(tap_io, "key_reader", lambda: FakeKeys(clock, script))
        return clock.streams

    return install


def at(x: float, latency: float = 0.1) -> float:
    """Stream time at which played second ``x`` reaches the speaker."""
    return T0 + latency + x


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"SOFTLOC_DEBUG": None})


def one_error_line(result, *, alone: bool = True) -> str:
    """The one ``error:`` line (and, with ``alone``, nothing else on stderr)."""
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and (not alone or len(lines) == 1), result.stderr
    return errors[0]


@pytest.fixture
def groove(make_wav):
    return make_wav("takes/groove.wav", duration_s=2.0)


# -- whole passes through the command ----------------------------------------------------------


def test_key_presses_become_the_exact_annotation(device, groove):
    streams = device([(at(0.5), "k"), (at(1.0), "s"), (at(1.0), "x"), (at(1.25), "h"), (at(1.6), "space")])
    result = run("tap", groove)
    assert result.exit_code == 0, result.output
    assert (groove.with_suffix(".csv")).read_text() == HEADER + (
        "0.5000,kick,36,100\n1.0000,snare,38,100\n1.2500,hihat,42,100\n")
    assert "3 new taps (kick 1, snare 1, hihat 1)" in result.stdout
    assert "not calibrated" in result.stderr
    # the stream played the file from its first sample, then silence, and was closed
    assert streams[0].closed and not np.isnan(np.concatenate(streams[0].played)).any()
    assert tapping.stored_tap_spread(groove.with_suffix(".csv")) is None


def test_slower_rate_start_stop_and_the_streams_own_latency(device, groove, tmp_path):
    # at 0.75x from 0.5 s, played second p is file position 0.5 + 0.75 p; the latency is 0.25 s here
    latency = 0.25
    streams = device([(at(p, latency), key) for p, key in ((0.4, "j"), (1.0, "space"), (1.6, "k"))], latency=latency)
    out = tmp_path / "out" / "snares.csv"
    out.parent.mkdir()
    result = run("tap", groove, "-o", out, "--class", "SD", "--rate", "0.75", "--start", "0.5s", "--stop", "0:01.5")
    assert result.exit_code == 0, result.output
    assert out.read_text() == HEADER + "0.8000,snare,38,100\n1.2500,snare,38,100\n1.7000,snare,38,100\n"
    played = np.concatenate(streams[0].played)  # 0.5-1.5 s of the file resampled to 48000 / 0.75, then silence
    np.testing.assert_array_equal(played[:64000], load_audio(groove, sample_rate=64000)[32000:96000])
    assert not played[64000:].any()
    info = json.loads(out.with_suffix(".tapinfo").read_text())
    assert info["passes"][0]["rate"] == 0.75 and info["sigma_s"] is None


def test_a_second_pass_adds_a_class_and_keeps_every_earlier_event(device, groove):
    annotation = groove.with_suffix(".csv")
    annotation.write_text("time_s,class\n0.5,kick\n1.0,snare\n1.1,clap\n")
    device([(at(0.25), "h"), (at(0.75), "space")])
    result = run("tap", groove, "--class", "hihat")
    assert result.exit_code == 0, result.output
    assert annotation.read_text() == HEADER + (
        "0.2500,hihat,42,100\n0.5000,kick,36,100\n0.7500,hihat,42,100\n1.0000,snare,38,100\n1.1000,clap,,100\n")
    assert "2 new taps (hihat 2), 5 events in all" in result.stdout
    info = json.loads(annotation.with_suffix(".tapinfo").read_text())
    assert info["untracked_events"] == 3  # tapped before softloc tap: their spread is unknown


def test_undo_drops_this_passes_last_taps_only_and_q_stops(device, groove):
    annotation = groove.with_suffix(".csv")
    annotation.write_text("0.1,kick\n")
    script = [(at(0.5), "k"), (at(0.75), "s"), (at(0.8), "u"), (at(1.0), "h"), (at(1.1), "backspace"),
              (at(1.2), "s"), (at(1.3), "u"), (at(1.31), "u"), (at(1.32), "u"), (at(1.5), "k"), (at(1.6), "q"),
              (at(1.8), "k")]
    device(script)
    result = run("tap", groove)
    assert result.exit_code == 0, result.output
    assert annotation.read_text() == HEADER + "0.1000,kick,36,100\n1.5000,kick,36,100\n"
    assert "(stopped)" in result.stdout


def test_ctrl_c_saves_what_was_tapped(device, groove):
    device([(at(0.5), "k"), (at(1.0), "s"), (at(1.2), KeyboardInterrupt), (at(1.5), "h")])
    result = run("tap", groove)
    assert result.exit_code == 130
    assert groove.with_suffix(".csv").read_text() == HEADER + "0.5000,kick,36,100\n1.0000,snare,38,100\n"
    assert "(interrupted)" in result.stdout


def test_nothing_tapped_leaves_the_annotation_alone(device, groove):
    device([(at(0.3), "q")])
    result = run("tap", groove)
    assert result.exit_code == 0 and "no taps" in result.stdout
    assert not groove.with_suffix(".csv").exists()


# -- calibration ---------------------------------------------------------------------------------


JITTER = [0.02, -0.02, 0.01, -0.01] * 4  # mean 0, so the measured lag is exactly the true one


def calibration_script(lag: float) -> list:
    track = tapping.click_track()
    script = [(at(c) + lag, "space") for c in track.times[: track.count_in]]  # tapping the count-in too
    script += [(at(c) + lag + j, "space") for c, j in zip(track.counted, JITTER)]
    script += [(at(track.counted[3]) + lag + 0.09, "space"),  # a double tap
               (at(track.counted[6]) + 0.3, "j")]  # a stray key between clicks
    return script


def test_calibration_measures_the_lag_and_later_taps_lose_it(device, groove, config_dir):
    device(calibration_script(0.06))
    result = run("tap", "--calibrate")
    assert result.exit_code == 0, result.output
    stored = json.loads((config_dir / "tap-calibration.json").read_text())
    sigma = float(np.std(JITTER, ddof=1))
    assert stored["offset_s"] == pytest.approx(0.06, abs=1e-9)
    assert stored["sigma_s"] == pytest.approx(sigma, abs=1e-9)
    assert (stored["n"], stored["clicks"], stored["device"]) == (16, 16, "Fake Speakers")
    assert f"your taps are 60 ms late, spread {1000 * sigma:.0f} ms (16 of 16 clicks)" in result.stdout

    # taps 60 ms late land on the beat; the spread goes beside the annotation
    device([(at(0.5) + 0.06, "k"), (at(1.0) + 0.06, "s")])
    result = run("tap", groove)
    assert result.exit_code == 0, result.output
    annotation = groove.with_suffix(".csv")
    assert annotation.read_text() == HEADER + "0.5000,kick,36,100\n1.0000,snare,38,100\n"
    assert tapping.stored_tap_spread(annotation) == pytest.approx(sigma)

    # a pass at half speed: 60 ms of real time is 30 ms of file time, and so is the spread halved
    device([(at(0.5) + 0.06, "h"), (at(1.0) + 0.06, "h")])
    assert run("tap", groove, "--class", "hihat", "--rate", "0.5").exit_code == 0
    assert annotation.read_text() == HEADER + (
        "0.2500,hihat,42,100\n0.5000,hihat,42,100\n0.5000,kick,36,100\n1.0000,snare,38,100\n")
    pooled = math.sqrt((2 * sigma ** 2 + 2 * (sigma / 2) ** 2) / 4)
    assert tapping.stored_tap_spread(annotation) == pytest.approx(pooled)
    assert tapping.pooled_tap_spread([annotation]) == pytest.approx(pooled)

    # --no-offset keeps the lag in the taps, so the spread of the file is no longer known
    device([(at(1.5), "k")])
    assert run("tap", groove, "--no-offset").exit_code == 0
    assert "1.5000,kick" in annotation.read_text()
    assert tapping.stored_tap_spread(annotation) is None


def test_calibration_needs_enough_taps(device, config_dir):
    device([(at(c) + 0.05, "space") for c in tapping.click_track().counted[:5]])
    result = run("tap", "--calibrate")
    assert result.exit_code == 1
    assert "only 5 of 16 clicks were tapped in time" in one_error_line(result, alone=False)
    assert not (config_dir / "tap-calibration.json").exists()


def test_measure_calibration_drops_outliers():
    clicks = 1.0 + 0.6 * np.arange(16)
    rng = np.random.default_rng(0)
    devs = 0.07 + rng.normal(0, 0.02, 16)
    taps = list(clicks + devs)
    taps[5] = clicks[5] + 0.25  # a slip: within half an interval, far from the others
    taps += [clicks[2] + 0.4, 0.1]  # a tap between clicks, one before the first
    found = tapping.measure_calibration(clicks, taps)
    kept = np.delete(devs, 5)
    assert found.n == 15 and found.clicks == 16
    assert found.offset_s == pytest.approx(kept.mean()) and found.sigma_s == pytest.approx(kept.std(ddof=1))


# -- errors: one line, no device needed -----------------------------------------------------------


def test_missing_extra_is_one_line(monkeypatch, groove):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # `import sounddevice` raises ImportError
    result = run("tap", groove)
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "pip install 'softloc-cli[tap]'" in line and "libportaudio2" in line
    assert not groove.with_suffix(".csv").exists()


def test_missing_portaudio_is_one_line(monkeypatch, tmp_path, groove):
    fake = tmp_path / "fake-site"
    fake.mkdir()
    (fake / "sounddevice.py").write_text("raise OSError('PortAudio library not found')\n")
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.syspath_prepend(str(fake))
    result = run("tap", "--calibrate")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "PortAudio library not found" in line and "libportaudio2" in line


def test_no_output_device_is_one_line(monkeypatch, groove):
    fake = ModuleType("sounddevice")
    fake.PortAudioError = type("PortAudioError", (Exception,), {})

    def query_devices(device=None, kind=None):
        raise fake.PortAudioError("Error querying device -1")

    fake.query_devices = query_devices
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    result = run("tap", groove)
    assert result.exit_code == 1
    assert "no audio output device found (Error querying device -1)" in one_error_line(result)


def test_stdin_that_is_not_a_terminal_is_one_line(device, monkeypatch, groove):
    device([])
    monkeypatch.setattr(tap_io, "key_reader", REAL_KEY_READER)  # CliRunner's stdin is no terminal
    result = run("tap", groove)
    assert result.exit_code == 1
    assert "stdin is not one" in one_error_line(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tap"], "missing AUDIO"),
        (["tap", "{groove}", "--keys", "u=kick"], "'u' is reserved"),
        (["tap", "{groove}", "--keys", "k=kick,k=snare"], "given twice"),
        (["tap", "{groove}", "--keys", "k=kick", "--class", "snare"], "not both"),
        (["tap", "{groove}", "--start", "90"], "--start: invalid duration '90'"),
        (["tap", "{groove}", "--start", "1:00", "--stop", "0:30"], "--stop must come after --start"),
        (["tap", "nothing.wav"], "does not exist"),
        (["tap", "{groove}", "-o", "{groove}.missing/x.csv"], "cannot write"),
    ],
)
def test_usage_errors_exit_2_before_any_device(args, message, groove, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # never reached
    result = run(*[a.format(groove=groove) for a in args])
    assert result.exit_code == 2, result.output
    assert message in one_error_line(result)


# -- the pieces ----------------------------------------------------------------------------------


def test_default_key_maps():
    assert tapping.default_keys(["kick", "snare", "hihat"]).keys == {"k": "kick", "s": "snare", "h": "hihat"}
    # q and u are reserved; a taken letter moves on to the next one, then to digits
    assert tapping.default_keys(["quiet", "kick", "kettle", "uuu"]).keys == {"i": "quiet", "k": "kick", "e": "kettle",
                                                                             "1": "uuu"}
    onsets = tapping.default_keys(["onset"])
    assert onsets.label_for("space") == onsets.label_for("x") == "onset" and onsets.label_for("q") is None
    with pytest.raises(UsageError, match="too many"):
        tapping.default_keys([f"C{i}" for i in range(40)])


def test_parse_keys_normalises_labels_and_space():
    keymap = tapping.parse_keys("b=bd, space=Clap ,H=hh")
    assert keymap.keys == {"b": "kick", "space": "clap", "h": "hihat"}
    assert keymap.label_for("x") is None
    with pytest.raises(UsageError):
        tapping.parse_keys("kick")


def test_parse_position():
    assert tapping.parse_position("1:30") == 90.0
    assert tapping.parse_position("1:02:03.5") == 3723.5
    assert tapping.parse_position("90s") == 90.0
    for bad in ("90", "1:75", "soon"):
        with pytest.raises(ValueError):
            tapping.parse_position(bad)


def test_clock_uses_the_anchor_sounding_at_the_press():
    clock = tapping.PlaybackClock(48000, source_rate=64000, start_s=10.0)
    assert clock.file_time(5.0) is None
    for k in range(5):  # buffers queued ahead: the last one sounds only at 5.34
        clock.anchor(5.3 + 0.01 * k, 480 * k)
    assert clock.frames_at(5.315) == pytest.approx(720)
    assert clock.file_time(5.315) == pytest.approx(10.0 + 720 / 64000)
    assert clock.frames_at(5.29) == pytest.approx(-480)  # before the first buffer: extrapolated
    assert clock.rate == 0.75


def test_early_presses_snap_to_zero_or_are_dropped():
    clock = tapping.PlaybackClock(1000)
    clock.anchor(0.0, 0)
    session = tapping.TapSession(tapping.class_keys("kick"), clock, offset_s=0.05)
    assert session.press("space", 0.0) == "tap" and session.taps[-1].time_s == 0.0
    assert session.press("space", -0.2) == "early" and session.too_early == 1
    assert session.press("u", 1.0) == "undo" and session.press("u", 1.0) == "ignored"


def test_decode_keys():
    assert tap_io.decode_keys(b"kS \x7f\x08\x1b\x1b[A\x1bOPq\r\x03") == [
        "k", "s", "space", "backspace", "backspace", "esc", "q", "enter", "ctrl-c"]


def test_calibration_file_round_trip_and_a_broken_one(config_dir):
    assert tapping.load_calibration() is None
    calibration = tapping.Calibration(0.06, 0.03, 15, 16, device="Speakers", created="2025-01-01T00:00:00+00:00")
    path = tapping.save_calibration(calibration)
    assert path == config_dir / "tap-calibration.json" and tapping.load_calibration() == calibration
    path.write_text("{}")
    with pytest.raises(SoftlocError, match="softloc tap --calibrate"):
        tapping.load_calibration()


def test_tapping_loads_neither_torch_nor_sounddevice_until_asked():
    code = ("import sys, softloc_cli.cli.cmd_tap, softloc_cli.tapping, softloc_cli.tap_io; "
            "print('torch' in sys.modules, 'sounddevice' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_e2e_script_taps_a_folder_with_offset_removed(make_wav, tmp_path):
    e2e = load_script("tap_e2e")
    source = tmp_path / "clips"
    for name in ("a", "b"):
        make_wav(f"clips/{name}.wav", duration_s=2.0)
        (source / f"{name}.csv").write_text("0.5,kick\n0.75,hihat\n1.0,snare\n1.25,ride\n1.5,hihat\n")

    def late(events, rng):  # every press 60 ms late, ±10 ms
        return [Event(e.time_s + 0.06 + (0.01 if i % 2 else -0.01), e.label) for i, e in enumerate(events)]

    calibration = e2e.simulate_calibration(late, np.random.default_rng(0))
    assert calibration.offset_s == pytest.approx(0.06, abs=0.003) and calibration.n == 16
    summary = e2e.tap_folder(source, tmp_path / "taps", ["kick", "snare", "hihat"], calibration, late)
    assert summary["files"] == 2 and summary["taps"] == 8  # the ride is not tapped
    assert abs(summary["residual_mean_s"]) < 0.012
    assert summary["sidecar_sigma_s"] == pytest.approx(calibration.sigma_s)
    assert (tmp_path / "taps" / "a.wav").is_symlink()
    labels = [line.split(",")[1] for line in (tmp_path / "taps" / "a.csv").read_text().splitlines()[1:]]
    assert labels == ["kick", "hihat", "snare", "hihat"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminals only")
def test_terminal_keys_read_single_presses_and_restore_the_terminal():
    import os
    import pty
    import termios

    master, slave = pty.openpty()
    try:
        before = termios.tcgetattr(slave)
        with tap_io.TerminalKeys(slave) as keys:
            assert not termios.tcgetattr(slave)[3] & (termios.ICANON | termios.ECHO)  # no Enter, no echo
            assert keys.read(0.01) is None
            os.write(master, b"kS\x7f")
            assert [keys.read(1.0) for _ in range(3)] == ["k", "s", "backspace"]
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)
