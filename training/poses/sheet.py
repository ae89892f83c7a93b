"""Contact sheet of estimated poses: per record the crop, its mask, and the chosen template rendered over it."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch


def _shaded(vertices: np.ndarray, pose, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Grey Lambert render of a template (V, 3) under a crop-frame ``dataformat.Pose``: (side, side) shade
    in [0, 1] and (side, side) bool coverage."""
    from backend.mesh import uv_sphere
    from backend.render import Pose, quaternion_to_matrix, render_attributes

    faces = torch.from_numpy(np.array(uv_sphere().faces))
    v = torch.from_numpy(np.asarray(vertices, np.float32))[None]
    tri = v[0][faces]
    face_n = torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=1)
    normals = torch.zeros_like(v[0]).index_add_(0, faces.reshape(-1), face_n.repeat_interleave(3, 0))
    normals = normals / normals.norm(dim=1, keepdim=True).clamp_min(1e-12)
    rp = Pose.stack([pose])
    cam = normals @ quaternion_to_matrix(rp.q)[0].T
    light = torch.tensor([-0.4, -0.5, -0.77])
    shade = 0.3 + 0.7 * (cam @ (light / light.norm())).clamp_min(0)
    out = render_attributes(v, faces, shade[None, :, None], rp, side)
    return out.image[0, 0].numpy(), out.mask[0].numpy() > 0.5


def pose_sheet(collection, poses, templates, out: str | os.PathLike, limit: int = 24, tile: int = 128,
               which: str = "all") -> Path:
    """Write a PNG with one row of three tiles per record (image | mask | template over the image, green when
    kept, red when filtered out). which: "all", "kept" or "dropped"."""
    from PIL import Image, ImageDraw

    from dataformat import crop_and_resize, pose_to_crop

    records = {r.id: r for r in collection.records}
    chosen = [e for e in poses.estimates if e.id in records and
              (which == "all" or (which == "kept") == e.kept)][:limit]
    if not chosen:
        raise ValueError(f"no {which if which != 'all' else ''} record of the pose file is in this collection")
    sheet = Image.new("RGB", (3 * tile, tile * len(chosen)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, e in enumerate(chosen):
        sample = crop_and_resize(records[e.id], tile)
        image = sample.image.astype(np.float32) / 255
        mask = np.repeat(sample.mask[..., None], 3, axis=2)
        crop_pose = pose_to_crop(e.pose, records[e.id].image_size, sample.box)
        shade, covered = _shaded(templates.vertices[int(np.argmax(e.template_weights))], crop_pose, tile)
        colour = np.array([0.2, 1.0, 0.2]) if e.kept else np.array([1.0, 0.25, 0.25])
        overlay = image.copy()
        overlay[covered] = 0.45 * image[covered] + 0.55 * shade[covered, None] * colour
        for col, tile_image in enumerate((image, mask, overlay)):
            sheet.paste(Image.fromarray(np.round(np.clip(tile_image, 0, 1) * 255).astype(np.uint8)),
                        (col * tile, row * tile))
        draw.text((2 * tile + 3, row * tile + 2), f"{e.id} IoU {e.iou:.2f} mIoU {e.miou:.2f} v {e.v_agr:.2f}",
                  fill=(0, 0, 0))
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
