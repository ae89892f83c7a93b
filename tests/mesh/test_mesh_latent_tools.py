"""Latent tools: slerp / variations / blends (shared numpy helpers) and ``python -m backend.generate
--variations_of`` / ``--interpolate`` on the untrained small model, with one-line errors for bad cars."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from backend.generate import main
from backend.models import random_init_model, truncated_normal
from backend.protocol import (Look, blend_class_weights, blend_fractions, one_hot, save_look, slerp,
                              variation_latents)
from backend.models import weights_fingerprint

BASE = ["--random_init", "small", "--gpu_ids", "-1", "--batch_size", "4"]


def seed_latent(seed: int) -> np.ndarray:
    return truncated_normal((64,), 1.0, torch.Generator().manual_seed(seed)).numpy()


def test_slerp_is_exact_at_the_ends_and_keeps_the_length():
    a, b = seed_latent(1), seed_latent(2)
    assert np.array_equal(slerp(a, b, 0.0), a) and np.array_equal(slerp(a, b, 1.0), b)
    middle = slerp(a, b, 0.5)
    assert np.linalg.norm(middle) == pytest.approx((np.linalg.norm(a) + np.linalg.norm(b)) / 2, rel=0.05)
    assert np.linalg.norm((a + b) / 2) < 0.9 * np.linalg.norm(middle)    # a straight line would shrink it
    np.testing.assert_allclose(slerp(a, 2 * a, 0.5), 1.5 * a, rtol=1e-6)  # parallel: a straight line
    assert blend_fractions(2) == [1 / 3, 2 / 3] and blend_fractions(1, include_ends=True) == [0.0, 0.5, 1.0]
    weights = blend_class_weights(one_hot(0, 3), one_hot(2, 3), [0.0, 0.25, 1.0])
    np.testing.assert_array_equal(weights, [[1, 0, 0], [0.75, 0, 0.25], [0, 0, 1]])


def test_variations_are_seeded_and_strength_moves_them_away():
    z = seed_latent(3)
    assert np.array_equal(variation_latents(z, 0.0, 3, seed=9), np.stack([z] * 3))
    near, far = variation_latents(z, 0.2, 4, seed=9), variation_latents(z, 0.8, 4, seed=9)
    assert np.array_equal(near, variation_latents(z, 0.2, 4, seed=9))
    assert not np.array_equal(near, variation_latents(z, 0.2, 4, seed=10))
    assert np.linalg.norm(near - z, axis=1).max() < np.linalg.norm(far - z, axis=1).min()
    assert np.abs(variation_latents(z, 1.0, 2, seed=0)).max() <= 1.0     # truncated samples at strength 1


def _run(args, capsys):
    code = main([*BASE, *args])
    captured = capsys.readouterr()
    return code, captured.err


def test_interpolate_writes_both_ends_exactly_and_a_one_view_preview(tmp_path, capsys):
    out = tmp_path / "blend"
    code, err = _run(["--interpolate", "3", "7", "--steps", "2", "--out", str(out)], capsys)
    assert code == 0, err
    latents = np.load(out / "latents.npy")
    assert latents.shape == (4, 64)
    assert np.array_equal(latents[0], seed_latent(3)) and np.array_equal(latents[3], seed_latent(7))
    np.testing.assert_array_equal(latents[1], slerp(seed_latent(3), seed_latent(7), 1 / 3))
    manifest = json.loads((out / "samples.json").read_text())
    assert manifest["latent_tool"]["tool"] == "interpolate"
    assert manifest["latent_tool"]["fractions"] == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert Image.open(tmp_path / "blend.png").size == (4 * 256, 256)
    single = tmp_path / "single"
    assert _run(["--seed", "7", "--how_many", "1", "--out", str(single)], capsys)[0] == 0
    end = np.asarray(Image.open(out / "mesh_3.png"), dtype=int)
    assert np.abs(end - np.asarray(Image.open(single / "mesh_0.png"), dtype=int)).max() <= 1


def test_strength_zero_variations_reproduce_the_car_from_a_seed_or_a_look(tmp_path, capsys):
    model = random_init_model("small", seed=0)
    look = tmp_path / "car.json"
    save_look(look, Look(model="default", latent=seed_latent(11), model_fingerprint=weights_fingerprint(model)))
    for car in ("11", str(look)):
        out = tmp_path / f"var_{len(car)}"
        code, err = _run(["--variations_of", car, "--strength", "0", "--how_many", "3", "--out", str(out)], capsys)
        assert code == 0, err
        assert np.array_equal(np.load(out / "latents.npy"), np.stack([seed_latent(11)] * 3))
        textures = [np.asarray(Image.open(out / f"mesh_{j}.png")) for j in range(3)]
        assert all(np.array_equal(textures[0], t) for t in textures[1:])
    out = tmp_path / "var_strong"
    assert _run(["--variations_of", "11", "--strength", "0.5", "--how_many", "2", "--out", str(out)], capsys)[0] == 0
    moved = np.load(out / "latents.npy")
    assert np.array_equal(moved, variation_latents(seed_latent(11), 0.5, 2, seed=0))
    assert json.loads((out / "samples.json").read_text())["latent_tool"]["strength"] == 0.5


def test_interpolate_on_a_conditional_model_blends_the_classes(tmp_path, capsys):
    out = tmp_path / "classes"
    code, err = _run(["--conditional_class", "--interpolate", "3", "7", "--steps", "1", "--out", str(out)], capsys)
    assert code == 0, err
    meshes = json.loads((out / "samples.json").read_text())["meshes"]
    single = tmp_path / "seeds"
    assert _run(["--conditional_class", "--seed", "3", "--how_many", "5", "--out", str(single)], capsys)[0] == 0
    seeded = json.loads((single / "samples.json").read_text())["meshes"]
    a, b = seeded[0]["class_index"], seeded[4]["class_index"]
    assert [meshes[0]["class_index"], meshes[2]["class_index"]] == [a, b]
    assert meshes[1]["class_index"] == (a if a == b else None)   # a mix of two classes has no single class


@pytest.mark.parametrize("make, args, words", [
    (lambda d: np.save(d / "z.npy", np.zeros(32, np.float32)), ["--variations_of", "{d}/z.npy"],
     "32 values per latent, but the model takes latents of 64"),
    (lambda d: np.save(d / "z.npy", np.full(64, np.nan, np.float32)), ["--variations_of", "{d}/z.npy"],
     "NaN or infinite"),
    (lambda d: np.save(d / "z.npy", np.zeros((3, 64), np.float32)), ["--interpolate", "{d}/z.npy", "1"],
     "holds 3 latents"),
    (lambda d: (d / "l.json").write_text('{"format": "gan3d-look", "version": 1, "model": "x", "latent": [NaN]}'),
     ["--variations_of", "{d}/l.json"], "NaN"),
    (lambda d: save_look(d / "l.json", Look(model="other", latent=np.zeros(64, np.float32),
                                              model_fingerprint="0123456789abcdef")),
     ["--variations_of", "{d}/l.json"], "would give another car"),
    (lambda d: (d / "l.json").write_text("not json"), ["--variations_of", "{d}/l.json"], "not a gan3d look"),
    (None, ["--variations_of", "{d}/missing.npy"], "latents file not found"),
    (lambda d: np.save(d / "z.npy", np.array(["a"] * 64)), ["--variations_of", "{d}/z.npy"], "expected floats"),
    (lambda d: np.save(d / "z.npy", np.array(["a"] * 64)), ["--latents", "{d}/z.npy"], "expected floats"),
    (lambda d: (d / "z.npy").write_bytes(b"not numpy"), ["--interpolate", "1", "{d}/z.npy"], "shape (latent_dim,)"),
    (None, ["--variations_of", "car"], "neither a seed"),
    (None, ["--variations_of", "1", "--strength", "2"], "strength must be in [0, 1]"),
    (None, ["--interpolate", "1", "2", "--how_many", "3"], "--how_many does not apply"),
    (None, ["--variations_of", "1", "--interpolate", "1", "2"], "cannot be combined"),
])
def test_bad_cars_give_one_line_errors_and_write_nothing(tmp_path, capsys, make, args, words):
    if make is not None:
        make(tmp_path)
    out = tmp_path / "out"
    code, err = _run([*(a.format(d=tmp_path) for a in args), "--out", str(out)], capsys)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(lines) == 1 and words in lines[0], err
    assert "Traceback" not in err and not out.exists()
