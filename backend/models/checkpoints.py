"""Loading and saving generators: the paper's official ``.pth`` checkpoints and the project's ``.safetensors``.

* Official (§8.1): ``torch.save`` of a dict with ``generator_running_avg`` (the EMA generator, used for
  inference), optionally ``generator``, ``args`` (``vars(argparse)``: texture_resolution, dataset,
  n_classes, ...), ``epoch``, ``iteration``, ... Bare generator state dicts load too.
* Project: one ``.safetensors`` file holding the training-form state dict (original key names) with the
  JSON ``config`` (GeneratorConfig.to_dict), ``class_names`` and ``provenance`` in its header metadata.
"""
from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from .architecture import ArchitectureMismatch, check_state_dict, infer_config
from .checkpoint_files import read_safetensors, read_torch_file, sniff_format, strip_module_prefix
from .class_names import class_names_for
from .config import GeneratorConfig
from .errors import CheckpointError
from .generator import Generator
from .loaded import LoadedModel, inference_module

PROJECT_FORMAT = "gan3d-generator"
PROJECT_FORMAT_VERSION = "1"
#: A project file written during GAN training also carries the raw generator, the discriminators, the optimisers
#: and RNG state under keys with this prefix (``training.gan``); inference ignores them.
TRAINING_STATE_PREFIX = "train/"
OFFICIAL_WEIGHT_KEYS = ("generator_running_avg", "generator")  # EMA first (§8.1)
JSON_ARG_TYPES = (str, int, float, bool, type(None))


def load_model(path: "str | os.PathLike[str]") -> LoadedModel:
    """Load an official ``.pth`` or a project ``.safetensors`` generator, folded and in eval mode, on CPU.

    Raises CheckpointError (one-line message) for a missing file, a file that is not a checkpoint, a
    truncated/corrupt file, pickled code, or weights that do not fit the paper's generator.
    """
    path = Path(path)
    fmt = sniff_format(path)
    if fmt == "safetensors":
        tensors, metadata = read_safetensors(path)
        return _from_project_file(path, tensors, metadata)
    return _from_official(path, read_torch_file(path, fmt))


# ---- official checkpoints ---------------------------------------------------------------------------
def _from_official(path: Path, content: Any) -> LoadedModel:
    state, weights_key, args = _official_state(path, content)
    texture_hint = args.get("texture_resolution") if isinstance(args.get("texture_resolution"), int) else None
    symmetric_hint = args.get("symmetric") if isinstance(args.get("symmetric"), bool) else None
    try:
        config = infer_config(state, texture_hint, symmetric_hint)
    except ArchitectureMismatch as err:
        raise CheckpointError(f"{path}: wrong architecture: {err}") from None
    generator = _build(path, state, config)
    n_classes = config.n_classes
    dataset = args.get("dataset") if isinstance(args.get("dataset"), str) else None
    provenance = {
        "source": "official",
        "format": "textured-3d-gan checkpoint (.pth)",
        "file": str(path),
        "weights": weights_key,
        "dataset": dataset,
        "epoch": content.get("epoch") if isinstance(content, dict) else None,
        "iteration": content.get("iteration") if isinstance(content, dict) else None,
        "args": {k: _jsonable(v) for k, v in args.items()},
    }
    return LoadedModel(generator=inference_module(generator), config=config,
                       class_names=class_names_for(dataset, n_classes), provenance=provenance,
                       untrained=False, source=str(path))


def _official_state(path: Path, content: Any) -> tuple[dict[str, Tensor], str, dict[str, Any]]:
    """(generator state dict, which key it came from, args as a dict) of a torch checkpoint."""
    if not isinstance(content, dict):
        raise CheckpointError(f"{path} holds a {type(content).__name__}, not a checkpoint dict; expected "
                              f"torch.save({{'generator_running_avg': state_dict, 'args': ...}})")
    args = content.get("args", {})
    args = vars(args) if hasattr(args, "__dict__") and not isinstance(args, dict) else args
    args = args if isinstance(args, dict) else {}
    for key in OFFICIAL_WEIGHT_KEYS:
        if key in content:
            state, weights_key = content[key], key
            break
    else:
        if content and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in content.items()):
            state, weights_key = content, "state_dict"
        else:
            keys = ", ".join(map(str, list(content)[:6]))
            raise CheckpointError(f"{path} is a PyTorch file but not a GAN checkpoint: no 'generator_running_avg' "
                                  f"(keys: {keys or 'none'}); pass checkpoints_gan/NAME/checkpoint_latest.pth")
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: '{weights_key}' is not a state dict of tensors")
    return strip_module_prefix(state), weights_key, args


def _jsonable(value: Any) -> Any:
    if isinstance(value, JSON_ARG_TYPES):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


# ---- shared -----------------------------------------------------------------------------------------
def _build(path: Path, state: Mapping[str, Tensor], config: GeneratorConfig) -> Generator:
    """Training-form generator holding ``state`` (float tensors cast to float32), in eval mode."""
    generator = Generator(config)
    try:
        check_state_dict(state, generator.state_dict())
    except ArchitectureMismatch as err:
        raise CheckpointError(f"{path}: wrong architecture: {err}") from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"{path}: weights contain NaN/inf ({', '.join(bad[:3])}); the training run diverged "
                              f"or the file is damaged; use an earlier checkpoint")
    generator.load_state_dict(state, strict=True)  # copies, casting to float32
    return generator.eval()


# ---- project format ---------------------------------------------------------------------------------
def _from_project_file(path: Path, tensors: dict[str, Tensor], metadata: dict[str, str]) -> LoadedModel:
    tensors = {k: v for k, v in tensors.items() if not k.startswith(TRAINING_STATE_PREFIX)}
    if metadata.get("format") != PROJECT_FORMAT:
        # A plain safetensors export of the original state dict: infer everything from the shapes.
        try:
            config = infer_config(tensors)
        except ArchitectureMismatch as err:
            raise CheckpointError(f"{path}: wrong architecture: {err}") from None
        generator = _build(path, tensors, config)
        return LoadedModel(generator=inference_module(generator), config=config,
                           class_names=class_names_for(None, config.n_classes),
                           provenance={"source": "safetensors", "file": str(path)}, untrained=False, source=str(path))
    if metadata.get("format_version") != PROJECT_FORMAT_VERSION:
        raise CheckpointError(f"{path} uses gan3d format version {metadata.get('format_version')!r}, this version "
                              f"reads {PROJECT_FORMAT_VERSION}; update gan3d")
    try:
        config = GeneratorConfig.from_dict(json.loads(metadata["config"]))
        class_names = json.loads(metadata.get("class_names", "[]"))
        provenance = json.loads(metadata.get("provenance", "{}"))
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(f"{path} has a damaged gan3d header ({err}); save the model again") from None
    generator = _build(path, tensors, config)
    return LoadedModel(generator=inference_module(generator), config=config, class_names=list(class_names),
                       provenance=provenance, untrained=bool(provenance.get("untrained", False)), source=str(path))


def save_model(path: "str | os.PathLike[str]", generator: Generator, config: GeneratorConfig,
               class_names: "list[str] | None" = None, provenance: "dict[str, Any] | None" = None) -> Path:
    """Write ``generator`` (training form, any mode) as a project ``.safetensors`` file, atomically.

    The file keeps the original state-dict keys (spectral-norm u/v, BN statistics), so training can
    resume from it and other safetensors tools can read it. ``provenance`` (JSON-able) gets a ``created``
    UTC timestamp unless it has one. Returns the path written.
    """
    path = Path(path)
    if not isinstance(generator, Generator):
        raise TypeError(f"save_model needs the training-form Generator (folded modules cannot be saved), "
                        f"got {type(generator).__name__}")
    if generator.config != config:
        raise ValueError(f"config {config} does not describe this generator ({generator.config})")
    class_names = list(class_names or [])
    if config.conditional and len(class_names) != config.n_classes:
        raise ValueError(f"a {config.n_classes}-class generator needs {config.n_classes} class names, "
                         f"got {len(class_names)}")
    provenance = dict(provenance or {})
    provenance.setdefault("created", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    metadata = {
        "format": PROJECT_FORMAT,
        "format_version": PROJECT_FORMAT_VERSION,
        "config": json.dumps(config.to_dict()),
        "class_names": json.dumps(class_names),
        "provenance": json.dumps(provenance),
    }
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        save_file(state, str(partial), metadata=metadata)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)  # e.g. a full disk: the previous file under ``path`` stays as it was
        raise
    return path
