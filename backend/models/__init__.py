"""The paper's generator (§3.1), its inference form and checkpoint I/O. See docs/models.md.

Public API::

    GeneratorConfig, PRESETS, Generator             # architecture (training form, original state-dict names)
    fold_generator, FoldedGenerator                 # inference form (spectral norm + BN folded)
    LoadedModel, random_init_model, default_model   # ready-to-run models
    set_precision, PRECISIONS                       # fp32 (default) or bf16 inference
    load_model, save_model, CheckpointError         # official .pth and project .safetensors
    truncated_normal                                # latents (§4.1)
    update_ema, ema_decay                           # the EMA generator used for inference (§4.1)
    mirror_half_width, average_poles                # map symmetry helpers (§2.4, §2.6)
"""
from .checkpoints import load_model, save_model
from .class_names import ALL_CLASSES, class_names_for
from .config import PRESETS, GeneratorConfig, resolve_config
from .ema import ema_decay, update_ema
from .errors import CheckpointError
from .folding import FoldedGenerator, fold_generator
from .generator import Generator
from .latents import truncated_normal
from .loaded import PRECISIONS, LoadedModel, random_init_model, set_precision, weights_fingerprint
from .shipped import default_model
from .symmetry import average_poles, mirror_half_width

__all__ = [
    "ALL_CLASSES", "CheckpointError", "FoldedGenerator", "Generator", "GeneratorConfig", "LoadedModel",
    "PRECISIONS", "PRESETS", "average_poles", "class_names_for", "default_model", "ema_decay", "fold_generator",
    "load_model", "mirror_half_width", "random_init_model", "resolve_config", "save_model", "set_precision",
    "truncated_normal", "update_ema", "weights_fingerprint",
]
