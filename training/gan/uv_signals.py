"""Quality signals in UV space that take seconds: how close a generator's maps are to a held-out pseudo-GT.

A rendered FID costs minutes on a CPU; these compare the generator's texture and displacement maps with a held-out
part of the pseudo-GT directly, so a run can log them often and pick its best checkpoint by them. The masking trick
makes partial textures comparable: generated sample i is multiplied by held-out item i's alpha and compared with
item i's texture x alpha, so both sets see the same visibility pattern and only the colours differ.

Signals (``uv_signals``; lower is better unless said otherwise):

* ``mean_l1`` / ``std_l1``: alpha-weighted L1 between the per-texel mean maps (and standard-deviation maps) of the two
  sets, in texture units ([-1, 1] range). Wheels, window bands and lights are where these maps have structure.
* ``swd``: sliced Wasserstein distance between 7x7 patches of the masked textures' Laplacian pyramids (levels
  128² .. 16², like Karras et al. 2018), x 1e3, averaged over levels; ``swd_<size>`` per level.
* ``mesh_fd``: Fréchet distance of the displacement maps, in the top principal components of the reference maps.
* ``precision`` / ``recall`` / ``coverage`` (higher is better, in [0, 1]): k-nearest-neighbour manifolds
  (Kynkäänniemi et al. 2019; coverage: Naeem et al. 2020) on pooled masked textures + pooled meshes. Mode
  collapse and a single mean texture show as low recall and coverage; noise as low precision.
* ``memorisation`` (only with a training reference): median distance of generated samples to their nearest training
  item over the same for held-out items. About 1 or more is healthy; well under 1 means samples copy training items.

All signals are deterministic for given inputs (patch positions and projections come from ``seed``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

#: Pyramid levels (texture side) used by the SWD, patches per image and level, projection count.
SWD_PATCH = 7
SWD_PATCHES_PER_IMAGE = 32
SWD_DIRECTIONS = 256
#: Neighbourhood size of the precision / recall / coverage manifolds; pooled grid of the NN features.
NN_K = 5
NN_TEXTURE_GRID = 16
NN_MESH_GRID = 8
#: Principal components of the displacement maps kept for their Fréchet distance.
MESH_COMPONENTS = 32

SIGNAL_NAMES = ("mean_l1", "std_l1", "swd", "mesh_fd", "precision", "recall", "coverage")


def weighted_moments(texture: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-texel alpha-weighted mean and std over the set: (N, 3, T, T), (N, 1, T, T) -> (3, T, T) x 2 and the
    weight map sum_i alpha_i (1, T, T)."""
    weight = alpha.sum(0)
    safe = weight.clamp_min(1e-6)
    mean = (alpha * texture).sum(0) / safe
    var = (alpha * (texture - mean).pow(2)).sum(0) / safe
    return mean, var.clamp_min(0).sqrt(), weight


def _weighted_l1(a: Tensor, b: Tensor, weight: Tensor) -> float:
    return float(((a - b).abs() * weight).sum() / (3 * weight.sum()).clamp_min(1e-6))


def laplacian_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """(N, C, T, T) -> [band at T, band at T/2, ..., low-pass at T / 2^(levels-1)] (Gaussian-blur free: 2x2 box)."""
    bands = []
    current = x
    for _ in range(levels - 1):
        low = F.avg_pool2d(current, 2)
        bands.append(current - F.interpolate(low, scale_factor=2.0, mode="nearest"))
        current = low
    bands.append(current)
    return bands


def _patch_positions(alpha: Tensor, count: int, patch: int, generator: torch.Generator) -> Tensor:
    """(N, count, 2) top-left corners, drawn with probability proportional to alpha at the patch centre."""
    n, _, h, w = alpha.shape
    inner = alpha[:, 0, patch // 2:h - patch // 2, patch // 2:w - patch // 2].reshape(n, -1) + 1e-6
    flat = torch.multinomial(inner, count, replacement=True, generator=generator)
    width = w - 2 * (patch // 2)
    return torch.stack([flat // width, flat % width], dim=-1)


def _patches(band: Tensor, positions: Tensor, patch: int) -> Tensor:
    """band (N, C, H, W), positions (N, P, 2) -> descriptors (N * P, C * patch * patch)."""
    n, c, _, _ = band.shape
    offsets = torch.arange(patch)
    rows = positions[:, :, 0, None] + offsets          # (N, P, patch)
    cols = positions[:, :, 1, None] + offsets
    idx_n = torch.arange(n)[:, None, None, None]
    out = band.permute(0, 2, 3, 1)[idx_n, rows[:, :, :, None], cols[:, :, None, :]]   # (N, P, patch, patch, C)
    return out.reshape(n * positions.shape[1], patch * patch * c)


def sliced_wasserstein(a: Tensor, b: Tensor, directions: int, generator: torch.Generator) -> float:
    """SWD between descriptor sets a, b (M, D) of the same size: mean over random unit directions of the mean
    absolute difference of the sorted projections."""
    proj = torch.randn(a.shape[1], directions, generator=generator, dtype=a.dtype)
    proj = proj / proj.norm(dim=0, keepdim=True)
    pa, _ = torch.sort(a @ proj, dim=0)
    pb, _ = torch.sort(b @ proj, dim=0)
    return float((pa - pb).abs().mean())


def _pca_frechet(reference: Tensor, other: Tensor, components: int) -> float:
    from fid.statistics import frechet_distance

    ref = reference.flatten(1).double()
    oth = other.flatten(1).double()
    centre = ref.mean(0)
    k = max(1, min(components, ref.shape[0] - 1))
    _, _, vh = torch.linalg.svd(ref - centre, full_matrices=False)
    basis = vh[:k].T
    pr, po = ((ref - centre) @ basis).numpy(), ((oth - centre) @ basis).numpy()
    value = frechet_distance(pr.mean(0), np.atleast_2d(np.cov(pr, rowvar=False)),
                             po.mean(0), np.atleast_2d(np.cov(po, rowvar=False)), method="eigh")
    return max(0.0, value)   # rounding can give -1e-15 for identical sets


def nn_features(texture: Tensor, alpha: Tensor, mesh: Tensor) -> tuple[Tensor, Tensor]:
    """Pooled masked texture (N, 3 * 16²) and pooled displacement map (N, 3 * 8²), float64."""
    grid_t = texture.shape[-1] // NN_TEXTURE_GRID
    grid_m = max(1, mesh.shape[-1] // NN_MESH_GRID)
    tex = F.avg_pool2d((texture * alpha).float(), grid_t).flatten(1).double()
    msh = F.avg_pool2d(mesh.float(), grid_m).flatten(1).double()
    return tex, msh


def _combine_features(tex: Tensor, msh: Tensor, scales: tuple[float, float]) -> Tensor:
    return torch.cat([tex / scales[0], msh / scales[1]], dim=1)


def _kth_radius(x: Tensor, k: int) -> Tensor:
    d = torch.cdist(x, x)
    k = min(k, x.shape[0] - 1)
    return d.kthvalue(k + 1, dim=1).values   # the k-th neighbour (0-th is the point itself)


def precision_recall_coverage(real: Tensor, fake: Tensor, k: int = NN_K) -> dict[str, float]:
    """k-NN precision, recall (Kynkäänniemi et al. 2019) and coverage (Naeem et al. 2020) of feature sets (N, D)."""
    real_r, fake_r = _kth_radius(real, k), _kth_radius(fake, k)
    d = torch.cdist(fake, real)                      # (F, R)
    in_real = d <= real_r[None, :]
    precision = in_real.any(1).double().mean()
    recall = (d.T <= fake_r[None, :]).any(1).double().mean()
    coverage = in_real.any(0).double().mean()
    return {"precision": float(precision), "recall": float(recall), "coverage": float(coverage)}


@dataclass
class UVReference:
    """A held-out pseudo-GT part as the reference of ``uv_signals``.

    texture (N, 3, T, T) in [-1, 1] (0 where unseen), alpha (N, 1, T, T) in [0, 1], mesh (N, 3, M, M); float32.
    train: optional (texture, alpha, mesh) of training items for the memorisation signal.
    """

    texture: Tensor
    alpha: Tensor
    mesh: Tensor
    train: tuple[Tensor, Tensor, Tensor] | None = None

    @classmethod
    def from_pseudogt(cls, data, train=None, limit_train: int = 2000) -> "UVReference":
        """From a ``PseudoGTSet`` (the held-out part) and optionally the training part."""
        pack = lambda d, n=None: (d.texture[:n].float(), d.alpha[:n].float(), d.mesh[:n].float())  # noqa: E731
        return cls(*pack(data), train=None if train is None else pack(train, limit_train))

    def __len__(self) -> int:
        return int(self.texture.shape[0])


def uv_signals(fake_texture: Tensor, fake_mesh: Tensor, reference: UVReference, seed: int = 0,
               fake_alpha: Tensor | None = None) -> dict[str, float]:
    """The signals of the module docstring for N generated maps against the N reference items.

    fake_texture (N, 3, T, T) in [-1, 1]; fake_mesh (N, 3, M, M). Sample i is masked by reference alpha i.
    fake_alpha (N, 1, T, T): when the "generated" maps are themselves partial (another pseudo-GT part, as in the
    soundness checks), both sides are masked by the product of the two alphas.
    """
    n = len(reference)
    if fake_texture.shape != reference.texture.shape or fake_mesh.shape != reference.mesh.shape:
        raise ValueError(f"generated maps {tuple(fake_texture.shape)} / {tuple(fake_mesh.shape)} do not match the "
                         f"reference {tuple(reference.texture.shape)} / {tuple(reference.mesh.shape)}")
    if n < NN_K + 2:
        raise ValueError(f"the reference needs at least {NN_K + 2} items, got {n}")
    alpha = reference.alpha.float()
    if fake_alpha is not None:
        alpha = alpha * fake_alpha.float()
    real_t, fake_t = reference.texture.float(), fake_texture.float()
    out: dict[str, float] = {}

    mean_r, std_r, weight = weighted_moments(real_t, alpha)
    mean_f, std_f, _ = weighted_moments(fake_t, alpha)
    out["mean_l1"] = _weighted_l1(mean_r, mean_f, weight)
    out["std_l1"] = _weighted_l1(std_r, std_f, weight)

    rng = torch.Generator().manual_seed(seed)
    size = real_t.shape[-1]
    levels = max(1, int(np.log2(size // 16)) + 1)
    bands_r = laplacian_pyramid(real_t * alpha, levels)
    bands_f = laplacian_pyramid(fake_t * alpha, levels)
    alpha_level = alpha
    swd = []
    for band_r, band_f in zip(bands_r, bands_f):
        positions = _patch_positions(alpha_level, SWD_PATCHES_PER_IMAGE, SWD_PATCH, rng)
        desc_r = _patches(band_r, positions, SWD_PATCH).double()
        desc_f = _patches(band_f, positions, SWD_PATCH).double()
        mu, sd = desc_r.mean(0), desc_r.std(0).clamp_min(1e-6)
        value = 1e3 * sliced_wasserstein((desc_r - mu) / sd, (desc_f - mu) / sd, SWD_DIRECTIONS, rng)
        out[f"swd_{band_r.shape[-1]}"] = value
        swd.append(value)
        alpha_level = F.avg_pool2d(alpha_level, 2)
    out["swd"] = float(np.mean(swd))

    out["mesh_fd"] = _pca_frechet(reference.mesh, fake_mesh, MESH_COMPONENTS)

    tex_r, msh_r = nn_features(real_t, alpha, reference.mesh)
    tex_f, msh_f = nn_features(fake_t, alpha, fake_mesh)
    scales = (float(tex_r.std(0).norm()) or 1.0, float(msh_r.std(0).norm()) or 1.0)
    feat_r = _combine_features(tex_r, msh_r, scales)
    feat_f = _combine_features(tex_f, msh_f, scales)
    out.update(precision_recall_coverage(feat_r, feat_f))

    if reference.train is not None:
        tex_t, msh_t = nn_features(*reference.train)
        feat_t = _combine_features(tex_t, msh_t, scales)
        fake_nn = torch.cdist(feat_f, feat_t).min(1).values.median()
        held_nn = torch.cdist(feat_r, feat_t).min(1).values.median()
        out["memorisation"] = float(fake_nn / held_nn.clamp_min(1e-12))
    return out


@torch.no_grad()
def generate_maps(generator, count: int, latent_dim: int, seed: int = 1234, truncation: float | None = 1.0,
                  batch_size: int = 64) -> tuple[Tensor, Tensor]:
    """``count`` samples of an unconditional generator (a training-form or inference module, eval mode):
    texture (count, 3, T, T), mesh (count, 3, M, M). Latents from ``seed``, truncated normal of sigma
    ``truncation`` (the evaluation protocol's sampler, ``backend.models.truncated_normal``; None: no truncation)."""
    from backend.models import truncated_normal

    rng = torch.Generator().manual_seed(seed)
    z = truncated_normal((count, latent_dim), 1000.0 if truncation is None else truncation, rng)
    param = next(iter([*generator.parameters(), *generator.buffers()]))
    textures, meshes = [], []
    for start in range(0, count, batch_size):
        t, m = generator(z[start:start + batch_size].to(param.device, param.dtype))
        textures.append(t.float().cpu())
        meshes.append(m.float().cpu())
    return torch.cat(textures), torch.cat(meshes)
