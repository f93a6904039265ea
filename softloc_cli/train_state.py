"""What ``softloc train --resume`` needs: weights, optimizer, schedule position and every random state.

Stored in ``MODEL_DIR/.train_state`` as safetensors + JSON (never pickle), each file written
atomically. Rank 0 writes the shared state (weights, optimizer, best model); under ``torchrun``
every rank writes its own random states (``rank<N>.json`` + ``rank<N>.safetensors``), so that on
resume each rank draws the batches it would have drawn, not rank 0's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .configs import from_dict
from .errors import ConfigError
from .fileio import atomic_write

STATE_DIR = ".train_state"
RESUME_EXEMPT = {"output"}  # names the run; everything else comes from the saved state


@dataclass
class Progress:
    """Where a run stands: the next step, the best validation score so far and its step."""

    step: int = 0
    best_f1: float = -1.0
    best_step: int = 0
    stale: int = 0  # validations since the best one
    averaged: int = 0  # weight snapshots in the kept average (``keep = "average"``)


def saved_config(output: str | Path, config_type: type) -> Any:
    """The training config stored by an interrupted run in ``output``."""
    state = Path(output) / STATE_DIR / "state.json"
    if not state.is_file():
        raise ConfigError(f"nothing to resume in {output} (no {STATE_DIR}/state.json)")
    return from_dict(config_type, json.loads(state.read_text())["config"], where=str(state))


def check_resume_flags(saved: Any, flags: dict[str, Any]) -> None:
    """Refuse ``--resume`` with flags that would change the saved run (they would be ignored).

    ``flags`` maps TrainConfig field names (``loss`` as a dict of its fields) to the values given.
    """
    saved_dict = asdict(saved)
    changed = []
    for key, value in flags.items():
        if value is None or key in RESUME_EXEMPT:
            continue
        if isinstance(value, dict):
            changed += [f"{key}.{k}" for k, v in value.items() if v is not None and saved_dict[key].get(k) != v]
        elif saved_dict.get(key) != value:
            changed.append(key)
    if changed:
        raise ConfigError(
            f"--resume continues the saved run exactly, but {', '.join(sorted(changed))} differ(s) from it; "
            "drop those flags, or train into a new -o directory"
        )


def save_state(state_dir: Path, *, config, net, optimizer, best_state: dict, progress: Progress) -> None:
    """The shared state (rank 0 only)."""
    import torch
    from safetensors.torch import save

    state_dir.mkdir(parents=True, exist_ok=True)
    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    tensors.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in best_state.items()})
    opt = optimizer.state_dict()
    for index, values in opt["state"].items():
        for key, value in values.items():
            tensors[f"opt.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    with atomic_write(state_dir / "state.safetensors", "wb") as fh:
        fh.write(save(tensors))
    meta = {"progress": asdict(progress), "config": asdict(config), "param_groups": opt["param_groups"]}
    with atomic_write(state_dir / "state.json", "w") as fh:
        json.dump(meta, fh)


def save_random_state(state_dir: Path, rank: int, step: int, sampler_rng: np.random.Generator,
                      aug_rng: np.random.Generator) -> None:
    """This rank's random states (every rank)."""
    import torch
    from safetensors.torch import save

    state_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(state_dir / f"rank{rank}.safetensors", "wb") as fh:
        fh.write(save({"torch": torch.get_rng_state()}))
    with atomic_write(state_dir / f"rank{rank}.json", "w") as fh:
        json.dump({"step": step, "sampler": sampler_rng.bit_generator.state, "aug": aug_rng.bit_generator.state}, fh)


def load_state(state_dir: Path, *, rank: int, net, optimizer, sampler_rng, aug_rng, device) -> tuple[Progress, dict]:
    """Restore everything :func:`save_state` and :func:`save_random_state` wrote; returns the
    progress and the best weights so far."""
    import torch
    from safetensors.torch import load_file

    meta = json.loads((state_dir / "state.json").read_text())
    progress = Progress(**meta["progress"])
    mine = state_dir / f"rank{rank}.json"
    if not mine.is_file():
        raise ConfigError(f"cannot resume rank {rank}: {mine} is missing (was the run started with fewer processes?)")
    randoms = json.loads(mine.read_text())
    if randoms["step"] != progress.step:
        raise ConfigError(f"{state_dir}: rank {rank} saved step {randoms['step']}, the model step {progress.step}")
    tensors = load_file(str(state_dir / "state.safetensors"))
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    best_state = {k[5:]: v.to(device) for k, v in tensors.items() if k.startswith("best.")}
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value.to(device) if name != "step" else value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    torch.set_rng_state(load_file(str(state_dir / f"rank{rank}.safetensors"))["torch"])
    sampler_rng.bit_generator.state = randoms["sampler"]
    aug_rng.bit_generator.state = randoms["aug"]
    return progress, best_state
