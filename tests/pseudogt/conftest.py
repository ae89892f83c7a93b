"""A 4-image synthetic collection at 64² (real Blender workers), made once per session."""
from __future__ import annotations

import pytest

from training.synth import SynthConfig, synthesize


@pytest.fixture(scope="session")
def synth_collection(tmp_path_factory):
    out = tmp_path_factory.mktemp("toycars_pg")
    synthesize(out, 4, SynthConfig(seed=5, resolution=64, samples=2), workers=1)
    return out
