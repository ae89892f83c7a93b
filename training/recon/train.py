"""Training the reconstruction network (§4.3): data, loop, logs, previews, atomic checkpoints, resume.

``train_recon(TrainOptions(...))`` runs (or continues) a run in ``options.out``:

* ``checkpoint_latest.safetensors``: network, Adam state, RNG state and a JSON header (settings, iteration,
  semi-supervision coefficient, warm-up factor), written atomically by ``training.engine`` every
  ``checkpoint_every`` iterations, on interruption and at the end. ``resume=True`` continues from it, so a
  ``kill -9`` loses at most ``checkpoint_every`` iterations; the batch order depends only on (seed, iteration),
  so a resumed run sees the same batches it would have seen.
* ``metrics.jsonl`` (every ``log_every`` iterations) + ``loss_curves.png`` (redrawn at every checkpoint;
  ``training.engine.RunLog``, TensorBoard events when installed);
* ``previews/iter_NNNNNN.png`` (``training.recon.previews``).
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from backend.mesh import uv_sphere
from dataformat import load_collection
from training.engine import (Distributed, RunLog, StateFileError, init_distributed, load_state, load_training_state,
                             save_training_state, seed_everything)
from training.engine.stage import Events, ResolvedPreset, check_resume, resolve_preset

from .checkpoints import CHECKPOINT_NAME, MODEL_GROUP
from .config import PRESETS, NetworkConfig, TrainConfig
from .data import ReconData, class_count, part_channels, prefetch, semi_supervision_mask, template_fit_iou
from .network import ReconstructionNetwork
from .poses import TRUTH, resolve_poses
from .previews import save_training_preview
from .steps import compute_losses, predict
from .templates import DEFAULT_EXTENT, SPHERE, load_templates

DEFAULT_TEMPLATE = "car"  # the shipped generic car of training/templates

LOSS_KEYS = ["total", "color", "alpha", "semi", "flat", "symmetry"]
SHOWN_LOSSES = ("total", "color", "alpha", "semi")   # beside the progress bar


class RunError(ValueError):
    """The run folder and the requested settings do not go together. One-line message."""


@dataclass
class TrainOptions:
    """What a user asks for (the CLI's flags).

    collection: collection folder; poses: "truth" or a pose file; out: run folder.
    preset: "cpu" or "paper"; None: the run's own on resume, else the device's (``training.engine.stage``:
    ``paper`` on CUDA, ``cpu`` elsewhere). iters / batch_size: override the preset's. resume: continue ``out``'s
    checkpoint.
    template: semi-supervision templates: a file, a shipped name (car, car3) or "sphere" (default: the pose
        file's templates, else car).
    limit: use only the first N records (quick trials). device: "cpu", "cuda", "cuda:N" or None (CUDA when
    present). workers: image-decoding threads for the prefetch. overrides / network_overrides: other
    TrainConfig / NetworkConfig fields of a new run (e.g. a smaller width for quick trials).
    """

    collection: str
    poses: str
    out: str
    preset: str | None = None
    iters: int | None = None
    batch_size: int | None = None
    resume: bool = False
    template: str | None = None
    limit: int | None = None
    device: str | None = None
    workers: int = 2
    overrides: dict = field(default_factory=dict)
    network_overrides: dict = field(default_factory=dict)


@dataclass
class TrainResult:
    """iteration: iterations done; losses: the last logged means; checkpoint: its path; skipped: images not used
    and why ({reason: count}); n_images: images trained on; seconds: wall time of this call's loop."""

    iteration: int
    losses: dict[str, float]
    checkpoint: Path
    skipped: dict[str, int]
    n_images: int
    seconds: float


def _resolved(spec: str) -> str:
    return spec if spec == TRUTH else str(Path(spec).resolve())


def _check_resume(header: dict, options: TrainOptions) -> None:
    """The stage contract's resume check: same stage, collection, poses, preset (when named), batch size and
    limit (when given)."""
    saved = {"stage": header.get("stage"), "collection": header.get("collection"), "poses": header.get("poses"),
             "preset": header.get("preset"), "batch_size": (header.get("train") or {}).get("batch_size"),
             "limit": header.get("limit")}
    requested = {"stage": "recon", "collection": str(Path(options.collection).resolve()),
                 "poses": _resolved(options.poses), "preset": options.preset, "batch_size": options.batch_size,
                 "limit": options.limit}
    asked = {k: v for k, v in requested.items() if v is not None}
    check_resume(options.out, saved, asked, keys=asked, error=RunError)


def _load_templates(options: TrainOptions, pose_set, template) -> tuple[np.ndarray, str]:
    """--template, else the pose file's templates, else the shipped ``car`` template."""
    name = options.template or pose_set.templates or DEFAULT_TEMPLATE
    if name == SPHERE:
        return load_templates(name, template), f"sphere scaled to {DEFAULT_EXTENT}"
    source = str(Path(name).resolve()) if Path(name).is_file() else name
    return load_templates(name, template), source


def run_preset(options: TrainOptions, device) -> ResolvedPreset:
    """The preset a new run of ``options`` trains on ``device``: ``options.preset`` (None: ``paper`` on CUDA, else
    ``cpu``) with its iters, batch size and overrides merged in and checked (``training.engine.stage``)."""
    train = {**options.overrides, "iters": options.iters, "batch_size": options.batch_size}
    return resolve_preset(PRESETS, options.preset, device, {"train": train, "network": options.network_overrides},
                          stage="reconstruction")


class _Sampler:
    """Deterministic batches: epoch e is a permutation drawn from (seed, e); iteration i takes slice i mod E."""

    def __init__(self, n: int, batch: int, seed: int, rank: int, world: int) -> None:
        self.n, self.batch, self.seed, self.rank, self.world = n, batch, seed, rank, world
        self.per_epoch = n // batch
        self._epoch, self._perm = -1, None

    def indices(self, iteration: int) -> np.ndarray:
        epoch, step = divmod(iteration, self.per_epoch)
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            self._epoch = epoch
        rows = self._perm[step * self.batch:(step + 1) * self.batch]
        share = self.batch // self.world
        return rows[self.rank * share:(self.rank + 1) * share]


def train_recon(options: TrainOptions, events: Events | None = None) -> TrainResult:
    """Run or continue a reconstruction run; see the module docstring. Raises ValueError subclasses with one-line
    messages on bad input (missing collection, bad pose file, mismatched resume). events: the phases "load"
    (records decoded) and "train" (iterations, with the main losses), and messages."""
    events = events or Events()
    out = Path(options.out)
    checkpoint = out / CHECKPOINT_NAME
    header = None
    if checkpoint.exists():
        if not options.resume:
            raise RunError(f"{out} already holds a run ({CHECKPOINT_NAME}); pass --resume to continue it or "
                           f"choose a new --out")
        try:
            _, header = load_state(checkpoint)
        except StateFileError as exc:
            raise RunError(str(exc)) from None
        _check_resume(header, options)
    elif options.resume:
        events.message(f"no checkpoint in {out} yet; starting a new run")

    dist = init_distributed(options.device)
    preset_name, preset = run_preset(options, dist.device)
    if header is not None:
        preset_name = header["preset"]
        train_cfg = TrainConfig.from_dict(header["train"])
        if options.iters is not None and options.iters != train_cfg.iters:
            train_cfg = dataclasses.replace(train_cfg, iters=options.iters)
        limit = header.get("limit")
    else:
        train_cfg = preset.train
        limit = options.limit
    if train_cfg.batch_size % dist.world_size:
        raise RunError(f"batch size {train_cfg.batch_size} does not split over {dist.world_size} processes")

    collection = load_collection(options.collection, check="header")
    records = collection.records[:limit] if limit else collection.records
    pose_set = resolve_poses(options.poses, collection)
    n_parts = part_channels(collection)
    if header is not None:
        net_cfg = NetworkConfig.from_dict(header["network"])
    else:
        net_cfg = dataclasses.replace(preset.network, n_parts=options.network_overrides.get("n_parts", n_parts),
                                      n_classes=options.network_overrides.get("n_classes", class_count(collection)))
    template = uv_sphere(31)
    if header is not None and "templates" in header:
        templates_np, template_source = None, header["template_source"]
    else:
        templates_np, template_source = _load_templates(options, pose_set, template)

    events.start("load", len(records))
    data = prefetch(records, pose_set, net_cfg.image_resolution, with_parts=n_parts > 0,
                    progress=lambda k: events.advance("load", k), workers=options.workers)
    for reason, n in collection.report.skipped.items():  # files the collection loader could not read
        data.skipped[reason] = data.skipped.get(reason, 0) + n
        data.examples.setdefault(reason, []).extend(collection.report.examples.get(reason, [])[:1])
    if len(data) < train_cfg.batch_size:
        raise RunError(f"only {len(data)} usable images with poses (skipped: {data.skipped or 'none'}), fewer than "
                       f"the batch size {train_cfg.batch_size}; add images or lower --batch_size")
    if data.skipped:
        events.message("skipped " + ", ".join(f"{n} {reason}" for reason, n in data.skipped.items())
                   + " (examples: " + "; ".join(v[0] for v in data.examples.values()) + ")")

    seed_everything(train_cfg.seed + dist.rank)
    network = ReconstructionNetwork(net_cfg, train_cfg.flip_probability).to(dist.device)
    optimizer = torch.optim.Adam(network.parameters(), lr=train_cfg.lr)
    start = 0
    if header is not None:
        saved, extra = load_training_state(checkpoint, modules={MODEL_GROUP: network},
                                           optimizers={"optim": optimizer})
        start = int(saved["iteration"])
        templates = extra["templates"].to(dist.device)
    else:
        templates = torch.from_numpy(templates_np).to(dist.device)
    if data.template_index.size and int(data.template_index.max()) >= templates.shape[0]:
        raise RunError(f"the pose source names template {int(data.template_index.max())} but only "
                       f"{templates.shape[0]} template(s) are loaded; pass the matching --template file")
    fit_iou = (np.array([pose_set.fit_iou[i] for i in data.ids], np.float32)
               if pose_set.fit_iou and all(i in pose_set.fit_iou for i in data.ids)
               else template_fit_iou(data, templates.cpu(), template))
    data.semi_mask = semi_supervision_mask(fit_iou, data.template_index, train_cfg.semi_fraction)

    run_header = {
        "stage": "recon", "preset": preset_name, "collection": str(Path(options.collection).resolve()),
        "poses": _resolved(options.poses), "template_source": template_source, "templates": True,
        "network": net_cfg.to_dict(), "train": train_cfg.to_dict(), "class_names": collection.class_names,
        "part_names": collection.part_names, "n_images": len(data), "skipped": data.skipped, "limit": limit,
    }
    if header is not None and header.get("n_images") != len(data):
        events.message(f"the run was trained on {header.get('n_images')} images, now {len(data)} are usable: the batch "
                   f"order from here on differs from the original run's")
    model = dist.wrap(network)
    log = RunLog(out, enabled=dist.main)
    log.truncate_after(start)
    sampler = _Sampler(len(data), train_cfg.batch_size, train_cfg.seed, dist.rank, dist.world_size)

    def save(iteration: int) -> None:
        if dist.main:
            save_training_state(checkpoint, modules={MODEL_GROUP: network}, optimizers={"optim": optimizer},
                                header={**run_header, "iteration": iteration,
                                        "semi_coeff": train_cfg.semi_coefficient(iteration),
                                        "flat_warmup": train_cfg.flat_warmup(iteration),
                                        "done": iteration >= train_cfg.iters},
                                extra_tensors={"templates": templates})
        dist.barrier()

    events.start("train", train_cfg.iters, start)
    sums: dict[str, float] = {}
    count = 0
    last: dict[str, float] = {}
    began = time.perf_counter()
    iteration = start
    network.train()
    try:
        while iteration < train_cfg.iters:
            for group in optimizer.param_groups:
                group["lr"] = train_cfg.learning_rate(iteration)
            batch = data.batch(sampler.indices(iteration), dist.device)
            prediction = predict(model, batch, template, train_cfg.render_resolution)
            terms = compute_losses(prediction, batch, templates, template, train_cfg, iteration)
            optimizer.zero_grad(set_to_none=True)
            terms.total.backward()
            optimizer.step()
            values = terms.as_floats()
            if not math.isfinite(values["total"]):
                raise RuntimeError(f"the loss became {values['total']} at iteration {iteration}; resume from the "
                                   f"last checkpoint with a lower learning rate (--lr)")
            iteration += 1
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
            events.advance("train", 1, {k: values[k] for k in SHOWN_LOSSES})
            if iteration % train_cfg.log_every == 0 or iteration == train_cfg.iters:
                last = {k: v / count for k, v in sums.items()}
                log.log(iteration, {**last, "lr": train_cfg.learning_rate(iteration - 1),
                                    "semi_coeff": train_cfg.semi_coefficient(iteration)})
                sums, count = {}, 0
            if dist.main and (iteration % train_cfg.preview_every == 0 or iteration == train_cfg.iters):
                save_training_preview(out / "previews" / f"iter_{iteration:06d}.png", batch, prediction)
            if iteration % train_cfg.checkpoint_every == 0 or iteration == train_cfg.iters:
                save(iteration)
                log.plot(keys=LOSS_KEYS, title=f"reconstruction: {out.name}")
    except KeyboardInterrupt:
        save(iteration)
        raise
    finally:
        log.close()
    if iteration == start:  # nothing to do (already complete): keep the file as it is
        last = {k: v for k, v in (log.rows[-1] if log.rows else {}).items() if k in LOSS_KEYS}
    return TrainResult(iteration, last, checkpoint, data.skipped, len(data), time.perf_counter() - began)
