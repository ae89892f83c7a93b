"""Atomic, pickle-free training checkpoints: safetensors tensors + a JSON header.

A training state file holds named groups of tensors (``model/...``, ``ema/...``, ``optim_g/...``) and one JSON
document (step counters, config, RNG seeds, anything JSON-able). ``atomic_save`` writes ``path.partial``,
fsyncs it, renames it over ``path`` and fsyncs the folder: after a crash the file under ``path`` is either the
previous complete checkpoint or the new complete one.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch

STATE_FORMAT = "gan3d-training-state"
STATE_VERSION = 1


class StateFileError(ValueError):
    """A training state file is missing, truncated, corrupt or of another kind. The message is one line."""


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], header: Mapping[str, Any]) -> Path:
    """Write ``tensors`` (name -> tensor) and the JSON-able ``header`` to ``path`` atomically.

    On any failure (e.g. ENOSPC) the partial file is removed and the previous file under ``path`` is untouched;
    the error propagates as OSError.
    """
    metadata = {"format": STATE_FORMAT, "format_version": str(STATE_VERSION), "header": json.dumps(dict(header))}
    return atomic_save_file(path, tensors, metadata)


def atomic_save_file(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor],
                     metadata: Mapping[str, str]) -> Path:
    """The low-level atomic safetensors write (temporary file, fsync, rename, fsync of the folder)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    metadata = dict(metadata)
    state = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    try:
        save_file(state, str(partial), metadata=metadata)
        with open(partial, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write JSON to ``path`` via a temporary file + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path


def load_state(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a file written by :func:`atomic_save`: (tensors, header). Raises StateFileError (one line)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise StateFileError(f"{path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise StateFileError(f"{path} is not a readable checkpoint ({exc}); delete it or resume from another") \
            from None
    if metadata.get("format") != STATE_FORMAT:
        raise StateFileError(f"{path} is not a gan3d training state (format {metadata.get('format')!r})")
    try:
        header = json.loads(metadata["header"])
    except (KeyError, ValueError) as exc:
        raise StateFileError(f"{path} has a damaged header ({exc})") from None
    return tensors, header


def group(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors stored under ``prefix/`` with the prefix removed."""
    p = prefix + "/"
    return {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Flatten an optimiser state dict: tensors ``"{param}/{key}"`` plus JSON (param groups, scalar entries)."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param_id, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{param_id}/{key}"] = value
            else:
                scalars.setdefault(str(param_id), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor],
                           info: Mapping[str, Any]) -> None:
    """Inverse of :func:`optimizer_to_tensors` (loads into ``optimizer``)."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        param_id, key = name.split("/", 1)
        state.setdefault(int(param_id), {})[key] = value
    for param_id, entries in info.get("scalars", {}).items():
        state.setdefault(int(param_id), {}).update(entries)
    optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})


def rng_to_tensors() -> dict[str, torch.Tensor]:
    """The CPU (and, when present, current CUDA device) RNG states as uint8 tensors."""
    out = {"cpu": torch.random.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state()
    return out


def rng_from_tensors(tensors: Mapping[str, torch.Tensor]) -> None:
    if "cpu" in tensors:
        torch.random.set_rng_state(tensors["cpu"])
    if "cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["cuda"])


def save_training_state(path: str | os.PathLike, *, modules: Mapping[str, torch.nn.Module],
                        optimizers: Mapping[str, torch.optim.Optimizer], header: Mapping[str, Any],
                        extra_tensors: Mapping[str, torch.Tensor] | None = None) -> Path:
    """One atomic file with every module's state dict, every optimiser and the RNG state."""
    tensors: dict[str, torch.Tensor] = {}
    optim_info: dict[str, Any] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"{name}/{key}"] = value
    for name, optimizer in optimizers.items():
        flat, info = optimizer_to_tensors(optimizer)
        optim_info[name] = info
        tensors.update({f"{name}/{k}": v for k, v in flat.items()})
    tensors.update({f"rng/{k}": v for k, v in rng_to_tensors().items()})
    tensors.update({f"extra/{k}": v for k, v in (extra_tensors or {}).items()})
    return atomic_save(path, tensors, {**header, "optimizers": optim_info})


def load_training_state(path: str | os.PathLike, *, modules: Mapping[str, torch.nn.Module],
                        optimizers: Mapping[str, torch.optim.Optimizer], restore_rng: bool = True
                        ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Load a :func:`save_training_state` file into ``modules`` / ``optimizers``; returns (header, extra tensors).

    A module whose keys or shapes differ raises StateFileError naming the first few differences.
    """
    tensors, header = load_state(path)
    for name, module in modules.items():
        state = group(tensors, name)
        expected = module.state_dict()
        missing = [k for k in expected if k not in state]
        wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
        if missing or wrong or len(state) != len(expected):
            detail = f"missing {missing[:3]}" if missing else f"other shapes {wrong[:3]}" if wrong else \
                f"{len(state)} keys instead of {len(expected)}"
            raise StateFileError(f"{path}: the saved {name!r} does not fit this configuration ({detail}); "
                                 f"start a new run folder or use the settings the run was made with")
        module.load_state_dict(state)
    for name, optimizer in optimizers.items():
        try:
            optimizer_from_tensors(optimizer, group(tensors, name), header["optimizers"][name])
        except (KeyError, ValueError) as exc:
            raise StateFileError(f"{path}: optimiser {name!r} cannot be restored ({exc})") from None
    if restore_rng:
        rng_from_tensors(group(tensors, "rng"))
    return header, group(tensors, "extra")
