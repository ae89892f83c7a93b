"""What every command-line tool of the project shares: one-line errors instead of tracebacks.

No torch here: ``backend.client`` (torch-free) uses it too.
"""
from __future__ import annotations

import sys
from typing import Callable


def one_line(error: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty)."""
    text = str(error.args[0] if isinstance(error, KeyError) and error.args else error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def run_with_one_line_errors(action: Callable[[], "int | None"], expected: tuple[type[BaseException], ...],
                             prefix: str = "error", exit_code: int = 1) -> int:
    """Run a CLI's action; print ``<prefix>: <first line>`` for an expected error and return ``exit_code``.

    Returns the action's own exit code (0 when it returns None), 130 on Ctrl-C. Unexpected exceptions still
    raise with their traceback: those are bugs, and the traceback is what a bug report needs.
    """
    try:
        code = action()
    except expected as error:
        print(f"{prefix}: {one_line(error)}", file=sys.stderr)
        return exit_code
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    return 0 if code is None else int(code)
