"""Small copies of the original release's ``cache/<dataset>`` files, written here in the exact layouts of §1.1–§1.3
(pickled numpy object arrays, ``np.savez_compressed`` of pickled dicts of torch tensors, ``torch.save`` dicts), so
the importer is tested on what the original wrote, not on what the importer expects."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dataformat import Pose, pose_to_crop
from training.data import rle
from training.data.upstream import upstream_crop_box

MODE = "singletpl"
SYNSET = "n02958343"


class SideEffect:
    """Pickles as a call of ``builtins.exec`` that would write ``path``: what a naive loader would run."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (exec, (f"open({self.path!r}, 'w').write('executed')",))


def ellipse(h: int, w: int, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    return ((xs + 0.5 - cx) / rx) ** 2 + ((ys + 0.5 - cy) / ry) ** 2 <= 1


def upstream_box(mask: np.ndarray) -> np.ndarray:
    """A detector's box as the original stores it: (1, 4) float, x1 y1 x2 y2 of the outermost pixels."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return np.array([[cols[0], rows[0], cols[-1], rows[-1]]], np.float32)


def part_dict(name: str, mask: np.ndarray, frequency: float, score: float = 0.8) -> dict:
    from dataformat.classes import PART_CLASS_ID

    return {"class": name, "class_id": PART_CLASS_ID[name], "class_id_vg3k": 100, "score": score,
            "bbox": upstream_box(mask)[0], "mask": rle.encode(mask), "frequency": frequency}


def detection_row(i: int, image_path: str, mask: np.ndarray, parts: list[dict] | None = None) -> dict:
    h, w = mask.shape
    return {"id": i, "class": "car", "class_id": 3, "image_height": h, "image_width": w, "image_path": image_path,
            "score": np.float32(0.97), "bbox": upstream_box(mask), "mask": rle.encode(mask),
            "num_parts": len(parts or []), "parts": list(parts or [])}


def save_detections(path: Path, rows: list) -> None:
    array = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        array[i] = row
    np.save(path, array)


def write_image(root: Path, relative: str, pixels: np.ndarray) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def pose_rows(records_poses: list[tuple[Pose, tuple[int, int], np.ndarray]]) -> dict[str, np.ndarray]:
    """The original's crop-frame pose arrays for full-frame poses (``(pose, (H, W), upstream bbox)``)."""
    q, s, t, z0 = [], [], [], []
    for pose, size, bbox in records_poses:
        crop = pose_to_crop(pose, size, upstream_crop_box(bbox))
        q.append(crop.q)
        s.append([crop.s])
        t.append(crop.t)
        z0.append([2.0 if pose.z0 is None else pose.z0])
    return {"R": torch.tensor(q, dtype=torch.float32), "s": torch.tensor(s, dtype=torch.float32),
            "t": torch.tensor(t, dtype=torch.float32), "z0": torch.tensor(z0, dtype=torch.float32)}


def save_poses_estimated(cache: Path, indices: list[int], poses: dict[str, torch.Tensor], n_templates: int = 1,
                         mode: str = MODE) -> None:
    m = len(indices)
    w = torch.zeros(m, n_templates)
    w[:, 0] = 1
    torch.save({"indices": torch.tensor(indices, dtype=torch.long), **poses, "w": w,
                "iou": torch.linspace(0.7, 0.9, m)[:, None], "miou": torch.linspace(0.5, 0.6, m)[:, None]},
               cache / f"poses_estimated_{mode}.bin")


def save_hypotheses(cache: Path, n: int, k: int = 40, n_templates: int = 1, mode: str = MODE) -> dict:
    g = torch.Generator().manual_seed(3)
    r = torch.nn.functional.normalize(torch.randn(n, k, 4, generator=g), dim=-1)
    data = {"R": r, "s": torch.rand(n, k, 1, generator=g), "t": torch.rand(n, k, 2, generator=g) - 0.5,
            "z0": torch.full((n, k, 1), 2.0), "w": torch.zeros(n, k, n_templates), "iou": torch.rand(n, k, generator=g)}
    data["w"][..., 0] = 1
    torch.save(data, cache / f"camera_hypotheses_silhouette_{mode}.bin")
    return data


def pseudogt_item(k: int, resolution: int = 512, n_parts: int = 3, category: int = 0) -> dict:
    g = torch.Generator().manual_seed(100 + k)
    alpha = (torch.rand(1, resolution, resolution, generator=g) > 0.5).half()
    texture = ((torch.rand(3, resolution, resolution, generator=g) * 2 - 1).half() * alpha)
    seg = torch.softmax(torch.randn(n_parts, 128, 128, generator=g), 0)
    return {"mesh": 0.05 * torch.randn(3, 32, 32, generator=g), "seg": seg, "texture": texture,
            "texture_alpha": alpha, "image": torch.zeros(4, 299, 299).half(), "category": category}


def save_pseudogt(cache: Path, items: list[dict], paths: list[str], poses: dict[str, torch.Tensor],
                  mode: str = MODE, resolution: int = 512) -> None:
    folder = cache / f"pseudogt_{resolution}x{resolution}_{mode}"
    folder.mkdir(parents=True, exist_ok=True)
    for i, item in enumerate(items):
        np.savez_compressed(folder / f"{i}", data=item)
    n = len(items)
    metadata = {"scale": poses["s"][:n], "translation": torch.cat([poses["t"][:n], torch.zeros(n, 1)], 1),
                "rotation": poses["R"][:n], "z0": poses["z0"][:n], "category": torch.zeros(n, dtype=torch.long),
                "path": list(paths[:n])}
    np.savez_compressed(cache / f"poses_metadata_{mode}", data=metadata)


def save_fid_stats(cache: Path) -> None:
    g = np.random.default_rng(0)
    a = g.normal(size=(2048, 8)).astype(np.float32)
    np.savez_compressed(cache / "precomputed_fid_299x299", stats_m=g.normal(size=2048).astype(np.float32),
                        stats_s=np.tril(a @ a.T), num_images=10, resolution=299)


def sphere_obj_in_upstream_order(path: Path, seed: int = 0) -> np.ndarray:
    """Write the project's sphere as an OBJ with shuffled vertex and UV order (like the original's Blender file);
    returns ``perm`` with ``original_vertices = project_vertices[perm]``."""
    from backend.mesh import uv_sphere

    sphere = uv_sphere(31)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(sphere.num_vertices)
    inverse = np.argsort(perm)              # project index -> original index
    uv_perm = rng.permutation(len(sphere.uvs))
    uv_inverse = np.argsort(uv_perm)
    lines = ["# Blender v2.81 (sub 16) OBJ File: 'uvsphere32.blend'", "o Sphere"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in np.asarray(sphere.vertices)[perm]]
    lines += [f"vt {u:.6f} {v:.6f}" for u, v in np.asarray(sphere.uvs)[uv_perm]]
    for face, face_uv in zip(np.asarray(sphere.faces), np.asarray(sphere.face_uvs)):
        lines.append("f " + " ".join(f"{inverse[a] + 1}/{uv_inverse[b] + 1}" for a, b in zip(face, face_uv)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return perm
