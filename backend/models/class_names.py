"""Class names of the released models (§10.3) and how to derive them from a checkpoint's dataset."""
from __future__ import annotations

from dataformat.classes import CLASS_NAMES

#: Setting B (``--dataset all``) class indices 0..12, fixed upstream (the format layer's §10.3 list).
ALL_CLASSES: tuple[str, ...] = CLASS_NAMES

#: Upstream dataset names of single-class models -> their class.
DATASET_CLASSES: dict[str, str] = {
    "cub": "bird", "p3d_car": "car", "p3d_airplane": "airplane",
    **{f"imagenet_{name}": name for name in ALL_CLASSES if name != "bird"},
}


def class_names_for(dataset: "str | None", n_classes: int) -> list[str]:
    """Names for a model trained on ``dataset`` with ``n_classes`` embedding rows (0 = unconditional).

    ``all`` with 13 classes gives the §10.3 list; a single-class dataset gives its one class; anything
    else gets generic names ``class_0 ... class_{n-1}`` (for conditional models) so indices stay usable.
    """
    if dataset == "all" and n_classes == len(ALL_CLASSES):
        return list(ALL_CLASSES)
    if n_classes == 0:
        return [DATASET_CLASSES[dataset]] if dataset in DATASET_CLASSES else []
    if n_classes == len(ALL_CLASSES) and dataset is None:
        return list(ALL_CLASSES)
    return [f"class_{i}" for i in range(n_classes)]
