"""Seeded, batch-size-invariant sampling: latents -> generator -> textured meshes.

Mesh j of a request with seed S comes from seed S + j: its latent is drawn on the CPU from
``torch.Generator().manual_seed(S + j)`` as a truncated normal (§4.1), so the result does not depend on the
batch size, on how a request is split, or on the device, and any single mesh can be reproduced from its own
seed. For class-conditional models without a chosen class, mesh j's class is drawn uniformly from the same
generator right after its latent.

Public API::

    gen = MeshGenerator(load_model(path), device="cpu")        # or "cuda:0", "auto"
    for mesh in gen.generate(count=4, seed=0, truncation=1.0, batch_size=8):
        mesh.vertices   # (962, 3) float32, object frame (z up, front -y)
        mesh.texture    # (T, T, 3) uint8, row 0 = top (v = 1)
    vertices, textures = gen.generate_tensors(count=16, seed=0)  # torch, on gen.device

Latent tools (numpy helpers shared with the add-on, from ``backend.protocol.latents``)::

    z, weights = gen.seed_latent(seed=7)                       # (latent_dim,), class vector or None
    gen.generate(None, latents=variation_latents(z, 0.3, 8, seed=0), class_weights=...)   # 8 cars near seed 7
    gen.generate(None, latents=blend_latents(a, b, blend_fractions(6, include_ends=True)))  # a, 6 in-betweens, b
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, NamedTuple, Sequence

import numpy as np
import torch
from torch import Tensor

from .device import resolve_device
from .mesh import MeshTemplate, displacement_to_vertices, uv_sphere
from .models import LoadedModel, truncated_normal
from .protocol.latents import (LatentError, blend_class_weights, blend_fractions, blend_latents,  # noqa: F401
                               check_class_weights, check_latents, one_hot, single_class, slerp, variation_latents)

MAX_SEED = 2**63 - 1
ClassChoice = "int | Sequence[int] | None"


@dataclass
class GeneratedMesh:
    """One generated mesh, ready for export or the wire.

    vertices: (V, 3) float32, object frame (x left-right, y front-back with the front at -y, z up), roughly [-1, 1].
    texture: (T, T, 3) uint8 RGB, row 0 is the top of the image (v = 1).
    seed: the seed this mesh was drawn from (request seed + its index).
    class_index: the class it was generated for (None for unconditional models); class_name its name if known.
    truncation: the σ of the truncated-normal latent.
    latent: (latent_dim,) float32, the latent vector used.
    class_weights: (n_classes,) float32 class vector when the mesh was made from one (class_index is then its
        class if it is one-hot, else None); None otherwise.
    """

    vertices: np.ndarray
    texture: np.ndarray
    seed: int
    class_index: "int | None"
    truncation: float
    latent: np.ndarray
    class_name: "str | None" = None
    class_weights: "np.ndarray | None" = None


class GeneratedTensors(NamedTuple):
    """vertices (B, V, 3) float32 object frame; textures (B, 3, T, T) float32 in [-1, 1]; both on the generator's
    device."""

    vertices: Tensor
    textures: Tensor


def texture_to_uint8(textures: Tensor) -> np.ndarray:
    """(B, 3, T, T) float in [-1, 1] -> (B, T, T, 3) uint8 numpy, value = round(clamp((t + 1) / 2 · 255))."""
    image = ((textures.detach().float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return image.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def class_index_for(model: LoadedModel, name_or_index: "str | int") -> int:
    """A class name (case-insensitive) or index of a conditional model -> its index; ValueError otherwise."""
    if not model.conditional:
        raise ValueError(f"the model is unconditional (it has no classes); drop the class choice "
                         f"(got {name_or_index!r})")
    n_classes = model.config.n_classes
    if isinstance(name_or_index, str) and not name_or_index.strip().lstrip("-").isdigit():
        names = [name.lower() for name in model.class_names]
        key = name_or_index.strip().lower()
        if key not in names:
            raise ValueError(f"unknown class {name_or_index!r}; this model knows: {', '.join(model.class_names)}")
        return names.index(key)
    index = int(name_or_index)
    if not 0 <= index < n_classes:
        raise ValueError(f"class index {index} is out of range: the model has {n_classes} classes (0..{n_classes - 1})")
    return index


def class_weight_rows(classes: Sequence, n_classes: int) -> Tensor:
    """Per-mesh classes given as ints and/or (n_classes,) class vectors -> (B, n_classes) float32 class vectors
    (ints become one-hot rows, which the generator treats exactly as the class index)."""
    rows = []
    for c in classes:
        if isinstance(c, (int, np.integer)):
            row = torch.zeros(n_classes, dtype=torch.float32)
            row[int(c)] = 1.0
        else:
            row = torch.as_tensor(c, dtype=torch.float32).reshape(n_classes)
        rows.append(row)
    return torch.stack(rows) if rows else torch.zeros(0, n_classes)


class MeshGenerator:
    """Samples textured meshes from a loaded generator on one device.

    model: a :class:`backend.models.LoadedModel` (eval mode, folded); it is moved to ``device``.
    device: "cpu", "cuda:N", "auto" or GPU ids (see :func:`backend.device.resolve_device`).
    Attributes: model, device (torch.device), template (the 31-ring UV sphere).
    """

    def __init__(self, model: LoadedModel, device: "str | torch.device" = "cpu") -> None:
        self.model = model
        self.device = resolve_device(device)
        self.template: MeshTemplate = uv_sphere(31)
        self.model.generator.to(self.device).eval()

    @property
    def latent_dim(self) -> int:
        return self.model.config.latent_dim

    @property
    def texture_resolution(self) -> int:
        return self.model.config.texture_resolution

    # ---- the request: latents, classes -----------------------------------------------------------------
    def plan(self, count: "int | None", seed: int, class_index: ClassChoice = None, truncation: float = 1.0,
             latents: "np.ndarray | Tensor | None" = None,
             class_weights: "np.ndarray | Tensor | None" = None) -> tuple[Tensor, "list[int] | Tensor | None"]:
        """Latents (N, latent_dim) float32 on the CPU and per-mesh classes: class indices, or (N, n_classes)
        float32 class vectors when ``class_weights`` is given (None if unconditional).

        count: number of meshes (may be None when ``latents`` is given). seed: mesh j uses seed + j.
        class_index: one class for every mesh, one per mesh, or None (random per mesh for conditional models).
        latents: optional (N, latent_dim) or (latent_dim,) latent vectors to use instead of drawing them.
        class_weights: optional class vectors, (N, n_classes) or one (n_classes,) row for every mesh: non-negative
            weights summing to 1 (a blend of classes); instead of ``class_index``.
        """
        truncation = float(truncation)
        if not (np.isfinite(truncation) and truncation > 0):
            raise ValueError(f"truncation must be a number > 0 (1.0 = the paper's value), got {truncation}")
        if latents is not None:
            given = torch.as_tensor(np.asarray(latents, dtype=np.float32))
            if given.dim() == 1:
                given = given[None]
            if given.dim() != 2 or given.shape[1] != self.latent_dim or given.shape[0] == 0:
                raise ValueError(f"latents must have shape (N, {self.latent_dim}) for this model, "
                                 f"got {tuple(np.shape(latents))}")
            if not torch.isfinite(given).all():
                raise ValueError("latents contain NaN or infinite values")
            if count is not None and count != given.shape[0]:
                raise ValueError(f"count ({count}) does not match the number of latents ({given.shape[0]})")
            count = given.shape[0]
        if count is None or isinstance(count, bool) or int(count) != count or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        count = int(count)
        if isinstance(seed, bool) or int(seed) != seed or not 0 <= seed <= MAX_SEED - count:
            raise ValueError(f"seed must be an integer in [0, 2**63 - 1 - count], got {seed!r}")
        seed = int(seed)

        weights = self._class_vectors(count, class_index, class_weights)
        fixed = self._fixed_classes(count, class_index)
        rows, classes = [], []
        for j in range(count):
            rng = torch.Generator().manual_seed(seed + j)
            rows.append(given[j] if latents is not None else truncated_normal((self.latent_dim,), truncation, rng))
            if self.model.conditional:
                classes.append(fixed[j] if fixed is not None
                               else int(torch.randint(self.model.config.n_classes, (1,), generator=rng)))
        if weights is not None:
            return torch.stack(rows), weights
        return torch.stack(rows), (classes if self.model.conditional else None)

    def _class_vectors(self, count: int, class_index: ClassChoice, class_weights) -> "Tensor | None":
        if class_weights is None:
            return None
        if not self.model.conditional:
            raise ValueError("the model is unconditional (it has no classes); do not pass class vectors")
        if class_index is not None:
            raise ValueError("give either a class or class vectors, not both")
        array = np.asarray(class_weights.cpu() if isinstance(class_weights, Tensor) else class_weights)
        if array.ndim == 1:
            array = np.broadcast_to(array, (count, array.shape[0]))
        checked = check_class_weights(array, self.model.config.n_classes, rows=count, what="class vectors")
        return torch.from_numpy(checked.copy())

    def seed_latent(self, seed: int, class_index: "int | str | None" = None,
                    truncation: float = 1.0) -> "tuple[np.ndarray, np.ndarray | None]":
        """The latent (latent_dim,) float32 of the mesh made from ``seed`` and, for a conditional model, its class
        as a one-hot class vector (n_classes,) (the chosen class, or the one drawn from the seed); else None."""
        z, classes = self.plan(1, seed, class_index, truncation)
        weights = one_hot(classes[0], self.model.config.n_classes) if classes is not None else None
        return z[0].numpy().copy(), weights

    def _fixed_classes(self, count: int, class_index: ClassChoice) -> "list[int] | None":
        if class_index is None:
            return None
        if not self.model.conditional:
            raise ValueError("the model is unconditional (it has no classes); do not pass a class")
        chosen = [class_index] * count if isinstance(class_index, (int, np.integer, str)) else list(class_index)
        if len(chosen) != count:
            raise ValueError(f"got {len(chosen)} class indices for {count} meshes")
        return [class_index_for(self.model, c) for c in chosen]

    # ---- running the network ---------------------------------------------------------------------------
    def forward(self, latents: Tensor, class_indices: "Sequence[int] | Tensor | None" = None) -> GeneratedTensors:
        """Run one batch: latents (B, latent_dim) float32 (any device) -> vertices and textures on ``device``.

        class_indices: (B,) class indices, or a (B, n_classes) float tensor of class vectors (conditional models).
        """
        z = latents.to(self.device, torch.float32)
        classes = None
        if self.model.conditional:
            if class_indices is None:
                raise ValueError("the model is class-conditional: pass one class index per latent")
            if isinstance(class_indices, Tensor) and class_indices.is_floating_point():   # class vectors (B, C)
                classes = class_indices.to(self.device, torch.float32)
            else:
                classes = torch.as_tensor(class_indices, dtype=torch.int64).to(self.device)
        with torch.inference_mode():
            textures, displacement = self.model.generator(z, classes)
            vertices = displacement_to_vertices(self.template, displacement.float(),
                                                symmetric=self.model.config.symmetric)
        return GeneratedTensors(vertices.float(), textures.float())

    def generate(self, count: "int | None", seed: int = 0, class_index: ClassChoice = None, truncation: float = 1.0,
                 batch_size: int = 8, latents: "np.ndarray | Tensor | None" = None,
                 class_weights: "np.ndarray | Tensor | None" = None) -> Iterator[GeneratedMesh]:
        """Yield ``count`` meshes (mesh j from seed + j), computed ``batch_size`` at a time.

        Arguments as in :meth:`plan`; validation happens before the first mesh is computed.
        """
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        z, classes = self.plan(count, seed, class_index, truncation, latents, class_weights)
        return self._iterate(z, classes, int(seed), float(truncation), int(batch_size))

    def _iterate(self, z: Tensor, classes: "list[int] | Tensor | None", seed: int, truncation: float,
                 batch_size: int) -> Iterator[GeneratedMesh]:
        vectors = isinstance(classes, Tensor)
        for start in range(0, len(z), batch_size):
            stop = min(start + batch_size, len(z))
            batch_classes = classes[start:stop] if classes is not None else None
            out = self.forward(z[start:stop], batch_classes)
            vertices = out.vertices.cpu().numpy()
            textures = texture_to_uint8(out.textures)
            for i in range(stop - start):
                j = start + i
                weights = classes[j].numpy().copy() if vectors else None
                class_index = single_class(weights) if vectors else (classes[j] if classes is not None else None)
                yield GeneratedMesh(
                    vertices=vertices[i], texture=textures[i], seed=seed + j, class_index=class_index,
                    truncation=truncation, latent=z[j].numpy().copy(),
                    class_name=self.model.class_names[class_index] if class_index is not None else None,
                    class_weights=weights)

    def generate_tensors(self, count: "int | None", seed: int = 0, class_index: ClassChoice = None,
                         truncation: float = 1.0, latents: "np.ndarray | Tensor | None" = None,
                         batch_size: "int | None" = None,
                         class_weights: "np.ndarray | Tensor | None" = None) -> GeneratedTensors:
        """Like :meth:`generate` but returns torch tensors on ``device`` for renderers and FID.

        Returns vertices (count, V, 3) float32 object frame and textures (count, 3, T, T) float32 in [-1, 1].
        batch_size: None = one forward pass for all meshes.
        """
        z, classes = self.plan(count, seed, class_index, truncation, latents, class_weights)
        step = len(z) if batch_size is None else int(batch_size)
        if step < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        parts = [self.forward(z[s:s + step], classes[s:s + step] if classes is not None else None)
                 for s in range(0, len(z), step)]
        return GeneratedTensors(torch.cat([p.vertices for p in parts]), torch.cat([p.textures for p in parts]))
