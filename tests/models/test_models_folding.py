"""Inference folding gives the outputs of the training-form generator in eval mode."""
from __future__ import annotations

import pytest
import torch

from backend.models import fold_generator
from backend.models.folding import spectral_normalised_weight, subpixel_weight


@pytest.mark.parametrize("channels_last", [False, True])
def test_folded_equals_unfolded_unconditional(tiny_generator, channels_last):
    folded = fold_generator(tiny_generator, channels_last=channels_last)
    z = torch.randn(4, 64)
    with torch.no_grad():
        reference = tiny_generator(z)
        result = folded(z)
    for ref, out in zip(reference, result):
        assert out.shape == ref.shape
        assert out.dtype == torch.float32 and out.is_contiguous()
        assert torch.allclose(out, ref, atol=5e-5, rtol=1e-4), (out - ref).abs().max()


def test_folded_equals_unfolded_conditional(tiny_conditional_generator):
    folded = fold_generator(tiny_conditional_generator)
    z, classes = torch.randn(4, 64), torch.tensor([0, 1, 3, 4])
    with torch.no_grad():
        reference = tiny_conditional_generator(z, classes)
        result = folded(z, classes)
    for ref, out in zip(reference, result):
        assert torch.allclose(out, ref, atol=2e-5, rtol=1e-4), (out - ref).abs().max()


def test_spectral_norm_uses_the_stored_vectors(tiny_generator):
    """Eval-mode spectral norm divides by u^T W v with u, v as stored (not re-normalised, no power step)."""
    conv = tiny_generator.blk2.conv1
    w = conv.weight_orig.detach()
    u, v = conv.weight_u, conv.weight_v
    expected = w / torch.dot(u, w.flatten(1) @ v)
    assert torch.allclose(spectral_normalised_weight(conv), expected, rtol=1e-5)
    assert abs(float(u.norm()) - 1.0) > 1e-3  # the fixture's vectors are not unit length
    with torch.no_grad():
        tiny_generator(torch.randn(1, 64))  # eval forward recomputes the same weight
    assert torch.allclose(conv.weight, expected, rtol=1e-5)


def test_folding_leaves_the_training_module_untouched(tiny_generator):
    before = {k: v.clone() for k, v in tiny_generator.state_dict().items()}
    fold_generator(tiny_generator)
    after = tiny_generator.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_bfloat16_is_close_but_not_exact(tiny_generator):
    folded = fold_generator(tiny_generator, channels_last=True, dtype=torch.bfloat16)
    z = torch.randn(2, 64)
    with torch.no_grad():
        reference, _ = tiny_generator(z)
        texture, displacement = folded(z)
    assert texture.dtype == torch.float32 and displacement.dtype == torch.float32
    error = (texture - reference).abs()
    assert 0 < error.mean() < 0.02 and error.max() < 0.5


def test_subpixel_kernels_equal_conv_after_nearest_upsampling():
    torch.manual_seed(0)
    x, weight = torch.randn(2, 5, 4, 6), torch.randn(7, 5, 3, 3)
    for mode in ("replicate", "circular"):
        up = torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")
        expected = torch.nn.functional.conv2d(torch.nn.functional.pad(up, (1, 1, 0, 0), mode=mode), weight,
                                              padding=(1, 0))
        phases = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 1, 0, 0), mode=mode),
                                            subpixel_weight(weight), padding=(1, 0))
        for k, (py, px) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            phase = phases[:, 7 * k:7 * (k + 1), py:py + 4, px:px + 6]
            assert torch.allclose(phase, expected[:, :, py::2, px::2], atol=1e-5)


def test_cpu_batches_run_in_chunks_so_each_sample_is_batch_independent(tiny_conditional_generator):
    folded = fold_generator(tiny_conditional_generator, channels_last=True, cpu_batch_chunk=1)
    whole_batch = fold_generator(tiny_conditional_generator, channels_last=True, cpu_batch_chunk=8)
    z, classes = torch.randn(3, 64), torch.tensor([4, 0, 2])
    with torch.no_grad():
        texture, displacement = folded(z, classes)
        single = folded(z[1:2], classes[1:2])
        batched = whole_batch(z, classes)
    assert texture.shape == (3, 3, 128, 128) and displacement.shape == (3, 3, 32, 32)
    assert torch.equal(texture[1:2], single[0]) and torch.equal(displacement[1:2], single[1])
    assert torch.allclose(texture, batched[0], atol=1e-5) and torch.allclose(displacement, batched[1], atol=1e-5)
    with pytest.raises(ValueError, match=r"class_index must have shape \(3,\)"):
        folded(z, classes[:2])


def test_non_symmetric_generator_folds_too():
    from backend.models import GeneratorConfig

    from .conftest import trained_like

    generator = trained_like(GeneratorConfig(texture_resolution=128, width=0.0625, symmetric=False), seed=4)
    z = torch.randn(2, 64)
    with torch.no_grad():
        reference = generator(z)
        result = fold_generator(generator, channels_last=True)(z)
    assert reference[0].shape == (2, 3, 128, 128)
    for ref, out in zip(reference, result):
        assert torch.allclose(out, ref, atol=5e-5, rtol=1e-4)


def test_automatic_cpu_chunk_follows_activation_size():
    from backend.models import PRESETS
    from backend.models.folding import auto_cpu_batch_chunk

    assert auto_cpu_batch_chunk(PRESETS["paper"]) == 1
    assert auto_cpu_batch_chunk(PRESETS["small"]) == 64
    assert auto_cpu_batch_chunk(PRESETS["paper"], torch.bfloat16) == 2


def test_set_precision_switches_to_bf16_and_back():
    """bf16 is an opt-in speed knob: outputs stay float32 and close to fp32 on most texels."""
    from backend.models import random_init_model, set_precision

    model = random_init_model("small", seed=3)
    z = torch.randn(2, model.config.latent_dim, generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.no_grad():
        exact, _ = model.generator(z, None)
        set_precision(model, "bf16")
        fast, _ = model.generator(z, None)
    assert fast.dtype == torch.float32 and model.provenance["precision"] == "bf16"
    assert (fast - exact).abs().mean() < 0.05 and not torch.equal(fast, exact)
    with pytest.raises(ValueError, match="load it again"):
        set_precision(model, "fp32")          # the weights were rounded: going back would be a lie
    with pytest.raises(ValueError, match="unknown precision"):
        set_precision(model, "fp8")
