"""Evaluation against truth: the metrics on known cases, and the report + contact sheet of a run."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from backend.mesh import uv_sphere
from training.recon.evaluate import chamfer, evaluate_run, mesh_chamfer, normalise_half_length, sample_surface
from training.recon.train import train_recon

from .fixtures import ellipsoid_vertices
from .test_recon_train import options


def test_metrics_on_known_shapes():
    sphere = uv_sphere(31)
    faces = np.asarray(sphere.faces)
    ellipsoid = ellipsoid_vertices()
    normalised = normalise_half_length(ellipsoid * 3 + 5)
    assert np.allclose(np.abs(normalised).max(0), [0.45, 1.0, 0.35], atol=2e-3)  # no ring at the equator
    points = sample_surface(sphere.vertices, faces, 2000)
    assert np.allclose(np.linalg.norm(points, axis=1), 1, atol=0.01)  # on the (faceted) unit sphere
    # scale and position do not matter (half-length normalisation); shape does
    same = mesh_chamfer(ellipsoid, faces, ellipsoid * 2.5 + 1, faces)
    other = mesh_chamfer(sphere.vertices * np.array([0.45, 1, 0.35]) * [1.3, 1, 1], faces, ellipsoid, faces)
    assert same < 0.03 and other > 2 * same
    a = np.random.default_rng(0).random((100, 3))
    assert chamfer(a, a) == 0.0 and abs(chamfer(a, a + [0.1, 0, 0]) - 0.1) < 0.02


@pytest.fixture(scope="module")
def short_run(ellipsoids, tmp_path_factory):
    """A 4-iteration run on the ellipsoids with the scaled-sphere template."""
    run = tmp_path_factory.mktemp("recon_eval") / "run"
    train_recon(options(ellipsoids, run, iters=4, template="sphere"))
    return run


def test_evaluate_run_writes_report_and_contact_sheet(ellipsoids, short_run):
    run = short_run
    report = evaluate_run(run, ellipsoids, poses="truth", limit=10, batch_size=4, sheet_rows=3)
    summary = report.summaries()
    assert summary["n_images"] == 10 and summary["n_chamfer"] == 10
    assert 0.3 < summary["iou_mean"] <= 1 and np.isfinite(summary["psnr_mean"])
    # the default template (a car-proportioned ellipsoid) is close to the ellipsoid testbed
    assert summary["chamfer_template_mean"] < 0.05
    data = json.loads(report.path.read_text())
    assert data["summary"]["n_images"] == 10 and len(data["images"]) == 10
    assert report.path.parent == run / f"eval_{ellipsoids.name}"
    sheet = np.asarray(Image.open(report.sheet))
    assert sheet.shape == (3 * 128, 4 * 128, 3) and sheet.std() > 10
    assert "mask IoU mean" in report.summary()


def test_evaluate_cli(ellipsoids, short_run, tmp_path, capsys):
    from backend.train import main

    code = main(["recon", "evaluate", str(short_run), "--collection", str(ellipsoids), "--limit", "4",
                 "--out", str(tmp_path / "ev"), "--sheet", "2"])
    out = capsys.readouterr().out
    assert code == 0 and "4 images: mask IoU mean" in out and (tmp_path / "ev" / "contact_sheet.png").is_file()
