"""What every command line of the project shares (one module, no torch at import: ``--help`` stays fast and
``python -m backend.client`` never loads torch).

Conventions, the same for ``backend.generate``, ``backend.serve``, ``backend.client``, ``backend.train`` (every
stage), ``backend.render``, ``fid.evaluate`` and ``build_addon.py``:

* **Flags** use the original project's snake_case (``--num_samples``, ``--texture_resolution``,
  ``--views_per_car``); the dashed spelling of every flag (``--views-per-car``) is accepted as an alias.
  :func:`add_flag` adds both; ``tests/test_cli_flags.py`` walks every parser and checks it.
* **Exit status**: 0 success; 1 the command ran and failed, with one line ``error: <what happened and what to
  do>`` on stderr (also: a check that did not pass, a run in which some items failed); 2 a usage error
  (argparse: unknown flag, bad or missing value); 130 interrupted (Ctrl-C or SIGTERM). Unexpected exceptions
  keep their traceback: those are bugs, and the traceback is what a bug report needs.
* **Device**: ``--device`` (``auto`` = CUDA when present, ``cpu``, ``cuda:N``) with the original's ``--gpu_ids``
  as an alias (``0`` = cuda:0, ``-1`` = CPU); policy in ``backend.device``.
* **Datasets**: a collection folder or a name under ``datasets/`` (``dataformat.find_dataset``).
* **Model choice**: ``--checkpoint`` / ``--name`` / ``--random_init`` / the embedded default
  (``backend.model_choice``).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Callable

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2          # what argparse returns for a bad command line
EXIT_INTERRUPTED = 130

#: Errors every CLI reports as one line: bad values found after parsing, missing or damaged files, failed runs.
#: (CheckpointError, FIDError, ClientError, ... are added by the CLIs that raise them.)
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ValueError, RuntimeError, OSError)


def one_line(error: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty)."""
    text = str(error.args[0] if isinstance(error, KeyError) and error.args else error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def run_cli(action: Callable[[], "int | None"], expected: tuple[type[BaseException], ...] = (),
            interrupted: str = "interrupted") -> int:
    """Run a CLI's action with the project's exit-status convention (module docstring).

    Returns the action's own status (0 when it returns None); for an expected error (``EXPECTED_ERRORS`` plus
    ``expected``) prints ``error: <first line>`` on stderr and returns 1; on Ctrl-C prints ``interrupted`` (the
    message may say how to resume) and returns 130.
    """
    try:
        code = action()
    except (*EXPECTED_ERRORS, *expected) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if code is None else int(code)


def flag_spellings(*names: str) -> list[str]:
    """Each long option in its snake_case spelling, followed by its dashed alias: ``--views_per_car``,
    ``--views-per-car``. Either spelling may be given; the snake one is the documented one."""
    spellings: list[str] = []
    for name in names:
        if not name.startswith("--"):
            spellings.append(name)
            continue
        snake = "--" + name[2:].replace("-", "_")
        for spelling in (snake, "--" + name[2:].replace("_", "-")):
            if spelling not in spellings:
                spellings.append(spelling)
    return spellings


def add_flag(parser: "argparse.ArgumentParser | argparse._ArgumentGroup", *names: str, **kwargs) -> argparse.Action:
    """``parser.add_argument`` with every long option in snake_case plus its dashed alias (``flag_spellings``)."""
    return parser.add_argument(*flag_spellings(*names), **kwargs)


@dataclass
class StageCommands:
    """A training stage's command group: its name, its commands, and the one run when only options follow the
    group (``python -m backend.train recon --collection ...`` means ``recon train --collection ...``)."""

    group: str
    commands: list[str] = field(default_factory=list)
    default: str | None = None


def add_device_argument(parser: "argparse.ArgumentParser | argparse._ArgumentGroup", default: str = "auto") -> None:
    """``--device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``) and the original spelling ``--gpu_ids`` (``0`` means
    cuda:0, ``0,1`` the first of them, ``-1`` the CPU): one option, ``args.device``."""
    add_flag(parser, "--device", "--gpu_ids", default=default, metavar="DEVICE",
             help="auto (CUDA when available, default), cpu, cuda:N, or the original's GPU ids ('0'; '-1' = CPU)")


def device_from_args(args: argparse.Namespace):
    """The ``torch.device`` of ``args.device`` by the project's one device policy
    (``backend.device.device_for_command``; warnings go to stderr). Raises DeviceError (a ValueError)."""
    from backend.device import device_for_command

    return device_for_command(args.device, warn=lambda message: print(message, file=sys.stderr))


def dataset_argument(text: str) -> str:
    """argparse ``type`` of a collection argument: a folder, or a name under ``datasets/``
    (``dataformat.find_dataset``). A name that is neither is passed on unchanged, so the loader reports it in
    one line."""
    from dataformat import CollectionError, find_dataset

    try:
        return str(find_dataset(text))
    except CollectionError:
        return text
