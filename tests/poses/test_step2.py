"""Step 2 on hand-made hypotheses: semantic templates from side views resolve the silhouette twin."""
import numpy as np
import torch

from backend.mesh import uv_sphere
from backend.render import Pose, interpolate, object_to_renderer, rasterize, viewpoint_quaternion
from training.poses import step2
from training.poses.config import PRESETS
from training.poses.geometry import complementary_score, turned_around, twin_quaternion
from training.poses.step1 import Hypotheses


def _labels(vertices):
    """Per-vertex one-hot 'parts' of the car template: 1 front (y < -0.3), 2 back (y > 0.3), 3 roof, else body."""
    y, z = vertices[:, 1], vertices[:, 2]
    label = torch.zeros(len(vertices), dtype=torch.long)
    label[z > 0.25] = 3
    label[y < -0.4] = 1
    label[y > 0.4] = 2
    return torch.nn.functional.one_hot(label, 4).float()


def _maps(vertices, faces, q, side):
    n = q.shape[0]
    pose = Pose(q, torch.full((n, 1), 0.85), torch.zeros(n, 2))
    rast = rasterize(object_to_renderer(vertices[None].expand(n, -1, -1).contiguous(), pose), faces, side)
    parts = interpolate(_labels(vertices), rast).permute(0, 3, 1, 2)          # (n, 4, side, side)
    return torch.cat([(1 - rast.mask.float())[:, None], parts], dim=1), pose


def test_semantic_templates_resolve_the_twin(car_template, faces):
    vertices = car_template[0]
    config = PRESETS["cpu"].replace(reliable_top=10)
    side_views = viewpoint_quaternion(torch.tensor([0.0, 180.0, 8.0, 172.0], dtype=torch.float64),
                                      torch.tensor([95.0, 95.0, 100.0, 100.0], dtype=torch.float64)).float()
    ambiguous = viewpoint_quaternion(torch.tensor([60.0, 130.0, 230.0, 310.0], dtype=torch.float64),
                                     torch.tensor([110.0, 115.0, 105.0, 120.0], dtype=torch.float64)).float()
    q_true = torch.cat([side_views, ambiguous])
    assert (complementary_score(side_views) > 0.5).all() and (complementary_score(ambiguous) < 0.5).all()
    maps, pose = _maps(vertices, faces, q_true, 64)
    n = len(q_true)
    # hypotheses per image: [truth, its twin, a wrong view]; truth and twin have the same silhouette IoU
    wrong = viewpoint_quaternion(torch.full((n,), 90.0, dtype=torch.float64),
                                 torch.full((n,), 60.0, dtype=torch.float64)).float()
    q = torch.stack([q_true, twin_quaternion(q_true), wrong], dim=1)
    iou = torch.tensor([[0.95, 0.95, 0.5]] * n)
    iou[:4, 0] = 0.96                                                 # side views: the truth is the best IoU
    hyp = Hypotheses(q, pose.s[:, None].expand(n, 3, 1).clone(), torch.zeros(n, 3, 2), torch.full((n, 3, 1), 4.0),
                     torch.ones(n, 3, 1), iou)
    reliable, stats = step2.reliable_subset(hyp, config)
    assert reliable[:4].all() and not reliable[4:].any() and stats["fallback"] == []
    mirror = torch.from_numpy(np.array(uv_sphere().mirror_index))
    semantic = step2.semantic_templates(hyp, maps, car_template, faces, reliable, mirror)
    assert semantic.shape == (1, 962, 4) and torch.allclose(semantic.sum(-1), torch.ones(1, 962))
    # the front vertices learnt "front", the back ones "back"
    front, back = vertices[:, 1] < -0.6, vertices[:, 1] > 0.6
    assert semantic[0, front, 1].mean() > 3 * semantic[0, front, 2].mean()
    assert semantic[0, back, 2].mean() > 3 * semantic[0, back, 1].mean()
    miou = torch.stack([step2.soft_miou(step2.render_channels(hyp, i, semantic, car_template, faces, 64), maps[i])
                        for i in range(n)])
    choice = step2.choose(hyp, miou, config)
    assert (choice.index == 0).all(), miou
    assert (choice.v_agr[4:] < 0.3).all()
    silhouette = step2.choose_by_iou(hyp, config)
    assert (silhouette.v_agr[4:] > 0.3).all()                         # IoU alone cannot tell truth from twin


def test_soft_miou():
    target = torch.zeros(3, 4, 4)
    target[0, :2] = 1
    target[1, 2:] = 1
    same = target[None].clone()
    swapped = target[[1, 0, 2]][None]
    scores = step2.soft_miou(torch.cat([same, swapped]), target)
    assert scores[0] == 1 and scores[1] == 0                          # empty channel 2 is ignored


def test_blurred_and_weighted_miou():
    target = torch.zeros(2, 16, 16)
    target[0, 4:8, 4:8] = 1
    target[1, 10:12, 10:12] = 1
    shifted = target.roll(shifts=1, dims=2)[None]                       # every part one pixel off
    sharp = step2.soft_miou(shifted, target)
    blurred = step2.soft_miou(shifted, target, blur=1.5)
    assert blurred > sharp + 0.1                                        # a one-pixel miss still overlaps
    blur = step2.gaussian_blur(target[None], 1.5)
    assert torch.allclose(blur.sum(), target.sum(), rtol=1e-5)          # mass kept away from the borders
    # equal weights are the plain mean; weight on a channel moves the mean toward that channel's IoU
    half = target.clone()[None]
    half[0, 1] = 0
    assert torch.allclose(step2.soft_miou(half, target, weights=torch.ones(2)), step2.soft_miou(half, target))
    assert step2.soft_miou(half, target, weights=torch.tensor([1.0, 9.0])) == 0.1


def test_front_back_asymmetry():
    sphere = uv_sphere()
    vertices = torch.from_numpy(np.asarray(sphere.vertices, np.float32))
    from training.poses.run import _front_back_index

    flip = _front_back_index(len(vertices))
    labels = _labels(vertices)[None]                                   # (1, V, 4): body, front, back, roof
    asym = step2.front_back_asymmetry(labels, flip)
    assert asym[1] > 0.99 and asym[2] > 0.99                           # front and back lights: one end only
    assert asym[3] < 0.05                                              # the roof looks the same both ways
    assert torch.equal(vertices[flip][:, 1], -vertices[:, 1])


def test_centroid_distance_by_hand():
    target = torch.zeros(3, 9, 9)
    target[1, 4, 0] = 1                                                # part 1 at the left edge, x = -1
    target[2, 0, 4] = 1                                                # part 2 at the top edge, y = -1
    pred = torch.zeros(2, 3, 9, 9)
    pred[0] = target
    pred[1, 1, 4, 8] = 1                                               # part 1 at the right edge: 2 away
    pred[1, 2, 0, 4] = 1                                               # part 2 in place
    dist = step2.centroid_distance(pred, target, min_mass=0.5)
    assert torch.allclose(dist, torch.tensor([0.0, 1.0]))              # mean over the two parts: (2 + 0) / 2
    # a faint tail over the whole frame pulls an unsharpened centroid to the middle; sharpening keeps the peak
    faint = pred[1:].clone()
    faint[:, 1] += 0.05
    assert step2.centroid_distance(faint, target, power=1.0, min_mass=0.5) < 0.8
    assert step2.centroid_distance(faint, target, power=4.0, min_mass=0.5) > 0.99
    centre = step2.channel_centroids(target[1:])
    assert torch.allclose(centre, torch.tensor([[-1.0, 0.0], [0.0, -1.0]]))


def test_front_back_margin_by_hand():
    q = viewpoint_quaternion(torch.tensor([30.0, 40.0, 210.0], dtype=torch.float64),
                             torch.tensor([100.0, 100.0, 100.0], dtype=torch.float64)).float()[None]
    score = torch.tensor([[0.8, 0.75, 0.6]])
    # the 10°-away hypothesis is on the same side; only the turned-around one is a rival
    assert torch.allclose(step2.front_back_margin(score, q), torch.tensor([0.2]))
    assert step2.front_back_margin(score[:, :2], q[:, :2]).isinf().all()
    hyp = Hypotheses(q, torch.ones(1, 3, 1), torch.zeros(1, 3, 2), torch.zeros(1, 3, 1), torch.ones(1, 3, 1),
                     torch.ones(1, 3))
    # second image: rival 0.02 behind; third: a poor fit (below the score percentile) with a clear margin
    scores = torch.cat([score, score + torch.tensor([[0, 0, 0.18]]), score - 0.5])
    hyp3 = Hypotheses(*(torch.cat([getattr(hyp, f)] * 3) for f in ("q", "s", "t", "z0", "w", "iou")))
    config = PRESETS["cpu"].replace(step2_filter="margin", step2_margin=0.05, miou_percentile=10.0)
    choice = step2.choose(hyp3, scores, config)
    assert choice.kept.tolist() == [True, False, False] and choice.index.tolist() == [0, 0, 0]
    assert torch.allclose(choice.margin, torch.tensor([0.2, 0.02, 0.2]))


def test_part_centroids_tell_front_from_back(car_template, faces):
    """A car seen from the front-left and the same camera with the car turned around have nearly the same
    silhouette. With the faint, smeared light channels a semantic template really has, the mIoU barely
    separates them; the centroid term does, and the margin filter keeps the image."""
    vertices = car_template[0]
    q_true = viewpoint_quaternion(torch.tensor([35.0, 145.0], dtype=torch.float64),
                                  torch.tensor([100.0, 105.0], dtype=torch.float64)).float()
    maps, pose = _maps(vertices, faces, q_true, 64)                    # channels: bg, body, front, back, roof
    y = vertices[:, 1]
    smeared = torch.stack([torch.full_like(y, 0.8), 0.04 + 0.1 * (y < -0.4), 0.04 + 0.1 * (y > 0.4),
                           torch.full_like(y, 0.1)], dim=1)
    semantic = (smeared / smeared.sum(1, keepdim=True))[None]
    n = len(q_true)
    q = torch.stack([q_true, turned_around(q_true)], dim=1)
    hyp = Hypotheses(q, pose.s[:, None].expand(n, 2, 1).clone(), torch.zeros(n, 2, 2), torch.full((n, 2, 1), 4.0),
                     torch.ones(n, 2, 1), torch.ones(n, 2))
    config = PRESETS["cpu"].replace(miou_percentile=0.0)
    for i in range(n):
        pred = step2.render_channels(hyp, i, semantic, car_template, faces, 64)
        miou = step2.soft_miou(pred, maps[i])
        dist = step2.centroid_distance(pred, maps[i])
        score = miou - config.step2_centroid_weight * dist
        assert dist[1] > dist[0] + 0.1                                 # the turned-around lights land far off
        assert score[0] - score[1] > 2 * abs(miou[0] - miou[1])        # the centroid term decides
        choice = step2.choose(Hypotheses(*(getattr(hyp, f)[i:i + 1] for f in ("q", "s", "t", "z0", "w", "iou"))),
                              score[None], config, miou[None])
        assert choice.index.item() == 0 and choice.margin.item() > config.step2_margin
        assert choice.miou.item() == miou[0]                           # the file keeps the mIoU itself
