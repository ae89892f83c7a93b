"""The synthetic car testbed: procedural cars rendered by Blender (bpy + Cycles) with ground truth.

Public API::

    from training.synth import SynthConfig, synthesize, build_car, read_car_obj, check_consistency
    synthesize("datasets/toycars", n=5000, config=SynthConfig(resolution=256), workers=2)

Importing this package does not import bpy; only the worker processes do.
"""
from .car import BODY_TYPES, PART_NAMES, CarMesh, build_car
from .config import BACKGROUNDS, SynthConfig
from .generate import SynthError, SynthResult, synthesize
from .mesh_io import read_car_obj, write_car_obj

__all__ = ["BACKGROUNDS", "BODY_TYPES", "PART_NAMES", "CarMesh", "SynthConfig", "SynthError", "SynthResult",
           "build_car", "read_car_obj", "synthesize", "write_car_obj"]
