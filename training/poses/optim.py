"""The "AdamFull" optimiser of pose step 1 (§5.2 item 6): Adam with a full second-moment matrix per hypothesis.

Every hypothesis has D = 8 parameters (quaternion 4, scale 1, translation 2, z0 1). With g_k its gradient at
step k, m_k = β₁ m_{k-1} + (1 - β₁) g_k, A_k = β₂ A_{k-1} + (1 - β₂) g_k g_kᵀ and

    update_k = -lr / (1 - β₁ᵏ) · √(1 - β₂ᵏ) · (A_k + εI)^{-1/2} · m_k

(the inverse square root by a symmetric eigendecomposition, which equals the SVD for this PSD matrix).
It is invariant to rotations of the parameter space, and the first step has length exactly lr.
"""
from __future__ import annotations

import torch


class AdamFull:
    """Full-matrix Adam for B independent problems of dimension D.

    step(grad (B, D)) -> update (B, D) to add to the parameters. ``select(index)`` keeps a subset of the
    problems (pruning). State: m (B, D), A (B, D, D), the step count.
    """

    def __init__(self, batch: int, dim: int = 8, lr: float = 0.1, betas: tuple[float, float] = (0.9, 0.95),
                 eps: float = 1e-8, dtype: torch.dtype = torch.float64) -> None:
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.m = torch.zeros(batch, dim, dtype=dtype)
        self.A = torch.zeros(batch, dim, dim, dtype=dtype)
        self.k = 0

    def step(self, grad: torch.Tensor) -> torch.Tensor:
        g = grad.detach().to(self.m.dtype)
        self.k += 1
        self.m.mul_(self.beta1).add_(g, alpha=1 - self.beta1)
        self.A.mul_(self.beta2).add_(g[:, :, None] * g[:, None, :], alpha=1 - self.beta2)
        eye = torch.eye(self.A.shape[-1], dtype=self.A.dtype)
        values, vectors = torch.linalg.eigh(self.A + self.eps * eye)
        inv_sqrt = (vectors * values.clamp_min(self.eps).rsqrt()[:, None, :]) @ vectors.transpose(1, 2)
        scale = self.lr / (1 - self.beta1 ** self.k) * (1 - self.beta2 ** self.k) ** 0.5
        return -scale * (inv_sqrt @ self.m[:, :, None])[:, :, 0]

    def select(self, index: torch.Tensor) -> None:
        self.m = self.m[index]
        self.A = self.A[index]
