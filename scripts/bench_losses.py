"""Forward+backward time of the mass-convergence loss L_MC against the authors' frame loop.

For each case (batch, classes, frames) the script draws logits around the model's initial
output (p ~ 1e-3 per frame) and labelled counts uniformly in ``0..k_max`` per (sequence,
class), with ``k_max`` = frames/25 for drum-like cases and frames/50 for the piano-like case
(the most events a class-sequence realistically holds), then times, in the same run and on
the same device:

- ``ours``: ``softloc_cli.losses.count_nll_from_logits`` (exponential tilting + product tree,
  analytic backward);
- ``loop``: the authors' form, a Python loop over frames in probability space with states
  ``0..k_max`` plus one absorbing state and ``-log(P[k] + 1e-9)``. When a case has more than
  ``--loop-max-frames`` frames, the loop runs on the first ``--loop-max-frames`` frames with the
  same states and its time is scaled linearly (marked "est."): its cost per frame is constant
  and its autograd graph at 100,000 frames would not fit in memory;
- ``model``: the default ``SoftlocNet(ModelConfig(n_classes=C))`` forward+backward on features
  of shape ``(B, 2, T, n_mels)``, for scale.

Times are wall-clock medians of ``--repeats`` runs after one warm-up (the loop: one run after a
warm-up; the model: one run after a warm-up on a 1,000-frame crop). Usage::

    python scripts/bench_losses.py                  # CPU, about 1-2 minutes on 2 cores
    python scripts/bench_losses.py --device cuda
    python scripts/bench_losses.py --threads 1      # stable CPU numbers on a busy machine
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F

from softloc_cli.losses import count_nll_from_logits

CASES = [  # (name, batch, classes, frames, frames per event at most)
    ("drums", 32, 3, 400, 25),
    ("piano", 8, 88, 2000, 50),
    ("drums-long", 1, 1, 100_000, 25),
]


def loop_count_nll(probs: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """The authors' L_MC: probability-space recursion over frames, last state absorbing.

    probs (B, T, C), counts (B, C) -> (B, C).
    """
    batch, n_frames, n_classes = probs.shape
    p = probs.transpose(1, 2).reshape(batch * n_classes, n_frames)
    states = torch.zeros(batch * n_classes, int(counts.max()) + 2, device=probs.device, dtype=probs.dtype)
    states[:, 0] = 1
    for t in range(n_frames):
        p_t = p[:, t : t + 1]
        absorbed = states[:, -2:-1] + states[:, -1:]
        shifted = torch.cat([torch.zeros_like(states[:, :1]), states[:, :-2], absorbed], 1)
        states = (1 - p_t) * states + p_t * shifted
    picked = states.gather(1, counts.reshape(-1, 1).long())
    return -torch.log(picked + 1e-9).reshape(batch, n_classes)


def time_call(fn: Callable[[], None], *, device: torch.device, repeats: int, warm_up: bool = True) -> float:
    """Median wall time in seconds of ``fn`` (after one warm-up call by default)."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def draw_case(batch: int, n_classes: int, n_frames: int, frames_per_event: int, *, device, seed: int):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, n_frames, n_classes, generator=generator) - 6.9  # p ~ 1e-3
    k_max = n_frames // frames_per_event
    counts = torch.randint(0, k_max + 1, (batch, n_classes), generator=generator)
    counts.view(-1)[0] = k_max
    return logits.to(device).requires_grad_(), counts.to(device), k_max


def time_ours(logits, counts, *, device, repeats) -> float:
    def run():
        logits.grad = None
        count_nll_from_logits(logits, counts).mean().backward()

    return time_call(run, device=device, repeats=repeats)


def time_loop(logits, counts, *, device, max_frames) -> tuple[float, str]:
    n_frames = logits.shape[1]
    used = min(n_frames, max_frames)
    part = logits.detach()[:, :used].clone().requires_grad_()

    def run():
        loop_count_nll(torch.sigmoid(part), counts).mean().backward()

    seconds = time_call(run, device=device, repeats=1)
    if used < n_frames:
        return seconds * n_frames / used, f"est. from {used} frames"
    return seconds, ""


def time_model(batch, n_classes, n_frames, *, device) -> tuple[float | None, str]:
    try:
        from softloc_cli.model import ModelConfig, SoftlocNet
    except ImportError as exc:
        return None, f"n/a: cannot import softloc_cli.model ({exc})"
    torch.manual_seed(0)
    net = SoftlocNet(ModelConfig(n_classes=n_classes)).to(device)
    features = torch.randn(batch, 2, n_frames, ModelConfig().n_mels, device=device)

    def run(frames: int) -> None:
        net.zero_grad(set_to_none=True)
        net(features[:, :, :frames]).square().mean().backward()

    try:
        run(min(n_frames, 1000))  # warm-up on a short crop: one-time costs, not a second full run
        return time_call(lambda: run(n_frames), device=device, repeats=1, warm_up=False), ""
    except (RuntimeError, MemoryError) as exc:  # out of memory on a small machine
        return None, f"n/a: {str(exc).splitlines()[0][:60]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of ours (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--loop-max-frames", type=int, default=5000, help="longest loop actually run")
    parser.add_argument("--no-model", action="store_true", help="skip the model timing")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads, float32")
    print(
        f"{'case':<11} {'B':>3} {'C':>3} {'T':>7} {'k used':>12} {'ours ms':>9} {'loop ms':>10} {'loop/ours':>9}"
        f" {'model ms':>9} {'ours/model':>10}  notes"
    )
    for index, (name, batch, n_classes, n_frames, frames_per_event) in enumerate(CASES):
        logits, counts, k_max = draw_case(
            batch, n_classes, n_frames, frames_per_event, device=device, seed=args.seed + index
        )
        ours = time_ours(logits, counts, device=device, repeats=args.repeats)
        loop, loop_note = time_loop(logits, counts, device=device, max_frames=args.loop_max_frames)
        if args.no_model:
            model, model_note = None, "model skipped"
        else:
            model, model_note = time_model(batch, n_classes, n_frames, device=device)
        k_used = f"0..{k_max}" if counts.numel() > 1 else f"{k_max}"
        model_ms = f"{model * 1e3:9.1f}" if model else f"{'n/a':>9}"
        ratio_model = f"{ours / model:10.3f}" if model else f"{'n/a':>10}"
        notes = "; ".join(note for note in (loop_note, model_note) if note)
        print(
            f"{name:<11} {batch:>3} {n_classes:>3} {n_frames:>7} {k_used:>12} {ours * 1e3:9.1f} {loop * 1e3:10.1f}"
            f" {loop / ours:9.1f} {model_ms} {ratio_model}  {notes}"
        )
    print("k used: counts drawn uniformly in that range per (sequence, class), the maximum always present.")


if __name__ == "__main__":
    main()
