"""Exceptions a user can cause and fix.

Library code raises these; only ``cli.py`` turns them into one ``error:`` line and an exit code.
"""


class SoftlocError(Exception):
    """Root of every error the user can act on."""


class AudioLoadError(SoftlocError):
    """An audio file is missing, empty, corrupt or in an unsupported format."""


class AnnotationError(SoftlocError):
    """An annotation file cannot be parsed or names an unknown class."""


class ModelNotFoundError(SoftlocError):
    """A model spec resolves to nothing (unknown name, missing path, not cached offline)."""


class ConfigError(SoftlocError):
    """A config, recipe or checkpoint has unknown keys, wrong types or inconsistent values."""


class DatasetError(SoftlocError):
    """A training or evaluation folder is empty or inconsistent."""
