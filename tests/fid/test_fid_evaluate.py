"""The generated set and the full evaluation: seeds, batch-size invariance, the CLI, the JSON report."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fid.errors import FIDError
from fid.evaluate import main
from fid.generated import plan_samples, render_samples
from fid.real import open_collection


@pytest.fixture(scope="module")
def small_generator():
    from backend.sampling import MeshGenerator
    from backend.models import random_init_model

    return MeshGenerator(random_init_model("small", seed=0))


def test_same_seed_same_samples_whatever_the_batch_size(testbed, small_generator):
    records = open_collection(testbed).records
    plan = plan_samples(records, 3, small_generator.model)
    one_by_one = torch.cat(list(render_samples(small_generator, plan, seed=1234, batch_size=1)))
    together = torch.cat(list(render_samples(small_generator, plan, seed=1234, batch_size=3)))
    assert one_by_one.shape == (3, 3, 299, 299)
    assert 0.0 <= float(together.min()) and float(together.max()) <= 1.0
    torch.testing.assert_close(one_by_one, together, atol=1e-5, rtol=0)
    other_seed = next(render_samples(small_generator, plan, seed=99, batch_size=3))
    assert (other_seed - together).abs().max() > 0.1
    # the background outside the rendered object is mid-grey
    corners = together[:, :, :4, :4]
    covered = (corners - 0.5).abs().amax(dim=(1, 2, 3)) > 1e-6
    assert not covered.all()


def test_texture_and_mesh_only_modes_need_pseudo_ground_truth(testbed, small_generator):
    plan = plan_samples(open_collection(testbed).records, 2, small_generator.model)
    for mode in ("texture_only", "mesh_only"):
        with pytest.raises(FIDError, match="pseudo-ground-truth"):
            next(render_samples(small_generator, plan, seed=0, mode=mode))


def test_evaluate_cli_prints_fid_kid_and_writes_the_report(testbed, testbed_real, testbed_cache, tmp_path, capsys):
    report = tmp_path / "report.json"
    code = main(["--random_init", "small", "--dataset", str(testbed), "--cache_dir", str(testbed_cache),
                 "--num_samples", "4", "--batch_size", "4", "--report", str(report), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("FID ") and "KID " in out and "untrained" in out
    data = json.loads(report.read_text())
    assert data["num_real"] == 16 and data["num_generated"] == 4
    assert data["real_cached"] is True and data["real_statistics"] == str(testbed_real.path)
    assert data["untrained"] is True and data["options"]["seed"] == 1234
    assert data["fid"] > 50  # grey noise spheres are far from cars
    assert data["kid"] is not None and data["kid"] > 0
    assert data["result"]["feature_extractor"] == "tf-fid-inception-2015-12-05"


def test_evaluate_cli_bad_input(testbed, testbed_cache, tmp_path, capsys):
    def error(argv):
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
        return err

    base = ["--random_init", "small", "--cache_dir", str(testbed_cache), "--quiet"]
    assert "cannot read dataset" in error(base + ["--dataset", str(tmp_path)])
    assert "no records of class 'zebra'" in error(base + ["--dataset", str(testbed), "--filter_class", "zebra"])
    assert "unknown --random_init config" in error(["--random_init", "huge", "--dataset", str(testbed)])
    bad_stats = tmp_path / "stats.npz"
    bad_stats.write_bytes(b"garbage")
    assert "cannot read statistics file" in error(base + ["--dataset", str(testbed), "--stats", str(bad_stats)])
    missing = tmp_path / "missing.safetensors"
    assert "missing.safetensors" in error(["--checkpoint", str(missing), "--dataset", str(testbed)])


def test_backend_generate_evaluate_is_the_drop_in(testbed, testbed_real, tmp_path, monkeypatch, capsys):
    """`python -m backend.generate --evaluate` with the original's flags; the real statistics come from the cache."""
    import shutil

    from backend.generate import main as generate_main

    monkeypatch.chdir(tmp_path)  # reports and the default cache are relative to the working directory
    (tmp_path / "cache" / "fid").mkdir(parents=True)
    shutil.copyfile(testbed_real.path, tmp_path / "cache" / "fid" / testbed_real.path.name)
    code = generate_main(["--random_init", "small", "--dataset", str(testbed), "--gpu_ids", "-1", "--batch_size", "3",
                          "--how_many", "3", "--evaluate"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.startswith("FID ") and "generated: 3 images" in captured.out
    reports = list((tmp_path / "output").glob("*_fid.json"))
    assert len(reports) == 1
    data = json.loads(reports[0].read_text())
    assert data["real_cached"] is True and data["options"]["seed"] == 1234 and data["num_generated"] == 3
    assert generate_main(["--random_init", "small", "--evaluate", "--gpu_ids", "-1"]) == 1
    assert "--evaluate needs --dataset" in capsys.readouterr().err


def test_stats_cli_reuses_the_cache_and_copies_the_file(testbed, testbed_real, testbed_cache, tmp_path, capsys):
    from fid.statistics import FeatureStatistics

    output = tmp_path / "precomputed_fid_299x299.npz"
    assert main(["stats", str(testbed), "--cache_dir", str(testbed_cache), "--output", str(output), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "16 images (cached)" in out and str(testbed_real.path) in out
    copied = FeatureStatistics.load(output)
    assert copied.num_images == 16 and copied.feature_extractor == "tf-fid-inception-2015-12-05"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert main(["stats", str(plain), "--quiet"]) == 1
    assert "pass --output" in capsys.readouterr().err


class _SpherePseudoGT:
    """A stand-in for the future pseudo-ground-truth stage: a small unit sphere and a white texture per record."""

    def __init__(self, template):
        self.template = template

    def vertices(self, indices):
        sphere = torch.tensor(np.array(self.template.vertices), dtype=torch.float32) * 0.5
        return sphere.expand(len(indices), -1, -1)

    def texture(self, indices):
        return torch.ones(len(indices), 3, 16, 16)


def test_texture_and_mesh_only_modes_use_the_pseudo_ground_truth_hook(testbed, small_generator):
    plan = plan_samples(open_collection(testbed).records, 2, small_generator.model)
    pseudo_gt = _SpherePseudoGT(small_generator.template)
    full = next(render_samples(small_generator, plan, seed=5, batch_size=2))
    mesh_only = next(render_samples(small_generator, plan, seed=5, batch_size=2, mode="mesh_only",
                                     pseudo_gt=pseudo_gt))
    texture_only = next(render_samples(small_generator, plan, seed=5, batch_size=2, mode="texture_only",
                                       pseudo_gt=pseudo_gt))
    grey = lambda images: ((images - 0.5).abs() < 1e-6).all(dim=1)  # noqa: E731
    covered = ~grey(full)
    # mesh-only: the generated mesh's silhouette, painted with the (white) pseudo-GT texture
    assert torch.equal(~grey(mesh_only), covered)
    assert torch.allclose(mesh_only[:, :, covered[0]][0], torch.ones(1), atol=1e-5)
    # texture-only: the pseudo-GT mesh (a half-size sphere) instead of the generated one
    assert (~grey(texture_only)).sum() < 0.6 * covered.sum()
