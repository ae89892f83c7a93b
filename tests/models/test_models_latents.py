"""Truncated-normal latents (§4.1)."""
from __future__ import annotations

import pytest
import torch

from backend.models import truncated_normal


@pytest.mark.parametrize("sigma", [0.25, 1.0])
def test_every_component_is_within_sigma(sigma):
    z = truncated_normal((200, 64), sigma, torch.Generator().manual_seed(0))
    assert z.shape == (200, 64) and z.dtype == torch.float32
    assert z.abs().max() <= sigma
    assert z.abs().max() > 0.9 * sigma  # fills the interval, not squashed


def test_large_sigma_is_the_plain_normal():
    a = truncated_normal((4, 64), 1000.0, torch.Generator().manual_seed(7))
    b = torch.randn((4, 64), generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_same_seed_same_latents_different_seed_different():
    a = truncated_normal((64,), 1.0, torch.Generator().manual_seed(3))
    b = truncated_normal((64,), 1.0, torch.Generator().manual_seed(3))
    c = truncated_normal((64,), 1.0, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_truncation_keeps_the_accepted_components():
    """Components already within sigma are kept (resampling touches only the rejected ones)."""
    plain = torch.randn((64,), generator=torch.Generator().manual_seed(11))
    truncated = truncated_normal((64,), 1.0, torch.Generator().manual_seed(11))
    inside = plain.abs() <= 1.0
    assert torch.equal(truncated[inside], plain[inside]) and not torch.equal(truncated, plain)


@pytest.mark.parametrize("sigma", [0.0, -1.0, float("nan")])
def test_non_positive_sigma_is_rejected(sigma):
    with pytest.raises(ValueError, match="sigma"):
        truncated_normal((2, 64), sigma, torch.Generator())
