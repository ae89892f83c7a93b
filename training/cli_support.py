"""What stage CLIs share: the ``StageCommands`` a stage's ``register`` returns, and small argument helpers.

No torch import here: ``python -m backend.train --help`` must stay fast.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field


@dataclass
class StageCommands:
    """A stage's command group: its name, its commands, and the one run when only options follow the group."""

    group: str
    commands: list[str] = field(default_factory=list)
    default: str | None = None


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device`` (cpu, cuda, cuda:N; default: CUDA when present) and the original ``--gpu_ids`` alias."""
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA when available)")
    parser.add_argument("--gpu_ids", default=None, help="original spelling: '0' means cuda:0, '' or -1 the CPU")


def resolve_device_argument(args: argparse.Namespace):
    """The ``torch.device`` from ``--device`` / ``--gpu_ids`` via the project's one device policy
    (``backend.device.resolve_device``: CUDA when available, else the CPU; raises DeviceError, a ValueError)."""
    from backend.device import resolve_device

    return resolve_device(args.device if args.device else args.gpu_ids)
