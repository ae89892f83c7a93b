"""Measuring a reconstruction run against a synthetic testbed's truth on held-out images.

Per image (crops at the network's input resolution R, poses from the chosen source):

* **mask IoU**: hard silhouette of the reconstruction under its pose vs the image's mask (≥ 0.5), at R×R;
* **Chamfer distance** to the true mesh: both meshes centred on their bounding box and scaled to half-length 1
  (the largest half-extent), ``CHAMFER_POINTS`` area-uniform surface samples each, reported as
  ½ (mean_a min_b ‖a − b‖ + mean_b min_a ‖a − b‖); the same for the semi-supervision template (the baseline);
* **texture PSNR**: the rendered texture against the image, both in [0, 1], over pixels covered by the render
  and inside the mask; 10 log10(1 / MSE).

A contact sheet shows, per row: the image, the reconstruction under the image's pose, the same from a new view,
and the pseudo-GT texture projected from the image through the reconstruction (invisible texels grey).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from backend.mesh import uv_sphere
from backend.render import Pose, render_textured, viewpoint_quaternion
from dataformat import load_collection
from training.engine import atomic_write_json
from training.engine.stage import Events

from .checkpoints import load_recon
from .data import prefetch
from .poses import resolve_poses
from .previews import grid, to_uint8
from .render import template_tensors
from .steps import predict
from .templates import DEFAULT_EXTENT, scaled_sphere

CHAMFER_POINTS = 4096
#: The "new view" of the contact sheet: a three-quarter view from slightly above.
NEW_VIEW = (35.0, 110.0)


def normalise_half_length(vertices: np.ndarray) -> np.ndarray:
    """Centre the bounding box and scale so that the largest half-extent is 1: (V, 3) -> (V, 3) float64."""
    v = np.asarray(vertices, np.float64)
    low, high = v.min(0), v.max(0)
    return (v - (low + high) / 2) / max(float((high - low).max()) / 2, 1e-12)


def sample_surface(vertices: np.ndarray, faces: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` points uniformly distributed over the mesh's area: (count, 3) float64 (seeded)."""
    rng = np.random.default_rng(seed)
    tri = np.asarray(vertices, np.float64)[np.asarray(faces)]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if not area.sum() > 0:
        raise ValueError("mesh has no area")
    chosen = rng.choice(len(tri), size=count, p=area / area.sum())
    r1, r2 = np.sqrt(rng.random(count))[:, None], rng.random(count)[:, None]
    a, b, c = tri[chosen, 0], tri[chosen, 1], tri[chosen, 2]
    return (1 - r1) * a + r1 * (1 - r2) * b + r1 * r2 * c


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """½ (mean_a min_b ‖a − b‖ + mean_b min_a ‖a − b‖) of two (N, 3) point sets."""
    ta, tb = torch.from_numpy(a).float(), torch.from_numpy(b).float()
    d = torch.cdist(ta, tb, compute_mode="donot_use_mm_for_euclid_dist")  # exact, not via a matrix product
    return float(0.5 * (d.min(1).values.mean() + d.min(0).values.mean()))


def mesh_chamfer(vertices_a: np.ndarray, faces_a: np.ndarray, vertices_b: np.ndarray, faces_b: np.ndarray,
                 count: int = CHAMFER_POINTS) -> float:
    """Chamfer distance of two meshes after :func:`normalise_half_length` of each."""
    return chamfer(sample_surface(normalise_half_length(vertices_a), faces_a, count, seed=1),
                   sample_surface(normalise_half_length(vertices_b), faces_b, count, seed=2))


@dataclass
class EvalReport:
    """Per-image metrics ({id: {...}}), their means, and where the files went."""

    rows: dict[str, dict]
    settings: dict
    path: Path | None = None
    sheet: Path | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    def mean(self, key: str) -> float:
        values = [r[key] for r in self.rows.values() if r.get(key) is not None and math.isfinite(r[key])]
        return float(np.mean(values)) if values else float("nan")

    def count(self, key: str) -> int:
        return sum(1 for r in self.rows.values() if r.get(key) is not None and math.isfinite(r[key]))

    def summaries(self) -> dict[str, float]:
        ious = [r["iou"] for r in self.rows.values()]
        return {"n_images": len(self.rows), "iou_mean": self.mean("iou"),
                "iou_median": float(np.median(ious)) if ious else float("nan"),
                "iou_min": float(np.min(ious)) if ious else float("nan"),
                "chamfer_mean": self.mean("chamfer"), "chamfer_template_mean": self.mean("chamfer_template"),
                "n_chamfer": self.count("chamfer"), "psnr_mean": self.mean("psnr")}

    def summary(self) -> str:
        s = self.summaries()
        line = (f"{s['n_images']} images: mask IoU mean {s['iou_mean']:.4f} (median {s['iou_median']:.4f}, "
                f"min {s['iou_min']:.4f}); Chamfer to truth {s['chamfer_mean']:.4f} vs template "
                f"{s['chamfer_template_mean']:.4f} ({s['n_chamfer']} meshes, half-length 1); texture PSNR "
                f"{s['psnr_mean']:.2f} dB (visible pixels)")
        if self.skipped:
            line += f"; skipped {self.skipped}"
        return line

    def to_json(self) -> dict:
        return {"summary": self.summaries(), "settings": self.settings, "skipped": self.skipped, "images": self.rows}


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _psnr(rendered: torch.Tensor, image: torch.Tensor, region: torch.Tensor) -> float:
    """rendered, image (3, H, W) in [-1, 1]; region (H, W) bool -> PSNR in dB on [0, 1] colours (NaN if empty)."""
    if not bool(region.any()):
        return float("nan")
    diff = ((rendered - image) / 2)[:, region]
    mse = float((diff ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(1 / mse)


def _new_view(count: int, scale: float = 0.9) -> Pose:
    azimuth = torch.full((count,), NEW_VIEW[0], dtype=torch.float64)
    elevation = torch.full((count,), NEW_VIEW[1], dtype=torch.float64)
    return Pose(viewpoint_quaternion(azimuth, elevation).float(), torch.full((count, 1), scale),
                torch.zeros(count, 2))


def evaluate_run(run: str | os.PathLike, collection: str | os.PathLike, poses: str = "truth",
                 out: str | os.PathLike | None = None, limit: int | None = None, batch_size: int = 16,
                 sheet_rows: int = 8, device: str = "cpu",
                 events: Events | None = None) -> EvalReport:
    """Evaluate ``run`` (run folder or checkpoint) on ``collection``; writes report.json and contact_sheet.png
    into ``out`` (default ``RUN/eval_<collection name>``). Returns the report. events: the phase "evaluate"
    (images)."""
    from training.synth.mesh_io import read_car_obj

    events = events or Events()
    loaded = load_recon(run)
    network = loaded.network.to(device).eval()
    config = loaded.config
    coll = load_collection(collection, check="header")
    records = coll.records[:limit] if limit else coll.records
    pose_set = resolve_poses(poses, coll)
    data = prefetch(records, pose_set, config.image_resolution, with_parts=False)
    template = uv_sphere(31)
    faces_np = np.asarray(template.faces)
    templates = loaded.templates if loaded.templates is not None else scaled_sphere(template, DEFAULT_EXTENT)
    meshes: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
    rows: dict[str, dict] = {}
    template_distance: dict[tuple[int, str], float] = {}
    sheet: list[list[np.ndarray]] = []
    faces, uvs, face_uvs = template_tensors(template, device)
    resolution = config.image_resolution
    events.start("evaluate", len(data))
    for start in range(0, len(data), batch_size):
        index = np.arange(start, min(start + batch_size, len(data)))
        batch = data.batch(index, device)
        with torch.no_grad():
            prediction = predict(network, batch, template, resolution, silhouette=False)
        rendered = prediction.rendered
        for k, i in enumerate(index):
            record = data.records[i]
            mask = batch["mask"][k, 0] >= 0.5
            drawn = rendered.mask[k, 0] > 0.5
            row = {"iou": _iou(drawn.cpu().numpy(), mask.cpu().numpy()),
                   "psnr": _psnr(rendered.rgb[k], batch["image"][k], drawn & mask)}
            mesh_name = record.extra.get("mesh")
            if mesh_name and mesh_name not in meshes:
                try:
                    car = read_car_obj(Path(coll.root) / mesh_name)
                    meshes[mesh_name] = (car.vertices, car.faces)
                except (OSError, ValueError):
                    meshes[mesh_name] = None
            truth = meshes.get(mesh_name) if mesh_name else None
            if truth is not None:
                vertices = prediction.vertices[k].cpu().numpy()
                row["chamfer"] = mesh_chamfer(vertices, faces_np, *truth)
                key = (int(data.template_index[i]), mesh_name)
                if key not in template_distance:  # the same for every image of that car
                    template_distance[key] = mesh_chamfer(templates[key[0]], faces_np, *truth)
                row["chamfer_template"] = template_distance[key]
            rows[record.id] = row
        if len(sheet) < sheet_rows:
            sheet += _sheet_rows(batch, prediction, faces, uvs, face_uvs, sheet_rows - len(sheet), template)
        events.advance("evaluate", len(index))
    out = Path(out) if out is not None else Path(run if Path(run).is_dir() else Path(run).parent) / \
        f"eval_{Path(collection).name}"
    out.mkdir(parents=True, exist_ok=True)
    report = EvalReport(rows, {"run": str(run), "collection": str(Path(collection).resolve()), "poses": poses,
                               "iteration": loaded.iteration, "network": config.to_dict(),
                               "chamfer_points": CHAMFER_POINTS, "resolution": resolution}, skipped=data.skipped)
    report.path = atomic_write_json(out / "report.json", report.to_json())
    if sheet:
        from dataformat.io import write_png_atomic

        report.sheet = out / "contact_sheet.png"
        write_png_atomic(report.sheet, grid(sheet))
    return report


def _sheet_rows(batch: dict, prediction, faces, uvs, face_uvs, count: int, template, size: int = 128) -> list:
    """Rows of the contact sheet for the first ``count`` images of a batch."""
    from training.pseudogt import project_to_uv

    n = min(count, prediction.vertices.shape[0])
    vertices = prediction.vertices[:n]
    texture = prediction.output.texture[:n]
    pose = batch["pose"].index(slice(0, n))
    with torch.no_grad():
        same = render_textured(vertices, faces, uvs, face_uvs, texture, pose, size, background=1.0).image
        new = render_textured(vertices, faces, uvs, face_uvs, texture, _new_view(n), size, background=1.0).image
        image = batch["image"][:n] * batch["mask"][:n] + (1 - batch["mask"][:n])  # white background
        projected, alpha = project_to_uv(vertices, pose, batch["image"][:n] * batch["mask"][:n], batch["mask"][:n],
                                         texture.shape[-1], template=template)
    return [[to_uint8(image[k], size), to_uint8(same[k], size), to_uint8(new[k], size),
             to_uint8(projected[k], size)] for k in range(n)]
