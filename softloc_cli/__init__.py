"""softloc-cli: precise drum-hit and onset transcription, trainable from loosely tapped labels.

The importable API mirrors the command line: load a model once with :func:`load_model`, then
turn audio into :class:`Event` lists with :func:`transcribe_file`::

    from softloc_cli import load_model, transcribe_file
    model = load_model("drums")
    events = transcribe_file(model, "song.wav").events

Names are imported lazily so that ``softloc --help`` does not pay for torch.
"""

__version__ = "0.1.0"

_EXPORTS = {
    "load_model": "softloc_cli.inference",
    "transcribe_file": "softloc_cli.inference",
    "transcribe_audio": "softloc_cli.inference",
    "Event": "softloc_cli.events",
    "SoftlocError": "softloc_cli.errors",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'softloc_cli' has no attribute {name!r}")
