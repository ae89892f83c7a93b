"""The latent tools' requests (blender_addon/latent_ops.py, no bpy): every check before sending, and what is sent."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest


@pytest.fixture(scope="module")
def ops():
    """latent_ops with the add-on's verbatim copy of backend/protocol/ (as build_addon.py makes it)."""
    import build_addon

    build_addon.vendor_protocol()
    from blender_addon import latent_ops, object_properties, protocol
    return SimpleNamespace(latent_ops=latent_ops, Provenance=object_properties.Provenance, protocol=protocol)


def _model(ops, name="cars", classes=(), fingerprint="f" * 16, latent_dim=8):
    return ops.protocol.ModelInfo(name=name, classes=list(classes), category=None, texture_size=128,
                                  texture_sizes=[128, 64], latent_dim=latent_dim, untrained=True, provenance={},
                                  source="", fingerprint=fingerprint)


def _car(ops, model="cars", latent=None, **fields):
    latent = tuple(float(v) for v in (np.linspace(-0.9, 0.9, 8, dtype=np.float32) if latent is None else latent))
    values = dict(model=model, class_name="", class_index=-1, seed=7, truncation=1.0, target_length=4.5,
                  texture_size=128, latent=latent, model_fingerprint="f" * 16)
    values.update(fields)
    return ops.Provenance(**values)


@pytest.mark.parametrize("change, words", [
    (dict(model="trucks"), "made by model 'trucks', which this backend does not have (it offers cars, birds)"),
    (dict(model_fingerprint="0" * 16), "other weights of model 'cars'"),
    (dict(latent=()), "no stored latent"),
    (dict(latent=(0.5,) * 5), "5 values per latent, but the model takes latents of 8"),
    (dict(latent=(float("nan"),) * 8), "NaN or infinite"),
    (dict(latent=(float("inf"),) * 8), "NaN or infinite"),
])
def test_objects_that_cannot_be_rebuilt_are_refused_before_sending(ops, change, words):
    info = SimpleNamespace(models=[_model(ops), _model(ops, "birds", ["car", "bird"])])
    car = _car(ops, **change)
    with pytest.raises(ops.latent_ops.ToolError, match=words.replace("(", r"\(").replace(")", r"\)")):
        ops.latent_ops.variations(car, info, "car_7", 0.3, 4, seed=0)


def test_variations_keep_the_class_and_strength_zero_is_the_car(ops):
    info = SimpleNamespace(models=[_model(ops, "birds", ["car", "bird"])])
    car = _car(ops, "birds", class_name="bird", class_index=1)
    request, made = ops.latent_ops.variations(car, info, "bird_7", 0.0, 3, seed=5)
    assert request.count == 3 and request.model == "birds" and request.class_ == "bird"
    assert request.class_weights is None
    assert np.array_equal(request.latents, np.tile(np.float32(car.latent), (3, 1)))
    assert all(m.seed == -1 and m.class_name == "bird" for m in made)


def test_blend_of_two_classes_sends_class_vectors_and_exact_ends(ops):
    info = SimpleNamespace(models=[_model(ops, "birds", ["car", "bird"])])
    rng = np.random.default_rng(0)
    car = _car(ops, "birds", latent=rng.uniform(-1, 1, 8), class_name="car", class_index=0)
    bird = _car(ops, "birds", latent=rng.uniform(-1, 1, 8), class_name="bird", class_index=1, target_length=6.5)
    request, made, fractions = ops.latent_ops.blend(car, bird, info, ("a", "b"), 1, include_ends=True)
    assert fractions == [0.0, 0.5, 1.0] and request.count == 3 and request.class_ is None
    np.testing.assert_array_equal(request.class_weights, [[1, 0], [0.5, 0.5], [0, 1]])
    assert np.array_equal(request.latents[0], np.float32(car.latent))
    assert np.array_equal(request.latents[2], np.float32(bird.latent))
    assert [(m.class_name, m.class_weights) for m in made] == [("car", ()), ("car", (0.5, 0.5)), ("bird", ())]
    assert [m.target_length for m in made] == [4.5, 5.5, 6.5]
    with pytest.raises(ops.latent_ops.ToolError, match="same model"):
        ops.latent_ops.blend(car, _car(ops, "cars"), info, ("a", "b"), 1, include_ends=False)


def test_a_look_round_trips_through_json_into_the_same_request(ops):
    info = SimpleNamespace(models=[_model(ops)])
    car = _car(ops, latent=np.random.default_rng(3).standard_normal(8).astype(np.float32))
    text = ops.protocol.look_to_json(ops.latent_ops.look_of(car, "car_7"))
    request, made = ops.latent_ops.from_look(ops.protocol.look_from_json(text), info, "car_7.json")
    assert np.array_equal(request.latents[0], np.float32(car.latent)) and made.latent == car.latent
    assert (made.seed, made.model, made.model_fingerprint) == (-1, "cars", "f" * 16)
    with pytest.raises(ops.protocol.LookError, match="NaN"):
        ops.protocol.look_from_json(text.replace(repr(car.latent[0]), "NaN", 1), "x.json")
    with pytest.raises(ops.latent_ops.ToolError, match="no stored latent"):
        ops.latent_ops.look_of(_car(ops, latent=()), "old_car")
