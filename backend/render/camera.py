"""The camera of §6.2: pose (quaternion, scale, 2D translation, optional perspective z0) → renderer frame.

Object → CMR camera frame (x right, y down, z away from the viewer, image coordinates in [-1, 1]):
``v_c = rotate_q(s · v) + (tx, ty, 0)``. The renderer frame is ``(x_c, -y_c, -z_c)``: x right, y up, z toward
the viewer, so image row 0 is y = +1 and larger z is nearer. Projection is scaled orthographic; when the pose
carries ``z0``, the approximate perspective warp of textured-3d-gan multiplies x and y by
``(Z + z/2) / (Z - z/2)`` with ``Z = 1 + exp(z0)`` and z the renderer-frame depth.

Everything here is plain differentiable PyTorch, so gradients reach q, s, t and z0 through autograd.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .checks import check_tensor


@dataclass
class Pose:
    """A batch of B camera poses (one per mesh). Tensors may require grad.

    Attributes:
        q: (B, 4) float, rotation quaternion (w, x, y, z). Normalised before use, so it need not be exactly unit.
        s: (B, 1) float, scale (> 0 in practice).
        t: (B, 2) float, translation (tx, ty) in CMR camera coordinates (x right, y down), image units [-1, 1].
        z0: (B, 1) float or None; when given, the perspective warp with Z = 1 + exp(z0) is applied.
    """

    q: torch.Tensor
    s: torch.Tensor
    t: torch.Tensor
    z0: torch.Tensor | None = None

    def __post_init__(self) -> None:
        batch = self.q.shape[0] if isinstance(self.q, torch.Tensor) and self.q.dim() == 2 else None
        check_tensor("pose.q", self.q, ("B", 4), floating=True)
        check_tensor("pose.s", self.s, (batch, 1), floating=True)
        check_tensor("pose.t", self.t, (batch, 2), floating=True)
        if self.z0 is not None:
            check_tensor("pose.z0", self.z0, (batch, 1), floating=True)

    @property
    def batch_size(self) -> int:
        return self.q.shape[0]

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> "Pose":
        def move(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else x.to(device=device, dtype=dtype or x.dtype)

        return Pose(move(self.q), move(self.s), move(self.t), move(self.z0))

    def without_perspective(self) -> "Pose":
        """The same pose with z0 dropped (what FID renders and export previews use, §6.2)."""
        return Pose(self.q, self.s, self.t, None)

    def index(self, items: slice | torch.Tensor | list[int]) -> "Pose":
        """A sub-batch of poses."""
        return Pose(self.q[items], self.s[items], self.t[items], None if self.z0 is None else self.z0[items])

    @staticmethod
    def stack(poses, device: torch.device | str = "cpu", dtype: torch.dtype | None = None) -> "Pose":
        """One batch from single poses that have ``q`` (4,), ``s``, ``t`` (2,) and ``z0`` (float or None), such as
        the records' ``dataformat.Pose``: q (B, 4), s (B, 1), t (B, 2), z0 (B, 1) or None.

        All poses must agree on having z0 or not (ValueError otherwise, or when ``poses`` is empty).
        """
        poses = list(poses)
        if not poses:
            raise ValueError("no poses to stack")
        with_z0 = {p.z0 is not None for p in poses}
        if len(with_z0) != 1:
            raise ValueError("either every pose or none must have z0")
        dtype = dtype or torch.float32

        def make(rows: list) -> torch.Tensor:
            return torch.tensor(rows, dtype=dtype, device=device)

        return Pose(q=make([list(p.q) for p in poses]), s=make([[p.s] for p in poses]),
                    t=make([list(p.t) for p in poses]), z0=make([[p.z0] for p in poses]) if with_z0.pop() else None)

    @staticmethod
    def identity(batch_size: int = 1, scale: float = 1.0, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu") -> "Pose":
        """B identity rotations with the given scale and zero translation (camera looks at the object's -z side)."""
        q = torch.zeros(batch_size, 4, dtype=dtype, device=device)
        q[:, 0] = 1.0
        return Pose(q, torch.full((batch_size, 1), scale, dtype=dtype, device=device),
                    torch.zeros(batch_size, 2, dtype=dtype, device=device))


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrices of quaternions (w, x, y, z).

    Args:
        q: (..., 4) float, normalised here (any non-zero length).
    Returns:
        (..., 3, 3) float, R such that R @ v equals q v q*.
    """
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]
    return torch.stack(rows, dim=-1).reshape(q.shape[:-1] + (3, 3))


def quaternion_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a ⊗ b of (..., 4) quaternions (w, x, y, z); rotating by the result applies b first."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], dim=-1)


def axis_angle_quaternion(axis: tuple[float, float, float], angle_rad: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions of rotations by ``angle_rad`` (...,) about a fixed unit ``axis``."""
    half = angle_rad / 2
    a = torch.tensor(axis, dtype=half.dtype, device=half.device)
    return torch.cat([torch.cos(half)[..., None], torch.sin(half)[..., None] * a], dim=-1)


def viewpoint_quaternion(azimuth_deg: torch.Tensor, elevation_deg: torch.Tensor,
                         roll_deg: float | torch.Tensor = -90.0) -> torch.Tensor:
    """The view construction of §5.2: q_roll ⊗ q_elev ⊗ q_azim (azimuth acts first).

    q_azim rotates by -azimuth about z, q_elev by -elevation about y, q_roll by -roll about z.
    Elevation 90° with roll -90° is a horizontal side view of a z-up object (object +z is image-up);
    elevations above 90° look down on the object from above, below 90° up from below.

    Args:
        azimuth_deg, elevation_deg: (B,) float degrees.
        roll_deg: float or (B,) degrees.
    Returns:
        (B, 4) unit quaternions (w, x, y, z).
    """
    azimuth = torch.deg2rad(azimuth_deg)
    elevation = torch.deg2rad(elevation_deg)
    roll = torch.deg2rad(torch.as_tensor(roll_deg, dtype=azimuth.dtype, device=azimuth.device)).expand_as(azimuth)
    q_azim = axis_angle_quaternion((0.0, 0.0, 1.0), -azimuth)
    q_elev = axis_angle_quaternion((0.0, 1.0, 0.0), -elevation)
    q_roll = axis_angle_quaternion((0.0, 0.0, 1.0), -roll)
    return quaternion_multiply(q_roll, quaternion_multiply(q_elev, q_azim))


def mirror_pose(pose: Pose) -> Pose:
    """The pose of the left-right flipped image (§6.2): q ← (w, x, -y, -z), tx ← -tx."""
    sign_q = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=pose.q.dtype, device=pose.q.device)
    sign_t = torch.tensor([-1.0, 1.0], dtype=pose.t.dtype, device=pose.t.device)
    return Pose(pose.q * sign_q, pose.s, pose.t * sign_t, pose.z0)


def perspective_distance(z0: torch.Tensor) -> torch.Tensor:
    """Z = 1 + exp(z0), the camera distance in units of the scaled object (§6.2)."""
    return 1.0 + torch.exp(z0)


def object_to_renderer(vertices: torch.Tensor, pose: Pose) -> torch.Tensor:
    """Transform object-frame vertices into the renderer frame (the rasteriser's input).

    Args:
        vertices: (B, V, 3) float, object frame (docs/architecture.md).
        pose: B poses; with ``pose.z0`` set the perspective warp is applied.
    Returns:
        (B, V, 3) float: x, y in image units (the image covers [-1, 1]², y up), z toward the viewer
        (larger z is nearer). Differentiable w.r.t. vertices and every pose tensor.
    """
    check_tensor("vertices", vertices, (pose.batch_size, "V", 3), floating=True)
    rotation = quaternion_to_matrix(pose.q).to(vertices.dtype)
    scaled = vertices * pose.s[:, None, :].to(vertices.dtype)
    # R @ v as broadcast products (tiny tensors: avoids a threaded matmul's start-up cost)
    camera = (rotation[:, None, :, 0] * scaled[..., 0:1] + rotation[:, None, :, 1] * scaled[..., 1:2]
              + rotation[:, None, :, 2] * scaled[..., 2:3])
    translation = torch.cat([pose.t, torch.zeros_like(pose.t[:, :1])], dim=-1).to(vertices.dtype)
    camera = camera + translation[:, None, :]
    x, y, z = camera[..., 0], -camera[..., 1], -camera[..., 2]
    if pose.z0 is not None:
        distance = perspective_distance(pose.z0.to(vertices.dtype))  # (B, 1)
        factor = (distance + z / 2) / (distance - z / 2)
        x, y = x * factor, y * factor
    return torch.stack([x, y, z], dim=-1)


def random_view_poses(count: int, seed: int = 0, elevation_range_deg: tuple[float, float] = (95.0, 120.0),
                      scale: float = 0.9, dtype: torch.dtype = torch.float32) -> Pose:
    """Seeded random viewpoints for previews: azimuth uniform in [0, 360), elevation uniform in the range
    (90° = horizontal, larger = from above), roll -90°, zero translation, no perspective.

    ``scale`` 0.9 keeps a unit-radius object inside the frame.
    """
    generator = torch.Generator().manual_seed(seed)
    azimuth = torch.rand(count, generator=generator, dtype=torch.float64) * 360.0
    low, high = elevation_range_deg
    elevation = low + torch.rand(count, generator=generator, dtype=torch.float64) * (high - low)
    q = viewpoint_quaternion(azimuth, elevation).to(dtype)
    return Pose(q, torch.full((count, 1), scale, dtype=dtype), torch.zeros(count, 2, dtype=dtype))


__all__ = [
    "Pose", "quaternion_to_matrix", "quaternion_multiply", "axis_angle_quaternion", "viewpoint_quaternion",
    "mirror_pose", "perspective_distance", "object_to_renderer", "random_view_poses",
]

