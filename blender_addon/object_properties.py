"""The custom properties every generated object carries, so it can be regenerated or reproduced exactly.

Works on anything with ``get`` and item assignment (a Blender ID or a plain dict), so it needs no bpy.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

PREFIX = "gan3d_"


@dataclass(frozen=True)
class Provenance:
    """What produced one object.

    model: model name on the server; class_name: "" for unconditional models; class_index: -1 if unconditional;
    seed: 0..2³¹−1 (the mesh's own seed); truncation: σ of the truncated normal; target_length: metres;
    texture_size: pixels of the served texture; untrained: True when the model was never trained.
    """

    model: str
    class_name: str
    class_index: int
    seed: int
    truncation: float
    target_length: float
    texture_size: int
    untrained: bool = False


KEYS = tuple(PREFIX + name for name in Provenance.__dataclass_fields__)


def write(target, provenance: Provenance) -> None:
    """Store ``provenance`` as ``gan3d_*`` custom properties on ``target``."""
    for name, value in asdict(provenance).items():
        target[PREFIX + name] = value


def is_generated(target) -> bool:
    """True if ``target`` carries the properties needed to reproduce it."""
    return all(target.get(PREFIX + name) is not None for name in ("model", "seed", "truncation"))


def read(target) -> Provenance:
    """The :class:`Provenance` stored on ``target``; raises ``KeyError`` naming the first missing property."""
    def get(name, default=None):
        value = target.get(PREFIX + name, default)
        if value is None:
            raise KeyError(f"object has no '{PREFIX + name}' property; it was not made by the gan3d add-on")
        return value

    return Provenance(
        model=str(get("model")),
        class_name=str(get("class_name", "")),
        class_index=int(get("class_index", -1)),
        seed=int(get("seed")),
        truncation=float(get("truncation")),
        target_length=float(get("target_length", 4.5)),
        texture_size=int(get("texture_size", 0)),
        untrained=bool(get("untrained", False)),
    )
