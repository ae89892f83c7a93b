"""Mesh reconstruction (stage 3, §3.3, §4.3); pseudo-ground-truth export from it (stage 4, §1.3) is in
``training.pseudogt`` (``export_from_run``).

Public API (docs/training.md, "Reconstruction")::

    from training.recon.config import NetworkConfig, TrainConfig, PRESETS        # "paper", "cpu"
    from training.recon.network import ReconstructionNetwork, ReconOutput       # §3.3, §8.4 state-dict names
    from training.recon.checkpoints import load_recon                           # run folder / .safetensors / .pth
    from training.recon.train import TrainOptions, train_recon                  # §4.3, atomic checkpoints, resume
    from training.recon.evaluate import evaluate_run                            # IoU, Chamfer, PSNR, contact sheet

CLI: ``python -m backend.train recon [train|evaluate|pseudogt]`` (``training/recon/cli.py``; ``recon pseudogt`` is
the older name of ``backend.train pseudogt``).
Importing this package imports nothing heavy; the modules above import torch and backend.render.
"""
