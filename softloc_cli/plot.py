"""Pictures of what a model heard: activations per class over time, with detected and reference
events as markers.

matplotlib is an optional extra (``pip install softloc-cli[plot]``) and is imported only when a
plot is drawn; :func:`require_matplotlib` lets a command check for it before any work starts.
Figures are drawn on a non-interactive canvas (no display, no global pyplot state) and written
atomically. Times on the x axis are seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import PlotError
from .events import Event
from .fileio import atomic_write

__all__ = ["PLOT_FORMATS", "check_plot_path", "plot_activations", "plot_transcription",
           "require_matplotlib"]

PLOT_FORMATS = ("png", "svg", "pdf")


def require_matplotlib() -> None:
    """Raise :class:`PlotError` naming the install command if matplotlib cannot be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotError("plotting needs matplotlib; install it with `pip install softloc-cli[plot]`") from None


def check_plot_path(path: str | Path) -> Path:
    """Validate a plot file name (``.png``, ``.svg`` or ``.pdf``, in an existing folder)."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in PLOT_FORMATS:
        raise PlotError(f"plot file {str(path)!r}: use one of the extensions {', '.join('.' + f for f in PLOT_FORMATS)}")
    if not path.parent.is_dir():
        raise PlotError(f"plot file {str(path)!r}: folder {str(path.parent)!r} does not exist")
    return path


def plot_activations(
    path: str | Path,
    *,
    activations: np.ndarray,
    frame_rate_hz: float,
    labels: Sequence[str],
    events: Sequence[Event] = (),
    reference: Sequence[Event] = (),
    thresholds: Sequence[float] | None = None,
    title: str | None = None,
) -> Path:
    """Draw one panel per class: activation curve, threshold, detected and reference events.

    Parameters
    ----------
    path : str or Path
        Output file, ``.png``, ``.svg`` or ``.pdf``; written atomically.
    activations : np.ndarray [shape=(n_frames, n_classes)], values in [0, 1]
    frame_rate_hz : float > 0
    labels : sequence of str, one per class
    events : sequence of Event
        Detected events, drawn as triangles on their class's curve.
    reference : sequence of Event
        Reference events, drawn as vertical ticks at the top of their class's panel; a reference
        label that is no class of the model (``onset``) is drawn in every panel.
    thresholds : sequence of float, optional
        Peak threshold per class, drawn as a dashed line.
    title : str, optional

    Returns
    -------
    path : Path

    Raises
    ------
    PlotError
        matplotlib missing, or an unsupported file extension.

    Examples
    --------
    >>> result = transcribe_file(model, "song.wav")
    >>> plot_activations("song.png", activations=result.activations, frame_rate_hz=100.0,
    ...                  labels=model.config.labels, events=result.events)
    PosixPath('song.png')
    """
    require_matplotlib()
    path = check_plot_path(path)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    activations = np.asarray(activations, dtype=float)
    if activations.ndim != 2 or activations.shape[1] != len(labels):
        raise ValueError(f"activations shape {activations.shape} does not match {len(labels)} labels")
    n_classes = max(len(labels), 1)
    times = np.arange(activations.shape[0]) / frame_rate_hz
    duration = times[-1] if len(times) else 1.0
    fig = Figure(figsize=(min(max(8.0, duration * 0.6), 24.0), 1.0 + 1.6 * n_classes))
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_classes, 1, sharex=True, squeeze=False)[:, 0]
    known = {name.lower() for name in labels}
    for index, (ax, label) in enumerate(zip(axes, labels)):
        column = activations[:, index]
        ax.plot(times, column, color="tab:blue", linewidth=0.8, label="activation")
        if thresholds is not None:
            ax.axhline(thresholds[index], color="tab:gray", linestyle="--", linewidth=0.7, label="threshold")
        detected = np.asarray([e.time_s for e in events if e.label == label], dtype=float)
        if detected.size:
            frames = np.clip(np.rint(detected * frame_rate_hz).astype(int), 0, max(len(column) - 1, 0))
            heights = column[frames] if len(column) else np.zeros(len(frames))
            ax.plot(detected, heights, "v", color="tab:red", markersize=5, label="detected")
        refs = np.asarray([e.time_s for e in reference
                           if e.label.lower() == label.lower() or e.label.lower() not in known], dtype=float)
        if refs.size:
            ax.plot(refs, np.full(refs.size, 1.05), "|", color="tab:green", markersize=10,
                    markeredgewidth=1.5, label="reference")
        ax.set_ylim(-0.02, 1.12)
        ax.set_ylabel(label)
        ax.grid(True, axis="x", linewidth=0.3)
    axes[0].legend(loc="upper right", fontsize="small", ncol=4)
    axes[-1].set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format=path.suffix.lower().lstrip("."), dpi=100)
    return path


def plot_transcription(path: str | Path, transcription, *, labels: Sequence[str], decode=None,
                       reference: Sequence[Event] = (), title: str | None = None) -> Path:
    """:func:`plot_activations` for a :class:`softloc_cli.inference.Transcription`.

    ``decode`` (a DecodeConfig) adds each class's threshold line.

    Examples
    --------
    >>> plot_transcription("song.png", transcribe_file(model, "song.wav"), labels=model.config.labels)
    PosixPath('song.png')
    """
    thresholds = [decode.threshold_for(name) for name in labels] if decode is not None else None
    return plot_activations(
        path,
        activations=transcription.activations,
        frame_rate_hz=transcription.frame_rate_hz,
        labels=labels,
        events=transcription.events,
        reference=reference,
        thresholds=thresholds,
        title=title,
    )
