"""A worker process: loads the models on one device and generates the batches the broker sends.

Run as ``python -m backend.server.run_worker CONFIG_JSON`` by the broker (never by hand). It talks to the
broker over a private DEALER socket; it ignores SIGINT (the broker stops it with a ``w.stop`` message
so a Ctrl-C in the terminal shuts everything down in order) and exits by itself when the broker dies.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zmq

from backend.protocol import ErrorCode, decode_message, encode_message

from . import internal
from .model_registry import ModelSpec, describe_model, downsample_texture, load_spec, topology_arrays

log = logging.getLogger("gan3d.server.worker")


@dataclass
class WorkerConfig:
    """What a worker needs: its index, the broker's private endpoint, a device, the models and their precision."""

    index: int
    endpoint: str
    device: str
    models: list[ModelSpec] = field(default_factory=list)
    precision: str = "fp32"

    def to_json(self) -> str:
        return json.dumps({"index": self.index, "endpoint": self.endpoint, "device": self.device,
                           "models": [m.to_dict() for m in self.models], "precision": self.precision})

    @classmethod
    def from_json(cls, text: str) -> "WorkerConfig":
        data = json.loads(text)
        return cls(index=data["index"], endpoint=data["endpoint"], device=data["device"],
                   models=[ModelSpec(**m) for m in data["models"]], precision=data.get("precision", "fp32"))


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a device/host allocation failure (CUDA OOM, CPU allocator failure, MemoryError)."""
    import torch
    if isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


class Worker:
    """Holds one MeshGenerator per model and turns ``w.batch`` messages into ``w.mesh`` messages."""

    def __init__(self, config: WorkerConfig, socket: zmq.Socket):
        from backend.device import device_for_worker
        from backend.models import set_precision
        from backend.sampling import MeshGenerator
        self.config = config
        self.socket = socket
        self.generators = {}
        self.descriptions = []
        device = device_for_worker(config.device, config.index)
        for spec in config.models:
            loaded = set_precision(load_spec(spec), config.precision)   # bf16: recorded in the model's provenance
            self.generators[spec.name] = MeshGenerator(loaded, device=device)
            self.descriptions.append(describe_model(spec.name, loaded))
        first = next(iter(self.generators.values()))
        self.device = str(first.device)
        self.topology, self.topology_entry = topology_arrays(first.template)
        limit = os.environ.get(internal.SIMULATE_OOM_ENV)
        self.simulate_oom_above = int(limit) if limit not in (None, "") else None

    def ready_message(self) -> list:
        return encode_message(internal.READY, f"w{self.config.index}", {
            "worker": self.config.index, "device": self.device, "models": self.descriptions,
            "default_model": self.config.models[0].name, "topology": self.topology_entry,
            "pid": os.getpid()}, self.topology)

    def _forward(self, generator, z, classes):
        if self.simulate_oom_above is not None and len(z) > self.simulate_oom_above:
            import torch
            raise torch.cuda.OutOfMemoryError(f"simulated: batch of {len(z)} > {self.simulate_oom_above}")
        return generator.forward(z, classes)

    def run_batch(self, batch_id: str, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
        """Generate every mesh of a batch, streaming each one back; halve the batch on device OOM.

        Segments with a ``latent_row`` take their latents from ``arrays["latents"]`` (their meshes have no
        seed); with a ``weights_row``, their class vectors from ``arrays["class_weights"]``.
        """
        import torch
        from backend.sampling import texture_to_uint8
        arrays = arrays or {}
        generator = self.generators[header["model"]]
        segments = header["segments"]
        if any(seg.get("paint") for seg in segments):   # a paint request's batch holds only its own segment
            self._run_paint(batch_id, header, generator)
            return
        latents, classes, items = [], [], []
        for k, seg in enumerate(segments):
            rows = _segment_rows(arrays, "latents", seg.get("latent_row"), seg["count"])
            z, seg_classes = generator.plan(seg["count"], seg["seed"], seg["class"], seg["truncation"], latents=rows,
                                            class_weights=_segment_rows(arrays, "class_weights",
                                                                        seg.get("weights_row"), seg["count"]))
            latents.append(z)
            if seg_classes is not None:
                classes.extend(seg_classes)
            explicit = rows is not None
            items.extend((k, seg["start"] + i, None if explicit else seg["seed"] + i) for i in range(seg["count"]))
        z = torch.cat(latents)
        if any(not isinstance(c, int) for c in classes):   # class vectors: every row of the batch as weights
            from backend.sampling import class_weight_rows
            classes = class_weight_rows(classes, generator.model.config.n_classes)
        chunk, pos = len(items), 0
        while pos < len(items):
            n = min(chunk, len(items) - pos)
            started = time.perf_counter()
            try:
                out = self._forward(generator, z[pos:pos + n], classes[pos:pos + n] if len(classes) else None)
            except Exception as exc:  # noqa: BLE001 - every failure becomes an error reply, the worker lives on
                if not is_out_of_memory(exc):
                    raise
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                if n == 1:
                    self._send(internal.BATCH_ERROR, batch_id, {
                        "code": ErrorCode.OUT_OF_MEMORY, "segment": items[pos][0],
                        "message": f"{self.device} ran out of memory generating one mesh with model "
                                   f"{header['model']!r}; use a smaller model or another device"})
                    return
                chunk = max(1, n // 2)
                log.warning("worker %d: out of memory with a batch of %d, retrying with %d",
                            self.config.index, n, chunk)
                continue
            vertices = out.vertices.cpu().numpy()
            textures = texture_to_uint8(out.textures)
            compute_ms = round((time.perf_counter() - started) * 1e3, 3)
            for i in range(n):
                k, index, seed = items[pos + i]
                seg = segments[k]
                class_index, class_weights = _mesh_class(classes, pos + i, seg.get("weights_row") is not None)
                self._send(internal.MESH, batch_id, {
                    "segment": k, "index": index, "seed": seed, "class": class_index,
                    "class_weights": class_weights, "compute_ms": compute_ms},
                    {"vertices": np.ascontiguousarray(vertices[i], dtype=np.float32),
                     "texture": downsample_texture(textures[i], seg["texture_size"]),
                     "latent": z[pos + i].numpy()})
            pos += n
        self._send(internal.BATCH_DONE, batch_id, {})

    def _run_paint(self, batch_id: str, header: dict[str, Any], generator) -> None:
        """A batch of a ``paint_color`` request: the candidate search of ``paint_search``, then its meshes."""
        from backend.sampling import texture_to_uint8

        from .paint_search import NoMatch, search
        for k, seg in enumerate(header["segments"]):
            started = time.perf_counter()
            try:
                picks = search(generator, seg, self.topology, lambda z, c: self._forward(generator, z, c),
                               downsample_texture, texture_to_uint8)
            except NoMatch as exc:
                self._send(internal.BATCH_ERROR, batch_id, {"code": ErrorCode.NO_MATCH, "segment": k,
                                                            "message": str(exc)})
                return
            compute_ms = round((time.perf_counter() - started) * 1e3, 3)
            for pick in picks:
                self._send(internal.MESH, batch_id, {
                    "segment": k, "index": seg["start"] + pick.index, "seed": pick.seed, "class": pick.class_index,
                    "class_weights": None, "compute_ms": compute_ms,
                    "paint": {"candidate": pick.candidate, "distance": round(pick.distance, 3),
                              "color": [round(c, 5) for c in pick.colour]}},
                    {"vertices": pick.vertices, "texture": pick.texture, "latent": pick.latent})
        self._send(internal.BATCH_DONE, batch_id, {})

    def _send(self, op: str, batch_id: str, fields: dict[str, Any], arrays: dict | None = None) -> None:
        self.socket.send_multipart(encode_message(op, batch_id, fields, arrays), copy=False)


def _segment_rows(arrays: dict[str, np.ndarray], name: str, row: int | None, count: int) -> np.ndarray | None:
    """Rows ``row .. row + count - 1`` of a batch array, or None when the segment has none."""
    return None if row is None else arrays[name][row:row + count].copy()


def _mesh_class(classes, i: int, weighted: bool) -> tuple[int | None, list[float] | None]:
    """(class index, class vector) reported for mesh i of a batch: the vector only for meshes whose request
    sent class vectors (its index then only when the vector is one-hot)."""
    if len(classes) == 0:
        return None, None
    row = classes[i]
    if not weighted:
        return (int(row) if isinstance(row, int) else int(row.argmax())), None
    vector = row.tolist()
    nonzero = [j for j, w in enumerate(vector) if w != 0.0]
    return (nonzero[0] if len(nonzero) == 1 and vector[nonzero[0]] == 1.0 else None), vector


def serve(config: WorkerConfig) -> int:
    """The worker's loop; returns the process exit code."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    context = zmq.Context()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 2000)
    socket.setsockopt(zmq.IDENTITY, f"w{config.index}".encode())
    socket.connect(config.endpoint)
    try:
        try:
            worker = Worker(config, socket)
        except Exception as exc:  # noqa: BLE001 - reported to the broker, which prints it and exits
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            socket.send_multipart(encode_message(internal.FATAL, f"w{config.index}", {"message": message}))
            return 1
        socket.send_multipart(worker.ready_message(), copy=False)
        while True:
            if not socket.poll(1000):
                if os.getppid() != parent:   # the broker died without stopping us
                    return 0
                continue
            message = decode_message(socket.recv_multipart())
            if message.op == internal.STOP:
                return 0
            if message.op != internal.BATCH:
                continue
            try:
                worker.run_batch(message.request_id, message.header, message.arrays)
            except Exception as exc:  # noqa: BLE001
                log.error("worker %d: batch %s failed:\n%s", config.index, message.request_id, traceback.format_exc())
                worker._send(internal.BATCH_ERROR, message.request_id, {
                    "code": ErrorCode.INTERNAL, "segment": 0,
                    "message": f"generation failed in worker {config.index}: {type(exc).__name__}: {exc}"[:500]})
    finally:
        socket.close()
        context.term()

