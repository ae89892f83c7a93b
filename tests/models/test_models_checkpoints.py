"""Checkpoint I/O: official .pth (§8.1) loads without executing pickles; project .safetensors round trip; bad files."""
from __future__ import annotations

import argparse
import copy
import json
import os
import zipfile

import pytest
import torch
from safetensors import safe_open

from backend.models import (ALL_CLASSES, CheckpointError, GeneratorConfig, load_model, random_init_model,
                            save_model)

from .conftest import TINY, TINY_CONDITIONAL, trained_like


def upstream_args(**overrides) -> dict:
    """vars(args) as run_generation.py stores it (a few of its many options)."""
    args = argparse.Namespace(name="pretrained_test", dataset="p3d_car", mode="singletpl", texture_resolution=128,
                              mesh_resolution=32, latent_dim=64, conditional_class=False, n_classes=(0,),
                              num_discriminators=3, mesh_path="mesh_templates/uvsphere_31rings.obj",
                              truncation_sigma=1.0, gpu_ids="0", norm_g="syncbatch", lr_g=1e-4, symmetric=True)
    for key, value in overrides.items():
        setattr(args, key, value)
    return vars(args)


def save_like_upstream(path, ema, raw=None, args=None, legacy=False):
    """torch.save of the dict run_generation.py writes (§8.1), optimiser state and curves included.

    ``raw`` (the non-EMA generator) gets one real Adam step on a copy, so shared fixtures stay untouched.
    """
    raw = copy.deepcopy(raw if raw is not None else ema)
    optimizer = torch.optim.Adam(raw.parameters(), lr=1e-4, betas=(0.0, 0.99))
    raw.train()
    classes = torch.tensor([0, 1]) if raw.config.conditional else None
    raw(torch.randn(2, 64), classes)[0].mean().backward()
    optimizer.step()
    raw.eval()
    checkpoint = {
        "generator": raw.state_dict(), "generator_running_avg": ema.state_dict(),
        "discriminator": {"d1.conv1.weight_orig": torch.randn(64, 8, 4, 4)},
        "optimizer_g": optimizer.state_dict(), "optimizer_d": {"state": {}, "param_groups": []},
        "epoch": 600, "iteration": 123456, "g_curve": [0.5, 0.25], "d_fake_curve": [1.0], "d_real_curve": [1.0],
        "flat_curve": [0.01], "args": args if args is not None else upstream_args(),
    }
    torch.save(checkpoint, path, _use_new_zipfile_serialization=not legacy)


def outputs(model_or_generator, z, classes=None):
    with torch.no_grad():
        return model_or_generator(z, classes)


def assert_same_outputs(a, b, atol=2e-5):
    for x, y in zip(a, b):
        assert x.shape == y.shape
        assert torch.allclose(x, y, atol=atol, rtol=1e-4), (x - y).abs().max()


@pytest.fixture(scope="module")
def ema_and_raw():
    return trained_like(TINY, seed=10), trained_like(TINY, seed=11)


@pytest.mark.parametrize("legacy", [False, True])
def test_official_checkpoint_loads_the_ema_generator_with_its_outputs(tmp_path, ema_and_raw, legacy):
    ema, raw = ema_and_raw
    path = tmp_path / "checkpoints_gan" / "pretrained_p3d_car_singletpl" / "checkpoint_latest.pth"
    path.parent.mkdir(parents=True)
    save_like_upstream(path, ema, raw, legacy=legacy)
    model = load_model(path)
    assert model.config == TINY and not model.untrained and not model.conditional
    assert model.class_names == ["car"] and model.source == str(path)
    assert model.provenance["weights"] == "generator_running_avg" and model.provenance["epoch"] == 600
    assert model.provenance["args"]["n_classes"] == [0]
    json.dumps(model.provenance)
    assert not model.generator.training
    z = torch.randn(3, 64)
    assert_same_outputs(outputs(model.generator, z), outputs(ema, z))
    assert not torch.allclose(outputs(raw, z)[0], outputs(ema, z)[0], atol=1e-3)  # it really is the EMA one


def test_official_class_conditional_all_gets_the_13_class_names(tmp_path):
    config = GeneratorConfig(texture_resolution=128, width=0.0625, n_classes=13)
    ema = trained_like(config, seed=12)
    path = tmp_path / "checkpoint_latest.pth"
    save_like_upstream(path, ema, args=upstream_args(dataset="all", conditional_class=True, n_classes=(13,)))
    model = load_model(path)
    assert model.config == config and model.conditional
    assert model.class_names == list(ALL_CLASSES) and model.class_names[5] == "bird"
    z, classes = torch.randn(2, 64), torch.tensor([5, 12])
    assert_same_outputs(outputs(model.generator, z, classes), outputs(ema, z, classes))


def test_args_saved_as_a_namespace_and_module_prefixes_are_accepted(tmp_path, ema_and_raw):
    ema, _ = ema_and_raw
    path = tmp_path / "namespace.pth"
    prefixed = {f"module.{k}": v for k, v in ema.state_dict().items()}
    torch.save({"generator_running_avg": prefixed, "args": argparse.Namespace(**upstream_args())}, path)
    model = load_model(path)
    assert model.provenance["dataset"] == "p3d_car"
    z = torch.randn(1, 64)
    assert_same_outputs(outputs(model.generator, z), outputs(ema, z))


def test_project_format_round_trip(tmp_path, tiny_conditional_generator):
    path = tmp_path / "models" / "mine.safetensors"
    names = ["a", "b", "c", "d", "e"]
    save_model(path, tiny_conditional_generator, TINY_CONDITIONAL, names, {"source": "unit test", "epochs": 3})
    with safe_open(str(path), framework="pt") as handle:  # independent reader: plain safetensors
        metadata = handle.metadata()
        assert "blk1.conv1.weight_orig" in handle.keys() and "blk1.norm1.norm.running_var" in handle.keys()
    assert json.loads(metadata["config"]) == TINY_CONDITIONAL.to_dict()
    model = load_model(path)
    assert model.config == TINY_CONDITIONAL and model.class_names == names
    assert model.provenance["source"] == "unit test" and model.provenance["epochs"] == 3
    assert "created" in model.provenance and model.source == str(path) and not model.untrained
    z, classes = torch.randn(2, 64), torch.tensor([1, 4])
    assert_same_outputs(outputs(model.generator, z, classes), outputs(tiny_conditional_generator, z, classes))
    assert not (tmp_path / "models" / "mine.safetensors.partial").exists()


def test_plain_safetensors_state_dict_loads_by_shape(tmp_path, tiny_generator):
    from safetensors.torch import save_file

    path = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_generator.state_dict().items()}, str(path))
    model = load_model(path)
    assert model.config == TINY
    z = torch.randn(1, 64)
    assert_same_outputs(outputs(model.generator, z), outputs(tiny_generator, z))


def test_save_model_rejects_wrong_arguments(tmp_path, tiny_conditional_generator):
    model = random_init_model(TINY)
    with pytest.raises(TypeError, match="training-form"):
        save_model(tmp_path / "x.safetensors", model.generator, TINY)
    with pytest.raises(ValueError, match="does not describe"):
        save_model(tmp_path / "x.safetensors", tiny_conditional_generator, TINY)
    with pytest.raises(ValueError, match="needs 5 class names"):
        save_model(tmp_path / "x.safetensors", tiny_conditional_generator, TINY_CONDITIONAL, ["a"])


# ---- bad checkpoints: one-line CheckpointError each ----------------------------------------------------
def load_error(path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_missing_file(tmp_path):
    assert "not found" in load_error(tmp_path / "nope.pth")


def test_folder_instead_of_file(tmp_path):
    assert "folder" in load_error(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    assert "empty" in load_error(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "random.pth"
    path.write_bytes(bytes(range(7, 250)) * 40)
    assert "not a checkpoint" in load_error(path)


def test_text_file(tmp_path):
    path = tmp_path / "readme.pth"
    path.write_text("These are not the weights you are looking for.\n")
    message = load_error(path)
    assert "not a checkpoint" in message and "text file" in message


def test_zip_that_is_not_torch(tmp_path):
    path = tmp_path / "release.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("checkpoints_gan/readme.txt", "hello")
    assert "zip archive but not a PyTorch checkpoint" in load_error(path)


@pytest.mark.parametrize("suffix", ["pth", "safetensors"])
def test_truncated_file(tmp_path, tiny_generator, suffix):
    path = tmp_path / f"full.{suffix}"
    if suffix == "pth":
        save_like_upstream(path, tiny_generator)
    else:
        save_model(path, tiny_generator, TINY)
    data = path.read_bytes()
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    message = load_error(cut)
    assert "truncated" in message or "damaged" in message


def test_wrong_architecture_lists_keys_and_shapes(tmp_path, tiny_generator):
    state = dict(tiny_generator.state_dict())
    state["blk2.conv1.weight_orig"] = torch.zeros(7, 32, 3, 3)
    del state["blk5.norm2.fc_beta.bias"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "odd.pth"
    torch.save({"generator_running_avg": state, "args": upstream_args()}, path)
    message = load_error(path)
    assert "wrong architecture" in message
    assert "blk5.norm2.fc_beta.bias" in message and "extra.weight" in message
    assert "blk2.conv1.weight_orig (7, 32, 3, 3) != (16, 32, 3, 3)" in message


def test_a_different_network_is_wrong_architecture(tmp_path):
    path = tmp_path / "recon.pth"
    torch.save({"module.conv1e.weight": torch.zeros(64, 4, 5, 5), "module.fc1e.weight": torch.zeros(256, 4096)}, path)
    message = load_error(path)
    assert "wrong architecture" in message and "conv1e.weight" in message


def test_dict_without_generator(tmp_path):
    path = tmp_path / "d.pth"
    torch.save({"epoch": 3, "discriminator": {"x": torch.zeros(1)}}, path)
    assert "no 'generator_running_avg'" in load_error(path)


def test_args_that_contradict_the_weights(tmp_path, tiny_generator):
    path = tmp_path / "mismatch.pth"
    torch.save({"generator_running_avg": tiny_generator.state_dict(),
                "args": upstream_args(texture_resolution=512)}, path)
    assert "texture_resolution 512" in load_error(path)


def test_pickled_code_is_refused_not_executed(tmp_path):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    torch.save({"generator_running_avg": {}, "args": Payload()}, path)
    message = load_error(path)
    assert "refusing to execute" in message and "system" in message
    assert not marker.exists()


def test_non_finite_weights(tmp_path, tiny_generator):
    state = {k: v.clone() for k, v in tiny_generator.state_dict().items()}
    state["blk1.conv1.weight_orig"][0, 0, 0, 0] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save({"generator_running_avg": state}, path)
    assert "NaN" in load_error(path)


def test_the_shipped_default_model_loads_with_its_card(monkeypatch, tmp_path):
    from backend.models import default_model, shipped

    model = default_model()
    card = shipped.default_model_card()
    assert card["name"] == "car" and model.source == "default:car" and not model.untrained
    assert model.provenance["model_card"] == card and model.config.texture_resolution == 128
    monkeypatch.setattr(shipped, "DEFAULT_MODEL_FILE", tmp_path / "removed.safetensors")
    stand_in = default_model()            # a checkout without the file: an untrained small generator
    assert stand_in.untrained and stand_in.source == "random_init:small"


def test_module_prefixes_come_off_key_by_key():
    from backend.models.checkpoint_files import strip_module_prefix

    weight = torch.zeros(1)
    assert strip_module_prefix({"module.a.weight": weight, "module.b": 1}) == {"a.weight": weight, "b": 1}
    assert strip_module_prefix({"module.conv1e.weight": weight, "epoch": 3}) == {"conv1e.weight": weight, "epoch": 3}
    assert strip_module_prefix({"a": weight}) == {"a": weight} and strip_module_prefix({}) == {}
    assert list(strip_module_prefix({"module.z": 0, "y": 1, "module.x": 2})) == ["z", "y", "x"]
