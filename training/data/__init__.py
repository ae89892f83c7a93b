"""Image collections: one record type, the project's folder format, CMR-style preprocessing, instance
filtering, and loaders for CUB-200-2011, Pascal3D+ and ImageNet synset folders (docs/datasets.md).

Public API::

    from training.data import load_collection, Record, Pose, crop_and_resize, CollectionDataset
    collection = load_collection("datasets/toycars")      # Collection(records, report, class_names, part_names)
    sample = crop_and_resize(collection.records[0], resolution=256)   # square crop, 5% padding, pose carried along
    load_cub(cub_root, cmr_root, "train"); load_p3d(p3d_root, cmr_root, "car"); load_imagenet(root, ["car"])

``CollectionDataset`` (torch) is imported lazily so that this package does not import torch.
"""
from .classes import CLASS_INDEX, CLASS_NAMES, IMAGENET_SYNSETS, PART_VOCABULARY
from .collection import (Collection, CollectionError, attach_poses, load_collection, save_collection,
                         validate_records, write_collection)
from .cub import load_cub
from .filtering import NO_FILTER, InstanceFilter
from .imagenet import load_imagenet
from .io import DataFileError
from .pascal3d import load_p3d
from .preprocess import (Sample, SquareBox, crop_and_resize, mirror_pose, mirror_sample, pose_to_crop,
                         square_crop_box)
from .record import Pose, Record, mask_bbox, render_poses
from .report import SkipReport

__all__ = [
    "CLASS_INDEX", "CLASS_NAMES", "IMAGENET_SYNSETS", "PART_VOCABULARY",
    "Collection", "CollectionDataset", "attach_poses", "CollectionError", "DataFileError", "InstanceFilter", "NO_FILTER", "Pose",
    "Record", "Sample", "SkipReport", "SquareBox",
    "crop_and_resize", "load_collection", "load_cub", "load_imagenet", "load_p3d", "mask_bbox", "mirror_pose",
    "mirror_sample", "pose_to_crop", "render_poses",
    "save_collection", "square_crop_box", "validate_records", "write_collection",
]


def __getattr__(name: str):
    if name == "CollectionDataset":
        from .torch_dataset import CollectionDataset

        return CollectionDataset
    raise AttributeError(f"module 'training.data' has no attribute {name!r}")
