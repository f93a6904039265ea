"""Training and validation data: audio + annotation pairs → cached features → random crops.

A dataset is a folder of audio files, each with a sidecar annotation of the same stem (any
format :mod:`softloc_cli.annotations` reads), or a manifest CSV with columns ``audio``,
``annotation`` and optional ``softness_s`` / ``annotator``. Features are computed once per file
(log-mel only; the flux channel is derived per batch) and kept in memory as float16, with an
optional on-disk cache keyed by file content and feature settings. Targets are event counts per
frame; event ``t`` seconds falls in frame ``round(t * frame_rate_hz)``.

Label perturbation for experiments follows the paper: ``label_noise_s`` shifts every event by
N(0, σ²), drawn once per file from the seed; ``label_shift_s`` moves a whole file by ±δ.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .annotations import read_annotations
from .audio import load_audio
from .augment import AugmentConfig, augment_audio
from .errors import DatasetError
from .events import ONSET_CLASS, Event, merge_labels, select_labels
from .fileio import AUDIO_EXTENSIONS, atomic_write, find_audio_files, index_annotations

__all__ = [
    "MANIFEST_NAME",
    "ONSET_CLASS",  # re-exported: defined in softloc_cli.events
    "CropSampler",
    "DatasetSummary",
    "FileEntry",
    "FolderScan",
    "TrackData",
    "compute_logmel",
    "find_entries",
    "frame_targets",
    "load_tracks",
    "perturb_times",
    "scan_folder",
    "select_events",
]

MANIFEST_NAME = "manifest.csv"  # a dataset's file list (the render scripts write one per split)


@dataclass
class FileEntry:
    audio: Path
    annotation: Path
    softness_s: float | None = None  # per-file label reliability (manifest column)
    annotator: str | None = None


@dataclass
class TrackData:
    """One file, ready for training: log-mel features and frame targets."""

    entry: FileEntry
    logmel: np.ndarray  # (n_frames, n_mels) float16
    targets: np.ndarray  # (n_frames, n_classes) float32 event counts (perturbed labels)
    events: list[Event]  # the labels as given (unperturbed), for validation scoring
    duration_s: float
    source: int = 0  # which training set it came from (see CropSampler's shares)
    copy: int = 0  # 0 = the file as recorded, k > 0 = its k-th augmented rendition
    time_scale: float = 1.0  # event times of this rendition = the file's times × this (speed change)


@dataclass
class DatasetSummary:
    files: int
    hours: float
    events: dict[str, int] = field(default_factory=dict)
    ignored_labels: dict[str, int] = field(default_factory=dict)
    augmented_copies: int = 0  # renditions per file besides the original (files/hours count originals)


@dataclass
class FolderScan:
    """Audio files of a folder paired with their sidecar annotations (same relative path and
    stem; of several annotations of one stem the first extension in alphabetical order)."""

    entries: list[FileEntry]
    orphans: list[Path] = field(default_factory=list)  # audio without an annotation
    stray: list[Path] = field(default_factory=list)  # annotations without audio (not manifest.csv)
    ignored: list[Path] = field(default_factory=list)  # same-stem annotations not used


def scan_folder(folder: str | Path, *, recursive: bool = True) -> FolderScan:
    """Pair the audio files of ``folder`` with their sidecar annotations, listing what is left.

    Hidden files and folders are skipped (:func:`softloc_cli.fileio.find_audio_files`). Nothing
    is raised for missing partners: :func:`find_entries` and
    :func:`softloc_cli.evaluation.find_annotated_audio` decide what that means.

    Examples
    --------
    >>> scan = scan_folder("my-data/")
    >>> [e.audio.name for e in scan.entries], scan.orphans
    (['take1.wav', 'take2.flac'], [PosixPath('my-data/take3.wav')])
    """
    folder = Path(folder)
    index, ignored = index_annotations(folder, recursive=recursive)
    entries, orphans, used = [], [], set()
    for audio in find_audio_files(folder, recursive=recursive):
        key = audio.relative_to(folder).with_suffix("").as_posix()
        if key in index:
            entries.append(FileEntry(audio=audio, annotation=index[key]))
            used.add(key)
        else:
            orphans.append(audio)
    stray = sorted(p for key, p in index.items() if key not in used and p.name.lower() != MANIFEST_NAME)
    return FolderScan(entries, orphans, stray, ignored)


def find_entries(path: str | Path) -> list[FileEntry]:
    """Audio/annotation pairs of a dataset folder (searched recursively, see :func:`scan_folder`)
    or manifest CSV.

    Raises
    ------
    DatasetError
        Missing path, no audio, or audio files without an annotation (the first few are named).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset {str(path)!r} does not exist")
    if path.is_file():
        return _read_manifest(path)
    scan = scan_folder(path)
    if not scan.entries and not scan.orphans:
        raise DatasetError(f"{path}: no audio files found (looked for {', '.join(sorted(AUDIO_EXTENSIONS))})")
    orphans = scan.orphans
    if orphans:
        names = ", ".join(str(p) for p in orphans[:3]) + (f" and {len(orphans) - 3} more" if len(orphans) > 3 else "")
        raise DatasetError(
            f"{len(orphans)} audio file(s) have no annotation with the same name: {names} "
            f"(expected e.g. {orphans[0].with_suffix('.csv').name})"
        )
    return scan.entries


def _read_manifest(path: Path) -> list[FileEntry]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        header = reader.fieldnames or []
    if not {"audio", "annotation"} <= set(header):
        raise DatasetError(f"{path}: a manifest needs a header with columns audio,annotation[,softness_s,annotator]")
    if not rows:
        raise DatasetError(f"{path}: the manifest lists no files")
    entries = []
    for line, row in enumerate(rows, start=2):
        if not row["audio"] or not row["annotation"]:
            raise DatasetError(f"{path}:{line}: the audio and annotation columns must both be filled")
        audio, annotation = path.parent / row["audio"], path.parent / row["annotation"]
        for file in (audio, annotation):
            if not file.is_file():
                raise DatasetError(f"{path}:{line}: {file} does not exist")
        softness = row.get("softness_s") or None
        try:
            softness = float(softness) if softness is not None else None
        except ValueError:
            raise DatasetError(f"{path}:{line}: softness_s {row['softness_s']!r} is not a number of seconds") from None
        entries.append(FileEntry(audio, annotation, softness, row.get("annotator") or None))
    return entries


def select_events(events: list[Event], classes: list[str]) -> tuple[list[Event], dict[str, int]]:
    """Events of the training classes, and counts of the labels left out (distractors such as
    cymbals for a kick/snare/hi-hat model).

    For a one-class ``onset`` model every label is merged into ``onset`` and hits closer than
    30 ms are one onset (:func:`softloc_cli.events.merge_labels`); nothing is left out.
    """
    if classes == [ONSET_CLASS]:
        return merge_labels(events), {}
    kept, left_out = select_labels(events, classes)
    return kept, dict(left_out)


def perturb_times(times: np.ndarray, *, noise_s: float, shift_s: float, rng: np.random.Generator) -> np.ndarray:
    """Label noise of the paper: Gaussian per event and/or one ±shift per file."""
    out = times.astype(float).copy()
    if noise_s > 0:
        out = out + rng.normal(0.0, noise_s, size=out.shape)
    if shift_s > 0:
        out = out + shift_s * (1 if rng.random() < 0.5 else -1)
    return out


def frame_targets(events: list[Event], classes: list[str], n_frames: int, frame_rate_hz: float, times: np.ndarray) -> np.ndarray:
    """Counts per (frame, class); events falling outside the file are clipped to its ends."""
    targets = np.zeros((n_frames, len(classes)), dtype=np.float32)
    index = {c: i for i, c in enumerate(classes)}
    for event, t in zip(events, times):
        frame = int(np.clip(np.rint(t * frame_rate_hz), 0, n_frames - 1))
        targets[frame, index[event.label]] += 1
    return targets


def _cache_key(audio: Path, feature_config, variant: object = None) -> str:
    stat = audio.stat()
    ident = json.dumps([str(audio.resolve()), stat.st_size, stat.st_mtime_ns, asdict(feature_config), variant])
    return hashlib.sha1(ident.encode()).hexdigest()[:20]


def compute_logmel(audio_path: Path, feature_module, *, cache_dir: Path | None, augment: AugmentConfig | None = None,
                   copy: int = 0, seed: int = 0, allow_pitch: bool = True) -> tuple[np.ndarray, float]:
    """Log-mel of one file (float16) and the factor its label times scale by, read from or written
    to ``cache_dir`` when given. ``copy`` > 0 renders the file through ``augment``'s random chain
    first (seeded by ``seed`` and ``copy``, so a copy is the same in every run)."""
    import torch

    variant = None if copy == 0 else [copy, seed, allow_pitch, asdict(augment)]
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"{_cache_key(audio_path, feature_module.config, variant)}.npz"
        if cache_file.is_file():
            with np.load(cache_file, allow_pickle=False) as stored:
                return stored["logmel"], float(stored["time_scale"])
    sample_rate = feature_module.config.sample_rate
    audio, time_scale = load_audio(audio_path, sample_rate=sample_rate), 1.0
    if copy:
        rng = np.random.default_rng([seed, copy, int(_cache_key(audio_path, feature_module.config)[:8], 16)])
        audio, time_scale = augment_audio(audio, sample_rate, rng, augment, allow_pitch=allow_pitch)
    with torch.inference_mode():
        logmel = feature_module.logmel(torch.from_numpy(audio))[0].numpy().astype(np.float16)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(cache_file, "wb") as fh:
            np.savez(fh, logmel=logmel, time_scale=np.float64(time_scale))
    return logmel, time_scale


def load_tracks(
    entries: list[FileEntry],
    *,
    classes: list[str],
    feature_module,
    class_map=None,
    label_noise_s: float = 0.0,
    label_shift_s: float = 0.0,
    seed: int = 0,
    cache_dir: Path | None = None,
    on_file: Callable[[int], None] | None = None,
    require_every_class: bool = True,
    augment: AugmentConfig | None = None,
    allow_pitch: bool = True,
    source: int = 0,
    negatives: bool = False,
) -> tuple[list[TrackData], DatasetSummary]:
    """Features and targets for every entry, plus ``augment.copies`` augmented renditions of each
    (``allow_pitch=False`` for pitched models: a speed change would move every note's pitch).
    ``negatives=True``: audio that holds none of ``classes`` on purpose (all targets zero).

    Raises
    ------
    DatasetError
        An annotation beyond the end of its audio (more than 0.5 s), or a class that never
        appears in any annotation (the labels that do appear are listed) unless
        ``require_every_class`` is false (88 piano keys: the outermost are rarely played).
    AnnotationError, AudioLoadError
        Unreadable files.
    """
    frame_rate = feature_module.config.frame_rate_hz
    copies = augment.copies if augment is not None else 0
    tracks, ignored, counts = [], {}, {c: 0 for c in classes}
    for index, entry in enumerate(entries):
        events, left_out = select_events(read_annotations(entry.annotation, class_map=class_map), classes)
        if negatives:  # whatever its annotations say, nothing of ``classes`` is to be found here
            left_out = Counter(left_out) + Counter(e.label for e in events)
            events = []
        for label, n in left_out.items():
            ignored[label] = ignored.get(label, 0) + n
        logmel, _ = compute_logmel(entry.audio, feature_module, cache_dir=cache_dir)
        duration = (len(logmel) - 1) / frame_rate
        late = [e.time_s for e in events if e.time_s > duration + 0.5]
        if late:
            raise DatasetError(
                f"{entry.annotation}: {len(late)} event(s) after the end of {entry.audio.name} "
                f"({duration:.2f} s), first at {late[0]:.3f} s (times in milliseconds? wrong audio file?)"
            )
        # Seeded per file so the noise is drawn once and is the same in every epoch and on resume.
        rng = np.random.default_rng([seed, index])
        times = perturb_times(np.array([e.time_s for e in events]), noise_s=label_noise_s, shift_s=label_shift_s, rng=rng)
        targets = frame_targets(events, classes, len(logmel), frame_rate, times)
        for e in events:
            counts[e.label] += 1
        tracks.append(TrackData(entry, logmel, targets, events, duration, source=source))
        for copy in range(1, copies + 1):
            logmel, scale = compute_logmel(entry.audio, feature_module, cache_dir=cache_dir, augment=augment,
                                           copy=copy, seed=seed, allow_pitch=allow_pitch)
            moved = [replace(e, time_s=e.time_s * scale) for e in events]
            targets = frame_targets(moved, classes, len(logmel), frame_rate, times * scale)
            tracks.append(TrackData(entry, logmel, targets, moved, (len(logmel) - 1) / frame_rate, source, copy,
                                    scale))
        if on_file is not None:
            on_file(index + 1)
    missing = [c for c, n in counts.items() if n == 0]
    if missing and not negatives and (require_every_class or len(missing) == len(classes)):
        seen = sorted(set(ignored) | {c for c, n in counts.items() if n})
        raise DatasetError(
            f"class(es) {', '.join(missing)} never appear in the annotations; labels found: {', '.join(seen) or 'none'}"
        )
    hours = sum(t.duration_s for t in tracks if t.copy == 0) / 3600
    return tracks, DatasetSummary(files=len(entries), hours=round(hours, 4), events=counts, ignored_labels=ignored,
                                  augmented_copies=copies)


class CropSampler:
    """Random fixed-length crops, files drawn in proportion to their length.

    ``shares`` (source → fraction of the crops) mixes training sets regardless of their sizes,
    e.g. half the crops from 30 minutes of real recordings, half from hours of rendered audio;
    within a source, files are still drawn by length.
    """

    def __init__(self, tracks: list[TrackData], *, crop_frames: int, rng: np.random.Generator,
                 shares: dict[int, float] | None = None):
        self.tracks = tracks
        self.crop_frames = crop_frames
        self.rng = rng
        lengths = np.array([len(t.logmel) for t in tracks], dtype=float)
        sources = np.array([t.source for t in tracks])
        if shares:
            for source in np.unique(sources):
                here = sources == source
                lengths[here] *= shares.get(int(source), 0.0) / lengths[here].sum()
        self.weights = lengths / lengths.sum()

    def sample(self, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``logmel (B, T, M)``, ``targets (B, T, C)``, ``mask (B, T)`` and the track index of each
        crop; short files are padded and masked."""
        n_mels = self.tracks[0].logmel.shape[1]
        n_classes = self.tracks[0].targets.shape[1]
        logmel = np.zeros((batch_size, self.crop_frames, n_mels), dtype=np.float32)
        targets = np.zeros((batch_size, self.crop_frames, n_classes), dtype=np.float32)
        mask = np.zeros((batch_size, self.crop_frames), dtype=bool)
        chosen = self.rng.choice(len(self.tracks), size=batch_size, p=self.weights)
        for b, which in enumerate(chosen):
            track = self.tracks[which]
            start = int(self.rng.integers(0, max(1, len(track.logmel) - self.crop_frames + 1)))
            piece = slice(start, start + self.crop_frames)
            n = len(track.logmel[piece])
            logmel[b, :n] = track.logmel[piece]
            targets[b, :n] = track.targets[piece]
            mask[b, :n] = True
        return logmel, targets, mask, chosen
