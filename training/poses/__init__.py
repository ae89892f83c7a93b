"""Pose estimation without keypoints (upstream spec §5, §1.2): silhouette hypotheses, semantic disambiguation.

Public API (docs/training.md, "Pose estimation")::

    from training.poses import load_pose_file, PoseFile, PoseEstimate
    poses = load_pose_file("poses.safetensors")      # PoseFile(estimates, template_names, meta)
    attach_poses(collection, "poses.safetensors")    # records get their estimates (dataformat.Collection)
    e = poses.by_id()["000042"]                      # PoseEstimate(id, pose (dataformat.Pose, full-image
                                                     #   frame, frame="object"), template_weights (T,), iou, miou,
                                                     #   v_agr, kept)

    from training.poses import PoseConfig, PRESETS, estimate_poses, evaluate_poses
    result = estimate_poses(collection, "poses.safetensors", PRESETS["cpu"], templates)

Only the file functions are imported eagerly; the fitting code (torch, the renderer) loads on first use.
"""
from .file import (PoseEstimate, PoseFile, PoseFileError, attach_poses, hypotheses_path, load_hypotheses,
                   load_pose_file, save_hypotheses, save_pose_file)

_LAZY = {
    "PoseConfig": ".config", "PRESETS": ".config", "steps_overrides": ".config",
    "estimate_poses": ".run", "PoseRunResult": ".run",
    "evaluate_poses": ".evaluate", "PoseEvaluation": ".evaluate", "geodesic_degrees": ".geometry",
    "fit_hypotheses": ".step1", "Hypotheses": ".step1", "AdamFull": ".optim",
    "initial_rotations": ".step1", "agreement_score": ".geometry", "complementary_score": ".geometry",
}

__all__ = ["PoseEstimate", "PoseFile", "PoseFileError", "attach_poses", "hypotheses_path", "load_hypotheses", "load_pose_file",
           "save_hypotheses", "save_pose_file", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'training.poses' has no attribute {name!r}")
