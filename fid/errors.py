"""The one exception type of the ``fid`` package."""
from __future__ import annotations


class FIDError(Exception):
    """Bad input or a missing resource for an FID evaluation.

    The message is one line that says what happened and what to do; CLIs print it as is and exit non-zero.
    """
