"""`softloc models calibrate`: tuned thresholds and offset in a new directory, weights untouched."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from softloc_cli.annotations import write_events
from softloc_cli.checkpoint import read_config
from softloc_cli.cli import app
from softloc_cli.events import Event
from softloc_cli.inference import load_model, transcribe_file

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def _takes(tmp_path, make_wav, model_dir):
    """Two takes annotated with the model's own `high` events 20 ms late (no `low` events)."""
    model = load_model(str(model_dir), device="cpu")
    for seed in (0, 1):
        audio = make_wav(f"takes/take{seed}.wav", duration_s=4.0, seed=seed)
        high = [Event(round(e.time_s + 0.02, 4), "high") for e in transcribe_file(model, audio).events
                if e.label == "high"]
        assert len(high) >= 15
        write_events(high, tmp_path / "takes" / f"take{seed}.csv")
    return tmp_path / "takes"


def test_calibrate_writes_a_new_model_with_tuned_decode(tmp_path, make_wav, eventful_model_dir):
    takes = _takes(tmp_path, make_wav, eventful_model_dir)
    out = tmp_path / "tuned"
    result = run("models", "calibrate", eventful_model_dir, takes, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["files"] == 2 and summary["f1_after"] >= summary["f1_before"]
    assert abs(summary["time_offset_s"] - 0.02) < 0.005
    tuned = read_config(out)
    assert "high" in tuned.decode.class_thresholds  # ≥ 30 annotated events: its own threshold
    assert tuned.decode.threshold_for("low") == 0.16  # never annotated here: keeps the model's
    assert tuned.scores["calibration"]["files"] == 2
    assert (out / "model.safetensors").read_bytes() == (eventful_model_dir / "model.safetensors").read_bytes()
    assert read_config(eventful_model_dir).decode.time_offset_s == 0.0  # the source is untouched
    before = transcribe_file(load_model(str(eventful_model_dir), device="cpu"), takes / "take0.wav").events
    after = transcribe_file(load_model(str(out), device="cpu"), takes / "take0.wav").events
    assert len(after) == len(before) and abs(after[0].time_s - before[0].time_s - summary["time_offset_s"]) < 1e-6

def test_no_offset_keeps_the_stored_offset(tmp_path, make_wav, eventful_model_dir):
    takes = _takes(tmp_path, make_wav, eventful_model_dir)
    result = run("models", "calibrate", eventful_model_dir, takes, "-o", tmp_path / "tuned", "--no-offset", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["time_offset_s"] == 0.0


def test_existing_output_is_refused_before_any_work(tmp_path, make_wav, eventful_model_dir):
    takes = _takes(tmp_path, make_wav, eventful_model_dir)
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run("models", "calibrate", eventful_model_dir, takes, "-o", out)
    assert result.exit_code == 1
    assert stderr_lines(result) == [f"error: {out} exists and is not empty; choose a new directory"]
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_annotations_without_the_model_classes_are_one_error_line(tmp_path, make_wav, eventful_model_dir):
    make_wav("takes/a.wav")
    write_events([Event(0.5, "cowbell")], tmp_path / "takes" / "a.csv")
    result = run("models", "calibrate", eventful_model_dir, tmp_path / "takes", "-o", tmp_path / "tuned")
    assert result.exit_code == 1 and len(stderr_lines(result)) == 1
    assert "never appear in the annotations" in result.stderr
    assert not (tmp_path / "tuned").exists()
