"""Real statistics of a dataset collection (the synthetic testbed): crops, cache, FID floors."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from fid.errors import FIDError
from fid.features import extract_features
from fid.generated import plan_samples
from fid.images import image_file_batches, list_images
from fid.real import (RealStatsOptions, cache_key, cache_path, masked_crop, open_collection, real_statistics,
                      select_records)
from fid.statistics import FeatureStatistics, fid_from_statistics, kernel_inception_distance
from tests.fid.helpers import write_noise_images


def test_masked_crop_puts_the_object_on_mid_grey(testbed):
    from dataformat.preprocess import crop_and_resize

    record = open_collection(testbed).records[0]
    crop = masked_crop(record)
    assert crop.shape == (3, 299, 299) and crop.dtype == np.float32
    sample = crop_and_resize(record, 299, 0.05)
    background, inside = sample.mask == 0, sample.mask == 1
    assert background.sum() > 1000 and inside.sum() > 1000
    np.testing.assert_array_equal(crop[:, background], 0.5)
    np.testing.assert_allclose(crop[:, inside], sample.image[inside].T / 255.0, atol=1e-6)


def test_real_statistics_are_cached_and_reused(testbed, testbed_cache, testbed_real, extractor):
    assert not testbed_real.cached and testbed_real.path.parent == testbed_cache
    assert testbed_real.statistics.num_images == 16
    with np.load(testbed_real.path) as data:  # the original layout
        assert data["stats_m"].shape == (2048,) and not np.triu(data["stats_s"], 1).any()
        assert int(data["num_images"]) == 16 and int(data["resolution"]) == 299
    again = real_statistics(testbed, extractor, cache_dir=testbed_cache)
    assert again.cached and again.path == testbed_real.path
    np.testing.assert_allclose(again.statistics.mean, testbed_real.statistics.mean, rtol=1e-6)
    # other options, another file
    assert cache_path(testbed, RealStatsOptions(filter_class="car"), extractor.name, testbed_cache) != again.path
    assert cache_path(testbed, RealStatsOptions(), "torchvision-inception-v3", testbed_cache) != again.path


def test_cache_key_follows_the_collection_index(testbed, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("collection.json", "index.jsonl"):
        shutil.copyfile(testbed / name, copy / name)
    before = cache_key(copy, RealStatsOptions(), "net")
    assert cache_key(copy, RealStatsOptions(), "net") == before
    lines = (copy / "index.jsonl").read_text().splitlines()
    (copy / "index.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # one record fewer
    assert cache_key(copy, RealStatsOptions(), "net") != before


def test_half_against_half_is_small_and_against_noise_large(testbed_real, extractor, tmp_path):
    features = testbed_real.statistics.kid_features  # all 16, in record order
    assert features.shape == (16, 2048)
    first, second = (FeatureStatistics.from_features(f, feature_extractor=extractor.name)
                     for f in (features[:8], features[8:]))
    noise_folder = write_noise_images(tmp_path / "noise", 8, seed=3, size=(64, 64))
    noise_features = extract_features(extractor, image_file_batches(list_images(noise_folder), 8))
    noise = FeatureStatistics.from_features(noise_features, feature_extractor=extractor.name)
    real_vs_real = fid_from_statistics(first, second)
    real_vs_noise = fid_from_statistics(first, noise)
    # 8 against 8 images: both FIDs carry a large small-sample bias (about 250 vs 550 here); KID has none
    assert 0 < real_vs_real < 0.7 * real_vs_noise, (real_vs_real, real_vs_noise)
    kid_real, _ = kernel_inception_distance(features[:8], features[8:])
    kid_noise, _ = kernel_inception_distance(features[:8], noise_features)
    assert kid_noise > 0.2 and abs(kid_real) < 0.2 * kid_noise, (kid_real, kid_noise)


def test_generated_poses_frame_the_true_car_like_the_real_crop(testbed):
    """The true mesh rendered under a sample's planned pose covers the real crop's mask (IoU > 0.9)."""
    from backend.models import random_init_model
    from backend.render import Pose, render_attributes
    from dataformat.preprocess import crop_and_resize
    from training.synth import read_car_obj

    collection = open_collection(testbed)
    records = collection.records[:3]
    plan = plan_samples(records, 3, random_init_model("small"))
    assert plan.class_index is None and plan.record_index.tolist() == [0, 1, 2]
    for i, record in enumerate(records):
        car = read_car_obj(collection.root / record.extra["mesh"])
        pose = Pose(q=torch.from_numpy(plan.q[i:i + 1]), s=torch.from_numpy(plan.s[i:i + 1]),
                    t=torch.from_numpy(plan.t[i:i + 1]))
        vertices = torch.as_tensor(car.vertices, dtype=torch.float32)[None]
        out = render_attributes(vertices, torch.as_tensor(car.faces), torch.ones(1, vertices.shape[1], 1), pose, 299)
        rendered = out.mask[0].numpy() > 0.5
        real = crop_and_resize(record, 299, 0.05).mask > 0.5
        assert (rendered & real).sum() / (rendered | real).sum() > 0.9


def test_class_conditional_models_take_the_records_classes(testbed):
    import dataclasses

    from backend.models import PRESETS, random_init_model

    records = open_collection(testbed).records
    model = random_init_model(dataclasses.replace(PRESETS["small"], n_classes=13))
    plan = plan_samples(records, 20, model)
    assert plan.class_index == [model.class_names.index("car")] * 20 == [3] * 20
    assert plan.record_index.tolist() == [j % 16 for j in range(20)]  # the training set walked in order, repeated


def test_bad_datasets_give_clear_errors(testbed, tmp_path):
    with pytest.raises(FIDError, match="cannot read dataset"):
        open_collection(tmp_path)  # a folder without an index
    records = open_collection(testbed).records
    with pytest.raises(FIDError, match="no records of class 'zebra'.*car"):
        select_records(records, "zebra")
    assert len(select_records(records, "car")) == len(select_records(records, "3")) == 16
    from backend.models import random_init_model

    unposed = [r for r in records]
    for r in unposed:
        r.pose = None
    with pytest.raises(FIDError, match="estimate poses first"):
        plan_samples(unposed, 4, random_init_model("small"))
