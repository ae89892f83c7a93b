"""Errors raised by backend.models."""


class CheckpointError(Exception):
    """A checkpoint could not be loaded. ``str(err)`` is one line saying what is wrong and what to do."""
