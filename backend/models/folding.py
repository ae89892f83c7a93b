"""Inference form of the generator: spectral norm and batch norm folded once into plain weights.

* Spectral norm (§8.2): eval-mode PyTorch uses W = W_orig / (u^T W_mat v) with the *stored* u and v
  (EMA-averaged in released checkpoints, so not unit length); we fold exactly that, no power iteration.
* Conditional batch norm in eval mode is y = (x - mean) / sqrt(var + eps) * (1 + gamma(E)) + beta(E),
  which is x * a(E) + b(E) with a, b linear in E. All a/b of the network come from ONE matrix product
  at the start of the forward pass (``affine``), instead of 2 x 2 x 8 small Linear layers.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import GeneratorConfig
from .generator import Generator, condition_vector
from .layers import LEAKY_SLOPE, ConditionalBatchNorm, ResBlock, pad_x
from .symmetry import average_poles, mirror_half_width


def spectral_normalised_weight(conv: nn.Conv2d) -> Tensor:
    """W_orig / sigma with sigma = u^T (W_mat v) from the stored u, v (float64 maths, float32 result)."""
    weight = conv.weight_orig.detach().double()
    u = conv.weight_u.detach().double()
    v = conv.weight_v.detach().double()
    sigma = torch.dot(u, weight.reshape(weight.shape[0], -1) @ v)
    return (weight / sigma).to(conv.weight_orig.dtype)


def plain_conv(conv: nn.Conv2d, weight: Tensor) -> nn.Conv2d:
    """A copy of ``conv``'s geometry (no spectral norm) holding ``weight`` and its bias if any."""
    out = nn.utils.skip_init(nn.Conv2d, conv.in_channels, conv.out_channels, conv.kernel_size,
                             padding=conv.padding, bias=conv.bias is not None, device=weight.device,
                             dtype=weight.dtype)
    with torch.no_grad():
        out.weight.copy_(weight)
        if conv.bias is not None:
            out.bias.copy_(conv.bias.detach())
    return out.requires_grad_(False)


def folded_affine(norm: ConditionalBatchNorm) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(W_a, b_a, W_b, b_b) with a(E) = W_a E + b_a and b(E) = W_b E + b_b (float64, shapes (C, E_dim), (C,))."""
    bn = norm.norm
    inv_std = torch.rsqrt(bn.running_var.detach().double() + bn.eps)
    mean = bn.running_mean.detach().double()
    wg, bg = norm.fc_gamma.weight.detach().double(), norm.fc_gamma.bias.detach().double()
    wb, bb = norm.fc_beta.weight.detach().double(), norm.fc_beta.bias.detach().double()
    w_a = wg * inv_std[:, None]
    b_a = (bg + 1) * inv_std
    return w_a, b_a, wb - mean[:, None] * w_a, bb - mean * b_a


#: Activation budget per CPU chunk (about the L3 cache of the CPUs measured; see auto_cpu_batch_chunk).
CPU_CHUNK_BYTES = 32 * 1024 * 1024

#: Rows of the 3x3 kernel that land on each low-resolution row, for output row parity 0 and 1 (see below).
_PHASE_ROWS = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]],
                            [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]], dtype=torch.float64)


def subpixel_weight(weight: Tensor) -> Tensor:
    """3x3 kernel applied after nearest x2 upsampling -> four 2x2 kernels applied before it.

    weight (C_out, C_in, 3, 3) -> (4 * C_out, C_in, 2, 2), phases (row parity, column parity) in the order
    (0,0), (0,1), (1,0), (1,1). On a nearest-upsampled map, output row 2i reads low-res rows (i-1, i, i)
    through kernel rows (0, 1, 2), so rows 1 and 2 merge; row 2i+1 reads (i, i, i+1). Columns likewise.
    Zero, replicate and circular padding of the upsampled map are the same padding of the low-res map,
    so the result is exact and needs 16 instead of 36 multiply-adds per low-res pixel and channel pair.
    """
    w = weight.double()
    rows = _PHASE_ROWS.to(w.device)
    phases = [torch.einsum("ak,oikl,bl->oiab", rows[py], w, rows[px])
              for py in (0, 1) for px in (0, 1)]
    return torch.cat(phases).to(weight.dtype)


def _affine(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    return a[:, :, None, None], b[:, :, None, None]


class FoldedResBlock(nn.Module):
    """ResBlock with plain convs; its CBN scale/shift arrive precomputed as (B, C) tensors.

    upsampled_input=True: the block takes the map *before* the generator's nearest x2 upsampling,
    (B, C_in, H, W), and returns (B, C_out, 2H, 2W) exactly as the training form would on the upsampled
    map: conv1 runs as four 2x2 sub-pixel kernels and the shortcut at low resolution, so the upsampled
    input is never built.
    """

    def __init__(self, block: ResBlock, upsampled_input: bool) -> None:
        super().__init__()
        self.pad_mode = block.pad_mode
        self.upsampled_input = upsampled_input
        weight1 = spectral_normalised_weight(block.conv1)
        if upsampled_input:
            self.conv1 = nn.utils.skip_init(nn.Conv2d, block.conv1.in_channels, 4 * block.conv1.out_channels, 2,
                                            padding=(1, 0), bias=False, device=weight1.device, dtype=weight1.dtype)
            with torch.no_grad():
                self.conv1.weight.copy_(subpixel_weight(weight1))
            self.conv1.requires_grad_(False)
        else:
            self.conv1 = plain_conv(block.conv1, weight1)
        self.conv2 = plain_conv(block.conv2, spectral_normalised_weight(block.conv2))
        self.shortcut = (None if block.shortcut is None
                         else plain_conv(block.shortcut, spectral_normalised_weight(block.shortcut)))

    def _subpixel_conv1(self, x: Tensor, a: Tensor, b: Tensor) -> Tensor:
        """LReLU(CBN(conv1(upsample(x)))) from low-res x (B, C_in, H, W) -> (B, C_mid, 2H, 2W)."""
        batch, _, height, width = x.shape
        phases = self.conv1(pad_x(x, 1, self.pad_mode))  # (B, 4 C_mid, H + 1, W + 1)
        channels = phases.shape[1] // 4
        memory_format = (torch.channels_last if phases.is_contiguous(memory_format=torch.channels_last)
                         and not phases.is_contiguous() else torch.contiguous_format)
        h = torch.empty((batch, channels, 2 * height, 2 * width), dtype=phases.dtype, device=phases.device,
                        memory_format=memory_format)
        interleaved = h.view(batch, channels, height, 2, width, 2)
        for k, (py, px) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            phase = phases[:, k * channels:(k + 1) * channels, py:py + height, px:px + width]
            torch.addcmul(b, phase, a, out=interleaved[:, :, :, py, :, px])
        return F.leaky_relu_(h, LEAKY_SLOPE)

    def forward(self, x: Tensor, a1: Tensor, b1: Tensor, a2: Tensor, b2: Tensor) -> Tensor:
        (a1, b1), (a2, b2) = _affine(a1, b1), _affine(a2, b2)
        if self.upsampled_input:
            h = self._subpixel_conv1(x, a1, b1)
        else:
            h = F.leaky_relu_(torch.addcmul(b1, self.conv1(pad_x(x, 1, self.pad_mode)), a1), LEAKY_SLOPE)
        h = F.leaky_relu_(torch.addcmul(b2, self.conv2(pad_x(h, 1, self.pad_mode)), a2), LEAKY_SLOPE)
        skip = x if self.shortcut is None else self.shortcut(x)
        if self.upsampled_input:  # add the nearest-upsampled skip through a broadcast view
            batch, channels, height, width = skip.shape
            h.view(batch, channels, height, 2, width, 2).add_(skip[:, :, :, None, :, None])
            return h
        return h.add_(skip)


class FoldedGenerator(nn.Module):
    """Inference-only generator; same forward signature and outputs as ``Generator.eval()``.

    forward(z (B, latent_dim) float32, class_index (B,) int64 | (B, n_classes) float class vectors | None)
      -> texture (B, 3, T, T) in [-1, 1], displacement (B, 3, M, M).
    Built by :func:`fold_generator`; holds no batch-norm state and no spectral-norm vectors. Inference
    only (in-place ops, no autograd): optimise latents through the training-form ``Generator`` instead.
    """

    def __init__(self, generator: Generator, channels_last: bool = False,
                 dtype: torch.dtype = torch.float32, cpu_batch_chunk: "int | None" = None) -> None:
        super().__init__()
        if cpu_batch_chunk is None:
            cpu_batch_chunk = auto_cpu_batch_chunk(generator.config, dtype)
        self.cpu_batch_chunk = max(1, int(cpu_batch_chunk))
        self.channels_last = channels_last
        self.compute_dtype = dtype
        self.config: GeneratorConfig = generator.config
        self.pad_mode = generator.pad_mode
        self.fc_height, self.fc_width = generator.fc_height, generator.fc_width
        self.trunk_channels = generator.trunk_channels
        self.emb_class = copy.deepcopy(generator.emb_class)
        self.fc = copy.deepcopy(generator.fc)
        self.block_names = ["blk1", "blk2", *generator.extra_block_names, "blk4", "blk5", "blk6", "blk3_mesh"]

        weights, biases, slices = [], [], {}
        offset = 0
        for name in self.block_names:
            block: ResBlock = getattr(generator, name)
            setattr(self, name, FoldedResBlock(block, upsampled_input=name != "blk1"))
            for norm in (block.norm1, block.norm2):
                w_a, b_a, w_b, b_b = folded_affine(norm)
                weights += [w_a, w_b]
                biases += [b_a, b_b]
                slices.setdefault(name, []).append((offset, offset + len(b_a), offset + 2 * len(b_a)))
                offset += 2 * len(b_a)
        source_dtype = generator.fc.weight.dtype
        self.affine = nn.utils.skip_init(nn.Linear, self.config.condition_dim, offset,
                                         device=generator.fc.weight.device, dtype=source_dtype)
        with torch.no_grad():
            self.affine.weight.copy_(torch.cat(weights).to(source_dtype))
            self.affine.bias.copy_(torch.cat(biases).to(source_dtype))
        self.affine_slices = slices
        self.conv_final = copy.deepcopy(generator.conv_final)
        self.conv_mesh = copy.deepcopy(generator.conv_mesh)
        self.requires_grad_(False)
        self.eval()
        self.to(dtype=dtype, memory_format=torch.channels_last if channels_last else torch.preserve_format)

    def _block(self, name: str, x: Tensor, ab: Tensor) -> Tensor:
        (s1, m1, e1), (s2, m2, e2) = self.affine_slices[name]
        return getattr(self, name)(x, ab[:, s1:m1], ab[:, m1:e1], ab[:, s2:m2], ab[:, m2:e2])

    def set_compute_dtype(self, dtype: torch.dtype) -> "FoldedGenerator":
        """Switch the compute precision in place (float32 or bfloat16); outputs stay float32.

        The same as folding with ``dtype`` (folding is done in float32 and cast at the end either way).
        """
        if dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(f"compute dtype must be torch.float32 or torch.bfloat16, got {dtype}")
        self.to(dtype=dtype)
        self.compute_dtype = dtype
        return self

    def forward(self, z: Tensor, class_index: "Tensor | None" = None) -> tuple[Tensor, Tensor]:
        if class_index is not None and class_index.shape[:1] != z.shape[:1]:   # (B,) indices or (B, C) vectors
            raise ValueError(f"class_index must have shape ({z.shape[0]},), got {tuple(class_index.shape)}")
        if z.device.type == "cpu" and z.dim() == 2 and z.shape[0] > self.cpu_batch_chunk:
            # On CPUs the high-resolution activations of a large batch fall out of cache (a quarter GB per
            # map at batch 8 for the paper's model): chunks are faster per sample and use less memory.
            step = self.cpu_batch_chunk
            classes = [None] * len(range(0, z.shape[0], step)) if class_index is None else class_index.split(step)
            outs = [self._forward(chunk, c) for chunk, c in zip(z.split(step), classes)]
            return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])
        return self._forward(z, class_index)

    def _forward(self, z: Tensor, class_index: "Tensor | None") -> tuple[Tensor, Tensor]:
        # Every block but blk1 takes the map before the x2 upsampling that follows the previous block.
        e = condition_vector(self.config, z.to(self.compute_dtype), class_index, self.emb_class)
        ab = self.affine(e)
        x = self.fc(e).view(z.shape[0], self.trunk_channels, self.fc_height, self.fc_width)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self._block("blk1", x, ab)
        trunk = self._block("blk2", x, ab)  # upsampling it gives the shared feature F

        t = trunk
        for name in self.block_names[2:-1]:  # blk3a.. blk4 blk5 blk6
            t = self._block(name, t, ab)
        t = F.leaky_relu_(t, LEAKY_SLOPE)
        texture = torch.tanh(self.conv_final(pad_x(t, 2, self.pad_mode)))

        m = F.leaky_relu_(self._block("blk3_mesh", trunk, ab), LEAKY_SLOPE)
        displacement = average_poles(self.conv_mesh(pad_x(m, 2, self.pad_mode)))
        if self.config.symmetric:
            texture = mirror_half_width(texture)
            displacement = mirror_half_width(displacement)
        return (texture.to(torch.float32, memory_format=torch.contiguous_format),
                displacement.to(torch.float32, memory_format=torch.contiguous_format))


def auto_cpu_batch_chunk(config: GeneratorConfig, dtype: torch.dtype = torch.float32) -> int:
    """Samples per CPU chunk: as many as keep the largest activation (blk6, C x T x T/2) within 32 MiB.

    1 for the paper's 512 model (exactly 32 MiB per sample in fp32), 64 for the "small" preset.
    """
    element_bytes = torch.finfo(dtype).bits // 8
    width = config.texture_resolution // 2 if config.symmetric else config.texture_resolution
    largest = config.channels(64) * config.texture_resolution * width * element_bytes
    return max(1, CPU_CHUNK_BYTES // largest)


def fold_generator(generator: Generator, channels_last: bool = False,
                   dtype: torch.dtype = torch.float32, cpu_batch_chunk: "int | None" = None) -> FoldedGenerator:
    """Convert a training-form generator (any mode) into its eval-mode inference form, once.

    The result shares no tensors with ``generator``. channels_last: keep conv weights and activations
    NHWC (faster with oneDNN on x86 CPUs; see benchmarks/bench_generator.py). dtype: compute precision
    (float32 default; torch.bfloat16 is faster on CPUs with AVX512-BF16/AMX but less exact, see
    docs/models.md); outputs are float32 either way. cpu_batch_chunk: on the CPU, larger batches are run
    this many samples at a time (None: :func:`auto_cpu_batch_chunk`; GPUs always take whole batches).
    """
    if not isinstance(generator, Generator):
        raise TypeError(f"fold_generator expects a training-form Generator, got {type(generator).__name__}")
    return FoldedGenerator(generator, channels_last=channels_last, dtype=dtype, cpu_batch_chunk=cpu_batch_chunk)
