"""The optional DiffAugment of the texture discriminators' inputs: what each op does, determinism, gradients, and a
run that uses it (and refuses to resume without it)."""
from __future__ import annotations

import pytest
import torch

from training.gan import PRESETS, GANTrainer, TrainingError
from training.gan.augment import AugmentDraw, augment, draw, parse_augment
from training.gan.config import mismatches
from training.pseudogt import open_pseudogt

TINY = PRESETS["tiny"]


def _maps(b=3, t=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    alpha = (torch.rand(b, 1, t, t, generator=g) > 0.3).float()
    texture = (torch.rand(b, 3, t, t, generator=g) * 2 - 1) * alpha
    return torch.cat([texture, alpha], 1)


def _draw(b, brightness=0.0, saturation=1.0, contrast=1.0, centre=(0.5, 0.5)):
    return AugmentDraw(torch.full((b,), brightness), torch.full((b,), saturation), torch.full((b,), contrast),
                       torch.tensor([centre] * b))


def test_parse_augment_names_and_errors():
    assert parse_augment("cutout, color") == ("color", "cutout")
    assert parse_augment("") == () and parse_augment(None) == () and parse_augment("none") == ()
    with pytest.raises(ValueError, match="unknown --augment op.*translation"):
        parse_augment("color,translation")


def test_identity_parameters_leave_the_maps_unchanged():
    x = _maps()
    assert torch.equal(augment(x, (), _draw(3)), x)
    torch.testing.assert_close(augment(x, ("color",), _draw(3)), x)


def test_brightness_moves_seen_texels_only_and_keeps_alpha():
    x = _maps()
    y = augment(x, ("color",), _draw(3, brightness=0.25))
    alpha = x[:, 3:]
    torch.testing.assert_close(y[:, :3], (x[:, :3] + 0.25) * alpha)
    assert torch.equal(y[:, 3:], alpha)
    assert torch.all(y[:, :3][alpha.expand(-1, 3, -1, -1) == 0] == 0)     # unseen texels stay zero


def test_zero_saturation_makes_seen_texels_grey():
    x = _maps()
    y = augment(x, ("color",), _draw(3, saturation=0.0))
    seen = x[:, 3] > 0
    for c in (1, 2):
        torch.testing.assert_close(y[:, c][seen], y[:, 0][seen])


def test_cutout_blanks_one_half_size_square_in_every_channel():
    x = torch.ones(2, 4, 16, 16)
    y = augment(x, ("cutout",), _draw(2, centre=(0.5, 0.5)))
    assert torch.all(y[:, :, 4:12, 4:12] == 0)                                 # 8 x 8 = half the side
    assert int((y[0, 3] == 0).sum()) == 64 and float(y[:, :, :4].min()) == 1.0
    corner = augment(x, ("cutout",), _draw(2, centre=(0.0, 0.0)))              # clipped at the border
    assert int((corner[0, 3] == 0).sum()) == 16 and torch.all(corner[:, :, :4, :4] == 0)


def test_draws_are_a_function_of_seed_and_step_and_slice_like_the_batch():
    a, b = draw(8, seed=1, step=5), draw(8, seed=1, step=5)
    assert torch.equal(a.brightness, b.brightness) and torch.equal(a.cutout_centre, b.cutout_centre)
    assert not torch.equal(a.brightness, draw(8, seed=1, step=6).brightness)
    assert not torch.equal(a.brightness, draw(8, seed=2, step=5).brightness)
    assert float(a.brightness.abs().max()) <= 0.5 and 0 <= float(a.saturation.min()) <= 2
    assert 0.5 <= float(a.contrast.min()) and float(a.contrast.max()) <= 1.5
    half = a.slice(slice(4, 8))
    assert torch.equal(half.contrast, a.contrast[4:])
    doubled = half.repeat(2)
    assert torch.equal(doubled.saturation, torch.cat([half.saturation, half.saturation]))


def test_gradients_flow_through_every_op():
    x = _maps().requires_grad_(True)
    y = augment(x, ("color", "cutout"), draw(3, seed=0, step=0))
    y.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_a_run_with_augment_trains_and_resume_must_agree(tiny_pseudogt):
    data = open_pseudogt(tiny_pseudogt)
    config = TINY.replace(augment="color,cutout")
    trainer = GANTrainer(config, data)
    plain = GANTrainer(TINY, data)
    a = [trainer.train_step().losses for _ in range(3)]
    b = [plain.train_step().losses for _ in range(3)]
    assert a[0]["g"] != b[0]["g"] and a[1]["d_real"] != b[1]["d_real"]   # same weights and data; D saw other inputs
    assert all(all(torch.isfinite(torch.tensor(v)) for v in step.values()) for step in a)
    assert mismatches(config, TINY) == ["augment: saved 'color,cutout', requested ''"]
    with pytest.raises(TrainingError, match="unknown --augment"):
        GANTrainer(TINY.replace(augment="flip"), data)
