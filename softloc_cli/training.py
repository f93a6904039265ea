"""The training loop: dataset → model → loss → optimizer → validation → checkpoint.

Reads top to bottom in :func:`train`. Small pure helpers (``lr_at``, ``predict``,
``score_decoded``, ``calibrate``) keep it short. Validation decodes whole files and scores them
with mir_eval (per class, 50 ms); the best model is kept, and at the end the decode thresholds,
smoothing and a global time offset are calibrated on the validation set and stored in
``config.json`` with the scores and the training provenance. ``--resume`` restores weights,
optimizer, schedule position and every random state from ``MODEL_DIR/.train_state`` (safetensors
+ JSON, no pickle). Under ``torchrun`` the loop runs data-parallel; only rank 0 validates and writes.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .checkpoint import CheckpointConfig, ClassInfo, read_config, save_checkpoint
from .configs import from_dict
from .decode import DecodeConfig, decode_activations
from .errors import ConfigError, DatasetError
from .events import Event
from .features import FeatureConfig, add_flux, scale_gain, shift_mel
from .losses import LossConfig
from .model import ModelConfig

DEFAULT_DRUM_CLASSES = ["kick", "snare", "hihat"]
STATE_DIR = ".train_state"
METRICS_LOG = "metrics.jsonl"
THRESHOLD_GRID = [0.02, 0.03, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
SMOOTH_GRID_S = [0.0, 0.01, 0.02]  # 0 suits impulse-like outputs; 10–20 ms suits broad BCE peaks
MIN_CALIBRATION_EVENTS = 30  # fewer validation events of a class than this: keep its current threshold


@dataclass
class TrainConfig:
    data: str = ""  # dataset folder or manifest CSV
    val: str | None = None  # validation set; default: 10% of the training files
    output: str = ""  # model directory to write
    init: str | None = None  # model spec to fine-tune (bundled, path, hf://); None = from scratch
    classes: list[str] = field(default_factory=list)  # default: the init model's, else kick/snare/hihat
    class_map: str | None = None  # e.g. "kick=35,36 snare=38,40"; default: GM drum map / names as written
    drums: bool = True  # events are drum hits (MIDI channel 10); classes that are all pitch names
    # (C4, or a range A0..C8) always make a pitched (multi-pitch) model
    name: str = ""  # model name stored in config.json (default: the output folder's name)
    description: str = ""
    loss: LossConfig = field(default_factory=LossConfig)
    model: ModelConfig = field(default_factory=ModelConfig)  # architecture when training from scratch
    features: FeatureConfig = field(default_factory=FeatureConfig)
    steps: int = 3000  # optimizer steps (the prototype: 3,000 steps ≈ 15 CPU-minutes)
    epochs: float | None = None  # if set, overrides steps: passes over the training audio
    batch_size: int = 16
    crop_s: float = 2.56  # seconds per training crop
    lr: float = 1e-3  # Adam
    weight_decay: float = 0.0
    lr_schedule: str = "cosine"  # "cosine" | "step" (÷10 at 60% and 85%) | "constant"
    warmup_steps: int = 100
    grad_clip: float = 10.0  # global norm (the authors' value)
    val_every: int = 250  # steps between validations
    early_stop: int = 0  # stop after this many validations without improvement (0 = never)
    head_only_steps: int = -1  # fine-tuning: train only the output layer first (-1 = auto: 20% if < 10 min of data)
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


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Read a TOML recipe into a plain dict (validated later against TrainConfig)."""
    import tomllib

    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"recipe {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def make_config(recipe: dict[str, Any] | None = None, **overrides: Any) -> TrainConfig:
    """TrainConfig from a recipe dict plus flag overrides (nested ``loss.x`` keys allowed)."""
    data: dict[str, Any] = json.loads(json.dumps(recipe or {}))
    for key, value in overrides.items():
        if value is None:
            continue
        target = data
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return from_dict(TrainConfig, data, where="training config")


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


def predict(net, logmel: np.ndarray, device: str, *, frame_rate_hz: float, chunk_frames: int = 6000) -> np.ndarray:
    """Probabilities ``(n_frames, n_classes)`` for one file's cached log-mel, in chunks with the
    same context as :func:`softloc_cli.inference.compute_activations`."""
    import torch

    from .inference import CONTEXT_S

    context = int(CONTEXT_S * frame_rate_hz)
    out = []
    with torch.inference_mode():
        for start in range(0, len(logmel), chunk_frames):
            first, stop = max(0, start - context), min(len(logmel), start + chunk_frames)
            last = min(len(logmel), stop + context)
            x = torch.from_numpy(np.asarray(logmel[first:last], dtype=np.float32))[None].to(device)
            probs = torch.sigmoid(net(add_flux(x)).float())[0].cpu().numpy()
            out.append(probs[start - first : start - first + stop - start])
    return np.concatenate(out)


def score_decoded(activations: list[np.ndarray], references: list[list[Event]], *, labels: list[str],
                  frame_rate_hz: float, decode: DecodeConfig, window_s: float):
    """Pooled scores of decoded activations against reference events."""
    from .metrics import pool_scores, score_events

    per_file = []
    for acts, ref in zip(activations, references):
        est = decode_activations(acts, frame_rate_hz=frame_rate_hz, labels=labels, config=decode)
        per_file.append(score_events(ref, est, window_s=window_s, classes=labels))
    return pool_scores(per_file)


def calibrate(activations, references, *, labels, frame_rate_hz, base: DecodeConfig, window_s: float,
              smooth_grid: list[float] | None = None, offset: bool = True) -> DecodeConfig:
    """Per-class thresholds, one smoothing width and a global time offset that maximise
    validation F1 (pooled counts); the offset is minus the median deviation of matched hits.

    A class with fewer than ``MIN_CALIBRATION_EVENTS`` validation events cannot pin its own
    threshold down: it keeps its threshold in ``base`` (for fine-tuning: the initial model's) or,
    without one, gets the single threshold that maximises F1 over all classes together (the rarely
    played outer keys of a piano model). With ``offset=False`` the time offset of ``base`` is kept.
    """
    best_total, best = -1.0, base
    counts = {label: sum(1 for ref in references for e in ref if e.label == label) for label in labels}
    rare = [label for label in labels if counts[label] < MIN_CALIBRATION_EVENTS]
    for smooth_s in smooth_grid if smooth_grid is not None else SMOOTH_GRID_S:
        default = base.threshold
        if any(label not in base.class_thresholds for label in rare):
            default = _best_threshold(activations, references, labels=labels, frame_rate_hz=frame_rate_hz,
                                      decode=replace(base, class_thresholds={}, smooth_s=smooth_s, time_offset_s=0.0),
                                      window_s=window_s)[0]
        thresholds = {label: base.class_thresholds[label] for label in rare if label in base.class_thresholds}
        total = 0.0
        for label in labels:
            if label in rare:
                continue
            index = labels.index(label)
            threshold, f1 = _best_threshold(
                [a[:, index : index + 1] for a in activations], [[e for e in ref if e.label == label] for ref in references],
                labels=[label], frame_rate_hz=frame_rate_hz,
                decode=replace(base, class_thresholds={}, smooth_s=smooth_s, time_offset_s=0.0), window_s=window_s)
            thresholds[label] = threshold
            total += f1
        if total > best_total:
            best_total = total
            best = replace(base, threshold=default, class_thresholds=thresholds, smooth_s=smooth_s, time_offset_s=0.0)
    if not offset:
        return replace(best, time_offset_s=base.time_offset_s)
    scores = score_decoded(activations, references, labels=labels, frame_rate_hz=frame_rate_hz, decode=best,
                           window_s=window_s)
    median = scores.pooled.overall.median_dev_s
    return replace(best, time_offset_s=round(-(median or 0.0), 4))


def _best_threshold(activations, references, *, labels, frame_rate_hz, decode: DecodeConfig,
                    window_s: float) -> tuple[float, float]:
    """The threshold of ``THRESHOLD_GRID`` (one for every class) with the best pooled F1, and that F1."""
    f1s = [score_decoded(activations, references, labels=labels, frame_rate_hz=frame_rate_hz,
                         decode=replace(decode, threshold=threshold), window_s=window_s).pooled.overall.f1
           for threshold in THRESHOLD_GRID]
    index = int(np.argmax(f1s))
    return THRESHOLD_GRID[index], f1s[index]


def peak_mass_share(activations: list[np.ndarray], references: list[list[Event]], *, labels: list[str],
                    frame_rate_hz: float, radius: int = 5) -> float | None:
    """Median over reference hits of the share of activation mass (±``radius`` frames) lying in
    the peak frame: 1.0 means impulse-like outputs (mass convergence), ≈ 0.2 a smeared bump."""
    shares = []
    for acts, ref in zip(activations, references):
        for event in ref:
            column = acts[:, labels.index(event.label)]
            centre = int(round(event.time_s * frame_rate_hz))
            window = column[max(0, centre - radius) : centre + radius + 1]
            if window.size and window.sum() > 0.1:
                shares.append(float(window.max() / window.sum()))
    return float(np.median(shares)) if shares else None


def _split_validation(entries, seed: int):
    """Hold out 10% of the files (at least one) when no validation set is given."""
    if len(entries) < 2:
        return entries, entries
    order = np.random.default_rng(seed).permutation(len(entries))
    n_val = max(1, len(entries) // 10)
    val = [entries[i] for i in sorted(order[:n_val])]
    train = [entries[i] for i in sorted(order[n_val:])]
    return train, val


def _distributed() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from torchrun's environment; (0, 0, 1) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world


def _build_model(config: TrainConfig, labels: list[str]):
    """Network and checkpoint config, from scratch or from ``config.init`` (matching heads kept)."""
    from .classmap import pitched_class_map
    from .hub import resolve_model
    from .model import SoftlocNet

    if config.init is None:
        model_config = replace(config.model, n_classes=len(labels), n_mels=config.features.n_mels)
        net = SoftlocNet(model_config)
        features = config.features
        classes = [ClassInfo(name, _default_note(name)) for name in labels]
        drums = config.drums and pitched_class_map(labels) is None
        return net, CheckpointConfig(model=model_config, features=features, classes=classes, drums=drums)
    from .checkpoint import load_weights

    directory = resolve_model(config.init)
    base = read_config(directory)
    old = SoftlocNet(base.model)
    load_weights(directory, old)
    model_config = replace(base.model, n_classes=len(labels))
    net = SoftlocNet(model_config)
    state = {k: v for k, v in old.state_dict().items() if not k.startswith("head.")}
    net.load_state_dict(state, strict=False)
    old_index = {c.name: i for i, c in enumerate(base.classes)}
    import torch

    with torch.no_grad():
        for row, name in enumerate(labels):
            if name in old_index:
                net.head.weight[row] = old.head.weight[old_index[name]]
                net.head.bias[row] = old.head.bias[old_index[name]]
    notes = {c.name: c.midi_note for c in base.classes}
    classes = [ClassInfo(name, notes.get(name, _default_note(name))) for name in labels]
    return net, CheckpointConfig(model=model_config, features=base.features, classes=classes, drums=base.drums,
                                 decode=base.decode)


def _default_note(name: str) -> int | None:
    from .classmap import DEFAULT_DRUM_MAP, label_to_pitch
    from .data import ONSET_CLASS

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


def _notes_from_data(classes: list[ClassInfo], tracks) -> list[ClassInfo]:
    """Fill a class's missing MIDI note with the note its training events carry most often."""
    from collections import Counter

    notes: dict[str, Counter] = {}
    for track in tracks:
        for event in track.events:
            if event.midi_note is not None:
                notes.setdefault(event.label, Counter())[event.midi_note] += 1
    return [
        c if c.midi_note is not None or c.name not in notes else ClassInfo(c.name, notes[c.name].most_common(1)[0][0])
        for c in classes
    ]


def _class_map(config: TrainConfig, ckpt: CheckpointConfig):
    """How annotation labels become classes: ``--class-map`` if given; for a multi-pitch model
    one class per pitch, matched by each event's MIDI note (``0.5,onset,60`` is C4)."""
    from .classmap import parse_class_map, pitched_class_map

    if config.class_map:
        return parse_class_map(config.class_map, drums=ckpt.drums)
    return pitched_class_map(ckpt.labels) if ckpt.pitched else None


def _init_labels(config: TrainConfig) -> list[str]:
    from .classmap import expand_pitch_ranges

    if config.classes:
        return list(dict.fromkeys(expand_pitch_ranges(config.classes)))
    if config.init is not None:
        from .hub import resolve_model

        return read_config(resolve_model(config.init)).labels
    return list(DEFAULT_DRUM_CLASSES)


def train(config: TrainConfig, *, resume: bool = False,
          on_event: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Train a model as described by ``config`` and write it to ``config.output``.

    ``on_event`` receives dicts with ``kind`` ``"data"`` (dataset summaries), ``"step"``
    (step, loss parts, lr) and ``"val"`` (step, F1 per class, best so far).

    Raises
    ------
    DatasetError, AnnotationError, AudioLoadError, ConfigError, ModelNotFoundError
        Before anything is written to ``config.output``.
    """
    import torch

    from .data import CropSampler, find_entries, load_tracks
    from .features import LogMelFlux
    from .losses import build_loss
    from .inference import resolve_device

    emit = on_event or (lambda event: None)
    started = time.perf_counter()
    rank, local_rank, world = _distributed()
    if not config.output:
        raise ConfigError("no output directory given (-o MODEL_DIR)")
    output = Path(config.output)
    state_dir = output / STATE_DIR
    if resume:
        if not (state_dir / "state.json").is_file():
            raise ConfigError(f"nothing to resume in {output} (no {STATE_DIR}/state.json)")
        saved = json.loads((state_dir / "state.json").read_text())
        config = from_dict(TrainConfig, saved["config"], where=f"{state_dir}/state.json")
    elif (output / "config.json").exists() or state_dir.exists():
        raise ConfigError(f"{output} already holds a model; choose another -o or pass --resume")
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed + rank)

    labels = _init_labels(config)
    net, ckpt = _build_model(config, labels)
    class_map = _class_map(config, ckpt)
    config = replace(config, features=ckpt.features)
    feature_module = LogMelFlux(ckpt.features)
    frame_rate = ckpt.features.frame_rate_hz

    # Data: everything that can fail on user input fails here, before MODEL_DIR is touched.
    train_entries = find_entries(config.data)
    if config.val:
        val_entries = find_entries(config.val)
    else:
        train_entries, val_entries = _split_validation(train_entries, config.seed)
    cache_dir = Path(config.cache_dir) if config.cache_dir else None
    train_tracks, train_summary = load_tracks(
        train_entries, classes=labels, feature_module=feature_module, class_map=class_map,
        label_noise_s=config.label_noise_s, label_shift_s=config.label_shift_s, seed=config.seed, cache_dir=cache_dir,
        require_every_class=not ckpt.pitched,
    )
    val_tracks, val_summary = load_tracks(
        val_entries, classes=labels, feature_module=feature_module, class_map=class_map, cache_dir=cache_dir,
        require_every_class=not ckpt.pitched,
    )
    emit({"kind": "data", "train": asdict(train_summary), "val": asdict(val_summary)})
    ckpt = replace(ckpt, classes=_notes_from_data(ckpt.classes, train_tracks))
    crop_frames = int(round(config.crop_s * frame_rate))
    total_steps = config.steps
    if config.epochs is not None:
        frames = sum(len(t.logmel) for t in train_tracks)
        total_steps = max(1, math.ceil(config.epochs * frames / (config.batch_size * crop_frames)))
    head_only = config.head_only_steps
    if head_only < 0:
        head_only = total_steps // 5 if (config.init and train_summary.hours < 10 / 60) else 0

    device = resolve_device(config.device)
    if world > 1 and device == "cuda":
        device = f"cuda:{local_rank}"
    net.to(device)
    loss_fn = build_loss(config.loss, frame_rate_hz=frame_rate)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sampler = CropSampler(train_tracks, crop_frames=crop_frames, rng=np.random.default_rng([config.seed, rank, 1]))
    aug_rng = np.random.default_rng([config.seed, rank, 2])
    start_step, best, stale = 0, {"f1": -1.0, "step": 0}, 0
    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    if resume:
        start_step, best, best_state, stale = _load_state(state_dir, net, optimizer, sampler, aug_rng, device)
    model = net
    if world > 1:
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        model = DistributedDataParallel(net, device_ids=[local_rank] if device.startswith("cuda") else None)
    if config.compile:
        model = torch.compile(model)
    use_amp = config.amp and device.startswith("cuda")
    if rank == 0:
        output.mkdir(parents=True, exist_ok=True)
    log_path = output / METRICS_LOG
    if resume:  # records written after the saved state (an interrupted validation) are redone
        _truncate_jsonl(log_path, start_step)
    step = start_step
    for step in range(start_step, total_steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config, total_steps)
        for name, param in net.named_parameters():
            param.requires_grad_(step >= head_only or name.startswith("head."))
        model.train()
        logmel, targets, mask, chosen = sampler.sample(config.batch_size)
        x = torch.from_numpy(logmel).to(device)
        if config.augment_gain_db > 0:
            gain_db = aug_rng.uniform(-config.augment_gain_db, config.augment_gain_db, size=len(x))
            x = scale_gain(x, torch.from_numpy(10 ** (gain_db / 20)).float().to(device), ckpt.features.log_gain)
        if config.augment_shift_bins > 0:
            shifts = aug_rng.integers(-config.augment_shift_bins, config.augment_shift_bins + 1, size=len(x))
            x = shift_mel(x, shifts.tolist())
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
            logits = model(add_flux(x))
        loss, parts = loss_fn(
            logits.float(), torch.from_numpy(targets).to(device), mask=torch.from_numpy(mask).to(device), step=step,
            softness_frames=_batch_softness(train_tracks, chosen, loss_fn, step, frame_rate, device),
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
        optimizer.step()
        emit({"kind": "step", "step": step + 1, "total": total_steps, "lr": optimizer.param_groups[0]["lr"], **parts})
        last = step + 1 == total_steps
        if rank == 0 and ((step + 1) % config.val_every == 0 or last):
            net.eval()
            acts = [predict(net, t.logmel, device, frame_rate_hz=frame_rate) for t in val_tracks]
            refs = [t.events for t in val_tracks]
            scores = score_decoded(acts, refs, labels=labels, frame_rate_hz=frame_rate, decode=ckpt.decode,
                                   window_s=config.val_window_s)
            window = _calibration_window(config)
            tuned = calibrate(acts, refs, labels=labels, frame_rate_hz=frame_rate, base=ckpt.decode,
                              window_s=window, smooth_grid=[ckpt.decode.smooth_s])
            f1 = score_decoded(acts, refs, labels=labels, frame_rate_hz=frame_rate, decode=tuned,
                               window_s=window).pooled.overall.f1
            improved = f1 > best["f1"]
            if improved:
                best = {"f1": f1, "step": step + 1}
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                stale = 0
            else:
                stale += 1
            record = {"kind": "val", "step": step + 1, "f1_tuned": round(f1, 4),
                      "f1_default": round(scores.pooled.overall.f1, 4), "best_f1": round(best["f1"], 4),
                      "best_step": best["step"], "loss": parts.get("loss"),
                      "per_class": {k: round(v.f1, 4) for k, v in scores.pooled.classes.items()},
                      "peak_share": peak_mass_share(acts, refs, labels=labels, frame_rate_hz=frame_rate),
                      "elapsed_s": round(time.perf_counter() - started, 1)}
            _append_jsonl(log_path, record)
            emit(record)
            _save_state(state_dir, config, net, optimizer, sampler, aug_rng, step + 1, best, best_state, stale)
            # Only rank 0 validates, so under torchrun every rank runs all steps (no early stop).
            if config.early_stop and stale >= config.early_stop and world == 1:
                break
    result = None
    if rank == 0:
        net.load_state_dict(best_state)
        net.eval()
        acts = [predict(net, t.logmel, device, frame_rate_hz=frame_rate) for t in val_tracks]
        refs = [t.events for t in val_tracks]
        decode = ckpt.decode
        if config.calibrate:
            # Loose taps cannot place a global offset: in scripts/finetune_demo.py an offset taken
            # from them moved hits by 15 ms, so it is calibrated only on a separate --val set.
            decode = calibrate(acts, refs, labels=labels, frame_rate_hz=frame_rate, base=decode,
                               window_s=_calibration_window(config), offset=bool(config.val))
        final = score_decoded(acts, refs, labels=labels, frame_rate_hz=frame_rate, decode=decode,
                              window_s=config.val_window_s)
        scores = {"validation": final.to_dict(), "window_s": config.val_window_s,
                  "peak_share": peak_mass_share(acts, refs, labels=labels, frame_rate_hz=frame_rate)}
        ckpt = replace(
            ckpt, name=config.name or output.resolve().name, description=config.description, decode=decode,
            loss=asdict(config.loss), scores=scores,
            training={"config": _provenance(config), "train_data": asdict(train_summary),
                      "val_data": asdict(val_summary), "steps": step + 1, "best_step": best["step"],
                      "seconds": round(time.perf_counter() - started, 1), "device": device, "world_size": world},
        )
        save_checkpoint(output, net.to("cpu"), ckpt)
        result = TrainResult(output, step + 1, best["step"], scores, decode, time.perf_counter() - started)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return result


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
    from .fileio import atomic_write

    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line).get("step", 0) <= step]
    if len(kept) < len(lines):
        with atomic_write(path, "w") as fh:
            fh.writelines(line + "\n" for line in kept)


def _save_state(state_dir: Path, config, net, optimizer, sampler, aug_rng, step, best, best_state, stale) -> None:
    """Everything ``--resume`` needs, as safetensors + JSON (each file written atomically)."""
    import torch
    from safetensors.torch import save

    from .fileio import atomic_write

    state_dir.mkdir(parents=True, exist_ok=True)
    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    tensors.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in best_state.items()})
    opt = optimizer.state_dict()
    for index, values in opt["state"].items():
        for key, value in values.items():
            tensors[f"opt.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    with atomic_write(state_dir / "state.safetensors", "wb") as fh:
        fh.write(save(tensors))
    meta = {"step": step, "best": best, "stale": stale, "config": asdict(config), "param_groups": opt["param_groups"],
            "sampler_rng": sampler.rng.bit_generator.state, "aug_rng": aug_rng.bit_generator.state}
    with atomic_write(state_dir / "state.json", "w") as fh:
        json.dump(meta, fh)


def _load_state(state_dir: Path, net, optimizer, sampler, aug_rng, device):
    from safetensors.torch import load_file

    meta = json.loads((state_dir / "state.json").read_text())
    tensors = load_file(str(state_dir / "state.safetensors"))
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    best_state = {k[5:]: v.to(device) for k, v in tensors.items() if k.startswith("best.")}
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value.to(device) if name != "step" else value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    import torch

    torch.set_rng_state(tensors["rng.torch"])
    sampler.rng.bit_generator.state = meta["sampler_rng"]
    aug_rng.bit_generator.state = meta["aug_rng"]
    return meta["step"], meta["best"], best_state, meta.get("stale", 0)
