"""Fill a feature cache for `softloc train --cache-dir` with several processes at once.

`softloc train` computes the features of every training file (and of each augmented copy) on one
core before the first step; with hours of audio and `[augment] copies` that is most of a run's
start-up. This script computes the very same cache entries in parallel, so the run that follows
only reads them:

    python scripts/cache_features.py data/drums2/train --recipe recipes/drums-real.toml \
        --cache-dir data/cache-feat --jobs 2

Entries are keyed by file, features, augmentation settings, copy and seed, exactly as
`softloc_cli.data.compute_logmel` keys them, so a recipe with other settings misses the cache
rather than reading wrong features. Models trained from scratch only (`--init` models bring their
own feature settings).
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from softloc_cli.data import compute_logmel, find_entries
from softloc_cli.features import LogMelFlux
from softloc_cli.training import load_recipe, make_config


def _fill(args: tuple) -> int:
    """Compute one share of the entries (every ``jobs``-th file); returns how many files it did."""
    recipe, data, cache_dir, job, jobs, pitched = args
    import torch

    torch.set_num_threads(1)
    config = make_config(load_recipe(recipe), data=data)
    feature_module = LogMelFlux(config.features)
    entries = find_entries(data)[job::jobs]
    for entry in entries:
        for copy in range(config.augment.copies + 1):  # copy 0: the file as it is
            compute_logmel(entry.audio, feature_module, cache_dir=cache_dir, augment=config.augment, copy=copy,
                           seed=config.seed, allow_pitch=not pitched)
    return len(entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="+", help="training folders or manifests (the recipe's data and [[mix]] paths)")
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--cache-dir", required=True, type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--pitched", action="store_true", help="a pitched model: augmented copies keep their speed")
    args = parser.parse_args()
    start = time.perf_counter()
    for data in args.data:
        tasks = [(args.recipe, data, args.cache_dir, job, args.jobs, args.pitched) for job in range(args.jobs)]
        with ProcessPoolExecutor(args.jobs) as pool:
            done = sum(pool.map(_fill, tasks))
        print(f"{data}: {done} files cached ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
