"""Discriminator architecture (§3.2, §8.3): names, shapes, parameter counts, encodings, masks."""
from __future__ import annotations

import math

import pytest
import torch

from training.gan import MultiScaleDiscriminator, positional_encoding


@pytest.mark.parametrize("texture, count, classes, params", [
    (512, 3, 0, 6_233_347), (512, 3, 13, 6_249_987), (512, 2, 0, 3_454_274)])
def test_parameter_counts_match_the_original(texture, count, classes, params):
    d = MultiScaleDiscriminator(texture, num_discriminators=count, n_classes=classes)
    assert sum(p.numel() for p in d.parameters()) == params


def test_state_dict_names_and_shapes_are_the_originals():
    state = MultiScaleDiscriminator(512, n_classes=13).state_dict()
    expected = {
        "d1.conv1.weight_orig": (64, 8, 4, 4), "d1.conv2.weight_orig": (128, 64, 4, 4),
        "d1.conv3.weight_orig": (256, 128, 4, 4), "d1.conv4.weight_orig": (512, 256, 4, 4),
        "d1.conv5.weight_orig": (1, 512, 5, 5), "d2.conv1.weight_orig": (64, 11, 5, 5),
        "d2.conv2.weight_orig": (128, 64, 4, 4), "d2.conv3.weight_orig": (256, 128, 4, 4),
        "d2.conv4.weight_orig": (1, 256, 5, 5), "d3.conv1.weight_orig": (64, 8, 5, 5),
        "d1.pos_emb": (1, 4, 512, 512), "d2.pos_emb": (1, 4, 32, 32), "d3.pos_emb": (1, 4, 128, 128),
        "d1.projector.weight": (13, 512), "d2.projector.weight": (13, 256), "d3.projector.weight": (13, 512),
        "d1.conv1.bias": (64,), "d1.conv1.weight_u": (64,), "d1.conv1.weight_v": (128,),
    }
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key


def test_logit_grids_and_output_masks():
    d = MultiScaleDiscriminator(512)
    alpha = torch.zeros(2, 1, 512, 512)
    alpha[0, :, :256] = 1.0
    x = torch.cat([torch.randn(2, 3, 512, 512) * alpha, alpha], dim=1)
    out = d(x, torch.randn(2, 3, 32, 32))
    assert [tuple(y.shape) for y, _ in out] == [(2, 1, 32, 32), (2, 1, 8, 8), (2, 1, 16, 16)]
    for y, m in out:
        assert m.shape == y.shape
        assert torch.allclose(m[0, 0, : m.shape[2] // 2], torch.ones(1)) and m[1].sum() == 0
    small = MultiScaleDiscriminator(128)
    assert small.d3 is None and small.weights == [0.5, 0.5]
    assert MultiScaleDiscriminator(512, num_discriminators=2).weights == pytest.approx([2 / 3, 1 / 3])


def test_positional_encoding_values():
    pe = positional_encoding(8)
    assert pe.shape == (1, 4, 8, 8)
    r, c = 3, 5
    assert pe[0, 0, r, c] == pytest.approx(math.cos(math.pi * r / 8))
    assert pe[0, 1, r, c] == pytest.approx(math.sin(math.pi * r / 8))
    assert pe[0, 2, r, c] == pytest.approx(math.cos(-math.pi + 2 * math.pi * c / 8))
    assert pe[0, 3, r, c] == pytest.approx(math.sin(-math.pi + 2 * math.pi * c / 8), abs=1e-6)


def test_projection_conditioning_changes_logits_by_class():
    torch.manual_seed(0)
    d = MultiScaleDiscriminator(128, n_classes=3, width=0.25)
    x, m = torch.randn(1, 4, 128, 128), torch.randn(1, 3, 32, 32)
    a = d(x, m, torch.tensor([0]))[0][0]
    b = d(x, m, torch.tensor([2]))[0][0]
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="class-conditional"):
        d(x, m)


def test_padding_wraps_along_u():
    """A circular shift of the input along u shifts the logits of the texture D by the same amount (the seam)."""
    torch.manual_seed(0)
    d = MultiScaleDiscriminator(128, width=0.25).d1.eval()
    d.pos_emb.zero_()  # the encoding is the only thing that is not shift-equivariant
    x = torch.randn(1, 4, 128, 128)
    y = d(x)
    y_shift = d(torch.roll(x, 8, dims=-1))
    assert torch.allclose(torch.roll(y, 1, dims=-1), y_shift, atol=1e-4)
