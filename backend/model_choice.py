"""Which model a command runs: the one policy every CLI uses (``backend.generate``, ``backend.serve``,
``fid.evaluate``), written once.

In order of precedence:

* ``--checkpoint PATH``: an official ``.pth`` or a project ``.safetensors`` file;
* ``--random_init CONFIG``: an UNTRAINED generator of a ``backend.models.PRESETS`` config (tests, benchmarks);
* ``--name NAME`` (+ ``--which_epoch``, ``--checkpoints_dir``): ``checkpoints_gan/NAME/checkpoint_latest.pth``
  as in the original project;
* none of them: the embedded default model (``backend.models.default_model``).

``--conditional_class`` (the original's flag) asks for a class-conditional model (with ``--random_init``: a
13-class one). Importing this module does not import torch (the CLIs' ``--help`` stays fast).
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from .cli import add_flag

CHECKPOINT_ROOT = "checkpoints_gan"
CHECKPOINT_SUFFIXES = (".pth", ".safetensors")


def add_model_arguments(parser: "argparse.ArgumentParser | argparse._ArgumentGroup", conditional: bool = True) -> None:
    """The model-choice flags (module docstring); read them back with :func:`model_from_args`."""
    add_flag(parser, "--checkpoint", metavar="PATH", help="an official checkpoint .pth or a project .safetensors file")
    add_flag(parser, "--random_init", metavar="CONFIG",
             help="use an UNTRAINED generator of this config (e.g. small, paper); for tests and benchmarks only")
    add_flag(parser, "--name", help=f"experiment name: loads {CHECKPOINT_ROOT}/NAME/checkpoint_<which_epoch>.pth")
    add_flag(parser, "--which_epoch", default="latest", help="'latest', 'best' or an epoch number (default: latest)")
    add_flag(parser, "--checkpoints_dir", default=CHECKPOINT_ROOT, metavar="DIR",
             help=f"where --name looks (default: {CHECKPOINT_ROOT})")
    if conditional:
        add_flag(parser, "--conditional_class", action="store_true",
                 help="the model is class-conditional (with --random_init: build a 13-class model)")


def model_from_args(args: argparse.Namespace, seed: int = 0):
    """The ``backend.models.LoadedModel`` the flags of :func:`add_model_arguments` choose (precedence above).
    Raises CheckpointError / ValueError with one-line messages."""
    checkpoint = getattr(args, "checkpoint", None)
    return select_model(checkpoint=checkpoint,
                        random_init=None if checkpoint else getattr(args, "random_init", None),
                        name=None if checkpoint else getattr(args, "name", None),
                        which_epoch=getattr(args, "which_epoch", "latest"),
                        conditional=bool(getattr(args, "conditional_class", False)),
                        checkpoint_root=getattr(args, "checkpoints_dir", CHECKPOINT_ROOT), seed=seed)


def model_label(args: argparse.Namespace) -> str:
    """A short name for output folders and reports: the experiment name, the checkpoint's stem,
    ``random_<config>`` or ``default``."""
    checkpoint = getattr(args, "checkpoint", None)
    if getattr(args, "name", None):
        return args.name
    if checkpoint:
        return Path(checkpoint).stem
    random_init = getattr(args, "random_init", None)
    return f"random_{random_init}" if random_init else "default"


def checkpoint_path_for_name(name: str, which_epoch: "str | int" = "latest",
                             root: "str | Path" = CHECKPOINT_ROOT) -> Path:
    """Where the original project keeps a run's generator: ``root/NAME/checkpoint_<which_epoch>.pth``
    (which_epoch: "latest", "best" or an epoch number).

    A project-format ``checkpoint_<which_epoch>.safetensors`` in the same folder is accepted too (the .pth wins).
    Raises CheckpointError (one line, saying where it looked and what to do) when neither exists.
    """
    from .models import CheckpointError

    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise CheckpointError(f"invalid experiment name {name!r}: use the folder name under {root}/")
    epoch = str(which_epoch)
    if epoch not in ("latest", "best") and not epoch.isdigit():
        raise CheckpointError(f"--which_epoch must be 'latest', 'best' or an epoch number, got {which_epoch!r}")
    folder = Path(root) / name
    candidates = [folder / f"checkpoint_{epoch}{suffix}" for suffix in CHECKPOINT_SUFFIXES]
    for path in candidates:
        if path.is_file():
            return path
    found = sorted(p.name for p in folder.glob("checkpoint_*")) if folder.is_dir() else []
    hint = (f"that folder has {', '.join(found)}" if found else
            "unpack the released checkpoints at the repository root, or pass --checkpoint PATH "
            "(or --random_init small for an untrained test model)")
    raise CheckpointError(f"no checkpoint found: {candidates[0]} does not exist; {hint}")


def select_model(checkpoint: "str | Path | None" = None, name: "str | None" = None,
                 which_epoch: "str | int" = "latest", random_init: "str | None" = None,
                 conditional: bool = False, checkpoint_root: "str | Path" = CHECKPOINT_ROOT,
                 seed: int = 0):
    """The model asked for, as a ``backend.models.LoadedModel``:

    checkpoint: an official ``.pth`` or project ``.safetensors`` file;
    name (+ which_epoch): ``checkpoint_root/NAME/checkpoint_<which_epoch>.pth`` as in the original project;
    random_init: a preset name ("paper", "small"): an UNTRAINED generator (13 classes if ``conditional``);
    none of them: the embedded default model (``backend.models.default_model``).
    conditional: the original ``--conditional_class`` flag; a loaded checkpoint must then be class-conditional.
    Raises CheckpointError / ValueError with one-line messages (also when both checkpoint and random_init are
    given: :func:`model_from_args` applies the CLIs' precedence before calling this).
    """
    from .models import ALL_CLASSES, PRESETS, default_model, load_model, random_init_model

    if checkpoint is not None and random_init is not None:
        raise ValueError("choose either a checkpoint or --random_init, not both")
    if random_init is not None:
        if random_init not in PRESETS:
            raise ValueError(f"unknown --random_init config {random_init!r}; choose one of {', '.join(PRESETS)}")
        if not conditional or PRESETS[random_init].conditional:
            return random_init_model(random_init, seed=seed)
        model = random_init_model(dataclasses.replace(PRESETS[random_init], n_classes=len(ALL_CLASSES)), seed=seed)
        model.source = f"random_init:{random_init}+{len(ALL_CLASSES)}classes"
        return model
    if checkpoint is not None:
        model = load_model(checkpoint)
    elif name is not None:
        model = load_model(checkpoint_path_for_name(name, which_epoch, checkpoint_root))
    else:
        model = default_model()
    if conditional and not model.conditional:
        raise ValueError(f"--conditional_class was given but {model.source} is an unconditional model")
    return model
