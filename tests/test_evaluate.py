"""`softloc evaluate` and softloc_cli.evaluation: pairing, class maps, JSON/CSV output, models
from a local Hub-style cache (offline), and plots."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from softloc_cli.annotations import write_events
from softloc_cli.cli import app
from softloc_cli.evaluation import find_annotated_audio, pair_annotations
from softloc_cli.events import Event
from softloc_cli.metrics import pool_scores, score_events

from conftest import SAMPLE_RATE, write_wav

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def ev(*items) -> list[Event]:
    return [Event(t, label) for t, label in items]


REF_A = ev((0.5, "kick"), (1.0, "snare"), (1.5, "kick"), (2.0, "hihat"))
EST_A = ev((0.51, "kick"), (1.03, "snare"), (1.7, "kick"), (2.0, "hihat"), (2.5, "hihat"))
REF_B = ev((0.25, "kick"), (0.75, "snare"))
EST_B = ev((0.26, "kick"), (0.70, "snare"))


@pytest.fixture
def folders(tmp_path):
    """refs/{a,b,c}, est/{a,b,d}: c and d have no counterpart."""
    refs, est = tmp_path / "refs", tmp_path / "est"
    refs.mkdir(), est.mkdir()
    write_events(REF_A, refs / "a.csv")
    write_events(REF_B, refs / "b.json")
    write_events(REF_A, refs / "c.csv")
    write_events(EST_A, est / "a.txt")  # Audacity labels
    write_events(EST_B, est / "b.csv")
    write_events(EST_B, est / "d.csv")
    return refs, est


def test_folders_pair_by_stem_and_list_unmatched(folders):
    refs, est = folders
    result = run("evaluate", refs, est, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    expected = pool_scores([score_events(REF_A, EST_A, classes=["kick", "snare", "hihat"]),
                            score_events(REF_B, EST_B, classes=["kick", "snare", "hihat"])]).to_dict()
    assert doc["classes"] == expected["classes"]
    assert doc["overall"] == expected["overall"]
    assert doc["mean_per_file"] == expected["mean_per_file"]
    assert doc["scored"] == 2 and doc["n_files"] == 2
    assert doc["unmatched"] == {"reference": [str(refs / "c.csv")], "estimate": [str(est / "d.csv")]}
    assert "c.csv" in result.stderr and "d.csv" in result.stderr
    # 50 ms window: snare of B is 50 ms early (a hit), kick at 1.7 is 200 ms late (FP + FN)
    assert (doc["classes"]["kick"]["tp"], doc["classes"]["kick"]["fp"], doc["classes"]["kick"]["fn"]) == (2, 1, 1)
    assert doc["classes"]["snare"]["tp"] == 2


def test_table_and_csv(folders, tmp_path):
    refs, est = folders
    out = tmp_path / "scores.csv"
    result = run("evaluate", refs, est, "--csv", out)
    assert result.exit_code == 0, result.output
    assert "overall (pooled)" in result.stdout and "mean per file" in result.stdout
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["class"] for r in rows] == ["kick", "snare", "hihat", "overall"]
    pooled = pool_scores([score_events(REF_A, EST_A), score_events(REF_B, EST_B)]).pooled
    assert float(rows[-1]["f1"]) == pytest.approx(pooled.overall.f1, abs=1e-6)
    assert int(rows[0]["tp"]) == pooled.classes["kick"].tp


def test_files_class_map_window_and_restriction(tmp_path):
    ref, est = tmp_path / "ref.csv", tmp_path / "est.csv"
    ref.write_text("time_s,midi_note\n0.5,35\n1.0,40\n1.5,36\n", encoding="utf-8")
    est.write_text("time_s,class\n0.52,bd\n1.0,sd\n1.5,bd\n", encoding="utf-8")
    result = run("evaluate", ref, est, "--class-map", "kick=35,36,bd snare=38,40", "--json")
    assert result.exit_code == 2  # "bd" is not a MIDI note: usage error before any work
    assert "--class-map" in result.stderr
    result = run("evaluate", ref, est, "--class-map", "kick=35,36 snare=38,40", "--json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert doc["overall"]["f1"] == 1.0 and list(doc["classes"]) == ["kick", "snare"]
    assert doc["classes"]["kick"]["mean_dev_s"] == pytest.approx(0.01)
    result = run("evaluate", ref, est, "--class-map", "kick=35,36 snare=38,40", "--window", "10ms",
                 "--classes", "kick", "--json")
    doc = json.loads(result.stdout)
    assert list(doc["classes"]) == ["kick"] and doc["classes"]["kick"]["tp"] == 1  # 20 ms off: a miss
    assert run("evaluate", ref, est, "--window", "50").exit_code == 2  # bare number: ms or s?


def test_merge_classes(tmp_path):
    ref, est = tmp_path / "ref.txt", tmp_path / "est.json"
    ref.write_text("0.5\n1.0\n1.5\n", encoding="utf-8")  # onsets only
    write_events(ev((0.5, "kick"), (1.01, "hihat"), (1.5, "snare")), est)
    plain = json.loads(run("evaluate", ref, est, "--json").stdout)
    assert plain["overall"]["tp"] == 0
    merged = run("evaluate", ref, est, "--merge-classes", "--json")
    doc = json.loads(merged.stdout)
    assert merged.exit_code == 0 and list(doc["classes"]) == ["onset"] and doc["overall"]["f1"] == 1.0


def test_nothing_matched_and_usage_errors(tmp_path, folders):
    refs, _ = folders
    other = tmp_path / "other"
    other.mkdir()
    write_events(REF_B, other / "zzz.csv")
    result = run("evaluate", refs, other)
    assert result.exit_code == 1 and "nothing to score" in result.stderr
    assert run("evaluate", refs).exit_code == 2
    assert run("evaluate", refs, tmp_path / "missing").exit_code == 2
    assert run("evaluate", refs, other, "--threshold", "0.5").exit_code == 2
    assert "--model" in run("evaluate", refs, other, "--plot", tmp_path / "x.png").stderr


def test_bad_file_is_reported_and_fails_the_run(folders):
    refs, est = folders
    (est / "a.txt").write_text("not a time\n", encoding="utf-8")
    result = run("evaluate", refs, est, "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["scored"] == 1 and doc["failed"] == 1


def test_pairing_by_relative_path_then_name(tmp_path):
    refs, est = tmp_path / "r", tmp_path / "e"
    for path in (refs / "set1" / "song.csv", refs / "solo.csv", est / "set1" / "song.mid", est / "out" / "solo.csv",
                 est / "set1" / "song.txt"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("0.5\n", encoding="utf-8")
    pairing = pair_annotations(refs, est)
    assert [(p.stem, p.estimate.name) for p in pairing.pairs] == [("set1/song", "song.mid"), ("solo", "solo.csv")]
    assert pairing.ignored == [est / "set1" / "song.txt"]
    assert not pairing.unmatched_reference and not pairing.unmatched_estimate


# ------------------------------------------------------------------------------------------
# models from a Hub-style cache, offline


def hub_cache_repo(cache: Path, repo_id: str, files: dict[str, Path | bytes], ref: str = "main") -> Path:
    """Lay out ``models--owner--name/{refs/<ref>, snapshots/<hash>/...}`` as huggingface_hub does."""
    folder = cache / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(f"{repo_id}@{ref}".encode()).hexdigest()
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, source in files.items():
        if isinstance(source, Path):
            shutil.copy(source, snapshot / name)
        else:
            (snapshot / name).write_bytes(source)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty Hub cache under tmp_path with HF_HOME/HF_HUB_CACHE/HF_HUB_OFFLINE pointing at it."""
    import huggingface_hub.constants as constants

    home = tmp_path / "hf"
    cache = home / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


@pytest.fixture
def annotated(tmp_path):
    """data/{a,b}.wav with sidecar CSVs of the synthetic hits, and an orphan.wav without one."""
    from softloc_cli.synthetic import render_hits

    data = tmp_path / "data"
    for stem, seed in (("a", 1), ("b", 2), ("orphan", 3)):
        audio, events = render_hits(1.5, sample_rate=SAMPLE_RATE, seed=seed)
        write_wav(data / f"{stem}.wav", audio)
        if stem != "orphan":
            write_events(events, data / f"{stem}.csv")
    return data


def test_evaluate_model_from_offline_hub_cache(offline_hub, eventful_model_dir, annotated):
    hub_cache_repo(offline_hub, "owner/eventful", {n: eventful_model_dir / n for n in ("config.json", "model.safetensors")})
    result = run("evaluate", "--model", "hf://owner/eventful", annotated, "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["model"] == "eventful" and doc["scored"] == 2
    assert list(doc["classes"]) == ["low", "high"]
    assert doc["unmatched"]["estimate"] == [str(annotated / "orphan.wav")]
    assert doc["overall"]["n_ref"] > 0 and doc["overall"]["n_est"] > 0
    assert "orphan.wav" in result.stderr
    # --threshold overrides the stored thresholds: nothing reaches 0.99
    doc = json.loads(run("evaluate", "-m", "hf://owner/eventful", annotated, "--threshold", "0.99", "--json").stdout)
    assert doc["overall"]["n_est"] == 0 and doc["overall"]["fn"] == doc["overall"]["n_ref"]


def test_evaluate_model_not_cached_offline(offline_hub, annotated):
    result = run("evaluate", "--model", "hf://owner/absent", annotated)
    assert result.exit_code == 1
    assert "HF_HUB_OFFLINE" in result.stderr and "softloc models pull hf://owner/absent" in result.stderr
    assert "Traceback" not in result.output


def test_evaluate_model_unknown_plot_stem_is_a_usage_error(tiny_model_dir, annotated, tmp_path):
    result = run("evaluate", "-m", tiny_model_dir, annotated, "--plot", tmp_path / "p.png", "--plot-file", "nope")
    assert result.exit_code == (2 if _have_matplotlib() else 1)


def test_find_annotated_audio(annotated):
    pairing = find_annotated_audio(annotated)
    assert [(p.stem, p.reference.name, p.estimate.name) for p in pairing.pairs] == [
        ("a", "a.csv", "a.wav"), ("b", "b.csv", "b.wav")]
    assert pairing.unmatched_estimate == [annotated / "orphan.wav"]


def test_find_annotated_audio_skips_a_dataset_manifest_but_lists_stray_annotations(annotated):
    (annotated / "manifest.csv").write_text("audio,annotation\na.wav,a.csv\n", encoding="utf-8")
    (annotated / "stray.csv").write_text("0.5\n", encoding="utf-8")
    pairing = find_annotated_audio(annotated)
    assert pairing.unmatched_reference == [annotated / "stray.csv"]
    assert [p.stem for p in pairing.pairs] == ["a", "b"]


# ------------------------------------------------------------------------------------------
# plots


def _have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def test_plot_on_evaluate(eventful_model_dir, annotated, tmp_path):
    out = tmp_path / "b.png"
    result = run("evaluate", "-m", eventful_model_dir, annotated, "--plot", out, "--plot-file", "b", "-q")
    if _have_matplotlib():
        assert result.exit_code == 0, result.output
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:  # the extra is not installed: the clear error path, before any work
        assert result.exit_code == 1 and "pip install softloc-cli[plot]" in result.stderr
        assert not out.exists()


def test_plot_without_matplotlib_names_the_extra(eventful_model_dir, annotated, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    out = tmp_path / "a.png"
    result = run("evaluate", "-m", eventful_model_dir, annotated, "--plot", out)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == ["error: plotting needs matplotlib; install it with "
                                                  "`pip install softloc-cli[plot]`"]
    assert not out.exists()


def test_plot_activations_library(tmp_path):
    import numpy as np

    from softloc_cli.plot import PlotError, plot_activations

    acts = np.zeros((200, 2))
    acts[50, 0], acts[120, 1] = 0.9, 0.6
    if not _have_matplotlib():
        with pytest.raises(PlotError, match=r"softloc-cli\[plot\]"):
            plot_activations(tmp_path / "x.png", activations=acts, frame_rate_hz=100.0, labels=["kick", "snare"])
        return
    out = plot_activations(tmp_path / "x.svg", activations=acts, frame_rate_hz=100.0, labels=["kick", "snare"],
                           events=ev((0.5, "kick")), reference=ev((0.51, "kick"), (1.2, "onset")),
                           thresholds=[0.3, 0.3], title="t")
    assert out.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    with pytest.raises(PlotError, match=r"\.png"):
        plot_activations(tmp_path / "x.gif", activations=acts, frame_rate_hz=100.0, labels=["kick", "snare"])
