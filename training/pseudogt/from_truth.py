"""``--from_truth``: pseudo-GT of a synthetic collection from its true meshes and true poses.

Each record's true car mesh is remeshed onto the template (``radial_remesh``), fitted with the closest symmetric
displacement map the generator can express (``DisplacementFit``), and its image is projected into UV space through
that fitted mesh under the true pose (``project_to_uv``). The GAN can then be developed and judged without the pose
and reconstruction stages: this is the upper bound of what those stages can give it.
"""
from __future__ import annotations

import os
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F

from backend.mesh import displacement_to_vertices, uv_sphere
from backend.render import Pose as RenderPose
from training.engine.stage import Events

from .fid_stats import FID_STATS_NAME, fid_statistics
from .format import PseudoGTItem, PseudoGTWriter, compact_items
from .projection import project_to_uv, uv_surface_points
from .remesh import DisplacementFit, radial_remesh
from .summary import ExportSummary


def _crop_tensors(record, image_resolution: int):
    from dataformat import crop_and_resize

    sample = crop_and_resize(record, resolution=image_resolution)
    image = torch.from_numpy(sample.image.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)
    mask = torch.from_numpy(sample.mask)[None]
    parts = None if sample.parts is None else torch.from_numpy(sample.parts.astype(np.float32))[None]
    return image * mask, mask, parts, sample.pose


def export_from_truth(collection: str | os.PathLike, out: str | os.PathLike, texture_resolution: int = 128,
                      image_resolution: int = 256, visibility_resolution: int | None = None, batch_size: int = 16,
                      limit: int | None = None, events: Events | None = None,
                      impl: str = "fast", fid_stats: bool = False, fid_progress: bool = False) -> ExportSummary:
    """Write the pseudo-GT folder ``out`` for the synthetic collection folder ``collection``.

    Records without a true mesh or an object-frame pose, or whose files cannot be read, are skipped and counted in
    the summary. Re-running resumes: item files already present are kept (the settings must match). visibility_resolution defaults to
    4 x texture_resolution (on the testbed it finds the same visible texels as the paper's 8x within 0.5%).
    fid_stats: also compute the real images' Inception statistics (fid_progress: with the fid package's bar).
    events: the phase "export" (images).
    """
    events = events or Events()
    from dataformat import load_collection
    from training.synth.mesh_io import read_car_obj

    coll = load_collection(collection, check="header")
    records = coll.records[:limit] if limit is not None else coll.records
    summary = ExportSummary(Path(out))
    usable = []
    for record in records:
        if record.pose is None or record.pose.frame != "object" or not record.extra.get("mesh"):
            summary.skip("without a true mesh or object-frame pose (not a synthetic collection?)")
        else:
            usable.append(record)
    if not usable:
        raise ValueError(f"{collection} has no record with a true mesh and pose; --from_truth needs a synthetic "
                         f"collection made by `backend.train data synth`")
    template = uv_sphere()
    directions = np.array(template.vertices, np.float64)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    fit = DisplacementFit(template)
    writer = PseudoGTWriter(out, {
        "source": "truth", "collection": str(Path(collection).resolve()), "texture_resolution": texture_resolution,
        "mesh_resolution": fit.resolution, "image_resolution": image_resolution,
        "visibility_resolution": visibility_resolution or 4 * texture_resolution,
        "class_names": sorted({r.class_name for r in usable}), "part_names": coll.part_names,
    })
    index = 0
    events.start("export", len(usable))
    for start in range(0, len(usable), batch_size):
        chunk = usable[start:start + batch_size]
        todo, batch = [], []
        for k, record in enumerate(chunk):
            if writer.exists(index + k, record.id):
                summary.reused += 1
                continue
            todo.append(index + k)
            batch.append(record)
        index += len(chunk)
        rows = []
        for record, item_index in zip(batch, todo):
            try:
                car = read_car_obj(Path(coll.root) / record.extra["mesh"])
                radii = radial_remesh(car.vertices, car.faces, directions)
                rows.append((item_index, record, directions * radii[:, None], *_crop_tensors(record, image_resolution)))
            except (OSError, ValueError) as exc:
                summary.skip(f"unreadable ({exc})")
        if rows:
            _export_batch(rows, fit, template, writer, texture_resolution, visibility_resolution, impl)
            summary.written += len(rows)
        events.advance("export", len(chunk))
    writer.finish(compact_items(writer.root, index))
    if fid_stats:
        summary.fid_stats = fid_statistics(coll, summary.root / FID_STATS_NAME, fid_progress)
    return summary


def _export_batch(rows, fit: DisplacementFit, template, writer: PseudoGTWriter, texture_resolution: int,
                  visibility_resolution: int | None, impl: str) -> None:
    targets = torch.from_numpy(np.stack([r[2] for r in rows]))
    displacement = fit.fit(targets)
    vertices = displacement_to_vertices(template, displacement)
    images = torch.stack([r[3] for r in rows])
    masks = torch.stack([r[4] for r in rows])
    poses = [r[6] for r in rows]
    pose = RenderPose(q=torch.tensor([p.q for p in poses], dtype=torch.float32),
                      s=torch.tensor([[p.s] for p in poses], dtype=torch.float32),
                      t=torch.tensor([p.t for p in poses], dtype=torch.float32),
                      z0=None if poses[0].z0 is None else torch.tensor([[p.z0] for p in poses], dtype=torch.float32))
    texture, alpha = project_to_uv(vertices, pose, images, masks, texture_resolution,
                                   visibility_resolution or 4 * texture_resolution, template, impl)
    parts_uv = _project_parts(rows, vertices, pose, alpha, texture_resolution, template, impl)
    for k, (item_index, record, *_rest) in enumerate(rows):
        p = poses[k]
        writer.write(item_index, PseudoGTItem(
            record_id=record.id, texture=texture[k], alpha=alpha[k], mesh=displacement[k], category=0,
            parts=None if parts_uv is None else parts_uv[k],
            pose={"q": list(p.q), "s": p.s, "t": list(p.t), "z0": p.z0}, image_path=str(record.image_path)))


def _project_parts(rows, vertices, pose, alpha, t: int, template, impl: str):
    """Nearest part label of the image at each visible texel: (B, T, T) uint8, or None without part maps."""
    if any(r[5] is None for r in rows):
        return None
    from backend.render import object_to_renderer

    parts = torch.stack([r[5] for r in rows])
    with torch.no_grad():
        points, _ = uv_surface_points(vertices, t, template, impl)
        screen = object_to_renderer(points.reshape(len(rows), t * t, 3), pose).reshape(len(rows), t, t, 3)
        grid = torch.stack([screen[..., 0], -screen[..., 1]], dim=-1)
        labels = F.grid_sample(parts, grid, mode="nearest", padding_mode="zeros", align_corners=False)[:, 0]
    return (labels * (alpha[:, 0] > 0)).round().to(torch.uint8)

