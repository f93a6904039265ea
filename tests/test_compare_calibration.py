"""scripts/compare_calibration.py: thresholds read off taps by each rule, scored on other files."""

from __future__ import annotations

import json
import sys

from conftest import load_script

from softloc_cli.calibration import THRESHOLD_GRID
from softloc_cli.synthetic import write_dataset

compare = load_script("compare_calibration")


def test_every_rule_is_scored_and_the_ceiling_bounds_each_class(tmp_path, monkeypatch, eventful_model_dir):
    write_dataset(tmp_path / "taps", n_files=3, duration_s=4.0, seed=1, label_jitter_s=0.03)
    write_dataset(tmp_path / "test", n_files=3, duration_s=4.0, seed=2)
    out = tmp_path / "rules.jsonl"
    monkeypatch.setattr(sys, "argv", ["compare_calibration", "--model", str(eventful_model_dir), "--init",
                                      str(eventful_model_dir), "--taps", str(tmp_path / "taps"), "--test",
                                      str(tmp_path / "test"), "--case", "tiny", "--out", str(out)])
    compare.main()
    record = json.loads(out.read_text())
    assert record["case"] == "tiny"
    rules = ["stored", "base", *compare.RULES]
    assert set(record) >= {*rules, "ceiling"}
    for name in rules:
        for label, f1 in record[name]["per_class"].items():
            assert f1 <= record["ceiling"]["per_class"][label] + 1e-9, (name, label)
    assert all(t in THRESHOLD_GRID for t in record["ceiling"]["thresholds"].values())
    base = json.loads((eventful_model_dir / "config.json").read_text())["decode"]
    assert record["base"]["thresholds"] == {label: base["class_thresholds"].get(label, base["threshold"])
                                           for label in record["base"]["thresholds"]}
