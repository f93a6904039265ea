"""Keep some of a trained model's output classes and drop the rest, without retraining.

A drum model can be trained with outputs for the distractors it must tell apart (toms, crash,
ride) and shipped with only the classes that trained well: the shared layers are kept as they are
and the output layer keeps the selected rows, so the kept classes' activations do not change.
The old validation scores no longer describe the model: re-tune its decode afterwards.

    python scripts/select_classes.py runs/drums6 --classes kick,snare,hihat -o softloc_cli/models/drums
    python scripts/recalibrate.py softloc_cli/models/drums data/drums/validation
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from softloc_cli.checkpoint import CheckpointConfig, load_weights, read_config, save_checkpoint
from softloc_cli.model import SoftlocNet


def select_classes(source: Path, classes: list[str], output: Path) -> CheckpointConfig:
    """Write ``source`` restricted to ``classes`` (in that order) into ``output``."""
    config = read_config(source)
    index = {c.name: i for i, c in enumerate(config.classes)}
    missing = [name for name in classes if name not in index]
    if missing or not classes:
        raise SystemExit(f"error: {source} has classes {', '.join(index)}; cannot keep {', '.join(missing) or 'none'}")
    rows = [index[name] for name in classes]
    net = SoftlocNet(config.model)
    load_weights(source, net)
    state = net.state_dict()
    state["head.weight"], state["head.bias"] = state["head.weight"][rows], state["head.bias"][rows]
    model = replace(config.model, n_classes=len(rows))
    kept = SoftlocNet(model)
    kept.load_state_dict(state)
    decode = replace(config.decode, class_thresholds={k: v for k, v in config.decode.class_thresholds.items()
                                                      if k in classes})
    training = {**config.training, "trained_classes": config.labels}
    scores = {k: v for k, v in config.scores.items() if k != "validation"}
    selected = replace(config, classes=[config.classes[i] for i in rows], model=model, decode=decode,
                       training=training, scores=scores)
    save_checkpoint(output, kept, selected)
    return selected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="model directory to read")
    parser.add_argument("--classes", required=True, help="comma-separated classes to keep, e.g. kick,snare,hihat")
    parser.add_argument("-o", "--output", type=Path, required=True, help="model directory to write")
    args = parser.parse_args(argv)
    if args.output.resolve() == args.model.resolve():
        print("error: write the selection to a new directory (-o), not over the model it reads", file=sys.stderr)
        return 2
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    selected = select_classes(args.model, classes, args.output)
    print(f"wrote {args.output}: {', '.join(selected.labels)} (trained with {', '.join(selected.training['trained_classes'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
