"""Resolving a model spec to a checkpoint directory.

A spec is one of: a bundled name (``drums``), a path to a checkpoint directory, or
``hf://owner/name[@revision]``. Hub models come through ``huggingface_hub.snapshot_download``,
which owns the cache, resumes downloads, and honours ``HF_HOME`` and ``HF_HUB_OFFLINE``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelNotFoundError

# The checkpoint layout (checkpoint.py re-exports these). They live here, not in checkpoint.py,
# because checkpoint.py imports torch and `softloc --version` lists bundled models through
# this module, which must stay torch-free.
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"  # the model card (softloc_cli.modelcard)

BUNDLED_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = "drums"
HUB_PREFIX = "hf://"
HUB_FILES = [CONFIG_NAME, WEIGHTS_NAME, CARD_NAME]  # what is downloaded and uploaded; never pickles


@dataclass(frozen=True)
class HubSpec:
    repo_id: str
    revision: str | None = None

    def __str__(self) -> str:
        return f"{HUB_PREFIX}{self.repo_id}" + (f"@{self.revision}" if self.revision else "")


def bundled_models() -> list[str]:
    """Names of the models shipped inside the package."""
    if not BUNDLED_DIR.is_dir():
        return []
    return sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / CONFIG_NAME).is_file())


def parse_hub_spec(spec: str) -> HubSpec:
    """``hf://owner/name[@revision]`` → HubSpec; raises ModelNotFoundError on a malformed spec."""
    body = spec[len(HUB_PREFIX) :]
    repo_id, _, revision = body.partition("@")
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts):
        raise ModelNotFoundError(f"model spec {spec!r} is not of the form hf://owner/name[@revision]")
    return HubSpec(repo_id=repo_id, revision=revision or None)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def download_hub_model(spec: HubSpec) -> Path:
    """Fetch (or find in the cache) a Hub model; refuses repos without safetensors + config."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        directory = Path(
            snapshot_download(
                spec.repo_id,
                revision=spec.revision,
                allow_patterns=HUB_FILES,
                # huggingface_hub reads HF_HUB_OFFLINE once, at import; honour a later setting too
                local_files_only=_offline(),
            )
        )
    except LocalEntryNotFoundError:
        if _offline():
            raise ModelNotFoundError(
                f"model `{spec}` is not in the local cache and HF_HUB_OFFLINE is set; "
                f"run `softloc models pull {spec}` while online"
            ) from None
        raise ModelNotFoundError(
            f"model `{spec}` is not cached and the Hub cannot be reached; check the connection"
        ) from None
    except GatedRepoError:
        raise ModelNotFoundError(f"model `{spec}` is gated; accept its terms on the Hub and run `hf auth login`") from None
    except RepositoryNotFoundError:
        raise ModelNotFoundError(
            f"model `{spec}` does not exist on the Hub (or is private: run `hf auth login` first)"
        ) from None
    except RevisionNotFoundError:
        raise ModelNotFoundError(f"model `{spec}`: revision {spec.revision!r} not found") from None
    missing = [name for name in (CONFIG_NAME, WEIGHTS_NAME) if not (directory / name).is_file()]
    if missing:
        raise ModelNotFoundError(
            f"model `{spec}` is not a softloc model: it lacks {' and '.join(missing)} "
            "(pickled checkpoints are never loaded)"
        )
    return directory


def resolve_model(spec: str | Path | None = None) -> Path:
    """Map a model spec to a local checkpoint directory.

    Parameters
    ----------
    spec : str or Path or None
        Bundled name, directory path, or ``hf://owner/name[@revision]``; None = the default model.

    Returns
    -------
    directory : Path holding ``config.json`` and ``model.safetensors``

    Raises
    ------
    ModelNotFoundError
        Unknown name (the bundled ones are listed), missing path, or a Hub model that cannot be had.

    Examples
    --------
    >>> resolve_model("drums").name
    'drums'
    """
    spec = str(spec) if spec is not None else DEFAULT_MODEL
    if spec.startswith(HUB_PREFIX):
        return download_hub_model(parse_hub_spec(spec))
    if spec in bundled_models():
        return BUNDLED_DIR / spec
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise ModelNotFoundError(f"{path}: not a model directory (no {CONFIG_NAME})")
        return path
    looks_like_path = os.sep in spec or spec.startswith(".") or path.suffix
    if looks_like_path:
        raise ModelNotFoundError(f"model directory {spec!r} does not exist")
    raise ModelNotFoundError(
        f"model {spec!r} not found; bundled models = {bundled_models()}, "
        "or give a directory or hf://owner/name"
    )
