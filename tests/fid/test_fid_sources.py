"""What `fid.evaluate images` and `floor` read: collections through their index, plain folders as before, the
small-set note, and the real-vs-real floor."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fid.comparison import compare_sources, compare_statistics
from fid.errors import FIDError
from fid.evaluate import main
from fid.features import extract_features, folder_features, folder_statistics
from fid.floor import real_floor, split_halves
from fid.real import crop_batches, open_collection
from fid.sources import inspect_source
from fid.statistics import FeatureStatistics
from tests.fid.helpers import write_noise_images


def _noise_collection(root, count: int, seed: int):
    """A collection of ``count`` 64² noise images, each with a rectangular mask, written by dataformat."""
    from dataformat.collection import write_collection
    from dataformat.record import Record

    rng = np.random.default_rng(seed)
    records = []
    for i in range(count):
        mask = np.zeros((64, 64), bool)
        mask[8 + i % 5:50, 4:40 + 2 * i] = True
        records.append(Record(id=f"n{i:02d}", image_path=None, image_size=(0, 0), bbox=(0.0, 0.0, 0.0, 0.0),
                              class_index=3, class_name="car", source="folder", mask_array=mask,
                              image_array=rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    write_collection(root, records, ["motorcycle", "bus", "truck", "car"], name="noise")
    return root


@pytest.fixture(scope="module")
def noise_collection(tmp_path_factory):
    """4 noise records (images/ + masks/), plus 2 stray images beside the index: 10 image files, 4 images."""
    root = _noise_collection(tmp_path_factory.mktemp("noise_collection"), 4, seed=5)
    write_noise_images(root, 1, seed=9, size=(64, 64))               # noise_000.png at the top
    write_noise_images(root / "previews", 1, seed=10, size=(64, 64))
    return root


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A plain folder: 2 noise images at the top, 1 in a subfolder (all three are read, as before)."""
    root = write_noise_images(tmp_path_factory.mktemp("plain"), 2, seed=1, size=(64, 64))
    write_noise_images(root / "sub", 1, seed=2, size=(64, 64))
    return root


@pytest.fixture(scope="module")
def plain_stats(plain, extractor):
    return folder_statistics(plain, extractor)


def test_the_testbed_collection_is_read_through_its_index(testbed, testbed_real, testbed_cache, plain, plain_stats,
                                                          tmp_path, capsys):
    """16 records, 48 image files (images, masks, part maps): `images` uses the 16 masked crops only."""
    report = tmp_path / "report.json"
    assert main(["images", str(testbed), str(plain), "--cache_dir", str(testbed_cache), "--report", str(report),
                 "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("FID ") and f"{testbed}: 16 images" in out[0]
    assert out[1] == (f"{testbed}: collection '{testbed.name}' read through its index: 16 images as masked crops on "
                      "mid-grey (the protocol of `fid.evaluate stats`); 32 other image files under it (masks, part "
                      "maps, strays) not read")
    assert out[2] == f"{plain}: image folder: 3 image files (alpha composited on mid-grey)"
    data = json.loads(report.read_text())
    assert data["kind_a"] == "collection" and data["kind_b"] == "folder"
    assert data["num_a"] == 16 and data["num_b"] == 3
    expected = compare_statistics(testbed_real.statistics, plain_stats)
    assert data["fid"] == pytest.approx(expected.fid, rel=1e-6)  # the real set of `stats` (cached as float32)


def test_masks_and_strays_beside_an_index_are_not_images(noise_collection, plain_stats, extractor, tmp_path):
    source = inspect_source(noise_collection)
    assert (source.kind, source.num_images, source.unread_images) == ("collection", 4, 6)
    plain_file = plain_stats.save(tmp_path / "plain.npz")
    result = compare_sources(source, plain_file, extractor, batch_size=8, cache_dir=None)
    records = open_collection(noise_collection).records
    crops = extract_features(extractor, crop_batches(records, 8))
    by_index = compare_statistics(FeatureStatistics.from_features(crops, feature_extractor=extractor.name),
                                  plain_stats)
    assert result.num_a == 4 and result.fid == pytest.approx(by_index.fid, rel=1e-6)
    # walking the folder would have read 10 files, masks among them, and given another figure
    walked = FeatureStatistics.from_features(folder_features(noise_collection, extractor, 10),
                                             feature_extractor=extractor.name)
    assert walked.num_images == 10
    assert abs(compare_statistics(walked, plain_stats).fid - result.fid) > 0.05 * result.fid


def test_a_collection_file_without_an_index_is_an_error_not_a_folder(tmp_path, plain, capsys):
    broken = write_noise_images(tmp_path / "broken", 3, seed=4, size=(32, 32))
    (broken / "collection.json").write_text('{"format": "gan3d-collection", "version": 1}')
    assert main(["images", str(broken), str(plain), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot read dataset") and "index.jsonl" in err and "\n" not in err


def test_plain_folders_and_the_small_set_note(plain, plain_stats, tmp_path, extractor, capsys):
    other = write_noise_images(tmp_path / "other", 2, seed=8, size=(64, 64))
    assert main(["images", str(plain), str(other), "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    old_way = compare_statistics(plain_stats, folder_statistics(other, extractor))
    assert out[0].startswith(f"FID {old_way.fid:.4f}  KID {old_way.kid:.5f} ± n/a (no spread")
    assert out[1:] == [f"{plain}: image folder: 3 image files (alpha composited on mid-grey)",
                       f"{other}: image folder: 2 image files (alpha composited on mid-grey)",
                       "note: fewer than 2,048 images in a set (3 and 2): FID is biased upward at this size (compare "
                       "FIDs only at equal sample counts); KID is the figure to compare"]


def test_split_halves_are_disjoint_and_seeded():
    a, b = split_halves(11, 5, seed=3)
    assert len(a) == len(b) == 5 and not set(a) & set(b) and set(a) | set(b) <= set(range(11))
    assert np.array_equal(split_halves(11, 5, seed=3)[0], a)
    assert not np.array_equal(split_halves(11, 5, seed=4)[0], a)


def test_floor_of_the_testbed_is_below_the_fid_to_another_collection(testbed, testbed_real, testbed_cache,
                                                                     noise_collection, extractor):
    """4 vs 4 (the noise collection's size): FID and KID between two parts of the testbed, and across."""
    halves = real_floor(testbed, seed=0, extractor=extractor, cache_dir=testbed_cache)
    assert halves["features_from"] == "cache" and halves["n"] == 8 and halves["num_records"] == 16
    assert halves["num_a"] == halves["num_b"] == 8 and "FID is biased upward" in halves["note"]
    assert halves["kid_whole_sets"] and halves["kid_subset_size"] == 4 and halves["kid_std"] > 0
    floor = real_floor(testbed, n=4, seed=0, extractor=extractor, cache_dir=testbed_cache)
    half, _ = split_halves(16, 4, seed=0)
    testbed_half = FeatureStatistics.from_features(testbed_real.statistics.kid_features[half],
                                                   feature_extractor=extractor.name)
    other = FeatureStatistics.from_features(extract_features(extractor, crop_batches(
        open_collection(noise_collection).records, 4)), feature_extractor=extractor.name)
    across = compare_statistics(testbed_half, other)  # 4 vs 4 as well
    assert floor["fid"] < 0.7 * across.fid, (floor["fid"], across.fid)
    assert floor["kid"] < 0.2 * across.kid, (floor["kid"], across.kid)


def test_floor_features_from_inception_and_from_the_cache_agree(noise_collection, extractor, tmp_path):
    """The split picks the same records whether their features come from Inception or from the cache."""
    uncached = real_floor(noise_collection, n=2, seed=2, extractor=extractor, cache_dir=None)
    first = real_floor(noise_collection, n=2, seed=2, extractor=extractor, cache_dir=tmp_path)
    again = real_floor(noise_collection, n=2, seed=2, extractor=extractor, cache_dir=tmp_path)
    assert uncached["features_from"] == first["features_from"] == "inception"
    assert again["features_from"] == "cache" and list(tmp_path.glob("*.npz"))  # 2 + 2 = every record: cached
    for other in (first, again):
        assert other["fid"] == pytest.approx(uncached["fid"], rel=1e-5)
        assert other["kid"] == pytest.approx(uncached["kid"], rel=1e-4, abs=1e-7)
    with pytest.raises(FIDError, match="needs 10 images .* 4 usable records; pass --n 2 or less"):
        real_floor(noise_collection, n=5, extractor=extractor, cache_dir=None)


def test_floor_cli_prints_json(testbed, testbed_real, testbed_cache, capsys):
    assert main(["floor", str(testbed), "--cache_dir", str(testbed_cache), "--seed", "1", "--n", "6", "--json",
                 "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["n"], data["seed"], data["num_records"], data["features_from"]) == (6, 1, 16, "cache")
    assert data["fid"] > 0 and data["kid"] is not None
    assert main(["floor", str(testbed), "--cache_dir", str(testbed_cache), "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("floor FID ") and "8 vs 8 disjoint random records of 16" in out[0]
    assert out[1].startswith("note: fewer than 2,048 images")
    assert main(["floor", str(testbed), "--n", "40", "--cache_dir", str(testbed_cache)]) == 1
    assert "pass --n 8 or less" in capsys.readouterr().err
