"""Errors that the CLI reports as one clear line and exit code 2."""


class GankitError(Exception):
    """A user-facing error: the message says what is wrong and how to fix it."""


class ConfigError(GankitError):
    """An unknown key, a wrong type or an impossible value in a config."""


class DataError(GankitError):
    """A dataset that cannot be found, fetched or decoded."""


class CheckpointError(GankitError):
    """A checkpoint that is missing, incomplete or from something else."""
