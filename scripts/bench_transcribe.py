"""CPU speed and peak memory of `softloc transcribe`, beside librosa's onset detector.

Speed is reported as seconds of audio per second of wall time ("x real time"), features and
decoding included, for two paths:

- ``transcribe_audio`` on a synthetic signal already in memory at the model's rate, and
- ``transcribe_file`` on the same signal saved as a 44.1 kHz stereo 16-bit WAV (decoding,
  streaming resampling, features, network, peak picking),

each timed beside ``librosa.onset.onset_detect`` on the same audio in the same run (the
baseline), with the ratio softloc / librosa. Peak memory is the maximum resident set size
(``ru_maxrss`` from ``os.wait4``) of a separate process per case, for a long synthetic WAV
(30 minutes by default) transcribed by the real ``softloc transcribe`` command; tracemalloc
would miss torch's allocations.

The model is ``--model SPEC`` (bundled name, directory or hf://owner/name), else the bundled
default when the package ships one, else a randomly initialised model built here
(``--arch tiny``: the test model; ``--arch default``: ModelConfig() at full size; a random
network runs exactly as fast as a trained one of the same shape).

Usage::

    python scripts/bench_transcribe.py                      # about 1-3 minutes on 2 cores
    python scripts/bench_transcribe.py --arch default --long-minutes 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FILE_RATE = 44100  # the WAVs are written as a user's files usually are: 44.1 kHz stereo 16-bit


def build_random_model(directory: Path, arch: str) -> Path:
    import torch

    from softloc_cli.checkpoint import CheckpointConfig, ClassInfo, save_checkpoint
    from softloc_cli.features import FeatureConfig
    from softloc_cli.model import ModelConfig, SoftlocNet

    torch.manual_seed(0)
    if arch == "tiny":
        model_config = ModelConfig(conv_channels=[4, 4], rnn_hidden=8, n_classes=2, n_mels=FeatureConfig().n_mels)
        classes = [ClassInfo("low", 36), ClassInfo("high", 42)]
    else:
        model_config = ModelConfig()
        classes = [ClassInfo("kick", 36), ClassInfo("snare", 38), ClassInfo("hihat", 42)]
    config = CheckpointConfig(name=f"random-{arch}", classes=classes, model=model_config)
    return save_checkpoint(directory / f"random-{arch}", SoftlocNet(model_config).eval(), config)


def write_wav(path: Path, audio: np.ndarray, rate: int, repeats: int = 1) -> None:
    """``audio`` (at ``rate``) resampled to 44.1 kHz, written ``repeats`` times as stereo PCM 16."""
    import soundfile as sf
    import soxr

    block = soxr.resample(audio, rate, FILE_RATE).astype(np.float32)
    stereo = np.stack([block, 0.8 * block], axis=1)
    with sf.SoundFile(str(path), "w", FILE_RATE, 2, subtype="PCM_16") as f:
        for _ in range(repeats):
            f.write(stereo)


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median wall time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def peak_rss(command: list[str], env: dict | None = None) -> tuple[float, float, int]:
    """(peak RSS in MiB, wall seconds, exit code) of ``command`` run as its own process."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            errors.seek(0)
            print(f"  ! {' '.join(command[:3])}... exited {code}: {errors.read().decode()[-500:]}")
    factor = 1024 if sys.platform != "darwin" else 1  # ru_maxrss: KiB on Linux, bytes on macOS
    return usage.ru_maxrss * factor / 2**20, wall, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model spec; default: the bundled default, else a random model")
    parser.add_argument("--arch", choices=["tiny", "default"], default="tiny", help="random model shape when no model is given")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the speed-test signal (s)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case (median reported)")
    parser.add_argument("--long-minutes", type=float, default=30.0, help="length of the memory-test WAV (min)")
    parser.add_argument("--no-baseline-memory", action="store_true", help="skip librosa's memory case")
    args = parser.parse_args()

    import librosa
    import torch

    from softloc_cli.hub import bundled_models
    from softloc_cli.synthetic import render_hits
    from softloc_cli.inference import load_model, transcribe_audio, transcribe_file

    work = Path(tempfile.mkdtemp(prefix="softloc-bench-"))
    if args.model:
        spec = args.model
    elif bundled_models():
        spec = None  # load_model(None): the bundled default
    else:
        spec = str(build_random_model(work, args.arch))
    model = load_model(spec, device="cpu")
    n_params = sum(p.numel() for p in model.net.parameters())
    rate = model.config.features.sample_rate
    print(f"model   {model.name} ({model.directory}), {n_params:,} parameters, classes {', '.join(model.config.labels)}")
    print(f"cpu     torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores visible; "
          f"librosa {librosa.__version__}")

    audio, truth = render_hits(args.seconds, sample_rate=rate, timbres=("low", "mid", "high"), seed=0)
    transcribe_audio(model, audio[: rate * 2])  # warm-up: first-call allocations, thread pools
    librosa.onset.onset_detect(y=audio[: rate * 2], sr=rate)

    print(f"\nspeed   {args.seconds:.0f} s synthetic drums ({len(truth)} hits), median of {args.repeat}; "
          "x = seconds of audio per second of wall time")
    t_soft, result = timed(lambda: transcribe_audio(model, audio), args.repeat)
    t_lib, onsets = timed(lambda: librosa.onset.onset_detect(y=audio, sr=rate, units="time"), args.repeat)
    rows = [("in memory, model rate", t_soft, len(result.events), t_lib, len(onsets))]

    wav = work / "speed.wav"
    write_wav(wav, audio, rate)
    t_soft_f, result_f = timed(lambda: transcribe_file(model, wav), args.repeat)

    def librosa_file():
        y, sr = librosa.load(str(wav), sr=rate, mono=True)
        return librosa.onset.onset_detect(y=y, sr=sr, units="time")

    t_lib_f, onsets_f = timed(librosa_file, args.repeat)
    rows.append(("from 44.1 kHz stereo WAV", t_soft_f, len(result_f.events), t_lib_f, len(onsets_f)))
    print(f"  {'case':26s} {'softloc':>16s} {'librosa onset':>16s} {'softloc/librosa':>16s}")
    for name, ts, ns, tl, nl in rows:
        print(f"  {name:26s} {args.seconds / ts:9.0f}x {ts:5.2f}s {args.seconds / tl:9.0f}x {tl:5.2f}s {tl / ts:15.2f}x"
              f"   (events: {ns} vs {nl})")

    minutes = args.long_minutes
    long_wav = work / "long.wav"
    clip_s = 60.0
    clip, _ = render_hits(clip_s, sample_rate=rate, timbres=("low", "mid", "high"), seed=1)
    write_wav(long_wav, clip, rate, repeats=max(1, round(minutes * 60 / clip_s)))
    size_mb = long_wav.stat().st_size / 2**20
    print(f"\nmemory  peak RSS, one process per case; {minutes:.0f} min synthetic WAV, 44.1 kHz stereo 16-bit ({size_mb:.0f} MiB)")
    softloc = [sys.executable, "-m", "softloc_cli"]  # the command, installed or not
    model_args = ["-m", spec] if spec else []
    cases = [
        ("python + torch + librosa + softloc imported", [sys.executable, "-c", "import torch, librosa, softloc_cli.inference, softloc_cli.annotations"]),
        (f"softloc transcribe, {minutes:.0f} min WAV",
         softloc + ["transcribe", str(long_wav), *model_args, "-d", "cpu", "-o", str(work / "long.csv"), "--overwrite", "-q"]),
    ]
    if not args.no_baseline_memory:
        code = ("import sys, librosa; y, sr = librosa.load(sys.argv[1], sr=%d, mono=True); "
                "librosa.onset.onset_detect(y=y, sr=sr)" % rate)
        cases.append((f"librosa load + onset_detect, {minutes:.0f} min", [sys.executable, "-c", code, str(long_wav)]))
    for name, command in cases:
        rss, wall, code = peak_rss(command)
        speed = f"{minutes * 60 / wall:6.0f}x real time" if "min" in name else ""
        print(f"  {name:44s} {rss:7.0f} MiB  {wall:6.1f} s  {speed}")
    events_long = max(0, len((work / "long.csv").read_text().splitlines()) - 1) if (work / "long.csv").exists() else None
    print(f"  (softloc wrote {events_long} events for the long file)")

    for path in sorted(work.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    work.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
