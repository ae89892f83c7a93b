"""Argument validation shared by the renderer's public functions.

Every check raises ``ValueError`` naming the argument, the expected shape/dtype/device and what was given, so
a caller learns what to change without reading the renderer.
"""
from __future__ import annotations

from typing import Sequence

import torch

Dim = int | str | None  # an exact size, a symbolic name that must agree across arguments, or "any"


def _format(shape: Sequence[Dim]) -> str:
    return "(" + ", ".join("*" if d is None else str(d) for d in shape) + ")"


def check_tensor(name: str, value: object, shape: Sequence[Dim], *, floating: bool = False,
                 integer: bool = False, device: torch.device | None = None,
                 sizes: dict[str, int] | None = None) -> torch.Tensor:
    """Check that ``value`` is a tensor of the given shape and kind; return it.

    Args:
        name: the argument's name as the caller knows it (used in the message).
        shape: expected sizes; an int must match exactly, a str must match the same symbol in ``sizes``
            (recorded there on first sight), None accepts any size.
        floating / integer: require a floating-point / integer dtype.
        device: require this device.
        sizes: shared symbol table for consistency across several arguments.
    """
    expected = _format(shape)
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape {expected}, got {type(value).__name__}")
    if value.dim() != len(shape):
        raise ValueError(f"{name} must have shape {expected}, got {tuple(value.shape)}")
    sizes = {} if sizes is None else sizes
    for axis, (want, got) in enumerate(zip(shape, value.shape)):
        if want is None:
            continue
        if isinstance(want, str):
            if want in sizes and sizes[want] != got:
                raise ValueError(f"{name} must have shape {expected} with {want}={sizes[want]} "
                                 f"(axis {axis}), got {tuple(value.shape)}")
            sizes.setdefault(want, got)
        elif want != got:
            raise ValueError(f"{name} must have shape {expected}, got {tuple(value.shape)}")
    if floating and not value.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor (float32 or float64), got {value.dtype}")
    if integer and (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool):
        raise ValueError(f"{name} must be an integer tensor (int64 or int32), got {value.dtype}")
    if device is not None and value.device != device:
        raise ValueError(f"{name} must be on device {device} (like the vertices), got {value.device}")
    return value


def check_resolution(resolution: int | Sequence[int]) -> tuple[int, int]:
    """Normalise ``resolution`` (N or (H, W), positive ints) to (H, W)."""
    if isinstance(resolution, int) and not isinstance(resolution, bool):
        height = width = resolution
    elif isinstance(resolution, (tuple, list)) and len(resolution) == 2 and all(
            isinstance(r, int) and not isinstance(r, bool) for r in resolution):
        height, width = resolution
    else:
        raise ValueError(f"resolution must be an int N or a pair (H, W) of ints, got {resolution!r}")
    if height <= 0 or width <= 0 or height > 16384 or width > 16384:
        raise ValueError(f"resolution must be between 1 and 16384 pixels per side, got {(height, width)}")
    return height, width


def check_faces(faces: object, num_vertices: int, device: torch.device, name: str = "faces") -> torch.Tensor:
    """Faces (F, 3) integer indices into V vertices, on the vertices' device."""
    faces = check_tensor(name, faces, (None, 3), integer=True, device=device)
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= num_vertices):
        raise ValueError(f"{name} must index vertices 0..{num_vertices - 1}, got values in "
                         f"[{int(faces.min())}, {int(faces.max())}]")
    return faces
