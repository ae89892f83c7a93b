"""EMA generator update (§4.1): floats averaged (BN stats and spectral-norm vectors included), ints copied."""
from __future__ import annotations

import copy

import pytest
import torch

from backend.models import Generator, ema_decay, update_ema

from .conftest import TINY, TINY_CONDITIONAL


def test_decay_schedule():
    assert ema_decay(0) == pytest.approx(0.999 ** 100) and ema_decay(9) == pytest.approx(0.905, abs=1e-3)
    assert ema_decay(10) == pytest.approx(0.999 ** 10) and ema_decay(100) == 0.999


def test_every_float_entry_is_averaged_and_integers_copied():
    torch.manual_seed(0)
    model = Generator(TINY)
    ema = copy.deepcopy(model)
    model.train()
    model(torch.randn(4, 64))  # moves BN statistics, u/v (power iteration) and num_batches_tracked
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1)
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    update_ema(ema, model, decay=0.75)
    after, current = ema.state_dict(), model.state_dict()
    for key in ("fc.weight", "blk1.norm1.norm.running_mean", "blk2.conv1.weight_u", "blk2.conv1.weight_orig"):
        assert not torch.equal(current[key], before[key]), key
        assert torch.allclose(after[key], 0.75 * before[key] + 0.25 * current[key], atol=1e-6), key
    assert int(after["blk1.norm1.norm.num_batches_tracked"]) == 1


def test_mismatched_modules_are_rejected():
    with pytest.raises(ValueError, match="different state-dict keys"):
        update_ema(Generator(TINY), Generator(TINY_CONDITIONAL), 0.9)
    with pytest.raises(ValueError, match="decay"):
        update_ema(Generator(TINY), Generator(TINY), 1.5)
