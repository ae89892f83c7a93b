"""Where a synthetic run puts its files (a gan3d collection folder plus per-item metadata)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SynthLayout:
    """out/images/<id>.png (RGB), masks/<id>.png (0/255), parts/<id>.png (part ids), meshes/car_<k>.obj,
    meta/<id>.json (the item's index entry; its presence marks the item done), synth.json (settings),
    collection.json + index.jsonl (written when a run ends)."""

    root: Path

    def make_dirs(self) -> None:
        for name in ("images", "masks", "parts", "meshes", "meta", ".tmp"):
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def image(self, item: str) -> Path:
        return self.root / "images" / f"{item}.png"

    def mask(self, item: str) -> Path:
        return self.root / "masks" / f"{item}.png"

    def parts(self, item: str) -> Path:
        return self.root / "parts" / f"{item}.png"

    def mesh(self, car_index: int) -> Path:
        return self.root / "meshes" / f"car_{car_index:06d}.obj"

    def meta(self, item: str) -> Path:
        return self.root / "meta" / f"{item}.json"

    def tmp(self, name: str) -> Path:
        return self.root / ".tmp" / name

    @property
    def settings(self) -> Path:
        return self.root / "synth.json"
