"""The collection format: the bottom layer every other package reads images through (docs/datasets.md).

One record type (:class:`Record`, with an optional :class:`Pose`), the collection folder format
(``collection.json`` + ``index.jsonl`` + image / mask / part files), the validation every loader shares
(:class:`SkipReport`: nothing is dropped silently), CMR-style preprocessing (square crops with the pose carried
along), the instance filter of §1.1, the class vocabulary, and the one dataset lookup (:func:`find_dataset`).

Imports numpy and Pillow only (scipy is imported inside the two functions that need it); never torch, bpy or
another gan3d package, so ``backend``, ``training`` and ``fid`` all build on it. Loaders for CUB, Pascal3D+
and ImageNet and the synthetic testbed live in ``training.data`` / ``training.synth``; the torch ``Dataset``
over records in ``training.data.CollectionDataset``.

Public API::

    from dataformat import load_collection, Record, Pose, crop_and_resize, find_dataset
    collection = load_collection(find_dataset("toycars"))   # Collection(records, report, class_names, part_names)
    sample = crop_and_resize(collection.records[0], resolution=256)   # square crop, 5% padding, pose carried along
"""
from .classes import CLASS_INDEX, CLASS_NAMES, IMAGENET_SYNSETS, PART_VOCABULARY
from .collection import (COLLECTION_FILE, DATASETS_ROOT, INDEX_FILES, Collection, CollectionError, find_dataset,
                         is_collection, load_collection, record_from_json, record_to_json, save_collection,
                         validate_records, write_collection)
from .filtering import NO_FILTER, InstanceFilter
from .io import DataFileError, read_label_map, read_mask, read_rgb, write_png_atomic
from .preprocess import (CROP_PADDING, Sample, SquareBox, crop_and_resize, crop_pose, mirror_pose, mirror_sample,
                         pose_to_crop, square_crop_box)
from .record import Pose, Record, mask_bbox
from .report import SkipReport

__all__ = [
    "CLASS_INDEX", "CLASS_NAMES", "COLLECTION_FILE", "CROP_PADDING", "DATASETS_ROOT", "IMAGENET_SYNSETS", "INDEX_FILES",
    "PART_VOCABULARY", "Collection", "CollectionError", "DataFileError", "InstanceFilter", "NO_FILTER", "Pose",
    "Record", "Sample", "SkipReport", "SquareBox", "crop_and_resize", "crop_pose", "find_dataset", "is_collection",
    "load_collection", "mask_bbox", "mirror_pose", "mirror_sample", "pose_to_crop", "read_label_map", "read_mask",
    "read_rgb", "record_from_json", "record_to_json", "save_collection", "square_crop_box", "validate_records",
    "write_collection", "write_png_atomic",
]
