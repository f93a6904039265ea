"""`softloc tap`: play a file and record key presses as a (loosely timed) annotation."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import ModelOpt, QuietOpt, UsageError, app, parsed, stderr, stdout

EXAMPLES = """
[b]Examples[/b]

  softloc tap --calibrate                          # once: your lag and spread
  softloc tap groove.wav                           # k kick, s snare, h hihat
  softloc tap groove.wav --class hihat --rate 0.75 # add hi-hats, slower
  softloc tap groove.wav --keys c=clap --start 1:30 --stop 2:00
  softloc train takes/ --init drums -o my-kit/     # learn from the taps
"""


def _position(value: Optional[str], flag: str) -> Optional[float]:
    from ..tapping import parse_position

    return parsed(value, flag, parse_position)


@app.command(epilog=EXAMPLES)
def tap(
    audio: Annotated[Optional[Path], typer.Argument(help="Audio file to play and tap along to.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Annotation to write or add to (default: AUDIO with .csv).")] = None,
    model: ModelOpt = None,
    keys: Annotated[Optional[str], typer.Option("--keys", help="Key map, e.g. k=kick,s=snare,h=hihat (default: a letter of each of the model's classes).")] = None,
    tap_class: Annotated[Optional[str], typer.Option("--class", help="Tap one class, with any key (e.g. --class hihat).")] = None,
    rate: Annotated[float, typer.Option("--rate", min=0.25, max=2.0, help="Playback speed, e.g. 0.75 (times are scaled back).")] = 1.0,
    start: Annotated[Optional[str], typer.Option("--start", help="Start playing here, e.g. 1:30 or 90s.")] = None,
    stop: Annotated[Optional[str], typer.Option("--stop", help="Stop playing here.")] = None,
    calibrate: Annotated[bool, typer.Option("--calibrate", help="Measure your latency and spread on a click track first (kept for later taps).")] = False,
    offset: Annotated[bool, typer.Option("--offset/--no-offset", help="Remove your calibrated latency from the taps.")] = True,
    quiet: QuietOpt = False,
) -> None:
    """Tap along to a file; each key press becomes a labelled hit (u undo, q save and quit, Ctrl-C saves too)."""
    from .. import tap_io, tapping
    from ..annotations import format_for_path

    if audio is None and not calibrate:
        raise UsageError("missing AUDIO (or give --calibrate to measure your tapping latency)")
    if keys and tap_class:
        raise UsageError("give --keys or --class, not both")
    start_s, stop_s = _position(start, "--start") or 0.0, _position(stop, "--stop")
    if stop_s is not None and stop_s <= start_s:
        raise UsageError("--stop must come after --start")
    session_plan = None
    if audio is not None:
        if not audio.is_file():
            raise UsageError(f"AUDIO {str(audio)!r} does not exist")
        output = output or audio.with_suffix(".csv")
        format_for_path(output)  # what cannot be written fails before anything plays
        if not output.parent.is_dir() or not os.access(output.parent, os.W_OK):
            raise UsageError(f"cannot write {output}: its folder does not exist or is not writable")
        if tap_class:
            keymap = tapping.class_keys(tap_class)
        elif keys:
            keymap = tapping.parse_keys(keys)
        else:
            from ..hub import resolve_model

            keymap = tapping.default_keys(tapping.model_labels(resolve_model(model)))
        session_plan = (audio, output, keymap, tapping.read_existing(output))
    calibration = tapping.load_calibration() if offset and not calibrate else None

    open_stream, device = tap_io.output_stream_factory()
    with tap_io.key_reader() as key_source:
        if calibrate:
            calibration = _calibrate(open_stream, device, key_source, quiet=quiet)
        if session_plan is None:
            return
        if calibration is not None and calibration.device and calibration.device != device.name and not quiet:
            stderr.print(f"note: calibrated on {calibration.device!r}, now playing on {device.name!r}; "
                         "`softloc tap --calibrate` again if the latency differs", markup=False)
        applied = calibration if offset else None
        session, how, interrupted = _tap(open_stream, device, key_source, session_plan, applied,
                                         rate=rate, start_s=start_s, stop_s=stop_s, quiet=quiet)
    _save(session, session_plan[1], applied, how=how, quiet=quiet, uncalibrated=offset and calibration is None)
    if interrupted:
        raise typer.Exit(130)


def _status_printer(end_s: float, enabled: bool):
    """Live status on stderr (terminals only), redrawn in place."""
    from ..tapping import status_line

    def show(session, position) -> None:
        stderr.file.write("\r" + status_line(session, position, end_s) + "\x1b[K")
        stderr.file.flush()

    return show if enabled and stderr.is_terminal else None


def _calibrate(open_stream, device, key_source, *, quiet: bool):
    """Play the click track, take the taps, store and return the calibration."""
    from .. import tapping
    from ..tap_io import Player

    track = tapping.click_track()
    clock = tapping.PlaybackClock(device.samplerate)
    session = tapping.TapSession(tapping.class_keys("click"), clock)
    player = Player(track.render(device.samplerate), clock, open_stream, channels=device.channels)
    if not quiet:
        stderr.print(f"calibration: {len(track.times) - track.count_in} clicks after a count-in of {track.count_in} "
                     "(higher); tap any key along with each click, q stops", markup=False)
    tapping.run_session(session, player, key_source, end_s=track.duration_s,
                        on_status=_status_printer(track.duration_s, not quiet))
    result = tapping.measure_calibration(track.counted, [e.time_s for e in session.taps], interval_s=track.interval_s)
    result = replace(result, device=device.name, created=tapping.now_iso())
    path = tapping.save_calibration(result)
    if not quiet:
        if stderr.is_terminal:
            stderr.file.write("\n")
        stdout.print(f"{result.summary()}; stored in {path}", markup=False)
    return result


def _tap(open_stream, device, key_source, plan, calibration, *, rate: float, start_s: float,
         stop_s: Optional[float], quiet: bool):
    """One pass over the file; returns (session, how it ended, whether Ctrl-C ended it)."""
    from .. import tapping
    from ..audio import load_audio
    from ..tap_io import Player

    audio_path, _, keymap, existing = plan
    source_rate = int(round(device.samplerate / rate))
    audio = load_audio(audio_path, sample_rate=source_rate)
    duration = len(audio) / source_rate
    if start_s >= duration:
        raise UsageError(f"--start {tapping.format_position(start_s)} is past the end of {audio_path} "
                         f"({tapping.format_position(duration)})")
    end_s = min(stop_s, duration) if stop_s is not None else duration
    clock = tapping.PlaybackClock(device.samplerate, source_rate=source_rate, start_s=start_s)
    session = tapping.TapSession(keymap, clock, offset_s=calibration.offset_s if calibration else 0.0,
                                 existing=existing)
    player = Player(audio[int(round(start_s * source_rate)) : int(round(end_s * source_rate))], clock, open_stream,
                    channels=device.channels)
    if not quiet:
        speed = f" at {rate:g}×" if rate != 1 else ""
        lag = (f"; taps moved {1000 * calibration.offset_s:.0f} ms earlier (your calibrated lag)"
               if calibration else "")
        stderr.print(f"playing {audio_path} from {tapping.format_position(start_s)} to "
                     f"{tapping.format_position(end_s)}{speed}; keys: {keymap.describe()} · u/Backspace undo · "
                     f"q/Esc save and quit (Ctrl-C saves too){lag}", markup=False)
    interrupted, how = False, "interrupted"
    try:
        how = tapping.run_session(session, player, key_source, end_s=end_s,
                                  on_status=_status_printer(end_s, not quiet))
    except KeyboardInterrupt:
        interrupted = True
    if not quiet and stderr.is_terminal:
        stderr.file.write("\n")
    return session, how, interrupted


def _save(session, output: Path, calibration, *, how: str, quiet: bool, uncalibrated: bool) -> None:
    from ..tapping import pass_record, save_taps

    sidecar = save_taps(output, session, pass_record(session, calibration))
    if quiet:
        return
    if sidecar is None:
        stdout.print(f"no taps ({how}); {output} left as it was", markup=False)
        return
    counts = ", ".join(f"{label} {n}" for label, n in session.counts().items() if n)
    early = f"; {session.too_early} before the start dropped" if session.too_early else ""
    stdout.print(f"wrote {output}: {len(session.taps)} new taps ({counts}), {len(session.events())} events in all"
                 f"{early} ({how})", markup=False)
    if calibration is not None:
        stdout.print(f"spread {1000 * calibration.sigma_s * session.clock.rate:.0f} ms noted in {sidecar} "
                     "for `softloc train --softness auto`", markup=False)
    elif uncalibrated:
        stderr.print("note: not calibrated, so your latency is still in the taps; run `softloc tap --calibrate` "
                     "once (training measures the spread against the base model meanwhile)", markup=False)
