"""UV-space quality signals on hand-made sets: identical sets score 0 (or 1 for the manifold signals), a set moved
away scores worse, a single mean texture loses recall, copies of training items are flagged as memorised."""
from __future__ import annotations

import pytest
import torch

from training.gan.uv_signals import (UVReference, laplacian_pyramid, precision_recall_coverage, sliced_wasserstein,
                                     uv_signals, weighted_moments)

N, T, M = 40, 64, 32


def _set(seed: int, n: int = N):
    """n structured items: per-item hue and stripe phase, a visibility band, a displacement bump."""
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, T), torch.linspace(-1, 1, T), indexing="ij")
    colour = torch.rand(n, 3, 1, 1, generator=g) * 1.6 - 0.8
    phase = torch.rand(n, 1, 1, 1, generator=g) * 6
    texture = (colour + 0.2 * torch.sin(8 * xs + phase)).clamp(-1, 1)
    shift = torch.rand(n, 1, 1, 1, generator=g) * 0.4 - 0.2
    alpha = ((ys + shift).abs() < 0.6).float().expand(n, 1, T, T).clone()
    mesh = 0.1 * torch.randn(n, 3, M, M, generator=g) + torch.rand(n, 3, 1, 1, generator=g) * 0.2
    return texture * alpha, alpha, mesh


def test_identical_sets_score_zero_and_full_manifold_overlap():
    texture, alpha, mesh = _set(0)
    s = uv_signals(texture, mesh, UVReference(texture, alpha, mesh))
    for key in ("mean_l1", "std_l1", "swd", "mesh_fd"):
        assert s[key] == pytest.approx(0.0, abs=1e-9), key
    assert s["precision"] == s["recall"] == s["coverage"] == 1.0


@pytest.mark.parametrize("key", ["mean_l1", "std_l1", "swd", "mesh_fd"])
def test_a_shifted_set_scores_more_than_a_fresh_draw_of_the_same_distribution(key):
    texture, alpha, mesh = _set(0)
    ref = UVReference(texture, alpha, mesh)
    same_t, _, same_m = _set(1)
    near = uv_signals(same_t, same_m, ref)[key]
    far = uv_signals((same_t + 0.4).clamp(-1, 1), same_m + 0.2, ref)[key]
    assert 0 < near < far


def test_blur_raises_the_patch_distance_and_a_colour_swap_the_mean_map():
    texture, alpha, mesh = _set(0)
    ref = UVReference(texture, alpha, mesh)
    other_t, _, other_m = _set(1)
    base = uv_signals(other_t, other_m, ref)
    blurred = torch.nn.functional.avg_pool2d(other_t, 5, stride=1, padding=2)
    assert uv_signals(blurred, other_m, ref)["swd"] > base["swd"]
    swapped = other_t[:, [2, 0, 1]]
    assert uv_signals(swapped, other_m, ref)["mean_l1"] > base["mean_l1"]


def test_one_mean_texture_has_low_recall_and_coverage():
    texture, alpha, mesh = _set(0)
    ref = UVReference(texture, alpha, mesh)
    other_t, _, other_m = _set(1)
    mean, _, _ = weighted_moments(texture, alpha)
    collapsed = uv_signals(mean.expand(N, -1, -1, -1).clone(), other_m.mean(0, keepdim=True).expand(N, -1, -1, -1)
                           .clone(), ref)
    healthy = uv_signals(other_t, other_m, ref)
    assert collapsed["recall"] < 0.2 < healthy["recall"]
    assert collapsed["coverage"] < healthy["coverage"]


def test_copies_of_training_items_are_flagged_as_memorised():
    held_t, held_a, held_m = _set(0)
    train_t, train_a, train_m = _set(2, n=60)
    ref = UVReference(held_t, held_a, held_m, train=(train_t, train_a, train_m))
    fresh_t, _, fresh_m = _set(3)
    copies = uv_signals(train_t[:N], train_m[:N], ref)["memorisation"]
    fresh = uv_signals(fresh_t, fresh_m, ref)["memorisation"]
    assert copies < 0.5 < fresh


def test_building_blocks():
    x = torch.rand(2, 3, 32, 32)
    bands = laplacian_pyramid(x, 3)
    assert [b.shape[-1] for b in bands] == [32, 16, 8]
    rebuilt = bands[2]
    for band in reversed(bands[:2]):
        rebuilt = torch.nn.functional.interpolate(rebuilt, scale_factor=2.0, mode="nearest") + band
    assert torch.allclose(rebuilt, x, atol=1e-6)           # the pyramid loses nothing
    a = torch.randn(200, 5, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    assert sliced_wasserstein(a, a, 16, g) == 0
    assert sliced_wasserstein(a, a + 1.0, 16, g) > 0.1
    prc = precision_recall_coverage(a.double(), (a + 100).double())
    assert prc == {"precision": 0.0, "recall": 0.0, "coverage": 0.0}


def test_mismatched_shapes_are_a_clear_error():
    texture, alpha, mesh = _set(0)
    with pytest.raises(ValueError, match="do not match the reference"):
        uv_signals(texture[:, :, :32, :32], mesh, UVReference(texture, alpha, mesh))
