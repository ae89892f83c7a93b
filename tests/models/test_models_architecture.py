"""Generator architecture: parameter counts and state-dict layout of the original (§3.1, §8.2), shapes, symmetry."""
from __future__ import annotations

import pytest
import torch

from backend.models import PRESETS, Generator, GeneratorConfig, average_poles, mirror_half_width, random_init_model

from .conftest import TINY, meta_generator


def parameter_count(config: GeneratorConfig) -> int:
    return sum(p.numel() for p in meta_generator(config).parameters())


@pytest.mark.parametrize("config, expected", [
    (GeneratorConfig(texture_resolution=512), 11_575_174),                    # unconditional, paper
    (GeneratorConfig(texture_resolution=512, n_classes=13), 13_050_566),     # setting B
    (GeneratorConfig(texture_resolution=512, n_classes=200), 13_062_534),    # convmesh CUB class model
    # The spec lists 11,738,822 / 14,362,310 as "256 / 1024"; they are the 13-class variants at those sizes
    # (unconditional ones are 10,328,966 / 12,821,382: one 256->256 block = 1,246,208 parameters less/more).
    (GeneratorConfig(texture_resolution=256, n_classes=13), 11_738_822),
    (GeneratorConfig(texture_resolution=1024, n_classes=13), 14_362_310),
    (GeneratorConfig(texture_resolution=256), 11_575_174 - 1_246_208),
    (GeneratorConfig(texture_resolution=1024), 11_575_174 + 1_246_208),
])
def test_parameter_counts_equal_the_original(config, expected):
    assert parameter_count(config) == expected


def test_paper_preset_is_the_original_unconditional_model():
    assert PRESETS["paper"] == GeneratorConfig(texture_resolution=512, latent_dim=64, n_classes=0, width=1.0,
                                               symmetric=True, mesh_resolution=32)
    assert PRESETS["small"].texture_resolution == 128 and PRESETS["small"].width == 0.25


def test_state_dict_layout_matches_the_released_checkpoints():
    state = meta_generator(GeneratorConfig(n_classes=13)).state_dict()
    keys = list(state)
    assert len(keys) == 179
    assert len(meta_generator(PRESETS["paper"]).state_dict()) == 178
    assert keys[:3] == ["emb_class.weight", "fc.weight", "fc.bias"]
    assert keys[-2:] == ["conv_mesh.weight", "conv_mesh.bias"]
    block_order = [k.split(".")[0] for k in keys]
    firsts = list(dict.fromkeys(block_order))
    assert firsts == ["emb_class", "fc", "blk1", "blk2", "blk3a", "blk3b", "blk4", "blk5", "blk6",
                      "conv_final", "blk3_mesh", "conv_mesh"]
    expected_shapes = {
        "emb_class.weight": (13, 64), "fc.weight": (16384, 128), "fc.bias": (16384,),
        "conv_final.weight": (3, 64, 5, 5), "conv_mesh.bias": (3,),
        "blk1.conv1.weight_orig": (512, 512, 3, 3), "blk1.conv1.weight_u": (512,), "blk1.conv1.weight_v": (4608,),
        "blk2.conv1.weight_orig": (256, 512, 3, 3), "blk2.conv2.weight_v": (256 * 9,),
        "blk2.shortcut.weight_orig": (256, 512, 1, 1), "blk2.shortcut.weight_v": (512,),
        "blk2.norm1.norm.running_mean": (256,), "blk2.norm1.norm.num_batches_tracked": (),
        "blk2.norm1.fc_gamma.weight": (256, 128), "blk2.norm2.fc_beta.bias": (256,),
        "blk6.conv2.weight_orig": (64, 64, 3, 3), "blk3_mesh.shortcut.weight_orig": (64, 256, 1, 1),
    }
    for key, shape in expected_shapes.items():
        assert tuple(state[key].shape) == shape, key
    assert "blk1.shortcut.weight_orig" not in state and "blk3c.conv1.weight_orig" not in state
    assert state["blk2.norm1.norm.num_batches_tracked"].dtype == torch.int64
    assert not any(k.endswith(("norm.weight", "norm.bias")) for k in state)  # BN without affine


@pytest.mark.parametrize("resolution, blocks", [(128, []), (256, ["blk3a"]), (512, ["blk3a", "blk3b"]),
                                                (1024, ["blk3a", "blk3b", "blk3c"])])
def test_texture_resolution_selects_the_extra_blocks(resolution, blocks):
    generator = meta_generator(GeneratorConfig(texture_resolution=resolution))
    present = [name for name in ("blk3a", "blk3b", "blk3c") if hasattr(generator, name)]
    assert present == blocks


def test_width_scales_every_channel_count():
    state = meta_generator(GeneratorConfig(texture_resolution=128, width=0.25)).state_dict()
    assert tuple(state["fc.weight"].shape) == (128 * 32, 64)
    assert tuple(state["blk2.conv1.weight_orig"].shape) == (64, 128, 3, 3)
    assert tuple(state["blk6.conv1.weight_orig"].shape) == (16, 32, 3, 3)
    assert tuple(state["conv_final.weight"].shape) == (3, 16, 5, 5)


def test_outputs_have_the_contract_shapes_and_ranges(tiny_generator):
    z = torch.randn(3, 64)
    with torch.no_grad():
        texture, displacement = tiny_generator(z)
    assert texture.shape == (3, 3, 128, 128) and texture.dtype == torch.float32
    assert displacement.shape == (3, 3, 32, 32)
    assert texture.abs().max() <= 1.0 and texture.std() > 0.01
    assert displacement.abs().max() > 0  # the fixture's mesh head is non-zero


def test_outputs_are_mirror_symmetric_with_axes_at_quarter_widths(tiny_generator):
    with torch.no_grad():
        texture, displacement = tiny_generator(torch.randn(2, 64))
    for full in (texture, displacement):
        width = full.shape[-1]
        columns = torch.arange(width)
        mirrored = (width // 2 - 1 - columns) % width  # reflection about u = 0.25 (and u = 0.75)
        assert torch.equal(full, full[..., mirrored])


def test_poles_have_one_value_per_channel(tiny_generator):
    with torch.no_grad():
        _, displacement = tiny_generator(torch.randn(2, 64))
    for row in (0, -1):
        pole = displacement[:, :, row, :]
        assert torch.allclose(pole, pole[..., :1].expand_as(pole))
    assert not torch.allclose(displacement[:, :, 1, :], displacement[:, :, 1, :1].expand(-1, -1, 32))


def test_mirror_and_pole_helpers_on_known_maps():
    half = torch.arange(8.0).view(1, 1, 1, 8)
    assert mirror_half_width(half).flatten().tolist() == [3, 2, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 7, 6, 5, 4]
    grid = torch.arange(12.0).view(1, 1, 3, 4)
    averaged = average_poles(grid)
    assert averaged[0, 0, 0].tolist() == [1.5] * 4 and averaged[0, 0, 2].tolist() == [9.5] * 4
    assert averaged[0, 0, 1].tolist() == [4, 5, 6, 7]
    with pytest.raises(ValueError, match="even width"):
        mirror_half_width(torch.zeros(1, 1, 2, 3))


def test_untrained_generator_outputs_the_plain_sphere():
    model = random_init_model(TINY, seed=3)
    assert model.untrained
    with torch.no_grad():
        texture, displacement = model.generator(torch.randn(2, 64))
    assert torch.count_nonzero(displacement) == 0 and texture.std() > 0


def test_random_init_is_reproducible_and_seed_dependent():
    z = torch.randn(1, 64)
    with torch.no_grad():
        a = random_init_model(TINY, seed=5).generator(z)[0]
        b = random_init_model(TINY, seed=5).generator(z)[0]
        c = random_init_model(TINY, seed=6).generator(z)[0]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_conditional_generator_needs_a_class_and_uses_it(tiny_conditional_generator):
    z = torch.randn(1, 64).expand(2, 64)
    with torch.no_grad():
        texture, _ = tiny_conditional_generator(z, torch.tensor([0, 4]))
    assert not torch.allclose(texture[0], texture[1])
    with pytest.raises(ValueError, match="class-conditional"):
        tiny_conditional_generator(z)


def test_unconditional_generator_rejects_a_class_and_bad_latents(tiny_generator):
    with pytest.raises(ValueError, match="unconditional"):
        tiny_generator(torch.randn(1, 64), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"\(B, 64\)"):
        tiny_generator(torch.randn(1, 32))


def test_config_round_trips_and_rejects_bad_values():
    config = GeneratorConfig(texture_resolution=256, n_classes=13, width=0.5)
    assert GeneratorConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown generator config keys: colour"):
        GeneratorConfig.from_dict({**config.to_dict(), "colour": 1})
    with pytest.raises(ValueError, match="texture_resolution"):
        GeneratorConfig(texture_resolution=300)
    with pytest.raises(ValueError, match="at most 1024"):
        GeneratorConfig(texture_resolution=2048)
    with pytest.raises(ValueError, match="width"):
        GeneratorConfig(width=0)
