"""`softloc models list|info|pull|push` against a local Hub-style cache with HF_HUB_OFFLINE=1.

Nothing here touches the network: the cache is laid out by hand, and the one test of a real
push replaces ``HfApi.create_repo`` with a stand-in that raises what huggingface_hub raises
when no token is stored.
"""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from softloc_cli.cli import app
from softloc_cli.modelcard import CARD_MARKER
from test_evaluate import hub_cache_repo, offline_hub  # noqa: F401  (fixture)

runner = CliRunner()

VALIDATION = {  # PooledScores.to_dict(), as `softloc train` stores it under scores["validation"]
    "window_s": 0.05,
    "n_files": 5,
    "classes": {
        "low": {"n_ref": 40, "n_est": 38, "tp": 36, "fp": 2, "fn": 4, "precision": 0.947, "recall": 0.9,
                "f1": 0.923, "mean_dev_s": 0.0021, "median_dev_s": 0.0015, "std_dev_s": 0.004},
        "high": {"n_ref": 60, "n_est": 61, "tp": 55, "fp": 6, "fn": 5, "precision": 0.902, "recall": 0.917,
                 "f1": 0.909, "mean_dev_s": -0.001, "median_dev_s": -0.0005, "std_dev_s": 0.003},
    },
    "overall": {"n_ref": 100, "n_est": 99, "tp": 91, "fp": 8, "fn": 9, "precision": 0.919, "recall": 0.91,
                "f1": 0.9146, "mean_dev_s": 0.0003, "median_dev_s": 0.0001, "std_dev_s": 0.0035},
}
SCORES = {"validation": VALIDATION, "window_s": 0.05, "peak_share": 0.93}
TRAINING = {
    "config": {"data": "/home/me/private-stems", "output": "/home/me/out", "init": "drums", "steps": 3000, "seed": 1},
    "train_data": {"files": 42, "hours": 1.2, "events": {"low": 500, "high": 700}, "ignored_labels": {"crash": 12}},
    "val_data": {"files": 5, "hours": 0.1, "events": {"low": 40, "high": 60}, "ignored_labels": {}},
    "steps": 3000,
    "best_step": 2750,
}


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def scored_model(tmp_path, tiny_model_dir):
    """A copy of the tiny model whose config.json carries scores, loss and training provenance."""
    directory = tmp_path / "my-model"
    shutil.copytree(tiny_model_dir, directory)
    config = json.loads((directory / "config.json").read_text())
    config.update(scores=SCORES, loss={"kind": "softloc", "softness_s": 0.08, "alpha_end": 0.9},
                  training=TRAINING)
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def test_push_dry_run_writes_card_with_scores(scored_model):
    result = run("models", "push", scored_model, "me/my-kit", "--dry-run")
    assert result.exit_code == 0, result.output
    card = (scored_model / "README.md").read_text(encoding="utf-8")
    assert CARD_MARKER in card and "library_name: softloc-cli" in card
    assert "| low | 36 |" in card and "| high | 42 |" in card
    assert "0.923" in card and "0.915" in card and "80 ms" in card  # per-class F1, overall F1, softness
    assert "42 files; 1.20 h of audio; events: low 500, high 700; labels left out: crash 12" in card
    assert "peak_share" in card and "best_step" in card and "hf://me/my-kit" in card
    assert "/home/me" not in card  # local paths of the training run are not published
    for name in ("config.json", "model.safetensors", "README.md"):
        assert name in result.stdout
    assert "nothing uploaded" in result.stderr
    # a hand-written README is never replaced
    (scored_model / "README.md").write_text("# my own card\n", encoding="utf-8")
    doc = json.loads(run("models", "push", scored_model, "me/my-kit", "--dry-run", "--json").stdout)
    assert doc["card"] == "kept" and (scored_model / "README.md").read_text() == "# my own card\n"


def test_push_refuses_pickles_and_bad_repo_ids(tmp_path, scored_model):
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    shutil.copy(scored_model / "config.json", pickled / "config.json")
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04not really")
    result = run("models", "push", pickled, "me/x", "--dry-run")
    assert result.exit_code == 1
    assert "model.safetensors" in result.stderr and "pytorch_model.bin" in result.stderr
    assert run("models", "push", scored_model, "not-a-repo-id", "--dry-run").exit_code == 2


def test_push_not_logged_in_is_one_line(scored_model, monkeypatch):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import LocalTokenNotFoundError

    def no_token(self, *args, **kwargs):
        raise LocalTokenNotFoundError("Token is required (`token=True`), but no token found.")

    monkeypatch.setattr(HfApi, "create_repo", no_token)
    result = run("models", "push", scored_model, "me/my-kit", "--private", "--revision", "v2")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == ["error: Not logged in. Run `hf auth login` (with a write token) first."]


def test_list_shows_bundled_and_cached(offline_hub, scored_model, tiny_model_dir, tmp_path, monkeypatch):
    import softloc_cli.hub as hub

    bundled = tmp_path / "bundled"
    shutil.copytree(tiny_model_dir, bundled / "drums")
    monkeypatch.setattr(hub, "BUNDLED_DIR", bundled)
    files = {n: scored_model / n for n in ("config.json", "model.safetensors")}
    hub_cache_repo(offline_hub, "owner/kit", files)
    hub_cache_repo(offline_hub, "owner/kit2", files, ref="v1")
    hub_cache_repo(offline_hub, "other/bert", {"config.json": b'{"model_type": "bert"}'})  # not ours: left out
    result = run("models", "list", "--json")
    assert result.exit_code == 0, result.output
    models = {m["spec"]: m for m in json.loads(result.stdout)["models"]}
    assert list(models) == ["drums", "hf://owner/kit", "hf://owner/kit2@v1"]
    assert models["drums"]["source"] == "bundled" and models["hf://owner/kit"]["source"] == "cache"
    assert models["hf://owner/kit"]["classes"] == ["low", "high"]
    assert models["hf://owner/kit"]["scores"]["validation"]["overall"]["f1"] == pytest.approx(0.9146)
    assert models["hf://owner/kit"]["size_bytes"] > 0
    table = run("models", "list")
    assert table.exit_code == 0 and "hf://owner/kit" in table.stdout and "F1 0.915" in table.stdout


def test_info_on_local_dir(scored_model):
    from softloc_cli.checkpoint import read_config
    from softloc_cli.model import SoftlocNet, count_parameters

    result = run("models", "info", scored_model)
    assert result.exit_code == 0, result.output
    n_params = count_parameters(SoftlocNet(read_config(scored_model).model))
    assert f"{n_params:,} parameters" in result.stdout
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    assert rows["low"][:6] == ["low", "36", "0.3", "0.923", "0.947", "0.900"]  # MIDI, threshold, F1, P, R
    assert rows["high"][:3] == ["high", "42", "0.3"] and rows["overall"][1] == "0.915"
    assert "softloc: softness 80 ms, α 0.9" in result.stdout  # the loss, read from its settings
    assert "42 files, 1.20 h, 1,200 events; left out: crash 12" in result.stdout
    assert "=" not in result.stdout  # no dotted key=value dumps
    doc = json.loads(run("models", "info", scored_model, "--json").stdout)
    assert doc["architecture"]["n_parameters"] == n_params and doc["format"] == "softloc-cli/1"
    assert doc["classes"] == [{"name": "low", "midi_note": 36}, {"name": "high", "midi_note": 42}]
    assert doc["decode"]["threshold"] == 0.3 and doc["scores"] == SCORES
    missing = run("models", "info", scored_model.parent / "nope")
    assert missing.exit_code == 1 and "does not exist" in missing.stderr


def test_pull_offline(offline_hub, tiny_model_dir):
    hub_cache_repo(offline_hub, "owner/tiny", {n: tiny_model_dir / n for n in ("config.json", "model.safetensors")},
                   ref="v1")
    result = run("models", "pull", "hf://owner/tiny@v1")
    assert result.exit_code == 0, result.output
    assert "hf://owner/tiny@v1 ready" in result.stdout and "low, high" in result.stdout
    absent = run("models", "pull", "hf://owner/absent")
    assert absent.exit_code == 1
    lines = absent.stderr.strip().splitlines()
    assert len(lines) == 1 and "HF_HUB_OFFLINE" in lines[0] and "hf://owner/absent" in lines[0]
    assert run("models", "pull", "owner/tiny").exit_code == 2  # not an hf:// spec


def test_pickle_only_hub_repo_is_refused(offline_hub, tiny_model_dir):
    hub_cache_repo(offline_hub, "owner/pickled", {"config.json": tiny_model_dir / "config.json",
                                                  "pytorch_model.bin": b"\x80\x04pickle"})
    for args in (("models", "pull", "hf://owner/pickled"), ("models", "info", "hf://owner/pickled")):
        result = run(*args)
        assert result.exit_code == 1
        assert "model.safetensors" in result.stderr and "never loaded" in result.stderr
        assert "Traceback" not in result.output


def test_every_command_help_has_examples():
    for args in (("evaluate",), ("models", "list"), ("models", "info"), ("models", "pull"), ("models", "push")):
        result = run(*args, "--help")
        assert result.exit_code == 0 and "Examples" in result.stdout and "softloc " in result.stdout
