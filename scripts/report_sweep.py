"""Merge the label-noise sweep's result files into RESULTS.md and an F1-vs-σ plot (paper Fig. 5).

Reads every ``*.json`` result written by ``scripts/noise_sweep.py`` in the given folders (results
of several machines can be merged; a run id found twice keeps the newest file), and writes

- ``OUT_DIR/RESULTS.md``: test F1 against σ (one row per loss, mean ± sd over seeds, n seeds),
  the ±δ shift table, the softness study, a Table-1-style ablation (softloc / sll / mc / bce at
  each σ) and per-run-group details (precision, recall, timing, peak share, per-class F1);
- ``OUT_DIR/f1_vs_sigma.png``: test F1 against σ, one line per loss.

Works on a partial grid: cells without results show "–". Only results with one number of
training steps are merged (the most common one unless ``--steps`` says which).

    python scripts/report_sweep.py                          # recipes/noise-sweep/runs → recipes/noise-sweep/
    python scripts/report_sweep.py runs-a/ runs-b/ --out-dir /tmp/report
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RECIPE = ROOT / "recipes" / "noise-sweep.toml"
DEFAULT_RUNS = ROOT / "recipes" / "noise-sweep" / "runs"
DEFAULT_OUT = ROOT / "recipes" / "noise-sweep"
LOSS_ORDER = ["softloc", "sll", "mc", "bce", "smoothed", "bootstrap"]
ABLATION = ["softloc", "sll", "mc", "bce"]
DASH = "–"
MAX_CLASS_COLUMNS = 12  # more classes (88 piano keys): no per-class columns
# Wording of the drum sweep; a recipe's [report] table overrides any of these.
REPORT_TEXT = {
    "title": "Label-noise sweep: SoftLoc vs frame-wise losses on misaligned drum labels",
    "scores": "pooled kick/snare/hi-hat onset F1 on the test set (mir_eval, 50 ms)",
    "held_out": "held-out kits",
    "plot_title": "Drum transcription F1 vs label misalignment",
    "plot_ylabel": "test F1 (kick/snare/hi-hat pooled, 50 ms)",
}


def report_text(recipe: dict[str, Any], key: str) -> str:
    return str(recipe.get("report", {}).get(key, REPORT_TEXT[key]))


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------


def load_results(folders: Iterable[Path]) -> tuple[list[dict[str, Any]], list[str]]:
    """Result records of all folders (deduplicated by run id, newest kept) and warnings."""
    by_id: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            warnings.append(f"{folder}: no such folder")
            continue
        for path in sorted(folder.glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                run_id = record["run_id"]
                float(record["test"]["f1"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                warnings.append(f"{path}: skipped, not a sweep result ({exc.__class__.__name__}: {exc})")
                continue
            old = by_id.get(run_id)
            if old is None or str(record.get("created", "")) >= str(old.get("created", "")):
                by_id[run_id] = record
    return list(by_id.values()), warnings


def select_steps(results: list[dict[str, Any]], steps: int | None) -> tuple[list[dict[str, Any]], int | None, int]:
    """Results trained for ``steps`` steps (default: the most common count); also returns the
    count used and how many results were left out."""
    if not results:
        return [], steps, 0
    if steps is None:
        steps = Counter(int(r.get("steps", 0)) for r in results).most_common(1)[0][0]
    kept = [r for r in results if int(r.get("steps", 0)) == steps]
    return kept, steps, len(results) - len(kept)


def load_recipe(path: Path | None) -> dict[str, Any]:
    if path is None or not Path(path).is_file():
        return {}
    import tomllib

    with Path(path).open("rb") as fh:
        return tomllib.load(fh)


# ----------------------------------------------------------------------------------------------
# Aggregation and formatting
# ----------------------------------------------------------------------------------------------


def stats(values: list[float]) -> tuple[float, float | None, int] | None:
    """(mean, sample standard deviation or None for one value, n), or None without values."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None, 1
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return mean, sd, len(values)


def cell(values: list[float], *, digits: int = 3, with_n: bool = True) -> str:
    """``"0.912 ± 0.010 (3)"``; ``"0.912 (1)"`` for one seed; ``"–"`` without values."""
    s = stats(values)
    if s is None:
        return DASH
    mean, sd, n = s
    text = f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")
    return text + (f" ({n})" if with_n else "")


def mean_cell(values: list[float], *, digits: int = 1) -> str:
    s = stats(values)
    return DASH if s is None else f"{s[0]:.{digits}f}"


def f1_of(record: dict[str, Any]) -> float:
    return float(record["test"]["f1"])


def groups_of(record: dict[str, Any]) -> list[str]:
    groups = record.get("groups")
    if groups:
        return list(groups)
    return ["shift"] if record.get("shift_ms") else ["noise"]


def in_group(results: list[dict[str, Any]], group: str) -> list[dict[str, Any]]:
    return [r for r in results if group in groups_of(r)]


def ordered(values: Iterable[Any], preferred: Iterable[Any] = ()) -> list[Any]:
    """``preferred`` first (in its order), then the other values sorted."""
    preferred = list(dict.fromkeys(preferred))
    rest = sorted(set(values) - set(preferred), key=lambda v: (str(type(v)), v))
    return preferred + rest


def loss_order(results: list[dict[str, Any]], recipe: dict[str, Any]) -> list[str]:
    sweep = recipe.get("sweep", {})
    preferred = [*sweep.get("noise", {}).get("losses", []), *sweep.get("shift", {}).get("losses", [])]
    preferred = [name for name in LOSS_ORDER if name in preferred] + preferred
    return ordered({r["loss"] for r in results}, preferred or LOSS_ORDER)


def fmt_ms(value: float) -> str:
    return f"{value:g}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def cells_by(results: list[dict[str, Any]], key_fn) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = {}
    for r in results:
        out.setdefault(key_fn(r), []).append(r)
    return out


# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------


def noise_axes(results, recipe) -> tuple[list[str], list[float]]:
    noise = in_group(results, "noise")
    sigmas = ordered({float(r["sigma_ms"]) for r in noise},
                     [float(s) for s in recipe.get("sweep", {}).get("noise", {}).get("sigma_ms", [])])
    losses = ordered({r["loss"] for r in noise}, recipe.get("sweep", {}).get("noise", {}).get("losses", []))
    losses = [name for name in loss_order(results, recipe) if name in losses]
    return losses, sorted(sigmas)


def noise_table(results, recipe) -> str:
    """Test F1 against σ, one row per loss (mean ± sd (n seeds)), and the drop from σ = 0."""
    losses, sigmas = noise_axes(results, recipe)
    grid = cells_by(in_group(results, "noise"), lambda r: (r["loss"], float(r["sigma_ms"])))
    rows = []
    for loss in losses:
        row = [loss] + [cell([f1_of(r) for r in grid.get((loss, s), [])]) for s in sigmas]
        clean = stats([f1_of(r) for r in grid.get((loss, 0.0), [])])
        worst = max((s for s in sigmas if grid.get((loss, s))), default=None)
        noisy = stats([f1_of(r) for r in grid.get((loss, worst), [])]) if worst else None
        row.append(f"{noisy[0] - clean[0]:+.3f} (σ={fmt_ms(worst)})" if clean and noisy else DASH)
        rows.append(row)
    return table(["loss"] + [f"σ={fmt_ms(s)} ms" for s in sigmas] + ["F1 change from σ=0"], rows)


def shift_table(results, recipe) -> str:
    """Test F1 against the ±δ shift, with the clean (σ = 0) run as the first column."""
    shifts = sorted(ordered({float(r["shift_ms"]) for r in in_group(results, "shift")},
                            [float(s) for s in recipe.get("sweep", {}).get("shift", {}).get("shift_ms", [])]))
    grid = cells_by(in_group(results, "shift"), lambda r: (r["loss"], float(r["shift_ms"])))
    clean = cells_by([r for r in in_group(results, "noise") if float(r["sigma_ms"]) == 0], lambda r: r["loss"])
    wanted = set(recipe.get("sweep", {}).get("shift", {}).get("losses", [])) | {k[0] for k in grid}
    losses = [name for name in loss_order(results, recipe) if name in wanted]
    rows = [[loss, cell([f1_of(r) for r in clean.get(loss, [])])]
            + [cell([f1_of(r) for r in grid.get((loss, d), [])]) for d in shifts] for loss in losses]
    return table(["loss", "clean (δ=0)"] + [f"±{fmt_ms(d)} ms" for d in shifts], rows)


def softness_table(results, recipe) -> str:
    """Softness study at fixed σ: F1, precision, recall, timing and peak share per softness."""
    study = recipe.get("sweep", {}).get("softness", {})
    runs = in_group(results, "softness")
    losses = ordered({r["loss"] for r in runs}, study.get("losses", []))
    sigma = study.get("sigma_ms")
    if sigma is None and runs:
        sigma = runs[0]["sigma_ms"]
    runs = [r for r in runs if sigma is None or float(r["sigma_ms"]) == float(sigma)]
    softness = sorted(ordered({float(r["softness_ms"]) for r in runs if r.get("softness_ms") is not None},
                              [float(s) for s in study.get("softness_ms", [])]))
    grid = cells_by(runs, lambda r: (r["loss"], float(r["softness_ms"]) if r.get("softness_ms") is not None else None))
    rows = []
    for loss in losses:
        for k in softness:
            rs = grid.get((loss, k), [])
            rows.append([loss, fmt_ms(k), cell([f1_of(r) for r in rs]),
                         cell([r["test"]["precision"] for r in rs], with_n=False),
                         cell([r["test"]["recall"] for r in rs], with_n=False),
                         mean_cell([r["test"].get("median_dev_ms") for r in rs]),
                         mean_cell([r["test"].get("peak_share") for r in rs], digits=2)])
    title = f"σ = {fmt_ms(float(sigma))} ms" if sigma is not None else "σ = ?"
    return title + "\n\n" + table(["loss", "softness (ms)", "test F1", "precision", "recall",
                                   "median dev (ms)", "peak share"], rows)


def ablation_table(results, recipe) -> str:
    """Paper Table 1 for this project: rows σ, columns softloc / sll / mc / bce."""
    _, sigmas = noise_axes(results, recipe)
    grid = cells_by(in_group(results, "noise"), lambda r: (r["loss"], float(r["sigma_ms"])))
    rows = [[fmt_ms(s)] + [cell([f1_of(r) for r in grid.get((loss, s), [])]) for loss in ABLATION] for s in sigmas]
    names = {"softloc": "SoftLoc (L_SLL + L_MC)", "sll": "L_SLL only", "mc": "L_MC only", "bce": "BCE"}
    return table(["σ (ms)"] + [names[loss] for loss in ABLATION], rows)


def detail_table(results, recipe) -> str:
    """Every (loss, σ) of the noise study: means over seeds of the test details."""
    losses, sigmas = noise_axes(results, recipe)
    grid = cells_by(in_group(results, "noise"), lambda r: (r["loss"], float(r["sigma_ms"])))
    labels = ordered({c for r in results for c in r["test"].get("per_class", {})}, ["kick", "snare", "hihat"])
    if len(labels) > MAX_CLASS_COLUMNS:
        labels = []
    notes = any("notes" in r["test"] for r in results)
    rows = []
    for loss in losses:
        for s in sigmas:
            rs = grid.get((loss, s), [])
            if not rs:
                continue
            t = [r["test"] for r in rs]
            rows.append([loss, fmt_ms(s), str(len(rs)), mean_cell([x["f1"] for x in t], digits=3),
                         mean_cell([x["precision"] for x in t], digits=3),
                         mean_cell([x["recall"] for x in t], digits=3)]
                        + [mean_cell([x.get("per_class", {}).get(c, {}).get("f1") for x in t], digits=3)
                           for c in labels]
                        + ([mean_cell([x.get("notes", {}).get("f1") for x in t], digits=3)] if notes else [])
                        + [mean_cell([x.get("median_dev_ms") for x in t]), mean_cell([x.get("mean_dev_ms") for x in t]),
                           mean_cell([x.get("peak_share") for x in t], digits=2),
                           mean_cell([1000 * r.get("decode", {}).get("smooth_s", 0.0) for r in rs], digits=0),
                           mean_cell([r.get("validation", {}).get("f1") for r in rs], digits=3)])
    return table(["loss", "σ (ms)", "n", "F1", "P", "R"] + [f"F1 {c}" for c in labels]
                 + (["note F1 (mir_eval.transcription)"] if notes else [])
                 + ["median dev (ms)", "mean dev (ms)", "peak share", "decoder smoothing (ms)", "val F1"], rows)


def subset_table(results, recipe) -> str:
    """Test F1 per test subset (e.g. drum-only vs over music) for the noise study."""
    subsets = ordered({name for r in results for name in r.get("test_subsets", {})})
    if not subsets:
        return ""
    losses, sigmas = noise_axes(results, recipe)
    grid = cells_by(in_group(results, "noise"), lambda r: (r["loss"], float(r["sigma_ms"])))
    rows = []
    for loss in losses:
        if not any(grid.get((loss, s)) for s in sigmas):
            continue
        for name in subsets:
            rows.append([loss, name] + [mean_cell([r["test_subsets"][name]["f1"] for r in grid.get((loss, s), [])
                                                   if name in r.get("test_subsets", {})], digits=3) for s in sigmas])
    return table(["loss", "test subset"] + [f"σ={fmt_ms(s)} ms" for s in sigmas], rows)


# ----------------------------------------------------------------------------------------------
# Plot and report
# ----------------------------------------------------------------------------------------------


def plot_f1_vs_sigma(results, recipe, path: Path) -> bool:
    """One line per loss, mean test F1 with ± sd error bars; False when there is nothing to plot."""
    losses, sigmas = noise_axes(results, recipe)
    grid = cells_by(in_group(results, "noise"), lambda r: (r["loss"], float(r["sigma_ms"])))
    if not grid:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for loss in losses:
        points = [(s, stats([f1_of(r) for r in grid[(loss, s)]])) for s in sigmas if (loss, s) in grid]
        if not points:
            continue
        xs = [s for s, _ in points]
        ys = [st[0] for _, st in points]
        errs = [st[1] or 0.0 for _, st in points]
        style = {"linewidth": 2.4} if loss == "softloc" else {"linewidth": 1.4}
        ax.errorbar(xs, ys, yerr=errs, marker="o", markersize=4, capsize=3, label=loss, **style)
    ax.set_xlabel("training-label noise σ (ms)")
    ax.set_ylabel(report_text(recipe, "plot_ylabel"))
    ax.set_title(report_text(recipe, "plot_title"))
    ax.set_xticks(sigmas)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return True


def build_report(results, recipe, *, steps: int | None, left_out: int, warnings: list[str],
                 plot_name: str | None, recipe_name: str = "recipes/noise-sweep.toml") -> str:
    devices = Counter(r.get("device", "?") for r in results)
    params = sorted({r.get("params") for r in results if r.get("params") is not None})
    hours = sum(float(r.get("wall_s") or 0) for r in results) / 3600
    lines = [
        f"# {report_text(recipe, 'title')}",
        "",
        "Generated by `scripts/report_sweep.py` from the result files of `scripts/noise_sweep.py` "
        f"(recipe `{recipe_name}`); do not edit by hand.",
        "",
        f"- {len(results)} result file(s), {steps} training steps each"
        + (f"; {left_out} result(s) with another step count left out" if left_out else "") + ".",
        f"- Devices: {', '.join(f'{k} × {v}' for k, v in devices.items()) or DASH}; model parameters: "
        f"{', '.join(str(p) for p in params) or DASH}; total wall time {hours:.1f} h.",
        "- Training labels perturbed (Gaussian σ per event, or ±δ per file); validation and test labels are "
        f"clean, on {report_text(recipe, 'held_out')}. Scores: {report_text(recipe, 'scores')}, "
        "each model decoded with per-class thresholds, a smoothing width and a time offset tuned on validation.",
        "- Cells: mean ± sample standard deviation over seeds (number of seeds); “–” = no result yet.",
        "",
    ]
    if not results:
        lines += ["No results yet.", ""]
    lines += ["## Test F1 against training-label noise σ (paper Fig. 5)", "", noise_table(results, recipe), ""]
    if plot_name:
        lines += [f"![test F1 against σ]({plot_name})", ""]
    sweep = recipe.get("sweep", {})
    if not recipe or set(ABLATION[1:3]) & set(sweep.get("noise", {}).get("losses", [])):
        lines += ["## Ablation (paper Table 1): test F1", "", ablation_table(results, recipe), ""]
    if not recipe or "shift" in sweep or in_group(results, "shift"):
        lines += ["## Whole-file shift ±δ: test F1", "", shift_table(results, recipe), ""]
    if not recipe or "softness" in sweep or in_group(results, "softness"):
        lines += ["## Softness study", "", softness_table(results, recipe), ""]
    lines += ["## Details of the noise study (means over seeds)", "",
              "Timing: estimate − reference of matched test hits, after the validation-calibrated offset. "
              "Peak share: median share of each hit's activation mass (±5 frames) in its peak frame "
              "(1 = impulse-like output).", "", detail_table(results, recipe), ""]
    subsets = subset_table(results, recipe)
    if subsets:
        lines += ["## Test F1 per test subset (means over seeds)", "", subsets, ""]
    if warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in warnings] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path, default=[DEFAULT_RUNS],
                        help="folders of result files (default recipes/noise-sweep/runs)")
    parser.add_argument("--recipe", type=Path, default=DEFAULT_RECIPE, help="for the grid's axes (optional)")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--steps", type=int, help="merge only results with this many steps (default: most common)")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)

    results, warnings = load_results(args.runs)
    results, steps, left_out = select_steps(results, args.steps)
    recipe = load_recipe(args.recipe)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    plot_name = None
    if not args.no_plot and plot_f1_vs_sigma(results, recipe, args.out_dir / "f1_vs_sigma.png"):
        plot_name = "f1_vs_sigma.png"
    try:
        recipe_name = str(args.recipe.resolve().relative_to(ROOT))
    except ValueError:
        recipe_name = str(args.recipe)
    report = build_report(results, recipe, steps=steps, left_out=left_out, warnings=warnings, plot_name=plot_name,
                          recipe_name=recipe_name)
    (args.out_dir / "RESULTS.md").write_text(report, encoding="utf-8")
    print(f"{len(results)} result(s) merged → {args.out_dir / 'RESULTS.md'}"
          + (f", {args.out_dir / plot_name}" if plot_name else ""))
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
