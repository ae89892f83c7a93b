"""The model that ships with the project: ``default/car.safetensors`` and its model card ``default/car.json``.

It sits above both ``loaded`` (what a ready model is, untrained models) and ``checkpoints`` (reading files), so
neither of those imports the other's caller: ``loaded`` <- ``checkpoints`` <- ``shipped``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .checkpoints import load_model
from .loaded import LoadedModel, random_init_model

#: The shipped default model (trained by the project's own pipeline; model card beside it, docs/training.md).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default"
DEFAULT_MODEL_FILE = DEFAULT_MODEL_DIR / "car.safetensors"
DEFAULT_MODEL_CARD = DEFAULT_MODEL_DIR / "car.json"


def default_model_card() -> dict[str, Any]:
    """The shipped model's card (data, settings, commit, FID, date), or {} when no trained model ships."""
    try:
        return json.loads(DEFAULT_MODEL_CARD.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def default_model() -> LoadedModel:
    """The embedded default model: the shipped trained car generator (``default/car.safetensors``).

    Without that file (a checkout that removed it) an untrained "small" generator (seed 0) stands in, flagged
    ``untrained``. A fresh module each call (callers may move it to a device).
    """
    if not DEFAULT_MODEL_FILE.is_file():
        return random_init_model("small", seed=0)
    model = load_model(DEFAULT_MODEL_FILE)
    card = default_model_card()
    model.provenance = {**model.provenance, "model_card": card} if card else model.provenance
    model.source = f"default:{card.get('name', DEFAULT_MODEL_FILE.stem)}"
    return model
