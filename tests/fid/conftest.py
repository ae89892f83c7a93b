"""Shared fixtures of the FID tests: one TF-FID Inception per session."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def extractor():
    from fid.inception import load_feature_extractor

    return load_feature_extractor("tf")


@pytest.fixture(scope="session")
def testbed(tmp_path_factory):
    """A small synthetic car testbed (ENG-DATA's training.synth, real Blender): 16 images at 64², with poses."""
    from training.synth import SynthConfig, synthesize

    out = tmp_path_factory.mktemp("fid_testbed")
    result = synthesize(out, 16, SynthConfig(seed=23, resolution=64, samples=4), workers=1)
    assert result.n_failed == 0, result.failed
    return out


@pytest.fixture(scope="session")
def testbed_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("fid_cache")


@pytest.fixture(scope="session")
def testbed_real(testbed, testbed_cache, extractor):
    """The testbed's real statistics, computed once into ``testbed_cache`` (16 Inception passes)."""
    from fid.real import real_statistics

    return real_statistics(testbed, extractor, cache_dir=testbed_cache, batch_size=8)
