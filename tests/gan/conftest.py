"""A tiny pseudo-GT folder written with the real writer: 8 items of structured partial textures at 128²."""
from __future__ import annotations

import math

import pytest
import torch

from training.pseudogt import PseudoGTItem, PseudoGTWriter


def write_tiny_pseudogt(root, count: int = 8, resolution: int = 128, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    writer = PseudoGTWriter(root, {"source": "test", "texture_resolution": resolution, "mesh_resolution": 32,
                                   "class_names": ["car"], "part_names": None, "collection": ""})
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, resolution), torch.linspace(-1, 1, resolution), indexing="ij")
    for i in range(count):
        phase = float(torch.rand(1, generator=gen)) * math.pi
        texture = torch.stack([torch.sin(3 * xs + phase), torch.cos(2 * ys), 0.5 * xs * ys]).clamp(-1, 1)
        alpha = ((xs + 0.3 * math.cos(phase)).abs() < 0.5).float()[None]
        mesh = torch.zeros(3, 32, 32)
        mesh[0] = -0.5 + 0.1 * torch.rand(1, generator=gen)
        writer.write(i, PseudoGTItem(record_id=f"r{i}", texture=texture * alpha, alpha=alpha, mesh=mesh,
                                     pose={"q": [1.0, 0.0, 0.0, 0.0], "s": 0.8, "t": [0.0, 0.0], "z0": None}))
    writer.finish(count)
    return root


@pytest.fixture(scope="session")
def tiny_pseudogt(tmp_path_factory):
    return write_tiny_pseudogt(tmp_path_factory.mktemp("pseudogt"))
