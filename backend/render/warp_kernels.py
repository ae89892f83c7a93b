"""NVIDIA Warp kernels of the fast renderer (one source for CPU and CUDA).

Semantics are those of §6.3 (kaolin v0.1 DIB-R), see docs/rendering.md; ``backend/render/reference.py`` is
the plain-PyTorch oracle they are tested against. Inputs are renderer-frame vertices (x, y in image units,
the image covering [-1, 1]², y up; z toward the viewer). Pixel (row j, column i) has centre
((2i + 1 - W) / W, (H - 2j - 1) / H).

Kernels (Warp compiles this module once into WARP_CACHE_PATH; only ``barycentrics_kernel`` and
``shade_textured_kernel`` get automatic adjoints, the soft silhouette has a hand-written backward):

* ``depth_test_kernel``   per face: back-face cull, walk the pixel bounding box, atomic max of a packed
                            (quantised depth, face) key, so the largest z wins and ties go to the lower face index.
* ``resolve_faces_kernel`` per row: key → face index (-1 where empty), its barycentric weights, the mask.
* ``barycentrics_kernel`` per pixel: the same weights again, launched with ``adjoint=True`` for gradients.
* ``shade_textured_rows_kernel`` per row: UV interpolation, bilinear texture lookup (§2.5), background;
  ``shade_textured_kernel`` the same per pixel, launched with ``adjoint=True`` for gradients.
* ``soft_silhouette_kernel`` / ``soft_silhouette_backward_kernel`` per row: DIB-R probability over the first
  ``max_faces`` faces (in face-index order) whose expanded box contains the pixel; candidate faces come from
  per-tile face lists built by ``count_tile_faces_kernel`` / ``fill_tile_faces_kernel`` (one thread per mesh,
  faces in order, so each list is sorted by face index).

Kernels that loop over a row are used where a CPU launch of one thread per pixel would spend more time on
index arithmetic than on the work.
"""
from __future__ import annotations

import warp as wp

wp.config.log_level = wp.LOG_ERROR
wp.set_module_options({"enable_backward": False})

# Depth keys: int64 = quantised depth (2^-20 steps, |z| <= 1000) * 2^32 + (2^32 - 1 - face index).
DEPTH_QUANTUM = wp.constant(1048576.0)
KEY_SHIFT = wp.constant(wp.int64(4294967296))
KEY_LOW_MAX = wp.constant(wp.int64(4294967295))
EMPTY_KEY_VALUE = -(2**62)  # below any face's key
EMPTY_KEY = wp.constant(wp.int64(EMPTY_KEY_VALUE))
MIN_DEPTH = wp.constant(-1000.0)  # DIB-R's initial depth: faces at or behind it are never drawn
MAX_COORDINATE_VALUE = 1.0e15  # vertices beyond it (or non-finite) drop their faces
MAX_COORDINATE = wp.constant(MAX_COORDINATE_VALUE)


@wp.func
def cross2(a: wp.vec2, b: wp.vec2) -> float:
    return a[0] * b[1] - a[1] * b[0]


@wp.func
def pixel_x(i: int, width: int) -> float:
    return float(2 * i + 1 - width) / float(width)


@wp.func
def pixel_y(j: int, height: int) -> float:
    return float(height - 2 * j - 1) / float(height)


@wp.func
def first_column(x: float, width: int) -> int:
    """Smallest column whose centre is >= x (x clamped to [-2, 2] so the int conversion is safe)."""
    xc = wp.clamp(x, -2.0, 2.0)
    return wp.max(int(wp.ceil((xc * float(width) + float(width) - 1.0) * 0.5)), 0)


@wp.func
def last_column(x: float, width: int) -> int:
    xc = wp.clamp(x, -2.0, 2.0)
    return wp.min(int(wp.floor((xc * float(width) + float(width) - 1.0) * 0.5)), width - 1)


@wp.func
def first_row(y: float, height: int) -> int:
    """Smallest row whose centre is <= y (rows grow downwards)."""
    yc = wp.clamp(y, -2.0, 2.0)
    return wp.max(int(wp.ceil((float(height) - 1.0 - yc * float(height)) * 0.5)), 0)


@wp.func
def last_row(y: float, height: int) -> int:
    yc = wp.clamp(y, -2.0, 2.0)
    return wp.min(int(wp.floor((float(height) - 1.0 - yc * float(height)) * 0.5)), height - 1)


@wp.func
def xy(p: wp.vec3) -> wp.vec2:
    return wp.vec2(p[0], p[1])


@wp.func
def is_valid3(p: wp.vec3) -> bool:
    """Finite and within ±MAX_COORDINATE (larger values would overflow squared distances)."""
    return (wp.abs(p[0]) <= MAX_COORDINATE and wp.abs(p[1]) <= MAX_COORDINATE
            and wp.abs(p[2]) <= MAX_COORDINATE)


@wp.func
def half_plane(a: wp.vec2, b: wp.vec2, y: float, span: wp.vec2) -> wp.vec2:
    """Narrow the x-interval ``span`` to where cross2(a - p, b - p) >= 0 on the row p.y = y."""
    slope = a[1] - b[1]  # cross2(a - p, b - p) = slope * p.x + offset
    offset = a[0] * (b[1] - y) - b[0] * (a[1] - y)
    result = span
    if slope > 0.0:
        result = wp.vec2(wp.max(span[0], -offset / slope), span[1])
    elif slope < 0.0:
        result = wp.vec2(span[0], wp.min(span[1], -offset / slope))
    elif offset < 0.0:
        result = wp.vec2(1.0, -1.0)  # empty
    return result


@wp.func
def row_span(a0: wp.vec2, a1: wp.vec2, a2: wp.vec2, y: float) -> wp.vec2:
    """x-interval [lo, hi] of the (counter-clockwise) triangle on the row y; lo > hi when empty."""
    span = wp.vec2(-4.0, 4.0)
    span = half_plane(a1, a2, y, span)
    span = half_plane(a2, a0, y, span)
    span = half_plane(a0, a1, y, span)
    return span


@wp.kernel
def depth_test_kernel(
    screen: wp.array2d(dtype=wp.vec3),      # (B, V) renderer-frame vertices
    faces: wp.array2d(dtype=wp.int32),      # (F, 3)
    width: int,
    height: int,
    keys: wp.array3d(dtype=wp.int64),       # (B, H, W), initialised to EMPTY_KEY
):
    b, f = wp.tid()
    p0 = screen[b, faces[f, 0]]
    p1 = screen[b, faces[f, 1]]
    p2 = screen[b, faces[f, 2]]
    if not (is_valid3(p0) and is_valid3(p1) and is_valid3(p2)):
        return
    a0 = wp.vec2(p0[0], p0[1])
    a1 = wp.vec2(p1[0], p1[1])
    a2 = wp.vec2(p2[0], p2[1])
    area = cross2(a1 - a0, a2 - a0)
    if area <= 0.0:  # back face (culled in the hard pass) or degenerate
        return
    i0 = first_column(wp.min(wp.min(a0[0], a1[0]), a2[0]), width)
    i1 = last_column(wp.max(wp.max(a0[0], a1[0]), a2[0]), width)
    j0 = first_row(wp.max(wp.max(a0[1], a1[1]), a2[1]), height)
    j1 = last_row(wp.min(wp.min(a0[1], a1[1]), a2[1]), height)
    low = KEY_LOW_MAX - wp.int64(f)
    for j in range(j0, j1 + 1):
        y = pixel_y(j, height)
        # Columns of this row where the triangle can be: intersect the three half-planes along the row, then
        # widen by one pixel so rounding never loses a pixel (the exact test below decides).
        span = row_span(a0, a1, a2, y)
        start = wp.max(i0, first_column(span[0], width) - 1)
        stop = wp.min(i1, last_column(span[1], width) + 1)
        for i in range(start, stop + 1):
            p = wp.vec2(pixel_x(i, width), y)
            w0 = cross2(a1 - p, a2 - p)
            w1 = cross2(a2 - p, a0 - p)
            w2 = cross2(a0 - p, a1 - p)
            if w0 >= 0.0 and w1 >= 0.0 and w2 >= 0.0:
                z = (w0 * p0[2] + w1 * p1[2] + w2 * p2[2]) / area
                if z > MIN_DEPTH:
                    quantised = wp.int64(wp.floor(wp.min(z, 1000.0) * DEPTH_QUANTUM))
                    wp.atomic_max(keys, b, j, i, quantised * KEY_SHIFT + low)


@wp.func
def barycentric_weights(p: wp.vec2, a0: wp.vec2, a1: wp.vec2, a2: wp.vec2) -> wp.vec3:
    w0 = cross2(a1 - p, a2 - p)
    w1 = cross2(a2 - p, a0 - p)
    w2 = cross2(a0 - p, a1 - p)
    return wp.vec3(w0, w1, w2) * (1.0 / (w0 + w1 + w2))


@wp.kernel
def resolve_faces_kernel(
    keys: wp.array3d(dtype=wp.int64),        # (B, H, W) from depth_test_kernel
    screen: wp.array2d(dtype=wp.vec3),       # (B, V)
    faces: wp.array2d(dtype=wp.int32),       # (F, 3)
    width: int,
    height: int,
    face_index: wp.array3d(dtype=wp.int64),  # (B, H, W) out: winning face or -1
    barycentrics: wp.array3d(dtype=wp.vec3),  # (B, H, W) out: its weights (0 where empty)
    mask: wp.array3d(dtype=float),            # (B, H, W) out: 1 covered, 0 empty
):
    # One thread per image row (a per-pixel launch spends more on index arithmetic than on the work).
    b, j = wp.tid()
    y = pixel_y(j, height)
    for i in range(width):
        key = keys[b, j, i]
        if key == EMPTY_KEY:
            face_index[b, j, i] = wp.int64(-1)
            barycentrics[b, j, i] = wp.vec3(0.0)
            mask[b, j, i] = 0.0
        else:
            f = int(KEY_LOW_MAX - (key & KEY_LOW_MAX))
            face_index[b, j, i] = wp.int64(f)
            mask[b, j, i] = 1.0
            p = wp.vec2(pixel_x(i, width), y)
            barycentrics[b, j, i] = barycentric_weights(p, xy(screen[b, faces[f, 0]]), xy(screen[b, faces[f, 1]]),
                                                        xy(screen[b, faces[f, 2]]))


@wp.kernel(enable_backward=True)
def barycentrics_kernel(
    face_index: wp.array3d(dtype=wp.int64),  # (B, H, W)
    screen: wp.array2d(dtype=wp.vec3),       # (B, V)
    faces: wp.array2d(dtype=wp.int32),       # (F, 3)
    width: int,
    height: int,
    barycentrics: wp.array3d(dtype=wp.vec3),  # (B, H, W) out
):
    """Same weights as resolve_faces_kernel; launched with adjoint=True for the backward pass."""
    b, j, i = wp.tid()
    f = int(face_index[b, j, i])
    if f >= 0:
        p = wp.vec2(pixel_x(i, width), pixel_y(j, height))
        barycentrics[b, j, i] = barycentric_weights(p, xy(screen[b, faces[f, 0]]), xy(screen[b, faces[f, 1]]),
                                                    xy(screen[b, faces[f, 2]]))


@wp.func
def texel(texture: wp.array4d(dtype=float), b: int, y: int, x: int) -> wp.vec3:
    return wp.vec3(texture[b, 0, y, x], texture[b, 1, y, x], texture[b, 2, y, x])


@wp.func
def shade_pixel(
    f: int,
    w: wp.vec3,
    face_uvs: wp.array2d(dtype=wp.int32),
    uvs: wp.array(dtype=wp.vec2),
    texture: wp.array4d(dtype=float),
    b: int,
    background: wp.vec3,
) -> wp.vec3:
    """Bilinear texel at the interpolated UV of face f (weights w), or the background when f < 0."""
    color = background
    if f >= 0:
        uv = w[0] * uvs[face_uvs[f, 0]] + w[1] * uvs[face_uvs[f, 1]] + w[2] * uvs[face_uvs[f, 2]]
        rows = texture.shape[2]
        cols = texture.shape[3]
        # §2.5: horizontally pixel centres with wrap-around, vertically align_corners=True.
        x = wp.clamp(uv[0], -1.0, 2.0) * float(cols) - 0.5
        y = wp.clamp((1.0 - uv[1]) * float(rows - 1), 0.0, float(rows - 1))
        x_floor = wp.floor(x)
        y_floor = wp.floor(y)
        fx = x - x_floor
        fy = y - y_floor
        x0 = int(x_floor)
        if x0 < 0:
            x0 += cols
        if x0 >= cols:
            x0 -= cols
        if x0 < 0 or x0 >= cols:  # only for UVs far outside [0, 1]
            x0 = ((x0 % cols) + cols) % cols
        x1 = x0 + 1
        if x1 == cols:
            x1 = 0
        y0 = int(y_floor)
        y1 = wp.min(y0 + 1, rows - 1)
        top = (1.0 - fx) * texel(texture, b, y0, x0) + fx * texel(texture, b, y0, x1)
        bottom = (1.0 - fx) * texel(texture, b, y1, x0) + fx * texel(texture, b, y1, x1)
        color = (1.0 - fy) * top + fy * bottom
    return color


@wp.func
def background_at(color: wp.vec3, image: wp.array4d(dtype=float), use_image: int, b: int, j: int, i: int) -> wp.vec3:
    if use_image != 0:
        return wp.vec3(image[b, 0, j, i], image[b, 1, j, i], image[b, 2, j, i])
    return color


@wp.kernel
def shade_textured_rows_kernel(
    face_index: wp.array3d(dtype=wp.int64),     # (B, H, W)
    barycentrics: wp.array3d(dtype=wp.vec3),    # (B, H, W)
    face_uvs: wp.array2d(dtype=wp.int32),       # (F, 3) indices into uvs
    uvs: wp.array(dtype=wp.vec2),               # (U,) texture coordinates, v = 1 top row
    texture: wp.array4d(dtype=float),           # (B, 3, Th, Tw)
    background_color: wp.vec3,
    background_image: wp.array4d(dtype=float),  # (B, 3, H, W), read when use_background_image != 0
    use_background_image: int,
    image: wp.array4d(dtype=float),             # (B, 3, H, W) out
):
    """Forward shading, one thread per row (cheaper than one per pixel on the CPU)."""
    b, j = wp.tid()
    for i in range(image.shape[3]):
        color = shade_pixel(int(face_index[b, j, i]), barycentrics[b, j, i], face_uvs, uvs, texture, b,
                            background_at(background_color, background_image, use_background_image, b, j, i))
        image[b, 0, j, i] = color[0]
        image[b, 1, j, i] = color[1]
        image[b, 2, j, i] = color[2]


@wp.kernel(enable_backward=True)
def shade_textured_kernel(
    face_index: wp.array3d(dtype=wp.int64),
    barycentrics: wp.array3d(dtype=wp.vec3),
    face_uvs: wp.array2d(dtype=wp.int32),
    uvs: wp.array(dtype=wp.vec2),
    texture: wp.array4d(dtype=float),
    background_color: wp.vec3,
    background_image: wp.array4d(dtype=float),
    use_background_image: int,
    image: wp.array4d(dtype=float),
):
    """The same shading one thread per pixel, launched with adjoint=True for gradients to barycentrics, UVs and
    texture."""
    b, j, i = wp.tid()
    color = shade_pixel(int(face_index[b, j, i]), barycentrics[b, j, i], face_uvs, uvs, texture, b,
                        background_at(background_color, background_image, use_background_image, b, j, i))
    image[b, 0, j, i] = color[0]
    image[b, 1, j, i] = color[1]
    image[b, 2, j, i] = color[2]


@wp.func
def segment_parameter(p: wp.vec2, a: wp.vec2, b: wp.vec2) -> float:
    """Parameter t in [0, 1] of the point of segment a-b closest to p."""
    ab = b - a
    length2 = wp.dot(ab, ab)
    t = float(0.0)
    if length2 > 0.0:
        t = wp.clamp(wp.dot(p - a, ab) / length2, 0.0, 1.0)
    return t


@wp.func
def closest_edge(p: wp.vec2, a0: wp.vec2, a1: wp.vec2, a2: wp.vec2) -> wp.vec3:
    """(squared distance from p to the triangle's boundary, edge k (0: a0-a1, 1: a1-a2, 2: a2-a0), t on it)."""
    t0 = segment_parameter(p, a0, a1)
    d0 = wp.length_sq(p - (a0 + t0 * (a1 - a0)))
    t1 = segment_parameter(p, a1, a2)
    d1 = wp.length_sq(p - (a1 + t1 * (a2 - a1)))
    t2 = segment_parameter(p, a2, a0)
    d2 = wp.length_sq(p - (a2 + t2 * (a0 - a2)))
    best = wp.vec3(d0, 0.0, t0)
    if d1 < best[0]:
        best = wp.vec3(d1, 1.0, t1)
    if d2 < best[0]:
        best = wp.vec3(d2, 2.0, t2)
    return best


@wp.func
def box_contains(p: wp.vec2, a0: wp.vec2, a1: wp.vec2, a2: wp.vec2, expansion: float) -> bool:
    return (p[0] >= wp.min(wp.min(a0[0], a1[0]), a2[0]) - expansion
            and p[0] <= wp.max(wp.max(a0[0], a1[0]), a2[0]) + expansion
            and p[1] >= wp.min(wp.min(a0[1], a1[1]), a2[1]) - expansion
            and p[1] <= wp.max(wp.max(a0[1], a1[1]), a2[1]) + expansion)


@wp.func
def face_tile_rect(a0: wp.vec2, a1: wp.vec2, a2: wp.vec2, expansion: float, width: int, height: int,
                   tile_size: int) -> wp.vec4i:
    """Tiles (tx0, tx1, ty0, ty1) that the face's grown bounding box may reach, widened by one pixel so rounding
    never loses a pixel; tx0 > tx1 or ty0 > ty1 when the box misses the image."""
    col0 = wp.max(first_column(wp.min(wp.min(a0[0], a1[0]), a2[0]) - expansion, width) - 1, 0)
    col1 = wp.min(last_column(wp.max(wp.max(a0[0], a1[0]), a2[0]) + expansion, width) + 1, width - 1)
    row0 = wp.max(first_row(wp.max(wp.max(a0[1], a1[1]), a2[1]) + expansion, height) - 1, 0)
    row1 = wp.min(last_row(wp.min(wp.min(a0[1], a1[1]), a2[1]) - expansion, height) + 1, height - 1)
    if col0 > col1 or row0 > row1:
        return wp.vec4i(1, 0, 1, 0)
    return wp.vec4i(col0 / tile_size, col1 / tile_size, row0 / tile_size, row1 / tile_size)


@wp.kernel
def count_tile_faces_kernel(
    screen: wp.array2d(dtype=wp.vec3),        # (B, V)
    faces: wp.array2d(dtype=wp.int32),        # (F, 3)
    width: int,
    height: int,
    tile_size: int,
    tiles_x: int,
    expansion: float,
    offsets: wp.array2d(dtype=wp.int32),      # (B, tiles + 1) zeroed; out: start of each tile's list
):
    """One thread per mesh: count the faces of each tile, then an exclusive scan into list offsets."""
    b = wp.tid()
    for f in range(faces.shape[0]):
        p0 = screen[b, faces[f, 0]]
        p1 = screen[b, faces[f, 1]]
        p2 = screen[b, faces[f, 2]]
        if is_valid3(p0) and is_valid3(p1) and is_valid3(p2):
            rect = face_tile_rect(xy(p0), xy(p1), xy(p2), expansion, width, height, tile_size)
            for ty in range(rect[2], rect[3] + 1):
                for tx in range(rect[0], rect[1] + 1):
                    offsets[b, ty * tiles_x + tx + 1] += 1
    for t in range(1, offsets.shape[1]):
        offsets[b, t] += offsets[b, t - 1]


@wp.kernel
def fill_tile_faces_kernel(
    screen: wp.array2d(dtype=wp.vec3),
    faces: wp.array2d(dtype=wp.int32),
    width: int,
    height: int,
    tile_size: int,
    tiles_x: int,
    expansion: float,
    offsets: wp.array2d(dtype=wp.int32),      # (B, tiles + 1) from count_tile_faces_kernel
    cursor: wp.array2d(dtype=wp.int32),       # (B, tiles) zeroed scratch
    tile_faces: wp.array2d(dtype=wp.int32),   # (B, N) out: face indices, increasing within each tile
):
    """One thread per mesh, faces in index order, so every tile's list is sorted (same on CPU and CUDA)."""
    b = wp.tid()
    for f in range(faces.shape[0]):
        p0 = screen[b, faces[f, 0]]
        p1 = screen[b, faces[f, 1]]
        p2 = screen[b, faces[f, 2]]
        if is_valid3(p0) and is_valid3(p1) and is_valid3(p2):
            rect = face_tile_rect(xy(p0), xy(p1), xy(p2), expansion, width, height, tile_size)
            for ty in range(rect[2], rect[3] + 1):
                for tx in range(rect[0], rect[1] + 1):
                    tile = ty * tiles_x + tx
                    tile_faces[b, offsets[b, tile] + cursor[b, tile]] = f
                    cursor[b, tile] += 1


@wp.func
def pixel_probability(b: int, j: int, i: int, screen: wp.array2d(dtype=wp.vec3), faces: wp.array2d(dtype=wp.int32),
                      tile_offsets: wp.array2d(dtype=wp.int32), tile_faces: wp.array2d(dtype=wp.int32),
                      covered: wp.array3d(dtype=float), width: int, height: int, tile_size: int, tiles_x: int,
                      sigma_inv: float, max_faces: int, expansion: float) -> float:
    if covered[b, j, i] > 0.5:
        return 1.0
    p = wp.vec2(pixel_x(i, width), pixel_y(j, height))
    tile = (j / tile_size) * tiles_x + i / tile_size
    keep = float(1.0)  # product of (1 - exp(-sigma_inv d²)) over the candidate faces
    count = int(0)
    for k in range(tile_offsets[b, tile], tile_offsets[b, tile + 1]):
        f = tile_faces[b, k]
        a0 = xy(screen[b, faces[f, 0]])
        a1 = xy(screen[b, faces[f, 1]])
        a2 = xy(screen[b, faces[f, 2]])
        if box_contains(p, a0, a1, a2, expansion):
            count += 1
            if count > max_faces:
                break
            d2 = closest_edge(p, a0, a1, a2)[0]
            keep = keep * (1.0 - wp.exp(-sigma_inv * d2))
    return 1.0 - keep


@wp.kernel
def soft_silhouette_kernel(
    screen: wp.array2d(dtype=wp.vec3),        # (B, V)
    faces: wp.array2d(dtype=wp.int32),        # (F, 3)
    tile_offsets: wp.array2d(dtype=wp.int32),  # (B, tiles + 1) start of each tile's list in tile_faces
    tile_faces: wp.array2d(dtype=wp.int32),   # (B, N) face indices, increasing within a tile
    covered: wp.array3d(dtype=float),         # (B, H, W) hard coverage mask (1 covered)
    width: int,
    height: int,
    tile_size: int,
    tiles_x: int,
    sigma_inv: float,
    max_faces: int,
    expansion: float,
    probability: wp.array3d(dtype=float),     # (B, H, W) out
):
    b, j = wp.tid()  # one thread per image row
    for i in range(width):
        probability[b, j, i] = pixel_probability(b, j, i, screen, faces, tile_offsets, tile_faces, covered, width,
                                                 height, tile_size, tiles_x, sigma_inv, max_faces, expansion)


@wp.func
def keep_without(p: wp.vec2, b: int, skip: int, screen: wp.array2d(dtype=wp.vec3), faces: wp.array2d(dtype=wp.int32),
                 tile_faces: wp.array2d(dtype=wp.int32), start: int, end: int, sigma_inv: float, max_faces: int,
                 expansion: float) -> float:
    """Product of (1 - e_g) over the candidate faces except the one at list position ``skip``."""
    keep = float(1.0)
    count = int(0)
    for k in range(start, end):
        f = tile_faces[b, k]
        a0 = xy(screen[b, faces[f, 0]])
        a1 = xy(screen[b, faces[f, 1]])
        a2 = xy(screen[b, faces[f, 2]])
        if box_contains(p, a0, a1, a2, expansion):
            count += 1
            if count > max_faces:
                break
            if k != skip:
                keep = keep * (1.0 - wp.exp(-sigma_inv * closest_edge(p, a0, a1, a2)[0]))
    return keep


@wp.func
def add_edge_gradient(grad_screen: wp.array2d(dtype=wp.vec3), b: int, va: int, vb: int, p: wp.vec2,
                      a: wp.vec2, c: wp.vec2, t: float, scale: float):
    """d(|p - q|²) with q = a + t (c - a) the closest point; t is optimal so it does not move (envelope)."""
    q = a + t * (c - a)
    g = -2.0 * scale * (p - q)
    wp.atomic_add(grad_screen, b, va, wp.vec3(g[0] * (1.0 - t), g[1] * (1.0 - t), 0.0))
    wp.atomic_add(grad_screen, b, vb, wp.vec3(g[0] * t, g[1] * t, 0.0))


@wp.func
def pixel_gradient(b: int, j: int, i: int, g: float, screen: wp.array2d(dtype=wp.vec3),
                   faces: wp.array2d(dtype=wp.int32), tile_offsets: wp.array2d(dtype=wp.int32),
                   tile_faces: wp.array2d(dtype=wp.int32), probability: float, width: int, height: int,
                   tile_size: int, tiles_x: int, sigma_inv: float, max_faces: int, expansion: float,
                   grad_screen: wp.array2d(dtype=wp.vec3)):
    """Accumulate d(probability)/d(vertex xy) · g of one uncovered pixel into grad_screen."""
    p = wp.vec2(pixel_x(i, width), pixel_y(j, height))
    tile = (j / tile_size) * tiles_x + i / tile_size
    start = tile_offsets[b, tile]
    end = tile_offsets[b, tile + 1]
    keep = 1.0 - probability
    count = int(0)
    for k in range(start, end):
        f = tile_faces[b, k]
        v0 = faces[f, 0]
        v1 = faces[f, 1]
        v2 = faces[f, 2]
        a0 = xy(screen[b, v0])
        a1 = xy(screen[b, v1])
        a2 = xy(screen[b, v2])
        if box_contains(p, a0, a1, a2, expansion):
            count += 1
            if count > max_faces:
                break
            edge = closest_edge(p, a0, a1, a2)
            e = wp.exp(-sigma_inv * edge[0])
            others = float(0.0)
            if 1.0 - e > 1.0e-4:
                others = keep / (1.0 - e)
            else:  # dividing would lose precision: recompute the product without this face
                others = keep_without(p, b, k, screen, faces, tile_faces, start, end, sigma_inv, max_faces, expansion)
            # probability = 1 - prod(1 - e_f);  de/d(d²) = -sigma_inv e
            scale = g * others * (-sigma_inv * e)
            if edge[1] == 0.0:
                add_edge_gradient(grad_screen, b, v0, v1, p, a0, a1, edge[2], scale)
            elif edge[1] == 1.0:
                add_edge_gradient(grad_screen, b, v1, v2, p, a1, a2, edge[2], scale)
            else:
                add_edge_gradient(grad_screen, b, v2, v0, p, a2, a0, edge[2], scale)


@wp.kernel
def soft_silhouette_backward_kernel(
    screen: wp.array2d(dtype=wp.vec3),
    faces: wp.array2d(dtype=wp.int32),
    tile_offsets: wp.array2d(dtype=wp.int32),
    tile_faces: wp.array2d(dtype=wp.int32),
    covered: wp.array3d(dtype=float),
    probability: wp.array3d(dtype=float),     # (B, H, W) forward output
    grad_probability: wp.array3d(dtype=float),  # (B, H, W) dL/dprobability
    width: int,
    height: int,
    tile_size: int,
    tiles_x: int,
    sigma_inv: float,
    max_faces: int,
    expansion: float,
    grad_screen: wp.array2d(dtype=wp.vec3),   # (B, V) out, accumulated
):
    b, j = wp.tid()  # one thread per image row
    for i in range(width):
        g = grad_probability[b, j, i]
        if covered[b, j, i] <= 0.5 and g != 0.0:
            pixel_gradient(b, j, i, g, screen, faces, tile_offsets, tile_faces, probability[b, j, i], width, height,
                           tile_size, tiles_x, sigma_inv, max_faces, expansion, grad_screen)
