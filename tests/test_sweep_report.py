"""scripts/report_sweep.py: merging fake result files into tables (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]

report = load_script("report_sweep")

RECIPE = {"sweep": {"noise": {"sigma_ms": [0, 50, 100], "losses": ["bce", "softloc"]},
                    "shift": {"shift_ms": [25, 50], "losses": ["bce", "softloc"]},
                    "softness": {"sigma_ms": 50, "softness_ms": [0, 50, 100], "losses": ["softloc"]}}}


def fake(loss, f1, *, sigma=0.0, shift=0.0, softness=None, seed=0, steps=3000, groups=("noise",), created="2025-01-01"):
    run_id = f"{loss}-{'shift' if shift else 'sigma'}{int(shift or sigma):03d}" + (
        f"-soft{int(softness):03d}" if softness is not None else "") + f"-seed{seed}" + (
        f"-steps{steps}" if steps != 3000 else "")
    per_class = {c: {"f1": f1, "precision": f1, "recall": f1} for c in ("kick", "snare", "hihat")}
    return {"schema": 1, "run_id": run_id, "groups": list(groups), "loss": loss, "sigma_ms": sigma, "shift_ms": shift,
            "softness_ms": softness, "seed": seed, "steps": steps, "params": 1000, "device": "cpu", "wall_s": 60.0,
            "decode": {"smooth_s": 0.02}, "validation": {"f1": f1},
            "test": {"f1": f1, "precision": f1, "recall": f1, "median_dev_ms": 2.0, "mean_dev_ms": 3.0,
                     "peak_share": 0.5, "per_class": per_class},
            "test_subsets": {"drumonly": {"f1": f1}, "mix": {"f1": f1 - 0.1}}, "created": created}


def write(folder: Path, records) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for r in records:
        (folder / f"{r['run_id']}.json").write_text(json.dumps(r))
    return folder


def row(markdown: str, first_cell: str) -> list[str]:
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in\n{markdown}")


def test_cell_formats_mean_sd_and_missing():
    assert report.cell([0.9, 0.8]) == "0.850 ± 0.071 (2)"
    assert report.cell([0.9]) == "0.900 (1)"
    assert report.cell([]) == "–"
    assert report.cell([None]) == "–"


def test_noise_table_partial_grid_and_seed_merge(tmp_path):
    results, warnings = report.load_results([write(tmp_path / "a", [
        fake("softloc", 0.90, seed=0), fake("softloc", 0.80, seed=1),
        fake("softloc", 0.84, sigma=100, softness=100), fake("bce", 0.60, sigma=100)])])
    assert not warnings
    text = report.noise_table(results, RECIPE)
    softloc = row(text, "softloc")
    assert softloc[1:4] == ["0.850 ± 0.071 (2)", "–", "0.840 (1)"]
    assert softloc[4] == "-0.010 (σ=100)"
    bce = row(text, "bce")
    assert bce[1:4] == ["–", "–", "0.600 (1)"] and bce[4] == "–"  # no clean run: no change shown
    ablation = report.ablation_table(results, RECIPE)
    assert row(ablation, "100")[1:5] == ["0.840 (1)", "–", "–", "0.600 (1)"]


def test_merge_folders_dedupes_by_run_id_keeping_newest(tmp_path):
    a = write(tmp_path / "a", [fake("bce", 0.5, created="2025-01-01")])
    b = write(tmp_path / "b", [fake("bce", 0.7, created="2025-02-01"), fake("softloc", 0.9)])
    (b / "notes.json").write_text("{}")
    results, warnings = report.load_results([a, b, tmp_path / "missing"])
    assert sorted((r["loss"], r["test"]["f1"]) for r in results) == [("bce", 0.7), ("softloc", 0.9)]
    assert len(warnings) == 2  # the non-result JSON and the missing folder


def test_steps_selection_keeps_most_common_count():
    results = [fake("bce", 0.5), fake("softloc", 0.9), fake("bce", 0.1, steps=5)]
    kept, steps, left_out = report.select_steps(results, None)
    assert steps == 3000 and left_out == 1 and len(kept) == 2
    kept, steps, left_out = report.select_steps(results, 5)
    assert [r["test"]["f1"] for r in kept] == [0.1] and left_out == 2


def test_shift_and_softness_tables(tmp_path):
    results = [fake("bce", 0.9), fake("bce", 0.7, shift=50, groups=("shift",)),
               fake("softloc", 0.8, sigma=50, softness=50, groups=("noise", "softness")),
               fake("softloc", 0.6, sigma=50, softness=0, groups=("softness",))]
    shift = report.shift_table(results, RECIPE)
    assert row(shift, "bce")[1:4] == ["0.900 (1)", "–", "0.700 (1)"]
    assert row(shift, "softloc")[1:4] == ["–", "–", "–"]
    softness = report.softness_table(results, RECIPE)
    assert softness.startswith("σ = 50 ms")
    lines = [line for line in softness.splitlines() if line.startswith("| softloc")]
    assert [line.split("|")[3].strip() for line in lines] == ["0.600 (1)", "0.800 (1)", "–"]
    # the shared run (noise + softness) also shows up in the noise table
    assert row(report.noise_table(results, RECIPE), "softloc")[2] == "0.800 (1)"


def test_main_writes_report_and_plot(tmp_path):
    import matplotlib  # noqa: F401  (in the test extra; a missing plot library must fail, not skip)
    runs = write(tmp_path / "runs", [fake("bce", 0.9), fake("bce", 0.5, sigma=100), fake("softloc", 0.88),
                                     fake("softloc", 0.86, sigma=100, softness=100)])
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('[sweep.noise]\nsigma_ms = [0, 50, 100]\nlosses = ["bce", "softloc"]\n')
    out = tmp_path / "out"
    assert report.main([str(runs), "--recipe", str(recipe), "--out-dir", str(out)]) == 0
    text = (out / "RESULTS.md").read_text()
    assert "| softloc | 0.880 (1) | – | 0.860 (1) |" in text
    assert "![test F1 against σ](f1_vs_sigma.png)" in text
    assert (out / "f1_vs_sigma.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_main_without_results(tmp_path):
    out = tmp_path / "out"
    assert report.main([str(tmp_path / "empty"), "--recipe", str(tmp_path / "none.toml"), "--out-dir", str(out)]) == 0
    text = (out / "RESULTS.md").read_text()
    assert "No results yet." in text and not (out / "f1_vs_sigma.png").exists()


def test_sweep_plan_dedupes_shared_runs_and_filters():
    sweep = load_script("noise_sweep")
    recipe = sweep.load_recipe(ROOT / "recipes" / "noise-sweep.toml")
    runs = sweep.plan_runs(recipe, [0])
    ids = [r.run_id for r in runs]
    assert len(ids) == len(set(ids))
    shared = next(r for r in runs if r.run_id == "softloc-sigma050-soft050-seed0")
    assert shared.groups == ["noise", "softness"]
    assert next(r for r in runs if r.run_id == "softloc-sigma000-soft020-seed0").loss_settings["softness_s"] == 0.02
    smoothed = next(r for r in runs if r.run_id == "smoothed-sigma100-seed0")
    assert smoothed.loss_settings["smoothed_sigma_s"] == 0.1 and "smoothed_rule" not in smoothed.loss_settings
    only = sweep.parse_only("loss=softloc,loss=bce,sigma=100")
    assert sorted(r.run_id for r in runs if sweep.matches(r, only)) == ["bce-sigma100-seed0",
                                                                        "softloc-sigma100-soft100-seed0"]
    overrides = sweep.train_overrides(recipe, shared, steps=300)
    assert overrides["steps"] == 300 and overrides["loss"]["alpha_ramp_steps"] == 250
    assert overrides["label_noise_s"] == 0.05 and overrides["loss"]["softness_s"] == 0.05
    from softloc_cli.training import make_config

    make_config(overrides)  # every recipe key is a valid TrainConfig / LossConfig field
