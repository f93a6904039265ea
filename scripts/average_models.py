"""Average the weights of runs that share an architecture and a starting point (a "model soup").

Two continuations of one run, trained with different seeds, end in the same basin; the mean of
their weights often scores above either while costing nothing at transcription time (one network,
not an ensemble). The new directory takes the first model's ``config.json``; re-tune its decode
settings on the validation set afterwards, because averaged outputs are shaped differently:

    python scripts/average_models.py runs/onsets-real-cont runs/onsets-real-cont2 -o runs/onsets-soup
    python scripts/recalibrate.py runs/onsets-soup data/bock/val
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from softloc_cli.checkpoint import WEIGHTS_NAME, read_config


def average_weights(directories: list[Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of every floating tensor; integer buffers (BatchNorm's step count) from the first."""
    configs = [read_config(d) for d in directories]
    if any(c.model != configs[0].model or c.features != configs[0].features for c in configs[1:]):
        raise SystemExit("error: the models differ in architecture or features; only equal networks average")
    states = [load_file(str(d / WEIGHTS_NAME)) for d in directories]
    averaged = {}
    for name, first in states[0].items():
        if first.is_floating_point():
            averaged[name] = torch.stack([s[name] for s in states]).mean(0)
        else:
            averaged[name] = first.clone()
    return averaged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="model directories with equal networks")
    parser.add_argument("-o", "--output", required=True, type=Path)
    args = parser.parse_args()
    if len(args.models) < 2:
        raise SystemExit("error: give at least two model directories")
    if args.output.exists():
        raise SystemExit(f"error: {args.output} exists; choose a new directory")
    weights = average_weights(args.models)
    args.output.mkdir(parents=True)
    shutil.copy(args.models[0] / "config.json", args.output / "config.json")
    save_file(weights, str(args.output / WEIGHTS_NAME))
    print(f"averaged {len(args.models)} models -> {args.output}")


if __name__ == "__main__":
    main()
