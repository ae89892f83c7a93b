"""Shared fixtures of the FID tests: one TF-FID Inception per session."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def extractor():
    from fid.inception import load_feature_extractor

    return load_feature_extractor("tf")
