"""The encoder start (a VAE whose decoder is the generator), the fold of its latent Gaussian, the EMA counted in
images, and the refresh of the EMA generator before evaluation and export."""
from __future__ import annotations

import copy

import pytest
import torch

from backend.models import Generator, GeneratorConfig, load_model
from training.gan import PRESETS, GANTrainer
from training.gan.config import GANConfig
from training.gan.latent_fold import fit_latent_gaussian, fold_latent_gaussian
from training.gan.refresh import reestimate_batch_norm, refresh_spectral_norm
from training.pseudogt import open_pseudogt

from .conftest import write_tiny_pseudogt

TINY = PRESETS["tiny"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return open_pseudogt(write_tiny_pseudogt(tmp_path_factory.mktemp("pg16"), count=16))


def _trained_generator(config: GeneratorConfig, seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    g = Generator(config)
    with torch.no_grad():   # a few train-mode passes give non-trivial BN statistics and SN vectors
        cls = torch.arange(8) % config.n_classes if config.conditional else None
        for _ in range(3):
            g(torch.randn(8, config.latent_dim), cls)
        for p in g.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return g.eval()


@pytest.mark.parametrize("n_classes", [0, 3])
def test_folded_generator_given_eps_returns_the_unfolded_one_at_mu_plus_l_eps(n_classes):
    config = GeneratorConfig(texture_resolution=128, width=0.125, n_classes=n_classes)
    g = _trained_generator(config).double()
    latents = torch.randn(300, 64, dtype=torch.float64) @ (0.3 * torch.randn(64, 64, dtype=torch.float64)) + 0.5
    gaussian = fit_latent_gaussian(latents)
    folded = fold_latent_gaussian(copy.deepcopy(g), gaussian).double()
    eps = torch.randn(6, 64, dtype=torch.float64)
    cls = torch.tensor([0, 1, 2, 0, 1, 2]) if n_classes else None
    with torch.no_grad():
        expected = g(gaussian.mean.double() + eps @ gaussian.scale_tril.double().T, cls)
        got = folded(eps, cls)
    for e, o in zip(expected, got):
        assert (e - o).abs().max() < 1e-5
    assert folded.state_dict().keys() == g.state_dict().keys()       # the same layout: an ordinary generator
    assert torch.allclose(gaussian.whiten(gaussian.sample(eps.float())), eps.float(), atol=1e-4)


def test_fitted_gaussian_recovers_mean_and_covariance():
    g = torch.Generator().manual_seed(0)
    scale = torch.tensor([[1.0, 0.0], [0.8, 0.5]])
    x = torch.randn(20000, 2, generator=g) @ scale.T + torch.tensor([2.0, -1.0])
    fit = fit_latent_gaussian(x)
    assert torch.allclose(fit.mean, torch.tensor([2.0, -1.0]), atol=0.03)
    assert torch.allclose(fit.scale_tril @ fit.scale_tril.T, scale @ scale.T, atol=0.03)
    diag = fit_latent_gaussian(x, kind="diagonal")
    assert diag.scale_tril[1, 0] == 0
    with pytest.raises(ValueError, match="kind"):
        fit_latent_gaussian(x, kind="mixture")


def test_encoder_start_loss_falls_then_the_fold_hands_over_to_the_gan(data, tmp_path):
    config = TINY.replace(encoder_steps=30, steps=36, encoder_lr=3e-3, d_warmup_steps=2, mirror=False)
    trainer = GANTrainer(config, data)
    rows = [trainer.train_step() for _ in range(30)]
    assert {r.kind for r in rows} == {"e"}
    first = sum(r.losses["texture_l1"] for r in rows[:5]) / 5
    last = sum(r.losses["texture_l1"] for r in rows[-5:]) / 5
    assert last < first - 0.05
    assert rows[-1].losses["kl_per_dim"] > 0          # the posterior carries information
    assert trainer.latent is None
    kinds = [trainer.train_step().kind for _ in range(6)]
    assert kinds == ["d", "d", "g", "d", "d", "g"]       # D warm-up, then the paper's schedule
    assert trainer.latent is not None and trainer.latent.mean.shape == (64,)
    # a checkpoint of the folded run resumes with the fold and loads for inference as an ordinary generator
    path = trainer.save(tmp_path / "ck.safetensors")
    again = GANTrainer(config, data)
    again.load(path)
    assert again.step == 36 and torch.equal(again.latent.scale_tril, trainer.latent.scale_tril)
    assert torch.equal(again.generator.fc.weight, trainer.generator.fc.weight)
    model = load_model(path)
    assert model.config == config.generator


def test_a_resume_inside_the_encoder_start_continues_exactly(data, tmp_path):
    config = TINY.replace(encoder_steps=8, steps=8)
    a = GANTrainer(config, data)
    for _ in range(4):
        a.train_step()
    path = a.save(tmp_path / "mid.safetensors")
    b = GANTrainer(config, data)
    b.load(path)
    la = [a.train_step().losses for _ in range(3)]
    lb = [b.train_step().losses for _ in range(3)]
    assert la == lb


def test_ema_half_life_counts_images_not_epochs(data):
    config = TINY.replace(ema_half_life_images=400.0)
    trainer = GANTrainer(config, data)
    assert trainer.ema_decay() == pytest.approx(0.5 ** (config.batch_size / 400.0))
    doubled = GANTrainer(config.replace(batch_size=8), data)
    # twice the images per update: the same half-life in images is half as many updates
    assert doubled.ema_decay() ** 1 == pytest.approx(trainer.ema_decay() ** 2)
    small = GANTrainer(TINY, data.subset(0, 8))
    big = GANTrainer(TINY, data)
    small.step = big.step = 20   # epoch 10 of 8 items, epoch 5 of 16; the paper's schedule depends on the epoch, i.e. on the dataset size
    assert small.ema_decay() != big.ema_decay()
    assert GANTrainer(config, data.subset(0, 8)).ema_decay() == trainer.ema_decay()


def test_spectral_norm_refresh_restores_unit_singular_vectors():
    g = _trained_generator(GeneratorConfig(texture_resolution=128, width=0.125))
    conv = g.blk1.conv1
    with torch.no_grad():
        conv.weight_u.mul_(0.6)                       # what averaging unit vectors does
    matrix = conv.weight_orig.detach().reshape(conv.weight_orig.shape[0], -1).double()
    true_sigma = torch.linalg.matrix_norm(matrix, ord=2)
    stale = torch.dot(conv.weight_u.double(), matrix @ conv.weight_v.double())
    assert refresh_spectral_norm(g) > 10
    fresh = torch.dot(conv.weight_u.double(), matrix @ conv.weight_v.double())
    assert abs(float(fresh / true_sigma) - 1) < 1e-3 < abs(float(stale / true_sigma) - 1)
    assert float(conv.weight_u.norm()) == pytest.approx(1.0, abs=1e-5)


def test_batch_norm_reestimation_measures_the_generators_own_statistics():
    g = _trained_generator(GeneratorConfig(texture_resolution=128, width=0.125))
    bn = g.blk1.norm1.norm
    with torch.no_grad():
        bn.running_mean.fill_(5.0)
        bn.running_var.fill_(100.0)
    reestimate_batch_norm(g, batches=2, batch_size=16, seed=3)
    assert not g.training and not bn.training
    # the statistics of what blk1.conv1 really outputs for z ~ N(0, I)
    captured = []
    hook = g.blk1.conv1.register_forward_hook(lambda m, i, o: captured.append(o))
    with torch.no_grad():
        g(torch.randn(64, 64))
    hook.remove()
    actual_mean = captured[0].mean((0, 2, 3))
    assert (bn.running_mean - actual_mean).abs().max() < 0.5 < (5.0 - actual_mean).abs().min()
    again = copy.deepcopy(g)
    reestimate_batch_norm(again, batches=2, batch_size=16, seed=3)
    assert torch.equal(again.blk1.norm1.norm.running_var, bn.running_var)     # seeded: reproducible


def test_checkpoints_hold_the_refreshed_ema_and_resume_from_the_trained_one(data, tmp_path):
    trainer = GANTrainer(TINY, data)
    for _ in range(4):
        trainer.train_step()
    path = trainer.save(tmp_path / "ck.safetensors")
    model = load_model(path)
    z = torch.randn(3, 64)
    with torch.no_grad():
        expected = trainer.export_generator()(z)
        got = model.generator(z)
    assert (expected[0] - got[0]).abs().max() < 2e-3
    again = GANTrainer(TINY, data)
    again.load(path)
    for key, value in trainer.generator_ema.state_dict().items():
        assert torch.equal(again.generator_ema.state_dict()[key], value), key


def test_bad_encoder_settings_are_clear_errors():
    with pytest.raises(ValueError, match="latent_fit"):
        GANConfig(latent_fit="mixture")
    with pytest.raises(ValueError, match="encoder_steps"):
        TINY.replace(encoder_steps=-1)


def test_an_unfolded_encoder_start_can_be_ended_early_but_a_folded_one_cannot_change(data, tmp_path):
    from training.gan import TrainingError

    config = TINY.replace(encoder_steps=100, steps=100)
    trainer = GANTrainer(config, data)
    for _ in range(3):
        trainer.train_step()
    path = trainer.save(tmp_path / "enc.safetensors")
    shorter = GANTrainer(config.replace(encoder_steps=3, steps=7, d_warmup_steps=1), data)
    shorter.load(path)                               # end the encoder start where it stands, then a D warm-up
    assert [shorter.train_step().kind for _ in range(4)] == ["d", "g", "d", "d"] and shorter.latent is not None
    with pytest.raises(TrainingError, match="past the requested"):
        GANTrainer(config.replace(encoder_steps=2), data).load(path)
    folded = shorter.save(tmp_path / "folded.safetensors")
    with pytest.raises(TrainingError, match="encoder_steps"):
        GANTrainer(config.replace(encoder_steps=4, steps=8, d_warmup_steps=1), data).load(folded)
    with pytest.raises(TrainingError, match="d_warmup_steps"):
        GANTrainer(config.replace(encoder_steps=3, steps=8, d_warmup_steps=2), data).load(folded)
