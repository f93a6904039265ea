"""softloc-cli: precise drum-hit and onset transcription, trainable from loosely tapped labels.

The importable API mirrors the command line: load a model with :func:`load_model`,
turn audio into :class:`Event` lists with :func:`transcribe_file`.
"""

__version__ = "0.1.0"
