"""MeshGenerator: seeds S + j, batch invariance, latents, classes, tensors, devices."""
import dataclasses

import numpy as np
import pytest
import torch

from backend.device import DeviceError, resolve_device
from backend.sampling import GeneratedMesh, MeshGenerator, class_index_for, texture_to_uint8
from backend.models import PRESETS, Generator, LoadedModel, fold_generator, random_init_model, truncated_normal


def model_with_mesh_head(config, mesh_weight_scale=None, mesh_bias=None, seed=0) -> LoadedModel:
    """A seeded untrained model whose (normally zero-initialised) mesh head is set, so meshes have shape.

    Built with the public API (training-form Generator -> fold_generator -> LoadedModel).
    mesh_weight_scale: random conv_mesh weights scaled so displacements have about this standard deviation.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        network = Generator(config).eval()
    with torch.no_grad():
        conv = network.conv_mesh
        if mesh_weight_scale is not None:
            conv.weight.normal_(0, 1.0, generator=torch.Generator().manual_seed(seed + 1))
            z = torch.randn(4, config.latent_dim, generator=torch.Generator().manual_seed(seed + 2))
            _, displacement = network(z)
            conv.weight.mul_(mesh_weight_scale / displacement.std())
        if mesh_bias is not None:
            conv.bias.copy_(torch.as_tensor(mesh_bias))
    return LoadedModel(generator=fold_generator(network), config=config, untrained=True, source="test")


@pytest.fixture(scope="module")
def generator():
    return MeshGenerator(model_with_mesh_head(PRESETS["small"], mesh_weight_scale=0.1), device="cpu")


@pytest.fixture(scope="module")
def conditional_generator():
    config = dataclasses.replace(PRESETS["small"], texture_resolution=64, mesh_resolution=16, n_classes=13)
    return MeshGenerator(random_init_model(config, seed=0), device="cpu")


def test_meshes_use_seed_plus_index_and_do_not_depend_on_batching(generator):
    by_two = list(generator.generate(5, seed=10, batch_size=2))
    all_at_once = list(generator.generate(5, seed=10, batch_size=8))
    single = list(generator.generate(1, seed=13))[0]
    assert [m.seed for m in by_two] == [10, 11, 12, 13, 14]
    for a, b in zip(by_two, all_at_once):
        np.testing.assert_allclose(a.vertices, b.vertices, atol=1e-5)
        assert np.abs(a.texture.astype(int) - b.texture).max() <= 1
        np.testing.assert_array_equal(a.latent, b.latent)
    np.testing.assert_allclose(single.vertices, by_two[3].vertices, atol=1e-5)
    # different seeds give different meshes
    assert np.abs(by_two[0].texture.astype(int) - by_two[1].texture).mean() > 1
    assert np.abs(by_two[0].vertices - by_two[1].vertices).max() > 1e-3


def test_mesh_fields_and_symmetry(generator):
    mesh = next(generator.generate(1, seed=0, truncation=0.5))
    assert isinstance(mesh, GeneratedMesh)
    assert mesh.vertices.shape == (962, 3) and mesh.vertices.dtype == np.float32
    assert mesh.texture.shape == (128, 128, 3) and mesh.texture.dtype == np.uint8
    assert mesh.latent.shape == (64,) and mesh.latent.dtype == np.float32
    assert mesh.class_index is None and mesh.truncation == 0.5
    # the latent is the documented truncated normal drawn from seed + j on the CPU
    expected = truncated_normal((64,), 0.5, torch.Generator().manual_seed(0)).numpy()
    np.testing.assert_array_equal(mesh.latent, expected)
    assert np.abs(mesh.latent).max() <= 0.5
    mirrored = mesh.vertices[generator.template.mirror_index] * (-1, 1, 1)
    np.testing.assert_allclose(mirrored, mesh.vertices, atol=1e-6)
    assert np.abs(mesh.vertices - generator.template.vertices).max() > 1e-3


def test_given_latents_reproduce_meshes(generator):
    drawn = list(generator.generate(3, seed=4))
    latents = np.stack([m.latent for m in drawn])
    again = list(generator.generate(None, seed=100, latents=latents))
    for a, b in zip(drawn, again):
        np.testing.assert_allclose(a.vertices, b.vertices, atol=1e-6)
        np.testing.assert_array_equal(a.texture, b.texture)
    one = list(generator.generate(None, latents=latents[1]))
    np.testing.assert_array_equal(one[0].texture, drawn[1].texture)
    with pytest.raises(ValueError, match=r"\(N, 64\)"):
        list(generator.generate(None, latents=np.zeros((2, 32))))
    with pytest.raises(ValueError, match="does not match"):
        list(generator.generate(5, latents=latents))


def test_generate_tensors_matches_generate(generator):
    vertices, textures = generator.generate_tensors(3, seed=7)
    assert vertices.shape == (3, 962, 3) and textures.shape == (3, 3, 128, 128)
    assert textures.min() >= -1 and textures.max() <= 1
    meshes = list(generator.generate(3, seed=7, batch_size=3))
    np.testing.assert_allclose(vertices.numpy(), np.stack([m.vertices for m in meshes]), atol=1e-6)
    np.testing.assert_array_equal(texture_to_uint8(textures), np.stack([m.texture for m in meshes]))


def test_texture_to_uint8_convention():
    t = torch.tensor([-1.5, -1.0, 0.0, 1.0, 2.0]).view(1, 1, 1, 5).expand(1, 3, 1, 5)
    image = texture_to_uint8(t)
    assert image.shape == (1, 1, 5, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[0, 0, :, 0], [0, 0, 128, 255, 255])


def test_conditional_classes(conditional_generator):
    gen = conditional_generator
    assert class_index_for(gen.model, "Car") == 3 and class_index_for(gen.model, "4") == 4
    cars = list(gen.generate(2, seed=0, class_index="car"))
    assert [m.class_index for m in cars] == [3, 3] and cars[0].class_name == "car"
    random_a = [m.class_index for m in gen.generate(6, seed=0, batch_size=4)]
    random_b = [m.class_index for m in gen.generate(6, seed=0, batch_size=1)]
    assert random_a == random_b and all(0 <= c < 13 for c in random_a) and len(set(random_a)) > 1
    # the class changes the output for the same latent
    bus = next(gen.generate(1, seed=0, class_index=1))
    car = next(gen.generate(1, seed=0, class_index=3))
    assert np.abs(bus.texture.astype(int) - car.texture).max() > 0
    with pytest.raises(ValueError, match="unknown class 'spaceship'.*motorcycle"):
        list(gen.generate(1, class_index="spaceship"))
    with pytest.raises(ValueError, match="out of range"):
        list(gen.generate(1, class_index=13))


def test_bad_requests(generator):
    with pytest.raises(ValueError, match="unconditional"):
        list(generator.generate(1, class_index=0))
    with pytest.raises(ValueError, match="truncation"):
        list(generator.generate(1, truncation=0))
    with pytest.raises(ValueError, match="count"):
        list(generator.generate(0))
    with pytest.raises(ValueError, match="seed"):
        list(generator.generate(1, seed=-1))
    with pytest.raises(ValueError, match="batch_size"):
        list(generator.generate(1, batch_size=0))


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("-1") == torch.device("cpu") and resolve_device(-1) == torch.device("cpu")
    assert resolve_device("auto") == (torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu"))
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("tpu")
    for spec in ("cuda:0", "0", "0,1", "cuda"):
        if torch.cuda.is_available():
            assert resolve_device(spec) == torch.device("cuda:0")
        else:
            with pytest.raises(DeviceError, match="no CUDA GPU.*--gpu_ids -1"):
                resolve_device(spec)
    with pytest.raises(DeviceError):
        resolve_device(f"cuda:{max(torch.cuda.device_count(), 0) + 7}")


def test_non_symmetric_generator_reads_every_vertex():
    config = dataclasses.replace(PRESETS["small"], texture_resolution=64, mesh_resolution=16, symmetric=False)
    model = model_with_mesh_head(config, mesh_bias=[0.2, 0.0, 0.0])                # radial +0.2 everywhere
    gen = MeshGenerator(model, device="cpu")
    mesh = next(gen.generate(1, seed=0))
    np.testing.assert_allclose(np.linalg.norm(mesh.vertices, axis=1), 1.2, atol=1e-5)
    assert mesh.texture.shape == (64, 64, 3)
