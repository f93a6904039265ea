"""The training loop: dataset → model → loss → optimizer → validation → checkpoint.

:func:`train` reads top to bottom: :func:`prepare` builds the network and loads the data (every
error a user can cause is raised there, before anything is written), the loop takes optimizer
steps and calls :func:`validate` every ``val_every`` steps, and :func:`finish` calibrates the
decode settings on the validation set and writes the model. ``--resume`` state lives in
:mod:`softloc_cli.train_state`; under ``torchrun`` the loop runs data-parallel and only rank 0
validates and writes.

Fine-tuning (``init`` set) starts from a trained model: its classes (plus any new ones in the
annotations), its features and decode settings; steps are sized to the amount of audio, the
softness can be measured from the taps (:mod:`softloc_cli.tap_timing`), and thresholds are
calibrated by counts when the validation labels are taps themselves.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .annotations import read_annotations
from .augment import AugmentConfig
from .calibration import calibrate, peak_mass_share, score_decoded
from .checkpoint import CheckpointConfig, ClassInfo, load_weights, read_config, save_checkpoint
from .classmap import DEFAULT_DRUM_MAP, expand_pitch_ranges, label_to_pitch, parse_class_map, pitched_class_map
from .configs import from_dict
from .data import CropSampler, DatasetSummary, find_entries, frame_targets, load_tracks
from .decode import DecodeConfig, decode_activations
from .errors import ConfigError, DatasetError
from .events import ONSET_CLASS, Event
from .features import FeatureConfig, LogMelFlux, add_flux, scale_gain, shift_mel
from .fileio import atomic_write
from .hub import resolve_model
from .inference import activations_from_logmel, resolve_device
from .losses import LossConfig, build_loss, target_width
from .model import ModelConfig, SoftlocNet
from .tap_snap import SnapCount, snap_events
from .tap_timing import TapSpread, estimate_tap_spread, suggest_softness
from .tapping import pooled_tap_spread
from .train_state import STATE_DIR, Progress, load_state, save_random_state, save_state, saved_config

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

METRICS_LOG = "metrics.jsonl"
DEFAULT_STEPS = 3000  # from scratch (the prototype: 3,000 steps ≈ 15 CPU-minutes)
FINETUNE_PASSES = 60  # fine-tuning: crops of 60 × the tapped audio ...
FINETUNE_STEPS = (100, 600)  # ... but at least / at most this many steps
MIXUP_PARTNERS = ("batch", "mix")  # values of ``augment.mixup_partners``
KEEP_CHOICES = ("best", "average")  # values of ``keep``
FINETUNE_DEFAULTS: dict[str, Any] = {  # a recipe under the user's own recipe and flags when fine-tuning
    "lr": 1e-3, "freeze_frontend": True, "warmup_steps": 20, "val_every": 50, "early_stop": 4, "snap_taps": True,
    "keep": "average",  # one tapped file validates: its best step is a coin toss (3 seeds: 0.80-0.84 F1)
    "snapped_softness_s": 0.02,  # most snapped taps sit within 10 ms of their hit (3 kits x 3 seeds: +0.6 F1)
    "loss": {"alpha_schedule": "constant", "alpha_start": 0.9, "sll_weight": 32.0},  # the bundled models' final mix
}


@dataclass
class MixSource:
    """One more training set and the share of the crops drawn from it (``[[mix]]`` in a recipe)."""

    path: str = ""
    share: float = 0.5
    negatives: bool = False  # holds none of the classes on purpose (real audio without drums):
    # its labels are ignored and every output learns silence there


@dataclass
class TrainConfig:
    data: str = ""  # dataset folder or manifest CSV
    mix: list[MixSource] = field(default_factory=list)  # more training sets; ``data`` gets the remaining share
    val: str | None = None  # validation set; default: ``val_share`` of the training files
    val_share: float = 0.1  # without ``val``: the share of the training files held out (at least one)
    output: str = ""  # model directory to write
    init: str | None = None  # model spec to fine-tune (bundled, path, hf://); None = from scratch
    classes: list[str] = field(default_factory=list)  # default: the init model's (+ new labels), else the labels found
    class_map: str | None = None  # e.g. "kick=35,36 snare=38,40"; default: GM drum map / names as written
    drums: bool = True  # events are drum hits (MIDI channel 10); classes that are all pitch names
    # (C4, or a range A0..C8) always make a pitched (multi-pitch) model
    name: str = ""  # model name stored in config.json (default: the output folder's name)
    description: str = ""
    loss: LossConfig = field(default_factory=LossConfig)
    auto_softness: bool = False  # measure the labels' timing spread against the init model and use it
    snap_taps: bool = False  # fine-tuning: move each label onto the init model's matching hit first
    snapped_softness_s: float = 0.0  # the softness once taps are snapped (0 = the measured or given one;
    # not used when the taps add a class: none of its taps can snap)
    model: ModelConfig = field(default_factory=ModelConfig)  # architecture when training from scratch
    features: FeatureConfig = field(default_factory=FeatureConfig)
    steps: int = 0  # optimizer steps; 0 = DEFAULT_STEPS from scratch, sized to the audio when fine-tuning
    epochs: float | None = None  # if set, overrides steps: passes over the training audio
    batch_size: int = 16
    crop_s: float = 2.56  # seconds per training crop
    lr: float = 1e-3  # Adam
    weight_decay: float = 0.0
    anchor_weight: float = 0.0  # fine-tuning: L2 pull towards the init model's weights (L2-SP)
    freeze_frontend: bool = False  # fine-tuning: keep the convolutional front end as it is
    lr_schedule: str = "cosine"  # "cosine" | "step" (÷10 at 60% and 85%) | "constant"
    warmup_steps: int = 100
    grad_clip: float = 10.0  # global norm (the authors' value)
    val_every: int = 250  # steps between validations
    early_stop: int = 0  # stop after this many validations without improvement (0 = never)
    keep: str = "best"  # weights written at the end: "best" validation, or the "average" of the weights at
    # every validation after the output-layer-only phase (steadier when validation is a file or two)
    head_only_steps: int = -1  # fine-tuning: train only the output layer first (-1 = auto: 20% if < 10 min of data)
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # recorded-sound chain, copies cached
    augment_gain_db: float = 6.0  # random gain ±dB per crop (exact on cached features)
    augment_shift_bins: int = 0  # random shift of the mel axis by up to ± this many bands per crop
    # (≈ ±1.5 semitones per band in the mid range: other drum tunings and kits)
    label_noise_s: float = 0.0  # experiments: Gaussian shift per training event (paper Sec. 5)
    label_shift_s: float = 0.0  # experiments: each training file moved by ±δ
    val_window_s: float = 0.05  # matching tolerance for validation F1
    calibrate: bool = True  # tune thresholds, smoothing and time offset on validation at the end
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bfloat16 autocast on CUDA
    compile: bool = False  # torch.compile the network
    cache_dir: str | None = None  # on-disk feature cache (default: in memory only)
    threads: int = 0  # CPU threads for torch (0 = torch's default)


@dataclass
class TrainResult:
    output: Path
    steps: int
    best_step: int
    scores: dict[str, Any]
    decode: DecodeConfig
    seconds: float
    tap_spread: TapSpread | None = None
    averaged: int = 0  # validations whose weights were averaged (``keep = "average"``); 0: the best step's


@dataclass
class Run:
    """Everything :func:`prepare` sets up for the loop."""

    config: TrainConfig
    labels: list[str]
    net: Any  # SoftlocNet
    ckpt: CheckpointConfig
    train_tracks: list
    val_tracks: list
    summaries: dict[str, Any]
    total_steps: int
    head_only_steps: int
    tap_spread: TapSpread | None
    anchor: dict[str, Any] | None  # the init model's weights, for anchor_weight


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Read a TOML recipe into a plain dict (validated later against TrainConfig)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"recipe {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def make_config(recipe: dict[str, Any] | None = None, **overrides: Any) -> TrainConfig:
    """TrainConfig from a recipe dict plus overrides (None values are skipped).

    Nested settings are given as dicts and merged into the recipe's tables, e.g.
    ``loss={"softness_s": 0.05}``; unknown keys are rejected. When fine-tuning (``init`` set),
    :data:`FINETUNE_DEFAULTS` sit under the recipe and the overrides.
    """
    data: dict[str, Any] = {}
    if (overrides.get("init") or (recipe or {}).get("init")) is not None:
        _merge(data, FINETUNE_DEFAULTS)
    _merge(data, recipe or {})
    _merge(data, overrides)
    config = from_dict(TrainConfig, data, where="training config")
    if not 0 < config.val_share < 1:
        raise ConfigError(f"val_share must be between 0 and 1 (a share of the training files); got {config.val_share}")
    if config.keep not in KEEP_CHOICES:
        raise ConfigError(f"keep must be one of {', '.join(KEEP_CHOICES)}; got {config.keep!r}")
    if config.augment.mixup_partners not in MIXUP_PARTNERS:
        raise ConfigError(f"augment.mixup_partners must be one of {', '.join(MIXUP_PARTNERS)}; "
                          f"got {config.augment.mixup_partners!r}")
    return config


def _merge(target: dict[str, Any], source: dict[str, Any]) -> None:
    for key, value in source.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif isinstance(value, dict):
            target[key] = {}
            _merge(target[key], value)
        else:
            target[key] = value


def lr_at(step: int, config: TrainConfig, total: int) -> float:
    """Learning rate at ``step``: linear warm-up, then cosine / step / constant."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
    if config.lr_schedule == "cosine":
        return config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))
    if config.lr_schedule == "step":
        return config.lr * (0.1 ** ((progress >= 0.6) + (progress >= 0.85)))
    return config.lr


def train(config: TrainConfig, *, resume: bool = False,
          on_event: Callable[[dict[str, Any]], None] | None = None) -> TrainResult | None:
    """Train a model as described by ``config`` and write it to ``config.output``.

    ``on_event`` receives dicts with ``kind`` ``"classes"`` (classes learnt, with counts),
    ``"softness"`` (the measured tap spread), ``"data"`` (dataset summaries), ``"step"`` (step,
    loss parts, lr) and ``"val"`` (step, F1 per class, best so far). Returns None on ranks > 0.

    Raises
    ------
    DatasetError, AnnotationError, AudioLoadError, ConfigError, ModelNotFoundError
        Before anything is written to ``config.output``.
    """
    import torch

    emit = on_event or (lambda event: None)
    started = time.perf_counter()
    rank, local_rank, world = _distributed()
    output = Path(config.output)
    state_dir = output / STATE_DIR
    _check_output(output, resume)
    if resume:  # the saved run is continued exactly, whatever else ``config`` says
        config = saved_config(output, TrainConfig)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed + rank)

    run = prepare(config, emit=emit)
    config, net, ckpt = run.config, run.net, run.ckpt
    device = resolve_device(config.device)
    if world > 1 and device == "cuda":
        device = f"cuda:{local_rank}"
    net.to(device)
    anchor = {k: v.to(device) for k, v in run.anchor.items()} if run.anchor else None
    frame_rate = ckpt.features.frame_rate_hz
    loss_fn = build_loss(config.loss, frame_rate_hz=frame_rate)
    for name, param in net.named_parameters():
        param.requires_grad_(not (config.freeze_frontend and _is_frontend(name)))
    trainable = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=config.lr, weight_decay=config.weight_decay)
    crop_frames = int(round(config.crop_s * frame_rate))
    sampler = CropSampler(run.train_tracks, crop_frames=crop_frames, rng=np.random.default_rng([config.seed, rank, 1]),
                          shares=source_shares(config))
    aug_rng = np.random.default_rng([config.seed, rank, 2])
    track_sources = np.array([track.source for track in run.train_tracks])  # training set of each track
    progress, best_state = Progress(), _copy_state(net)
    if resume:
        progress, best_state = load_state(state_dir, rank=rank, net=net, optimizer=optimizer,
                                          sampler_rng=sampler.rng, aug_rng=aug_rng, device=device)
    model = _wrap(net, world, device, local_rank, config.compile)
    use_amp = config.amp and device.startswith("cuda")
    if rank == 0:
        output.mkdir(parents=True, exist_ok=True)
    log_path = output / METRICS_LOG
    if resume:  # records written after the saved state (an interrupted validation) are redone
        _truncate_jsonl(log_path, progress.step)

    def save(step: int) -> None:
        progress.step = step
        if rank == 0:
            save_state(state_dir, config=config, net=net, optimizer=optimizer, best_state=best_state,
                       progress=progress)
        save_random_state(state_dir, rank, step, sampler.rng, aug_rng)

    step, done, at_start = progress.step, progress.step, None
    try:
        for step in range(progress.step, run.total_steps):
            at_start = (sampler.rng.bit_generator.state, aug_rng.bit_generator.state, torch.get_rng_state())
            head_only = step < run.head_only_steps
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, config, run.total_steps)
            model.train()
            logmel, targets, mask, chosen = sampler.sample(config.batch_size)
            if config.augment.mixup_prob > 0:
                logmel, targets, mask = _mixup(logmel, targets, mask, config.augment, aug_rng,
                                               sources=track_sources[chosen])
            x = _augment(torch.from_numpy(logmel).to(device), config, ckpt.features, aug_rng)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                logits = model(add_flux(x))
            loss, parts = loss_fn(
                logits.float(), torch.from_numpy(targets).to(device), mask=torch.from_numpy(mask).to(device), step=step,
                softness_frames=_batch_softness(run.train_tracks, chosen, loss_fn, step, frame_rate, device),
            )
            if anchor is not None and config.anchor_weight > 0:
                penalty = sum(((p - anchor[n]) ** 2).sum() for n, p in net.named_parameters() if n in anchor)
                loss = loss + config.anchor_weight * penalty
                parts["anchor"] = float(penalty.detach())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if head_only:  # Adam skips parameters without a gradient; DDP still reduces them all
                for name, param in net.named_parameters():
                    if not name.startswith("head."):
                        param.grad = None
            torch.nn.utils.clip_grad_norm_([p for p in net.parameters() if p.grad is not None], config.grad_clip)
            optimizer.step()
            done = step + 1
            emit({"kind": "step", "step": step + 1, "total": run.total_steps,
                  "lr": optimizer.param_groups[0]["lr"], **parts})
            if (step + 1) % config.val_every == 0 or step + 1 == run.total_steps:
                stop = False
                if rank == 0:
                    record = validate(net, run, device, step + 1)
                    record["loss"] = parts.get("loss")
                    record["elapsed_s"] = round(time.perf_counter() - started, 1)
                    improved = record["f1_tuned"] > progress.best_f1
                    if improved:
                        progress.best_f1, progress.best_step, progress.stale = record["f1_tuned"], step + 1, 0
                    else:
                        progress.stale += 1
                    if config.keep == "average":
                        if step + 1 > run.head_only_steps:
                            progress.averaged += 1
                            best_state = _running_mean(best_state, net, progress.averaged)
                    elif improved:
                        best_state = _copy_state(net)
                    record.update(best_f1=round(progress.best_f1, 4), best_step=progress.best_step)
                    _append_jsonl(log_path, record)
                    emit(record)
                    stop = bool(config.early_stop and progress.stale >= config.early_stop)
                save(step + 1)
                if _agree(stop, world, device):
                    break
    except KeyboardInterrupt:  # Ctrl-C: keep what was done; an unfinished step is redone on --resume
        if done == step and at_start is not None:
            sampler.rng.bit_generator.state, aug_rng.bit_generator.state, torch_state = at_start
            torch.set_rng_state(torch_state)
        save(done)
        raise
    result = None
    if rank == 0:
        if config.keep == "average" and progress.averaged == 0:  # no validation after the head-only phase
            best_state = _copy_state(net)
        net.load_state_dict(best_state)
        result = finish(net, run, device, steps=step + 1, best_step=progress.best_step,
                        seconds=time.perf_counter() - started, world=world, averaged=progress.averaged)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return result


def prepare(config: TrainConfig, *, emit: Callable[[dict[str, Any]], None]) -> Run:
    """Network, checkpoint config and data for ``config``; raises on any bad user input."""
    base = read_config(resolve_model(config.init)) if config.init is not None else None
    train_entries = find_entries(config.data)
    mix_entries = [find_entries(source.path) for source in config.mix]
    source_shares(config)  # raises on shares that do not add up
    val_entries = find_entries(config.val) if config.val else None
    if val_entries is None:
        train_entries, val_entries = _split_validation(train_entries, config.seed, config.val_share)
    labels = _choose_labels(config, base, train_entries, emit)
    if config.loss.softloc_widen_frames is None:  # keep the init model's output shape (see LossConfig)
        width = target_width(base.loss) if base is not None else 0
        config = replace(config, loss=replace(config.loss, softloc_widen_frames=width))
    net, ckpt, anchor = _build_model(config, labels, base)
    class_map = parse_class_map(config.class_map, drums=ckpt.drums) if config.class_map else (
        pitched_class_map(ckpt.labels) if ckpt.pitched else None)
    config = replace(config, features=ckpt.features)
    feature_module = LogMelFlux(ckpt.features)
    cache_dir = Path(config.cache_dir) if config.cache_dir else None
    train_tracks, source_summaries = [], []
    for source, entries in enumerate([train_entries, *mix_entries]):
        tracks, summary = load_tracks(
            entries, classes=labels, feature_module=feature_module, class_map=class_map,
            label_noise_s=config.label_noise_s, label_shift_s=config.label_shift_s, seed=config.seed,
            cache_dir=cache_dir, require_every_class=not ckpt.pitched and not config.mix,
            augment=config.augment, allow_pitch=not ckpt.pitched, source=source,
            negatives=source > 0 and config.mix[source - 1].negatives,
        )
        train_tracks += tracks
        source_summaries.append(summary)
    train_summary = _combined(source_summaries, labels, require_every_class=not ckpt.pitched)
    val_tracks, val_summary = load_tracks(val_entries, classes=labels, feature_module=feature_module,
                                          class_map=class_map, cache_dir=cache_dir, require_every_class=False)
    emit({"kind": "data", "train": asdict(train_summary), "val": asdict(val_summary),
          "mix": [asdict(summary) for summary in source_summaries[1:]]})
    ckpt = replace(ckpt, classes=_notes_from_data(ckpt.classes, train_tracks))
    spread, stored = None, None
    base_hits: dict[Path, list[Event]] = {}  # the init model's detections per file, for both steps below
    if config.auto_softness:  # `softloc tap --calibrate` measured the taps; else align them to the base model
        stored = pooled_tap_spread(entry.annotation for entry in train_entries)
        if stored is not None:
            config = replace(config, loss=replace(config.loss, softness_s=suggest_softness(stored), softness_end_s=None))
            emit({"kind": "softness", "spread": None, "stored_sigma_s": stored, "softness_s": config.loss.softness_s})
        elif base is not None:
            spread = measure_tap_spread(net, [t for t in train_tracks if t.copy == 0], labels=labels, base=base,
                                        cache=base_hits)
            if spread is not None:
                config = replace(config, loss=replace(config.loss, softness_s=spread.softness_s, softness_end_s=None))
            emit({"kind": "softness", "spread": asdict(spread) if spread else None,
                  "softness_s": config.loss.softness_s})
    snap = None
    if config.snap_taps and base is not None and not (config.label_noise_s or config.label_shift_s):
        # (experiments jitter exact labels on purpose: snapping them back would undo the experiment)
        sigma = spread.sigma_s if spread else (stored if stored is not None else config.loss.softness_s)
        train_tracks, val_tracks, snap = _snap_labels(net, config, train_tracks, val_tracks, labels=labels, base=base,
                                                      window_s=snap_window(sigma),
                                                      offset_s=spread.offset_s if spread else 0.0, cache=base_hits)
        new_classes = [label for label in labels if label not in base.labels]  # their taps cannot snap
        if config.snapped_softness_s > 0 and snap["snapped"] and not new_classes:
            config = replace(config, loss=replace(config.loss, softness_s=config.snapped_softness_s, softness_end_s=None))
        snap["softness_s"] = config.loss.softness_s
        emit({"kind": "snap", **snap})
    total_steps = _total_steps(config, train_tracks)
    head_only = config.head_only_steps
    if head_only < 0:
        head_only = total_steps // 5 if (base is not None and train_summary.hours < 10 / 60) else 0
    summaries = {"train_data": asdict(train_summary), "val_data": asdict(val_summary)}
    if stored is not None:
        summaries["stored_tap_sigma_s"] = round(stored, 4)
    if snap is not None:
        summaries["snapped_taps"] = snap
    if config.mix:
        summaries["sources"] = [{"path": path, "share": share, **asdict(summary)} for path, share, summary
                                in zip([config.data] + [m.path for m in config.mix],
                                       source_shares(config).values(), source_summaries)]
    return Run(config, labels, net, ckpt, train_tracks, val_tracks, summaries, total_steps, head_only, spread, anchor)


def validate(net, run: Run, device: str, step: int) -> dict[str, Any]:
    """Validation F1 at the stored and at calibrated thresholds (the latter picks the best model)."""
    net.eval()
    labels, rate, decode = run.labels, run.ckpt.features.frame_rate_hz, run.ckpt.decode
    acts = [activations_from_logmel(net, t.logmel, device, frame_rate_hz=rate) for t in run.val_tracks]
    refs = [t.events for t in run.val_tracks]
    window = _calibration_window(run.config)
    scores = score_decoded(acts, refs, labels=labels, frame_rate_hz=rate, decode=decode,
                           window_s=run.config.val_window_s)
    tuned = calibrate(acts, refs, labels=labels, frame_rate_hz=rate, base=decode, window_s=window,
                      smooth_grid=[decode.smooth_s], rule=_calibration_rule(run.config))
    f1 = score_decoded(acts, refs, labels=labels, frame_rate_hz=rate, decode=tuned, window_s=window).pooled.overall.f1
    return {"kind": "val", "step": step, "f1_tuned": round(f1, 4), "f1_default": round(scores.pooled.overall.f1, 4),
            "per_class": {k: round(v.f1, 4) for k, v in scores.pooled.classes.items()},
            "peak_share": peak_mass_share(acts, refs, labels=labels, frame_rate_hz=rate)}


def finish(net, run: Run, device: str, *, steps: int, best_step: int, seconds: float, world: int,
           averaged: int = 0) -> TrainResult:
    """Calibrate the decode settings on validation data and write the model directory."""
    config, labels, rate = run.config, run.labels, run.ckpt.features.frame_rate_hz
    net.eval()
    tracks = _calibration_tracks(run)
    by_audio = {t.entry.audio: activations_from_logmel(net, t.logmel, device, frame_rate_hz=rate) for t in tracks}
    acts = [by_audio[t.entry.audio] for t in run.val_tracks]
    refs = [t.events for t in run.val_tracks]
    decode = run.ckpt.decode
    if config.calibrate:
        # Loose taps cannot place a global offset: in scripts/finetune_demo.py an offset taken
        # from them moved hits by 15 ms, so it is calibrated only on a separate --val set.
        decode = calibrate([by_audio[t.entry.audio] for t in tracks], [t.events for t in tracks], labels=labels,
                           frame_rate_hz=rate, base=decode, window_s=_calibration_window(config),
                           offset=bool(config.val), rule=_calibration_rule(config))
    final = score_decoded(acts, refs, labels=labels, frame_rate_hz=rate, decode=decode, window_s=config.val_window_s)
    scores = {"validation": final.to_dict(), "window_s": config.val_window_s,
              "peak_share": peak_mass_share(acts, refs, labels=labels, frame_rate_hz=rate)}
    training = {"config": _provenance(config), **run.summaries, "steps": steps, "best_step": best_step,
                "seconds": round(seconds, 1), "device": device, "world_size": world}
    if averaged:
        training["averaged_validations"] = averaged
    if run.tap_spread is not None:
        training["tap_spread"] = asdict(run.tap_spread)
    output = Path(config.output)
    ckpt = replace(run.ckpt, name=config.name or output.resolve().name, description=config.description,
                   decode=decode, loss=asdict(config.loss), scores=scores, training=training)
    save_checkpoint(output, net.to("cpu"), ckpt)
    return TrainResult(output, steps, best_step, scores, decode, seconds, run.tap_spread, averaged)


def base_detections(net, tracks, *, labels: list[str], base: CheckpointConfig,
                    cache: dict[Path, list[Event]] | None = None) -> list[list[Event]]:
    """The init model's hits on each original (copy 0) track, decoded with its stored settings
    (classes it knows; ``net`` still holds the init model's weights for them). ``cache`` (audio
    path → hits) keeps them between calls: the spread estimate and snapping both need them."""
    known = [label for label in labels if label in base.labels]
    if not known:
        return [[] for _ in tracks]
    cache = {} if cache is None else cache
    rate = base.features.frame_rate_hz
    columns = [labels.index(label) for label in known]
    for track in tracks:
        if track.entry.audio not in cache:
            acts = activations_from_logmel(net, track.logmel, "cpu", frame_rate_hz=rate)[:, columns]
            cache[track.entry.audio] = decode_activations(acts, frame_rate_hz=rate, labels=known, config=base.decode)
    return [cache[track.entry.audio] for track in tracks]


def measure_tap_spread(net, tracks, *, labels: list[str], base: CheckpointConfig,
                       cache: dict[Path, list[Event]] | None = None) -> TapSpread | None:
    """How far the training labels sit from the init model's own detections (classes it knows)."""
    known = [label for label in labels if label in base.labels]
    if not known:
        return None
    detections = base_detections(net, tracks, labels=labels, base=base, cache=cache)
    taps = [[e for e in track.events if e.label in known] for track in tracks]
    spread = estimate_tap_spread(taps, detections)
    return spread if spread.n_matched else None


SNAP_WINDOW_S = (0.030, 0.250)


def snap_window(sigma_s: float) -> float:
    """How far a tap may be moved: twice the taps' spread, within 30-250 ms. A tap farther than
    that from every hit of its class more likely marks a hit the model missed."""
    low, high = SNAP_WINDOW_S
    return round(min(max(2 * sigma_s, low), high), 4) if math.isfinite(sigma_s) else high


def _snap_labels(net, config: TrainConfig, train_tracks, val_tracks, *, labels, base, window_s, offset_s, cache):
    """The taps (training set, and the validation split taken from it) snapped onto the init
    model's hits; other training sets and a separate --val set are left as annotated."""
    own = [i for i, t in enumerate(train_tracks) if t.source == 0]
    snapped, count = snap_tracks(net, [train_tracks[i] for i in own], labels=labels, base=base,
                                 max_offset_s=window_s, offset_s=offset_s, cache=cache)
    train_tracks = list(train_tracks)
    for i, track in zip(own, snapped):
        train_tracks[i] = track
    if not config.val:
        val_tracks, val_count = snap_tracks(net, val_tracks, labels=labels, base=base, max_offset_s=window_s,
                                            offset_s=offset_s, cache=cache)
        if not {t.entry.audio for t in val_tracks} <= {t.entry.audio for t in train_tracks}:
            count += val_count  # a split, not the training files themselves
    return train_tracks, val_tracks, {"taps": count.n_taps, "snapped": count.n_snapped, "window_s": window_s,
                                      "offset_s": round(offset_s, 4)}


def snap_tracks(net, tracks, *, labels: list[str], base: CheckpointConfig, max_offset_s: float,
                offset_s: float = 0.0, cache: dict[Path, list[Event]] | None = None) -> tuple[list, SnapCount]:
    """``tracks`` with every tap moved onto the init model's matching hit (:mod:`softloc_cli.tap_snap`;
    the others lose the taps' lag ``offset_s``). Augmented copies follow their original."""
    originals = [t for t in tracks if t.copy == 0]
    detections = base_detections(net, originals, labels=labels, base=base, cache=cache)
    snapped, total = {}, SnapCount()
    for track, found in zip(originals, detections):
        events, count = snap_events(track.events, found, max_offset_s=max_offset_s, offset_s=offset_s)
        snapped[track.entry.audio] = events
        total += count
    rate = base.features.frame_rate_hz
    out = []
    for track in tracks:
        events = [replace(e, time_s=e.time_s * track.time_scale) for e in snapped[track.entry.audio]]
        times = np.array([e.time_s for e in events])
        out.append(replace(track, events=events, targets=frame_targets(events, labels, len(track.logmel), rate, times)))
    return out, total


def _check_output(output: Path, resume: bool) -> None:
    if not str(output) or str(output) == ".":
        raise ConfigError("no output directory given (-o MODEL_DIR)")
    if resume:
        if not (output / STATE_DIR / "state.json").is_file():
            raise ConfigError(f"nothing to resume in {output} (no {STATE_DIR}/state.json)")
    elif (output / "config.json").exists() or (output / STATE_DIR).exists():
        raise ConfigError(f"{output} already holds a model; choose another -o or pass --resume")


def _choose_labels(config: TrainConfig, base: CheckpointConfig | None, entries, emit) -> list[str]:
    """``--classes`` if given; else the init model's classes plus new labels in the annotations;
    else every label the annotations use (sorted)."""
    if config.classes:
        return list(dict.fromkeys(expand_pitch_ranges(config.classes)))
    if base is not None and (base.pitched or base.labels == [ONSET_CLASS]):
        return base.labels
    class_map = parse_class_map(config.class_map) if config.class_map else None
    counts: Counter = Counter()
    for entry in entries:
        counts.update(e.label for e in read_annotations(entry.annotation, class_map=class_map))
    if base is None:
        labels = sorted(counts)
    else:
        known = {label.lower() for label in base.labels}
        labels = base.labels + sorted(label for label in counts if label.lower() not in known)
    emit({"kind": "classes", "classes": labels, "counts": {label: counts.get(label, 0) for label in labels},
          "new": [label for label in labels if base is not None and label not in base.labels]})
    return labels


def _build_model(config: TrainConfig, labels: list[str], base: CheckpointConfig | None):
    """Network, checkpoint config and anchor weights, from scratch or from ``config.init``
    (the matching output rows are kept; new classes get fresh rows)."""
    import torch

    if base is None:
        model_config = replace(config.model, n_classes=len(labels), n_mels=config.features.n_mels,
                               n_windows=len(config.features.n_ffts))
        classes = [ClassInfo(name, _default_note(name)) for name in labels]
        drums = config.drums and pitched_class_map(labels) is None
        ckpt = CheckpointConfig(model=model_config, features=config.features, classes=classes, drums=drums)
        return SoftlocNet(model_config), ckpt, None
    old = SoftlocNet(base.model)
    load_weights(resolve_model(config.init), old)
    model_config = replace(base.model, n_classes=len(labels))
    net = SoftlocNet(model_config)
    net.load_state_dict({k: v for k, v in old.state_dict().items() if not k.startswith("head.")}, strict=False)
    old_index = {c.name: i for i, c in enumerate(base.classes)}
    with torch.no_grad():
        for row, name in enumerate(labels):
            if name in old_index:
                net.head.weight[row] = old.head.weight[old_index[name]]
                net.head.bias[row] = old.head.bias[old_index[name]]
    notes = {c.name: c.midi_note for c in base.classes}
    classes = [ClassInfo(name, notes.get(name, _default_note(name))) for name in labels]
    ckpt = CheckpointConfig(model=model_config, features=base.features, classes=classes, drums=base.drums,
                            decode=base.decode)
    anchor = {k: v.detach().clone() for k, v in net.state_dict().items() if not k.startswith("head.")}
    return net, ckpt, anchor


def _total_steps(config: TrainConfig, tracks) -> int:
    """``epochs`` passes, else ``steps``, else a default: 3,000 from scratch; when fine-tuning
    ``FINETUNE_PASSES`` passes over the audio within ``FINETUNE_STEPS``."""
    crop_frames = int(round(config.crop_s * config.features.frame_rate_hz))
    audio_frames = sum(len(t.logmel) for t in tracks if t.copy == 0)  # a pass: the audio as recorded
    steps_per_pass = audio_frames / (config.batch_size * crop_frames)
    if config.epochs is not None:
        return max(1, math.ceil(config.epochs * steps_per_pass))
    if config.steps:
        return config.steps
    if config.init is None:
        return DEFAULT_STEPS
    low, high = FINETUNE_STEPS
    return int(min(high, max(low, round(FINETUNE_PASSES * steps_per_pass))))


def _is_frontend(name: str) -> bool:
    return name.startswith("conv")


def _augment(x, config: TrainConfig, features: FeatureConfig, rng: np.random.Generator):
    """Random gain and mel shift per crop (exact on cached log-mel features)."""
    import torch

    if config.augment_gain_db > 0:
        gain_db = rng.uniform(-config.augment_gain_db, config.augment_gain_db, size=len(x))
        x = scale_gain(x, torch.from_numpy(10 ** (gain_db / 20)).float().to(x.device), features.log_gain)
    if config.augment_shift_bins > 0:
        shifts = rng.integers(-config.augment_shift_bins, config.augment_shift_bins + 1, size=len(x))
        x = shift_mel(x, shifts.tolist(), features.n_mels)
    return x


def _mixup(logmel: np.ndarray, targets: np.ndarray, mask: np.ndarray, augment: AugmentConfig,
           rng: np.random.Generator, *, sources: np.ndarray | None = None):
    """Add another crop of the batch to some crops: two sources sounding at once, both sets of events.

    Magnitudes add in the linear mel domain (phase ignored), which is what cached log-mel allows.
    ``sources`` (training set of each crop) limits partners to ``[[mix]]`` crops when
    ``augment.mixup_partners == "mix"``; a crop without another eligible partner stays as it is.
    """
    n = len(logmel)
    chosen = np.flatnonzero(rng.random(n) < augment.mixup_prob) if n > 1 else []
    if not len(chosen):
        return logmel, targets, mask
    from_mix = augment.mixup_partners == "mix"
    eligible = (np.asarray(sources) > 0) if from_mix and sources is not None else np.full(n, not from_mix)
    originals = logmel.copy(), targets.copy(), mask.copy()  # partners are added as they were drawn
    logmel, targets, mask = logmel.copy(), targets.copy(), mask.copy()
    for item in chosen:
        if from_mix:
            candidates = np.flatnonzero(eligible & (np.arange(n) != item))
            if not len(candidates):
                continue
            partner = int(rng.choice(candidates))
        else:
            partner = (item + int(rng.integers(1, n))) % n  # any other crop of the batch
        gain = 10 ** (rng.uniform(*augment.mixup_gain_db) / 20)
        logmel[item] = np.log1p(np.expm1(logmel[item]) + gain * np.expm1(originals[0][partner]))
        targets[item] += originals[1][partner]
        mask[item] |= originals[2][partner]
    return logmel, targets, mask


def source_shares(config: TrainConfig) -> dict[int, float]:
    """Share of the crops per training set: ``mix`` sources as given, ``data`` the rest."""
    if not config.mix:
        return {0: 1.0}
    given = [source.share for source in config.mix]
    if any(not 0 < share < 1 for share in given) or sum(given) >= 1:
        raise ConfigError(f"mix shares must be between 0 and 1 and leave a share for DATA; got {given}")
    return {0: 1.0 - sum(given), **{index + 1: share for index, share in enumerate(given)}}


def _combined(summaries, labels: list[str], *, require_every_class: bool) -> DatasetSummary:
    """One summary of every training set; a class must appear in one of them."""
    counts = {label: sum(s.events.get(label, 0) for s in summaries) for label in labels}
    ignored: Counter = Counter()
    for summary in summaries:
        ignored.update(summary.ignored_labels)
    missing = [label for label, n in counts.items() if n == 0]
    if missing and (require_every_class or len(missing) == len(labels)):
        raise DatasetError(f"class(es) {', '.join(missing)} never appear in the annotations of any training set")
    return DatasetSummary(files=sum(s.files for s in summaries), hours=round(sum(s.hours for s in summaries), 4),
                          events=counts, ignored_labels=dict(ignored), augmented_copies=summaries[0].augmented_copies)


def _wrap(net, world: int, device: str, local_rank: int, compile_net: bool):
    """DistributedDataParallel under torchrun, torch.compile on request."""
    import torch

    model = net
    if world > 1:
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        model = DistributedDataParallel(net, device_ids=[local_rank] if device.startswith("cuda") else None)
    return torch.compile(model) if compile_net else model


def _agree(stop: bool, world: int, device: str) -> bool:
    """Rank 0's early-stop decision, shared with every rank (they must stop at the same step)."""
    if world == 1:
        return stop
    import torch
    import torch.distributed as dist

    flag = torch.tensor([1.0 if stop else 0.0], device=device)
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def _copy_state(net) -> dict:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _running_mean(mean: dict, net, count: int) -> dict:
    """``mean`` of ``count - 1`` weight snapshots, updated with ``net``'s (counters: the latest)."""
    current = _copy_state(net)
    if count == 1:
        return current
    for name, value in current.items():
        if value.is_floating_point():
            mean[name] += (value - mean[name]) / count
        else:
            mean[name] = value
    return mean


def _split_validation(entries, seed: int, share: float = 0.1):
    """Hold out ``share`` of the files (at least one, never all) when no validation set is given."""
    if len(entries) < 2:
        return entries, entries
    order = np.random.default_rng(seed).permutation(len(entries))
    n_val = min(max(1, int(len(entries) * share + 1e-9)), len(entries) - 1)
    val = [entries[i] for i in sorted(order[:n_val])]
    train = [entries[i] for i in sorted(order[n_val:])]
    return train, val


def _distributed() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from torchrun's environment; (0, 0, 1) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world


def _default_note(name: str) -> int | None:
    if name == ONSET_CLASS:
        return 60  # one-class onset models write their events as middle C
    if name in DEFAULT_DRUM_MAP:
        return DEFAULT_DRUM_MAP[name][0]
    try:
        return label_to_pitch(name)
    except Exception:
        return None


def _calibration_window(config: TrainConfig) -> float:
    """Matching window for threshold calibration. Without a --val set, validation labels are a
    slice of the training annotations, as loose as the taps: a 50 ms window would count hits
    matched to a 60 ms-off tap as misses, so it widens to twice the softness."""
    if config.val:
        return config.val_window_s
    return max(config.val_window_s, 2 * config.loss.softness_s)


def _calibration_tracks(run: Run) -> list:
    """Files to calibrate the final thresholds on: the validation set, or, when counts of taps
    are the evidence (see :func:`_calibration_rule`), every tapped file: a 10% split of a few
    minutes of taps holds too few hits of each class to move a threshold."""
    if _calibration_rule(run.config) == "count":
        seen = {t.entry.audio for t in run.train_tracks}
        return run.train_tracks + [t for t in run.val_tracks if t.entry.audio not in seen]
    return run.val_tracks


def _calibration_rule(config: TrainConfig) -> str:
    """Counts, not F1, when validation labels are taps (no separate --val set) of a fine-tuning run."""
    return "count" if config.init is not None and not config.val else "f1"


def _notes_from_data(classes: list[ClassInfo], tracks) -> list[ClassInfo]:
    """Fill a class's missing MIDI note with the note its training events carry most often."""
    notes: dict[str, Counter] = {}
    for track in tracks:
        for event in track.events:
            if event.midi_note is not None:
                notes.setdefault(event.label, Counter())[event.midi_note] += 1
    return [
        c if c.midi_note is not None or c.name not in notes else ClassInfo(c.name, notes[c.name].most_common(1)[0][0])
        for c in classes
    ]


def _batch_softness(tracks, chosen: np.ndarray, loss_fn, step: int, frame_rate: float, device):
    """Per-crop softness in frames when the manifest gives per-file values (paper 4.4), else None.

    Files without a value use the loss's scheduled softness at ``step``.
    """
    if all(t.entry.softness_s is None for t in tracks):
        return None
    import torch

    default = loss_fn.softness_frames_at(step) if hasattr(loss_fn, "softness_frames_at") else 0.0
    values = [tracks[i].entry.softness_s * frame_rate if tracks[i].entry.softness_s is not None else default
              for i in chosen]
    return torch.tensor(values, dtype=torch.float32, device=device)


def _provenance(config: TrainConfig) -> dict[str, Any]:
    data = asdict(config)
    data.pop("loss"), data.pop("model"), data.pop("features")
    return data


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def _truncate_jsonl(path: Path, step: int) -> None:
    """Drop the records of ``path`` logged after ``step``."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line).get("step", 0) <= step]
    if len(kept) < len(lines):
        with atomic_write(path, "w") as fh:
            fh.writelines(line + "\n" for line in kept)
