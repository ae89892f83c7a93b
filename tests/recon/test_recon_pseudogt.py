"""Pseudo-GT export from a reconstruction network: a rendered sphere's visible texels equal its known texture."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from backend.train import main
from training.pseudogt import open_pseudogt
from training.recon.config import NetworkConfig
from training.recon.network import ReconstructionNetwork

from .fixtures import known_texture, make_collection

T = 64


@pytest.fixture(scope="module")
def spheres(tmp_path_factory):
    """8 renders (192²) of the unit sphere with a known 64² texture: what an untrained network predicts."""
    root = tmp_path_factory.mktemp("spheres")
    return make_collection(root, n=8, resolution=192, seed=4, extent=(1.0, 1.0, 1.0))


@pytest.fixture(scope="module")
def untrained_pth(tmp_path_factory):
    """An original-style checkpoint of an untrained network (zero mesh head: it predicts the plain sphere)."""
    torch.manual_seed(0)
    net = ReconstructionNetwork(NetworkConfig(image_resolution=64, texture_resolution=64, width=0.25, n_parts=3))
    path = tmp_path_factory.mktemp("recon") / "checkpoint_latest.pth"
    torch.save({"generator": {f"module.{k}": v for k, v in net.state_dict().items()},
                "args": argparse.Namespace(dataset="spheres")}, path)
    return path


def test_visible_texels_equal_the_known_texture(spheres, untrained_pth, tmp_path, capsys):
    out = tmp_path / "pgt"
    code = main(["recon", "pseudogt", str(untrained_pth), "--out", str(out), "--collection", str(spheres),
                 "--poses", "truth", "--texture-resolution", str(T), "--batch-size", "4", "--no-fid-stats"])
    assert code == 0, capsys.readouterr().err
    assert "8 items (8 written, 0 reused)" in capsys.readouterr().out
    pgt = open_pseudogt(out)
    assert len(pgt) == 8 and pgt.texture_resolution == T and pgt.info["source"] == "recon"
    assert torch.equal(pgt.mesh, torch.zeros_like(pgt.mesh))  # the plain sphere
    truth = known_texture(T)
    errors = []
    for k in range(len(pgt)):
        alpha = pgt.alpha[k, 0].float()
        assert 0.15 < float((alpha > 0).float().mean()) < 0.6  # about half the sphere is seen
        # texels seen fully, away from the silhouette: the projected colour is the rendered texel
        solid = torch.nn.functional.max_pool2d((alpha < 1).float()[None, None], 5, 1, 2)[0, 0] == 0
        assert solid.sum() > 200
        diff = (pgt.texture[k].float() - truth).abs()[:, solid]
        errors.append(float(diff.mean()))
        assert float(torch.quantile(diff.flatten(), 0.95)) < 0.08
        assert float(pgt.texture[k].float()[:, alpha == 0].abs().max()) == 0.0  # invisible texels are zero
    assert np.mean(errors) < 0.02
    # the poses file holds each image's crop-frame pose
    assert pgt.poses["rotation"].shape == (8, 4) and torch.all(pgt.poses["translation"][:, 2] == 0)


def test_resume_keeps_items_and_existing_folder_needs_resume(spheres, untrained_pth, tmp_path, capsys):
    out = tmp_path / "pgt"
    args = ["recon", "pseudogt", str(untrained_pth), "--out", str(out), "--collection", str(spheres), "--poses",
            "truth", "--texture-resolution", str(T), "--no-fid-stats", "--limit", "4"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 1
    assert "already holds pseudo-GT" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0
    assert "4 items (0 written, 4 reused)" in capsys.readouterr().out
    assert main(["recon", "pseudogt", "--out", str(out)]) == 1
    assert "pass a recon run folder" in capsys.readouterr().err
    assert main(["recon", "pseudogt", str(untrained_pth), "--out", str(tmp_path / "x")]) == 1
    assert "pass --collection and --poses" in capsys.readouterr().err
