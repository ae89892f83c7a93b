"""Turn a GAN run into a shippable model: the EMA generator alone plus a JSON model card.

The card records what a user needs to trust and reproduce the model: the data, the settings, the commit, the
measured FID/KID with the real-vs-real floor, the training time, the date and the exact commands.
"""
from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path
from typing import Any

from backend.models import load_model, save_model
from backend.models.checkpoints import TRAINING_STATE_PREFIX
from training.engine import atomic_write_json


def _git_commit(repo: Path) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def ship_model(checkpoint: str | Path, out: str | Path, card: dict[str, Any], name: str = "car") -> tuple[Path, Path]:
    """Write ``out`` (EMA generator only, project format) and ``out`` with suffix ``.json`` (the card).

    checkpoint: a run's ``checkpoint_*.safetensors`` (or ``generator_ema.safetensors``). card: extra facts (data,
    figures, commands) merged into the card. Returns (model path, card path).
    """
    from safetensors import safe_open

    from backend.models import Generator

    checkpoint = Path(checkpoint)
    loaded = load_model(checkpoint)  # validates the file
    with safe_open(str(checkpoint), framework="pt") as f:
        state = {k: f.get_tensor(k) for k in f.keys() if not k.startswith(TRAINING_STATE_PREFIX)}
    generator = Generator(loaded.config)
    generator.load_state_dict(state)
    provenance = {k: v for k, v in loaded.provenance.items() if k != "model_card"}
    commit = _git_commit(Path(__file__).resolve().parents[2])
    full_card = {
        "name": name,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "architecture": loaded.config.to_dict(),
        "parameters": sum(p.numel() for p in generator.parameters()),
        "trained_steps": provenance.get("trained_steps"),
        "gan_config": provenance.get("gan_config"),
        "source_checkpoint": str(checkpoint),
        **card,
    }
    out = Path(out)
    save_model(out, generator, loaded.config, loaded.class_names or [name],
               {**provenance, "model_card": {k: full_card[k] for k in ("name", "created", "commit")}})
    card_path = atomic_write_json(out.with_suffix(".json"), full_card)
    return out, card_path
