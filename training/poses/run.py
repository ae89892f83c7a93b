"""The pose stage over a collection: step 1 in resumable batches, step 2 over all images, the pose file.

    result = estimate_poses(collection, "poses.safetensors", PRESETS["cpu"], load_templates("car"))
    print(result.summary())          # "kept 812 of 1000 images (features: parts; skipped 0)"

Bad records (unreadable image or mask, empty mask, a mask touching the image border) are skipped with their
reason and named in the summary; nothing raises for one bad record. A run on a collection without any usable
record raises ValueError with a one-line message.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training.engine.stage import Events, check_resume

from .config import PoseConfig
from .file import hypotheses_path, load_hypotheses, save_hypotheses, save_pose_file
from .geometry import crop_to_full
from .step1 import Hypotheses, fit_hypotheses
from . import step2

HYPOTHESIS_FIELDS = ("q", "s", "t", "z0", "w", "iou")   # the tensors of a ``Hypotheses``, in its field order
STEP1_KEYS = ("steps", "lr", "lr_decay_after", "resolutions", "final_resolution", "sigma_inv", "scale_sigma",
              "z0_init", "prune_after", "prune_single", "crop_resolution")

EMPTY_MASK = "empty mask"
BORDER = "mask touches the image border"
UNREADABLE = "unreadable image or mask"


@dataclass
class PoseRunResult:
    """What a run did. pose_file / hypotheses_file: paths; total: records offered; fitted: records with poses;
    kept: records passing the filter; skipped: {record id: reason}; features: "parts", "appearance" or
    "silhouette"; cpu_seconds: process CPU time of step 1 and step 2 in this run; fitted_now: step-1 images
    fitted in this run (the rest came from a resumed file)."""

    pose_file: Path
    hypotheses_file: Path
    total: int
    fitted: int
    kept: int
    skipped: dict[str, str]
    features: str
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    fitted_now: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        by_reason: dict[str, list[str]] = {}
        for record_id, reason in self.skipped.items():
            by_reason.setdefault(reason, []).append(record_id)
        skipped = "; ".join(f"{reason}: {len(ids)} [{', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''}]"
                            for reason, ids in by_reason.items())
        return (f"kept {self.kept} of {self.total} images (features: {self.features}; fitted {self.fitted}; "
                f"skipped {len(self.skipped)}{': ' + skipped if skipped else ''})")


@dataclass
class _Loaded:
    record: object
    sample: object


def _load(record, config: PoseConfig) -> _Loaded | str:
    """The crop of one record, or the reason to skip it."""
    from dataformat import crop_and_resize

    try:
        mask = record.load_mask()
    except (OSError, ValueError) as exc:
        return f"{UNREADABLE} ({str(exc).splitlines()[0][:80]})"
    if not mask.any():
        return EMPTY_MASK
    if mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any():
        return BORDER
    try:
        sample = crop_and_resize(record, config.crop_resolution)
    except (OSError, ValueError) as exc:
        return f"{UNREADABLE} ({str(exc).splitlines()[0][:80]})"
    return _Loaded(record, sample)


def _templates_digest(vertices: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(vertices, np.float32).tobytes()).hexdigest()[:16]


def _step1_signature(config: PoseConfig, templates) -> dict:
    import json

    cfg = config.to_json()
    signature = {**{k: cfg[k] for k in STEP1_KEYS}, "templates": _templates_digest(templates.vertices),
                 "template_names": list(templates.names)}
    return json.loads(json.dumps(signature))  # as it reads back from the file (tuples become lists)


class _HypothesisStore:
    """Step-1 results accumulated batch by batch and saved after each batch (so --resume loses at most one)."""

    def __init__(self, path: Path, signature: dict) -> None:
        self.path = path
        self.signature = signature
        self.ids: list[str] = []
        self.sizes: list[list[int]] = []
        self.arrays: dict[str, list[np.ndarray]] = {k: [] for k in ("R", "s", "t", "z0", "w", "iou", "box")}
        self.skipped: dict[str, str] = {}

    def load(self) -> None:
        from .file import PoseFileError

        try:
            arrays, header = load_hypotheses(self.path)
        except PoseFileError:
            return
        check_resume(self.path, header.get("signature") or {}, self.signature)
        self.ids = list(header["ids"])
        self.sizes = list(header["image_sizes"])
        self.skipped = dict(header.get("skipped") or {})
        for k in self.arrays:
            self.arrays[k] = [arrays[k]] if len(arrays[k]) else []

    def add(self, ids, sizes, hyp: Hypotheses, boxes: np.ndarray) -> None:
        self.ids += ids
        self.sizes += sizes
        for k, v in (("R", hyp.q), ("s", hyp.s), ("t", hyp.t), ("z0", hyp.z0), ("w", hyp.w), ("iou", hyp.iou)):
            self.arrays[k].append(v.numpy().astype(np.float32))
        self.arrays["box"].append(boxes.astype(np.int64))

    def stacked(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) for k, v in self.arrays.items() if v}

    def save(self, config: PoseConfig) -> None:
        if not self.ids:
            return
        save_hypotheses(self.path, self.stacked(), {"ids": self.ids, "image_sizes": self.sizes,
                                                    "signature": self.signature, "config": config.to_json(),
                                                    "skipped": self.skipped,
                                                    "template_names": self.signature["template_names"]})

    def hypotheses(self) -> Hypotheses:
        a = {k: torch.from_numpy(v) for k, v in self.stacked().items()}
        return Hypotheses(a["R"], a["s"], a["t"], a["z0"], a["w"], a["iou"])


def _part_maps(sample, n_channels: int, side: int) -> torch.Tensor:
    """(C, side, side): pooled one-hot part map; channel 0 = 1 - mask."""
    parts = torch.from_numpy(np.asarray(sample.parts, np.int64)).clamp(0, n_channels - 1)
    onehot = F.one_hot(parts, n_channels).permute(2, 0, 1).float()[None]
    pooled = F.interpolate(onehot, size=(side, side), mode="area")[0]
    mask = F.interpolate(torch.from_numpy(sample.mask)[None, None], size=(side, side), mode="area")[0, 0]
    obj = pooled[1:]
    obj = obj / obj.sum(0, keepdim=True).clamp_min(1e-6) * mask
    return torch.cat([(1 - mask)[None], obj])


def _fit_batch(masks: np.ndarray, templates: np.ndarray, faces: np.ndarray,
               config: PoseConfig) -> tuple[dict[str, np.ndarray], float]:
    """Step 1 of one batch in a worker process (one torch thread): masks (N, S, S) -> the hypotheses' arrays
    (fields of ``Hypotheses``) and the CPU seconds it took."""
    torch.set_num_threads(1)
    c0 = time.process_time()
    hyp = fit_hypotheses(torch.from_numpy(masks), torch.from_numpy(templates), torch.from_numpy(faces), config)
    return {f: getattr(hyp, f).numpy() for f in HYPOTHESIS_FIELDS}, time.process_time() - c0


def _step1_batches(batches, tpl: torch.Tensor, faces: torch.Tensor, config: PoseConfig, workers: int):
    """Yield (batch, loaded items or skip reasons, Hypotheses or None, CPU seconds) for each batch, in order.

    workers > 1 fits batches in that many spawned processes, at most 2 × workers batches ahead; a batch's
    hypotheses do not depend on the other batches, so the results equal a single process's.
    """
    def prepare(batch):
        items = [_load(record, config) for record in batch]
        ok = [x for x in items if not isinstance(x, str)]
        return items, (np.stack([x.sample.mask for x in ok]) if ok else None)

    if workers <= 1:
        for batch in batches:
            items, masks = prepare(batch)
            c0 = time.process_time()
            hyp = fit_hypotheses(torch.from_numpy(masks), tpl, faces, config) if masks is not None else None
            yield batch, items, hyp, time.process_time() - c0
        return
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    queue, pending = iter(batches), deque()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        while True:
            while len(pending) < 2 * workers and (batch := next(queue, None)) is not None:
                items, masks = prepare(batch)
                future = (pool.submit(_fit_batch, masks, tpl.numpy(), faces.numpy(), config)
                          if masks is not None else None)
                pending.append((batch, items, future))
            if not pending:
                return
            batch, items, future = pending.popleft()
            if future is None:
                yield batch, items, None, 0.0
                continue
            arrays, cpu = future.result()
            yield batch, items, Hypotheses(*(torch.from_numpy(arrays[f]) for f in HYPOTHESIS_FIELDS)), cpu


def estimate_poses(collection, out: str | Path, config: PoseConfig, templates, *, resume: bool = False,
                   hypotheses_file: str | Path | None = None, events: Events | None = None,
                   extra_meta: dict | None = None, workers: int = 1) -> PoseRunResult:
    """Run both steps over ``collection`` (a ``dataformat.Collection``) and write the pose file ``out``.

    templates: a ``training.templates.TemplateSet``. resume: continue from the hypotheses file's last finished
    batch (its step-1 settings must match, ``training.engine.stage.check_resume``). events: the phases "step1"
    and "step2", counted in images (``training.engine.stage.Events``). workers: processes for step 1 (the hypotheses file is still written
    batch by batch, in order, so --resume works the same).
    """
    from backend.mesh import uv_sphere

    events = events or Events()
    out = Path(out)
    hyp_path = Path(hypotheses_file) if hypotheses_file else hypotheses_path(out)
    records = list(collection.records)
    skipped: dict[str, str] = {}
    report = getattr(collection, "report", None)
    if report is not None:  # records the loader already refused are named in the summary too
        for reason, examples in report.examples.items():
            if reason in report.skipped:
                for example in examples:
                    skipped[example.split(": ", 1)[0]] = f"at load: {reason.replace('_', ' ')}"
    total = max(len(records) + (report.n_skipped if report is not None else 0), len(records))
    store = _HypothesisStore(hyp_path, _step1_signature(config, templates))
    if resume:
        store.load()
    done = set(store.ids) | set(store.skipped)
    todo = [r for r in records if r.id not in done]
    sphere = uv_sphere()
    faces = torch.from_numpy(np.array(sphere.faces))
    tpl = torch.from_numpy(np.asarray(templates.vertices, np.float32))
    notes = []
    cpu = {"step1": 0.0, "step2": 0.0}
    events.start("step1", len(records), len(records) - len(todo))
    fitted_now = 0
    batches = [todo[start:start + config.batch_images] for start in range(0, len(todo), config.batch_images)]
    for batch, items, hyp, cpu_seconds in _step1_batches(batches, tpl, faces, config, workers):
        loaded = []
        for record, item in zip(batch, items):
            if isinstance(item, str):
                store.skipped[record.id] = item
            else:
                loaded.append(item)
        if loaded:
            boxes = np.array([[x.sample.box.x0, x.sample.box.y0, x.sample.box.side] for x in loaded])
            store.add([x.record.id for x in loaded], [list(x.record.image_size) for x in loaded], hyp, boxes)
            fitted_now += len(loaded)
        cpu["step1"] += cpu_seconds
        store.save(config)
        events.advance("step1", len(batch))
    skipped.update(store.skipped)
    by_id = {r.id: r for r in records}
    ids = [i for i in store.ids if i in by_id]
    if not ids:
        reasons = sorted(set(skipped.values()))
        raise ValueError(f"no usable record in {collection.root} ({total} records; "
                         f"{'; '.join(reasons) if reasons else 'the collection is empty'})")
    hyp_all = store.hypotheses()
    keep_rows = torch.tensor([k for k, i in enumerate(store.ids) if i in by_id])
    hyp = Hypotheses(*(getattr(hyp_all, f)[keep_rows] for f in HYPOTHESIS_FIELDS))
    boxes = store.stacked()["box"][keep_rows.numpy()]
    features = config.features
    has_parts = all(by_id[i].parts_path is not None for i in ids) and bool(collection.part_names)
    if features == "auto":
        features = "parts" if has_parts else "appearance"
    if features == "parts" and not has_parts:
        raise ValueError("--features parts needs part maps for every record; this collection has none "
                         "(use --features appearance)")
    c0 = time.process_time()
    events.start("step2", len(ids))
    if features == "silhouette":
        choice = step2.choose_by_iou(hyp, config)
        events.advance("step2", len(ids))
    else:
        choice, stats, hyp = _step2(hyp, ids, by_id, features, collection, config, tpl, faces,
                               torch.from_numpy(np.array(sphere.mirror_index)), events)
        if stats["fallback"]:
            notes.append(f"templates {stats['fallback']} had no reliable side view; used their most side-on images")
    cpu["step2"] += time.process_time() - c0
    rows = torch.arange(len(ids))
    q = hyp.q[rows, choice.index].double().numpy()
    s = hyp.s[rows, choice.index, 0].double().numpy()
    t = hyp.t[rows, choice.index].double().numpy()
    z0 = hyp.z0[rows, choice.index, 0].double().numpy()
    full = []
    from dataformat import SquareBox

    for k, record_id in enumerate(ids):
        box = SquareBox(int(boxes[k, 0]), int(boxes[k, 1]), int(boxes[k, 2]))
        full.append(crop_to_full(q[k], s[k], t[k], z0[k], by_id[record_id].image_size, box))
    kept = choice.kept.numpy()
    meta = {"collection": str(collection.root), "preset": config.name, "features": features,
            "config": config.to_json(), "skipped": skipped, "hypotheses_file": str(hyp_path),
            "summary": {"total": total, "fitted": len(ids), "kept": int(kept.sum())}, "notes": notes,
            **(extra_meta or {})}
    save_pose_file(out, ids, [p.q for p in full], [p.s for p in full], [p.t for p in full],
                   [p.z0 for p in full], hyp.w[rows, choice.index].numpy(), hyp.iou[rows, choice.index].numpy(),
                   choice.miou.numpy(), choice.v_agr.numpy(), kept, list(templates.names), meta,
                   margin=choice.margin.numpy())
    return PoseRunResult(out, hyp_path, total, len(ids), int(kept.sum()), skipped, features, cpu,
                         fitted_now, notes)


def _step2(hyp: Hypotheses, ids, by_id, features: str, collection, config: PoseConfig, tpl, faces, mirror,
           events: Events) -> tuple[step2.Choice, dict]:
    """Semantic templates from the reliable images, then every image's hypotheses scored by mIoU."""
    side = config.step2_resolution
    reliable, stats = step2.reliable_subset(hyp, config)
    if features == "parts":
        n_channels = len(collection.part_names)

        def maps_of(indices):
            out = []
            for i in indices:
                item = _load(by_id[ids[i]], config)
                out.append(_part_maps(item.sample, n_channels, side))
            return torch.stack(out)
    else:
        maps_of = _appearance_maps(ids, by_id, config)
    flip = _front_back_index(tpl.shape[1]) if config.step2_asymmetry_weight > 0 else None

    def score_all(hyp: Hypotheses = hyp, report: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, K) step-2 score and (N, K) mIoU of every hypothesis under the current semantic templates."""
        miou = torch.zeros_like(hyp.iou)
        dist = torch.zeros_like(hyp.iou)
        weights = None
        if flip is not None:
            asym = step2.front_back_asymmetry(semantic, flip)
            weights = torch.cat([torch.ones(1), 1 + config.step2_asymmetry_weight * asym])
        for chunk in torch.arange(len(ids)).split(8):
            maps = maps_of(chunk.tolist())
            for j, i in enumerate(chunk.tolist()):
                pred = step2.render_channels(hyp, i, semantic, tpl, faces, side)
                miou[i] = step2.soft_miou(pred, maps[j], blur=config.step2_blur, weights=weights)
                if config.step2_centroid_weight:
                    dist[i] = step2.centroid_distance(pred, maps[j], config.step2_centroid_power)
            if report and round_ + 1 == config.semantic_rounds:
                events.advance("step2", len(chunk))
        return miou - config.step2_centroid_weight * dist, miou

    images, chosen = reliable, hyp.best()
    for round_ in range(config.semantic_rounds):
        sums = None
        for chunk in torch.nonzero(images)[:, 0].split(16):
            maps = maps_of(chunk.tolist())
            local = Hypotheses(*(getattr(hyp, f)[chunk] for f in HYPOTHESIS_FIELDS))
            part = step2.back_project(local, maps, torch.arange(len(chunk)), tpl, faces, chosen[chunk])
            sums = part if sums is None else sums + part
        if sums is None:
            sums = torch.zeros(tpl.shape[0], tpl.shape[1], hyp_maps_channels(maps_of, 0) - 1, dtype=torch.float64)
        sums = sums + step2.SMOOTHING
        semantic = sums / sums.sum(dim=2, keepdim=True)
        semantic = (0.5 * (semantic + semantic[:, mirror])).float()
        score, miou = score_all()
        if round_ + 1 < config.semantic_rounds:
            # rebuild from every image whose hypotheses agree on the score, with its best pose (sharpens
            # templates whose reliable side views mixed front/back-flipped poses)
            choice = step2.choose(hyp, score, config, miou)
            confident = choice.kept if config.step2_filter == "margin" else choice.v_agr < config.v_agr_threshold
            if confident.any():
                images, chosen = confident, choice.index
    if config.refine_steps > 0:
        hyp, score, miou = _refine_choice(hyp, score, miou, ids, by_id, config, tpl, faces, score_all, events)
    return step2.choose(hyp, score, config, miou), stats, hyp


def _refine_choice(hyp: Hypotheses, score, miou, ids, by_id, config: PoseConfig, tpl, faces, score_all,
                   events: Events):
    """Step 2b (``refine``): the chosen hypothesis refined in place plus its refined turned-around partner as
    column K; both scored with the final semantic templates. Returns the (N, K + 1) hypotheses, score and mIoU."""
    from .refine import add_refined_partners

    n, k = hyp.q.shape[:2]
    rows = torch.arange(n)
    chosen = score.argmax(dim=1)

    def masks_of(indices):
        return torch.from_numpy(np.stack([_load(by_id[ids[i]], config).sample.mask for i in indices]))

    events.start("refine", n)
    aug = add_refined_partners(hyp, chosen, masks_of, tpl, faces, config,
                               progress=lambda done: events.advance("refine", done))
    pair = Hypotheses(*(torch.stack([getattr(aug, f)[rows, chosen], getattr(aug, f)[:, k]], dim=1)
                        for f in HYPOTHESIS_FIELDS))
    pair_score, pair_miou = score_all(pair, report=False)
    out = []
    for full, new in ((score, pair_score), (miou, pair_miou)):
        full = full.clone()
        full[rows, chosen] = new[:, 0]
        out.append(torch.cat([full, new[:, 1:2]], dim=1))
    return aug, out[0], out[1]


def _front_back_index(n_vertices: int) -> torch.Tensor:
    """(V,) the sphere vertex at each vertex's front/back mirrored position (y negated; the poles are on ±y)."""
    from backend.mesh import uv_sphere
    from backend.mesh.template import mirror_pairs

    sphere = np.asarray(uv_sphere().vertices)
    if sphere.shape[0] != n_vertices:
        raise ValueError(f"templates have {n_vertices} vertices, the sphere {sphere.shape[0]}")
    return torch.from_numpy(mirror_pairs(sphere, axis=1))


def hyp_maps_channels(maps_of, index: int) -> int:
    """Number of channels of the maps ``maps_of`` makes (read from one image)."""
    return int(maps_of([index]).shape[1])


def _appearance_maps(ids, by_id, config: PoseConfig):
    """maps_of(indices) for appearance features: Inception once per image (projected features cached), the PCA
    and clusters fitted on up to 200 images spread over the collection."""
    from .appearance import InceptionBlocks, fit_appearance_model, masked_input, normalise_per_image

    extractor = InceptionBlocks(config.appearance_layer)
    cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def raw(indices):
        samples = [_load(by_id[ids[i]], config).sample for i in indices]
        images = torch.from_numpy(np.stack([s.image for s in samples])).permute(0, 3, 1, 2)
        masks = torch.from_numpy(np.stack([s.mask for s in samples]))
        return normalise_per_image(extractor(masked_input(images, masks, config.appearance_input)), masks), masks

    fit_index = np.unique(np.linspace(0, len(ids) - 1, min(200, len(ids))).round().astype(int)).tolist()
    feats, masks = [], []
    for start in range(0, len(fit_index), 8):
        f, m = raw(fit_index[start:start + 8])
        feats.append(f.half())
        masks.append(m)
    feats_t = torch.cat(feats).float()
    masks_t = torch.cat(masks)
    model = fit_appearance_model(feats_t, masks_t, config.appearance_channels, config.appearance_clusters)
    side = config.step2_resolution
    small = lambda m: F.interpolate(m[:, None], size=(side, side), mode="area")[:, 0]  # noqa: E731
    for k, i in enumerate(fit_index):
        cache[i] = (model.project(feats_t[k:k + 1])[0], small(masks_t[k:k + 1])[0])
    del feats_t

    def maps_of(indices):
        missing = [i for i in indices if i not in cache]
        for start in range(0, len(missing), 8):
            part = missing[start:start + 8]
            f, m = raw(part)
            z = model.project(f)
            for k, i in enumerate(part):
                cache[i] = (z[k], small(m[k:k + 1])[0])
        z = torch.stack([cache[i][0] for i in indices])
        m = torch.stack([cache[i][1] for i in indices])
        return _maps_from_projected(model, z, m)

    return maps_of


def _maps_from_projected(model, z: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    side = masks.shape[-1]
    z = F.interpolate(z, size=(side, side), mode="bilinear", align_corners=False)
    d2 = (z[:, None] - model.centres[None, :, :, None, None]).square().sum(2)
    soft = torch.softmax(-d2 / model.temperature, dim=1)
    m = masks[:, None].clamp(0, 1)
    return torch.cat([1 - m, soft * m], dim=1)
