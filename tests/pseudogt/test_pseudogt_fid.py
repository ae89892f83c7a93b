"""FID against a pseudo-GT folder (training.gan.evaluate): the ceiling renders reproduce the images they came from."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.train import main
from fid.real import masked_crop
from training.gan.evaluate import (PseudoGTEvaluationError, PseudoGTMeshes, ceiling_renders, item_records, plan_for,
                                   pseudogt_fid)
from training.pseudogt import export_from_truth, open_pseudogt


@pytest.fixture(scope="module")
def truth_pseudogt(tmp_path_factory, synth_collection):
    out = tmp_path_factory.mktemp("pg_fid") / "pseudogt"
    export_from_truth(synth_collection, out, texture_resolution=128, image_resolution=64, batch_size=4)
    return out


def test_ceiling_renders_reproduce_their_images(truth_pseudogt):
    data = open_pseudogt(truth_pseudogt)
    records = item_records(data)
    renders = torch.cat(list(ceiling_renders(PseudoGTMeshes(data), plan_for(data, len(records)), 2)))
    assert renders.shape == (4, 3, 299, 299)
    for k, record in enumerate(records):
        real = torch.from_numpy(masked_crop(record))
        grey = lambda im: (im - 0.5).abs().amax(0) > 0.02   # noqa: E731  (object pixels: not mid-grey)
        a, b = grey(real), grey(renders[k])
        iou = float((a & b).sum()) / float((a | b).sum())
        assert iou > 0.8, (record.id, iou)
        err = float((renders[k] - real).abs().mean(0)[a & b].mean())
        assert err < 0.12, (record.id, err)       # 64² images through 128² textures: blurred, same colours


def test_renders_use_the_pose_the_item_was_made_with(truth_pseudogt):
    from dataformat import crop_pose

    data = open_pseudogt(truth_pseudogt)
    records = item_records(data)
    plan = plan_for(data, 6)
    assert plan.record_index.tolist() == [0, 1, 2, 3, 0, 1]
    for j, i in enumerate(plan.record_index.tolist()):     # from truth: the poses file holds the true crop poses
        true = crop_pose(records[i])
        np.testing.assert_allclose(plan.q[j], true.q, atol=1e-5)
        np.testing.assert_allclose(plan.s[j, 0], true.s, atol=1e-5)
        np.testing.assert_allclose(plan.t[j], true.t, atol=1e-5)
    # an estimated pose (here: half the scale) is what the render follows, not the record's pose
    base = torch.cat(list(ceiling_renders(PseudoGTMeshes(data), plan_for(data, 1), 1)))
    data.poses["scale"] = data.poses["scale"] * 0.5
    half = torch.cat(list(ceiling_renders(PseudoGTMeshes(data), plan_for(data, 1), 1)))
    area = lambda im: float(((im - 0.5).abs().amax(1) > 0.02).sum())   # noqa: E731
    assert 0.15 < area(half) / area(base) < 0.35
    with pytest.raises(PseudoGTEvaluationError, match="at least 1"):
        plan_for(data, 0)


def test_ceiling_beats_an_untrained_generator(truth_pseudogt, synth_collection, tmp_path):
    from backend.model_choice import select_model
    from fid.inception import load_feature_extractor
    from fid.real import real_statistics

    extractor = load_feature_extractor("tf")
    data = open_pseudogt(truth_pseudogt)
    real = real_statistics(synth_collection, extractor, cache_dir=tmp_path).statistics
    ceiling = pseudogt_fid(data, real, extractor, "ceiling")
    noise = pseudogt_fid(data, real, extractor, "full", model=select_model(random_init="small"))
    textured = pseudogt_fid(data, real, extractor, "mesh_only", model=select_model(random_init="small"))
    assert ceiling.num_b == noise.num_b == 4
    assert ceiling.fid < textured.fid < noise.fid, (ceiling.fid, textured.fid, noise.fid)
    with pytest.raises(PseudoGTEvaluationError, match="pass a model"):
        pseudogt_fid(data, real, extractor, "texture_only")


def test_cli_evaluate_and_its_errors(truth_pseudogt, synth_collection, tmp_path, capsys):
    stats = tmp_path / "real.npz"
    assert main(["data", "info", str(synth_collection)]) == 0
    from fid.evaluate import main as fid_main

    assert fid_main(["stats", str(synth_collection), "--output", str(stats), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["gan", "evaluate", "--pseudogt", str(truth_pseudogt), "--stats", str(stats), "--skip", "1"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("ceiling: FID ") and "3 renders of 3 pseudo-GT items vs 4 real images" in line, line
    assert main(["gan", "evaluate", "--pseudogt", str(truth_pseudogt), "--stats", str(stats),
                 "--mode", "texture_only"]) == 1
    assert "needs --checkpoint" in capsys.readouterr().err
    assert main(["gan", "evaluate", "--pseudogt", str(truth_pseudogt), "--stats", str(stats),
                 "--collection", str(synth_collection), "--skip", "9"]) == 1
    assert "leaves no pseudo-GT item" in capsys.readouterr().err
    np.testing.assert_equal(len(open_pseudogt(truth_pseudogt).subset(1, 3)), 2)
