"""`backend.train gan train --width / --d_width / --texture_resolution`: preset overrides that reach the networks."""
from __future__ import annotations

import pytest
import torch

from backend.models import load_model
from backend.train import build_parser, _with_default_command
from training.gan import PRESETS, GANTrainer, TrainingError
from training.gan.cli import _config
from training.pseudogt import open_pseudogt


def parse(*words: str):
    parser, defaults = build_parser()
    return parser.parse_args(_with_default_command(["gan", "--pseudogt", "pg", "--out", "run", *words], defaults))


def test_overrides_replace_the_preset_values_and_keep_the_rest():
    cpu = PRESETS["cpu"]
    config = _config(parse("--preset", "cpu", "--width", "0.5", "--d_width", "0.375"), torch.device("cpu"))
    assert config.generator.width == 0.5 and config.d_width == 0.375
    assert config.generator.texture_resolution == cpu.generator.texture_resolution == 128
    assert config.batch_size == cpu.batch_size and config.lr_g == cpu.lr_g
    config = _config(parse("--preset", "cpu", "--texture_resolution", "256"), torch.device("cpu"))
    assert config.generator.texture_resolution == 256 and config.generator.width == cpu.generator.width
    assert _config(parse("--preset", "cpu"), torch.device("cpu")) == cpu
    config = _config(parse("--preset", "cpu", "--lr_g", "2e-4", "--lr_d", "5e-4", "--d_steps_per_g", "1"),
                     torch.device("cpu"))
    assert (config.lr_g, config.lr_d, config.d_steps_per_g) == (2e-4, 5e-4, 1)
    assert config.generator == cpu.generator and config.betas == cpu.betas


@pytest.mark.parametrize("words, message", [
    (("--width", "9"), "width must be a number in"),
    (("--d_width", "0"), "d_width must be > 0"),
    (("--texture_resolution", "200"), "texture_resolution must be a power of two"),
    (("--lr_g", "0"), "lr_g must be in"),
    (("--lr_d", "3"), "lr_d must be in"),
    (("--d_steps_per_g", "0"), "d_steps_per_g must be >= 1"),
])
def test_bad_overrides_are_one_line_errors(words, message):
    with pytest.raises(ValueError, match=message):
        _config(parse("--preset", "cpu", *words), torch.device("cpu"))


def test_a_wider_generator_trains_and_its_checkpoint_loads_with_that_width(tmp_path, tiny_pseudogt):
    data = open_pseudogt(tiny_pseudogt)
    config = _config(parse("--preset", "tiny", "--width", "0.1875", "--d_width", "0.1875"), torch.device("cpu"))
    trainer = GANTrainer(config, data)
    narrow = GANTrainer(PRESETS["tiny"], data)
    count = lambda module: sum(p.numel() for p in module.parameters())   # noqa: E731
    assert count(trainer.generator) > count(narrow.generator)
    assert count(trainer.discriminator) > count(narrow.discriminator)
    for _ in range(3):
        trainer.train_step()
    model = load_model(trainer.save(tmp_path / "wide.safetensors"))
    assert model.config.width == 0.1875 and not model.untrained
    # a texture size the pseudo-GT does not have is refused with the sizes named
    with pytest.raises(TrainingError, match="128² textures"):
        GANTrainer(_config(parse("--preset", "tiny", "--texture_resolution", "256"), torch.device("cpu")), data)


def test_one_d_step_per_g_step_alternates_and_a_resume_takes_the_requested_learning_rates(tmp_path, tiny_pseudogt):
    data = open_pseudogt(tiny_pseudogt)
    config = _config(parse("--preset", "tiny", "--d_steps_per_g", "1"), torch.device("cpu"))
    trainer = GANTrainer(config, data)
    kinds = []
    for _ in range(4):
        before = [p.detach().clone() for p in trainer.generator.parameters()]
        trainer.train_step()
        moved = any(not torch.equal(a, b) for a, b in zip(before, trainer.generator.parameters()))
        kinds.append("G" if moved else "D")
    assert kinds == ["G", "D", "G", "D"]
    path = trainer.save(tmp_path / "latest.safetensors")

    slower = GANTrainer(config.replace(lr_g=config.lr_g / 10), data)
    slower.load(path)
    assert [g["lr"] for g in slower.opt_g.param_groups] == [config.lr_g / 10]
    assert [g["lr"] for g in slower.opt_d.param_groups] == [config.lr_d]
    assert slower.step == 4
    slower.train_step()
    assert slower.step == 5
    # the D:G ratio shapes the data order and schedule, so it stays a resume key
    with pytest.raises(TrainingError, match="d_steps_per_g"):
        GANTrainer(config.replace(d_steps_per_g=2), data).load(path)
