"""Image collections: one record type, the project's folder format, CMR-style preprocessing, instance
filtering, and loaders for CUB-200-2011, Pascal3D+ and ImageNet synset folders (docs/datasets.md).

Public API::

    from training.data import load_collection, Record, Pose, crop_and_resize, CollectionDataset
    collection = load_collection("datasets/toycars")      # Collection(records, report, class_names, part_names)
    sample = crop_and_resize(collection.records[0], resolution=256)   # square crop, 5% padding, pose carried along
"""
from .classes import CLASS_INDEX, CLASS_NAMES, IMAGENET_SYNSETS, PART_VOCABULARY
from .collection import Collection, CollectionError, load_collection, validate_records, write_collection
from .filtering import NO_FILTER, InstanceFilter
from .io import DataFileError
from .preprocess import Sample, SquareBox, crop_and_resize, pose_to_crop, square_crop_box
from .record import Pose, Record, mask_bbox
from .report import SkipReport

__all__ = ["CLASS_INDEX", "CLASS_NAMES", "IMAGENET_SYNSETS", "PART_VOCABULARY", "Collection", "CollectionError",
           "DataFileError", "InstanceFilter", "NO_FILTER", "Pose", "Record", "Sample", "SkipReport", "SquareBox",
           "crop_and_resize", "load_collection", "mask_bbox", "pose_to_crop", "square_crop_box",
           "validate_records", "write_collection"]
