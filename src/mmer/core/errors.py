"""Errors that stop a job before training, each naming the thing and the fix. The CLI prints them without a traceback."""


class MmerError(Exception):
    """Base class of user-facing errors."""


class ConfigError(MmerError, ValueError):
    """A config names an unknown component or an impossible setting (also a ValueError: a bad argument value)."""


class DataError(MmerError):
    """Data on disk (or generated) is missing, malformed or unusable (NaN inputs, all labels masked...)."""


class RandomInitWarning(UserWarning):
    """A backbone that can load pretrained weights was given none and starts from random initialisation."""


class OutputError(MmerError, OSError):
    """A file mmer writes could not be written (a full disk, a read-only or foreign folder): one line naming the
    file, the reason and what to do; nothing half-written is left at its path."""
