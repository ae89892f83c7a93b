"""The small engine every training stage shares (data, poses, recon, pseudo-GT, GAN).

Public API::

    from training.engine import (atomic_save, load_state, save_training_state, load_training_state,
                                 StateFileError, Distributed, init_distributed, RunLog, seed_everything)
    from training.engine.stage import (resolve_preset, add_preset_flag, Events, TqdmEvents, check_resume,
                                       config_from_dict)

* The stage contract (``stage.py``): presets (``paper`` on CUDA, else ``cpu``; overrides merged and validated in
  one place), one events type for progress and messages with one tqdm adapter, one resume check with one
  one-line error, ``config_from_dict``. Every stage uses it.
* Checkpoints: safetensors tensors + JSON metadata, written to a temporary file, fsynced and renamed, so a
  ``kill -9`` or a full disk never leaves a half-written file under the final name. No pickle anywhere.
* Optimiser state is flattened into tensors + JSON (``optimizer_to_tensors`` / ``optimizer_from_tensors``).
* ``Distributed``: torchrun / DDP set-up (NCCL on CUDA, gloo on CPU), rank-0-only side effects.
* ``RunLog``: JSONL metrics, a loss-curve PNG (matplotlib), TensorBoard events when the package is installed.

Importing this package imports nothing heavy: its names load on first use (PEP 562), so ``training.engine.stage``,
which the torch-free stages (data synth) use, does not pull in torch. Neither bpy nor the inference server is
ever imported.
"""
from __future__ import annotations

import importlib

#: public name -> the module of this package that defines it
_EXPORTS = {
    **dict.fromkeys(("StateFileError", "atomic_save", "atomic_save_file", "atomic_write_json", "load_state",
                     "load_training_state", "optimizer_from_tensors", "optimizer_to_tensors", "rng_from_tensors",
                     "rng_to_tensors", "save_training_state"), "checkpoint"),
    **dict.fromkeys(("Distributed", "init_distributed"), "distributed"),
    **dict.fromkeys(("RunLog", "plot_curves"), "runlog"),
    "seed_everything": "seeding",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
