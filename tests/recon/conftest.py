"""Shared fixtures of tests/recon: small collections rendered once per session with backend.render."""
from __future__ import annotations

import pytest
import torch

from .fixtures import make_collection

#: A network small enough for tests: 64² input (conv5e -> 2x2), 64² texture, a quarter of the channels.
TINY_NETWORK = {"image_resolution": 64, "texture_resolution": 64, "width": 0.25}
TINY_TRAIN = {"render_resolution": 64, "log_every": 2, "preview_every": 4, "checkpoint_every": 4}


@pytest.fixture(scope="session")
def ellipsoids(tmp_path_factory):
    """16 renders (96²) of a textured ellipsoid with parts, true poses and the true mesh."""
    return make_collection(tmp_path_factory.mktemp("ellipsoids"), n=16, resolution=96, seed=0)


@pytest.fixture()
def one_thread():
    """Multi-threaded CPU kernels reduce in a varying order (and a second thread mostly spins on a shared
    machine); one thread makes training bit-for-bit repeatable and cheaper."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
