"""The stage contract (training/engine/stage.py) as the stages use it: one preset default (``paper`` on CUDA, ``cpu``
elsewhere, checked here on a faked CUDA device: a ``torch.device("cuda")`` object, nothing runs on it), parsers
whose choices are the presets, overrides merged and checked in one place, one events type, one resume error.

Each stage's resume error from a real run or file is checked beside the stage's own tests (tests/data,
tests/poses, tests/recon, tests/pseudogt, tests/gan) with ``tests.resume_contract.assert_resume_error``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from backend.train import _with_default_command, build_parser
from tests.resume_contract import assert_resume_error
from training.engine.stage import (Events, ResumeError, TqdmEvents, apply_overrides, check_resume, config_from_dict,
                                   default_preset, resolve_preset)

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


def parse(*words: str):
    parser, defaults = build_parser()
    return parser.parse_args(_with_default_command(list(words), defaults))


@pytest.mark.parametrize("device, preset", [(CUDA, "paper"), (torch.device("cuda", 1), "paper"), ("cuda:0", "paper"),
                                            (CPU, "cpu"), ("cpu", "cpu")])
def test_one_default_rule(device, preset):
    assert default_preset(device) == preset


def test_poses_default_to_paper_on_cuda():
    from training.poses.cli import _config
    from training.poses.config import PRESETS

    args = parse("poses", "--collection", "c", "--out", "p.safetensors")
    assert _config(args, CUDA) == ("paper", PRESETS["paper"])
    assert _config(args, CPU) == ("cpu", PRESETS["cpu"])
    assert _config(parse("poses", "--collection", "c", "--out", "p", "--preset", "cpu"), CUDA).name == "cpu"


def test_recon_defaults_to_paper_on_cuda():
    from training.recon.config import PRESETS
    from training.recon.train import TrainOptions, run_preset

    options = TrainOptions(collection="c", poses="truth", out="o")
    assert run_preset(options, CUDA) == ("paper", PRESETS["paper"])
    assert run_preset(options, CPU) == ("cpu", PRESETS["cpu"])
    assert parse("recon", "--collection", "c", "--poses", "truth", "--out", "o").preset is None


def test_gan_defaults_to_paper_on_cuda():
    from training.gan.cli import _config
    from training.gan.config import PRESETS

    args = parse("gan", "--pseudogt", "pg", "--out", "run")
    assert _config(args, CUDA) == PRESETS["paper"]
    assert _config(args, CPU) == PRESETS["cpu"]


def test_the_pipeline_passes_the_devices_preset_to_every_stage(tmp_path):
    from training.pipeline.stages import PipelineOptions, pipeline_preset, plan

    options = PipelineOptions(collection=tmp_path / "c", out=tmp_path / "r", device="cuda")
    presets = {s.name: s.argv[s.argv.index("--preset") + 1] for s in plan(options) if "--preset" in s.argv}
    assert presets == {"poses": "paper", "recon": "paper", "gan": "paper"}
    plain = PipelineOptions(collection=tmp_path / "c", out=tmp_path / "r")
    assert pipeline_preset(plain, {}, CUDA) == "paper" and pipeline_preset(plain, {}, CPU) == "cpu"
    assert pipeline_preset(plain, {"preset": "cpu"}, CUDA) == "cpu"          # a resumed run keeps its preset
    assert pipeline_preset(dataclasses.replace(plain, preset="cpu"), {}, CUDA) == "cpu"


def test_preset_flags_take_their_choices_from_the_presets():
    from training.gan.config import PRESETS as GAN
    from training.poses.config import PRESETS as POSES
    from training.recon.config import PRESETS as RECON

    parser, _ = build_parser()
    groups = next(a for a in parser._actions if a.dest == "group").choices

    def preset_choices(*path: str):
        node = groups[path[0]]
        for name in path[1:]:
            node = next(a for a in node._actions if a.dest == "command").choices[name]
        return next(a for a in node._actions if a.dest == "preset").choices

    assert preset_choices("poses", "run") == list(POSES)
    assert preset_choices("recon", "train") == list(RECON)
    assert preset_choices("gan", "train") == list(GAN) and "tiny" in GAN
    assert preset_choices("pipeline", "run") == ["paper", "cpu"]


def test_overrides_are_merged_and_checked_in_one_place():
    from training.gan.config import PRESETS

    name, config = resolve_preset(PRESETS, "cpu", CUDA, {"d_width": 0.5, "generator": {"width": 0.5}, "seed": None})
    assert name == "cpu" and config.d_width == 0.5 and config.generator.width == 0.5
    assert config.generator.texture_resolution == 128 and config.seed == PRESETS["cpu"].seed   # None: not given
    with pytest.raises(ValueError, match="unknown GAN setting 'widht'"):
        resolve_preset(PRESETS, "cpu", CPU, {"widht": 2}, stage="GAN")
    with pytest.raises(ValueError, match="unknown GAN preset 'huge'; choose one of paper, cpu, cpu_gan, tiny"):
        resolve_preset(PRESETS, "huge", CPU, stage="GAN")
    with pytest.raises(ValueError, match="lr_d must be in"):        # the config checks its own values
        apply_overrides(PRESETS["cpu"], {"lr_d": 2.0})


def test_stored_configs_refuse_unknown_keys_the_same_way():
    from backend.models import GeneratorConfig
    from training.gan.config import GANConfig
    from training.recon.config import NetworkConfig, TrainConfig

    for cls, what in ((GeneratorConfig, "generator config"), (GANConfig, "GAN config"),
                      (NetworkConfig, "network config"), (TrainConfig, "training config")):
        data = {**cls().to_dict(), "newer": 1}
        with pytest.raises(ValueError, match=f"unknown {what} keys: newer"):
            cls.from_dict(data)
        assert cls.from_dict(cls().to_dict()) == cls()
    with pytest.raises(ValueError, match="must be a JSON object"):
        config_from_dict(TrainConfig, [1], "training config")


def test_one_resume_error():
    with pytest.raises(ResumeError) as refused:
        check_resume(Path("runs/a"), {"seed": 1, "width": 0.5}, {"seed": 2, "width": 0.5})
    assert str(refused.value) == ("runs/a was made with other settings (seed: saved 1, requested 2); resume with the "
                                  "same settings or choose a new --out")
    assert_resume_error(str(refused.value), "seed")
    check_resume("runs/a", {"seed": 1, "limit": 5}, {"seed": 1}, keys=["seed"])      # only what was asked


def test_events_reach_callbacks_and_tqdm(capsys):
    seen = []
    events = Events(start=lambda *a: seen.append(("start", *a)), advance=lambda *a: seen.append(("advance", *a)),
                    message=seen.append)
    events.start("train", 10, 4)
    events.advance("train", 2, {"loss": 0.5})
    events.message("checkpoint written")
    assert seen == [("start", "train", 10, 4), ("advance", "train", 2, {"loss": 0.5}), "checkpoint written"]
    Events().advance("anything")          # no callbacks: nothing happens
    with TqdmEvents(labels={"train": "recon"}, units={"train": "it"}) as bars:
        bars.start("train", 10, 4)
        bars.advance("train", 2, {"loss": 0.5})
        assert bars.bars["train"].n == 6
        bars.start("next", 3)             # a new phase closes the bars before it
        assert list(bars.bars) == ["next"]
    assert bars.bars == {}
    assert "resuming: 4 of 10 iterations already done" in capsys.readouterr().err
