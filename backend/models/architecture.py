"""Infer a GeneratorConfig from a generator state dict (§8.2 shapes) and check a state dict against it."""
from __future__ import annotations

import math
from typing import Mapping

from torch import Tensor

from .config import TRUNK_CHANNELS, GeneratorConfig
from .generator import EXTRA_BLOCK_NAMES

MAX_LISTED = 4  # keys listed per category in a mismatch message


class ArchitectureMismatch(ValueError):
    """The state dict is not (this configuration of) the paper's generator. Message is one line."""


def _power_of_two(n: float) -> bool:
    return n >= 1 and float(n).is_integer() and (int(n) & (int(n) - 1)) == 0


def infer_config(state: Mapping[str, Tensor], texture_resolution_hint: "int | None" = None,
                 symmetric_hint: "bool | None" = None) -> GeneratorConfig:
    """Architecture from key names and shapes alone (hints from a checkpoint's args are cross-checked).

    Raises ArchitectureMismatch when the keys are not the paper's generator at all.
    """
    unsupported = [k for k in ("emb_color.weight", "att.conv_context.weight") if k in state]
    if unsupported:
        kind = "class+colour" if "emb_color.weight" in unsupported else "text-conditioned"
        raise ArchitectureMismatch(
            f"this is a convmesh {kind} generator ({unsupported[0]}), which is not supported; "
            f"use an unconditional or class-conditional model")
    needed = ("fc.weight", "blk1.conv1.weight_orig", "conv_final.weight", "conv_mesh.weight")
    missing = [k for k in needed if k not in state]
    if missing:
        sample = ", ".join(list(state)[:MAX_LISTED]) or "none"
        raise ArchitectureMismatch(
            f"not a textured-3d-gan/convmesh generator state dict: missing {', '.join(missing)} "
            f"(found {len(state)} keys: {sample}{', ...' if len(state) > MAX_LISTED else ''})")
    condition_dim = state["fc.weight"].shape[1]
    trunk = state["blk1.conv1.weight_orig"].shape[0]
    width = trunk / TRUNK_CHANNELS
    cells = state["fc.weight"].shape[0] / trunk  # fc_height * fc_width
    symmetric_side, square_side = math.sqrt(32 * cells), 4 * math.sqrt(cells)
    if _power_of_two(symmetric_side) and symmetric_hint is not False:
        symmetric, mesh_resolution = True, int(symmetric_side)
    elif _power_of_two(square_side) and symmetric_hint is not True:
        symmetric, mesh_resolution = False, int(square_side)
    else:
        raise ArchitectureMismatch(
            f"fc.weight has {state['fc.weight'].shape[0]} outputs, which is not {trunk} channels times an "
            f"(M/4 x M/8) or (M/4 x M/4) grid")
    n_extra = sum(f"{name}.conv1.weight_orig" in state for name in EXTRA_BLOCK_NAMES)
    texture_resolution = mesh_resolution * 2 ** (2 + n_extra)
    if texture_resolution_hint is not None and int(texture_resolution_hint) != texture_resolution:
        raise ArchitectureMismatch(
            f"args say texture_resolution {texture_resolution_hint} but the weights have {n_extra} blk3 blocks "
            f"(texture {texture_resolution})")
    if "emb_class.weight" in state:
        n_classes, embedding_dim = state["emb_class.weight"].shape
    else:
        n_classes, embedding_dim = 0, 64
    latent_dim = condition_dim - (embedding_dim if n_classes else 0)
    try:
        return GeneratorConfig(texture_resolution=texture_resolution, latent_dim=int(latent_dim),
                               n_classes=int(n_classes), class_embedding_dim=int(embedding_dim),
                               width=width, symmetric=symmetric, mesh_resolution=mesh_resolution)
    except ValueError as err:
        raise ArchitectureMismatch(f"weights imply an invalid generator: {err}") from None


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f", ... ({len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else "")


def check_state_dict(state: Mapping[str, Tensor], expected: Mapping[str, Tensor]) -> None:
    """Raise ArchitectureMismatch listing missing / unexpected / wrongly shaped keys of ``state`` (a few of each)."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}"
             for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({_listed(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_listed(unexpected)})")
    if wrong:
        parts.append(f"{len(wrong)} with other shapes ({_listed(wrong)})")
    if parts:
        raise ArchitectureMismatch("weights do not fit the generator: " + "; ".join(parts))

