"""Code that runs inside a Blender worker process: renders one item and writes its files.

The orchestrator (:mod:`training.synth.run`) starts workers with the ``spawn`` method and calls
:func:`init_worker` once, then :func:`render_item` per item. Every file is written to a temporary name
and renamed; the item's metadata file is written last, so an item counts as done only when complete.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path

import numpy as np
from PIL import Image

from dataformat.io import write_png_atomic
from dataformat.record import mask_bbox

from .car import PART_NAMES, build_car
from .config import ItemPlan, SynthConfig, plan_item
from .layout import SynthLayout
from .mesh_io import write_car_obj

CAR_CLASS_INDEX = 3  # "car" in §10.3
_STATE: dict = {}


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker when the orchestrator dies (even by SIGKILL), so no Blender process is
    left rendering for nobody."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def init_worker(config_json: dict, out_dir: str, threads: int) -> None:
    _die_with_parent()
    from . import blender_scene

    config = SynthConfig.from_json(config_json)
    # Blender prints a line per render on stdout ("Saved: ..."); keep the parent's progress bar readable.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    blender_scene.reset(config.resolution, config.samples, threads)
    _STATE.update(config=config, layout=SynthLayout(Path(out_dir)), car_index=None, car=None)


def render_item(index: int) -> tuple[str, str | None]:
    """Render item ``index``; returns (item id, None) on success or (item id, one-line error)."""
    config: SynthConfig = _STATE["config"]
    plan = plan_item(config, index)
    try:
        _render(plan)
        return plan.id, None
    except Exception as exc:  # keep the run going; the orchestrator reports failures
        last = traceback.extract_tb(exc.__traceback__)[-1]
        return plan.id, f"{exc.__class__.__name__}: {exc} ({Path(last.filename).name}:{last.lineno})"


def _render(plan: ItemPlan) -> None:
    from . import blender_scene as scene

    config: SynthConfig = _STATE["config"]
    layout: SynthLayout = _STATE["layout"]
    if _STATE["car_index"] != plan.car_index:
        car = build_car(plan.car_seed, plan.body_type)
        mesh_path = layout.mesh(plan.car_index)
        if not mesh_path.exists():
            write_car_obj(mesh_path, car)
        scene.build_car_object(car, np.random.default_rng([plan.car_seed, 3]))
        _STATE.update(car_index=plan.car_index, car=car)
    car = _STATE["car"]
    rng = np.random.default_rng(plan.scene_seed)
    scene.set_background(plan.background, rng, car.params["ground_z"])
    scene.set_lighting(rng)
    camera = scene.sample_camera(rng, config.fill, config.focal if config.camera == "perspective" else None)
    scene.place_camera(car, camera)
    import bpy

    bpy.context.scene.cycles.seed = plan.index
    tmp_rgb, tmp_ids = layout.tmp(f"{plan.id}_rgb.png"), layout.tmp(f"{plan.id}_ids.png")
    scene.render_rgb(str(tmp_rgb), config.samples)
    scene.render_ids(str(tmp_ids))

    from .pose_math import decode_id_pass

    mask, parts = decode_id_pass(np.asarray(Image.open(tmp_ids)), len(PART_NAMES))
    if not mask.any():
        raise RuntimeError("the car is not visible in the ID pass")
    os.replace(tmp_rgb, layout.image(plan.id))
    write_png_atomic(layout.mask(plan.id), mask.astype(np.uint8) * 255)
    write_png_atomic(layout.parts(plan.id), parts)
    tmp_ids.unlink()
    pose = scene.camera_pose()
    root = layout.root
    entry = {
        "id": plan.id, "image": layout.image(plan.id).relative_to(root).as_posix(),
        "mask": layout.mask(plan.id).relative_to(root).as_posix(),
        "parts": layout.parts(plan.id).relative_to(root).as_posix(),
        "image_size": [config.resolution, config.resolution], "bbox": list(mask_bbox(mask)),
        "class_index": CAR_CLASS_INDEX, "class_name": "car", "source": "synth", "pose": pose.to_json(),
        "extra": {"mesh": layout.mesh(plan.car_index).relative_to(root).as_posix(), "car_index": plan.car_index,
                  "body_type": plan.body_type, "background": plan.background,
                  "camera": {"type": config.camera, "azimuth": camera.azimuth, "elevation": camera.elevation,
                             "roll": camera.roll, "fill": camera.fill,
                             **({"focal": camera.focal} if camera.focal is not None else {})}},
    }
    meta = layout.meta(plan.id)
    tmp = meta.with_name(f".{meta.name}.tmp")
    tmp.write_text(json.dumps(entry), encoding="utf-8")
    os.replace(tmp, meta)
