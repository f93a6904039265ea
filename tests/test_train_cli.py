"""`softloc train` through CliRunner: usage and data errors end in one line, an exit code and an
untouched MODEL_DIR; a tiny run prints its summary as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from softloc_cli.annotations import write_events
from softloc_cli.cli import app
from softloc_cli.events import Event
from softloc_cli.synthetic import write_dataset

from conftest import hits_audio, write_wav

TINY_RECIPE = """\
# a network and schedule small enough for a test
crop_s = 1.0
warmup_steps = 2
val_every = 5
threads = 1
[model]
conv_channels = [4, 4]
rnn_hidden = 8
"""


pytestmark = pytest.mark.usefixtures("restore_torch_threads")


def run(*args):
    return CliRunner().invoke(app, ["train", *[str(a) for a in args]], env={"SOFTLOC_DEBUG": None})


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def assert_one_line_error(result, code: int, *fragments: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    lines = error_lines(result)
    assert len(lines) == 1 and result.stderr.strip() == lines[0], result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert result.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Three 3-second clips with low and high hits (the last one is held out for validation)."""
    root = tmp_path_factory.mktemp("cli-data")
    write_dataset(root / "train", n_files=3, duration_s=3.0, seed=4)
    return root / "train"


# -- errors: one line, exit 1 (data) or 2 (usage), nothing written ---------------------------


def test_empty_dataset(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run(tmp_path / "empty", "-o", tmp_path / "model")
    assert_one_line_error(result, 1, "no audio files found")
    assert not (tmp_path / "model").exists()


def test_audio_without_annotation(tmp_path, data):
    folder = tmp_path / "data"
    folder.mkdir()
    for file in data.iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    write_wav(folder / "untapped.wav", hits_audio(1.0))
    result = run(folder, "-o", tmp_path / "model")
    assert_one_line_error(result, 1, "have no annotation", "untapped.wav")
    assert not (tmp_path / "model").exists()


def test_classes_missing_from_the_annotations(tmp_path, data):
    result = run(data, "--classes", "kick,snare", "-o", tmp_path / "model", "--device", "cpu")
    assert_one_line_error(result, 1, "class(es) kick, snare never appear", "labels found: high, low")
    assert not (tmp_path / "model").exists()


def test_annotations_past_the_end_of_the_audio(tmp_path):
    write_wav(tmp_path / "data/a.wav", hits_audio(2.0))
    write_events([Event(120.0, "kick", 36), Event(1500.0, "kick", 36)], tmp_path / "data/a.csv", "csv")
    result = run(tmp_path / "data", "--classes", "kick", "-o", tmp_path / "model", "--device", "cpu")
    assert_one_line_error(result, 1, "a.csv: 2 event(s) after the end of a.wav", "milliseconds?")
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--steps", "10", "--epochs", "1"], ["give --steps or --epochs, not both"]),
        (["--softness", "80"], ["--softness", "a bare number is ambiguous: write 80ms or 0.08s"]),
        (["--label-noise", "40 msec"], ["--label-noise", "use a number with a unit: ms, s or min"]),
    ],
)
def test_usage_errors_exit_2(tmp_path, data, args, fragments):
    result = run(data, *args, "-o", tmp_path / "model")
    assert_one_line_error(result, 2, *fragments)
    assert not (tmp_path / "model").exists()


def test_missing_data_is_a_usage_error(tmp_path):
    assert_one_line_error(run("-o", tmp_path / "model"), 2, "missing DATA")
    assert_one_line_error(run(tmp_path / "nowhere", "-o", tmp_path / "model"), 2, "does not exist")
    assert not (tmp_path / "model").exists()


def test_unknown_recipe_key(tmp_path, data):
    (tmp_path / "r.toml").write_text("stpes = 10\n")
    result = run(data, "--recipe", tmp_path / "r.toml", "-o", tmp_path / "model")
    assert_one_line_error(result, 1, "unknown key(s) stpes")
    assert not (tmp_path / "model").exists()


def test_resume_with_nothing_to_resume(tmp_path, data):
    result = run(data, "-o", tmp_path / "model", "--resume")
    assert_one_line_error(result, 1, "nothing to resume")


# -- a tiny successful run ---------------------------------------------------------------------


def test_tiny_run_prints_json_with_validation_scores(tmp_path, data):
    (tmp_path / "tiny.toml").write_text(TINY_RECIPE)
    output = tmp_path / "model"

    result = run(data, "--recipe", tmp_path / "tiny.toml", "--classes", "low,high", "--steps", "10",
                 "--batch-size", "4", "--softness", "50ms", "--device", "cpu", "--seed", "1", "--json", "-o", output)

    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stderr == ""  # --json: no progress, no logs
    summary = json.loads(result.stdout)
    assert summary["output"] == str(output) and summary["steps"] == 10
    assert set(summary["validation"]["classes"]) == {"low", "high"}
    assert 0.0 <= summary["validation"]["overall"]["f1"] <= 1.0
    assert summary["decode"]["thresholds"].keys() == {"low", "high"}
    assert (output / "model.safetensors").is_file()
    config = json.loads((output / "config.json").read_text())
    assert config["loss"]["softness_s"] == 0.05 and config["training"]["config"]["seed"] == 1
    assert [json.loads(line)["step"] for line in (output / "metrics.jsonl").read_text().splitlines()] == [5, 10]

    again = run(data, "--recipe", tmp_path / "tiny.toml", "--classes", "low,high", "--device", "cpu", "-o", output)
    assert_one_line_error(again, 1, "already holds a model", "--resume")


def test_softness_auto_uses_the_spread_stored_by_softloc_tap(tmp_path, data):
    import shutil

    taps = tmp_path / "taps"
    shutil.copytree(data, taps)
    for annotation in sorted(taps.glob("*.csv")):  # what `softloc tap --calibrate` leaves beside each file
        n = len(annotation.read_text().splitlines()) - 1
        info = {"format_version": 1, "untracked_events": 0, "sigma_s": 0.042,
                "passes": [{"taps": n, "classes": {}, "rate": 1.0, "sigma_s": 0.042, "offset_s": 0.06}]}
        annotation.with_suffix(".tapinfo").write_text(json.dumps(info))
    (tmp_path / "tiny.toml").write_text(TINY_RECIPE)
    output = tmp_path / "model"

    result = run(taps, "--recipe", tmp_path / "tiny.toml", "--classes", "low,high", "--steps", "5", "--batch-size", "2",
                 "--softness", "auto", "--device", "cpu", "-o", output)

    assert result.exit_code == 0, (result.output, result.exception)
    assert "your taps spread about 42 ms (softloc tap --calibrate); softness 40 ms" in result.stderr
    config = json.loads((output / "config.json").read_text())
    assert config["loss"]["softness_s"] == 0.04 and config["training"]["stored_tap_sigma_s"] == 0.042


@pytest.mark.parametrize("item, fragment", [("real=1.5", "share between 0 and 1"), ("real", "FOLDER=SHARE"),
                                            ("missing/=0.5", "does not exist")])
def test_bad_mix_flag_is_a_usage_error(tmp_path, data, item, fragment, monkeypatch):
    (tmp_path / "real").mkdir()
    monkeypatch.chdir(tmp_path)
    result = run(data, "--mix", item, "-o", tmp_path / "model")
    assert_one_line_error(result, 2, "--mix", fragment)
    assert not (tmp_path / "model").exists()


def test_mix_flag_trains_on_both_sets_with_the_given_share(tmp_path, data):
    (tmp_path / "tiny.toml").write_text(TINY_RECIPE)
    output = tmp_path / "model"
    result = run(data, "--mix", f"{data}=0.7", "--recipe", tmp_path / "tiny.toml", "--classes", "low,high",
                 "--steps", "3", "--batch-size", "2", "--device", "cpu", "--json", "-o", output)
    assert result.exit_code == 0, (result.output, result.exception)
    training = json.loads((output / "config.json").read_text())["training"]
    assert [s["share"] for s in training["sources"]] == pytest.approx([0.3, 0.7])
    first, second = training["sources"]
    assert (first["files"], second["files"]) == (2, 3)  # DATA less its validation file; the mix set whole
    assert training["train_data"]["files"] == 5


def test_classes_missing_from_the_held_out_takes_show_a_dash_not_zero():
    from softloc_cli.cli.cmd_train import _class_scores

    assert _class_scores({"kick": 0.9123, "hihat": None}) == "kick 0.912, hihat –"
