"""Shared fixtures of tests/recon: small collections rendered once per session with backend.render."""
from __future__ import annotations

import pytest

from training.recon.config import NetworkConfig

from .fixtures import make_collection

#: A network small enough for tests: 64² input (conv5e -> 2x2), 64² texture, a quarter of the channels.
TINY_NETWORK = {"image_resolution": 64, "texture_resolution": 64, "width": 0.25}
TINY_TRAIN = {"render_resolution": 64, "log_every": 2, "preview_every": 4, "checkpoint_every": 4}


@pytest.fixture(scope="session")
def ellipsoids(tmp_path_factory):
    """16 renders (96²) of a textured ellipsoid with parts, true poses and the true mesh."""
    return make_collection(tmp_path_factory.mktemp("ellipsoids"), n=16, resolution=96, seed=0)


@pytest.fixture()
def tiny_config() -> NetworkConfig:
    return NetworkConfig(**TINY_NETWORK)
