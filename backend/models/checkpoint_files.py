"""Reading checkpoint files safely: format sniffing, weights-only torch.load, safetensors.

Every failure becomes a one-line :class:`CheckpointError` that names the file, says what is wrong and
what to do. Nothing here executes pickled code: ``torch.load(weights_only=True)`` admits only tensors,
containers and primitive values (plus ``argparse.Namespace``, in case ``args`` was saved unconverted).
"""
from __future__ import annotations

import argparse
import json
import pickle
import re
import struct
import zipfile
from pathlib import Path
from typing import Any, Mapping, TypeVar

import torch

from .errors import CheckpointError

ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTOCOL_2_PLUS = 0x80
SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024
DATA_PARALLEL_PREFIX = "module."
Value = TypeVar("Value")


def sniff_format(path: Path) -> str:
    """'torch-zip', 'torch-legacy' or 'safetensors' from the first bytes; CheckpointError otherwise."""
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path} (check the path, or pass --checkpoint with an existing "
                              f".pth/.safetensors file)")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file (official ones are "
                              f"checkpoints_gan/NAME/checkpoint_latest.pth)")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): the download or copy did not finish; fetch it again")
    with path.open("rb") as handle:
        head = handle.read(16)
    if head.startswith(ZIP_MAGIC):
        return "torch-zip"
    if head[0] == PICKLE_PROTOCOL_2_PLUS:
        return "torch-legacy"
    if len(head) >= 9:
        (header_length,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and header_length <= SAFETENSORS_MAX_HEADER:
            if 8 + header_length > size:
                raise CheckpointError(f"{path} is a truncated safetensors file ({size} bytes, header alone needs "
                                      f"{8 + header_length}); copy or download it again")
            return "safetensors"
    kind = "a text file" if _looks_like_text(head) else "an unknown binary format"
    raise CheckpointError(f"{path} is not a checkpoint: it is {kind}, neither a PyTorch .pth nor a "
                          f".safetensors file; pass the generator checkpoint (checkpoint_latest.pth or *.safetensors)")


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(32 <= b < 127 or b in b"\t\r\n" for b in head)


def read_torch_file(path: Path, fmt: str) -> Any:
    """torch.load with weights_only=True on CPU; maps every failure to a CheckpointError."""
    if fmt == "torch-zip":
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            raise CheckpointError(f"{path} is truncated or corrupt (its zip directory is missing): the download or "
                                  f"copy did not finish; fetch the file again") from None
        if not any(name.endswith("/data.pkl") or name == "data.pkl" for name in names):
            raise CheckpointError(f"{path} is a zip archive but not a PyTorch checkpoint (no data.pkl; it holds "
                                  f"{', '.join(names[:3]) or 'nothing'}); if it is a release archive, unpack it "
                                  f"and pass checkpoints_gan/NAME/checkpoint_latest.pth")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        blocked = re.search(r"GLOBAL (\S+)", str(err))
        if blocked:
            raise CheckpointError(
                f"{path} contains pickled Python objects ({blocked.group(1)}) besides weights; refusing to execute "
                f"them. Re-save only the state dicts (e.g. torch.save({{'generator_running_avg': sd}})) from a "
                f"trusted copy") from None
        raise CheckpointError(f"{path} is corrupt or truncated ({_first_line(err)}); fetch the file again") from None
    except (EOFError, RuntimeError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path} is truncated or corrupt ({_first_line(err)}); fetch the file again") from None


def strip_module_prefix(state: Mapping[str, Value]) -> dict[str, Value]:
    """The state dict with DataParallel's ``module.`` prefix removed from every key that has it.

    The original networks (generator §8.1, reconstruction §8.4) were trained wrapped in DataParallel, which
    prefixes every key; the rule is per key, so a wholly wrapped dict, a plain one and a checkpoint dict that
    mixes wrapped weights with plain entries (``{"module.conv1e.weight": ..., "epoch": 3}``) all read the same
    way. Values (tensors or anything else) pass through untouched; key order is kept.
    """
    return {(k[len(DATA_PARALLEL_PREFIX):] if k.startswith(DATA_PARALLEL_PREFIX) else k): v for k, v in state.items()}


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors on CPU, header metadata) of a .safetensors file."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is a damaged safetensors file ({_first_line(err)}); fetch or save it "
                              f"again") from None
    return tensors, metadata


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]
