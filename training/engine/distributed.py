"""torchrun / DistributedDataParallel set-up shared by the training stages.

``init_distributed()`` reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK). Without it the run is a
single process (``world_size == 1``) and every helper is a no-op, so stage code is written once for both.
CUDA runs use NCCL with one process per GPU (``cuda:LOCAL_RANK``); CPU runs use gloo.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class Distributed:
    """Where this process sits in the run. ``main`` (rank 0) alone writes logs and checkpoints."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, module: nn.Module, sync_batchnorm: bool = True) -> nn.Module:
        """DDP-wrap ``module`` (after converting BatchNorm to SyncBatchNorm) when distributed, else return it."""
        if not self.enabled:
            return module
        if sync_batchnorm:
            from .sync_batchnorm import convert_sync_batchnorm

            module = convert_sync_batchnorm(module, self.device)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def all_reduce_mean(self, value: torch.Tensor) -> torch.Tensor:
        """Mean of ``value`` over processes (a copy; the input is unchanged)."""
        if not self.enabled:
            return value
        out = value.detach().clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out / self.world_size

    def broadcast_object(self, obj):
        """rank 0's ``obj`` on every process."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def shutdown(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: str | torch.device | None = None) -> Distributed:
    """Initialise the process group when launched by torchrun; choose this process's device.

    device: "cpu", "cuda" or None (CUDA when available). Under torchrun with CUDA, process k uses cuda:LOCAL_RANK.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    want = str(device) if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    if want.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("CUDA was requested but no GPU is available; use --device cpu")
    if want.startswith("cuda"):
        dev = torch.device("cuda", local if world > 1 or want == "cuda" else torch.device(want).index or 0)
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world,
                                timeout=datetime.timedelta(minutes=10))
    return Distributed(rank=rank, world_size=world, local_rank=local, device=dev)
