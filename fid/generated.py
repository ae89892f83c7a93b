"""The generated set of the FID protocol (§7): samples rendered at 299² under the dataset's poses.

Sample j (j = 0 .. n-1) takes the pose (and, for class-conditional models, the class) of pose record j mod N — the
original walks the training set in order, repeated as often as needed — and its latent from seed + j
(backend.sampling's rule), so the set does not depend on the batch size. Renders are hard textured DIB-R renders,
scaled orthographic (z0 ignored, as the original), background 0 in [-1, 1] (mid-grey), mapped to [0, 1].

Texture-only and mesh-only FID (§7) need pseudo-ground-truth per training image: the pseudo-GT stage writes it
(``python -m backend.train pseudogt``, ``training/pseudogt``). This package reads no training output (it sits below
``training``), so it takes pseudo-GT through :class:`PseudoGroundTruth`: any object with ``vertices(indices)`` and
``texture(indices)``. With it, "texture_only" renders the pseudo-GT mesh with the generated texture and "mesh_only"
the generated mesh with the pseudo-GT (partial) texture. ``training.gan.evaluate.PseudoGTMeshes`` is that object
for a pseudo-GT folder, and ``python -m backend.train gan evaluate --pseudogt DIR --mode texture_only|mesh_only``
computes those FIDs with it.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np
import torch

from dataformat import crop_pose
from fid.errors import FIDError
from fid.inception_net import INPUT_RESOLUTION

MODES = ("full", "texture_only", "mesh_only")


class PseudoGroundTruth(Protocol):
    """Per-record pseudo-ground-truth (``training.gan.evaluate.PseudoGTMeshes`` over a ``backend.train pseudogt``
    folder).

    vertices(indices) -> (B, V, 3) float32 object-frame mesh of each record; texture(indices) -> (B, 3, T, T) float32
    in [-1, 1], 0 where the texel was not visible. ``indices`` index the plan's pose records.
    """

    def vertices(self, indices: Sequence[int]) -> torch.Tensor: ...

    def texture(self, indices: Sequence[int]) -> torch.Tensor: ...


@dataclasses.dataclass
class SamplePlan:
    """What each generated sample uses.

    record_index: (n,) int64, the pose record of each sample; q (n, 4) w,x,y,z; s (n, 1); t (n, 2): its pose in the
    299² crop frame; class_index: (n,) model class indices, or None for unconditional models.
    """

    record_index: np.ndarray
    q: np.ndarray
    s: np.ndarray
    t: np.ndarray
    class_index: list[int] | None

    def __len__(self) -> int:
        return int(self.record_index.shape[0])


def _model_class(model, record) -> int:
    from backend.sampling import class_index_for

    try:
        return class_index_for(model, record.class_name)
    except ValueError:
        try:
            return class_index_for(model, int(record.class_index))
        except ValueError as exc:
            raise FIDError(f"record {record.id!r} has class {record.class_name!r} ({record.class_index}) which the "
                           f"model does not know ({', '.join(model.class_names)}); use --filter_class") from None


def plan_samples(records: Sequence, count: int, model) -> SamplePlan:
    """Poses (and classes) for ``count`` samples from the records that carry an object-frame pose."""
    if count < 1:
        raise FIDError(f"the number of generated samples must be at least 1, got {count}")
    posed = [i for i, r in enumerate(records) if r.pose is not None and r.pose.frame == "object"]
    if not posed:
        frames = sorted({r.pose.frame for r in records if r.pose is not None})
        detail = f" (poses given in frame(s) {', '.join(frames)}, not 'object')" if frames else ""
        raise FIDError(f"no record of the dataset has a pose in the object frame{detail}; the generated set is "
                       "rendered under the dataset's poses (§7): estimate poses first")
    chosen = [posed[j % len(posed)] for j in range(count)]
    poses = {i: crop_pose(records[i]) for i in sorted(set(chosen))}
    classes = [_model_class(model, records[i]) for i in chosen] if model.conditional else None
    return SamplePlan(record_index=np.asarray(chosen, np.int64),
                      q=np.asarray([poses[i].q for i in chosen], np.float32),
                      s=np.asarray([[poses[i].s] for i in chosen], np.float32),
                      t=np.asarray([poses[i].t for i in chosen], np.float32),
                      class_index=classes)


def render_samples(generator, plan: SamplePlan, seed: int, truncation: float = 1.0, batch_size: int = 16,
                   impl: str = "fast", mode: str = "full", pseudo_gt: PseudoGroundTruth | None = None,
                   resolution: int = INPUT_RESOLUTION) -> Iterator[torch.Tensor]:
    """Yield the generated set in order as (B, 3, resolution, resolution) float32 in [0, 1] (on the CPU).

    generator: a backend.sampling.MeshGenerator; sample j uses seed + j.
    """
    if mode not in MODES:
        raise FIDError(f"unknown FID mode {mode!r}: use one of {', '.join(MODES)}")
    if mode != "full" and pseudo_gt is None:
        raise FIDError(f"{mode.replace('_', '-')} FID needs pseudo-ground-truth of the dataset (pseudo_gt); compute it "
                       f"with `python -m backend.train gan evaluate --pseudogt DIR --mode {mode}`, or use the full FID")
    if batch_size < 1:
        raise FIDError(f"batch size must be at least 1, got {batch_size}")
    device = generator.device
    topology = template_topology(generator.template, device)
    for start in range(0, len(plan), batch_size):
        stop = min(start + batch_size, len(plan))
        classes = plan.class_index[start:stop] if plan.class_index is not None else None
        vertices, textures = generator.generate_tensors(stop - start, seed=seed + start, class_index=classes,
                                                        truncation=truncation)
        records = plan.record_index[start:stop].tolist()
        if mode == "texture_only":
            vertices = pseudo_gt.vertices(records).to(device, torch.float32)
        elif mode == "mesh_only":
            textures = pseudo_gt.texture(records).to(device, torch.float32)
        yield render_planned(vertices, textures, topology, plan, start, stop, resolution, impl).cpu()


def template_topology(template, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The template's (faces (F, 3) int64, uvs (U, 2) float32, face_uvs (F, 3) int64) as tensors on ``device``."""
    faces = torch.as_tensor(np.array(template.faces), dtype=torch.int64, device=device)
    uvs = torch.as_tensor(np.array(template.uvs), dtype=torch.float32, device=device)
    face_uvs = torch.as_tensor(np.array(template.face_uvs), dtype=torch.int64, device=device)
    return faces, uvs, face_uvs


def render_planned(vertices: torch.Tensor, textures: torch.Tensor, topology, plan: SamplePlan, start: int, stop: int,
                   resolution: int = INPUT_RESOLUTION, impl: str = "fast") -> torch.Tensor:
    """Hard textured renders of samples ``start:stop`` of ``plan`` under their poses, grey background.

    vertices: (B, V, 3); textures: (B, 3, H, W) in [-1, 1]; topology: ``template_topology``'s tuple.
    Returns (B, 3, resolution, resolution) float32 in [0, 1] on the vertices' device.
    """
    from backend.render import Pose, render_textured

    faces, uvs, face_uvs = topology
    pose = Pose(q=torch.from_numpy(plan.q[start:stop]), s=torch.from_numpy(plan.s[start:stop]),
                t=torch.from_numpy(plan.t[start:stop])).to(vertices.device)
    with torch.no_grad():
        out = render_textured(vertices, faces, uvs, face_uvs, textures, pose, resolution, background=None, impl=impl)
    return ((out.image.clamp(-1.0, 1.0) + 1.0) / 2.0).float()
