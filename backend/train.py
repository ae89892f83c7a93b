"""``python -m backend.train <group> <command> ...``: the training pipeline's command line (a dispatcher only).

Each stage registers its own command group from ``training/<stage>/cli.py`` (``STAGE_MODULES``, in pipeline order):

    python -m backend.train data synth --n 5000 --res 256 --out datasets/toycars        # training/data/cli.py
    python -m backend.train templates remesh car.obj --out car.safetensors             # training/templates/cli.py
    python -m backend.train poses --collection DIR --out poses.safetensors             # training/poses/cli.py
    python -m backend.train recon --collection DIR --poses FILE --out runs/NAME        # training/recon/cli.py
    python -m backend.train pseudogt --from_run runs/NAME --out DIR                    # training/pseudogt/cli.py
    python -m backend.train gan --pseudogt DIR --out runs/NAME [--resume]              # training/gan/cli.py
    python -m backend.train pipeline --collection DIR --out runs/NAME                  # training/pipeline/cli.py

A stage module defines ``register(subparsers) -> StageCommands``; a group may name a default command so that
``python -m backend.train recon --collection ...`` means ``recon train --collection ...``. Flags, exit status and
one-line errors follow ``backend.cli`` (0 ok, 1 error, 2 bad command line, 130 interrupted: re-run to resume).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

from backend.cli import StageCommands, run_cli

#: Stage modules, in pipeline order; each has ``register(subparsers)`` returning its ``StageCommands``.
STAGE_MODULES = (
    "training.data.cli",
    "training.templates.cli",
    "training.poses.cli",
    "training.recon.cli",
    "training.pseudogt.cli",
    "training.gan.cli",
    "training.pipeline.cli",
)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, tuple[str, set[str]]]]:
    """The parser and, per group with a default command, (default command, its command names)."""
    parser = argparse.ArgumentParser(prog="python -m backend.train", description=__doc__.split("\n")[0].strip("`"))
    parser.add_argument("-v", "--verbose", action="store_true", help="log loader details")
    sub = parser.add_subparsers(dest="group", required=True)
    defaults: dict[str, tuple[str, set[str]]] = {}
    for name in STAGE_MODULES:
        commands: StageCommands = importlib.import_module(name).register(sub)
        if commands is not None and commands.default is not None:
            defaults[commands.group] = (commands.default, set(commands.commands))
    return parser, defaults


def _with_default_command(argv: list[str], defaults: dict[str, tuple[str, set[str]]]) -> list[str]:
    """Insert a group's default command when the user typed options right after the group name."""
    for i, word in enumerate(argv):
        if word.startswith("-"):
            continue  # global options such as -v
        if word in defaults:
            default, names = defaults[word]
            rest = argv[i + 1:]
            if not rest or (rest[0] not in names and rest[0] not in ("-h", "--help")):
                return argv[:i + 1] + [default] + rest
        return argv
    return argv


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser, defaults = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(_with_default_command(argv, defaults))
    # `kill` (SIGTERM) stops as cleanly as Ctrl-C: finished work is kept and indexed.
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    return run_cli(lambda: args.run(args), interrupted="interrupted; re-run the same command to resume")


if __name__ == "__main__":
    sys.exit(main())
