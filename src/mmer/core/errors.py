"""Errors that stop a job before training, each naming the thing and the fix. The CLI prints them without a traceback."""


class MmerError(Exception):
    """Base class of user-facing errors; the CLI prints the message and exits with :attr:`exit_code`."""

    exit_code: int = 2


class ConfigError(MmerError, ValueError):
    """A config names an unknown component or an impossible setting (also a ValueError: a bad argument value)."""


class DataError(MmerError):
    """Data on disk (or generated) is missing, malformed or unusable (NaN inputs, all labels masked...)."""


class RandomInitWarning(UserWarning):
    """A backbone that can load pretrained weights was given none and starts from random initialisation."""


class OutputError(MmerError, OSError):
    """A file mmer writes could not be written (a full disk, a read-only or foreign folder): one line naming the
    file, the reason and what to do; nothing half-written is left at its path."""


class Stopped(MmerError):
    """A run stopped by a signal (SIGTERM from a scheduler, Ctrl-C): what was kept and the command that resumes it.
    Exits with 128 + the signal's number, as a shell reports a process the signal ended."""

    def __init__(self, message: str, signal_number: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signal_number
