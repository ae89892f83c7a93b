"""Messages between the broker and its worker processes (same framing as the public protocol,
on a private ipc:// socket; these ops never reach clients)."""
from __future__ import annotations

# broker -> worker
BATCH = "w.batch"        # id = batch id; fields: model, segments [{start, count, seed, class, truncation, texture_size}]
STOP = "w.stop"          # finish and exit

# worker -> broker
READY = "w.ready"        # fields: worker, device, models, default_model, topology + topology arrays
FATAL = "w.fatal"        # fields: message (the worker could not start, e.g. a bad checkpoint)
MESH = "w.mesh"          # id = batch id; fields: segment, index, seed, class + arrays vertices, texture
BATCH_DONE = "w.done"    # id = batch id
BATCH_ERROR = "w.error"  # id = batch id; fields: code, message, segment (first segment not completed)

#: Environment variable naming a batch size above which a worker raises a simulated device OOM
#: (testing hook for the out-of-memory path; "0" makes every batch fail).
SIMULATE_OOM_ENV = "GAN3D_SERVER_SIMULATE_OOM_ABOVE"
