"""Batch norm synchronised over processes on any device (PyTorch's SyncBatchNorm is GPU-only).

``DistributedBatchNorm2d`` is a ``BatchNorm2d`` (same parameters, buffers and state-dict names) whose training-mode
statistics are the mean and biased variance over the *global* batch: per-channel sums, sums of squares and counts
are all-reduced with the differentiable ``torch.distributed.nn.functional.all_reduce``, so gradients match a single
process holding the whole batch. Running statistics follow BatchNorm's rules (unbiased variance, momentum).
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


class DistributedBatchNorm2d(nn.BatchNorm2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dims = (0, 2, 3)
        local_count = torch.tensor([x.numel() // x.shape[1]], dtype=x.dtype, device=x.device)
        stats = torch.cat([x.sum(dims), (x * x).sum(dims), local_count])
        stats = all_reduce(stats)
        c = x.shape[1]
        count = stats[-1]
        mean = stats[:c] / count
        var = (stats[c:2 * c] / count - mean * mean).clamp_min(0)
        with torch.no_grad():
            if self.track_running_stats:
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * count / (count - 1).clamp_min(1)
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased.detach(), alpha=momentum)
        out = (x - mean[None, :, None, None]) * torch.rsqrt(var[None, :, None, None] + self.eps)
        if self.affine:
            out = out * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return out


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """BatchNorm2d -> synchronised batch norm: PyTorch's SyncBatchNorm on CUDA, ``DistributedBatchNorm2d`` else.

    The conversion keeps every parameter and buffer, so state dicts are unchanged.
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in list(module.named_children()):
        if isinstance(child, nn.BatchNorm2d) and not isinstance(child, DistributedBatchNorm2d):
            new = DistributedBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                         child.track_running_stats)
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            setattr(module, name, new.to(next(iter(child.buffers()), torch.empty(0)).device))
        else:
            convert_sync_batchnorm(child, device)
    return module
