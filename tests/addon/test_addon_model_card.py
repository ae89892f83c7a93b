"""The panel's one-line summary of a served model's card (blender_addon/model_card.py has no bpy import)."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("model_card", ROOT / "blender_addon" / "model_card.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_card_line_names_the_model_data_and_fid():
    line = _module().model_card_line(SimpleNamespace(name="default", provenance={"model_card": {
        "name": "car", "data_summary": "1,900 testbed renders", "figures": {"fid": 81.234},
        "created": "2026-12-02T01:00:00+00:00"}}))
    assert line == "Card: 'car', 1,900 testbed renders, FID 81.2, 2026-12-02"


def test_no_card_no_line():
    assert _module().model_card_line(SimpleNamespace(name="random-small", provenance={})) == ""
    assert _module().model_card_line(SimpleNamespace(name="x", provenance=None)) == ""
