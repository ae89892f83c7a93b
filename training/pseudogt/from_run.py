"""``--from_run``: pseudo-ground-truth export from a trained reconstruction run (§1.3, stage 4).

For every image with a pose: predict the displacement map, texture and part map from the network's RGBA crop,
build the mesh, and project the image (a crop at 2 × the texture size, the paper's 1024 → 512 ratio) into UV
space through it (``project_to_uv``: visibility from render gradients, alpha = visibility × mask × UV coverage).
Files are written in the project's pseudo-GT format (``format.py``), one per image, plus its poses file and,
unless disabled, the real images' FID statistics (``fid_stats.py``).
"""
from __future__ import annotations

import os
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F

from backend.mesh import displacement_to_vertices, uv_sphere
from dataformat import load_collection
from training.recon.checkpoints import load_recon
from training.recon.data import prefetch
from training.engine.stage import Events
from training.recon.poses import resolve_poses

from .fid_stats import FID_STATS_NAME, fid_statistics
from .format import PseudoGTItem, PseudoGTWriter, compact_items, item_path
from .projection import project_to_uv
from .summary import ExportSummary


def default_texture_resolution(image_resolution: int) -> int:
    """512 for the paper's 256² networks, 128 for the CPU preset (the GAN's ``small`` texture)."""
    return 512 if image_resolution >= 256 else 128


def export_from_run(run: str | os.PathLike, out: str | os.PathLike, collection: str | None = None,
                    poses: str | None = None, texture_resolution: int | None = None, batch_size: int = 16,
                    limit: int | None = None, resume: bool = False, device: str = "cpu", fid_stats: bool = True,
                    events: Events | None = None, fid_progress: bool = False) -> ExportSummary:
    """Write the pseudo-GT folder ``out`` from the reconstruction ``run`` (run folder or checkpoint).

    collection / poses: default to the run's own (needed for original .pth files). resume: keep item files
    already written for the same record ids by an export with the same settings. fid_stats: also compute the real
    images' Inception statistics (fid_progress: with the fid package's own progress bar). events: the phase
    "export" (images).
    """
    events = events or Events()
    loaded = load_recon(run)
    collection = collection or loaded.meta.get("collection")
    poses = poses or loaded.meta.get("poses")
    if not collection or not poses:
        raise ValueError(f"{run} does not name its collection and poses; pass --collection and --poses")
    out = Path(out)
    if (out / "pseudogt.json").exists() and not resume:
        raise ValueError(f"{out} already holds pseudo-GT; pass --resume to complete or reuse it, or choose a new "
                         f"--out")
    network = loaded.network.to(device).eval()
    config = loaded.config
    t = texture_resolution or default_texture_resolution(config.image_resolution)
    image_resolution = 2 * t
    coll = load_collection(collection, check="header")
    records = coll.records[:limit] if limit else coll.records
    pose_set = resolve_poses(poses, coll)
    template = uv_sphere(31)
    writer = PseudoGTWriter(out, {
        "source": "recon", "run": str(Path(run).resolve()), "iteration": loaded.iteration,
        "collection": str(Path(collection).resolve()), "poses": poses, "texture_resolution": t,
        "mesh_resolution": config.mesh_resolution, "image_resolution": image_resolution,
        "visibility_resolution": 4 * t, "class_names": sorted({r.class_name for r in records}),
        "part_names": coll.part_names if config.n_parts else None,
    }, resume=resume)
    result = ExportSummary(out)
    usable = [r for r in records if r.id in pose_set.poses]
    events.start("export", len(records))
    if len(usable) < len(records):
        result.skip("no_pose", len(records) - len(usable))
        events.advance("export", len(records) - len(usable))
    for start in range(0, len(usable), batch_size):
        chunk = usable[start:start + batch_size]
        todo = [(start + k, r) for k, r in enumerate(chunk) if not (resume and writer.exists(start + k, r.id))]
        result.reused += len(chunk) - len(todo)
        if todo:
            data = prefetch([r for _, r in todo], pose_set, image_resolution, with_parts=False, workers=2)
            for reason, n in data.skipped.items():
                result.skip(reason, n)
            for stale in {i for i, r in todo} - {i for i, r in todo if r.id in set(data.ids)}:
                item_path(out, stale).unlink(missing_ok=True)
            if len(data):
                position = {r.id: i for i, r in todo}
                _export_batch(network, data, [position[i] for i in data.ids], writer, template, t, device)
                result.written += len(data)
        events.advance("export", len(chunk))
    count = compact_items(out, len(usable))
    writer.finish(count)
    if fid_stats:
        result.fid_stats = fid_statistics(coll, out / FID_STATS_NAME, fid_progress)
    return result


def _export_batch(network, data, indices: list[int], writer: PseudoGTWriter, template, t: int, device: str) -> None:
    batch = data.batch(np.arange(len(data)), device)
    r = network.config.image_resolution
    small = F.interpolate(batch["network_input"], size=(r, r), mode="bilinear", align_corners=False,
                          antialias=True)
    with torch.no_grad():
        output = network(small, batch["class_index"])
        vertices = displacement_to_vertices(template, output.displacement)
    texture, alpha = project_to_uv(vertices, batch["pose"], batch["image"] * batch["mask"], batch["mask"], t,
                                   4 * t, template)
    parts = None
    if output.parts is not None:
        labels = F.interpolate(output.parts, size=(t, t), mode="bilinear", align_corners=False).argmax(1) + 1
        parts = labels.to(torch.uint8)
    conditional = network.config.conditional
    for k, index in enumerate(indices):
        pose = batch["pose"]
        writer.write(index, PseudoGTItem(
            record_id=data.ids[k], texture=texture[k], alpha=alpha[k], mesh=output.displacement[k],
            category=int(data.class_index[k]) if conditional else 0, parts=None if parts is None else parts[k],
            pose={"q": pose.q[k].tolist(), "s": float(pose.s[k, 0]), "t": pose.t[k].tolist(),
                  "z0": None if pose.z0 is None else float(pose.z0[k, 0])},
            image_path=str(data.records[k].image_path)))

