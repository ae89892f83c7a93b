"""training.poses.attach_poses gives a loaded collection's records their estimated poses."""
import numpy as np

from dataformat import Pose, Record, load_collection, write_collection
from training.poses import attach_poses, save_pose_file


def test_attach_poses(tmp_path):
    records = []
    for i in range(3):
        image = np.full((32, 48, 3), 200, np.uint8)
        mask = np.zeros((32, 48), bool)
        mask[8:20, 10:30] = True
        truth = Pose((1.0, 0.0, 0.0, 0.0), 0.5, (0.0, 0.1)) if i else None
        records.append(Record(f"r{i}", None, (0, 0), (0, 0, 0, 0), 3, "car", "test", image_array=image,
                              mask_array=mask, pose=truth))
    write_collection(tmp_path / "col", records, ["car"] * 4)
    q = np.array([[0.5, 0.5, 0.5, 0.5]] * 2)
    save_pose_file(tmp_path / "p.safetensors", ["r1", "r2"], q, [0.7, 0.8], [[0.1, 0.2], [0.0, 0.0]], [2.0, 3.0],
                   [[1.0], [1.0]], [0.9, 0.8], [0.5, 0.4], [0.1, 0.5], [1, 0], ["car"])
    col = attach_poses(load_collection(tmp_path / "col"), tmp_path / "p.safetensors")
    assert [r.id for r in col.records] == ["r1"]           # r0 has no estimate, r2 was filtered out
    r = col.records[0]
    assert r.pose.frame == "object" and np.allclose(r.pose.q, [0.5, 0.5, 0.5, 0.5]) and r.pose.s == 0.7
    assert r.pose.z0 == 2.0 and r.extra["true_pose"]["s"] == 0.5
    assert col.report.skipped["no_estimated_pose"] == 2 and col.report.kept == 1
    every = attach_poses(load_collection(tmp_path / "col"), tmp_path / "p.safetensors", kept_only=False)
    assert [r.id for r in every.records] == ["r1", "r2"]
