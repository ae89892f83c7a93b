"""``python -m backend.render`` against two oracles that share none of the project's code: a numpy
point-in-triangle rasteriser written here (rotation from scipy) and Blender (OBJ importer + orthographic
Workbench render). Silhouette IoU >= 0.99 at 256² on a deformed sphere and on non-convex meshes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.spatial.transform import Rotation

from backend.mesh import uv_sphere
from backend.render.__main__ import main as render_cli

from .shapes import deformed_sphere_vertices, l_prism, torus

RES = 256
REPO = Path(__file__).resolve().parents[2]
POSES = {  # (qw, qx, qy, qz, s, tx, ty)
    "sphere": (0.82, 0.31, -0.42, 0.24, 0.75, 0.06, -0.04),
    "torus": (0.93, 0.3, 0.15, -0.1, 0.95, -0.05, 0.03),
    "lprism": (0.6, -0.45, 0.55, 0.35, 0.9, 0.02, 0.05),
}


def write_obj_y_up(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    """OBJ in the usual Y-up file frame: object (x, y, z) → file (x, z, -y) (a rotation: winding kept)."""
    file_vertices = np.stack([vertices[:, 0], vertices[:, 2], -vertices[:, 1]], axis=1)
    lines = [f"v {x:.7f} {y:.7f} {z:.7f}" for x, y, z in file_vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")


def object_to_view(pose) -> np.ndarray:
    """4x4: object frame → view (x right, y up, z toward the viewer), from the pose definition of §6.2."""
    qw, qx, qy, qz, s, tx, ty = pose
    rotation = Rotation.from_quat([qx, qy, qz, qw]).as_matrix()  # scipy is scalar-last
    camera = np.eye(4)
    camera[:3, :3] = s * rotation
    camera[:3, 3] = (tx, ty, 0.0)
    flip = np.diag([1.0, -1.0, -1.0, 1.0])  # CMR camera (y down, z away) → view
    return flip @ camera


def numpy_silhouette(vertices: np.ndarray, faces: np.ndarray, pose, res: int) -> np.ndarray:
    """Pixel centres inside any triangle (either winding), (res, res) bool, row 0 at the top."""
    view = (object_to_view(pose) @ np.c_[vertices, np.ones(len(vertices))].T).T[:, :2]
    centres = (2 * np.arange(res) + 1 - res) / res
    mask = np.zeros((res, res), dtype=bool)
    for a, b, c in view[faces]:
        lo, hi = np.minimum(np.minimum(a, b), c), np.maximum(np.maximum(a, b), c)
        cols = np.nonzero((centres >= lo[0]) & (centres <= hi[0]))[0]
        rows = np.nonzero((-centres >= lo[1]) & (-centres <= hi[1]))[0]  # row j has y = -centres[j]
        if not len(cols) or not len(rows):
            continue
        x, y = np.meshgrid(centres[cols], -centres[rows])
        d1 = (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0])
        d2 = (c[0] - b[0]) * (y - b[1]) - (c[1] - b[1]) * (x - b[0])
        d3 = (a[0] - c[0]) * (y - c[1]) - (a[1] - c[1]) * (x - c[0])
        inside = ((d1 >= 0) & (d2 >= 0) & (d3 >= 0)) | ((d1 <= 0) & (d2 <= 0) & (d3 <= 0))
        mask[np.ix_(rows, cols)] |= inside
    return mask


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """The three meshes as Y-up OBJ files, rendered by the CLI's main() (hard mask = alpha) and by Blender."""
    work = tmp_path_factory.mktemp("oracle")
    sphere = uv_sphere()
    meshes = {
        "sphere": (deformed_sphere_vertices(torch.from_numpy(np.array(sphere.vertices)), 7).numpy(),
                   np.array(sphere.faces)),
        "torus": torus(),
        "lprism": l_prism(),
    }
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cli, jobs = {}, []
    for name, (vertices, faces) in meshes.items():
        obj = work / f"{name}.obj"
        write_obj_y_up(obj, vertices, faces)
        out = work / f"{name}_cli.png"
        assert render_cli([str(obj), "--pose", *map(str, POSES[name]), "--res", str(RES), "--out", str(out)]) == 0
        cli[name] = np.asarray(Image.open(out))
        jobs.append({"obj": str(obj), "matrix": object_to_view(POSES[name]).tolist(), "res": RES,
                     "out": str(work / f"{name}_blender.png")})
    job_file = work / "jobs.json"
    job_file.write_text(json.dumps(jobs))
    blender = subprocess.run([sys.executable, str(Path(__file__).with_name("blender_silhouette.py")),
                              str(job_file)], env=env, capture_output=True, text=True, timeout=300)
    assert blender.returncode == 0, blender.stderr[-2000:]
    blender_masks = {name: np.asarray(Image.open(work / f"{name}_blender.png"))[..., 3] > 127 for name in meshes}
    return meshes, cli, blender_masks


@pytest.mark.parametrize("name", ["sphere", "torus", "lprism"])
def test_cli_silhouette_matches_numpy_rasteriser(scene, name):
    meshes, cli, _ = scene
    rendered = cli[name]
    assert rendered.shape == (RES, RES, 4)
    mask = rendered[..., 3] > 127
    expected = numpy_silhouette(*meshes[name], POSES[name], RES)
    assert expected.sum() > 0.05 * RES * RES
    assert iou(mask, expected) >= 0.99
    if name == "torus":  # the hole is really open (non-convex silhouette)
        assert not mask[RES // 2 - 3:RES // 2 + 3, RES // 2 - 3:RES // 2 + 3].all()


@pytest.mark.parametrize("name", ["sphere", "torus", "lprism"])
def test_cli_silhouette_matches_blender(scene, name):
    _, cli, blender = scene
    assert blender[name].sum() > 0.05 * RES * RES
    assert iou(cli[name][..., 3] > 127, blender[name]) >= 0.99
