"""The pose file format: round trip, frames, bad files."""
import numpy as np
import pytest

from training.poses import PoseFileError, hypotheses_path, load_pose_file, save_pose_file


def _write(path, n=3):
    rng = np.random.default_rng(0)
    q = rng.normal(size=(n, 4))
    save_pose_file(path, [f"r{i}" for i in range(n)], q, rng.uniform(0.5, 1, n), rng.normal(size=(n, 2)),
                   np.full(n, 2.0), np.eye(2)[[0, 1, 0][:n]], rng.uniform(size=n), rng.uniform(size=n),
                   rng.uniform(size=n), np.array([1, 0, 1][:n]), ["saloon", "suv"], {"preset": "cpu"})
    return q


def test_round_trip(tmp_path):
    path = tmp_path / "poses.safetensors"
    q = _write(path)
    poses = load_pose_file(path)
    assert len(poses) == 3 and poses.template_names == ["saloon", "suv"] and poses.meta == {"preset": "cpu"}
    e = poses.by_id()["r1"]
    expected = q[1] / np.linalg.norm(q[1])
    expected = expected if expected[0] >= 0 else -expected
    assert np.allclose(e.pose.q, expected) and e.pose.frame == "object" and e.pose.z0 == 2.0
    assert not e.kept and [x.id for x in poses.kept] == ["r0", "r2"]
    assert e.template_weights.tolist() == [0.0, 1.0]


def test_bad_files(tmp_path):
    with pytest.raises(PoseFileError, match="does not exist"):
        load_pose_file(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(PoseFileError, match="not a readable"):
        load_pose_file(bad)
    assert hypotheses_path(tmp_path / "p.safetensors").name == "p.hypotheses.safetensors"
