"""Exceptions a user can cause and fix.

Library code raises these; only the command layer (``cli/app.py``) turns them into one ``error:`` line and an exit code.
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


class HubError(SoftlocError):
    """The Hub refused or could not be reached while publishing (not logged in, no access, offline)."""


class UsageError(SoftlocError):
    """A bad flag combination or value found before any work started (exit 2)."""


class PlanError(UsageError):
    """The inputs or outputs given cannot form a valid batch (a usage error)."""


class PlotError(SoftlocError):
    """A plot cannot be drawn: matplotlib is missing or the file name has no image format."""
