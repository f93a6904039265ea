"""Real drums under real backings: mix annotated drum clips with drum-free recordings.

A test of what a drum model does in a band when both the drums and the band are real: every drum
clip (audio + same-stem annotation) is mixed with ``--per-clip`` backings from the drum-free
folder (looped or cut to the clip's length) at each drums-over-backing level (RMS, dB). The
annotations are the drum clip's own, so any hit the model adds on the backing counts against it
and any drum hit the backing hides is missed. Deterministic; audio at 44.1 kHz.

    python scripts/mix_backings.py data/real-drums/kit data/real-drums/drumfree -o data/real-drums/backed \
        --levels 0,6 --per-clip 4
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from softloc_cli.audio import load_audio
from softloc_cli.data import find_entries

SAMPLE_RATE = 44100


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)) + 1e-12))


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Loop or cut ``x`` to ``n`` samples."""
    return np.tile(x, int(np.ceil(n / len(x))))[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("drums", type=Path, help="annotated drum clips")
    parser.add_argument("backings", type=Path, help="recordings without drums")
    parser.add_argument("-o", "--out-dir", type=Path, required=True)
    parser.add_argument("--levels", default="0,6", help="drums over backing, dB RMS (default 0,6)")
    parser.add_argument("--per-clip", type=int, default=4, help="backings per drum clip (default 4)")
    args = parser.parse_args()
    backing_entries = find_entries(args.backings)
    backings = [load_audio(e.audio, sample_rate=SAMPLE_RATE) for e in backing_entries]
    names = [e.audio.stem for e in backing_entries]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for index, entry in enumerate(find_entries(args.drums)):
        drums = load_audio(entry.audio, sample_rate=SAMPLE_RATE)
        for k in range(args.per_clip):
            which = (index * args.per_clip + k) % len(backings)  # every backing used in turn
            backing = fit_length(backings[which], len(drums))
            for level_db in (float(v) for v in args.levels.split(",")):
                gain = rms(drums) / rms(backing) / 10 ** (level_db / 20)
                mix = drums + gain * backing
                mix /= max(1.0, float(np.max(np.abs(mix))) / 0.99)  # no clipping
                stem = f"{entry.audio.stem}+{names[which][:30]}@{level_db:+.0f}dB"
                sf.write(args.out_dir / f"{stem}.flac", mix.astype(np.float32), SAMPLE_RATE)
                shutil.copyfile(entry.annotation, args.out_dir / f"{stem}{entry.annotation.suffix}")
                written += 1
    print(f"{written} mixtures in {args.out_dir}")


if __name__ == "__main__":
    main()
