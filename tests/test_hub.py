"""Model specs: bundled names, directories and hf://owner/name[@rev] from a local Hub cache."""

import shutil

import pytest

from softloc_cli import hub
from softloc_cli.errors import ModelNotFoundError
from softloc_cli.hub import HubSpec, parse_hub_spec, resolve_model
from softloc_cli.inference import load_model

from conftest import COMMIT

OTHER = "fedcba9876543210fedcba9876543210fedcba98"


def test_parse_hub_spec():
    assert parse_hub_spec("hf://owner/name") == HubSpec("owner/name", None)
    assert parse_hub_spec("hf://owner/name@v1.0") == HubSpec("owner/name", "v1.0")
    assert str(HubSpec("owner/name", "v1.0")) == "hf://owner/name@v1.0"


@pytest.mark.parametrize("spec", ["hf://name", "hf://a/b/c", "hf:///b", "hf://a/"])
def test_malformed_hub_spec(spec):
    with pytest.raises(ModelNotFoundError, match=r"is not of the form hf://owner/name\[@revision\]"):
        resolve_model(spec)


def test_resolves_main_from_the_cache(hub_cache, tiny_model_dir):
    snapshot = hub_cache.add_model("owner/name", tiny_model_dir)
    directory = resolve_model("hf://owner/name")
    assert directory.resolve() == snapshot.resolve()
    model = load_model("hf://owner/name", device="cpu")
    assert model.name == "tiny"
    assert model.config.labels == ["low", "high"]


def test_resolves_a_branch_and_a_commit(hub_cache, tiny_model_dir, eventful_model_dir):
    hub_cache.add_model("owner/name", tiny_model_dir)
    hub_cache.add_model("owner/name", eventful_model_dir, ref="v2", commit=OTHER)
    assert load_model("hf://owner/name", device="cpu").name == "tiny"
    assert load_model("hf://owner/name@v2", device="cpu").name == "eventful"
    assert resolve_model(f"hf://owner/name@{COMMIT}").name == COMMIT
    assert load_model(f"hf://owner/name@{OTHER}", device="cpu").name == "eventful"


def test_offline_and_not_cached_names_the_fix(hub_cache, tiny_model_dir):
    hub_cache.add_model("owner/name", tiny_model_dir)
    for spec in ("hf://owner/missing", "hf://owner/name@v9"):
        with pytest.raises(ModelNotFoundError) as info:
            resolve_model(spec)
        assert str(info.value) == (
            f"model `{spec}` is not in the local cache and HF_HUB_OFFLINE is set; "
            f"run `softloc models pull {spec}` while online"
        )


def test_offline_environment_is_honoured_after_import(hub_cache, monkeypatch):
    """HF_HUB_OFFLINE set after huggingface_hub was imported still keeps softloc off the network."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # as if the env var came later
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE is set; run `softloc models pull"):
        resolve_model("hf://owner/missing")
    assert hub_cache.connections == []


def test_pickle_only_repo_is_refused(hub_cache, tiny_model_dir):
    files = {"config.json": (tiny_model_dir / "config.json").read_bytes(), "pytorch_model.bin": b"\x80\x04pickle"}
    hub_cache.add("owner/pickled", files)
    with pytest.raises(ModelNotFoundError, match=r"`hf://owner/pickled` is not a softloc model: it lacks model.safetensors \(pickled checkpoints are never loaded\)"):
        resolve_model("hf://owner/pickled")
    hub_cache.add("owner/bare", {"model.pt": b"\x80\x04pickle"})
    with pytest.raises(ModelNotFoundError, match="lacks config.json and model.safetensors"):
        load_model("hf://owner/bare", device="cpu")


def test_directory_specs(tiny_model_dir, tmp_path):
    assert resolve_model(tiny_model_dir) == tiny_model_dir
    assert resolve_model(str(tiny_model_dir)) == tiny_model_dir
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "nowhere"))
    with pytest.raises(ModelNotFoundError, match=r"not a model directory \(no config.json\)"):
        resolve_model(tmp_path)


def test_bundled_names_and_unknown_names(tiny_model_dir, tmp_path, monkeypatch):
    bundled = tmp_path / "bundled"
    shutil.copytree(tiny_model_dir, bundled / "tiny")
    (bundled / "not-a-model").mkdir()
    monkeypatch.setattr(hub, "BUNDLED_DIR", bundled)
    assert hub.bundled_models() == ["tiny"]
    assert resolve_model("tiny") == bundled / "tiny"
    with pytest.raises(ModelNotFoundError, match=r"model 'drumz' not found; bundled models = \['tiny'\], or give a directory or hf://owner/name"):
        resolve_model("drumz")


def test_default_spec_is_the_bundled_drums_model(monkeypatch, tmp_path):
    monkeypatch.setattr(hub, "BUNDLED_DIR", tmp_path / "none")
    assert hub.bundled_models() == []
    with pytest.raises(ModelNotFoundError, match="model 'drums' not found"):
        resolve_model(None)
