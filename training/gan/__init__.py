"""GAN training (§3.2, §4.1): UV-space discriminators, masked hinge losses, the training loop, runs.

Public API::

    from training.gan import GANConfig, PRESETS, GANTrainer, run_gan, RunOptions, MultiScaleDiscriminator
    trainer = GANTrainer(PRESETS["cpu"], open_pseudogt(DIR))   # one process; pass init_distributed() under torchrun
    result = trainer.train_step()                              # one G or D update -> StepResult(step, kind, losses)
    trainer.save("checkpoint_latest.safetensors")              # loads with backend.models.load_model as it is

CLI: ``python -m backend.train gan --pseudogt DIR --out runs/NAME`` (``training/gan/cli.py``).
"""
from .config import PRESETS, GANConfig
from .discriminator import MeshDiscriminator, MultiScaleDiscriminator, TextureDiscriminator, positional_encoding
from .losses import flat_loss, hinge_d_fake, hinge_d_real, hinge_g
from .run import RunOptions, RunSummary, run_gan
from .mirror import virtual_mirror
from .trainer import GANTrainer, StepResult, TrainingError

__all__ = [
    "GANConfig", "GANTrainer", "MeshDiscriminator", "MultiScaleDiscriminator", "PRESETS", "RunOptions", "RunSummary",
    "StepResult", "TextureDiscriminator", "TrainingError", "flat_loss", "hinge_d_fake", "hinge_d_real", "hinge_g",
    "positional_encoding", "run_gan", "virtual_mirror",
]
