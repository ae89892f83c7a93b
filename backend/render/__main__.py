"""``python -m backend.render MESH.obj --pose QW QX QY QZ S TX TY [--z0 Z] --res N --out FILE.png [--silhouette]``

Renders a mesh file with its texture under a pose (§6.2), for checking datasets and poses by eye. Arguments only;
the work is in backend.render.mesh_file. See docs/rendering.md.
"""
from __future__ import annotations

import argparse
import sys

import torch
from PIL import Image

from ..cli import add_flag, run_cli
from .camera import Pose
from .mesh_file import UP_AXES, load_mesh_file, render_mesh_file
from .rasterizer import IMPLEMENTATIONS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m backend.render",
        description="Render a mesh file (OBJ + texture, or anything trimesh reads) under a pose: "
                    "RGBA PNG (colours on white, alpha = coverage) or, with --silhouette, the soft silhouette.")
    parser.add_argument("mesh", help="mesh file, e.g. output/NAME/mesh_0.obj")
    add_flag(parser, "--pose", type=float, nargs=7, required=True, metavar=("QW", "QX", "QY", "QZ", "S", "TX", "TY"),
             help="quaternion (w, x, y, z), scale, translation; camera frame x right, y down (§6.2)")
    add_flag(parser, "--z0", type=float, default=None,
             help="perspective parameter (Z = 1 + exp(z0)); default: scaled orthographic")
    add_flag(parser, "--res", type=int, default=256, help="image size in pixels (default 256)")
    add_flag(parser, "--out", required=True, help="output PNG")
    add_flag(parser, "--silhouette", action="store_true", help="write the DIB-R soft silhouette (grey levels)")
    add_flag(parser, "--up", choices=UP_AXES, default="y",
             help="the file's up axis: y (OBJ/glTF convention and the project's exports, default) or z")
    add_flag(parser, "--impl", choices=IMPLEMENTATIONS, default="fast", help="renderer implementation")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _render(args))


def _render(args: argparse.Namespace) -> int:
    if not 1 <= args.res <= 8192:
        raise ValueError(f"--res must be between 1 and 8192, got {args.res}")
    qw, qx, qy, qz, s, tx, ty = args.pose
    if qw == qx == qy == qz == 0:
        raise ValueError("--pose quaternion must not be all zeros")
    pose = Pose(torch.tensor([[qw, qx, qy, qz]]), torch.tensor([[s]]), torch.tensor([[tx, ty]]),
                None if args.z0 is None else torch.tensor([[args.z0]]))
    mesh = load_mesh_file(args.mesh, up=args.up)
    pixels = render_mesh_file(mesh, pose, args.res, silhouette=args.silhouette, impl=args.impl)
    Image.fromarray(pixels).save(args.out, format="PNG")
    print(f"wrote {args.out}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
