"""Inference folding gives the outputs of the training-form generator in eval mode."""
from __future__ import annotations

import torch

from backend.models import fold_generator
from backend.models.folding import spectral_normalised_weight


def test_folded_equals_unfolded_unconditional(tiny_generator):
    folded = fold_generator(tiny_generator)
    z = torch.randn(4, 64)
    with torch.no_grad():
        reference = tiny_generator(z)
        result = folded(z)
    for ref, out in zip(reference, result):
        assert out.shape == ref.shape
        assert torch.allclose(out, ref, atol=2e-5, rtol=1e-4), (out - ref).abs().max()


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
