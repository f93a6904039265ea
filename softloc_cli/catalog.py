"""Finding, inspecting and downloading models (``softloc models list/info/pull``).

Conventions: a model is a directory with ``config.json`` + ``model.safetensors`` (see
:mod:`softloc_cli.checkpoint`); a Hub repo holds the same files plus a ``README.md`` model card.
The Hub cache, downloads and offline mode all belong to ``huggingface_hub`` (``HF_HOME``,
``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``); nothing here keeps a cache of its own. Pickled
checkpoints are never loaded. Publishing lives in :mod:`softloc_cli.publish`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checkpoint import CheckpointConfig, load_weights, read_config
from .configs import to_dict
from .errors import ModelNotFoundError, SoftlocError
from .hub import (
    CONFIG_NAME,
    DEFAULT_MODEL,
    HUB_PREFIX,
    WEIGHTS_NAME,
    bundled_models,
    download_hub_model,
    parse_hub_spec,
    resolve_model,
)
from .inference import build_network
from .model import count_parameters
from .modelcard import find_score_table

__all__ = ["ClassSummary", "ModelEntry", "ModelInfo", "list_models", "model_info", "pull_model", "verify_model"]


@dataclass
class ModelEntry:
    """One model found by :func:`list_models`.

    ``spec`` is what ``--model`` accepts; ``source`` is ``"bundled"`` or ``"cache"``;
    ``size_bytes`` counts the files on disk; ``error`` is set (and the config fields empty)
    when the config cannot be read.
    """

    spec: str
    source: str
    directory: Path
    name: str = ""
    classes: list[str] = field(default_factory=list)
    size_bytes: int = 0
    scores: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "source": self.source,
            "directory": str(self.directory),
            "name": self.name,
            "classes": self.classes,
            "size_bytes": self.size_bytes,
            "scores": self.scores,
            "error": self.error,
        }


@dataclass
class ClassSummary:
    """One output class of a model with its decode threshold and stored scores.

    ``threshold`` is the one decoding uses (``tuned`` when it is stored for this class rather
    than the model's default). Scores come from the validation table in ``config.json``
    (``scores["validation"]["classes"]``, pooled over files) and are None when not stored;
    ``val_events``/``train_events`` count the reference events of the class.
    """

    name: str
    midi_note: int | None
    threshold: float
    tuned: bool
    f1: float | None = None
    precision: float | None = None
    recall: float | None = None
    val_events: int | None = None
    train_events: int | None = None


@dataclass
class ModelInfo:
    """Everything :func:`model_info` reports about one model.

    :meth:`to_dict` carries the whole ``config.json`` (``model`` under ``architecture``, with the
    parameter count; ``features`` with the frame rate) plus the resolved spec, directory and file
    sizes; :meth:`class_summaries` and :attr:`validation` are the per-class view of it.
    """

    spec: str
    directory: Path
    config: CheckpointConfig
    n_parameters: int
    files: dict[str, int]  # file name → size in bytes

    @property
    def weights_bytes(self) -> int | None:
        """Size of ``model.safetensors`` in bytes (None if it is missing)."""
        return self.files.get(WEIGHTS_NAME)

    @property
    def validation(self) -> dict[str, Any]:
        """The stored validation score table (``window_s``, ``n_files``, ``classes``, ``overall``),
        or {} when the config has none."""
        table, rest = find_score_table(self.config.scores)
        if table is None:
            return {}
        window = table.get("window_s", rest.get("window_s"))
        return {**table, "window_s": window} if window is not None else dict(table)

    def class_summaries(self) -> list[ClassSummary]:
        """One :class:`ClassSummary` per output class, in model output order."""
        decode = self.config.decode
        scores = self.validation.get("classes", {})
        train_events = _events(self.config.training.get("train_data"))
        val_events = _events(self.config.training.get("val_data"))
        rows = []
        for info in self.config.classes:
            row = scores.get(info.name) if isinstance(scores.get(info.name), dict) else {}
            n_ref = row.get("n_ref", val_events.get(info.name))
            rows.append(ClassSummary(
                name=info.name,
                midi_note=info.midi_note,
                threshold=decode.threshold_for(info.name),
                tuned=info.name in decode.class_thresholds,
                f1=_number(row.get("f1")),
                precision=_number(row.get("precision")),
                recall=_number(row.get("recall")),
                val_events=n_ref if isinstance(n_ref, int) else None,
                train_events=train_events.get(info.name),
            ))
        return rows

    def to_dict(self) -> dict[str, Any]:
        config = to_dict(self.config)
        return {
            "spec": self.spec,
            "directory": str(self.directory),
            "format": self.config.format,
            "name": self.config.name,
            "description": self.config.description,
            "drums": self.config.drums,
            "classes": config["classes"],
            "features": {**config["features"], "frame_rate_hz": self.config.features.frame_rate_hz},
            "architecture": {**config["model"], "n_parameters": self.n_parameters},
            "decode": config["decode"],
            "loss": config["loss"],
            "training": config["training"],
            "scores": config["scores"],
            "files": self.files,
        }


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _events(summary: Any) -> dict[str, int]:
    """``{class: count}`` from a stored data summary (``training["train_data"]["events"]``)."""
    events = summary.get("events") if isinstance(summary, dict) else None
    if not isinstance(events, dict):
        return {}
    return {str(k): v for k, v in events.items() if isinstance(v, int) and not isinstance(v, bool)}


def _dir_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def _is_softloc_config(path: Path) -> bool:
    """Whether ``path`` is a config.json written by softloc (other libraries' models are skipped)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and str(data.get("format", "")).startswith("softloc-cli/")


def _entry(spec: str, source: str, directory: Path) -> ModelEntry:
    entry = ModelEntry(spec=spec, source=source, directory=directory, size_bytes=_dir_size(directory))
    try:
        config = read_config(directory)
    except SoftlocError as exc:
        entry.error = str(exc)
        return entry
    if not (directory / WEIGHTS_NAME).is_file():
        entry.error = f"no {WEIGHTS_NAME}"
    entry.name, entry.classes, entry.scores = config.name, config.labels, dict(config.scores)
    return entry


def list_models(*, cache_dir: str | Path | None = None) -> list[ModelEntry]:
    """Bundled models, then softloc models in the Hugging Face cache (one entry per cached revision).

    Parameters
    ----------
    cache_dir : str or Path, optional
        Hub cache to scan; default ``huggingface_hub``'s (``HF_HUB_CACHE`` / ``HF_HOME``).

    Returns
    -------
    entries : list of ModelEntry
        Cached repos whose ``config.json`` is not a softloc config are left out; an unreadable
        softloc config gives an entry with ``error`` set. A missing cache gives no cached entries.

    Examples
    --------
    >>> [m.spec for m in list_models()]
    ['drums', 'onsets', 'hf://someone/my-kit']
    """
    from huggingface_hub import scan_cache_dir  # imported here, like hub.py, so importing is cheap
    from huggingface_hub.errors import CacheNotFound

    entries = [_entry(name, "bundled", resolve_model(name)) for name in bundled_models()]
    try:
        info = scan_cache_dir(cache_dir)
    except CacheNotFound:
        return entries
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for revision in sorted(repo.revisions, key=lambda r: sorted(r.refs)):
            snapshot = Path(revision.snapshot_path)
            if not _is_softloc_config(snapshot / CONFIG_NAME):
                continue
            refs = sorted(revision.refs)
            if "main" in refs:
                spec = f"{HUB_PREFIX}{repo.repo_id}"
            else:
                spec = f"{HUB_PREFIX}{repo.repo_id}@{refs[0] if refs else revision.commit_hash}"
            entry = _entry(spec, "cache", snapshot)
            entry.size_bytes = revision.size_on_disk
            entries.append(entry)
    return entries


def verify_model(directory: Path) -> CheckpointConfig:
    """Check that ``directory`` holds a loadable softloc model: config, safetensors, matching weights.

    Raises
    ------
    ModelNotFoundError
        No ``config.json`` or no ``model.safetensors`` (a pickled checkpoint is named and refused).
    ConfigError
        The config is invalid or the weights do not match it.

    Examples
    --------
    >>> verify_model(Path("my-model/")).labels
    ['kick', 'snare', 'hihat']
    """
    directory = Path(directory)
    config = read_config(directory)
    net, _ = build_network(config)
    load_weights(directory, net)
    return config


def pull_model(spec: str) -> tuple[Path, CheckpointConfig]:
    """Download ``hf://owner/name[@rev]`` into the Hub cache (or find it there) and verify it loads.

    Returns
    -------
    directory, config : the snapshot directory and its config

    Raises
    ------
    ModelNotFoundError
        Not a Hub spec, not on the Hub, not cached while offline, or not a softloc model
        (no ``config.json`` + ``model.safetensors``; pickles are refused).
    ConfigError
        The downloaded files do not load.

    Examples
    --------
    >>> directory, config = pull_model("hf://someone/my-kit@v1")
    >>> config.labels
    ['kick', 'snare', 'hihat']
    """
    if not spec.startswith(HUB_PREFIX):
        raise ModelNotFoundError(f"{spec!r} is not a Hub model; `softloc models pull` takes hf://owner/name[@revision]")
    directory = download_hub_model(parse_hub_spec(spec))
    return directory, verify_model(directory)


def model_info(spec: str | Path | None = None) -> ModelInfo:
    """Config, parameter count and file sizes of a model (bundled name, directory or ``hf://`` spec).

    Raises
    ------
    ModelNotFoundError, ConfigError

    Examples
    --------
    >>> [(c.name, c.threshold) for c in model_info("drums").class_summaries()]
    [('kick', 0.2), ('snare', 0.15), ('hihat', 0.2)]
    """
    directory = resolve_model(spec)
    config = read_config(directory)
    net, _ = build_network(config)
    files = {p.name: p.stat().st_size for p in sorted(directory.iterdir()) if p.is_file()}
    return ModelInfo(
        spec=str(spec) if spec is not None else DEFAULT_MODEL,
        directory=directory,
        config=config,
        n_parameters=count_parameters(net),
        files=files,
    )
