"""``python -m backend.generate``: export a sample of generated textured meshes (docs/generate.md).

A drop-in for the original ``run_generation.py --export_sample``: the original README's commands work with
``run_generation.py`` replaced by ``-m backend.generate``, e.g.

    python -m backend.generate --name pretrained_imagenet_car_singletpl --dataset imagenet_car --gpu_ids 0 \\
        --batch_size 10 --export_sample --how_many 40

reads ``checkpoints_gan/NAME/checkpoint_latest.pth`` and writes ``output/NAME/mesh_<j>.obj/.mtl/.png``.
This module only parses flags and reports; the work is in backend.sampling and backend.export.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterable, Iterator

from tqdm import tqdm

from .cli import add_device_argument, add_flag, device_from_args, run_cli
from .export import FORMATS, ORIGINS, export_samples
from .latent_tools import blend_plan, read_latents_file, resolve_point, same_view_poses, variation_plan
from .model_choice import add_model_arguments, model_from_args, model_label
from .models import PRECISIONS, CheckpointError, set_precision
from .render.preview import save_generated_preview
from .sampling import MeshGenerator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m backend.generate",
        description="Generate textured 3D meshes and export them as OBJ/MTL/PNG or GLB "
                    "(drop-in for the original run_generation.py --export_sample).",
        epilog="Flags are the original's snake_case; dashed spellings (--how-many) work too. Exit status: 0 ok, "
               "1 error (one line on stderr), 2 bad command line.")
    model = parser.add_argument_group("model (precedence: --checkpoint, then --random_init, then --name; "
                                      "none of them: the embedded default model)")
    add_model_arguments(model)
    add_flag(model, "--dataset", help="dataset of the model: a collection folder or a name under datasets/ (recorded "
                                      "in samples.json; a collection on disk gives the preview grid its poses and is "
                                      "what --evaluate compares against)")

    sampling = parser.add_argument_group("sampling")
    add_flag(sampling, "--how_many", type=int, default=None,
             help="number of meshes (default or -1: --batch_size, as in the original; with --latents: all of them)")
    add_flag(sampling, "--batch_size", type=int, default=8, help="meshes per forward pass (default: 8)")
    add_flag(sampling, "--seed", type=int, default=0, help="mesh j uses seed + j (default: 0)")
    add_flag(sampling, "--truncation", "--truncation_sigma", dest="truncation", type=float, default=1.0,
             metavar="SIGMA", help="truncated-normal latent: resample |z_i| > SIGMA "
                                   "(default 1.0 = the paper; -1 = auto = 1.0; 1000 disables)")
    add_flag(sampling, "--filter_class", metavar="CLASS",
             help="class name or index for a class-conditional model (default: a random class per mesh, drawn from "
                  "its seed)")
    add_flag(sampling, "--latents", metavar="FILE.npy",
             help="generate from these latent vectors, shape (N, latent_dim) float")
    add_flag(sampling, "--precision", choices=sorted(PRECISIONS), default="fp32",
             help="compute precision: fp32 (default, exact) or bf16 (about 2x faster on CPUs with AVX512-BF16, "
                  "texture values differ slightly; see docs/models.md)")
    add_device_argument(sampling)
    tools = parser.add_argument_group("latent tools (docs/generate.md): a CAR is a seed, a latent .npy file "
                                      "(latent_dim,) or a look .json file saved by the Blender add-on")
    add_flag(tools, "--variations_of", metavar="CAR",
             help="--how_many cars near CAR: its latent moved towards fresh samples (from --seed, --seed+1, ...) by "
                  "--strength; the class is kept")
    add_flag(tools, "--strength", type=float, default=0.3,
             help="how far variations move, 0 (the same car) to 1 (unrelated cars) (default: 0.3)")
    add_flag(tools, "--interpolate", nargs=2, metavar=("CAR_A", "CAR_B"),
             help="a blend: CAR_A, --steps in-betweens (spherical interpolation of the latents, class vectors "
                  "interpolated) and CAR_B, in that order")
    add_flag(tools, "--steps", type=int, default=6, help="in-betweens of --interpolate (default: 6)")

    output = parser.add_argument_group("output")
    add_flag(output, "--out", metavar="DIR", help="output folder (default: output/NAME)")
    add_flag(output, "--format", choices=FORMATS, default="obj", help="obj (OBJ+MTL+PNG, default) or glb")
    add_flag(output, "--target_length", type=float, metavar="M",
             help="scale each mesh so its longest horizontal side (a car: front to back) is M metres "
                  "(default: model units, ~[-1, 1])")
    add_flag(output, "--origin", choices=ORIGINS, default="object",
             help="'object' keeps the model's origin; 'bottom' puts it at the bottom centre")
    add_flag(output, "--preview_max", type=int, default=64, metavar="N",
             help="render the first N meshes into the preview grid OUT.png next to the output folder "
                  "(default: 64; 0: no preview)")
    add_flag(output, "--export_sample", action="store_true",
             help="accepted for compatibility: exporting is what this command does")
    add_flag(output, "--num_workers", type=int, default=4, help="accepted for compatibility (unused)")

    evaluation = parser.add_argument_group("evaluation")
    add_flag(evaluation, "--evaluate", action="store_true",
             help="compute FID and KID against --dataset (a collection folder or a name under datasets/) instead of "
                  "exporting, as the original; --how_many = number of samples (default: as many as real images); "
                  "see docs/fid.md")
    return parser


def _keep_first(items: Iterable, limit: int, kept: list) -> Iterator:
    """Pass ``items`` through, appending the first ``limit`` of them to ``kept``."""
    for item in items:
        if len(kept) < limit:
            kept.append(item)
        yield item


def _dataset_preview_poses(dataset: "str | None", count: int, seed: int):
    """Poses for the preview grid as the original drew them (§1.5), and what the grid shows.

    ``count`` records of the ``--dataset`` collection (a folder, or ``datasets/<name>``) that carry a pose in the
    object frame, drawn without replacement from ``seed`` (in passes over the collection when it has fewer), each
    pose carried into its record's square crop — the frame the generator is trained and evaluated in
    (``dataformat.crop_pose``). z0 is ignored as in the original's previews.
    Returns (render poses or None, label): None means random views, and the label then says why the collection's
    poses were not used (e.g. CMR poses of CUB/P3D are in the ``cmr_sfm`` frame, not the object frame).
    """
    if not dataset:
        return None, "random views"
    import numpy as np

    from dataformat import DATASETS_ROOT, CollectionError, crop_pose, find_dataset, is_collection, load_collection

    from .render import Pose

    try:
        folder = find_dataset(dataset)
    except CollectionError:
        folder = None
    if folder is None or not is_collection(folder):
        return None, f"random views: no collection folder {dataset} or {DATASETS_ROOT / dataset}"

    with_pose = [r for r in load_collection(folder, check="none").records if r.pose is not None]
    posed = [r for r in with_pose if r.pose.frame == "object"]
    if not posed:
        frames = sorted({r.pose.frame for r in with_pose})
        why = (f"its poses are in the {' / '.join(frames)} frame, not the object frame; estimate poses first"
               if frames else "none of its records has a pose")
        return None, f"random views: {folder}: {why}"
    rng = np.random.default_rng(seed)
    passes = -(-count // len(posed))
    chosen = np.concatenate([rng.permutation(len(posed)) for _ in range(passes)])[:count]
    return Pose.stack([crop_pose(posed[i]) for i in chosen]).without_perspective(), f"poses of {folder}"


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    if args.evaluate:  # the FID protocol lives in the fid package (docs/fid.md)
        from fid.drop_in import run_generate_evaluate

        return run_generate_evaluate(args)
    truncation = 1.0 if args.truncation == -1 else args.truncation
    how_many = None if args.how_many == -1 else args.how_many          # -1: the original's "= batch size"
    if how_many is not None and how_many < 1:
        raise ValueError(f"--how_many must be a positive number of meshes (or -1 for --batch_size), got {how_many}")
    if args.batch_size < 1:
        raise ValueError(f"--batch_size must be at least 1, got {args.batch_size}")
    if args.preview_max < 0:
        raise ValueError(f"--preview_max must be 0 (no preview) or more, got {args.preview_max}")
    device = device_from_args(args)                        # fail fast, before loading anything
    tools = [flag for flag, on in (("--variations_of", args.variations_of), ("--interpolate", args.interpolate),
                                   ("--latents", args.latents)) if on]
    if len(tools) > 1:
        raise ValueError(f"{' and '.join(tools)} cannot be combined; use one of them")
    if args.interpolate and args.how_many is not None:
        raise ValueError("--how_many does not apply to --interpolate: it writes --steps + 2 meshes (set --steps)")
    latents = read_latents_file(args.latents) if args.latents else None
    model = model_from_args(args)
    set_precision(model, args.precision)
    if model.untrained:
        _warn(f"WARNING: the generator is UNTRAINED ({model.source}): random weights, the meshes are noise "
              f"textures on a plain sphere. Use them for tests and benchmarks only.")
    class_choice = None
    if args.filter_class is not None and model.conditional:
        class_choice = args.filter_class
    elif args.filter_class is not None and [n.lower() for n in model.class_names] != [args.filter_class.lower()]:
        depicts = f"it generates {model.class_names[0]}" if model.class_names else "it has no classes"
        raise ValueError(f"--filter_class {args.filter_class}: {model.source} is unconditional ({depicts}); "
                         f"drop --filter_class or use a class-conditional model")
    count = how_many if how_many is not None else (None if latents is not None else args.batch_size)
    if latents is not None and count is not None:
        if not 0 < count <= len(latents):
            raise ValueError(f"--how_many {count} does not fit the {len(latents)} latents in {args.latents}")
        latents = latents[:count]

    generator = MeshGenerator(model, device=device)
    class_weights, tool_record = None, None
    if args.variations_of or args.interpolate:       # backend.latent_tools: the cars, then their latents
        if args.variations_of:
            plan = variation_plan(resolve_point(args.variations_of, generator, class_choice, truncation),
                                  args.strength, count, args.seed, truncation)
        else:
            plan = blend_plan(*(resolve_point(car, generator, class_choice, truncation) for car in args.interpolate),
                              args.steps)
        latents, class_weights, tool_record, count = plan.latents, plan.class_weights, plan.record, None
        if class_weights is not None:
            class_choice = None
    meshes = generator.generate(count, seed=args.seed, class_index=class_choice, truncation=truncation,
                                batch_size=args.batch_size, latents=latents,
                                class_weights=class_weights)      # validates before any work
    out_dir = Path(args.out) if args.out else Path("output") / model_label(args)
    total = len(latents) if latents is not None and count is None else count
    metadata = {"model": model.source, "untrained": model.untrained, "config": model.config.to_dict(),
                "class_names": list(model.class_names), "dataset": args.dataset, "seed": args.seed}
    if tool_record is not None:
        metadata["latent_tool"] = tool_record
    previewed: list = []  # the first --preview_max meshes, kept for the preview grid
    with tqdm(total=total, unit="mesh", desc="generating", disable=None) as progress:
        summary = export_samples(_keep_first(meshes, args.preview_max, previewed), out_dir, generator.template,
                                 args.format, args.target_length, args.origin, metadata=metadata,
                                 on_mesh=lambda n: progress.update(1))
    if previewed:  # §1.5 preview grid output/NAME.png next to the mesh folder (ENG-RENDER: backend.render.preview)
        poses, shows = _dataset_preview_poses(args.dataset, len(previewed), args.seed)
        if poses is None and tool_record is not None:   # one view for every tile: the cars change, not the camera
            poses, shows = same_view_poses(len(previewed)), "one view for every car"
        preview = save_generated_preview(out_dir.parent / f"{out_dir.name}.png", previewed, generator.template,
                                         seed=args.seed, poses=poses)
        print(f"wrote preview grid {preview} ({shows})")
    print(f"wrote {summary.count} meshes ({args.format}) to {out_dir} on {generator.device}"
          f"{' [UNTRAINED model]' if model.untrained else ''}; details in {summary.manifest}")
    return 0


def main(argv: "list[str] | None" = None) -> int:
    args = build_parser().parse_args(argv)
    from fid.errors import FIDError  # --evaluate hands over to the fid package

    return run_cli(lambda: run(args), (CheckpointError, FIDError))


if __name__ == "__main__":
    sys.exit(main())
