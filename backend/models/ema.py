"""The exponential moving average ("generator_running_avg", §4.1) used for evaluation and export."""
from __future__ import annotations

import torch
from torch import nn

EMA_BASE = 0.999


def ema_decay(epoch: int) -> float:
    """The paper's schedule: 0.999**100 (about 0.905) for epochs < 10, 0.999**10 (about 0.990) for < 100,
    then 0.999. The early values only make previews usable sooner."""
    if epoch < 10:
        return EMA_BASE ** 100
    if epoch < 100:
        return EMA_BASE ** 10
    return EMA_BASE


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """After a generator step: every floating-point state-dict entry of ``ema`` (weights, BN running
    statistics and the spectral-norm u/v vectors alike) becomes decay * ema + (1 - decay) * model;
    integer entries (num_batches_tracked) are copied. Both modules must have the same state-dict keys."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
    ema_state, model_state = ema.state_dict(), model.state_dict()
    if ema_state.keys() != model_state.keys():
        raise ValueError("EMA and model have different state-dict keys (different architectures)")
    for key, target in ema_state.items():
        source = model_state[key].to(target.device)
        if target.is_floating_point():
            target.mul_(decay).add_(source.to(target.dtype), alpha=1.0 - decay)
        else:
            target.copy_(source)
