"""The worker's candidate search for ``generate`` requests with a ``paint_color`` (rules in ``protocol/paint.py``).

For each mesh of a segment, candidates ``candidate_seed(seed + j, i)`` are generated in rounds of ``PAINT_BLOCK``;
a mesh is settled by the first round with a candidate whose body colour (measured on the texture as delivered, at
the requested size) is within the tolerance: the nearest such candidate of that round. Meshes still unsettled after
``tries`` candidates fail the segment with ``no_match``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.protocol import PAINT_BLOCK, body_colour, candidate_seed, delta_e, hex_colour


@dataclass
class PaintPick:
    """The candidate kept for one mesh."""

    index: int            # mesh index within the segment
    seed: int             # the candidate's seed (the mesh's seed in the reply)
    candidate: int
    distance: float
    colour: tuple
    vertices: np.ndarray
    texture: np.ndarray
    latent: np.ndarray
    class_index: int | None


class NoMatch(Exception):
    """No candidate reached the tolerance: ``message`` is the one line for the client."""


def search(generator, segment: dict, topology: dict, forward, downsample, to_uint8) -> list[PaintPick]:
    """Pick one candidate per mesh of ``segment`` (a ``w.batch`` segment with ``paint``); raises :class:`NoMatch`.

    forward: ``(latents, classes) -> GeneratedTensors`` (the worker's, with its OOM hook); downsample:
    ``(texture, size) -> texture``; to_uint8: textures tensor -> (B, T, T, 3) uint8.
    """
    import torch

    paint = segment["paint"]
    wanted = np.asarray(paint["color"], dtype=np.float64)
    tolerance, tries = float(paint["tolerance"]), int(paint["tries"])
    size = segment["texture_size"]
    picks: dict[int, PaintPick] = {}
    nearest: dict[int, float] = {}
    pending = list(range(segment["count"]))
    for start in range(0, tries, PAINT_BLOCK):
        block = range(start, min(start + PAINT_BLOCK, tries))
        owners = [(j, i) for j in pending for i in block]
        seeds = [candidate_seed(segment["seed"] + j, i) for j, i in owners]
        latents, classes = [], []
        for seed in seeds:
            z, c = generator.plan(1, seed, segment["class"], segment["truncation"])
            latents.append(z)
            if c is not None:
                classes.extend(c)
        z = torch.cat(latents)
        best: dict[int, PaintPick] = {}
        for lo in range(0, len(owners), 64):
            out = forward(z[lo:lo + 64], classes[lo:lo + 64] if classes else None)
            vertices = out.vertices.cpu().numpy()
            textures = to_uint8(out.textures)
            for k in range(len(vertices)):
                j, i = owners[lo + k]
                texture = downsample(textures[k], size)
                colour = body_colour(vertices[k], texture, topology["faces"], topology["uvs"], topology["face_uvs"])
                distance = float(delta_e(colour, wanted))
                nearest[j] = min(nearest.get(j, np.inf), distance)
                if distance <= tolerance and (j not in best or distance < best[j].distance):
                    best[j] = PaintPick(j, seeds[lo + k], i, distance, tuple(float(c) for c in colour),
                                        np.ascontiguousarray(vertices[k], dtype=np.float32), texture,
                                        z[lo + k].numpy(), int(classes[lo + k]) if classes else None)
        picks.update(best)
        pending = [j for j in pending if j not in picks]
        if not pending:
            return [picks[j] for j in sorted(picks)]
    j = pending[0]
    raise NoMatch(f"no car within ΔE {tolerance:g} of {hex_colour(wanted)} after {tries} candidates for the mesh of "
                  f"seed {segment['seed'] + j} (the nearest was ΔE {nearest[j]:.1f}); raise the tolerance or the "
                  f"tries, or pick a colour this model paints")
