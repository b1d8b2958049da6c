"""Exceptions that carry a message meant for the user (stages print them and exit non-zero)."""


class GantextError(Exception):
    """Base class: the message says what went wrong and what to do about it."""


class ConfigError(GantextError, ValueError):
    """params.yaml has an unknown key, a wrong type or an out-of-range value."""


class DataError(GantextError):
    """An input file is missing, unreadable, or leaves nothing usable."""


class CheckpointError(GantextError):
    """A checkpoint is missing, tampered with, or does not match the data."""


class TrainingError(GantextError):
    """Training diverged (NaN/inf loss) or cannot proceed."""
