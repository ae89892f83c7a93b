"""The custom properties every generated object carries, so it can be regenerated or reproduced exactly.

Besides model, class, seed and truncation, each object stores its latent itself (``gan3d_latent``, latent_dim
floats: a few hundred bytes), so it is rebuilt from that latent and survives changes of the sampling code, and
variations, blends and saved looks start from it. Works on anything with ``get``, ``in``, item assignment and
deletion (a Blender ID or a plain dict), so it needs no bpy.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

PREFIX = "gan3d_"


@dataclass(frozen=True)
class Provenance:
    """What produced one object.

    model: model name on the server; class_name: "" for unconditional models; class_index: -1 if unconditional;
    seed: 0..2³¹−1 (the mesh's own seed), or -1 for an object made from an explicit latent (a variation, a
    blend, a loaded look); truncation: σ of the truncated normal; target_length: metres;
    texture_size: pixels of the served texture; untrained: True when the model was never trained.
    latent: the latent the object was made from (latent_dim floats; empty for objects of older versions);
    class_weights: a blend of classes (one weight per class; empty when the object has one class, which
    class_name / class_index then name; for a blend they name the class of largest weight);
    model_fingerprint: the served model's weights fingerprint (``info``), to tell whether a backend can
    reproduce the latent. paint_color: the measured body colour (sRGB) of a car made with a paint colour (else empty).
    """

    model: str
    class_name: str
    class_index: int
    seed: int
    truncation: float
    target_length: float
    texture_size: int
    untrained: bool = False
    latent: tuple = ()
    class_weights: tuple = ()
    model_fingerprint: str = ""
    paint_color: tuple = ()

    @property
    def explicit(self) -> bool:
        """True when the object has no seed of its own (made from an explicit latent)."""
        return self.seed < 0


KEYS = tuple(PREFIX + name for name in Provenance.__dataclass_fields__)
#: Properties left off the object when empty (objects of older versions never had them).
OPTIONAL = ("latent", "class_weights", "model_fingerprint", "paint_color")


def write(target, provenance: Provenance) -> None:
    """Store ``provenance`` as ``gan3d_*`` custom properties on ``target`` (empty optional ones are removed)."""
    for name, value in asdict(provenance).items():
        key = PREFIX + name
        if name in OPTIONAL and not value:
            if key in target:
                del target[key]
            continue
        target[key] = [float(v) for v in value] if isinstance(value, tuple) else value


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
        latent=tuple(float(v) for v in get("latent", ())),
        class_weights=tuple(float(v) for v in get("class_weights", ())),
        model_fingerprint=str(get("model_fingerprint", "")),
        paint_color=tuple(float(v) for v in get("paint_color", ())),
    )
