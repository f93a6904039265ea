"""Write a copy of an annotated set through the recorded-sound chain (EQ, room, compression, noise).

Thresholds calibrated on clean rendered validation audio sit where clean renders peak; real
recordings peak lower. Calibrating on the validation set *and* a recorded-sounding copy of it
(`scripts/recalibrate.py MODEL FOLDER` on a folder holding both) asks for thresholds that hold on
both kinds of sound:

    python scripts/augment_set.py data/drums2/validation data/drums2/validation-aug --seed 1

The tempo is left alone (no speed change), so every annotation file is copied unchanged beside
its new audio.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf

from softloc_cli.audio import load_audio
from softloc_cli.augment import AugmentConfig, augment_audio
from softloc_cli.data import find_entries
from softloc_cli.features import FeatureConfig

SAMPLE_RATE = FeatureConfig().sample_rate  # the bundled models' rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="annotated folder or manifest CSV")
    parser.add_argument("output", type=Path, help="new folder (flat: audio + annotation per file)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.output.exists():
        raise SystemExit(f"error: {args.output} exists; choose a new folder")
    entries = find_entries(args.source)
    config = replace(AugmentConfig(), speed_prob=0.0)
    args.output.mkdir(parents=True)
    for index, entry in enumerate(entries):
        rng = np.random.default_rng([args.seed, index])
        audio, _ = augment_audio(load_audio(entry.audio, sample_rate=SAMPLE_RATE), SAMPLE_RATE, rng, config)
        stem = f"{entry.audio.stem}-aug"
        sf.write(args.output / f"{stem}.flac", audio / max(1.0, float(np.abs(audio).max())), SAMPLE_RATE)  # no clipping
        shutil.copy(entry.annotation, args.output / f"{stem}{entry.annotation.suffix}")
    print(f"wrote {len(entries)} files -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
