"""A tiny synthetic collection rendered with the project's own renderer (no Blender): a textured ellipsoid on the
sphere topology under random poses, with masks, part maps, true poses and true meshes in the testbed's format."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from backend.mesh import uv_sphere
from backend.render import Pose, render_textured, viewpoint_quaternion
from dataformat import Pose as RecordPose
from dataformat import Record, write_collection
from dataformat.io import write_png_atomic
from training.synth.car import CarMesh
from training.synth.mesh_io import write_car_obj

EXTENT = (0.45, 1.0, 0.35)
PART_NAMES = ["background", "body", "wheel", "window"]


def known_texture(size: int = 64) -> torch.Tensor:
    """(3, size, size) in [-1, 1]: smooth, left-right symmetric colour ramps (u about 0.25/0.75, v)."""
    u = (torch.arange(size) + 0.5) / size
    v = torch.linspace(1, 0, size)
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    sym = torch.cos(4 * np.pi * (uu - 0.25))  # symmetric about u = 0.25 and 0.75
    return torch.stack([0.8 * sym, 1.6 * vv - 0.8, 0.6 * torch.sin(2 * np.pi * vv)], 0).float()


def ellipsoid_vertices(extent=EXTENT) -> np.ndarray:
    return (uv_sphere(31).vertices * np.asarray(extent, np.float32)).astype(np.float32)


def face_parts(vertices: np.ndarray) -> np.ndarray:
    """(F,) part id per face: window on top (z > 0.15), wheel at the bottom (z < -0.2), body elsewhere."""
    faces = uv_sphere(31).faces
    z = vertices[faces].mean(1)[:, 2]
    return np.where(z > 0.15, 3, np.where(z < -0.2, 2, 1)).astype(np.int64)


def random_poses(n: int, seed: int) -> Pose:
    g = torch.Generator().manual_seed(seed)
    azimuth = torch.rand(n, generator=g, dtype=torch.float64) * 360
    elevation = 95 + torch.rand(n, generator=g, dtype=torch.float64) * 25
    q = viewpoint_quaternion(azimuth, elevation).float()
    s = 0.75 + 0.1 * torch.rand(n, 1, generator=g)
    t = (torch.rand(n, 2, generator=g) - 0.5) * 0.1
    return Pose(q, s, t)


def make_collection(root: Path, n: int = 16, resolution: int = 128, seed: int = 0,
                    texture: torch.Tensor | None = None, extent=EXTENT) -> Path:
    """Write the collection; returns its folder. Every record has class 3 (car), a pose, parts and a mesh."""
    root = Path(root)
    (root / "parts").mkdir(parents=True, exist_ok=True)
    (root / "meshes").mkdir(exist_ok=True)
    template = uv_sphere(31)
    vertices = ellipsoid_vertices(extent)
    parts_per_face = face_parts(vertices)
    write_car_obj(root / "meshes" / "car_0.obj", CarMesh(vertices, template.faces.copy(), parts_per_face, "ellipsoid"))
    texture = known_texture() if texture is None else texture
    pose = random_poses(n, seed)
    faces = torch.as_tensor(np.asarray(template.faces))
    uvs = torch.as_tensor(np.asarray(template.uvs))
    face_uvs = torch.as_tensor(np.asarray(template.face_uvs))
    with torch.no_grad():
        out = render_textured(torch.from_numpy(vertices)[None].expand(n, -1, -1).contiguous(), faces, uvs, face_uvs,
                              texture[None].expand(n, -1, -1, -1).contiguous(), pose, resolution, background=1.0)
    images = ((out.image.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    masks = out.mask.numpy() > 0.5
    face_index = out.rasterization.face_index.numpy()
    records = []
    for i in range(n):
        parts = np.where(face_index[i] >= 0, parts_per_face[np.maximum(face_index[i], 0)], 0).astype(np.uint8)
        write_png_atomic(root / "parts" / f"{i:04d}.png", parts)
        p = RecordPose(tuple(float(v) for v in (pose.q[i] / pose.q[i].norm()) * (1 if pose.q[i, 0] >= 0 else -1)),
                       float(pose.s[i, 0]), (float(pose.t[i, 0]), float(pose.t[i, 1])))
        records.append(Record(id=f"{i:04d}", image_path=None, image_size=(resolution, resolution),
                              bbox=(0.0, 0.0, 0.0, 0.0), class_index=3, class_name="car", source="synth",
                              mask_array=masks[i], image_array=images[i], parts_path=root / "parts" / f"{i:04d}.png",
                              pose=p, extra={"mesh": "meshes/car_0.obj"}))
    from dataformat import CLASS_NAMES

    write_collection(root, records, list(CLASS_NAMES), PART_NAMES, name=root.name, source="synth")
    return root
