"""`softloc models info` on the bundled models: readable sections, not dumps of dotted keys."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from softloc_cli.catalog import model_info
from softloc_cli.cli import app
from softloc_cli.hub import bundled_models, resolve_model

runner = CliRunner()


def info(*args: str):
    result = runner.invoke(app, ["models", "info", *args])
    assert result.exit_code == 0, result.output
    return result


def class_rows(stdout: str) -> dict[str, list[str]]:
    """Table rows by class name: ``{"kick": ["kick", "36", "0.2", "0.826", ...]}``."""
    return {line.split()[0]: line.split() for line in stdout.splitlines() if line.strip()}


@pytest.mark.parametrize("name", ["drums", "onsets", "piano"])
def test_bundled_model_shows_each_class_with_threshold_and_f1(name):
    assert name in bundled_models()
    config = json.loads((resolve_model(name) / "config.json").read_text())
    # piano has 88 classes: summarised by default, one row each with --all-classes
    out = info(name, "--all-classes").stdout
    assert not re.search(r"\b[a-z_]+\.[a-z_]+\S*=", out), "dotted key=value dump"
    assert "config.lr" not in out and "train_data." not in out
    rows = class_rows(out)
    table = config["scores"]["validation"]["classes"]
    decode = config["decode"]
    for item in config["classes"]:
        label = item["name"]
        row = rows[label]
        threshold = decode["class_thresholds"].get(label, decode["threshold"])
        assert row[1] == str(item["midi_note"]) and row[2] == f"{threshold:g}"
        if table[label]["n_ref"]:
            assert row[3] == f"{table[label]['f1']:.3f}"
    assert f"{config['training']['train_data']['hours']:.2f} h" in out
    assert f"{config['training']['steps']:,} steps" in out
    assert f"{1000 * decode['time_offset_s']:+g} ms" in out
    assert f"{model_info(name).n_parameters:,} parameters" in out


def test_drums_reads_as_sections():
    out = info("drums").stdout
    for heading in ("Classes", "Training", "Decoding", "Model"):
        assert re.search(rf"^{heading}\b", out, re.M), heading
    assert class_rows(out)["kick"][:4] == ["kick", "36", "0.3", "0.764"]
    assert class_rows(out)["overall"][1] == "0.807"
    assert "7.67 h" in out and "954 files" in out and "on cpu" in out
    assert "data/bock-drumfree/train (25%): 31 files" in out  # one row per mixed training set
    assert "=" not in out


def test_piano_is_summarised_unless_asked():
    short = info("piano")
    assert "A4" not in class_rows(short.stdout)  # no 88-row table by default
    assert "88 pitches" in short.stdout and "A0–C8 (MIDI 21–108)" in short.stdout
    assert "F1 0.834" in short.stdout and "--all-classes" in short.stderr
    assert len(short.stdout.splitlines()) < 50
    full = info("piano", "--verbose")
    assert len({k for k in class_rows(full.stdout) if re.fullmatch(r"[A-G]#?\d", k)}) == 88
    assert "lr_schedule" in full.stdout and "cosine" in full.stdout  # every training setting, by name


def test_json_carries_the_full_config():
    directory = resolve_model("piano")
    config = json.loads((directory / "config.json").read_text())
    doc = json.loads(info("piano", "--json").stdout)
    for key, value in config.items():
        if key == "model":
            assert {k: doc["architecture"][k] for k in value} == value
        elif key == "features":
            assert {k: doc["features"][k] for k in value} == value
        else:
            assert doc[key] == value, key
    assert doc["architecture"]["n_parameters"] > 0 and doc["files"]["model.safetensors"] > 0
