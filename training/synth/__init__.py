"""The synthetic car testbed: procedural cars rendered by Blender (bpy + Cycles) with ground truth.

Public API::

    from training.synth import SynthConfig, synthesize, build_car, read_car_obj, check_consistency
    synthesize("datasets/toycars", n=5000, config=SynthConfig(resolution=256), workers=2)

Importing this package imports neither bpy (only the worker processes do) nor torch (only the check does).
"""
from .car import BODY_TYPES, PART_NAMES, CarMesh, build_car
from .check import ConsistencyReport, check_consistency
from .config import BACKGROUNDS, SynthConfig
from .run import SynthError, SynthResult, synthesize
from .mesh_io import read_car_obj, write_car_obj

__all__ = ["BACKGROUNDS", "BODY_TYPES", "PART_NAMES", "CarMesh", "ConsistencyReport", "SynthConfig", "SynthError",
           "SynthResult", "build_car", "check_consistency", "read_car_obj", "synthesize", "write_car_obj"]
