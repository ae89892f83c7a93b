"""Pictures for the README, made with the project's own generator and renderer.

    .venv/bin/python scripts/readme_images.py [--checkpoint FILE] [--out docs/images] [--cars 8]

Writes ``<out>/default_cars_views.png``: each column one car (seeds 0..N-1 of the model, truncation 1), each row
one view (front three-quarter, side, rear three-quarter, from above), rendered at 512² with 2x supersampling on
white. Without --checkpoint the embedded default model is used.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (name, azimuth, elevation) for viewpoint_quaternion: azimuth 0 = side view with the front (-y) to the right,
# 90 = head-on; elevation 90 = horizontal, above 90 = from above.
VIEWS = (("front 3/4", 45.0, 105.0), ("side", 0.0, 95.0), ("rear 3/4", 315.0, 105.0), ("above", 30.0, 135.0))


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    import torch
    from PIL import Image

    from backend.sampling import MeshGenerator
    from backend.models import default_model, load_model
    from backend.render import Pose, viewpoint_quaternion
    from backend.render.preview import render_preview_tiles, tile_grid

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--cars", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tile", type=int, default=192)
    args = parser.parse_args(argv)

    model = load_model(args.checkpoint) if args.checkpoint else default_model()
    generator = MeshGenerator(model, device="cpu")
    vertices, textures = generator.generate_tensors(args.cars, seed=args.seed)
    rows = []
    for _, azimuth, elevation in VIEWS:
        n = args.cars
        q = viewpoint_quaternion(torch.full((n,), azimuth), torch.full((n,), elevation))
        pose = Pose(q=q, s=torch.full((n, 1), 0.85), t=torch.zeros(n, 2))
        rows.append(render_preview_tiles(vertices, textures, generator.template, pose, tile=args.tile,
                                         supersample=2))
    grid = tile_grid(torch.cat(rows), per_row=args.cars)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "default_cars_views.png"
    Image.fromarray(grid).save(path)
    print(f"wrote {path} ({args.cars} cars x {len(VIEWS)} views: {', '.join(v[0] for v in VIEWS)}; "
          f"model {model.source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
