"""``python -m backend.train templates remesh MESH.obj [MESH2.obj ...] --out FILE`` and ``templates shapes DIR``."""
from __future__ import annotations

import argparse
from pathlib import Path

from backend.cli import StageCommands, add_flag


def register(subparsers: argparse._SubParsersAction) -> StageCommands:
    group = subparsers.add_parser("templates", help="mesh templates for pose estimation: remesh, hand-built shapes")
    sub = group.add_subparsers(dest="command", required=True)
    remesh = sub.add_parser("remesh", help="project closed meshes onto the 962-vertex sphere topology (§2.7)")
    remesh.add_argument("meshes", nargs="+", help="closed, watertight mesh files (OBJ, PLY, GLB, ...)")
    add_flag(remesh, "--out", required=True, help="template file to write (.safetensors)")
    add_flag(remesh, "--up", choices=("z", "y"), default="z",
             help="z: files are in the object frame (z up, front -y; default); y: Y-up exports")
    add_flag(remesh, "--names", default=None, help="comma-separated template names (default: file stems)")
    add_flag(remesh, "--steps", type=int, default=None, help="silhouette refinement steps (default 40)")
    add_flag(remesh, "--no_preview", action="store_true", help="do not write the preview PNGs")
    remesh.set_defaults(run=_run_remesh)
    shapes = sub.add_parser("shapes", help="write the project's hand-built car shapes as OBJ files")
    shapes.add_argument("out", help="folder to write saloon.obj, suv.obj, sports.obj into")
    shapes.set_defaults(run=_run_shapes)
    return StageCommands("templates", ["remesh", "shapes"], None)


def _run_remesh(args: argparse.Namespace) -> int:
    import sys

    from training.engine.stage import TqdmEvents
    from training.templates import RemeshConfig, remesh_files, save_templates
    from training.templates.preview import save_preview

    config = RemeshConfig() if args.steps is None else RemeshConfig(steps=args.steps)
    names = [n.strip() for n in args.names.split(",")] if args.names else None
    if names is not None and len(names) != len(args.meshes):
        raise ValueError(f"--names gives {len(names)} names for {len(args.meshes)} meshes")
    with TqdmEvents(units={"remesh": "step"}) as events:
        events.start("remesh", config.steps * len(args.meshes))
        templates, results, skipped = remesh_files(args.meshes, config, args.up, names,
                                                   lambda n: events.advance("remesh", n))
    for path, reason in skipped.items():
        print(f"skipped {reason}", file=sys.stderr)
    if templates is None:
        raise ValueError("no usable mesh: every input was skipped (see above)")
    out = save_templates(args.out, templates)
    previews = []
    if not args.no_preview:
        stem = Path(args.out).with_suffix("")
        previews = [save_preview(f"{stem}.{name}.png", v) for name, v in zip(templates.names, templates.vertices)]
    ious = ", ".join(f"{r.name} {r.iou:.3f}" for r in results)
    print(f"wrote {len(templates)} templates to {out} (silhouette IoU vs source: {ious}); "
          f"skipped {len(skipped)} of {len(args.meshes)}" + (f"; previews {', '.join(map(str, previews))}"
                                                             if previews else ""))
    return 0


def _run_shapes(args: argparse.Namespace) -> int:
    from training.templates import write_shape_files

    paths = write_shape_files(args.out)
    print(f"wrote {', '.join(map(str, paths))}")
    return 0
