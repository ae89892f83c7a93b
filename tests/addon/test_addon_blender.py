"""The real add-on in real headless bpy (5.0.1) against a real backend on a loopback port.

One driver process (``blender_driver.py``) installs the built extension zip with Blender's extension installer,
starts ``python -m backend.serve --random_init small`` through the add-on's own Start Backend operator, and runs
every scenario; the tests below assert on what it recorded. The driver's process group is killed at the end so
no backend outlives the tests.
"""
from __future__ import annotations

import itertools
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

import build_addon

ROOT = pathlib.Path(__file__).resolve().parents[2]
DRIVER = pathlib.Path(__file__).with_name("blender_driver.py")
pytestmark = pytest.mark.blender


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("dist")
    zips = build_addon.build(out, ROOT / "build" / "wheels", platforms=("linux-x64",), legacy=False)
    return next(z for z in zips if z.name.endswith("linux_x64.zip"))


@pytest.fixture(scope="module")
def conditional_checkpoint(tmp_path_factory) -> pathlib.Path:
    """An untrained class-conditional generator (classes airplane, car, bird) saved as a project checkpoint."""
    import torch

    from backend.models import Generator, GeneratorConfig, save_model

    config = GeneratorConfig(texture_resolution=128, n_classes=3, width=0.25)
    path = tmp_path_factory.mktemp("models") / "classes3.safetensors"
    # Fixed weights, so a failure reproduces; GAN3D_ADDON_WEIGHT_SEED tries others.
    with torch.random.fork_rng():
        torch.manual_seed(int(os.environ.get("GAN3D_ADDON_WEIGHT_SEED", "0")))
        generator = Generator(config)
    return save_model(path, generator, config, class_names=["airplane", "car", "bird"],
                      provenance={"note": "untrained, for the add-on tests"})


@pytest.fixture(scope="module")
def run(extension_zip, conditional_checkpoint, tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("blender")
    port = _free_port()
    command = (f"{sys.executable} -m backend.serve --random_init small --checkpoint {conditional_checkpoint} "
               f"--bind tcp://127.0.0.1:{port}")
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(work / "user"), PYTHONDONTWRITEBYTECODE="1")
    out = work / "results.json"
    process = subprocess.Popen(
        [sys.executable, str(DRIVER), str(extension_zip), str(work), str(out), f"tcp://127.0.0.1:{port}", command],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        log, _ = process.communicate(timeout=420)   # a safety net: about 1 min on a quiet machine
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the driver and any backend it started
        except ProcessLookupError:
            pass
    assert out.exists(), log.decode(errors="replace")[-3000:]
    results = json.loads(out.read_text())
    results["_log"] = log.decode(errors="replace")
    return results


def _facts(run, name):
    facts = run[name]
    assert "error" not in facts or isinstance(facts.get("error"), str) and "Traceback" not in facts["error"], \
        facts.get("error")
    return facts


def test_installs_with_the_extension_installer(run):
    facts = _facts(run, "install")
    assert facts["result"] == ["FINISHED"] and facts["enabled"] and facts["loaded"] and facts["panel"]
    assert {"generate", "regenerate", "reproduce", "cancel", "connect", "start_backend", "variations", "blend",
            "save_look", "load_look"} <= set(facts["operators"])
    # Blender unpacked the bundled pyzmq wheel into the extensions' site-packages
    assert len(facts["bundled_zmq"]) == 1


def test_malformed_address_is_explained_and_host_port_normalised(run):
    facts = _facts(run, "malformed_address")
    assert "has no port" in facts["error"] and "host:port" in facts["error"]
    assert facts["normalised"].startswith("tcp://127.0.0.1:")


def test_start_backend_connects_and_reads_info(run):
    facts = _facts(run, "start_backend")
    assert facts["connected"], facts["error"]
    assert facts["devices"] == ["cpu"]
    assert set(facts["models"]) == {"random-small", "classes3"}
    assert facts["models"]["random-small"]["untrained"] is True
    assert facts["models"]["classes3"]["classes"] == ["airplane", "car", "bird"]


def test_classes_car_first_and_regenerate_with_another_class(run):
    facts = _facts(run, "classes")
    assert facts["default_class"] == "car"  # the server lists airplane first; the panel puts car first
    assert [o["gan3d_class_name"] for o in facts["generated"]] == ["car", "car"]
    assert [o["gan3d_class_index"] for o in facts["generated"]] == [1, 1]
    before, after = facts["before"], facts["after"]
    assert after["gan3d_seed"] == before["gan3d_seed"]
    assert after["gan3d_class_name"] == "bird" and after["gan3d_class_index"] == 2
    assert after["gan3d_model"] == "classes3" and facts["pixels_changed"]


def test_generate_ten_cars_in_a_grid(run):
    facts = _facts(run, "generate_grid")
    texture = run["start_backend"]["models"]["random-small"]["texture_size"]
    objects = facts["objects"]
    assert len(objects) == 10, facts["report"]
    seeds = sorted(o["props"]["gan3d_seed"] for o in objects)
    assert seeds == list(range(1000, 1010))
    for o in objects:
        assert o["vertices"] == 962 and o["faces"] == 1920
        assert o["uv_layers"] == ["UVMap"] and o["smooth"]
        assert o["image_size"] == [texture, texture] and o["image_packed"]
        assert o["collections"] == ["Generated"]
        props = o["props"]
        assert props["gan3d_model"] == "random-small" and props["gan3d_class_name"] == ""
        assert props["gan3d_truncation"] == pytest.approx(0.8)
        assert props["gan3d_target_length"] == pytest.approx(4.5)
        # origin at the bottom centre, real-world length, outward normals, snapped onto the plane at z = -0.5
        assert o["local_min"][2] == pytest.approx(0.0, abs=1e-5)
        assert (o["local_min"][0] + o["local_max"][0]) / 2 == pytest.approx(0.0, abs=1e-4)
        assert max(o["local_max"][0] - o["local_min"][0], o["local_max"][1] - o["local_min"][1]) == \
            pytest.approx(4.5, abs=1e-4)
        assert o["outward_fraction"] > 0.9
        assert o["location"][2] == pytest.approx(-0.5, abs=1e-4)
    for a, b in itertools.combinations(objects, 2):
        (amin, amax), (bmin, bmax) = a["aabb"], b["aabb"]
        overlap = all(amin[k] < bmax[k] and bmin[k] < amax[k] for k in range(2))
        assert not overlap, (a["name"], b["name"])


def test_materials_carry_a_principled_bsdf_by_default_or_share_one_surface_group(run):
    facts = _facts(run, "material_styles")
    assert facts["preference"] == "PRINCIPLED" and facts["groups_before"] == []
    assert len(facts["default"]) >= 10
    for graph in facts["default"]:
        assert graph["types"] == ["BSDF_PRINCIPLED", "OUTPUT_MATERIAL", "TEX_IMAGE"]
        assert graph["surface"] == "BSDF_PRINCIPLED" and graph["base_color_from"] == "TEX_IMAGE"
        assert graph["roughness"] == pytest.approx(0.55)
    shared = {"types": ["GROUP", "OUTPUT_MATERIAL", "TEX_IMAGE"], "surface": "GROUP", "base_color_from": "TEX_IMAGE",
              "group": "gan3d Car Surface", "roughness": pytest.approx(0.55)}
    assert facts["shared"] == [shared] and facts["shared_second"] == [shared]   # one group, used by both
    [edited] = facts["shared_after_edit"]          # the user's edit of the group is what new cars get
    assert edited["group"] == "gan3d Car Surface" and edited["roughness"] == pytest.approx(0.2)
    [fresh] = facts["shared_after_break"]          # the broken group is left alone, a new one is made
    assert fresh["group"] != "gan3d Car Surface" and fresh["group"].startswith("gan3d Car Surface")
    assert fresh["base_color_from"] == "TEX_IMAGE" and fresh["roughness"] == pytest.approx(0.55)
    assert facts["groups"] == sorted(["gan3d Car Surface", fresh["group"]])


def test_regenerate_keeps_transforms_and_collections(run):
    facts = _facts(run, "regenerate_keeps_transforms")
    for before, after in zip(facts["before"], facts["after"]):
        assert np.allclose(before["transform"], after["transform"], atol=1e-6)
        assert before["collections"] == after["collections"] == ["Extra", "Generated"]
        assert after["seed"] != before["seed"] and after["changed"] and after["vertices"] == 962
    assert facts["total_generated"] == 10  # replaced in place, nothing added


def test_reproduce_rebuilds_identical_vertices_and_texture(run):
    facts = _facts(run, "reproduce_is_exact")
    assert facts["max_vertex_diff"] == 0.0, facts["report"]
    assert facts["max_pixel_diff"] == 0.0


def test_scatter_and_curve_placement(run):
    facts = _facts(run, "placement_modes")
    scatter = np.array(facts["scatter"]["locations"])
    assert len(scatter) == 4
    assert np.all(np.abs(scatter[:, 0] - 500.0) <= 30.0) and np.all(np.abs(scatter[:, 1]) <= 30.0)
    assert np.allclose(scatter[:, 2], 2.0, atol=1e-4)
    d = np.linalg.norm(scatter[:, None, :2] - scatter[None, :, :2], axis=-1) + np.eye(len(scatter)) * 1e9
    assert d.min() >= 4.5 + 1.0 - 1e-6
    curve = np.array(facts["curve"]["locations"])
    assert np.allclose(curve[:, 0], -500.0, atol=1e-4)
    assert np.allclose(np.diff(curve[:, 1]), facts["curve"]["pitch"], atol=1e-3)
    # the curve runs along +y: fronts (-y turned by yaw) point along +y, i.e. yaw = pi
    assert np.allclose(np.cos(facts["curve"]["yaws"]), -1.0, atol=1e-4)
    assert "fit on the selected surface" in facts["overfull_error"]


def test_cancel_mid_batch_leaves_only_complete_objects(run):
    facts = _facts(run, "cancel_mid_batch")
    texture = run["start_backend"]["models"]["random-small"]["texture_size"]
    assert facts["status"] == "cancelled" and "cancelled" in facts["report"]
    assert facts["built_at_cancel"] <= len(facts["new"]) < facts["requested"]
    for o in facts["new"]:
        assert o["vertices"] == 962 and o["image_packed"] and o["image_size"] == [texture, texture]
        assert "gan3d_seed" in o["props"]
    assert facts["after_cancel_generate"] == 1


def test_saving_and_reopening_keeps_packed_textures(run):
    facts = _facts(run, "save_and_reopen")
    assert facts["saved"] == facts["reopened"] > 12
    assert facts["all_packed"] and facts["pixels_equal"]
    assert facts["latents_equal"] and facts["with_latent"] == facts["saved"]


def _seed_latent(seed: int, truncation: float) -> np.ndarray:
    import torch

    from backend.models import truncated_normal
    return truncated_normal((64,), truncation, torch.Generator().manual_seed(seed)).numpy()


def test_every_object_stores_its_exact_latent_and_the_model_fingerprint(run):
    from backend.models import random_init_model
    from backend.models import weights_fingerprint

    objects = _facts(run, "stored_latents")["objects"]
    assert len(objects) >= 10
    fingerprint = weights_fingerprint(random_init_model("small", seed=0))
    for o in objects:
        assert o["fingerprint"] == fingerprint
        np.testing.assert_array_equal(np.array(o["latent"], np.float32), _seed_latent(o["seed"], o["truncation"]))


def test_strength_zero_variations_reproduce_the_car_beside_it(run):
    from backend.protocol import variation_latents

    facts = _facts(run, "variations")
    zero = facts["zero"]
    assert len(zero) == 3, facts["report_zero"]
    for k, o in enumerate(zero):
        assert o["vertex"] == 0.0 and o["pixel"] == 0.0             # the same car, exactly
        assert o["props"]["gan3d_latent"] == facts["original_latent"] and o["props"]["gan3d_seed"] == -1
        assert o["name"] == f"{facts['original']}_var{k + 1}"
    x = [o["location"][0] for o in zero]
    assert np.allclose([o["location"][1] for o in zero], facts["original_location"][1])   # in a row beside it
    assert np.allclose(np.diff([facts["original_location"][0], *x]), 4.5 + 0.5)
    strong = facts["strong"]
    expected = variation_latents(np.array(facts["original_latent"], np.float32), 0.5, 2, seed=5,
                                 truncation=facts["truncation"])
    np.testing.assert_array_equal(np.array([o["latent"] for o in strong], np.float32), expected)
    assert all(o["pixel"] > 0.05 for o in strong)
    assert facts["reproduced"]["pixel"] == 0.0                     # rebuilt from its stored latent


def test_blend_ends_reproduce_the_two_cars_and_in_betweens_are_slerps(run):
    from backend.protocol import slerp

    facts = _facts(run, "blend")
    row = facts["row"]
    assert len(row) == 4, facts["report"]                          # 2 in-betweens + both ends
    assert row[0]["to_first"] == {"vertex": 0.0, "pixel": 0.0}
    assert row[-1]["to_second"] == {"vertex": 0.0, "pixel": 0.0}
    a, b = (np.array(v, np.float32) for v in facts["latents"])
    for o, t in zip(row, [0, 1 / 3, 2 / 3, 1]):
        np.testing.assert_array_equal(np.array(o["latent"], np.float32), slerp(a, b, t))
        assert o["seed"] == -1
    for o in row[1:-1]:
        assert o["to_first"]["pixel"] > 0.05 and o["to_second"]["pixel"] > 0.05
    locations = np.array([o["location"] for o in row])
    assert np.allclose(locations[:, 0], [60, 70, 80, 90]) and np.allclose(locations[:, 1], -40 + 5.0)
    classes = facts["classes"]
    assert [o["class_name"] for o in classes] == ["car", "car", "bird"], facts["classes_report"]
    assert classes[0]["to_car"] == {"vertex": 0.0, "pixel": 0.0}, facts.get("classes_diagnosis", {}).get("car_end")
    assert classes[2]["to_bird"] == {"vertex": 0.0, "pixel": 0.0}, facts.get("classes_diagnosis", {}).get("bird_end")
    np.testing.assert_allclose(classes[1]["class_weights"], [0.0, 0.5, 0.5])
    assert classes[0]["class_weights"] == [] and classes[1]["to_car"]["pixel"] > 0.05


def test_saved_looks_are_small_json_files_that_rebuild_the_car_exactly(run):
    facts = _facts(run, "looks")
    for key in ("variation", "class_blend"):
        look = facts[key]
        assert look["loaded"], look["report"]
        assert look["pixel"] == 0.0 and look["vertex"] == 0.0 and look["same_latent"]
        data = look["file"]
        assert data["format"] == "gan3d-look" and data["version"] == 1 and data["latent_dim"] == 64
        assert data["seed"] == -1 and len(data["latent"]) == 64 and len(data["model_fingerprint"]) == 16
    assert facts["variation"]["file"]["model"] == "random-small"
    assert facts["class_blend"]["file"]["class_weights"] == pytest.approx([0.0, 0.5, 0.5])
    assert facts["variation"]["location"][:2] == pytest.approx([0.0, -120.0])   # at the 3D cursor


def test_regenerate_of_seedless_objects_keeps_blends_and_latents(run):
    facts = _facts(run, "regenerate_latent_objects")
    new_seed = facts["new_seed"]
    assert new_seed["seed"] >= 0 and new_seed["latent_changed"], new_seed["report"]
    assert new_seed["class_weights"] == pytest.approx([0.0, 0.5, 0.5])     # still a car-bird blend
    same = facts["same_seed"]
    assert same["seed"] == -1 and same["same_latent"] and same["pixel"] == 0.0, same["report"]
    assert same["name"] == run["variations"]["strong"][0]["name"]           # a seedless object keeps its name


@pytest.mark.parametrize("case, words", [
    ("other_model", "made by model 'elsewhere', which this backend does not have"),
    ("other_weights", "other weights of model 'random-small'"),
    ("no_latent", "no stored latent"),
    ("wrong_size", "5 values per latent, but the model takes latents of 64"),
    ("nan_latent", "NaN or infinite"),
    ("blend_two_models", "two cars of the same model: "),
    ("blend_two_models", "from 'classes3'"),
    ("save_without_latent", "no stored latent"),
    ("look_wrong_size", "5 values per latent"),
    ("look_nan", "NaN"),
    ("look_infinite", "NaN or infinite"),
    ("look_not_json", "is not a gan3d look"),
    ("look_other_model", "which this backend does not have"),
])
def test_bad_input_gives_one_clear_message_and_builds_nothing(run, case, words):
    facts = _facts(run, "bad_input")[case]
    assert words in facts["message"], facts["message"]
    assert len(facts["message"].strip().splitlines()) == 1
    assert facts["objects_added"] == 0
    if case == "save_without_latent":
        assert not facts["file_written"]


def test_backend_down_gives_clear_error_and_no_objects(run):
    facts = _facts(run, "backend_down")
    assert "python -m backend.serve" in facts["report"] and "Preferences" in facts["report"]
    assert facts["objects_after"] == facts["objects_before"]
    assert "python -m backend.serve" in facts["connect_error"]
