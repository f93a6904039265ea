"""The Typer app, the shared options, and the one place where errors become exit codes.

Commands live in their own modules (``cmd_*.py``) and register on ``app``. Library code
raises :class:`SoftlocError` subclasses; :class:`SoftlocGroup` prints ``error: <message>`` on
stderr and exits 1 (runtime) or 2 (usage). Ctrl-C exits 130. ``SOFTLOC_DEBUG=1`` shows tracebacks.
"""

from __future__ import annotations

import os
from enum import Enum
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from .. import __version__
from ..errors import SoftlocError, UsageError
from ..units import parse_duration

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False, soft_wrap=True)



def _format_error(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.splitlines())


def _is_cuda_oom(exc: BaseException) -> bool:
    return type(exc).__name__ == "OutOfMemoryError" or "CUDA out of memory" in str(exc)


class SoftlocGroup(TyperGroup):
    """Root command group: the single place where known errors become one line and an exit code.

    Usage errors exit 2, everything else a user can fix exits 1, a CUDA out-of-memory error
    names the way out; any other exception is a bug and keeps its traceback.
    """

    def invoke(self, ctx):
        debug = os.environ.get("SOFTLOC_DEBUG", "") not in ("", "0")
        try:
            return super().invoke(ctx)
        except SoftlocError as exc:
            if debug:
                raise
            stderr.print(f"[red]error:[/red] {escape(_format_error(exc))}", markup=True, soft_wrap=True)
            raise typer.Exit(2 if isinstance(exc, UsageError) else 1) from None
        except RuntimeError as exc:
            if debug or not _is_cuda_oom(exc):
                raise
            stderr.print("[red]error:[/red] GPU ran out of memory; try `--device cpu` or a smaller `--batch-size`")
            raise typer.Exit(1) from None


app = typer.Typer(
    name="softloc",
    cls=SoftlocGroup,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
models_app = typer.Typer(
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="List, inspect, download and publish models.",
)
app.add_typer(models_app, name="models")


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


ModelOpt = Annotated[
    Optional[str],
    typer.Option("--model", "-m", help="Bundled name (drums, onsets), a model directory, or hf://owner/name[@rev]."),
]
DeviceOpt = Annotated[Device, typer.Option("--device", "-d", help="auto, cpu, cuda or mps (auto picks a GPU if any).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Errors only.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Per-file timing, resolved model and device.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON document on stdout.")]


def parsed(value: Optional[str], flag: str, parse):
    """``parse(value)``, None for None, or a usage error naming the flag on a ValueError."""
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def duration(value: Optional[str], flag: str) -> Optional[float]:
    """Parse a ``--flag 80ms`` value into seconds, or raise a usage error naming the flag."""
    return parsed(value, flag, parse_duration)


def thresholds(decode, spec: str, labels):
    """Apply a ``--threshold`` value to a model's decode settings, or raise a usage error."""
    from ..decode import override_thresholds

    try:
        return override_thresholds(decode, spec, labels)
    except ValueError as exc:
        raise UsageError(f"--threshold: {exc}") from None


def _version_callback(value: bool) -> None:
    if value:
        from ..hub import bundled_models

        stdout.print(f"softloc-cli {__version__} (bundled models: {', '.join(bundled_models()) or 'none'})")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Precise drum-hit and onset transcription that learns from loosely tapped labels (SoftLoc)."""


def main() -> None:
    """Console entry point."""
    app()
