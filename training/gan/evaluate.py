"""FID against a pseudo-GT folder (§7): the ceiling of the data, and texture-only / mesh-only FID of a generator.

The pseudo-GT is what the GAN learns from, so it bounds what the GAN can reach. Four renders, each under the pose the
pseudo-GT item was made with (the folder's poses file, in the frame of the image's 299² FID crop), compared with
real statistics:

* ``ceiling``: the item's own mesh with its own (partial) texture. Under its own pose nearly every visible pixel
  is covered by a texel that came from that very image, so this is the FID of a generator that reproduced its
  training data exactly: no GAN trained on this folder can be expected to beat it.
* ``texture_only``: the item's mesh with a generated texture (sample j: latent seed + j).
* ``mesh_only``: a generated mesh with the item's texture.
* ``full``: generated mesh and texture (the ordinary FID, under the pseudo-GT images' poses).

    result = pseudogt_fid(open_pseudogt(DIR), stats, extractor, mode="ceiling")   # fid.FIDResult

The real statistics are a ``fid.statistics.FeatureStatistics`` (``fid.evaluate stats`` writes them); use another
image set than the pseudo-GT's (held-out images) to measure a generalisation ceiling.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from training.pseudogt import PseudoGTSet

MODES = ("ceiling", "texture_only", "mesh_only", "full")


class PseudoGTEvaluationError(ValueError):
    """The pseudo-GT folder and the collection or model do not fit together. One-line message."""


@dataclass
class PseudoGTMeshes:
    """``fid.generated.PseudoGroundTruth`` over a loaded pseudo-GT set: item i's mesh and texture.

    vertices(indices) -> (B, 962, 3) object-frame vertices; texture(indices) -> (B, 3, T, T) in [-1, 1]
    (0 where unseen). ``indices`` are item indices (the sample plan's record indices, see ``plan_for``).
    """

    data: PseudoGTSet

    def vertices(self, indices: Sequence[int]) -> torch.Tensor:
        from backend.mesh import displacement_to_vertices, uv_sphere

        index = torch.as_tensor(list(indices), dtype=torch.int64)
        return displacement_to_vertices(uv_sphere(), self.data.mesh[index].float())

    def texture(self, indices: Sequence[int]) -> torch.Tensor:
        index = torch.as_tensor(list(indices), dtype=torch.int64)
        return self.data.texture[index].float()


def item_records(data: PseudoGTSet, collection=None) -> list:
    """The collection record of every item (in item order), from the folder's ``collection`` unless given.

    Checks that the folder belongs to the collection; the poses come from the folder itself (``plan_for``), so
    records without a pose (real photos) are fine."""
    from dataformat import load_collection

    if collection is None:
        root = data.info.get("collection")
        if not root:
            raise PseudoGTEvaluationError(f"{data.root} does not name its collection; pass --collection")
        try:
            collection = load_collection(root, check="header")
        except Exception as exc:  # noqa: BLE001 - any failure to read it is one line for the user
            raise PseudoGTEvaluationError(f"cannot read the pseudo-GT's collection {root}: "
                                          f"{str(exc).splitlines()[0]}; pass --collection") from None
    by_id = {r.id: r for r in collection.records}
    missing = [i for i in data.ids if i not in by_id]
    if missing:
        raise PseudoGTEvaluationError(f"{len(missing)} pseudo-GT items (e.g. {missing[0]!r}) are not records of "
                                      f"{collection.root}; pass the collection the folder was made from")
    return [by_id[i] for i in data.ids]


def plan_for(data: PseudoGTSet, count: int):
    """``fid.generated.SamplePlan`` whose sample j uses item j mod N (record_index = item index), under the pose
    the item was made with: the folder's poses file (§1.3, crop frame of the 299² FID crop, padding 0.05).

    From-truth folders carry the true poses; folders from a reconstruction run carry the *estimated* poses, under
    which their meshes and textures line up with the image (the record's true pose would not, e.g. after a flip).
    """
    from fid.generated import SamplePlan

    if count < 1:
        raise PseudoGTEvaluationError(f"the number of samples must be at least 1, got {count}")
    chosen = np.arange(count, dtype=np.int64) % len(data)
    poses = data.poses
    return SamplePlan(record_index=chosen,
                      q=poses["rotation"].numpy().astype(np.float32)[chosen],
                      s=poses["scale"].numpy().astype(np.float32)[chosen],
                      t=poses["translation"].numpy().astype(np.float32)[chosen, :2], class_index=None)


def ceiling_renders(meshes: PseudoGTMeshes, plan, batch_size: int = 16, resolution: int = 299,
                    impl: str = "fast") -> Iterator[torch.Tensor]:
    """Each item's own mesh and texture under its own pose: (B, 3, R, R) float32 in [0, 1] batches."""
    from backend.mesh import uv_sphere
    from fid.generated import render_planned, template_topology

    topology = template_topology(uv_sphere())
    for start in range(0, len(plan), batch_size):
        stop = min(start + batch_size, len(plan))
        items = plan.record_index[start:stop].tolist()
        yield render_planned(meshes.vertices(items), meshes.texture(items), topology, plan, start, stop,
                             resolution, impl)


def pseudogt_fid(data: PseudoGTSet, real, extractor, mode: str = "ceiling", model=None,
                 num_samples: int | None = None, seed: int = 1234, batch_size: int = 16, collection=None,
                 device: str = "cpu", progress: bool = False):
    """FID/KID (``fid.comparison.FIDResult``) of one of the renders of the module docstring against ``real``
    (``FeatureStatistics``). model: a ``backend.models`` LoadedModel, needed by every mode but ``ceiling``
    (unconditional: the samples take no class). num_samples: default one per item."""
    from fid.comparison import compare_statistics
    from fid.features import extract_features
    from fid.generated import render_samples
    from fid.inception_net import INPUT_RESOLUTION
    from fid.statistics import FeatureStatistics

    if mode not in MODES:
        raise PseudoGTEvaluationError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    if mode != "ceiling" and model is None:
        raise PseudoGTEvaluationError(f"mode {mode} renders a generator's output: pass a model (--checkpoint)")
    records = item_records(data, collection)
    plan = plan_for(data, num_samples or len(records))
    meshes = PseudoGTMeshes(data)
    if mode == "ceiling":
        batches = ceiling_renders(meshes, plan, batch_size, INPUT_RESOLUTION)
    else:
        from backend.sampling import MeshGenerator

        if getattr(model, "conditional", False):
            raise PseudoGTEvaluationError("class-conditional models are not supported by pseudo-GT FID yet")
        generator = MeshGenerator(model, device=device)
        batches = render_samples(generator, plan, seed, batch_size=batch_size, mode=mode, pseudo_gt=meshes,
                                 resolution=INPUT_RESOLUTION)
    features = extract_features(extractor, batches, total=len(plan), progress=progress,
                                desc=f"Inception {mode.replace('_', '-')}")
    fake = FeatureStatistics.from_features(features, INPUT_RESOLUTION, extractor.name)
    return compare_statistics(real, fake, seed=seed)
