"""The `softloc` command line: a thin layer over the library (see app.py for conventions)."""

from . import cmd_calibrate, cmd_evaluate, cmd_models, cmd_tap, cmd_train, cmd_transcribe  # noqa: F401  (register commands)
from .app import app, main

__all__ = ["app", "main"]
