"""`softloc models calibrate`: fit a model's thresholds to your own annotated takes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import DeviceOpt, JsonOpt, QuietOpt, duration, models_app, stderr, stdout

CALIBRATE_EXAMPLES = """
[b]Examples[/b]

  softloc models calibrate drums my-takes/ -o drums-my-room/
  softloc models calibrate ./my-model/ real-takes/ -o my-model-real/ --no-offset
  softloc models calibrate drums my-taps/ -o drums-mine/ --taps
  softloc transcribe song.wav -m drums-my-room/ -o hits.mid
"""


@models_app.command("calibrate", epilog=CALIBRATE_EXAMPLES)
def calibrate_cmd(
    model: Annotated[str, typer.Argument(help="Bundled name, model directory, or hf://owner/name[@rev].",
                                         show_default=False)],
    data: Annotated[Path, typer.Argument(help="Annotated audio: a folder of audio + same-stem annotations, or a "
                                              "manifest CSV.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="New model directory to write.",
                                         show_default=False)],
    window: Annotated[Optional[str], typer.Option("--window", "-w", help="Matching tolerance, e.g. 50ms.")] = None,
    offset: Annotated[bool, typer.Option("--offset/--no-offset",
                                         help="Also tune the global time offset (not for loose taps).")] = True,
    taps: Annotated[bool, typer.Option("--taps", help="The annotations are loose taps: match the number of "
                                                      "hits per class (not F1) and keep the time offset.")] = False,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Re-tune a model's decode thresholds on your annotated takes; the weights stay as they are."""
    from ..calibration import calibrate_model, check_new_directory, save_calibrated
    from ..inference import load_model

    window_s = duration(window, "--window") or 0.05
    check_new_directory(output)
    loaded = load_model(model, device=device.value if hasattr(device, "value") else device)
    result = calibrate_model(loaded, data, window_s=window_s, offset=offset and not taps, rule="count" if taps else "f1")
    save_calibrated(loaded, result, output, data=str(data))
    before, after = result.before.pooled.overall.f1, result.after.pooled.overall.f1
    decode = result.decode
    if as_json:
        summary = {"model": loaded.name, "output": str(output), "files": result.files, "window_s": window_s,
                   "f1_before": round(before, 4), "f1_after": round(after, 4), "threshold": decode.threshold,
                   "class_thresholds": decode.class_thresholds, "smooth_s": decode.smooth_s,
                   "time_offset_s": decode.time_offset_s}
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not quiet:
        shown = ", ".join(f"{k} {v:g}" for k, v in list(decode.class_thresholds.items())[:12])
        stdout.print(f"F1 on {result.files} file(s): {before:.3f} -> {after:.3f} (±{1000 * window_s:g} ms)", markup=False)
        stdout.print(f"thresholds: {shown or decode.threshold}; time offset {1000 * decode.time_offset_s:+.1f} ms",
                     markup=False)
        stderr.print(f"wrote {output}", markup=False)
