"""The pseudo-ground-truth folder (§1.3) in the project's own format: safetensors + JSON, no pickle.

Layout of a folder ``DIR``::

    DIR/pseudogt.json             format, version, texture/mesh resolution, source, collection, class and part names
    DIR/items/000000.safetensors  one file per kept image (i = running index in kept order):
        texture  (3, T, T) float16 in [-1, 1], 0 where alpha is 0 (the partial UV texture)
        alpha    (1, T, T) float16 in [0, 1]  (visibility x image mask x UV coverage)
        mesh     (3, M, M) float32            (symmetric displacement map with averaged poles, §2.4)
        parts    (T, T) uint8, optional       (part label per texel, the collection's part ids; 0 where unseen)
        metadata {"id": record id, "category": class index in the run, "source": ...}
    DIR/poses.safetensors         the poses metadata of §1.3, in each image's crop frame:
        rotation (N, 4) float32 (w, x, y, z), scale (N, 1), translation (N, 3) (third component 0),
        z0 (N, 1) (NaN where the pose has none), category (N,) int64; header: ids, image paths
    DIR/precomputed_fid_299x299.npz  optional: the real images' FID statistics (``fid_stats.py``)
    DIR/export.json               the export's settings (``RESUME_KEYS``), written when it starts

``PseudoGTWriter`` writes items atomically and can resume (existing item files are kept; the settings must match,
``training.engine.stage.check_resume``); ``finish`` writes the index and the poses file. ``open_pseudogt`` validates a folder and loads it into memory for GAN training.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from training.engine import atomic_save, atomic_write_json, load_state
from training.engine.stage import check_resume

FORMAT = "gan3d-pseudogt"
VERSION = 1
INDEX = "pseudogt.json"
POSES = "poses.safetensors"
SETTINGS = "export.json"

#: What a resumed export must share with the one that wrote the folder (the index keys of the same names).
RESUME_KEYS = ("source", "run", "collection", "poses", "texture_resolution", "mesh_resolution", "image_resolution",
               "visibility_resolution")


class PseudoGTError(ValueError):
    """A pseudo-GT folder is missing, empty, damaged or does not fit what reads it. One-line message."""


@dataclass
class PseudoGTItem:
    """One image's pseudo-ground-truth (tensors as documented in the module docstring)."""

    record_id: str
    texture: torch.Tensor
    alpha: torch.Tensor
    mesh: torch.Tensor
    category: int = 0
    parts: torch.Tensor | None = None
    pose: dict[str, Any] = field(default_factory=dict)   # q (4,), s, t (2,), z0 or None: crop frame
    image_path: str = ""


def item_path(root: Path, index: int) -> Path:
    return root / "items" / f"{index:06d}.safetensors"


def compact_items(root: Path, total: int) -> int:
    """Renumber the item files among 0..total-1 to 0..n-1, keeping their order; returns n.

    Exports number items by position among the records they try, so skipped records leave gaps; the finished
    folder has none (``PseudoGTWriter.finish`` reads items 0..n-1).
    """
    present = [i for i in range(total) if item_path(root, i).is_file()]
    for new, old in enumerate(present):
        if new != old:
            os.replace(item_path(root, old), item_path(root, new))
    return len(present)


class PseudoGTWriter:
    """Writes ``DIR/items/*.safetensors`` one by one, then the index and poses file.

    info: the index's settings. resume: the folder may hold items of an earlier export, which must have been made
    with the same settings (``RESUME_KEYS``; the stage contract's one-line error otherwise); False starts over
    (items already there are overwritten as they are reached).
    """

    def __init__(self, root: str | os.PathLike, info: dict[str, Any], resume: bool = True) -> None:
        self.root = Path(root)
        (self.root / "items").mkdir(parents=True, exist_ok=True)
        self.info = dict(info)
        if resume:
            self._check_settings()
        atomic_write_json(self.root / SETTINGS, {k: self.info.get(k) for k in RESUME_KEYS})

    def _check_settings(self) -> None:
        """Refuse to add to a folder written with other settings (its export.json, else its finished index)."""
        for name in (SETTINGS, INDEX):
            path = self.root / name
            if path.is_file():
                try:
                    saved = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    raise PseudoGTError(f"{path} is not readable JSON ({exc}); choose a new --out") from None
                check_resume(self.root, saved, self.info, keys=RESUME_KEYS, error=PseudoGTError)
                return
        self.items: list[dict[str, Any]] = []

    def exists(self, index: int, record_id: str | None = None) -> bool:
        """An item file is at ``index`` (and, when ``record_id`` is given, it belongs to that record)."""
        path = item_path(self.root, index)
        if not path.is_file():
            return False
        if record_id is None:
            return True
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                return json.loads((f.metadata() or {}).get("header", "{}")).get("id") == record_id
        except Exception:  # a damaged file is rewritten
            return False

    def write(self, index: int, item: PseudoGTItem) -> None:
        tensors = {"texture": item.texture.detach().cpu().to(torch.float16),
                   "alpha": item.alpha.detach().cpu().to(torch.float16),
                   "mesh": item.mesh.detach().cpu().float()}
        if item.parts is not None:
            tensors["parts"] = item.parts.detach().cpu().to(torch.uint8)
        atomic_save(item_path(self.root, index), tensors,
                    {"id": item.record_id, "category": int(item.category), "pose": item.pose,
                     "image": item.image_path})

    def finish(self, count: int) -> Path:
        """Read back every item header 0..count-1, write poses.safetensors and pseudogt.json (atomically)."""
        ids, paths, rows = [], [], []
        for index in range(count):
            _, header = load_state(item_path(self.root, index))
            ids.append(header["id"])
            paths.append(header.get("image", ""))
            rows.append(header)
        if not rows:
            raise PseudoGTError(f"no pseudo-ground-truth was written to {self.root}")

        def column(key, default):
            return [r["pose"].get(key, default) if r.get("pose") else default for r in rows]

        z0 = [float("nan") if v is None else float(v) for v in column("z0", None)]
        tensors = {
            "rotation": torch.tensor(column("q", [1.0, 0.0, 0.0, 0.0]), dtype=torch.float32),
            "scale": torch.tensor([[v] for v in column("s", 1.0)], dtype=torch.float32),
            "translation": torch.tensor([list(t) + [0.0] for t in column("t", [0.0, 0.0])], dtype=torch.float32),
            "z0": torch.tensor([[v] for v in z0], dtype=torch.float32),
            "category": torch.tensor([int(r["category"]) for r in rows], dtype=torch.int64),
        }
        atomic_save(self.root / POSES, tensors, {"ids": ids, "paths": paths})
        index = {"format": FORMAT, "version": VERSION, "count": count, **self.info}
        return atomic_write_json(self.root / INDEX, index)


@dataclass
class PseudoGTSet:
    """A loaded pseudo-GT folder.

    texture: (N, 3, T, T) float16 in [-1, 1]; alpha: (N, 1, T, T) float16; mesh: (N, 3, M, M) float32;
    category: (N,) int64; poses: dict of the poses file's tensors; info: the index JSON; ids: record ids.
    """

    root: Path
    info: dict[str, Any]
    ids: list[str]
    texture: torch.Tensor
    alpha: torch.Tensor
    mesh: torch.Tensor
    category: torch.Tensor
    poses: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, start: int = 0, stop: int | None = None) -> "PseudoGTSet":
        """Items start..stop-1 (the poses file's rows too)."""
        sl = slice(start, stop)
        return PseudoGTSet(self.root, self.info, self.ids[sl], self.texture[sl], self.alpha[sl], self.mesh[sl],
                           self.category[sl], {k: v[sl] for k, v in self.poses.items()})

    @property
    def texture_resolution(self) -> int:
        return int(self.texture.shape[-1])

    @property
    def mesh_resolution(self) -> int:
        return int(self.mesh.shape[-1])


def read_index(root: str | os.PathLike) -> dict[str, Any]:
    root = Path(root)
    path = root / INDEX
    if not root.is_dir():
        raise PseudoGTError(f"pseudo-GT folder {root} does not exist; make it with "
                            f"`python -m backend.train pseudogt ...`")
    if not path.is_file():
        partial = len(list((root / "items").glob("*.safetensors"))) if (root / "items").is_dir() else 0
        hint = f" ({partial} item files are there: the export was interrupted; re-run it to finish)" if partial else ""
        raise PseudoGTError(f"{root} has no {INDEX}: not a finished pseudo-GT folder{hint}")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PseudoGTError(f"{path} is not readable JSON ({exc})") from None
    if info.get("format") != FORMAT:
        raise PseudoGTError(f"{path} is not a gan3d pseudo-GT index (format {info.get('format')!r})")
    if int(info.get("version", 0)) > VERSION:
        raise PseudoGTError(f"{path} has format version {info['version']}; this gan3d reads up to {VERSION}")
    if int(info.get("count", 0)) < 1:
        raise PseudoGTError(f"{root} holds no pseudo-GT items (count 0)")
    return info


def open_pseudogt(root: str | os.PathLike, limit: int | None = None, progress=None) -> PseudoGTSet:
    """Validate and load a pseudo-GT folder into memory (textures stay float16).

    limit: load only the first N items. progress: optional callable(k) called after each item.
    Raises PseudoGTError naming the first bad file.
    """
    root = Path(root)
    info = read_index(root)
    count = int(info["count"]) if limit is None else min(int(info["count"]), int(limit))
    t, m = int(info["texture_resolution"]), int(info["mesh_resolution"])
    texture = torch.empty(count, 3, t, t, dtype=torch.float16)
    alpha = torch.empty(count, 1, t, t, dtype=torch.float16)
    mesh = torch.empty(count, 3, m, m, dtype=torch.float32)
    category = torch.empty(count, dtype=torch.int64)
    ids = []
    for i in range(count):
        path = item_path(root, i)
        try:
            tensors, header = load_state(path)
        except ValueError as exc:
            raise PseudoGTError(f"pseudo-GT item {i}: {exc}") from None
        for key, want in (("texture", (3, t, t)), ("alpha", (1, t, t)), ("mesh", (3, m, m))):
            got = tuple(tensors[key].shape) if key in tensors else None
            if got != want:
                raise PseudoGTError(f"{path}: {key} has shape {got}, the index says {want}; re-export the folder")
        texture[i], alpha[i], mesh[i] = tensors["texture"], tensors["alpha"], tensors["mesh"]
        if not (torch.isfinite(mesh[i]).all() and torch.isfinite(texture[i].float()).all()):
            raise PseudoGTError(f"{path} holds non-finite values; re-export it")
        category[i] = int(header.get("category", 0))
        ids.append(str(header.get("id", i)))
        if progress is not None:
            progress(1)
    try:
        poses, _ = load_state(root / POSES)
    except ValueError as exc:
        raise PseudoGTError(f"poses file: {exc}") from None
    poses = {k: v[:count] for k, v in poses.items()}
    return PseudoGTSet(root, info, ids, texture, alpha, mesh, category, poses)


def nan_to_none(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value
