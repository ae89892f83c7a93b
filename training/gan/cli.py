"""``python -m backend.train gan``: train the generator on a pseudo-GT folder (one process or torchrun).

    python -m backend.train gan --pseudogt DIR --out runs/NAME [--preset cpu|paper|tiny] [--steps N] [--resume]
        [--fid_collection DIR --fid_every N --fid_samples N] [--device cuda] [--amp] [--export_official FILE]
    torchrun --nproc_per_node 2 -m backend.train gan ...      # DDP: gloo on CPU, NCCL on GPUs
    python -m backend.train gan ship RUN/checkpoint_best.safetensors --out MODEL.safetensors [--card FACTS.json]

Flags use the original's snake_case; the dashed spellings are accepted too.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from backend.cli import StageCommands, add_device_argument, add_flag, dataset_argument
from training.engine.stage import add_preset_flag
from training.gan.config import PRESETS

#: Flags that replace the preset's value of the GANConfig field of the same name (None: not given).
OVERRIDE_FLAGS = ("batch_size", "seed", "d_width", "lr_g", "lr_d", "d_steps_per_g", "ema_half_life_images",
                  "encoder_steps", "encoder_width", "encoder_lr", "kl_target", "latent_fit", "d_warmup_steps",
                  "anchor_weight", "anchor_decay_steps")


def _flag(parser: argparse.ArgumentParser, name: str, **kwargs) -> None:
    add_flag(parser, f"--{name}", **kwargs)


def register(sub: argparse._SubParsersAction) -> StageCommands:
    gan = sub.add_parser("gan", help="train the textured-mesh GAN on pseudo-ground-truth (§4.1)")
    gsub = gan.add_subparsers(dest="command", required=True)
    train = gsub.add_parser("train", help="train (the default: `gan --pseudogt ...`)")
    _flag(train, "pseudogt", required=True, help="pseudo-GT folder (`backend.train recon pseudogt`)")
    _flag(train, "out", required=True, help="run folder (keep it outside the checkout, e.g. ~/runs/NAME)")
    add_preset_flag(train, PRESETS, "cpu, paper or tiny (smoke tests)")
    _flag(train, "steps", type=int, default=None, help="total updates, G and D steps together (preset's default)")
    _flag(train, "iters", type=int, default=None, help="alias of --steps (the original's name)")
    _flag(train, "batch_size", type=int, default=None, help="global batch (split over torchrun processes)")
    _flag(train, "width", type=float, default=None,
          help="generator channel multiplier instead of the preset's (1.0 = the paper, cpu preset 0.25)")
    _flag(train, "d_width", type=float, default=None,
          help="discriminators' channel multiplier instead of the preset's (1.0 = the paper, cpu preset 0.25)")
    _flag(train, "texture_resolution", type=int, default=None,
          help="texture side instead of the preset's (must equal the pseudo-GT's: 128, 256, 512)")
    _flag(train, "lr_g", type=float, default=None, help="generator learning rate (default 1e-4, the paper's)")
    _flag(train, "lr_d", type=float, default=None, help="discriminators' learning rate (default 4e-4, the paper's)")
    _flag(train, "d_steps_per_g", type=int, default=None,
          help="discriminator steps per generator step (default 2, the paper's; 1 gives G half the updates)")
    _flag(train, "seed", type=int, default=None, help="run seed: weights, data order, latents (default 1)")
    _flag(train, "resume", action="store_true", help="continue from OUT/checkpoint_latest.safetensors")
    _flag(train, "continue_train", action="store_true", help="alias of --resume (the original's name)")
    _flag(train, "save_every_min", type=float, default=5.0, help="minutes between checkpoint_latest writes")
    _flag(train, "checkpoint_every", type=int, default=0, help="numbered checkpoint every N steps (0: none)")
    _flag(train, "preview_every", type=int, default=500, help="loss curves and sample grid every N steps")
    _flag(train, "log_every", type=int, default=10, help="metrics.jsonl row (mean losses) every N steps")
    _flag(train, "fid_collection", default=None, type=dataset_argument,
          help="collection for FID/KID (held-out renders with poses)")
    _flag(train, "fid_every", type=int, default=0, help="FID/KID every N steps (0: never)")
    _flag(train, "fid_samples", type=int, default=500, help="generated samples per FID evaluation")
    _flag(train, "fid_stats", default=None, help="precomputed real statistics (.npz) for --fid_collection")
    _flag(train, "limit", type=int, default=None, help="use only the first N pseudo-GT items")
    _flag(train, "amp", action="store_true", help="bf16 autocast for forward passes (GPUs)")
    _flag(train, "float64", action="store_true", help="train in float64 (exactness checks such as DDP vs one process)")
    _flag(train, "export_official", default=None, help="also write the original checkpoint .pth layout here")
    _flag(train, "init_generator", default=None,
          help="warm start a new run: generator + EMA weights from this model file (e.g. the shipped default)")
    _flag(train, "augment", default=None,
          help="differentiable augmentation of the texture discriminators' inputs against D overfitting a small "
               "set (not in the paper): color, cutout, color,cutout or none (default)")
    _flag(train, "stop_after_minutes", type=float, default=None, help="stop cleanly (with a checkpoint) after N min")
    _flag(train, "ema_half_life_images", type=float, default=None,
          help="EMA half-life in images seen by the generator (0: the paper's schedule by epochs)")
    _flag(train, "encoder_steps", type=int, default=None,
          help="encoder start: the first N updates train the generator as a VAE decoder (0: the paper's recipe)")
    _flag(train, "encoder_width", type=float, default=None, help="encoder channel multiplier (default 1.0)")
    _flag(train, "encoder_lr", type=float, default=None, help="encoder start learning rate (default 1e-3)")
    _flag(train, "kl_target", type=float, default=None, help="encoder start KL in nats per latent dimension")
    _flag(train, "latent_fit", default=None, choices=("full", "diagonal"),
          help="covariance of the Gaussian folded into the generator after the encoder start (default full)")
    _flag(train, "d_warmup_steps", type=int, default=None,
          help="discriminator-only updates after the encoder start, before G updates resume")
    _flag(train, "anchor_weight", type=float, default=None,
          help="weight of the encoder start's reconstruction kept on G in the adversarial phase (0: none)")
    _flag(train, "anchor_decay_steps", type=int, default=None,
          help="G updates over which --anchor_weight falls linearly to 0 (0: constant)")
    _flag(train, "holdout", type=int, default=0,
          help="keep the last N pseudo-GT items out of training as the UV signals' reference")
    _flag(train, "uv_every", type=int, default=0, help="UV signals against the held-out items every N steps")
    _flag(train, "select_by", default="swd", choices=("swd", "mean_l1", "std_l1", "mesh_fd"),
          help="UV signal that picks checkpoint_best when --uv_every is on (default swd)")
    add_device_argument(train)
    train.set_defaults(run=run_train)

    ship = gsub.add_parser("ship", help="write a run's EMA generator alone plus a JSON model card")
    ship.add_argument("checkpoint", help="a run's checkpoint_*.safetensors (e.g. checkpoint_best)")
    _flag(ship, "out", required=True, help="model file to write (the card goes beside it as .json)")
    _flag(ship, "name", default="car", help="model name (default car)")
    _flag(ship, "card", default=None, help="JSON file with extra card facts (data, figures, commands)")
    ship.set_defaults(run=run_ship)
    ev = gsub.add_parser("evaluate", help="against a pseudo-GT folder: FID (its ceiling, texture-only, mesh-only) "
                                          "or the UV signals of a generator")
    _flag(ev, "pseudogt", required=True, help="pseudo-GT folder; each item is rendered under the pose it was made with")
    _flag(ev, "mode", default="ceiling", choices=("ceiling", "texture_only", "mesh_only", "full", "uv", "uv_soundness"),
          help="ceiling: the items' own meshes and textures (the best a GAN trained on them can reach); "
               "texture_only / mesh_only: the items' meshes with generated textures / generated meshes with "
               "the items' textures; full: generated meshes and textures; uv: the UV signals of --checkpoint "
               "against the (held-out) items; uv_soundness: the UV signals of halves, blurred, colour-shuffled, "
               "mean-texture and untrained baselines (and --checkpoint when given)")
    _flag(ev, "train_pseudogt", default=None,
          help="uv modes: the training pseudo-GT (memorisation signal; the mean-texture baseline); when it is the "
               "--pseudogt folder itself, its items before --skip")
    _flag(ev, "truncation", type=float, default=1.0,
          help="uv mode: clamp latents to ±this (the evaluation protocol's 1.0; 0 for none)")
    _flag(ev, "checkpoint", default=None, help="generator for every mode but ceiling (a model file or run "
          "checkpoint)")
    group = ev.add_mutually_exclusive_group(required=False)
    add_flag(group, "--stats", default=None, help="real statistics .npz (`python -m fid.evaluate stats`)")
    add_flag(group, "--real", default=None, type=dataset_argument,
             help="collection whose (cached) real statistics to compare with")
    _flag(ev, "collection", default=None, type=dataset_argument,
          help="the collection the pseudo-GT was made from (default: the one its index names)")
    _flag(ev, "num_samples", type=int, default=None, help="renders (default: one per item)")
    _flag(ev, "seed", type=int, default=1234, help="latent seed of sample 0 (sample j: seed + j)")
    _flag(ev, "limit", type=int, default=None, help="only the first N items")
    _flag(ev, "skip", type=int, default=0,
          help="leave out the first N items (e.g. the images the real statistics were computed on)")
    _flag(ev, "json", action="store_true", help="print the result as JSON too")
    add_device_argument(ev)
    ev.set_defaults(run=run_evaluate)
    return StageCommands(group="gan", commands=["train", "ship", "evaluate"], default="train")


def run_evaluate_uv(args: argparse.Namespace) -> int:
    """``gan evaluate --mode uv | uv_soundness``: the UV signals as a table (and JSON with --json)."""
    import json

    from training.pseudogt import open_pseudogt

    from .uv_signals import SIGNAL_NAMES, UVReference, generate_maps, uv_signals
    from .uv_soundness import soundness_rows

    held = open_pseudogt(args.pseudogt, limit=args.limit)
    if args.skip:
        held = held.subset(args.skip)
    train = open_pseudogt(args.train_pseudogt) if args.train_pseudogt else None
    if train is not None and args.skip and Path(args.train_pseudogt).resolve() == Path(args.pseudogt).resolve():
        train = train.subset(0, args.skip)   # one folder: the items before --skip are the training part
    model = None
    if args.checkpoint:
        from backend.model_choice import select_model

        model = select_model(checkpoint=args.checkpoint)
        if model.conditional:
            raise ValueError("UV signals support unconditional generators only")
    if args.mode == "uv":
        if model is None:
            raise ValueError("--mode uv needs --checkpoint (the generator to score)")
        reference = UVReference.from_pseudogt(held, train=train)
        truncation = args.truncation if args.truncation > 0 else None
        texture, mesh = generate_maps(model.generator, len(reference), model.config.latent_dim, seed=args.seed,
                                      truncation=truncation)
        rows = [{"name": Path(args.checkpoint).name, **uv_signals(texture, mesh, reference)}]
    else:
        if train is None:
            raise ValueError("--mode uv_soundness needs --train_pseudogt (the mean-texture baseline)")
        from backend.models import PRESETS

        models = {Path(args.checkpoint).name: model.generator} if model is not None else None
        rows = soundness_rows(held, train, models, model.config if model is not None else PRESETS["small"])
    keys = [k for k in (*SIGNAL_NAMES, "memorisation") if k in rows[0]]
    print(f"{'':<28}" + "".join(f"{k:>13}" for k in keys))
    for row in rows:
        print(f"{row['name']:<28}" + "".join(f"{row[k]:>13.5g}" for k in keys))
    if args.json:
        print(json.dumps(rows))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    import json

    from backend.cli import device_from_args

    if args.mode in ("uv", "uv_soundness"):
        return run_evaluate_uv(args)
    if not (args.stats or args.real):
        raise ValueError(f"--mode {args.mode} needs the real statistics: --stats FILE.npz or --real COLLECTION")
    from dataformat import load_collection
    from fid.inception import load_feature_extractor
    from fid.real import real_statistics
    from fid.statistics import FeatureStatistics
    from training.pseudogt import open_pseudogt

    from .evaluate import pseudogt_fid

    device = device_from_args(args)
    data = open_pseudogt(args.pseudogt, limit=args.limit)
    if args.skip:
        data = data.subset(args.skip)
        if not len(data):
            raise ValueError(f"--skip {args.skip} leaves no pseudo-GT item")
    extractor = load_feature_extractor("tf", device=device)
    if args.stats:
        real = FeatureStatistics.load(args.stats)
    else:
        real = real_statistics(args.real, extractor, progress=True).statistics
    model = None
    if args.mode != "ceiling":
        if not args.checkpoint:
            raise ValueError(f"--mode {args.mode} needs --checkpoint (the generator to render)")
        from backend.model_choice import select_model

        model = select_model(checkpoint=args.checkpoint)
    collection = load_collection(args.collection, check="header") if args.collection else None
    result = pseudogt_fid(data, real, extractor, args.mode, model, args.num_samples, args.seed,
                          collection=collection, device=str(device), progress=True)
    kid = "" if result.kid is None else f"  KID {result.kid:.5f}" + (
        f" ± {result.kid_std:.5f}" if result.kid_std is not None else "")
    print(f"{args.mode}: FID {result.fid:.4f}{kid}  ({result.num_b} renders of {len(data)} pseudo-GT items vs "
          f"{result.num_a} real images)")
    if args.json:
        print(json.dumps({"mode": args.mode, "pseudogt": str(args.pseudogt), **result.to_dict()}))
    return 0


def run_ship(args: argparse.Namespace) -> int:
    import json

    from .ship import ship_model

    extra = json.loads(Path(args.card).read_text(encoding="utf-8")) if args.card else {}
    model, card = ship_model(args.checkpoint, args.out, extra, name=args.name)
    print(f"model: {model} ({model.stat().st_size / 1e6:.1f} MB); card: {card}")
    return 0


def _config(args: argparse.Namespace, device) -> "GANConfig":
    """The run's GANConfig: the preset (``paper`` on a CUDA ``device``, else ``cpu``) with the flags given merged in
    and checked (``training.engine.stage.resolve_preset``)."""
    from training.engine.stage import resolve_preset

    from .augment import parse_augment

    overrides = {name: getattr(args, name) for name in OVERRIDE_FLAGS}
    overrides["steps"] = args.steps if args.steps is not None else args.iters
    overrides["generator"] = {"width": args.width, "texture_resolution": args.texture_resolution}
    if args.augment is not None:   # canonical spelling ("cutout, color" -> "color,cutout"), a resume key
        overrides["augment"] = ",".join(parse_augment(args.augment))
    return resolve_preset(PRESETS, args.preset, device, overrides, stage="GAN").config


def run_train(args: argparse.Namespace) -> int:
    import torch

    from backend.cli import device_from_args
    from training.engine import init_distributed
    from training.engine.stage import TqdmEvents
    from training.pseudogt import open_pseudogt, read_index

    from .run import RunOptions, run_gan
    from .trainer import TrainingError

    device = device_from_args(args)
    dist = init_distributed(device)
    if dist.device.type == "cpu":
        torch.set_num_threads(max(1, torch.get_num_threads() // dist.world_size))
    config = _config(args, dist.device)
    index = read_index(args.pseudogt)
    events = TqdmEvents(labels={"load": "loading pseudo-GT"}, units={"load": "item", "gan": "step"},
                        enabled=dist.main)
    events.start("load", int(index["count"]) if args.limit is None else min(args.limit, int(index["count"])))
    data = open_pseudogt(args.pseudogt, limit=args.limit, progress=lambda n: events.advance("load", n))
    uv_reference = None
    if args.holdout:
        from .uv_signals import UVReference

        if not 0 < args.holdout < len(data):
            raise ValueError(f"--holdout {args.holdout} must leave training items: the pseudo-GT has {len(data)}")
        held = data.subset(len(data) - args.holdout)
        data = data.subset(0, len(data) - args.holdout)
        uv_reference = UVReference.from_pseudogt(held, train=data)
    options = RunOptions(
        out=Path(args.out), resume=args.resume or args.continue_train, save_every_min=args.save_every_min,
        checkpoint_every=args.checkpoint_every, preview_every=args.preview_every, log_every=args.log_every,
        fid_every=args.fid_every, fid_collection=Path(args.fid_collection) if args.fid_collection else None,
        fid_samples=args.fid_samples, fid_stats=Path(args.fid_stats) if args.fid_stats else None, amp=args.amp,
        dtype="float64" if args.float64 else "float32",
        stop_after_seconds=None if args.stop_after_minutes is None else 60 * args.stop_after_minutes,
        init_generator=Path(args.init_generator) if args.init_generator else None, uv_every=args.uv_every,
        select_by=args.select_by)
    class_names = index.get("class_names", []) if config.generator.conditional else index.get("class_names", [])[:1]
    provenance = {"source": "backend.train gan", "pseudogt": str(Path(args.pseudogt).resolve()),
                  "pseudogt_source": index.get("source"), "items": len(data), "holdout": args.holdout,
                  "world_size": dist.world_size,
                  "device": str(dist.device)}
    try:
        summary = run_gan(config, data, options, dist, class_names=class_names, provenance=provenance,
                          events=events, uv_reference=uv_reference)
    except TrainingError as exc:
        raise RuntimeError(str(exc)) from None
    finally:
        events.close()
    if dist.main:
        best = ""
        if summary.best:
            key = "fid" if "fid" in summary.best else args.select_by
            best = f"; best {key} {summary.best[key]:.4g} at step {summary.best['step']}"
        print(f"gan: {summary.steps} steps ({summary.stopped}) in {summary.seconds / 60:.1f} min{best}; "
              f"model: {Path(args.out) / 'generator_ema.safetensors'}")
        if args.export_official:
            from .trainer import GANTrainer

            trainer = GANTrainer(config, data, amp=False, class_names=class_names)
            trainer.load(Path(args.out) / "checkpoint_latest.safetensors")
            print(f"official layout: {trainer.export_official(args.export_official)}")
    dist.shutdown()
    return 0
