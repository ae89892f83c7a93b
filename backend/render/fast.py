"""The fast implementation: Warp kernels (``warp_kernels.py``) wrapped in ``torch.autograd.Function``.

Same contracts as ``reference.py`` (the oracle): ``rasterize_fast`` returns the winning face per pixel and
differentiable barycentrics; ``soft_silhouette_fast`` returns the DIB-R soft silhouette with gradients to the
vertex positions. Tensors are shared with Warp without copies (``wp.from_torch``); kernels run on the
tensors' device (CPU or CUDA). Computation is in float32; float64 inputs are converted and gradients are
returned in the input dtype.
"""
from __future__ import annotations

import functools
import math

import torch

MIN_TILE_SIZE = 8  # pixels per side of the soft silhouette's face-list tiles (at most 64 tiles per side)
MAX_COORDINATE = 1.0e15  # as in warp_kernels: vertices beyond it (or non-finite) drop their faces


@functools.lru_cache(maxsize=1)
def _warp():
    """Import and initialise Warp once (quietly: libraries do not print)."""
    import warp as wp

    wp.config.log_level = wp.LOG_ERROR
    wp.init()
    from . import warp_kernels

    return wp, warp_kernels


def _device(tensor: torch.Tensor):
    wp, _ = _warp()
    return wp.device_from_torch(tensor.device)


def _vec3(tensor: torch.Tensor):
    wp, _ = _warp()
    return wp.from_torch(tensor.contiguous(), dtype=wp.vec3, requires_grad=False)


def _vec2(tensor: torch.Tensor):
    wp, _ = _warp()
    return wp.from_torch(tensor.contiguous(), dtype=wp.vec2, requires_grad=False)


def _zeros_like(tensor: torch.Tensor) -> torch.Tensor:
    """A zeroed float32 tensor like ``tensor``, filled by Warp (a memset, not a threaded PyTorch fill)."""
    wp, _ = _warp()
    return wp.to_torch(wp.zeros(tuple(tensor.shape), dtype=wp.float32, device=_device(tensor)))


def _array(tensor: torch.Tensor):
    wp, _ = _warp()
    return wp.from_torch(tensor.contiguous(), requires_grad=False)


def _rasterize_kernels(screen32: torch.Tensor, faces_i32: torch.Tensor, height: int, width: int
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Depth test + resolve: (B, H, W) int64 face index (-1 empty), (B, H, W, 3) float32 barycentrics and
    (B, H, W) float32 coverage mask."""
    wp, kernels = _warp()
    batch = screen32.shape[0]
    device = _device(screen32)
    keys = wp.empty((batch, height, width), dtype=wp.int64, device=device)
    keys.fill_(kernels.EMPTY_KEY_VALUE)
    face_index = torch.empty((batch, height, width), dtype=torch.int64, device=screen32.device)
    bary = torch.empty((batch, height, width, 3), dtype=torch.float32, device=screen32.device)
    mask = torch.empty((batch, height, width), dtype=torch.float32, device=screen32.device)
    screen_wp = _vec3(screen32)
    faces_wp = _array(faces_i32)
    if faces_i32.shape[0] > 0:
        wp.launch(kernels.depth_test_kernel, dim=(batch, faces_i32.shape[0]), device=device,
                  inputs=[screen_wp, faces_wp, width, height, keys])
    wp.launch(kernels.resolve_faces_kernel, dim=(batch, height), device=device,
              inputs=[keys, screen_wp, faces_wp, width, height], outputs=[_array(face_index), _vec3(bary), _array(mask)])
    return face_index, bary, mask


def coverage_mask(screen: torch.Tensor, faces: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Hard coverage only: (B, H, W) float32 {0, 1}. No gradients.

    Args:
        screen: (B, V, 3) float renderer-frame vertices; faces: (F, 3) int.
    """
    return _rasterize_kernels(screen.detach().to(torch.float32).contiguous(), faces.to(torch.int32).contiguous(),
                              height, width)[2]


class _Rasterize(torch.autograd.Function):
    """Hard pass; the barycentrics are differentiable w.r.t. screen x, y (the face index is not)."""

    @staticmethod
    def forward(ctx, screen: torch.Tensor, faces_i32: torch.Tensor, height: int, width: int):
        screen32 = screen.detach().to(torch.float32).contiguous()
        face_index, bary, mask = _rasterize_kernels(screen32, faces_i32, height, width)
        ctx.save_for_backward(screen32, faces_i32, face_index, bary)
        ctx.size = (height, width)
        ctx.input_dtype = screen.dtype
        ctx.mark_non_differentiable(face_index, mask)
        return face_index, bary.to(screen.dtype), mask.to(screen.dtype)

    @staticmethod
    def backward(ctx, _grad_face_index, grad_bary: torch.Tensor, _grad_mask):
        wp, kernels = _warp()
        screen32, faces_i32, face_index, bary = ctx.saved_tensors
        height, width = ctx.size
        grad_screen = _zeros_like(screen32)
        wp.launch(kernels.barycentrics_kernel, dim=tuple(face_index.shape), device=_device(screen32),
                  inputs=[_array(face_index), _vec3(screen32), _array(faces_i32), width, height],
                  outputs=[_vec3(bary)],
                  adj_inputs=[None, _vec3(grad_screen), None, 0, 0],
                  adj_outputs=[_vec3(grad_bary.to(torch.float32).contiguous())], adjoint=True)
        return grad_screen.to(ctx.input_dtype), None, None, None


def rasterize_fast(screen: torch.Tensor, faces: torch.Tensor, height: int, width: int
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hard rasterisation with Warp.

    Args:
        screen: (B, V, 3) float renderer-frame vertices.
        faces: (F, 3) int64/int32 vertex indices.
    Returns:
        face_index (B, H, W) int64 (-1 empty), barycentrics (B, H, W, 3) in screen's dtype (differentiable),
        mask (B, H, W) {0, 1} in screen's dtype.
    """
    return _Rasterize.apply(screen, faces.to(torch.int32).contiguous(), height, width)


class _ShadeTextured(torch.autograd.Function):
    """UV interpolation + texture lookup + background, differentiable w.r.t. barycentrics, uvs, texture and
    the background image."""

    @staticmethod
    def forward(ctx, bary: torch.Tensor, face_index: torch.Tensor, face_uvs_i32: torch.Tensor, uvs: torch.Tensor,
                texture: torch.Tensor, background_color: tuple[float, float, float],
                background_image: torch.Tensor | None) -> torch.Tensor:
        wp, kernels = _warp()
        batch, height, width = face_index.shape
        tensors = [bary.detach().to(torch.float32).contiguous(), uvs.detach().to(torch.float32).contiguous(),
                   texture.detach().to(torch.float32).contiguous()]
        use_image = background_image is not None
        bg = (background_image.detach().to(torch.float32).contiguous() if use_image
              else torch.zeros((1, 1, 1, 1), dtype=torch.float32, device=bary.device))
        image = torch.empty((batch, 3, height, width), dtype=torch.float32, device=bary.device)
        ctx.launch_args = (face_index, face_uvs_i32, tuple(background_color), bg, int(use_image))
        ctx.save_for_backward(*tensors, image)
        ctx.dtypes = (bary.dtype, uvs.dtype, texture.dtype)
        ctx.use_image = use_image
        _launch_shade(kernels, wp, tensors, ctx.launch_args, image)
        out_dtype = texture.dtype
        return image.to(out_dtype)

    @staticmethod
    def backward(ctx, grad_image: torch.Tensor):
        wp, kernels = _warp()
        bary32, uvs32, texture32, image = ctx.saved_tensors
        face_index = ctx.launch_args[0]
        adjoints = [_zeros_like(bary32), _zeros_like(uvs32), _zeros_like(texture32)]
        grad32 = grad_image.to(torch.float32).contiguous()
        _launch_shade(kernels, wp, [bary32, uvs32, texture32], ctx.launch_args, image, adjoints, grad32)
        grad_background = None
        if ctx.use_image and ctx.needs_input_grad[6]:
            grad_background = grad_image * (face_index < 0)[:, None].to(grad_image.dtype)
        grads = [a.to(dt) for a, dt in zip(adjoints, ctx.dtypes)]
        return grads[0], None, None, grads[1], grads[2], None, grad_background


def _launch_shade(kernels, wp, tensors, launch_args, image, adjoints=None, grad_image=None) -> None:
    bary32, uvs32, texture32 = tensors
    face_index, face_uvs_i32, color, bg, use_image = launch_args
    inputs = [_array(face_index), _vec3(bary32), _array(face_uvs_i32), _vec2(uvs32), _array(texture32),
              wp.vec3(*color), _array(bg), use_image]
    kwargs = {}
    if adjoints is not None:
        kwargs = dict(adj_inputs=[None, _vec3(adjoints[0]), None, _vec2(adjoints[1]), _array(adjoints[2]),
                                  wp.vec3(0.0, 0.0, 0.0), None, 0],
                      adj_outputs=[_array(grad_image)], adjoint=True)
    if adjoints is None:
        wp.launch(kernels.shade_textured_rows_kernel, dim=tuple(face_index.shape[:2]), device=_device(image),
                  inputs=inputs, outputs=[_array(image)])
    else:
        wp.launch(kernels.shade_textured_kernel, dim=tuple(face_index.shape), device=_device(image),
                  inputs=inputs, outputs=[_array(image)], **kwargs)


def shade_textured_fast(bary: torch.Tensor, face_index: torch.Tensor, face_uvs: torch.Tensor, uvs: torch.Tensor,
                        texture: torch.Tensor, background_color: tuple[float, float, float],
                        background_image: torch.Tensor | None) -> torch.Tensor:
    """Textured colours (B, 3, H, W) in the texture's dtype: texel where covered, background elsewhere.

    Args:
        bary: (B, H, W, 3) barycentrics; face_index: (B, H, W) int64; face_uvs: (F, 3) int; uvs: (U, 2);
        texture: (B, 3, Th, Tw); background_color: 3 floats; background_image: (B, 3, H, W) or None.
    """
    return _ShadeTextured.apply(bary, face_index, face_uvs.to(torch.int32).contiguous(), uvs, texture,
                                background_color, background_image)


def build_tile_lists(screen32: torch.Tensor, faces_i32: torch.Tensor, height: int, width: int, expansion: float,
                     tile_size: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Per-tile lists of the faces whose grown bounding box may reach the tile, in increasing face order.

    Faces with a non-finite vertex (or one beyond ±1e15) are left out. Conservative by one pixel: the soft
    kernels do the exact box test.

    Args:
        screen32: (B, V, 3) float32 contiguous; faces_i32: (F, 3) int32.
    Returns:
        offsets (B, tiles + 1) int32 (tile t of mesh b lists tile_faces[b, offsets[b, t]:offsets[b, t + 1]]),
        tile_faces (B, N) int32, tiles_x.
    """
    wp, kernels = _warp()
    batch = screen32.shape[0]
    device = _device(screen32)
    tiles_x = math.ceil(width / tile_size)
    tiles = tiles_x * math.ceil(height / tile_size)
    common = [_vec3(screen32), _array(faces_i32), width, height, tile_size, tiles_x, float(expansion)]
    offsets = wp.zeros((batch, tiles + 1), dtype=wp.int32, device=device)
    wp.launch(kernels.count_tile_faces_kernel, dim=batch, device=device, inputs=common + [offsets])
    offsets_torch = wp.to_torch(offsets)
    longest = max(int(offsets_torch[:, -1].max()), 1)
    cursor = wp.zeros((batch, tiles), dtype=wp.int32, device=device)
    tile_faces = wp.empty((batch, longest), dtype=wp.int32, device=device)
    wp.launch(kernels.fill_tile_faces_kernel, dim=batch, device=device,
              inputs=common + [offsets, cursor, tile_faces])
    return offsets_torch, wp.to_torch(tile_faces), tiles_x


class _SoftSilhouette(torch.autograd.Function):
    @staticmethod
    def forward(ctx, screen: torch.Tensor, faces_i32: torch.Tensor, covered: torch.Tensor, height: int,
                width: int, sigma_inv: float, max_faces: int, expansion: float) -> torch.Tensor:
        wp, kernels = _warp()
        screen32 = screen.detach().to(torch.float32).contiguous()
        # Larger tiles for large images bound the number of (face, tile) pairs for meshes that fill the frame.
        tile_size = max(MIN_TILE_SIZE, math.ceil(max(height, width) / 64))
        offsets, tile_faces, tiles_x = build_tile_lists(screen32, faces_i32, height, width, expansion, tile_size)
        probability = torch.empty(covered.shape, dtype=torch.float32, device=screen.device)
        params = [width, height, tile_size, tiles_x, float(sigma_inv), int(max_faces), float(expansion)]
        wp.launch(kernels.soft_silhouette_kernel, dim=tuple(covered.shape[:2]), device=_device(screen),
                  inputs=[_vec3(screen32), _array(faces_i32), _array(offsets), _array(tile_faces),
                          _array(covered)] + params, outputs=[_array(probability)])
        ctx.save_for_backward(screen32, faces_i32, offsets, tile_faces, covered, probability)
        ctx.params = params
        ctx.input_dtype = screen.dtype
        return probability.to(screen.dtype)

    @staticmethod
    def backward(ctx, grad_probability: torch.Tensor):
        wp, kernels = _warp()
        screen32, faces_i32, offsets, tile_faces, covered, probability = ctx.saved_tensors
        grad_screen = _zeros_like(screen32)
        wp.launch(kernels.soft_silhouette_backward_kernel, dim=tuple(covered.shape[:2]), device=_device(screen32),
                  inputs=[_vec3(screen32), _array(faces_i32), _array(offsets), _array(tile_faces),
                          _array(covered), _array(probability),
                          _array(grad_probability.to(torch.float32).contiguous())] + ctx.params,
                  outputs=[_vec3(grad_screen)])
        return grad_screen.to(ctx.input_dtype), None, None, None, None, None, None, None


def soft_silhouette_fast(screen: torch.Tensor, faces: torch.Tensor, covered: torch.Tensor, height: int, width: int,
                         sigma_inv: float, max_faces: int, expansion: float) -> torch.Tensor:
    """DIB-R soft silhouette with Warp.

    Args:
        screen: (B, V, 3) float renderer-frame vertices.
        faces: (F, 3) int vertex indices.
        covered: (B, H, W) float {0, 1} hard coverage mask (from the hard pass); those pixels are 1.
    Returns:
        (B, H, W) probability in [0, 1], screen's dtype, differentiable w.r.t. screen x, y.
    """
    return _SoftSilhouette.apply(screen, faces.to(torch.int32).contiguous(),
                                 covered.detach().to(torch.float32).contiguous(), height, width, sigma_inv,
                                 max_faces, expansion)
