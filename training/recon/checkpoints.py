"""Loading reconstruction networks: the original ``checkpoints_recon/*/checkpoint_latest.pth`` files (weights only,
``module.`` prefix stripped, architecture inferred from the tensor shapes) and this project's run checkpoints
(``runs/NAME/checkpoint_latest.safetensors``, written by :mod:`training.recon.train`).

Nothing here executes pickled code: ``.pth`` files are read with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor

from backend.models.checkpoint_files import read_torch_file, sniff_format, strip_module_prefix
from backend.models.errors import CheckpointError
from training.engine import StateFileError, load_state

from .config import ENCODER_CHANNELS, NetworkConfig, TrainConfig
from .network import ReconstructionNetwork

CHECKPOINT_NAME = "checkpoint_latest.safetensors"


class ReconCheckpointError(CheckpointError, ValueError):
    """A reconstruction checkpoint cannot be used (one-line message); a ValueError, so CLIs print one line."""
MODEL_GROUP = "model"


@dataclass
class LoadedRecon:
    """A reconstruction network ready for inference (eval mode).

    network: the module; config: its architecture; train: the training settings of a project run (None for
    official files); meta: the run's JSON header (class and part names, pose source...) or the official ``args``;
    source: the file it came from; iteration: training iterations done (None when unknown); templates: the
    run's semi-supervision templates (T, V, 3) float32, None for official files.
    """

    network: ReconstructionNetwork
    config: NetworkConfig
    train: TrainConfig | None
    meta: dict
    source: Path
    iteration: int | None
    templates: "np.ndarray | None" = None


def network_config_from_state(state: Mapping[str, Tensor]) -> NetworkConfig:
    """Infer the architecture of a §8.4 state dict (keys without ``module.``) from its tensor shapes."""
    try:
        first = state["conv1e.weight"].shape[0]
        fc_in = state["fc1e.weight"].shape[1]
    except KeyError as exc:
        raise ReconCheckpointError(f"not a reconstruction-network state dict (no {exc.args[0]!r})") from None
    width = first / ENCODER_CHANNELS[0]
    last = state["conv5e.weight"].shape[0]
    bottom = math.isqrt(fc_in // last) if fc_in % last == 0 else 0
    if bottom * bottom * last != fc_in:
        raise ReconCheckpointError(f"fc1e takes {fc_in} inputs, not a square grid of {last}-channel features")
    if any(k.startswith("blk3c_tex.") for k in state):
        texture = 256
    elif any(k.startswith("blk3b_tex.") for k in state):
        texture = 128
    else:
        texture = 64
    if "conv_tex.weight" not in state:
        raise ReconCheckpointError("the network has no texture head (conv_tex); only texture-predicting models "
                              "(prediction_type texture or both) are supported")
    n_parts = int(state["conv_seg.weight"].shape[0]) if "conv_seg.weight" in state else 0
    n_classes = int(state["bn1e.fc_gamma.weight"].shape[0]) if "bn1e.fc_gamma.weight" in state else 1
    return NetworkConfig(image_resolution=32 * bottom, texture_resolution=texture, width=width,
                         n_classes=n_classes, n_parts=n_parts)


def load_network_state(network: ReconstructionNetwork, state: Mapping[str, Tensor], source: str) -> None:
    """Load a state dict into ``network``; missing BN ``num_batches_tracked`` counters (synchronised BN of the
    original) are filled with zeros. Other mismatches raise ReconCheckpointError naming the first few keys."""
    expected = network.state_dict()
    state = dict(state)
    for key in expected:
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros((), dtype=torch.long)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        detail = (f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}" if unexpected
                  else f"other shapes {wrong[:3]}")
        raise ReconCheckpointError(f"{source}: the reconstruction weights do not fit the network ({detail})")
    network.load_state_dict(state)


def _official(path: Path, content: Any) -> LoadedRecon:
    if isinstance(content, Mapping) and isinstance(content.get("generator"), Mapping):
        raw, meta = content["generator"], content.get("args")
        iteration = content.get("iteration")
    elif isinstance(content, Mapping) and "conv1e.weight" in strip_module_prefix(content):
        raw, meta, iteration = content, None, None
    else:
        keys = ", ".join(list(content)[:5]) if isinstance(content, Mapping) else type(content).__name__
        raise ReconCheckpointError(f"{path} is not a reconstruction checkpoint (it holds {keys}; expected a dict with "
                              f"'generator', as in checkpoints_recon/NAME/checkpoint_latest.pth)")
    state = {k: v for k, v in strip_module_prefix(raw).items() if isinstance(v, Tensor)}
    config = network_config_from_state(state)
    network = ReconstructionNetwork(config)
    load_network_state(network, state, str(path))
    meta_dict = vars(meta) if hasattr(meta, "__dict__") else dict(meta) if isinstance(meta, Mapping) else {}
    return LoadedRecon(network.eval(), config, None, {"args": _jsonable(meta_dict)}, path,
                       int(iteration) if isinstance(iteration, int) else None)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _project(path: Path) -> LoadedRecon:
    try:
        tensors, header = load_state(path)
    except StateFileError as exc:
        raise ReconCheckpointError(str(exc)) from None
    if header.get("stage") != "recon":
        raise ReconCheckpointError(f"{path} is a {header.get('stage', 'unknown')!r} training state, not a "
                              f"reconstruction run")
    config = NetworkConfig.from_dict(header["network"])
    network = ReconstructionNetwork(config)
    prefix = MODEL_GROUP + "/"
    load_network_state(network, {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)},
                       str(path))
    templates = tensors.get("extra/templates")
    return LoadedRecon(network.eval(), config, TrainConfig.from_dict(header["train"]), header, path,
                       int(header.get("iteration", 0)), None if templates is None else templates.float().numpy())


def load_recon(path: str | os.PathLike) -> LoadedRecon:
    """A reconstruction network from a run folder (``runs/NAME``), its ``checkpoint_latest.safetensors``, or an
    original ``checkpoint_latest.pth``. Raises ReconCheckpointError (a CheckpointError and a ValueError, one
    line) on any problem."""
    path = Path(path)
    if path.is_dir():
        candidates = [path / CHECKPOINT_NAME, path / "checkpoint_latest.pth"]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise ReconCheckpointError(f"{path} holds no {CHECKPOINT_NAME} (has the run saved its first checkpoint? "
                                  f"pass a run folder of `backend.train recon` or a .pth file)")
        path = found
    try:
        if _is_safetensors(path):
            return _project(path)
        fmt = sniff_format(path)
        return _official(path, read_torch_file(path, fmt))
    except CheckpointError as exc:
        raise ReconCheckpointError(str(exc)) from None


def _is_safetensors(path: Path) -> bool:
    """A safetensors file: 8-byte little-endian header length, then a JSON header that fits in the file.

    (Checked here first: a header length whose low byte is 0x80 looks like a pickle to a first-byte sniff.)
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(9)
    except OSError:
        return False
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 8 + int.from_bytes(head[:8], "little") <= path.stat().st_size
