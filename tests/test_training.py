"""The training loop on synthetic data: learning precise onsets from jittered labels, exact
resume, fine-tuning onto a new class set, and what a run writes (config.json, metrics.jsonl).

Everything runs on CPU with one torch thread (small GRUs are slower with more threads, and
much slower when other processes share the cores) and small networks, in temporary folders.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from softloc_cli.errors import ConfigError
from softloc_cli.synthetic import write_dataset
from softloc_cli.calibration import THRESHOLD_GRID
from softloc_cli.training import METRICS_LOG, STATE_DIR, load_recipe, make_config, train

TINY_MODEL = {"conv_channels": [4, 4], "rnn_hidden": 8}


pytestmark = pytest.mark.usefixtures("restore_torch_threads")


def read_tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def assert_same_tensors(a: dict, b: dict) -> None:
    import torch

    assert sorted(a) == sorted(b)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert different == [], f"tensors differ: {different}"


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    """Four 4-second training clips and one validation clip, with low, mid and high hits."""
    root = tmp_path_factory.mktemp("small")
    write_dataset(root / "train", n_files=4, duration_s=4.0, timbres=("low", "mid", "high"), seed=1)
    write_dataset(root / "val", n_files=1, duration_s=4.0, timbres=("low", "mid", "high"), seed=2)
    return root


def quick_config(data: Path, output: Path, **overrides):
    """20 steps of a tiny network on 1-second crops; validation (and saved state) every 10."""
    settings = {
        "data": str(data / "train"), "val": str(data / "val"), "output": str(output), "classes": ["low", "high"],
        "model": TINY_MODEL, "steps": 20, "batch_size": 4, "crop_s": 1.0, "val_every": 10, "warmup_steps": 2,
        "device": "cpu", "threads": 1, "seed": 3,
    }
    settings.update(overrides)
    return make_config(**settings)


@pytest.fixture(scope="module")
def quick_run(small_data, tmp_path_factory):
    """One finished 20-step run: (result, model directory, events passed to on_event)."""
    output = tmp_path_factory.mktemp("runs") / "quick"
    events = []
    result = train(quick_config(small_data, output), on_event=events.append)
    return result, output, events


# -- the must-show: precise onsets from loosely timed labels --------------------------


def test_learns_precise_onsets_from_jittered_labels(tmp_path):
    """Labels jittered by σ = 40 ms; the model finds the exact onsets of unseen audio within
    20 ms. Exercises the whole path: train → model.safetensors + calibrated config.json →
    load_model → transcribe_file → metrics. (Seeds 0, 1, 2 gave F1@20ms 0.93, 0.94, 0.97.)"""
    from softloc_cli.metrics import pool_scores, score_events
    from softloc_cli.inference import load_model, transcribe_file

    seed = 0
    write_dataset(tmp_path / "train", n_files=10, duration_s=15.0, seed=100 + seed, label_jitter_s=0.04)
    write_dataset(tmp_path / "val", n_files=3, duration_s=15.0, seed=200 + seed)
    exact = write_dataset(tmp_path / "test", n_files=2, duration_s=15.0, seed=300 + seed)
    config = make_config(
        data=str(tmp_path / "train"), val=str(tmp_path / "val"), output=str(tmp_path / "model"),
        classes=["low", "high"], model={"conv_channels": [4, 8, 8], "rnn_hidden": 16},
        steps=200, batch_size=8, lr=0.005, warmup_steps=20, val_every=200,
        val_window_s=0.02,  # calibrate thresholds and smoothing for 20 ms precision
        device="cpu", threads=1, seed=seed,
        loss={"name": "softloc", "softness_s": 0.05},  # softness ≈ the labels' σ
    )

    train(config)

    model = load_model(tmp_path / "model", device="cpu")
    assert model.config.decode.class_thresholds.keys() == {"low", "high"}
    wavs = sorted((tmp_path / "test").glob("*.wav"))
    estimates = [transcribe_file(model, wav).events for wav in wavs]
    at_20ms = pool_scores([score_events(ref, est, window_s=0.02, classes=["low", "high"])
                           for ref, est in zip(exact, estimates)]).pooled
    assert at_20ms.overall.n_ref > 100
    assert at_20ms.overall.f1 >= 0.9, at_20ms.to_dict()
    assert abs(at_20ms.overall.median_dev_s) <= 0.005


# -- what a run writes -----------------------------------------------------------------------


def test_run_writes_a_loadable_model_with_loss_provenance_scores_and_calibration(quick_run, small_data):
    from softloc_cli.checkpoint import read_config
    from softloc_cli.inference import load_model

    result, output, _ = quick_run
    config = read_config(output)

    assert config.labels == ["low", "high"] and config.name == "quick"
    assert config.loss["name"] == "softloc" and config.loss["softness_s"] == 0.08
    training = config.training
    assert training["steps"] == 20 and training["config"]["seed"] == 3
    assert training["config"]["data"] == str(small_data / "train") and training["device"] == "cpu"
    assert training["train_data"]["files"] == 4 and training["val_data"]["files"] == 1
    assert training["train_data"]["ignored_labels"]["mid"] > 0  # distractor labels are counted
    assert set(config.scores["validation"]["classes"]) == {"low", "high"}
    assert config.scores["window_s"] == 0.05
    # one validation file, fewer than 30 hits per class: one threshold for both, tuned on them together
    assert config.decode.class_thresholds == {} and config.decode.threshold in THRESHOLD_GRID
    assert math.isfinite(config.decode.time_offset_s)
    assert result.decode == config.decode and result.steps == 20
    load_model(output, device="cpu")  # a usable --model directory
    assert (output / STATE_DIR / "state.json").is_file()


def test_run_logs_validation_to_metrics_jsonl(quick_run):
    _, output, events = quick_run

    records = [json.loads(line) for line in (output / METRICS_LOG).read_text().splitlines()]

    assert [r["step"] for r in records] == [10, 20]
    for record in records:
        assert record["kind"] == "val"
        assert set(record["per_class"]) == {"low", "high"}
        assert 0.0 <= record["f1_tuned"] <= 1.0 and 0.0 <= record["best_f1"] <= 1.0
    assert [e for e in events if e["kind"] == "val"] == records
    assert [e["step"] for e in events if e["kind"] == "step"] == list(range(1, 21))
    assert events[0]["kind"] == "data" and events[0]["train"]["events"].keys() == {"low", "high"}


def test_existing_model_directory_is_refused_without_resume(quick_run, small_data):
    _, output, _ = quick_run
    before = (output / "model.safetensors").read_bytes()
    with pytest.raises(ConfigError, match="already holds a model; choose another -o or pass --resume"):
        train(quick_config(small_data, output))
    assert (output / "model.safetensors").read_bytes() == before


def test_resume_without_saved_state_is_refused(tmp_path, small_data):
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(quick_config(small_data, tmp_path / "fresh"), resume=True)


# -- resume ----------------------------------------------------------------------------------


class Interrupt(Exception):
    pass


@pytest.mark.parametrize(
    ("stop_at", "saved_step"),
    [
        (("step", 11), 10),  # like Ctrl-C during step 11, after step 10's state was saved
        (("val", 10), 5),  # during step 10's validation: logged, not saved; redone on resume
    ],
)
def test_resume_continues_exactly(tmp_path, small_data, stop_at, saved_step):
    """20 steps straight == interrupted + --resume: bit-identical weights, optimizer state,
    random states and validation log."""
    settings = dict(label_noise_s=0.02, val_every=5)
    straight = tmp_path / "straight"
    train(quick_config(small_data, straight, **settings))

    def interrupt(event):
        if (event["kind"], event.get("step")) == stop_at:
            raise Interrupt

    resumed = tmp_path / "resumed"
    with pytest.raises(Interrupt):
        train(quick_config(small_data, resumed, **settings), on_event=interrupt)
    assert json.loads((resumed / STATE_DIR / "state.json").read_text())["progress"]["step"] == saved_step
    assert not (resumed / "model.safetensors").exists()

    steps = []
    result = train(quick_config(small_data, resumed, steps=999), resume=True,  # the saved config wins
                   on_event=lambda e: steps.append(e["step"]) if e["kind"] == "step" else None)

    assert steps == list(range(saved_step + 1, 21)) and result.steps == 20
    assert_same_tensors(read_tensors(resumed / "model.safetensors"), read_tensors(straight / "model.safetensors"))
    assert_same_tensors(read_tensors(resumed / STATE_DIR / "state.safetensors"),
                        read_tensors(straight / STATE_DIR / "state.safetensors"))
    log = [json.loads(line) for line in (resumed / METRICS_LOG).read_text().splitlines()]
    straight_log = [json.loads(line) for line in (straight / METRICS_LOG).read_text().splitlines()]
    assert [r["step"] for r in log] == [5, 10, 15, 20]
    assert [r["f1_tuned"] for r in log] == [r["f1_tuned"] for r in straight_log]


def test_resume_keeps_the_early_stopping_count(tmp_path, small_data):
    """lr = 0: validation never improves after step 5, so early_stop=2 stops at step 15 whether
    or not the run was interrupted at step 10 (one stale validation already counted)."""
    settings = dict(steps=40, val_every=5, early_stop=2, lr=0.0)
    assert train(quick_config(small_data, tmp_path / "straight", **settings)).steps == 15

    def stop_after_step_10(event):
        if event["kind"] == "step" and event["step"] == 11:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(quick_config(small_data, tmp_path / "resumed", **settings), on_event=stop_after_step_10)
    assert train(quick_config(small_data, tmp_path / "resumed", **settings), resume=True).steps == 15


# -- fine-tuning -----------------------------------------------------------------------------


def test_fine_tuning_keeps_matching_head_rows_and_starts_new_ones_fresh(quick_run, small_data, tmp_path):
    """--init MODEL with classes high, mid: 'high' keeps its output row, 'mid' gets a fresh one
    at the low event prior; the body is copied. lr = 0, so the weights stay as initialised."""
    from softloc_cli.checkpoint import read_config

    _, base_dir, _ = quick_run
    base = read_tensors(base_dir / "model.safetensors")
    output = tmp_path / "tuned"

    train(quick_config(small_data, output, init=str(base_dir), classes=["high", "mid"], model=None, lr=0.0,
                       steps=2, val_every=2))

    tuned = read_tensors(output / "model.safetensors")
    config = read_config(output)
    assert config.labels == ["high", "mid"] and config.model.conv_channels == TINY_MODEL["conv_channels"]
    assert tuned["head.weight"].shape[0] == 2
    assert np.array_equal(tuned["head.weight"][0].numpy(), base["head.weight"][1].numpy())  # high: row 1 → row 0
    assert tuned["head.bias"][0].item() == base["head.bias"][1].item()
    p = config.model.initial_probability
    assert tuned["head.bias"][1].item() == pytest.approx(math.log(p / (1 - p)))  # mid: fresh, low prior
    assert not np.allclose(tuned["head.weight"][1].numpy(), base["head.weight"][0].numpy())
    body = [k for k in base if not k.startswith("head.") and "running" not in k and "num_batches" not in k]
    assert body and all(np.array_equal(tuned[k].numpy(), base[k].numpy()) for k in body)


# -- recipes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, key",
    [
        ("steps = 10\nsteps_per_epoch = 5\n", "steps_per_epoch"),
        ("[loss]\nname = 'softloc'\nsoftnes_s = 0.05\n", "softnes_s"),
    ],
)
def test_recipe_with_an_unknown_key_is_refused(tmp_path, text, key):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(text)
    with pytest.raises(ConfigError, match=rf"unknown key\(s\) {key}; valid keys are .*"):
        make_config(load_recipe(recipe), output=str(tmp_path / "out"))


def test_recipe_values_are_type_checked_and_flags_override_them(tmp_path):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text("steps = 50\nbatch_size = 4\n[loss]\nsoftness_s = 0.06\n")
    config = make_config(load_recipe(recipe), steps=70, loss={"name": "bce"})
    assert (config.steps, config.batch_size, config.loss.softness_s, config.loss.name) == (70, 4, 0.06, "bce")

    recipe.write_text("steps = '50'\n")
    with pytest.raises(ConfigError, match=r"training config\.steps: expected an integer, got '50'"):
        make_config(load_recipe(recipe))


# Training recipes shipped in recipes/ (noise-sweep recipes, with a [sweep] table, are for scripts/noise_sweep.py).
TRAINING_RECIPES = [p for p in sorted((Path(__file__).resolve().parents[1] / "recipes").rglob("*.toml"))
                    if "[sweep" not in p.read_text(encoding="utf-8")]


@pytest.mark.parametrize("path", TRAINING_RECIPES, ids=lambda p: p.relative_to(p.parents[1]).as_posix())
def test_every_shipped_training_recipe_loads(path):
    config = make_config(load_recipe(path))
    assert config.classes and config.steps > 0


def test_recipe_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("steps = = 3\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_recipe(tmp_path / "bad.toml")


def test_calibrate_gives_rare_classes_the_pooled_threshold_or_their_inherited_one():
    from softloc_cli.decode import DecodeConfig
    from softloc_cli.events import Event
    from softloc_cli.calibration import MIN_CALIBRATION_EVENTS, calibrate

    rate = 100.0
    n = 40  # "common" has 40 hits with peaks of 0.9; "rare" and "kept" have 5 with peaks of 0.12
    acts = np.full((n * 50 + 100, 3), 0.001, np.float32)
    refs = []
    for i in range(n):
        acts[50 + 50 * i, 0] = 0.9
        refs.append(Event((50 + 50 * i) / rate, "common"))
        acts[60 + 50 * i, 1] = 0.04  # below every useful threshold: noise bumps
    for i in range(5):
        for column, label in ((1, "rare"), (2, "kept")):
            acts[75 + 200 * i, column] = 0.12
            refs.append(Event((75 + 200 * i) / rate, label))
    assert n >= MIN_CALIBRATION_EVENTS
    base = DecodeConfig(threshold=0.3, class_thresholds={"kept": 0.5})
    tuned = calibrate([acts], [refs], labels=["common", "rare", "kept"], frame_rate_hz=rate, base=base,
                      window_s=0.05, smooth_grid=[0.0])
    assert tuned.class_thresholds["kept"] == 0.5  # inherited (e.g. from the model being fine-tuned)
    assert "rare" not in tuned.class_thresholds
    assert 0.04 < tuned.threshold_for("rare") <= 0.1  # the pooled optimum catches the 0.12 peaks
    assert "common" in tuned.class_thresholds  # enough hits for a threshold of its own


def test_validation_split_takes_its_share_of_the_files_never_all():
    from softloc_cli.training import _split_validation

    entries = [f"take{i}" for i in range(11)]
    for share, n_val in ((0.1, 1), (0.25, 2), (0.5, 5), (0.99, 10)):
        train_part, val_part = _split_validation(entries, seed=0, share=share)
        assert len(val_part) == n_val and sorted(train_part + val_part) == sorted(entries)
    assert _split_validation(entries[:3], seed=0, share=0.1)[1] != []  # at least one file
    with pytest.raises(ConfigError, match="val_share"):
        make_config(data="x", output="y", val_share=1.0)


def test_keep_average_writes_the_mean_of_the_weights_at_each_validation(tmp_path, small_data):
    """keep = "average": validations at steps 10 and 20 give the weights (w10 + w20) / 2. With a
    constant learning rate the first 10 steps of a 20-step run are those of a 10-step run."""
    import torch

    settings = dict(lr_schedule="constant", early_stop=0)
    train(quick_config(small_data, tmp_path / "ten", steps=10, **settings))
    result = train(quick_config(small_data, tmp_path / "twenty", steps=20, keep="average", **settings))
    assert result.averaged == 2
    w10 = read_tensors(tmp_path / "ten" / STATE_DIR / "state.safetensors")
    w20 = read_tensors(tmp_path / "twenty" / STATE_DIR / "state.safetensors")
    written = read_tensors(tmp_path / "twenty" / "model.safetensors")
    floats = [k for k in written if written[k].is_floating_point()]
    assert floats and any(not torch.equal(w10[f"net.{k}"], w20[f"net.{k}"]) for k in floats)
    for name in floats:
        expected = (w10[f"net.{name}"] + w20[f"net.{name}"]) / 2
        assert torch.allclose(written[name], expected, atol=1e-6), name


def test_fine_tuning_averages_from_scratch_keeps_the_best():
    assert make_config(data="x", output="y", init="drums").keep == "average"
    assert make_config(data="x", output="y").keep == "best"


def test_keep_must_be_best_or_average():
    with pytest.raises(ConfigError, match="keep must be one of best, average"):
        make_config(data="x", output="y", keep="last")
