"""The GAN training loop of §4.1 on a pseudo-GT folder, on one process or many (torchrun + DDP).

One call of :meth:`GANTrainer.train_step` is one update: a G step when ``step % (d_steps_per_g + 1) == 0``, else a
D step, each on its own data batch. The global batch of a step, its latents and its mirror flags are functions of
(seed, step) only; under torchrun each process takes its slice of the global batch, so N processes compute what one
process computes at the same global batch (synchronised batch norm in G, gradients averaged by DDP).

Checkpoints (``save``) are project generator files (``backend.models.load_model`` reads them as they are: the EMA
generator) that also carry the raw generator, the discriminators, both optimisers and the RNG state under ``train/``
keys, written atomically.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from backend.mesh import displacement_to_vertices, uv_sphere
from backend.models import Generator, ema_decay, update_ema
from backend.models.checkpoints import PROJECT_FORMAT, PROJECT_FORMAT_VERSION, TRAINING_STATE_PREFIX
from training.engine import Distributed, atomic_save_file
from training.engine.checkpoint import optimizer_from_tensors, optimizer_to_tensors
from training.engine.stage import resume_message
from training.pseudogt import PseudoGTSet

from . import augment as diffaugment
from .config import GANConfig, mismatches
from .encoder_start import EncoderStart, masked_l1
from .mirror import virtual_mirror
from .latent_fold import LatentGaussian, fit_latent_gaussian, fold_latent_gaussian
from .refresh import refreshed_copy
from .discriminator import MultiScaleDiscriminator
from .losses import combine, flat_loss, hinge_d_fake, hinge_d_real, hinge_g


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, data that does not fit the config). One-line message."""


@dataclass
class StepResult:
    step: int
    kind: str                      # "g" or "d"
    losses: dict[str, float]


class GANTrainer:
    """State and updates of one GAN run (this process's share of it).

    With ``config.encoder_steps`` > 0 the run has two phases: steps 0 .. encoder_steps - 1 are encoder-start updates
    (kind "e", ``training.gan.encoder_start``); at step ``encoder_steps`` the fitted latent Gaussian is folded into
    the generator and its EMA (``latent``), then ``d_warmup_steps`` D-only updates, then the G/D schedule.

    data: the pseudo-GT set (loaded on every process). dist: from ``training.engine.init_distributed``.
    amp: bf16 autocast (CUDA) for the forward passes. dtype: parameter and compute dtype; float64 exists for
    exactness checks (e.g. DDP against one process), where float32 noise would be amplified by Adam (with beta1 = 0
    its first steps move every weight by +-lr, so a gradient that cancels to ~1e-7 moves by a random sign).
    """

    def __init__(self, config: GANConfig, data: PseudoGTSet, dist: Distributed | None = None,
                 amp: bool = False, class_names: list[str] | None = None, provenance: dict | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        self.config = config
        self.dist = dist or Distributed()
        self.device = self.dist.device
        self.amp = amp
        self.dtype = dtype
        if config.batch_size % self.dist.world_size:
            raise TrainingError(f"batch size {config.batch_size} does not split over {self.dist.world_size} "
                                f"processes; use a multiple of {self.dist.world_size}")
        self.local_batch = config.batch_size // self.dist.world_size
        try:
            self.augment_ops = diffaugment.parse_augment(config.augment)
        except ValueError as exc:
            raise TrainingError(str(exc)) from None
        g = config.generator
        if data.texture_resolution != g.texture_resolution or data.mesh_resolution != g.mesh_resolution:
            raise TrainingError(
                f"the pseudo-GT has {data.texture_resolution}² textures and {data.mesh_resolution}² meshes but the "
                f"generator makes {g.texture_resolution}² / {g.mesh_resolution}²; choose a matching preset or "
                f"--texture_resolution, or export the pseudo-GT at that size")
        n_cat = int(data.category.max()) + 1 if len(data) else 0
        if g.conditional and n_cat > g.n_classes:
            raise TrainingError(f"the pseudo-GT has {n_cat} categories but the generator {g.n_classes} classes")
        if len(data) < config.batch_size:
            raise TrainingError(f"the pseudo-GT has {len(data)} items, fewer than the batch size "
                                f"{config.batch_size}")
        self.data = data
        self.class_names = class_names or []
        self.provenance = provenance or {}
        self.step = 0
        self.curves: dict[str, list[float]] = {}

        torch.manual_seed(config.seed)  # same initial weights on every process
        # channels-last convolutions are about 1.4x faster on CPU (oneDNN); state dicts are unchanged.
        layout = torch.channels_last if self.device.type == "cpu" else torch.contiguous_format
        self.generator = Generator(g).to(self.device, dtype, memory_format=layout).train()
        self.discriminator = MultiScaleDiscriminator(
            g.texture_resolution, g.mesh_resolution, config.num_discriminators, config.d_width,
            g.n_classes if g.conditional else 0).to(self.device, dtype, memory_format=layout).train()
        self.generator_ema = copy.deepcopy(self.generator).eval()
        self.weights = self.discriminator.weights
        self.g = self.dist.wrap(self.generator)
        self.d = self.dist.wrap(self.discriminator, sync_batchnorm=False)
        if self.dist.enabled:
            # The EMA follows the converted module's state dict (same names), so keep it plain.
            self.generator = self.g.module
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=config.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=config.betas)

        template = uv_sphere()
        self.template = template
        self.faces = torch.as_tensor(np.array(template.faces), dtype=torch.int64, device=self.device)
        self.adjacency = torch.as_tensor(np.array(template.face_adjacency), dtype=torch.int64, device=self.device)
        self.class_weights = self._class_weights()
        self.encoder_start = EncoderStart(self) if config.encoder_steps > 0 else None
        self.latent: LatentGaussian | None = None    # set when the encoder start's Gaussian has been folded

    # ---- data ----------------------------------------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.data) // self.config.batch_size)

    @property
    def epoch(self) -> int:
        return self.step // self.steps_per_epoch

    def _class_weights(self) -> Tensor | None:
        """Class-balanced sampling weights total / (count_c * n_classes) when there are several categories."""
        cats = self.data.category
        present = torch.unique(cats)
        if len(present) < 2:
            return None
        counts = torch.bincount(cats).double()
        return (len(cats) / (counts[cats] * len(present))).float()

    def global_batch(self, step: int) -> tuple[Tensor, Tensor, Tensor]:
        """(indices (B,), latents (B, latent_dim), mirror flags (B,) bool) of the global batch of ``step``."""
        cfg = self.config
        rng = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        if self.class_weights is not None:
            indices = torch.multinomial(self.class_weights, cfg.batch_size, replacement=True, generator=rng)
        else:
            epoch, position = divmod(step, self.steps_per_epoch)
            order = torch.randperm(len(self.data), generator=torch.Generator().manual_seed(cfg.seed * 7919 + epoch))
            indices = order[position * cfg.batch_size:(position + 1) * cfg.batch_size]
        z = torch.randn(cfg.batch_size, cfg.generator.latent_dim, generator=rng)
        flips = torch.rand(cfg.batch_size, generator=rng) < 0.5 if cfg.mirror else torch.zeros(cfg.batch_size, dtype=torch.bool)
        return indices, z, flips

    def local_batch_tensors(self, step: int):
        """This process's slice: texture (b, 3, T, T), alpha (b, 1, T, T), mesh (b, 3, M, M), class (b,), z (b, L)."""
        indices, z, flips = self.global_batch(step)
        lo = self.dist.rank * self.local_batch
        sl = slice(lo, lo + self.local_batch)
        indices, z, flips = indices[sl], z[sl], flips[sl]
        texture = self.data.texture[indices].to(self.dtype)
        alpha = self.data.alpha[indices].to(self.dtype)
        mesh = self.data.mesh[indices].to(self.dtype)
        z = z.to(self.dtype)
        if flips.any():
            f = flips[:, None, None, None]
            texture = torch.where(f, virtual_mirror(texture), texture)
            alpha = torch.where(f, virtual_mirror(alpha), alpha)
            mesh = torch.where(f, virtual_mirror(mesh), mesh)
        cls = self.data.category[indices]
        move = lambda t: t.to(self.device, non_blocking=True)  # noqa: E731
        return move(texture), move(alpha), move(mesh), move(cls), move(z)

    # ---- updates -------------------------------------------------------------------------------------------
    def _autocast(self):
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def _class_arg(self, cls: Tensor) -> Tensor | None:
        return cls if self.config.generator.conditional else None

    def is_g_step(self, step: int) -> bool:
        """The G/D schedule of the adversarial phase (the encoder start and the D warm-up counted out)."""
        cfg = self.config
        if step < cfg.adversarial_start + cfg.d_warmup_steps:
            return False
        return (step - cfg.adversarial_start - cfg.d_warmup_steps) % (cfg.d_steps_per_g + 1) == 0

    def phase(self, step: int) -> str:
        """"encoder" (encoder-start update) or "adversarial"."""
        return "encoder" if step < self.config.encoder_steps else "adversarial"

    def ema_decay(self) -> float:
        """Per-G-update EMA decay: half-life in images when the config sets one, else the paper's epoch schedule."""
        half_life = self.config.ema_half_life_images
        if half_life > 0:
            return 0.5 ** (self.config.batch_size / half_life)
        return ema_decay(self.epoch)

    def fold_latent(self, batch_size: int = 64) -> LatentGaussian:
        """End of the encoder start: fit a Gaussian to the posterior means (items and mirrors), fold it into the
        generator and its EMA, and give the adversarial phase a fresh generator optimiser."""
        means = self.encoder_start.posterior_means(batch_size)
        gaussian = fit_latent_gaussian(means, kind=self.config.latent_fit)
        if self.dist.enabled:  # every process folds the same Gaussian (rank 0's)
            gaussian = self.dist.broadcast_object(gaussian)
        fold_latent_gaussian(self.generator, gaussian)
        fold_latent_gaussian(self.generator_ema, gaussian)
        self.latent = gaussian
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.config.lr_g, betas=self.config.betas)
        return gaussian

    def anchor_weight(self, step: int) -> float:
        """Weight of the reconstruction anchor at ``step`` (0 outside the adversarial phase or after its decay)."""
        cfg = self.config
        if cfg.anchor_weight <= 0 or self.encoder_start is None or self.latent is None:
            return 0.0
        if cfg.anchor_decay_steps <= 0:
            return cfg.anchor_weight
        done = (step - cfg.adversarial_start - cfg.d_warmup_steps) / (cfg.d_steps_per_g + 1)
        return cfg.anchor_weight * max(0.0, 1.0 - done / cfg.anchor_decay_steps)

    def train_step(self, kind: str | None = None) -> StepResult:
        """One update on the batch of the current step; raises TrainingError on a non-finite loss.

        kind: None follows the schedule (``is_g_step``); "g" or "d" forces that update (tests, diagnostics).
        """
        step = self.step
        texture, alpha, mesh, cls, z = self.local_batch_tensors(step)
        c = self._class_arg(cls)
        if kind not in (None, "g", "d"):
            raise ValueError(f"kind must be None, 'g' or 'd', got {kind!r}")
        if kind is None and self.phase(step) == "encoder":
            losses = self.encoder_start.step(texture, alpha, mesh, c, z)
            update_ema(self.generator_ema, self.generator, self.ema_decay())
            kind = "e"
        elif kind == "g" or (kind is None and self.is_g_step(step)):
            if self.encoder_start is not None and self.latent is None:
                self.fold_latent()
            losses = self._g_step(z, c, alpha, step, texture, mesh)
            kind = "g"
        else:
            if self.encoder_start is not None and self.latent is None:
                self.fold_latent()
            losses = self._d_step(texture, alpha, mesh, z, c, step)
            kind = "d"
        self.step += 1
        for k, v in losses.items():
            self.curves.setdefault(k, []).append(v)
        return StepResult(step, kind, losses)

    def _reduce(self, values: dict[str, Tensor]) -> dict[str, float]:
        stacked = torch.stack([v.detach().to(self.dtype) for v in values.values()])
        stacked = self.dist.all_reduce_mean(stacked)
        out = {k: float(v) for k, v in zip(values, stacked.cpu().double())}
        bad = [k for k, v in out.items() if not math.isfinite(v)]
        if bad:
            raise TrainingError(f"non-finite {', '.join(bad)} at step {self.step}; the last checkpoint is kept. "
                                f"Lower the learning rates or check the pseudo-GT for bad values")
        return out

    def _augmented(self, x: Tensor, step: int, copies: int = 1) -> Tensor:
        """x (copies * b, 4, T, T) through the run's optional DiffAugment ops, with this process's slice of
        step ``step``'s draw (the same draw for each of the ``copies`` stacked batches)."""
        if not self.augment_ops:
            return x
        lo = self.dist.rank * self.local_batch
        params = diffaugment.draw(self.config.batch_size, self.config.seed, step)
        params = params.slice(slice(lo, lo + self.local_batch)).repeat(copies)
        return diffaugment.augment(x, self.augment_ops, params)

    def _d_step(self, texture: Tensor, alpha: Tensor, mesh: Tensor, z: Tensor, c: Tensor | None,
                step: int) -> dict[str, float]:
        self.opt_d.zero_grad(set_to_none=True)
        with torch.no_grad(), self._autocast():
            fake_texture, fake_mesh = self.g(z, c)
        x_real = torch.cat([texture * alpha, alpha], dim=1)
        x_fake = torch.cat([fake_texture.to(self.dtype) * alpha, alpha], dim=1)
        b = x_real.shape[0]
        with self._autocast():
            outputs = self.d(self._augmented(torch.cat([x_real, x_fake]), step, copies=2),
                             torch.cat([mesh, fake_mesh.to(self.dtype)]),
                             None if c is None else torch.cat([c, c]))
        outputs = [(y.to(self.dtype), m) for y, m in outputs]
        real = [(y[:b], m[:b]) for y, m in outputs]
        fake = [(y[b:], m[b:]) for y, m in outputs]
        loss_real = combine(real, self.weights, hinge_d_real)
        loss_fake = combine(fake, self.weights, hinge_d_fake)
        losses = self._reduce({"d_real": loss_real, "d_fake": loss_fake})
        (loss_real + loss_fake).backward()
        self.opt_d.step()
        return losses

    def _anchor(self, texture: Tensor, alpha: Tensor, mesh: Tensor, c: Tensor | None) -> Tensor:
        """The encoder start's reconstruction of this batch through the folded generator (encoder frozen):
        masked texture L1 + mesh_recon_weight x mesh L1 at eps = whiten(mu(x))."""
        from .encoder_start import encoder_input

        with torch.no_grad():
            mu, _ = self.encoder_start.encoder(encoder_input(texture, alpha, mesh))
            eps = self.latent.whiten(mu)
        fake_texture, fake_mesh = self.g(eps, c)
        return (masked_l1(fake_texture, texture, alpha)
                + self.config.mesh_recon_weight * (fake_mesh - mesh).abs().mean())

    def _g_step(self, z: Tensor, c: Tensor | None, alpha: Tensor, step: int, texture: Tensor | None = None,
                mesh: Tensor | None = None) -> dict[str, float]:
        self.opt_g.zero_grad(set_to_none=True)
        d_params = list(self.discriminator.parameters())
        frozen = not self.dist.enabled
        if frozen:  # no D gradients needed; DDP instead skips their all-reduce with no_sync
            for p in d_params:
                p.requires_grad_(False)
        try:
            with self._autocast():
                fake_texture, fake_mesh = self.g(z, c)
            x_fake = torch.cat([fake_texture.to(self.dtype) * alpha, alpha], dim=1)
            sync = self.d.no_sync() if self.dist.enabled else contextlib.nullcontext()
            with sync:
                with self._autocast():
                    outputs = self.d(self._augmented(x_fake, step), fake_mesh.to(self.dtype), c)
                loss_g = combine([(y.to(self.dtype), m) for y, m in outputs], self.weights, hinge_g)
                vertices = displacement_to_vertices(self.template, fake_mesh.to(self.dtype))
                flat = flat_loss(vertices, self.faces, self.adjacency)
                total = loss_g + self.config.mesh_regularization * flat
                terms = {"g": loss_g, "flat": flat}
                weight = self.anchor_weight(step) if texture is not None else 0.0
                if weight > 0:
                    anchor = self._anchor(texture, alpha, mesh, c)
                    total = total + weight * anchor
                    terms["anchor"] = anchor
                losses = self._reduce(terms)
                total.backward()
        finally:
            if frozen:
                for p in d_params:
                    p.requires_grad_(True)
        self.opt_g.step()
        update_ema(self.generator_ema, self.generator, self.ema_decay())
        return losses

    # ---- checkpoints ---------------------------------------------------------------------------------------
    def export_generator(self) -> Generator:
        """The generator that evaluation and export use: a copy of the EMA with refreshed spectral-norm vectors and
        re-estimated BN statistics (``training.gan.refresh``), eval mode. During the encoder start the copy also gets
        the Gaussian of the encoder's current posterior means folded in, so it samples z ~ N(0, I) like the end
        result."""
        cached = getattr(self, "_export_cache", None)
        if cached is None or cached[0] != self.step:   # one refresh per step, however many exports ask for it
            generator = self.generator_ema
            if self.encoder_start is not None and self.latent is None:  # mid encoder start: fold today's fit
                generator = copy.deepcopy(generator)
                means = self.encoder_start.posterior_means()
                fold_latent_gaussian(generator, fit_latent_gaussian(means, kind=self.config.latent_fit))
            cached = self._export_cache = (self.step, refreshed_copy(generator, seed=self.config.seed))
        return copy.deepcopy(cached[1])

    def state_tensors(self) -> dict[str, Tensor]:
        """Refreshed EMA generator at the top level (what inference loads), training state under ``train/`` (the
        EMA as it is trained too, so a resume continues exactly)."""
        p = TRAINING_STATE_PREFIX
        tensors = {k: v for k, v in self.export_generator().state_dict().items()}
        tensors.update({f"{p}generator_ema/{k}": v for k, v in self.generator_ema.state_dict().items()})
        tensors.update({f"{p}generator/{k}": v for k, v in self.generator.state_dict().items()})
        tensors.update({f"{p}discriminator/{k}": v for k, v in self.discriminator.state_dict().items()})
        self._optim_info = {}
        for name, opt in (("optim_g", self.opt_g), ("optim_d", self.opt_d)):
            flat, info = optimizer_to_tensors(opt)
            self._optim_info[name] = info
            tensors.update({f"{p}{name}/{k}": v for k, v in flat.items()})
        tensors[f"{p}rng/cpu"] = torch.random.get_rng_state()
        if self.encoder_start is not None:
            extra, self._encoder_info = self.encoder_start.state_tensors(p)
            tensors.update(extra)
        if self.latent is not None:
            tensors[f"{p}latent/mean"] = self.latent.mean
            tensors[f"{p}latent/scale_tril"] = self.latent.scale_tril
        return tensors

    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write an atomic checkpoint (rank 0 only; other ranks return the path without writing)."""
        path = Path(path)
        if not self.dist.main:
            return path
        tensors = self.state_tensors()
        training = {"step": self.step, "epoch": self.epoch, "config": self.config.to_dict(),
                    "optimizers": self._optim_info, **(extra or {})}
        if self.encoder_start is not None:
            training["encoder_start"] = self._encoder_info
        if self.latent is not None:
            training["latent_fit"] = self.latent.kind
        provenance = {**self.provenance, "trained_steps": self.step, "epoch": self.epoch,
                      "gan_config": self.config.to_dict()}
        metadata = {
            "format": PROJECT_FORMAT, "format_version": PROJECT_FORMAT_VERSION,
            "config": json.dumps(self.config.generator.to_dict()),
            "class_names": json.dumps(self.class_names), "provenance": json.dumps(provenance),
            "training": json.dumps(training),
        }
        return atomic_save_file(path, tensors, metadata)

    def load(self, path: str | Path) -> dict[str, Any]:
        """Restore everything from a checkpoint written by :meth:`save`; returns its ``training`` header.

        Raises TrainingError when the checkpoint was made with another configuration (RESUME_KEYS).
        """
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        try:
            with safe_open(str(path), framework="pt") as f:
                metadata = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError, ValueError) as exc:
            raise TrainingError(f"{path} cannot be read ({exc}); resume from another checkpoint") from None
        if "training" not in metadata:
            raise TrainingError(f"{path} holds no training state (an exported model?); it cannot be resumed")
        training = json.loads(metadata["training"])
        saved = GANConfig.from_dict(training["config"])
        diff = mismatches(saved, self.config, step=int(training["step"]),
                          folded=any(k.startswith(f"{TRAINING_STATE_PREFIX}latent/") for k in tensors))
        if diff:
            raise TrainingError(resume_message(path, diff))
        p = TRAINING_STATE_PREFIX

        def group(name: str) -> dict[str, Tensor]:
            pre = f"{p}{name}/"
            return {k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)}

        ema = group("generator_ema") or {k: v for k, v in tensors.items() if not k.startswith(p)}
        latent = group("latent")
        if latent:  # the fold happened: this run's layers that read z hold the folded weights
            self.latent = LatentGaussian(latent["mean"], latent["scale_tril"], training.get("latent_fit", "full"))
            self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.config.lr_g, betas=self.config.betas)
        self.generator_ema.load_state_dict(ema)
        self.generator.load_state_dict(group("generator"))
        if self.encoder_start is not None and "encoder_start" in training:
            self.encoder_start.load_state(tensors, p, training["encoder_start"])
        self.discriminator.load_state_dict(group("discriminator"))
        optimizer_from_tensors(self.opt_g, group("optim_g"), training["optimizers"]["optim_g"])
        optimizer_from_tensors(self.opt_d, group("optim_d"), training["optimizers"]["optim_d"])
        # Learning rates and betas are not resume keys: the requested ones win over the checkpoint's (e.g. a lower
        # --lr_g to settle a run), so write them back after the optimiser state replaced its param_groups.
        for optimizer, lr in ((self.opt_g, self.config.lr_g), (self.opt_d, self.config.lr_d)):
            for param_group in optimizer.param_groups:
                param_group["lr"], param_group["betas"] = lr, tuple(self.config.betas)
        rng = group("rng")
        if "cpu" in rng:
            torch.random.set_rng_state(rng["cpu"])
        self.step = int(training["step"])
        saved_provenance = json.loads(metadata.get("provenance", "{}"))
        if "warm_start" in saved_provenance:  # a resumed warm-started run keeps saying where it began
            self.provenance = {**self.provenance, "warm_start": saved_provenance["warm_start"]}
        return training

    def init_generator_from(self, path: str | Path) -> dict[str, Any]:
        """Warm start: the weights of a project model file (e.g. a shipped ``car.safetensors``, or any run's
        checkpoint) become both the trained generator and its EMA; the discriminators and optimisers start fresh.

        Returns the file's provenance (``trained_steps`` says how far it had been trained). Raises TrainingError
        when the file cannot be read or holds another generator architecture.
        """
        from backend.models import GeneratorConfig
        from backend.models.checkpoint_files import read_safetensors
        from backend.models.errors import CheckpointError

        path = Path(path)
        try:
            tensors, metadata = read_safetensors(path)
        except CheckpointError as exc:
            raise TrainingError(f"{path} cannot be read as a model file ({exc}); give a .safetensors model "
                                f"or run checkpoint") from None
        state = {k: v for k, v in tensors.items() if not k.startswith(TRAINING_STATE_PREFIX)}
        if metadata.get("format") != PROJECT_FORMAT or "config" not in metadata:
            raise TrainingError(f"{path} is not a gan3d model file (no project format header); give a "
                                f".safetensors model written by this project")
        saved = GeneratorConfig.from_dict(json.loads(metadata["config"]))
        if saved != self.config.generator:
            raise TrainingError(f"{path} holds a generator {saved.to_dict()} but this run trains "
                                f"{self.config.generator.to_dict()}; choose the matching preset")
        try:
            self.generator.load_state_dict(state)
            self.generator_ema.load_state_dict(state)
        except RuntimeError as exc:
            raise TrainingError(f"{path}: weights do not fit the generator ({str(exc).splitlines()[0]})") from None
        provenance = json.loads(metadata.get("provenance", "{}"))
        self.provenance = {**self.provenance, "warm_start": {
            "file": str(path), "trained_steps": provenance.get("trained_steps"),
            "created": provenance.get("created")}}
        return provenance

    def export_ema(self, path: str | Path, provenance: dict | None = None) -> Path:
        """The EMA generator alone as a project model file (small: what ships)."""
        from backend.models import save_model

        prov = {**self.provenance, "trained_steps": self.step, "epoch": self.epoch,
                "gan_config": self.config.to_dict(), **(provenance or {})}
        return save_model(path, self.export_generator(), self.config.generator, self.class_names, prov)

    def export_official(self, path: str | Path) -> Path:
        """The original ``checkpoint_*.pth`` layout (§8.1): plain tensors, ints and an ``args`` dict.

        Readable with ``torch.load(weights_only=True)``; no code is pickled.
        """
        import os

        g = self.config.generator
        args = {"texture_resolution": g.texture_resolution, "mesh_resolution": g.mesh_resolution,
                "latent_dim": g.latent_dim, "symmetric_g": g.symmetric, "conditional_class": g.conditional,
                "num_discriminators": 3 if self.discriminator.d3 is not None else 2,
                "batch_size": self.config.batch_size, "lr_g": self.config.lr_g, "lr_d": self.config.lr_d,
                "mesh_regularization": self.config.mesh_regularization, "loss": "hinge",
                "d_steps_per_g": self.config.d_steps_per_g}
        content = {
            "generator": {k: v.cpu() for k, v in self.generator.state_dict().items()},
            "generator_running_avg": {k: v.cpu() for k, v in self.generator_ema.state_dict().items()},
            "discriminator": {k: v.cpu() for k, v in self.discriminator.state_dict().items()},
            "epoch": self.epoch, "iteration": self.step, "args": args,
            "g_curve": self.curves.get("g", []), "d_real_curve": self.curves.get("d_real", []),
            "d_fake_curve": self.curves.get("d_fake", []), "flat_curve": self.curves.get("flat", []),
        }
        path = Path(path)
        partial = path.with_name(path.name + ".partial")
        torch.save(content, partial)
        os.replace(partial, path)
        return path
