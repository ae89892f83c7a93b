"""Shared fixtures of tests/data: one small synthetic run made once per session (real Blender workers)."""
from __future__ import annotations

import pytest

from training.engine.stage import Events
from training.synth import SynthConfig, synthesize

SMALL_RUN = SynthConfig(seed=7, resolution=64, samples=4)
SMALL_N = 16


@pytest.fixture(scope="session")
def synth_run(tmp_path_factory):
    """16 images at 64² rendered by two Blender worker processes; returns (folder, SynthResult)."""
    out = tmp_path_factory.mktemp("toycars")
    ticks = []
    result = synthesize(out, SMALL_N, SMALL_RUN, workers=2, events=Events(advance=lambda phase, n, _: ticks.append(n)))
    assert len(ticks) == SMALL_N
    return out, result
