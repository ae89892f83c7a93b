"""Category indices, ImageNet synsets (§10.3) and the part vocabulary (§10.4) of textured-3d-gan."""
from __future__ import annotations

#: Global category index -> name (§10.3). Conditional models use these indices.
CLASS_NAMES: tuple[str, ...] = ("motorcycle", "bus", "truck", "car", "airplane", "bird", "sheep", "elephant",
                                "zebra", "horse", "cow", "bear", "giraffe")
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASS_NAMES)}

#: ImageNet-22k synsets of each category (§10.3); bird comes from CUB instead.
IMAGENET_SYNSETS: dict[str, tuple[str, ...]] = {
    "motorcycle": ("n03790512", "n03791053", "n04466871"),
    "bus": ("n04146614", "n02924116"),
    "truck": ("n03345487", "n03417042", "n03796401"),
    "car": ("n02814533", "n02958343", "n03498781", "n03770085", "n03770679", "n03930630", "n04037443",
            "n04166281", "n04285965"),
    "airplane": ("n02690373", "n02691156", "n03335030", "n04012084"),
    "sheep": ("n10588074", "n02411705", "n02413050", "n02412210"),
    "elephant": ("n02504013", "n02504458"),
    "zebra": ("n02391049", "n02391234", "n02391373", "n02391508"),
    "horse": ("n02381460", "n02374451"),
    "cow": ("n01887787", "n02402425"),
    "bear": ("n02132136", "n02133161", "n02131653", "n02134084"),
    "giraffe": ("n02439033",),
}
SYNSET_TO_CLASS: dict[str, str] = {s: c for c, synsets in IMAGENET_SYNSETS.items() for s in synsets}

#: The 34 VG3k part names in the fixed priority order of hard rasterisation (§10.4): later names win.
PART_VOCABULARY: tuple[str, ...] = (
    "wing", "engine", "fender", "seat", "gas_tank", "handlebar", "door", "bumper", "grillroom", "license_plate",
    "wheel", "window", "windshield", "mirror", "light", "headlight", "landing_gear", "feather", "tail", "leg", "foot",
    "hoof", "neck", "mane", "head", "face", "mouth", "nose", "cockpit", "trunk", "horn", "ear", "eye", "beak")

#: ``class_id`` of a part in upstream detections = index in the alphabetically sorted vocabulary.
PART_CLASS_ID: dict[str, int] = {name: i for i, name in enumerate(sorted(PART_VOCABULARY))}

#: Pascal3D+ category names (CMR file names) -> project category.
P3D_CATEGORIES: dict[str, str] = {"car": "car", "aeroplane": "airplane", "airplane": "airplane"}
