"""Training under torchrun: two CPU processes (gloo) fine-tune with the head-only phase, stop, and
resume with each rank's own random state."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from softloc_cli.synthetic import write_dataset
from softloc_cli.training import STATE_DIR, make_config, train

SCRIPT = textwrap.dedent(
    """
    import sys
    from softloc_cli.training import make_config, train

    data, base, output, steps, resume, stop_at = sys.argv[1:7]

    def ctrl_c(event):
        if event["kind"] == "step" and event["step"] == int(stop_at):
            raise KeyboardInterrupt

    config = make_config(data=data, output=output, init=base, steps=int(steps), batch_size=2, crop_s=1.0,
                         val_every=4, warmup_steps=1, device="cpu", threads=1, head_only_steps=3)
    train(config, resume=resume == "1", on_event=ctrl_c)
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(script: Path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(free_port()), str(script), *[str(a) for a in args]]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import torch

    root = tmp_path_factory.mktemp("ddp")
    write_dataset(root / "data", n_files=3, duration_s=3.0, seed=1)
    before = torch.get_num_threads()
    train(make_config(data=str(root / "data"), output=str(root / "base"), classes=["low", "high"],
                      model={"conv_channels": [4, 4], "rnn_hidden": 8}, steps=2, batch_size=2, crop_s=1.0,
                      device="cpu", threads=1))
    torch.set_num_threads(before)
    script = root / "run.py"
    script.write_text(SCRIPT)
    return root, script


def test_two_process_fine_tuning_with_a_head_only_phase_finishes(setup):
    root, script = setup

    done = torchrun(script, root / "data", root / "base", root / "tuned", 8, 0, 0)

    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((root / "tuned" / "config.json").read_text())
    assert config["training"]["world_size"] == 2 and config["training"]["steps"] == 8


def test_each_rank_resumes_with_its_own_random_state(setup):
    """Cut at step 5 (Ctrl-C on both ranks), resumed to step 8: the same weights and per-rank
    random states as the uninterrupted run of test 1 (rank 1 drawing rank 0's crops would differ)."""
    from safetensors.torch import load_file

    root, script = setup
    cut = torchrun(script, root / "data", root / "base", root / "resumed", 8, 0, 5)
    assert cut.returncode != 0 and (root / "resumed" / STATE_DIR / "rank1.json").is_file(), cut.stderr[-3000:]
    state = root / "resumed" / STATE_DIR
    ranks = [json.loads((state / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["step"] == ranks[1]["step"] == 5 and ranks[0]["sampler"] != ranks[1]["sampler"]

    again = torchrun(script, root / "data", root / "base", root / "resumed", 8, 1, 0)

    assert again.returncode == 0, again.stderr[-3000:]
    straight, resumed = root / "tuned", root / "resumed"
    for r in (0, 1):
        assert (json.loads((straight / STATE_DIR / f"rank{r}.json").read_text())
                == json.loads((resumed / STATE_DIR / f"rank{r}.json").read_text()))
    a, b = load_file(str(straight / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert all(bool((a[k] == b[k]).all()) for k in a)
