"""Regenerate the golden reference of each bundled model on the bundled example.

Run after replacing a bundled checkpoint; tests/test_bundled.py compares against these files.

    python scripts/make_golden.py            # every bundled model
    python scripts/make_golden.py piano      # only these
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from softloc_cli.hub import bundled_models
from softloc_cli.inference import load_model, transcribe_file

EXAMPLE = Path(__file__).resolve().parents[1] / "softloc_cli" / "examples" / "example.flac"
OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "golden"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[1:] or bundled_models():
        result = transcribe_file(load_model(name, device="cpu"), EXAMPLE)
        np.savez_compressed(
            OUT / f"{name}_example.npz",
            activations=result.activations.astype(np.float32),
            times_s=np.array([e.time_s for e in result.events]),
            labels=np.array([e.label for e in result.events]),
        )
        print(f"{name}: {len(result.events)} events, activations {result.activations.shape}")


if __name__ == "__main__":
    main()
