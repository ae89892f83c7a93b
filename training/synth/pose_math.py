"""Pure-numpy helpers shared by the Blender worker and the readers: camera -> pose, ID-pass decoding.

No ``bpy`` here, so the conversions are testable (and importable) without Blender.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from dataformat.record import Pose

#: The ID pass encodes part id k as emitted radiance k / ID_LEVELS.
ID_LEVELS = 8

# Blender camera axes (x right, y up, looking down -z) -> CMR camera axes (x right, y down, z away).
_BLENDER_TO_CMR = np.diag([1.0, -1.0, -1.0])


def blender_camera_to_pose(camera_matrix_world: np.ndarray, ortho_scale: float) -> Pose:
    """Exact scaled-orthographic pose of an orthographic Blender camera looking at an object whose
    world transform is the identity (world coordinates = object frame).

    camera_matrix_world: (4, 4) float, the camera object's ``matrix_world`` (rotation + translation, no scale).
    ortho_scale: the camera's ``ortho_scale``: the world-space width of a square frame.
    Returns the pose with v_c = R(s v) + (tx, ty, 0) in CMR's camera frame and image coordinates in [-1, 1]
    (x to the right, y down; the frame's left/top edge is -1).
    """
    m = np.asarray(camera_matrix_world, np.float64)
    cam_rot, cam_loc = m[:3, :3], m[:3, 3]
    rotation = _BLENDER_TO_CMR @ cam_rot.T
    scale = 2.0 / float(ortho_scale)
    translation = (-(rotation @ cam_loc) * scale)[:2]
    return Pose.from_matrix(rotation, scale, translation)


def blender_perspective_to_pose(camera_matrix_world: np.ndarray, focal: float) -> Pose:
    """Pose of a pinhole Blender camera (square frame) looking at an object with identity transform.

    focal: normalised focal length = lens / (sensor width / 2) (the frame spans x_n in [-1, 1]).
    A point v projects exactly to x_n = f * X / Z with (X, Y, Z) its CMR camera coordinates. Writing D for the
    depth of the object's origin, s = f / D, t = s * (X0, Y0) and z = s * (R v)_z, this is
    ``(s * (R v)_xy + t) * f / (f + z)``: the scaled-orthographic pose times a perspective factor. The pose
    returned carries z0 = ln(f - 1) (Z = 1 + e^z0 = f), whose warp (Z - z/2) / (Z + z/2) of §6.2 agrees with
    f / (f + z) to first order in z / f; :func:`pinhole_project` gives the exact projection.
    """
    m = np.asarray(camera_matrix_world, np.float64)
    cam_rot, cam_loc = m[:3, :3], m[:3, 3]
    rotation = _BLENDER_TO_CMR @ cam_rot.T
    origin = -(rotation @ cam_loc)  # the object's origin in CMR camera coordinates
    if origin[2] <= 0:
        raise ValueError("the object is behind the camera")
    scale = focal / origin[2]
    return Pose.from_matrix(rotation, scale, origin[:2] * scale, z0=float(np.log(focal - 1.0)))


def pinhole_project(pose: Pose, focal: float, vertices: np.ndarray) -> np.ndarray:
    """Exact pinhole projection (N, 3) -> (N, 2) normalised image coordinates (x right, y down) of a
    perspective synthetic image, from its pose (ignoring z0) and its normalised focal length."""
    v = pose.project(vertices)
    return v[:, :2] * (focal / (focal + v[:, 2]))[:, None]


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer function used by Blender's "Standard" view transform (values in [0, 1])."""
    linear = np.clip(np.asarray(linear, np.float64), 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def id_codes() -> np.ndarray:
    """(ID_LEVELS + 1,) uint8: the 8-bit value that part id k produces in the ID pass."""
    return np.round(srgb_encode(np.arange(ID_LEVELS + 1) / ID_LEVELS) * 255).astype(np.uint8)


def decode_id_pass(rgba: np.ndarray, n_parts: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode an ID-pass image into a mask and a part map.

    rgba: (H, W, 4) uint8 as written by Blender (red channel = encoded part id, alpha = coverage).
    n_parts: number of part ids in use (ids 1..n_parts - 1 are valid; 0 is background).
    Returns mask (H, W) bool and parts (H, W) uint8 in [0, n_parts).
    Raises ValueError when a covered pixel's value is not close to any code (a broken pass).
    """
    codes = id_codes()[:n_parts].astype(np.int16)
    red = rgba[..., 0].astype(np.int16)
    covered = rgba[..., 3] >= 128
    distance = np.abs(red[..., None] - codes)
    parts = distance.argmin(-1).astype(np.uint8)
    if covered.any() and distance.min(-1)[covered].max() > 3:
        raise ValueError("ID pass holds values that are not part codes; was the view transform changed?")
    parts[~covered] = 0
    mask = parts > 0
    return mask, parts


def rotation_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """(3, 3) rotation -> (4,) unit quaternion (w, x, y, z) with w >= 0."""
    x, y, z, w = Rotation.from_matrix(rotation).as_quat()
    q = np.array([w, x, y, z])
    return q if q[0] >= 0 else -q
