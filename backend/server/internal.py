"""Messages between the broker and its worker processes (same framing as the public protocol,
on a private ipc:// socket; these ops never reach clients)."""
from __future__ import annotations

import numpy as np

# broker -> worker
BATCH = "w.batch"        # id = batch id; fields: model, segments [{start, count, seed, class, truncation, texture_size,
                         # latent_row, weights_row, paint}] + arrays latents, class_weights (rows of explicit segments)
STOP = "w.stop"          # finish and exit

# worker -> broker
READY = "w.ready"        # fields: worker, device, models, default_model, topology + topology arrays
FATAL = "w.fatal"        # fields: message (the worker could not start, e.g. a bad checkpoint)
MESH = "w.mesh"          # id = batch id; fields: segment, index, seed, class, class_weights, paint + arrays vertices, texture,
                         # latent
BATCH_DONE = "w.done"    # id = batch id
BATCH_ERROR = "w.error"  # id = batch id; fields: code, message, segment (first segment not completed)

#: Environment variable naming a batch size above which a worker raises a simulated device OOM
#: (testing hook for the out-of-memory path; "0" makes every batch fail).
SIMULATE_OOM_ENV = "GAN3D_SERVER_SIMULATE_OOM_ABOVE"


def batch_message(batch) -> tuple[dict, dict]:
    """Header fields and arrays of the ``w.batch`` message for a scheduler ``Batch``.

    Segments with explicit latents (class vectors) name their first row in the ``latents`` (``class_weights``)
    array with ``latent_row`` (``weights_row``); both are null for segments that sample from their seeds.
    """
    segments, latents, weights = [], [], []
    latent_rows = weight_rows = 0
    for s in batch.segments:
        entry = {"start": s.start, "count": s.count, "seed": s.seed, "class": s.class_index,
                 "truncation": s.truncation, "texture_size": s.texture_size, "latent_row": None, "weights_row": None,
                 "paint": s.paint}
        if s.latents is not None:
            entry["latent_row"] = latent_rows
            latents.append(s.latents)
            latent_rows += len(s.latents)
        if s.class_weights is not None:
            entry["weights_row"] = weight_rows
            weights.append(s.class_weights)
            weight_rows += len(s.class_weights)
        segments.append(entry)
    arrays = {}
    if latents:
        arrays["latents"] = np.concatenate(latents).astype(np.float32, copy=False)
    if weights:
        arrays["class_weights"] = np.concatenate(weights).astype(np.float32, copy=False)
    return {"model": batch.model, "segments": segments}, arrays
