"""Errors the CLI shows as one clear message (file, line, reason) instead of a traceback."""


class SeqpipeError(Exception):
    """Base class: anything a user can fix (bad config, bad input, missing artifact)."""


class InputError(SeqpipeError):
    """Input data that cannot be read as asked: names the file (and line where it helps)."""


class RejectRateExceeded(InputError):
    """More records were rejected than `max_reject_rate` allows."""


class OutputError(SeqpipeError):
    """An output folder that cannot be written (full disk, file size limit, permissions)."""
