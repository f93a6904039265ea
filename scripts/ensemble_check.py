"""Would averaging the outputs of several trained onset models beat each of them? (issue #15)

Runs every model once over each set (activations cached under ``--cache``), then for every
combination of ``--sizes`` models averages the activations (arithmetic ``mean`` or geometric
``geo``), calibrates threshold and smoothing on the first set (as ``softloc train`` does on its
validation set) and scores all sets: class-agnostic onset F1 at 50 ms, references merged within
30 ms. One line of JSON per combination. An ensemble of k models costs k times the network time.

    python scripts/ensemble_check.py --model onsets --model runs/onsets-real-mw-cont \
        --set fold3=data/bock/val --set percussion=../shared/data/real-onsets/percussion \
        --sizes 1,2 --cache /tmp/ens
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from softloc_cli.annotations import read_annotations
from softloc_cli.audio import load_audio
from softloc_cli.calibration import calibrate, score_decoded
from softloc_cli.checkpoint import read_config
from softloc_cli.data import find_entries
from softloc_cli.events import ONSET_CLASS, merge_labels
from softloc_cli.hub import resolve_model
from softloc_cli.inference import compute_activations, load_model


def cached_activations(spec: str, sets: dict[str, Path], cache: Path) -> dict[str, dict[str, np.ndarray]]:
    """Per set, per file stem: the model's onset activations (computed once, kept in ``cache``)."""
    model, out = None, {}
    for name, folder in sets.items():
        path = cache / f"{Path(spec).name}__{name}.npz"
        if not path.exists():
            model = model or load_model(spec, device="cpu")
            rate = model.config.features.sample_rate
            arrays = {e.audio.stem: compute_activations(model, load_audio(e.audio, sample_rate=rate))[:, 0]
                      for e in find_entries(folder)}
            np.savez(path, **arrays)
        out[name] = dict(np.load(path))
    return out


def combine(arrays: list[np.ndarray], mode: str) -> np.ndarray:
    n = min(len(a) for a in arrays)
    stack = np.stack([a[:n] for a in arrays])
    combined = stack.mean(0) if mode == "mean" else np.exp(np.log(np.clip(stack, 1e-6, 1.0)).mean(0))
    return combined[:, None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="onset model spec (repeatable)")
    parser.add_argument("--set", action="append", required=True, help="NAME=FOLDER; the first calibrates")
    parser.add_argument("--sizes", default="1,2", help="ensemble sizes to try (default 1,2)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ensemble-check"))
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    sets = dict((item.partition("=")[0], Path(item.partition("=")[2])) for item in args.set)
    references = {name: {e.audio.stem: merge_labels(read_annotations(e.annotation)) for e in find_entries(folder)}
                  for name, folder in sets.items()}
    activations = {spec: cached_activations(spec, sets, args.cache) for spec in args.model}
    first = read_config(resolve_model(args.model[0]))
    base, rate = replace(first.decode, class_thresholds={}), first.features.frame_rate_hz
    calibration_set = next(iter(sets))
    for size in (int(s) for s in args.sizes.split(",")):
        for members in itertools.combinations(args.model, size):
            for mode in ["mean"] if size == 1 else ["mean", "geo"]:
                acts = {name: [combine([activations[m][name][stem] for m in members], mode) for stem in references[name]]
                        for name in sets}
                decode = calibrate(acts[calibration_set], list(references[calibration_set].values()),
                                   labels=[ONSET_CLASS], frame_rate_hz=rate, base=base, window_s=0.05)
                scores = {name: round(score_decoded(acts[name], list(references[name].values()), labels=[ONSET_CLASS],
                                                    frame_rate_hz=rate, decode=decode, window_s=0.05)
                                      .pooled.overall.f1, 4) for name in sets}
                print(json.dumps({"members": list(members), "mode": mode, "threshold": decode.threshold_for(ONSET_CLASS),
                                  "smooth_s": decode.smooth_s, "f1": scores}), flush=True)


if __name__ == "__main__":
    main()
