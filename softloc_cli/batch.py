"""Transcribing many files with one model: the library call behind ``softloc transcribe``.

:func:`transcribe_batch` takes the jobs planned by :mod:`softloc_cli.plan` and handles each file
on its own: an existing output is skipped unless asked to overwrite, each output is written
atomically, and a file that fails is recorded without stopping the batch.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .annotations import WriteOptions, write_events
from .decode import DecodeConfig
from .errors import SoftlocError
from .inference import LoadedModel, Transcription, transcribe_file
from .plan import Job

__all__ = ["FileRecord", "transcribe_batch"]

SKIP_REASON = "outputs exist (use --overwrite)"


@dataclass
class FileRecord:
    """What :func:`transcribe_batch` did with one input.

    Attributes
    ----------
    source : Path
    outputs : list of Path
        Every planned output, written or not.
    status : {"written", "skipped", "failed"}
        ``skipped``: all outputs existed and overwriting was off.
    reason : str or None
        Why it was skipped.
    error : str or None
        One-line message of the failure (unreadable audio, an output that cannot be written).
    n_events : int or None
        Events found; None when the file was not transcribed.
    duration_s : float or None
        Length of the audio in seconds.
    seconds : float or None
        Wall-clock time spent on the file.
    warnings : list of str
        softloc warnings raised for this file (e.g. a truncated WAV).
    """

    source: Path
    outputs: list[Path]
    status: Literal["written", "skipped", "failed"]
    reason: str | None = None
    error: str | None = None
    n_events: int | None = None
    duration_s: float | None = None
    seconds: float | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The record as ``softloc transcribe --json`` prints it (only the keys that apply)."""
        out: dict[str, Any] = {"input": str(self.source), "outputs": [str(p) for p in self.outputs],
                               "status": self.status}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.error is not None:
            out["error"] = self.error
        if self.n_events is not None:
            out["events"] = self.n_events
        if self.duration_s is not None:
            out["duration_s"] = round(self.duration_s, 3)
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


def _own_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    """Messages of softloc's warnings; any other warning is shown as it would have been."""
    own = []
    for w in caught:
        if w.category.__module__.split(".")[0] == __name__.split(".")[0]:
            own.append(" ".join(str(w.message).split()))
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)
    return own


def transcribe_batch(
    model: LoadedModel,
    jobs: Sequence[Job],
    *,
    overwrite: bool = False,
    decode: DecodeConfig | None = None,
    options: WriteOptions | None = None,
    metadata: Mapping[str, Any] | None = None,
    on_result: Callable[[Job, Transcription], None] | None = None,
    on_file: Callable[[FileRecord], None] | None = None,
    on_progress: Callable[[Job, float], None] | None = None,
) -> list[FileRecord]:
    """Transcribe each job's source and write its pending outputs; one bad file does not stop the rest.

    Parameters
    ----------
    model : LoadedModel
        Loaded once by the caller (:func:`softloc_cli.inference.load_model`).
    jobs : sequence of Job
        From :func:`plan_jobs`.
    overwrite : bool
        Replace existing outputs; otherwise only missing ones are written, and a job whose
        outputs all exist is skipped without reading its audio.
    decode : DecodeConfig, optional
        Overrides the model's decode settings (e.g. ``--threshold``).
    options : WriteOptions, optional
        Default: drum or pitched layout as the model's config says.
    metadata : mapping, optional
        Recorded by JSON outputs, with ``"source"`` added per file. Default ``{"model": name}``.
    on_result : callable(job, transcription), optional
        Called after a file's outputs are written (e.g. to draw a plot). With it, jobs whose
        outputs all exist are still transcribed, but not rewritten. A SoftlocError or OSError it
        raises fails that file.
    on_file : callable(FileRecord), optional
        Called as each file is finished, skipped or failed.
    on_progress : callable(job, seconds_done), optional
        ``0.0`` when a file starts, then the seconds of its audio done after each chunk.

    Returns
    -------
    records : list of FileRecord
        One per job, in order.

    Raises
    ------
    KeyboardInterrupt, and any error that is not a SoftlocError or OSError (a bug)
        The output being written at that moment is left untouched (writes are atomic).

    Examples
    --------
    >>> jobs = plan_jobs(expand_inputs(["songs/"]), formats=["mid"], extensions={"mid": "mid"},
    ...                  output=Path("out"), single_file_output=False)
    >>> [r.status for r in transcribe_batch(load_model("drums"), jobs)]
    ['written', 'written']
    """
    if options is None:
        options = WriteOptions(drums=model.config.drums, pitched=model.config.pitched)
    metadata = {"model": model.name} if metadata is None else dict(metadata)
    records = []
    for job in jobs:
        pending = job.pending(overwrite)
        outputs = list(job.outputs.values())
        if not pending and on_result is None:
            record = FileRecord(job.source, outputs, "skipped", reason=SKIP_REASON)
        else:
            record = _transcribe_job(model, job, pending, decode=decode, options=options,
                                     metadata={**metadata, "source": str(job.source)}, on_result=on_result,
                                     on_progress=on_progress)
        records.append(record)
        if on_file is not None:
            on_file(record)
    return records


def _transcribe_job(model, job: Job, pending: dict[str, Path], *, decode, options, metadata, on_result,
                    on_progress) -> FileRecord:
    outputs = list(job.outputs.values())
    started = time.perf_counter()
    result = error = None
    # entering catch_warnings resets the once-per-location registry, so each file reports its own
    with warnings.catch_warnings(record=True) as caught:
        try:
            if on_progress is not None:
                on_progress(job, 0.0)
            result = transcribe_file(
                model, job.source, decode=decode,
                on_progress=None if on_progress is None else (lambda done: on_progress(job, done)),
            )
            for fmt, path in pending.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                write_events(result.events, path, fmt, options=options, metadata=metadata)
            if on_result is not None:
                on_result(job, result)
        except (SoftlocError, OSError) as exc:  # OSError: an output that cannot be written
            error = " ".join(str(exc).split()) or type(exc).__name__
    seconds, own = time.perf_counter() - started, _own_warnings(caught)  # after the block: others are shown
    if error is not None:
        return FileRecord(job.source, outputs, "failed", error=error, seconds=seconds, warnings=own)
    return FileRecord(
        job.source,
        outputs,
        "written" if pending else "skipped",
        reason=None if pending else SKIP_REASON,
        n_events=len(result.events),
        duration_s=result.duration_s,
        seconds=seconds,
        warnings=own,
    )
