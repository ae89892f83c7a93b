"""Choosing the torch device: CUDA when asked for (or available with "auto"), CPU otherwise.

No code path assumes CUDA; this module is the one place that turns a user's choice into a ``torch.device``:
:func:`resolve_device` (libraries), :func:`device_for_command` (every CLI's ``--device`` / ``--gpu_ids``) and
:func:`device_for_worker` (the server's worker processes).
"""
from __future__ import annotations

import torch


class DeviceError(ValueError):
    """The requested device cannot be used (one-line message that says what to do instead)."""


def resolve_device(spec: "str | int | torch.device | None" = "auto") -> torch.device:
    """Turn a device choice into a ``torch.device``.

    spec:
        "auto" or None -> "cuda:0" when CUDA is available, else "cpu";
        "cpu"; "cuda" / "cuda:N"; a torch.device;
        the original project's ``--gpu_ids`` forms: "-1" -> CPU, "N" or N -> cuda:N, "0,1,..." -> the first id
        (generation runs on one device; batches are small enough that several GPUs do not help).
    Raises DeviceError when CUDA is requested but PyTorch sees no CUDA device (or not that many), or when the
    spec cannot be understood.
    """
    if spec is None:
        spec = "auto"
    if isinstance(spec, torch.device):
        spec = str(spec)
    if isinstance(spec, bool):
        raise DeviceError(f"device must be 'auto', 'cpu', 'cuda:N' or GPU ids like '0,1', got {spec!r}")
    if isinstance(spec, int):
        spec = str(spec)
    text = str(spec).strip().lower()
    if text == "auto":
        return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text in ("cuda", "gpu"):
        return _cuda(0, spec)
    if text.startswith("cuda:") and text[5:].isdigit():
        return _cuda(int(text[5:]), spec)
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if ids and all(part.lstrip("-").isdigit() for part in ids):
        first = int(ids[0])
        if first < 0:
            return torch.device("cpu")
        return _cuda(first, spec)
    raise DeviceError(f"unknown device {spec!r}: use 'auto', 'cpu', 'cuda:N', or GPU ids such as '0' or '0,1' "
                      f"('-1' for the CPU)")


def _cuda(index: int, spec: object) -> torch.device:
    if not torch.cuda.is_available():
        raise DeviceError(f"CUDA device {index} was requested ({spec!r}) but this PyTorch build sees no CUDA GPU "
                          f"(torch {torch.__version__}); use the CPU instead (--device cpu, or --gpu_ids -1)")
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError(f"CUDA device {index} was requested ({spec!r}) but only {count} GPU(s) are visible "
                          f"(ids 0..{count - 1})")
    return torch.device(f"cuda:{index}")


def is_gpu_id_list(spec: object) -> bool:
    """True for the original project's ``--gpu_ids`` form of one or more GPUs ("0", "0,1,2,3")."""
    parts = [part.strip() for part in str(spec).split(",") if part.strip()]
    return bool(parts) and all(part.isdigit() for part in parts)


def device_for_command(spec: "str | None", warn=None) -> torch.device:
    """The device a command line runs on: :func:`resolve_device`, except that the original README's GPU ids
    (``--gpu_ids 0``) on a machine without CUDA fall back to the CPU with a warning (``warn(message)``), so the
    paper's commands run anywhere. An explicit ``cuda`` / ``cuda:N`` without CUDA stays an error (DeviceError)."""
    try:
        return resolve_device(spec)
    except DeviceError as error:
        if not is_gpu_id_list(spec) or torch.cuda.is_available():
            raise
        if warn is not None:
            warn(f"WARNING: {error}; running on the CPU instead")
        return torch.device("cpu")


def device_for_worker(spec: str, index: int) -> str:
    """The device of server worker ``index``: ``auto`` spreads workers over the visible GPUs (worker i ->
    cuda:i mod n), else the CPU; GPU ids ("0,1") give worker i the id i mod len(ids); any other spec is used as
    given (each worker resolves it with :func:`resolve_device`)."""
    if spec == "auto":
        if torch.cuda.is_available():
            return f"cuda:{index % torch.cuda.device_count()}"
        return "cpu"
    if is_gpu_id_list(spec):
        ids = [part.strip() for part in str(spec).split(",") if part.strip()]
        return ids[index % len(ids)]
    return spec
