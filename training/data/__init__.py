"""Importers of real image collections into the collection format (``dataformat``), the torch ``Dataset``
over records, contact sheets, and the ``python -m backend.train data ...`` commands (docs/datasets.md).

Public API::

    from training.data import load_cub, load_p3d, load_imagenet, CollectionDataset
    load_cub(cub_root, cmr_root, "train"); load_p3d(p3d_root, cmr_root, "car"); load_imagenet(root, ["car"])

The format itself (records, collection folders, preprocessing, filtering) is the ``dataformat`` package.
``CollectionDataset`` (torch) is imported lazily so that this package does not import torch.
"""
from .cub import load_cub
from .imagenet import load_imagenet
from .pascal3d import load_p3d

__all__ = ["CollectionDataset", "load_cub", "load_imagenet", "load_p3d"]


def __getattr__(name: str):
    if name == "CollectionDataset":
        from .torch_dataset import CollectionDataset

        return CollectionDataset
    raise AttributeError(f"module 'training.data' has no attribute {name!r}")
