"""A whole GAN run in a run folder: resume, periodic checkpoints, FID/KID, previews, loss curves.

Run folder ``OUT``::

    OUT/checkpoint_latest.safetensors    every ``save_every_min`` minutes and at the end (resume point)
    OUT/checkpoint_<step>.safetensors    every ``checkpoint_every`` steps
    OUT/checkpoint_best.safetensors      best so far by the UV signals (``select_by``, when a held-out UV reference is
                                         given), else lowest FID (when FID is measured)
    OUT/generator_ema.safetensors        the EMA generator alone (small; what ``--checkpoint`` users ship)
    OUT/metrics.jsonl, OUT/loss_curves.png, OUT/fid.jsonl, OUT/fid_curve.png, OUT/uv.jsonl, OUT/uv_curve.png,
    OUT/samples.png, OUT/run.json

Every ``*.safetensors`` above loads with ``backend.models.load_model`` (``backend.generate --checkpoint``,
``backend.serve --checkpoint``). Only rank 0 writes. This module does not print; it reports through the stage
contract's ``Events`` (``training.engine.stage``).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
import torch

from training.engine import Distributed, RunLog, atomic_write_json
from training.engine.stage import Events
from training.pseudogt import PseudoGTSet

from .config import GANConfig
from .trainer import GANTrainer, StepResult, TrainingError
from .uv_signals import UVReference, generate_maps, uv_signals

LATEST = "checkpoint_latest.safetensors"
BEST = "checkpoint_best.safetensors"
EMA = "generator_ema.safetensors"


@dataclass
class RunOptions:
    """Side effects of a run. FID needs ``fid_collection`` (a collection folder with object-frame poses)."""

    out: Path
    resume: bool = False
    save_every_min: float = 5.0
    checkpoint_every: int = 0            # 0: no numbered checkpoints
    log_every: int = 10
    preview_every: int = 500
    fid_every: int = 0                   # 0: no FID during training
    fid_collection: Path | None = None
    fid_samples: int = 500
    fid_stats: Path | None = None
    amp: bool = False
    dtype: str = "float32"                # "float64" for exactness checks
    stop_after_seconds: float | None = None
    init_generator: Path | None = None    # warm start of a new run from a model file (ignored on resume)
    uv_every: int = 0                     # UV signals against the held-out reference every N steps (0: never)
    select_by: str = "swd"                # UV signal that picks checkpoint_best (lower is better)


@dataclass
class RunSummary:
    steps: int
    seconds: float
    fid: list[dict] = field(default_factory=list)
    best: dict | None = None
    stopped: str = "finished"


class FIDMonitor:
    """FID/KID of the EMA generator on a fixed sample (the same poses and latents each time)."""

    def __init__(self, collection: Path, samples: int, stats: Path | None, device: torch.device) -> None:
        from fid.inception import load_feature_extractor

        self.collection = collection
        self.samples = samples
        self.stats = stats
        self.device = device
        self.extractor = load_feature_extractor("tf", device)

    def __call__(self, trainer: GANTrainer) -> dict:
        from backend.models import LoadedModel
        from backend.models.loaded import inference_module
        from fid.evaluation import EvaluationOptions, evaluate_generator

        generator = trainer.export_generator().cpu().float()
        model = LoadedModel(generator=inference_module(generator), config=trainer.config.generator,
                            class_names=trainer.class_names, provenance={}, untrained=False,
                            source=f"step {trainer.step}")
        options = EvaluationOptions(num_samples=self.samples, seed=1234, truncation=trainer.config.truncation,
                                    device=str(self.device), stats_path=self.stats)
        result = evaluate_generator(model, self.collection, self.extractor, options).result
        return {"step": trainer.step, "fid": float(result.fid),
                "kid": None if result.kid is None else float(result.kid),
                "kid_std": None if result.kid_std is None else float(result.kid_std), "samples": self.samples}


def save_samples(trainer: GANTrainer, path: Path, collection: Path | None, count: int = 16) -> Path:
    """A grid of EMA samples rendered under poses of the collection (random views without one)."""
    from backend.render import Pose
    from backend.render.preview import save_preview_grid
    from backend.mesh import displacement_to_vertices

    g = trainer.export_generator().cpu().float().eval()
    from backend.models import truncated_normal

    latents = truncated_normal((count, trainer.config.generator.latent_dim), trainer.config.truncation,
                               torch.Generator().manual_seed(4321))   # the evaluation protocol's sampler
    cls = torch.zeros(count, dtype=torch.int64) if trainer.config.generator.conditional else None
    with torch.no_grad():
        texture, displacement = g(latents, cls)
        vertices = displacement_to_vertices(trainer.template, displacement)
    poses = None
    if collection is not None:
        from fid.generated import plan_samples
        from fid.real import open_collection

        records = open_collection(collection, check="header").records

        class _Model:
            conditional = False

        plan = plan_samples(records, count, _Model())
        poses = Pose(q=torch.from_numpy(plan.q), s=torch.from_numpy(plan.s), t=torch.from_numpy(plan.t))
    return save_preview_grid(path, vertices, texture, trainer.template, poses=poses, tile=128, supersample=2,
                             per_row=8)


class UVMonitor:
    """UV signals (``training.gan.uv_signals``) of the refreshed EMA generator against a held-out reference, with
    the evaluation protocol's latents (seed 1234 + j, truncation of the run's config)."""

    def __init__(self, reference: UVReference) -> None:
        self.reference = reference

    def __call__(self, trainer: GANTrainer) -> dict:
        generator = trainer.export_generator()
        texture, mesh = generate_maps(generator, len(self.reference), trainer.config.generator.latent_dim,
                                      truncation=trainer.config.truncation)
        return {"step": trainer.step, **uv_signals(texture, mesh, self.reference)}


def run_gan(config: GANConfig, data: PseudoGTSet, options: RunOptions, dist: Distributed | None = None,
            class_names: list[str] | None = None, provenance: dict | None = None, events: Events | None = None,
            uv_reference: UVReference | None = None) -> RunSummary:
    """Train until ``config.steps`` (resuming from ``OUT/checkpoint_latest.safetensors`` when asked).

    events: the phase "gan" (updates, with the losses of the step's kind: ``shown_losses``) and one-line messages
    (checkpoints, FID, UV signals, resume).
    uv_reference: a held-out pseudo-GT part for the UV signals (``options.uv_every``), which then pick
    ``checkpoint_best`` by ``options.select_by``.
    Raises TrainingError (one line) for a non-finite loss (the last good checkpoint stays) or a bad resume.
    """
    dist = dist or Distributed()
    events = events or Events()
    say = events.message
    out = Path(options.out)
    trainer = GANTrainer(config, data, dist, amp=options.amp, class_names=class_names, provenance=provenance,
                         dtype=getattr(torch, options.dtype))
    latest = out / LATEST
    if options.resume and latest.exists():
        trainer.load(latest)
        say(f"resumed from {latest} at step {trainer.step}")
    elif options.resume:
        say(f"no {latest} yet: starting a new run")
    elif latest.exists():
        raise TrainingError(f"{out} already holds a run (checkpoint_latest at step "
                            f"{_saved_step(latest)}); pass --resume to continue it or choose another --out")
    if options.init_generator is not None and trainer.step == 0:
        prov = trainer.init_generator_from(options.init_generator)
        say(f"generator and EMA initialised from {options.init_generator} "
            f"(trained {prov.get('trained_steps', '?')} steps before); discriminators start fresh")
    log = RunLog(out, enabled=dist.main)
    log.truncate_after(trainer.step)
    fid_log = RunLog(out, enabled=dist.main, name="fid", tensorboard=False)
    fid_log.truncate_after(trainer.step)
    monitor = None
    if options.fid_every and options.fid_collection is not None and dist.main:
        monitor = FIDMonitor(Path(options.fid_collection), options.fid_samples, options.fid_stats, dist.device)
    uv_log = RunLog(out, enabled=dist.main, name="uv", tensorboard=False)
    uv_log.truncate_after(trainer.step)
    uv_monitor = UVMonitor(uv_reference) if options.uv_every and uv_reference is not None and dist.main else None
    select = options.select_by if uv_monitor is not None else "fid"
    rows = uv_log.rows if uv_monitor is not None else fid_log.rows
    best = min(rows, key=lambda r: r[select]) if rows else None
    if dist.main:
        atomic_write_json(out / "run.json", {"config": config.to_dict(), "world_size": dist.world_size,
                                             "pseudogt": str(data.root), "items": len(data),
                                             "options": {k: str(v) for k, v in vars(options).items()}})
    started = time.perf_counter()
    last_save = time.monotonic()
    summary = RunSummary(steps=trainer.step, seconds=0.0, fid=list(fid_log.rows), best=best)
    window: dict[str, list[float]] = {}
    events.start("gan", config.steps, trainer.step)

    def checkpoint(path: Path, extra: dict | None = None) -> None:
        try:
            trainer.save(path, extra)
        except OSError as exc:  # e.g. a full disk: the previous file under this name is still complete
            say(f"warning: could not write {path.name} ({exc}); the previous one is kept, retrying later")

    try:
        while trainer.step < config.steps:
            result = trainer.train_step()
            events.advance("gan", 1, shown_losses(result))
            for k, v in result.losses.items():
                window.setdefault(k, []).append(v)
            step = trainer.step
            if step % options.log_every == 0:
                log.log(step, {k: sum(v) / len(v) for k, v in window.items()} | {"epoch": trainer.epoch})
                window.clear()
            if dist.main and options.preview_every and step % options.preview_every == 0:
                log.plot(title=f"GAN {out.name}")
                save_samples(trainer, out / "samples.png", options.fid_collection)
            if monitor is not None and step % options.fid_every == 0:
                row = monitor(trainer)
                fid_log.log(step, {k: v for k, v in row.items() if k != "step"})
                summary.fid.append(row)
                say(f"step {step}: FID {row['fid']:.2f}, KID {row['kid']:.4f} ({row['samples']} samples)")
                fid_log.plot(keys=["fid", "kid"], title="FID / KID (EMA generator)", name="fid_curve.png")
                if select == "fid" and (best is None or row["fid"] < best["fid"]):
                    best = row
                    checkpoint(out / BEST, {"fid": row})
            if uv_monitor is not None and step % options.uv_every == 0:
                row = uv_monitor(trainer)
                uv_log.log(step, {k: v for k, v in row.items() if k != "step"})
                say(f"step {step}: UV " + ", ".join(f"{k} {row[k]:.4g}" for k in ("mean_l1", "std_l1", "swd",
                                                                               "mesh_fd", "recall", "coverage")))
                uv_log.plot(keys=["mean_l1", "std_l1", "swd", "mesh_fd", "precision", "recall", "coverage"],
                            title="UV signals (refreshed EMA vs held-out pseudo-GT)", name="uv_curve.png")
                if best is None or row[select] < best[select]:
                    best = row
                    checkpoint(out / BEST, {"uv": row})
            if options.checkpoint_every and step % options.checkpoint_every == 0:
                checkpoint(out / f"checkpoint_{step}.safetensors")
            if time.monotonic() - last_save > 60 * options.save_every_min:
                checkpoint(latest)
                last_save = time.monotonic()
            if options.stop_after_seconds is not None and time.perf_counter() - started > options.stop_after_seconds:
                summary.stopped = "time limit"
                break
    except KeyboardInterrupt:
        summary.stopped = "interrupted"
        checkpoint(latest)
        raise
    checkpoint(latest)
    if dist.main:
        try:
            trainer.export_ema(out / EMA, {"best": best} if best else None)
        except OSError as exc:
            say(f"warning: could not write {EMA} ({exc}); checkpoint_latest holds the same EMA generator")
        log.plot(title=f"GAN {out.name}")
        save_samples(trainer, out / "samples.png", options.fid_collection)
    log.close()
    summary.steps = trainer.step
    summary.seconds = time.perf_counter() - started
    summary.best = best
    return summary


def shown_losses(result: StepResult) -> dict[str, float] | None:
    """The losses worth a glance beside the progress bar: the encoder start's texture L1 and KL, or a D step's
    real and fake hinge terms (None after a G step)."""
    keys = {"e": ("texture_l1", "kl_per_dim"), "d": ("d_real", "d_fake")}.get(result.kind, ())
    return {k: result.losses[k] for k in keys if k in result.losses} or None


def _saved_step(path: Path) -> str:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return str(json.loads((f.metadata() or {})["training"])["step"])
    except Exception:
        return "?"
