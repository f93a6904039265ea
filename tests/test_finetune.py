"""Fine-tuning on loose taps: the README's command, classes from the annotations, a class added
to a base model, tap-robust calibration and resume/interrupt behaviour of the training loop."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from softloc_cli.calibration import THRESHOLD_GRID, calibrate
from softloc_cli.cli import app
from softloc_cli.data import frame_targets
from softloc_cli.decode import DecodeConfig
from softloc_cli.events import Event
from softloc_cli.synthetic import write_dataset
from softloc_cli.training import STATE_DIR, make_config, train

ROOT = Path(__file__).resolve().parents[1]
TINY_MODEL = {"conv_channels": [4, 4], "rnn_hidden": 8}
DRUM_NAMES = {"low": "kick", "mid": "snare", "high": "hihat"}


pytestmark = pytest.mark.usefixtures("restore_torch_threads")


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"SOFTLOC_DEBUG": None})


def rename_labels(folder: Path, names: dict[str, str]) -> None:
    for csv in folder.glob("*.csv"):
        lines = csv.read_text().splitlines()
        csv.write_text("\n".join(re.sub(r",(\w+)", lambda m: "," + names.get(m.group(1), m.group(1)), line, count=1)
                                 for line in lines) + "\n")


@pytest.fixture(scope="module")
def taps(tmp_path_factory) -> Path:
    """Ten 3-second clips of kick/snare/hi-hat-named hits, labels jittered by 30 ms like taps."""
    root = tmp_path_factory.mktemp("taps") / "my-taps"
    write_dataset(root, n_files=10, duration_s=3.0, timbres=("low", "mid", "high"), seed=5, label_jitter_s=0.03)
    rename_labels(root, DRUM_NAMES)
    return root


def readme_command(prefix: str) -> list[str]:
    """The README line that starts with ``prefix``, split like a shell would."""
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith(prefix):
            return shlex.split(line.split("#")[0])[1:]  # drop the program name
    raise AssertionError(f"README has no line starting {prefix!r}")


def test_readme_fine_tune_command_runs_verbatim(taps, monkeypatch):
    args = readme_command("softloc train my-taps/ --init drums")
    monkeypatch.chdir(taps.parent)

    result = run(*args)

    assert result.exit_code == 0, (result.output, result.exception)
    output = taps.parent / args[args.index("-o") + 1]
    config = json.loads((output / "config.json").read_text())
    assert [c["name"] for c in config["classes"]] == ["kick", "snare", "hihat"]
    assert config["training"]["config"]["init"] == "drums"
    assert "stored thresholds:" in result.stdout
    assert re.search(r"snapped \d+ of \d+ taps onto the base model's hits", result.stderr), result.stderr


def test_help_and_readme_agree_on_the_fine_tune_option():
    help_text = run("train", "--help").stdout
    assert "--init" in help_text and "softloc train my-taps/ --init drums" in help_text
    assert "--init drums" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_classes_come_from_the_annotations_without_init_or_classes(tmp_path):
    data = tmp_path / "taps"
    write_dataset(data, n_files=3, duration_s=3.0, timbres=("low", "high"), seed=2)
    rename_labels(data, {"low": "tom", "high": "cowbell"})
    recipe = tmp_path / "tiny.toml"
    recipe.write_text("steps = 2\ncrop_s = 1.0\nbatch_size = 2\nthreads = 1\n[model]\nconv_channels = [4, 4]\n"
                      "rnn_hidden = 8\n")

    result = run("train", data, "-o", tmp_path / "m", "--recipe", recipe)

    assert result.exit_code == 0, (result.output, result.exception)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert [c["name"] for c in config["classes"]] == ["cowbell", "tom"]  # sorted
    assert re.search(r"classes: cowbell \(\d+\), tom \(\d+\)", result.stderr)


def test_fine_tuning_adds_a_class_the_base_lacks(tmp_path):
    base_data, taps = tmp_path / "base", tmp_path / "taps"
    write_dataset(base_data, n_files=2, duration_s=3.0, timbres=("low", "high"), seed=3)
    write_dataset(taps, n_files=3, duration_s=3.0, timbres=("low", "mid", "high"), seed=4)
    rename_labels(taps, {"mid": "clap"})
    train(make_config(data=str(base_data), output=str(tmp_path / "base-model"), classes=["low", "high"],
                      model=TINY_MODEL, steps=2, batch_size=2, crop_s=1.0, device="cpu", threads=1))
    events = []

    train(make_config(data=str(taps), output=str(tmp_path / "tuned"), init=str(tmp_path / "base-model"),
                      steps=2, batch_size=2, crop_s=1.0, device="cpu", threads=1), on_event=events.append)

    config = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert [c["name"] for c in config["classes"]] == ["low", "high", "clap"]
    classes = next(e for e in events if e["kind"] == "classes")
    assert classes["new"] == ["clap"] and classes["counts"]["clap"] > 0


# -- calibration that survives loose taps ------------------------------------------------------


def impulses(times_s: list[float], n_frames: int, *, height: float = 0.95, rate: float = 100.0) -> np.ndarray:
    acts = np.zeros((n_frames, 1), dtype=np.float32)
    for t in times_s:
        acts[int(round(t * rate)), 0] = height
    return acts


def test_impulse_like_outputs_keep_a_threshold_off_the_bottom_of_the_grid():
    """Outputs of 0.95 at every hit and 0 elsewhere score the same F1 for any threshold below
    0.95: the first grid value (0.02) is what the old calibration stored; the plateau rule keeps the
    base threshold instead."""
    times = list(np.arange(0.5, 29.5, 0.5))
    refs = [[Event(t + 0.03, "snare") for t in times]]
    acts = [impulses(times, 3000)]
    base = DecodeConfig(threshold=0.3)

    tuned = calibrate(acts, refs, labels=["snare"], frame_rate_hz=100.0, base=base, window_s=0.1, offset=False)

    assert tuned.threshold_for("snare") == 0.3


def test_without_a_base_threshold_on_the_plateau_its_middle_is_taken():
    times = list(np.arange(0.5, 29.5, 0.5))
    refs = [[Event(t, "snare") for t in times]]
    acts = [impulses(times, 3000, height=0.45)]

    tuned = calibrate(acts, refs, labels=["snare"], frame_rate_hz=100.0, base=DecodeConfig(threshold=0.6),
                      window_s=0.05, offset=False)

    assert 0.05 <= tuned.threshold_for("snare") <= 0.3
    assert tuned.threshold_for("snare") in THRESHOLD_GRID


def test_count_rule_matches_the_tapped_count():
    """Loud true hits (0.9) and weaker spurious peaks (0.25) between them: taps 70 ms off match
    nothing within 50 ms, so F1 cannot tell thresholds apart, but the count can."""
    rng = np.random.default_rng(0)
    times = np.arange(0.5, 29.5, 0.5)
    acts = impulses(list(times), 3000, height=0.9)
    for t in times[:-1] + 0.25:
        acts[int(round(t * 100)), 0] = 0.25
    refs = [[Event(float(t + rng.choice([-0.07, 0.07])), "snare") for t in times]]

    tuned = calibrate([acts], refs, labels=["snare"], frame_rate_hz=100.0, base=DecodeConfig(threshold=0.1),
                      window_s=0.05, offset=False, rule="count")

    assert 0.25 < tuned.threshold_for("snare") < 0.9


# -- resume and interruption -------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("small")
    write_dataset(root / "train", n_files=3, duration_s=3.0, seed=1)
    write_dataset(root / "val", n_files=1, duration_s=3.0, seed=2)
    return root


def tiny(small: Path, output: Path, **overrides):
    settings = dict(data=str(small / "train"), val=str(small / "val"), output=str(output), classes=["low", "high"],
                    model=TINY_MODEL, steps=12, batch_size=2, crop_s=1.0, val_every=6, warmup_steps=2,
                    device="cpu", threads=1, seed=1)
    settings.update(overrides)
    return make_config(**settings)


def test_ctrl_c_saves_the_state_and_resume_finishes_identically(small, tmp_path):
    from safetensors.torch import load_file

    train(tiny(small, tmp_path / "straight"))

    def ctrl_c(event):
        if event["kind"] == "step" and event["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny(small, tmp_path / "cut"), on_event=ctrl_c)
    state = json.loads((tmp_path / "cut" / STATE_DIR / "state.json").read_text())
    assert state["progress"]["step"] == 3  # saved although no validation had run yet
    train(tiny(small, tmp_path / "cut"), resume=True)

    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "model.safetensors"))
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_resume_refuses_flags_that_would_be_ignored(small, tmp_path):
    def stop(event):
        if event["kind"] == "step" and event["step"] == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny(small, tmp_path / "run"), on_event=stop)

    result = run("train", "-o", tmp_path / "run", "--resume", "--lr", "0.5", "--softness", "30ms")

    assert result.exit_code == 1
    assert "lr" in result.stderr and "loss.softness_s" in result.stderr and "differ" in result.stderr
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_anchor_weight_holds_the_body_near_the_base_model(small, tmp_path):
    """L2-SP: with a strong pull towards the init weights the recurrent layer moves far less."""
    from safetensors.torch import load_file

    train(tiny(small, tmp_path / "base", steps=2))
    base = load_file(str(tmp_path / "base" / "model.safetensors"))
    moved = {}
    for weight in (0.0, 100.0):
        out = tmp_path / f"anchor-{weight}"
        train(tiny(small, out, init=str(tmp_path / "base"), model=None, steps=6, lr=0.01, warmup_steps=1,
                   head_only_steps=0, anchor_weight=weight, val_every=6))
        tuned = load_file(str(out / "model.safetensors"))
        moved[weight] = sum(float((tuned[k] - base[k]).abs().sum()) for k in base if k.startswith("rnn."))

    assert moved[0.0] > 0 and moved[100.0] < 0.5 * moved[0.0], moved


# -- taps snapped onto the base model's hits ---------------------------------------------------


def test_taps_are_snapped_onto_the_base_models_hits_before_training(tmp_path, monkeypatch):
    """The loop trains on the taps moved onto the init model's hits (here: stand-in detections at
    the exact times), augmented copies included, and reports how many moved; ``snap_taps=False``
    trains on the taps as tapped."""
    from softloc_cli import training

    folder = tmp_path / "taps"
    exact = write_dataset(folder, n_files=4, duration_s=3.0, timbres=("low", "mid", "high"), seed=7,
                          label_jitter_s=0.03)
    rename_labels(folder, DRUM_NAMES)
    truth = {f"clip_{i:02d}.wav": [Event(e.time_s, DRUM_NAMES[e.label]) for e in events]
             for i, events in enumerate(exact)}
    monkeypatch.setattr(training, "base_detections",
                        lambda net, tracks, **kw: [truth[t.entry.audio.name] for t in tracks])

    def prepared(snap: bool):
        events = []
        config = make_config(data=str(folder), output=str(tmp_path / "out"), init="drums", auto_softness=True,
                             snap_taps=snap, augment={"copies": 1, "speed_prob": 1.0}, device="cpu", threads=1)
        return training.prepare(config, emit=events.append), events

    def share_on_truth(tracks) -> float:
        hits = total = 0
        for track in tracks:
            true = np.array(sorted(e.time_s * track.time_scale for e in truth[track.entry.audio.name]))
            for e in track.events:
                total += 1
                hits += np.min(np.abs(true - e.time_s)) < 1e-4
        return hits / total

    run_snapped, events = prepared(True)
    snap = next(e for e in events if e["kind"] == "snap")
    assert snap["snapped"] > 0.9 * snap["taps"] and snap["window_s"] >= 0.03
    copies = [t for t in run_snapped.train_tracks if t.copy > 0]
    assert copies and any(abs(t.time_scale - 1) > 1e-3 for t in copies)
    assert share_on_truth(run_snapped.train_tracks) > 0.9 and share_on_truth(run_snapped.val_tracks) > 0.9
    rate = run_snapped.ckpt.features.frame_rate_hz
    for track in run_snapped.train_tracks:  # the targets follow the moved labels, not the taps
        times = np.array([e.time_s for e in track.events])
        expected = frame_targets(track.events, run_snapped.labels, len(track.logmel), rate, times)
        assert np.array_equal(track.targets, expected)
    assert run_snapped.summaries["snapped_taps"]["snapped"] == snap["snapped"]
    # snapped labels are near-exact: the softness drops from the measured spread to 20 ms
    measured = next(e for e in events if e["kind"] == "softness")["softness_s"]
    assert measured > 0.02 and snap["softness_s"] == run_snapped.config.loss.softness_s == 0.02

    run_tapped, events = prepared(False)
    assert not any(e["kind"] == "snap" for e in events)
    assert share_on_truth(run_tapped.train_tracks) < 0.2
    assert run_tapped.config.loss.softness_s == next(e for e in events if e["kind"] == "softness")["softness_s"] > 0.02


def test_taps_that_add_a_class_keep_the_measured_softness(tmp_path, monkeypatch):
    """A new class (here clap) has no base hits to snap to: its taps stay loose, so the softness
    stays the measured one even though the other classes snap."""
    from softloc_cli import training

    names = {"low": "kick", "mid": "snare", "high": "clap"}
    folder = tmp_path / "taps"
    exact = write_dataset(folder, n_files=4, duration_s=3.0, timbres=("low", "mid", "high"), seed=7,
                          label_jitter_s=0.03)
    rename_labels(folder, names)
    truth = {f"clip_{i:02d}.wav": [Event(e.time_s, names[e.label]) for e in events if names[e.label] != "clap"]
             for i, events in enumerate(exact)}
    monkeypatch.setattr(training, "base_detections",
                        lambda net, tracks, **kw: [truth[t.entry.audio.name] for t in tracks])
    events = []
    config = make_config(data=str(folder), output=str(tmp_path / "out"), init="drums", auto_softness=True,
                         classes=["kick", "snare", "clap"], device="cpu", threads=1)
    run = training.prepare(config, emit=events.append)
    snap = next(e for e in events if e["kind"] == "snap")
    measured = next(e for e in events if e["kind"] == "softness")["softness_s"]
    assert "clap" in run.labels and snap["snapped"] > 0
    assert snap["softness_s"] == run.config.loss.softness_s == measured > 0.02


def test_fine_tuning_keeps_the_base_models_target_width(small, tmp_path):
    """A base trained with BCE on +-2-frame targets fires five frames per hit; SoftLoc fine-tuning
    widens its own targets to match (else L_MC would push its peaks down); an explicit width wins."""
    from softloc_cli import training

    train(tiny(small, tmp_path / "base", steps=2, loss={"name": "bce", "bce_widen_frames": 2}))
    scratch = training.prepare(tiny(small, tmp_path / "scratch"), emit=lambda event: None)
    tuned = training.prepare(tiny(small, tmp_path / "tuned", init=str(tmp_path / "base"), model=None),
                             emit=lambda event: None)
    pinned = training.prepare(tiny(small, tmp_path / "pinned", init=str(tmp_path / "base"), model=None,
                                   loss={"softloc_widen_frames": 0}), emit=lambda event: None)

    assert scratch.config.loss.softloc_widen_frames == 0
    assert tuned.config.loss.name == "softloc" and tuned.config.loss.softloc_widen_frames == 2
    assert pinned.config.loss.softloc_widen_frames == 0
