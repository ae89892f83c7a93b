"""The reconstruction network (§3.3): shapes, state-dict names (§8.4), symmetry, loading original checkpoints."""
from __future__ import annotations

import argparse

import pytest
import torch

from backend.mesh import displacement_to_vertices, uv_sphere
from backend.models.errors import CheckpointError
from training.recon.checkpoints import load_recon, network_config_from_state
from training.recon.config import PRESETS, NetworkConfig
from training.recon.network import ReconstructionNetwork, count_parameters

#: §8.4 shapes of the paper network (single class, no part head).
PAPER_SHAPES = {
    "conv1e.weight": (64, 4, 5, 5), "conv2e.weight": (128, 64, 3, 3), "conv3e.weight": (256, 128, 3, 3),
    "conv4e.weight": (512, 256, 3, 3), "conv5e.weight": (64, 512, 3, 3), "fc1e.weight": (256, 4096),
    "fc3e.weight": (1024, 256), "fc1_tex.weight": (2048, 1024), "fc1_tex.bias": (2048,),
    "conv_tex.weight": (3, 64, 5, 5), "conv_tex.bias": (3,), "conv_mesh.weight": (3, 64, 5, 5),
    "conv_mesh.bias": (3,), "bn1e.norm.weight": (64,), "bn1e.norm.running_var": (64,),
    "bnfc1e.norm.weight": (256,), "bnfc3e.norm.running_mean": (1024,),
}
BLOCKS = {"blk1": (256, 512), "blk2": (512, 256), "blk3": (256, 256), "blk3b_tex": (256, 256),
          "blk4_tex": (256, 128), "blk5_tex": (128, 64), "blk4_mesh": (256, 64)}


@pytest.fixture(scope="module")
def paper_network():
    torch.manual_seed(0)
    return ReconstructionNetwork(NetworkConfig())


def test_paper_state_dict_names_shapes_and_count(paper_network):
    state = paper_network.state_dict()
    for key, shape in PAPER_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    for name, (c_in, c_out) in BLOCKS.items():
        assert tuple(state[f"{name}.conv1.weight"].shape) == (c_in, c_in, 3, 3)
        assert tuple(state[f"{name}.conv2.weight"].shape) == (c_out, c_in, 3, 3)
        assert tuple(state[f"{name}.bn1.norm.weight"].shape) == (c_in,)
        assert tuple(state[f"{name}.bn2.norm.weight"].shape) == (c_out,)
        assert (f"{name}.shortcut.weight" in state) == (c_in != c_out)
    assert "conv_seg.weight" not in state and not any(k.startswith("blk3c_tex") for k in state)
    assert not any(k.endswith(".bias") and k.split(".")[0].startswith("conv") and k.split(".")[0].endswith("e")
                   for k in state)  # encoder convs are bias-free
    assert count_parameters(paper_network) == 15_111_046  # §3.3, computed upstream


def test_part_head_and_class_conditional_norms():
    with_parts = ReconstructionNetwork(NetworkConfig(n_parts=7))
    plain = ReconstructionNetwork(NetworkConfig())
    assert count_parameters(with_parts) - count_parameters(plain) == 7 * 1601
    assert tuple(with_parts.state_dict()["conv_seg.weight"].shape) == (7, 64, 5, 5)
    conditional = ReconstructionNetwork(NetworkConfig(n_classes=13, texture_resolution=64))
    state = conditional.state_dict()
    assert tuple(state["bn1e.fc_gamma.weight"].shape) == (13, 64)
    assert tuple(state["blk1.bn2.fc_beta.weight"].shape) == (13, 512)
    assert "bn1e.norm.weight" not in state and "bn1e.norm.running_mean" in state
    assert torch.equal(state["bnfc3e.fc_gamma.weight"], torch.ones(13, 1024))
    assert torch.equal(state["bnfc3e.fc_beta.weight"], torch.zeros(13, 1024))


def test_outputs_shapes_symmetry_and_plain_sphere_at_init(paper_network):
    net = ReconstructionNetwork(NetworkConfig(n_parts=5)).eval()
    image = torch.rand(2, 4, 256, 256) * 2 - 1
    with torch.no_grad():
        out = net(image)
    assert out.texture.shape == (2, 3, 128, 128) and out.displacement.shape == (2, 3, 32, 32)
    assert out.parts.shape == (2, 5, 128, 128)
    assert out.texture.abs().max() <= 1
    assert torch.allclose(out.parts.sum(1), torch.ones(2, 128, 128), atol=1e-5)
    # §2.6: mirror axes at columns W/4 and 3W/4.
    t = out.texture
    assert torch.equal(t[..., :32], t[..., 32:64].flip(-1)) and torch.equal(t[..., 96:], t[..., 64:96].flip(-1))
    # zero-initialised mesh head: the untrained network predicts the plain template sphere
    assert torch.equal(out.displacement, torch.zeros_like(out.displacement))
    vertices = displacement_to_vertices(uv_sphere(31), out.displacement)
    assert torch.allclose(vertices[0], torch.from_numpy(uv_sphere(31).vertices), atol=1e-6)


def test_part_mask_removes_channels_and_flip_is_training_only():
    net = ReconstructionNetwork(NetworkConfig(image_resolution=64, texture_resolution=64, width=0.25, n_parts=4))
    image = torch.rand(3, 4, 64, 64)
    mask = torch.tensor([[1, 1, 0, 1], [1, 0, 0, 0], [1, 1, 1, 1]])
    net.eval()
    with torch.no_grad():
        out = net(image, part_mask=mask)
        again = net(image)  # eval mode: deterministic, no flip
        plain = net(image)
    assert out.parts[0, 2].max() < 1e-6 and out.parts[1, 1:].max() < 1e-6
    assert torch.allclose(out.parts[1, 0], torch.ones(64, 64))
    assert torch.equal(again.texture, plain.texture)
    net.train()
    net.flip_probability = 1.0
    torch.manual_seed(0)
    flipped = net(image)
    net.flip_probability = 0.0
    torch.manual_seed(0)
    direct = net(image.flip(-1))
    assert torch.allclose(flipped.texture, direct.texture, atol=1e-6)


def test_bad_inputs_raise_clear_errors():
    net = ReconstructionNetwork(NetworkConfig(image_resolution=64, texture_resolution=64, width=0.25, n_classes=3))
    with pytest.raises(ValueError, match=r"image must have shape \(B, 4, 64, 64\)"):
        net(torch.zeros(1, 3, 64, 64), torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="class-conditional"):
        net(torch.zeros(2, 4, 64, 64))
    with pytest.raises(ValueError, match="texture_resolution"):
        NetworkConfig(texture_resolution=100)
    with pytest.raises(ValueError, match="multiple of 32"):
        NetworkConfig(image_resolution=100)


def _official_file(path, network: ReconstructionNetwork, drop_counters: bool = False) -> None:
    state = {f"module.{k}": v for k, v in network.state_dict().items()
             if not (drop_counters and k.endswith("num_batches_tracked"))}
    torch.save({"generator": state, "optimizer": {"state": {}, "param_groups": []}, "epoch": 3, "iteration": 1200,
                "semi_coeff": 0.0, "flat_warmup": 1.0,
                "args": argparse.Namespace(texture_resolution=64, dataset="p3d_car")}, path)


def test_original_checkpoint_loads_with_module_prefix(tmp_path):
    torch.manual_seed(3)
    config = NetworkConfig(image_resolution=128, texture_resolution=64, width=0.5, n_parts=6, n_classes=4)
    source = ReconstructionNetwork(config)
    for p in source.parameters():  # make every tensor distinctive, including the zero-initialised head
        p.data.normal_()
    for name, buf in source.named_buffers():
        if "running_var" in name:
            buf.uniform_(0.5, 2.0)
    path = tmp_path / "checkpoint_latest.pth"
    _official_file(path, source, drop_counters=True)  # synchronised BN of the original has no counters
    loaded = load_recon(tmp_path)
    assert loaded.config == config and loaded.iteration == 1200 and loaded.train is None
    assert loaded.meta["args"]["dataset"] == "p3d_car"
    assert network_config_from_state(source.state_dict()) == config
    image = torch.rand(2, 4, 128, 128)
    classes = torch.tensor([0, 3])
    source.eval()
    with torch.no_grad():
        a, b = source(image, classes), loaded.network(image, classes)
    assert torch.equal(a.texture, b.texture) and torch.equal(a.displacement, b.displacement)
    assert torch.equal(a.parts, b.parts)


def test_checkpoint_errors_are_one_line(tmp_path):
    with pytest.raises(CheckpointError, match="holds no checkpoint_latest"):
        load_recon(tmp_path)
    net = ReconstructionNetwork(NetworkConfig(image_resolution=64, texture_resolution=64, width=0.25))
    state = {f"module.{k}": v for k, v in net.state_dict().items() if not k.startswith("blk5_tex.conv2")}
    torch.save({"generator": state}, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match="do not fit the network"):
        load_recon(tmp_path / "broken.pth")
    torch.save({"generator": {"x": torch.zeros(1)}, "extra": argparse.ArgumentParser}, tmp_path / "pickled.pth")
    with pytest.raises(CheckpointError, match="refusing to execute"):
        load_recon(tmp_path / "pickled.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_recon(tmp_path / "text.pth")


def test_cpu_preset_is_smaller():
    cpu = PRESETS["cpu"]
    net = ReconstructionNetwork(cpu.network)
    assert cpu.network.image_resolution == 128 and cpu.network.texture_resolution == 64
    assert count_parameters(net) < 15_111_046 / 3
    with torch.no_grad():
        out = net.eval()(torch.zeros(1, 4, 128, 128))
    assert out.texture.shape == (1, 3, 64, 64) and out.displacement.shape == (1, 3, 32, 32)
