"""GAN training on a tiny pseudo-GT set: learning, EMA, checkpoints that inference loads, resume, bad input."""
from __future__ import annotations

import json

import pytest
import torch

from backend.models import load_model
from tests.resume_contract import assert_resume_error
from training.engine.stage import Events
from training.gan import PRESETS, GANTrainer, RunOptions, TrainingError, run_gan
from training.pseudogt import PseudoGTError, open_pseudogt

from .conftest import write_tiny_pseudogt

TINY = PRESETS["tiny"]


@pytest.fixture()
def data(tiny_pseudogt):
    return open_pseudogt(tiny_pseudogt)


def test_d_steps_lower_the_d_loss_and_g_steps_lower_the_g_loss(data):
    trainer = GANTrainer(TINY.replace(lr_d=1e-3, lr_g=1e-3), data)
    d_losses = [sum(trainer.train_step("d").losses.values()) for _ in range(15)]
    assert sum(d_losses[-3:]) / 3 < sum(d_losses[:3]) / 3 - 0.05
    g_losses = [trainer.train_step("g").losses["g"] for _ in range(15)]
    assert sum(g_losses[-3:]) / 3 < sum(g_losses[:3]) / 3 - 0.05


def test_schedule_batches_and_ema(data):
    trainer = GANTrainer(TINY, data)
    kinds = [trainer.train_step().kind for _ in range(6)]
    assert kinds == ["g", "d", "d", "g", "d", "d"]
    idx_a, z_a, f_a = trainer.global_batch(4)
    idx_b, z_b, f_b = trainer.global_batch(4)
    assert torch.equal(idx_a, idx_b) and torch.equal(z_a, z_b) and torch.equal(f_a, f_b)
    epoch_indices = torch.cat([trainer.global_batch(s)[0] for s in range(trainer.steps_per_epoch)])
    assert sorted(epoch_indices.tolist()) == list(range(len(data)))  # one epoch sees every item once
    # the EMA moved toward the trained generator but is not it
    g, e = trainer.generator.state_dict(), trainer.generator_ema.state_dict()
    assert not torch.equal(g["fc.weight"], e["fc.weight"])


def test_checkpoint_loads_for_inference_and_resumes_exactly(tmp_path, data):
    trainer = GANTrainer(TINY, data)
    for _ in range(4):
        trainer.train_step()
    path = trainer.save(tmp_path / "checkpoint_latest.safetensors")
    model = load_model(path)   # backend.generate --checkpoint / backend.serve --checkpoint read it as it is
    assert model.config == TINY.generator and not model.untrained
    z = torch.randn(2, TINY.generator.latent_dim)
    with torch.no_grad():
        ema = trainer.export_generator()   # the EMA with refreshed spectral norm and re-estimated BN statistics
        expected = ema(z)
        got = model.generator(z)
    # Compare with a tolerance relative to the outputs' size (folding and memory layout reorder float sums).
    assert (expected[0] - got[0]).abs().mean() < 1e-3 and (expected[0] - got[0]).abs().max() < 2e-2
    assert torch.allclose(expected[1], got[1], rtol=1e-4, atol=1e-4 * float(expected[1].abs().max()))
    after = [trainer.train_step().losses for _ in range(3)]
    resumed = GANTrainer(TINY, data)
    resumed.load(path)
    assert resumed.step == 4
    again = [resumed.train_step().losses for _ in range(3)]
    for a, b in zip(after, again):
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=1e-5, abs=1e-6)


def test_official_export_loads_without_pickled_code(tmp_path, data):
    trainer = GANTrainer(TINY, data)
    trainer.train_step()
    path = trainer.export_official(tmp_path / "checkpoint_latest.pth")
    content = torch.load(path, weights_only=True)
    assert {"generator", "generator_running_avg", "discriminator", "epoch", "iteration", "args"} <= set(content)
    assert "d1.conv1.weight_orig" in content["discriminator"]
    model = load_model(path)
    assert model.config.texture_resolution == 128


def test_bad_inputs_give_one_line_errors(tmp_path, data):
    with pytest.raises(PseudoGTError, match="does not exist"):
        open_pseudogt(tmp_path / "nothing")
    (tmp_path / "empty" / "items").mkdir(parents=True)
    with pytest.raises(PseudoGTError, match="not a finished pseudo-GT folder"):
        open_pseudogt(tmp_path / "empty")
    small = open_pseudogt(write_tiny_pseudogt(tmp_path / "tex64", count=4, resolution=64))
    with pytest.raises(TrainingError, match="64² textures"):
        GANTrainer(TINY, small)
    with pytest.raises(TrainingError, match="fewer than the batch size"):
        GANTrainer(TINY.replace(batch_size=16), data)
    # a checkpoint of another configuration is refused on resume
    trainer = GANTrainer(TINY, data)
    path = trainer.save(tmp_path / "a.safetensors")
    other = GANTrainer(TINY.replace(d_width=0.25), data)
    with pytest.raises(TrainingError) as refused:    # the stage contract's one-line resume error
        other.load(path)
    assert_resume_error(str(refused.value), "d_width")


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path, tiny_pseudogt):
    data = open_pseudogt(tiny_pseudogt)
    out = tmp_path / "run"
    run_gan(TINY.replace(steps=3), data, RunOptions(out=out, preview_every=0))
    good = (out / "checkpoint_latest.safetensors").read_bytes()
    data.texture[:] = float("inf")
    with pytest.raises(TrainingError, match="non-finite"):
        run_gan(TINY.replace(steps=9), data, RunOptions(out=out, resume=True, preview_every=0))
    assert (out / "checkpoint_latest.safetensors").read_bytes() == good


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, data, monkeypatch):
    import safetensors.torch as st

    out = tmp_path / "run"
    run_gan(TINY.replace(steps=3), data, RunOptions(out=out, preview_every=0))
    before = (out / "checkpoint_latest.safetensors").read_bytes()
    real_save = st.save_file

    def full_disk(tensors, filename, metadata=None):
        real_save(dict(list(tensors.items())[:1]), filename, metadata=metadata)  # a partial write, then ENOSPC
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(st, "save_file", full_disk)
    events = []
    summary = run_gan(TINY.replace(steps=6), data, RunOptions(out=out, resume=True, preview_every=0),
                      events=Events(message=events.append))
    assert summary.steps == 6   # training went on; only the writes failed
    assert any("could not write checkpoint_latest" in e for e in events)
    assert any("could not write generator_ema" in e for e in events)
    assert (out / "checkpoint_latest.safetensors").read_bytes() == before
    assert not list(out.glob("*.partial"))
    monkeypatch.setattr(st, "save_file", real_save)
    assert load_model(out / "checkpoint_latest.safetensors").provenance["trained_steps"] == 3


def test_existing_run_needs_resume(tmp_path, data):
    out = tmp_path / "run"
    run_gan(TINY.replace(steps=2), data, RunOptions(out=out, preview_every=0))
    with pytest.raises(TrainingError, match="--resume"):
        run_gan(TINY.replace(steps=4), data, RunOptions(out=out, preview_every=0))
    summary = run_gan(TINY.replace(steps=4), data, RunOptions(out=out, resume=True, preview_every=0, log_every=1))
    assert summary.steps == 4
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows][-2:] == [3, 4]


def test_warm_start_from_a_model_file(tmp_path, data):
    """--init_generator: a new run starts from a shipped model's weights (G and EMA), D fresh, provenance kept."""
    first = tmp_path / "first"
    run_gan(TINY.replace(steps=4), data, RunOptions(out=first, preview_every=0))
    model_file = first / "generator_ema.safetensors"
    shipped = load_model(model_file)
    assert shipped.provenance["trained_steps"] == 4

    trainer = GANTrainer(TINY, data)
    fresh = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    prov = trainer.init_generator_from(model_file)
    assert prov["trained_steps"] == 4
    source = first / "checkpoint_latest.safetensors"
    from safetensors.torch import load_file
    ema_weights = {k: v for k, v in load_file(str(source)).items() if not k.startswith("train/")}
    for name, value in trainer.generator.state_dict().items():
        assert torch.equal(value, ema_weights[name]), name
        assert torch.equal(trainer.generator_ema.state_dict()[name], ema_weights[name]), name
    assert any(not torch.equal(fresh[k], ema_weights[k]) for k in fresh if fresh[k].is_floating_point())

    second = tmp_path / "second"
    run_gan(TINY.replace(steps=2), data, RunOptions(out=second, preview_every=0, init_generator=model_file))
    resumed = GANTrainer(TINY.replace(steps=4), data)
    resumed.load(second / "checkpoint_latest.safetensors")
    assert resumed.provenance["warm_start"]["trained_steps"] == 4
    assert load_model(second / "generator_ema.safetensors").provenance["warm_start"]["file"] == str(model_file)


def test_warm_start_refuses_other_architectures_and_non_models(tmp_path, data):
    other = TINY.replace(generator=TINY.generator.__class__(**{**TINY.generator.to_dict(), "latent_dim": 32}))
    out = tmp_path / "other"
    run_gan(other.replace(steps=1), data, RunOptions(out=out, preview_every=0))
    trainer = GANTrainer(TINY, data)
    with pytest.raises(TrainingError, match="choose the matching preset"):
        trainer.init_generator_from(out / "generator_ema.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    with pytest.raises(TrainingError, match="cannot be read"):
        trainer.init_generator_from(junk)
