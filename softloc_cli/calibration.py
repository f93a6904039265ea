"""Re-tune a trained model's decode settings on annotated audio, without touching its weights.

Thresholds tuned on one kind of audio do not carry to another (a model calibrated on rendered
drums wanted far higher snare thresholds on real recordings), so a handful of annotated takes of
the user's own material is the cheapest adaptation there is: run the model over them, tune the
per-class thresholds, the smoothing and the global time offset exactly as ``softloc train`` does
at the end of training, and save the result as a new model directory.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from .checkpoint import CheckpointConfig, write_config
from .classmap import pitched_class_map
from .data import find_entries, load_tracks
from .decode import DecodeConfig
from .errors import ConfigError
from .hub import WEIGHTS_NAME
from .metrics import PooledScores
from .inference import LoadedModel


@dataclass
class Calibration:
    decode: DecodeConfig
    before: PooledScores  # with the model's stored decode settings
    after: PooledScores  # with the tuned ones
    files: int


def calibrate_model(model: LoadedModel, data: str | Path, *, window_s: float = 0.05, offset: bool = True,
                    fresh: bool = False) -> Calibration:
    """Tune ``model``'s decode on the annotated audio in ``data`` (folder or manifest CSV).

    Classes with too few annotated events there keep the model's thresholds; ``fresh=True``
    drops those first (they get the threshold tuned on all classes together), for re-tuning a
    model on a full validation set after the calibration rule changed.

    ``offset=False`` keeps the stored time offset (use it when the annotations are loose taps:
    a time offset learnt from them moves every hit). The result never scores below the stored
    settings on ``data``.
    """
    from .training import calibrate, predict, score_decoded

    config = model.config
    labels, rate = config.labels, config.features.frame_rate_hz
    tracks, _ = load_tracks(find_entries(data), classes=labels, feature_module=model.features,
                            class_map=pitched_class_map(labels) if config.pitched else None,
                            require_every_class=False)
    activations = [predict(model.net, t.logmel, model.device, frame_rate_hz=rate) for t in tracks]
    references = [t.events for t in tracks]
    before = score_decoded(activations, references, labels=labels, frame_rate_hz=rate, decode=config.decode,
                           window_s=window_s)
    base = replace(config.decode, class_thresholds={}) if fresh else config.decode
    decode = calibrate(activations, references, labels=labels, frame_rate_hz=rate, window_s=window_s, base=base,
                       offset=offset)
    after = score_decoded(activations, references, labels=labels, frame_rate_hz=rate, decode=decode, window_s=window_s)
    if after.pooled.overall.f1 < before.pooled.overall.f1:  # the grid missed the stored values: keep them
        decode, after = config.decode, before
    return Calibration(decode, before, after, len(tracks))


def check_new_directory(output: str | Path) -> None:
    """Refuse to write a model over anything that is already there (checked before the work)."""
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ConfigError(f"{output} exists and is not empty; choose a new directory")


def save_calibrated(model: LoadedModel, calibration: Calibration, output: str | Path, *, data: str) -> Path:
    """Write ``model`` with the tuned decode into a new directory ``output`` (all or nothing)."""
    output = Path(output)
    check_new_directory(output)
    config: CheckpointConfig = replace(
        model.config, decode=calibration.decode,
        scores={**model.config.scores, "calibration": {"data": str(data), "files": calibration.files,
                                                        "before": calibration.before.to_dict(),
                                                        "after": calibration.after.to_dict()}},
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        shutil.copyfile(model.directory / WEIGHTS_NAME, staging / WEIGHTS_NAME)
        write_config(staging, config)
        if output.exists():
            output.rmdir()
        staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output
