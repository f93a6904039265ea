"""Training throughput (crops per second) of a recipe's network on this machine's CPU cores.

One training step is what `softloc train` does per batch once features are cached: mel-axis gain,
flux, forward, the recipe's loss, backward, gradient clipping and Adam. The baseline is one
process with one thread; every other way to use the cores is printed as a ratio to it, measured
in the same run:

    python scripts/bench_train.py --recipe recipes/drums-real.toml

- ``threads=N``: one process, N intra-op threads (``threads = N`` in a recipe);
- ``ddp=N``: N processes of one thread each, averaging gradients over gloo (``torchrun
  --nproc_per_node N softloc train ...``); each process draws its own batch, so N times the
  crops per step;
- ``batch=B``: one thread, another batch size.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from softloc_cli.features import add_flux
from softloc_cli.losses import build_loss
from softloc_cli.training import _build_model, load_recipe, make_config


def _setup(recipe: str, batch: int):
    config = make_config(load_recipe(recipe), data="bench")
    net, ckpt, _ = _build_model(config, config.classes or ["onset"], None)  # the network `softloc train` builds
    n_windows, model_config = ckpt.model.n_windows, ckpt.model
    frame_rate = config.features.frame_rate_hz
    frames = int(round(config.crop_s * frame_rate))
    rng = np.random.default_rng(0)
    logmel = torch.from_numpy(rng.normal(size=(batch, frames, config.features.n_mels * n_windows)).astype(np.float32))
    targets = torch.from_numpy((rng.random((batch, frames, model_config.n_classes)) < 0.02).astype(np.float32))
    mask = torch.ones(batch, frames, dtype=torch.bool)
    loss_fn = build_loss(config.loss, frame_rate_hz=frame_rate)
    softness = config.loss.softness_s * frame_rate
    return config, net, logmel, targets, mask, loss_fn, softness


def _steps_per_second(recipe: str, batch: int, threads: int, steps: int, model=None) -> float:
    torch.set_num_threads(threads)
    config, net, logmel, targets, mask, loss_fn, softness = _setup(recipe, batch)
    model = model(net) if model is not None else net
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step(i: int) -> None:
        logits = model(add_flux(logmel))
        loss, _ = loss_fn(logits, targets, mask=mask, step=i, softness_frames=softness)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
        optimizer.step()

    for i in range(3):  # warm-up: allocator, kernels
        step(i)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    return steps / (time.perf_counter() - start)


def _ddp_worker(rank: int, world: int, recipe: str, batch: int, steps: int, port: int, out) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from torch.nn.parallel import DistributedDataParallel

    rate = _steps_per_second(recipe, batch, 1, steps, model=DistributedDataParallel)
    if rank == 0:
        out.put(rate)
    dist.destroy_process_group()


def _ddp_steps_per_second(recipe: str, batch: int, world: int, steps: int) -> float:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    port = 29500 + os.getpid() % 1000
    mp.spawn(_ddp_worker, args=(world, recipe, batch, steps, port, out), nprocs=world, join=True)
    return out.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="recipes/drums-real.toml")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    batch = make_config(load_recipe(args.recipe), data="bench").batch_size
    base = batch * _steps_per_second(args.recipe, batch, 1, args.steps)
    print(f"{args.recipe}: batch {batch}, {args.steps} timed steps per setting")
    print(f"{'setting':<12} {'crops/s':>8} {'ratio':>6}")
    print(f"{'threads=1':<12} {base:8.1f} {1.0:6.2f}  (baseline)")
    rows = [(f"batch={2 * batch}", 2 * batch * _steps_per_second(args.recipe, 2 * batch, 1, args.steps))]
    if args.cores > 1:
        rows.append((f"threads={args.cores}", batch * _steps_per_second(args.recipe, batch, args.cores, args.steps)))
        rows.append((f"ddp={args.cores}", args.cores * batch * _ddp_steps_per_second(args.recipe, batch, args.cores,
                                                                                     args.steps)))
    for name, rate in rows:
        print(f"{name:<12} {rate:8.1f} {rate / base:6.2f}", flush=True)


if __name__ == "__main__":
    main()
