"""Servers with special set-ups: two workers, restarts, CURVE, device OOM, and the CLIs."""
from __future__ import annotations

import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import trimesh
from PIL import Image

from backend.protocol import AuthenticationFailed, Client, ServerError, ServerUnavailable, load_client_keys
from backend.protocol import ErrorCode

from .conftest import REPO, start_server

SMALL = ("--random_init", "small", "--device", "cpu")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_two_workers_share_the_load_and_agree(tmp_path):
    # also: a non-loopback bind is allowed with --insecure, which warns; and a (simulated) device OOM on
    # batches above one mesh makes the worker halve its batch and carry on
    server = start_server(tmp_path, *SMALL, "--workers", "2", "--max_batch", "2", "--bind", "tcp://0.0.0.0:0",
                          "--insecure", env={"GAN3D_SERVER_SIMULATE_OOM_ABOVE": "1"})
    try:
        address = "tcp://127.0.0.1:" + server.address.rsplit(":", 1)[1]
        assert "WITHOUT authentication" in server.log
        results: dict[int, list] = {}

        def fetch(k: int) -> None:
            with Client(address, timeout=60) as client:
                results[k] = client.generate(count=3, seed=50, texture_size=32)

        threads = [threading.Thread(target=fetch, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        with Client(address, timeout=30) as client:
            info = client.info()
        assert info.workers == 2 and info.devices == ["cpu", "cpu"]
        assert len(results) == 4
        used = {m.worker for meshes in results.values() for m in meshes}
        assert used == {0, 1}, used
        assert "out of memory with a batch of 2, retrying with 1" in server.log
        for meshes in results.values():          # same seeds -> same meshes, whichever worker made them
            for got, want in zip(meshes, results[0]):
                np.testing.assert_array_equal(got.vertices, want.vertices)
                np.testing.assert_array_equal(got.texture, want.texture)
    finally:
        assert server.stop() == 0, server.log


def test_client_retries_through_a_server_restart(tmp_path, reference_generator):
    address = f"tcp://127.0.0.1:{free_port()}"
    server = start_server(tmp_path, *SMALL, "--bind", address, "--max_batch", "1")
    restarted = []
    try:
        client = Client(address, timeout=10, retries=12, backoff=0.25)
        assert client.ping()["workers"] == 1
        stream = client.generate_stream(count=12, seed=7, texture_size=32)
        meshes = [next(iter(stream))]
        server.process.kill()                         # crash: no goodbye to anyone
        server.process.wait()

        def restart() -> None:
            time.sleep(0.5)
            restarted.append(start_server(tmp_path, *SMALL, "--bind", address, "--max_batch", "8"))

        thread = threading.Thread(target=restart)
        thread.start()
        meshes += list(stream)                        # resumes on the new server, asking only for what is missing
        thread.join()
        assert client.ping()["workers"] == 1
        client.close()
    finally:
        for s in [server, *restarted]:
            s.stop()
    assert [m.index for m in meshes] == list(range(12)) and [m.seed for m in meshes] == list(range(7, 19))
    expected = list(reference_generator.generate(2, seed=7 + 10, batch_size=2))
    for got, want in zip(meshes[10:], expected):
        np.testing.assert_allclose(got.vertices, want.vertices, atol=1e-5)


def test_curve_accepts_the_right_key_and_refuses_others(tmp_path):
    keys, stranger = tmp_path / "keys", tmp_path / "stranger"
    made = run_cli("backend.serve", "keygen", str(keys))
    assert made.returncode == 0, made.stderr
    assert run_cli("backend.serve", "keygen", str(stranger)).returncode == 0
    assert (keys / "authorized_clients" / "client.key").is_file()
    assert oct((keys / "server.key_secret").stat().st_mode & 0o777) == "0o600"

    refused = run_cli("backend.serve", *SMALL, "--bind", "tcp://0.0.0.0:0")     # off loopback without keys
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "--keys" in refused.stderr

    server = start_server(tmp_path, *SMALL, "--bind", "tcp://127.0.0.1:0", "--keys", str(keys))
    try:
        with Client(server.address, timeout=20, keys=load_client_keys(keys)) as client:
            assert client.ping()["workers"] == 1
            assert len(client.generate(count=1, texture_size=32)) == 1
        own = load_client_keys(keys)
        other = load_client_keys(stranger)
        wrong_client = type(own)(server_public=own.server_public, public=other.public, secret=other.secret)
        with pytest.raises(AuthenticationFailed):
            with Client(server.address, timeout=3, retries=1, keys=wrong_client) as client:
                client.ping()
        with pytest.raises((ServerUnavailable, AuthenticationFailed)):
            with Client(server.address, timeout=1, retries=1) as client:     # no CURVE at all
                client.ping()
    finally:
        assert server.stop(signal.SIGINT) == 0, server.log           # Ctrl-C shuts down cleanly too


def test_device_oom_for_one_mesh_is_reported(tmp_path):
    server = start_server(tmp_path, *SMALL, "--bind", "tcp://127.0.0.1:0",
                          env={"GAN3D_SERVER_SIMULATE_OOM_ABOVE": "0"})
    try:
        with Client(server.address, timeout=60) as client:
            with pytest.raises(ServerError) as info:
                client.generate(count=2)
            assert info.value.code == ErrorCode.OUT_OF_MEMORY and "ran out of memory" in info.value.message
            assert client.ping()["workers"] == 1             # still serving
    finally:
        assert server.stop() == 0


def test_client_cli_writes_the_same_files_as_backend_generate(tmp_path):
    server = start_server(tmp_path, *SMALL, "--bind", "tcp://127.0.0.1:0")
    try:
        via_server = run_cli("backend.client", "generate", "--address", server.address, "--count", "2", "--seed", "3",
                             "--out", str(tmp_path / "server"))
        assert via_server.returncode == 0, via_server.stderr
        assert "UNTRAINED" in via_server.stderr
    finally:
        assert server.stop() == 0
    local = run_cli("backend.generate", "--random_init", "small", "--how_many", "2", "--seed", "3", "--gpu_ids", "-1",
                    "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert sorted(p.name for p in (tmp_path / "server").iterdir()) == names
    assert {"mesh_0.obj", "mesh_0.mtl", "mesh_0.png", "mesh_1.obj", "latents.npy", "samples.json"} <= set(names)
    np.testing.assert_array_equal(np.load(tmp_path / "server" / "latents.npy"), np.load(tmp_path / "local" / "latents.npy"))
    for j in range(2):
        a = trimesh.load(tmp_path / "server" / f"mesh_{j}.obj", process=False, force="mesh")
        b = trimesh.load(tmp_path / "local" / f"mesh_{j}.obj", process=False, force="mesh")
        np.testing.assert_allclose(a.vertices, b.vertices, atol=1e-4)
        np.testing.assert_array_equal(a.faces, b.faces)
        ta = np.asarray(Image.open(tmp_path / "server" / f"mesh_{j}.png"), dtype=int)
        tb = np.asarray(Image.open(tmp_path / "local" / f"mesh_{j}.png"), dtype=int)
        # untrained weights saturate tanh, so float rounding between batch sizes can flip single texels
        assert ta.shape == (128, 128, 3) and (np.abs(ta - tb) > 1).mean() < 0.01


def test_cli_errors_are_one_line(tmp_path):
    started = time.monotonic()
    nobody = run_cli("backend.client", "ping", "--address", f"tcp://127.0.0.1:{free_port()}")
    assert nobody.returncode == 1 and nobody.stderr.count("\n") == 1
    assert "no gan3d server reachable" in nobody.stderr and "backend.serve" in nobody.stderr
    assert time.monotonic() - started < 60            # fails fast instead of waiting for the reply timeout
    missing = run_cli("backend.serve", "--checkpoint", str(tmp_path / "nope.safetensors"))
    assert missing.returncode == 1 and missing.stderr.strip() == f"error: checkpoint {tmp_path / 'nope.safetensors'} does not exist"
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint at all")
    bad = run_cli("backend.serve", "--checkpoint", str(broken), "--bind", "tcp://127.0.0.1:0", "--device", "cpu")
    assert bad.returncode == 1 and "could not start" in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("error: worker 0 could not start")


def test_serves_a_class_conditional_checkpoint(tmp_path):
    import dataclasses

    from backend.sampling import MeshGenerator
    from backend.models import PRESETS, load_model, save_model
    from backend.models.loaded import build_generator

    config = dataclasses.replace(PRESETS["small"], n_classes=3)
    path = save_model(tmp_path / "vehicles.safetensors", build_generator(config, seed=1), config,
                      ["car", "truck", "bus"], {"note": "test"})
    server = start_server(tmp_path, "--checkpoint", str(path), "--random_init", "small", "--device", "cpu",
                          "--bind", "tcp://127.0.0.1:0")
    try:
        with Client(server.address, timeout=60) as client:
            info = client.info()
            assert [m.name for m in info.models] == ["vehicles", "random-small"] and info.default_model == "vehicles"
            assert info.model().classes == ["car", "truck", "bus"] and info.model().provenance["note"] == "test"
            by_name = client.generate(count=2, seed=9, class_="Truck")
            by_index = client.generate(count=2, seed=9, class_=1)
            mixed = client.generate(count=4, seed=9)                        # a random class per mesh
            other = client.generate(count=1, model="random-small", texture_size=64)
            with pytest.raises(ServerError) as error:
                client.generate(count=1, class_="boat")
            assert error.value.code == ErrorCode.UNKNOWN_CLASS and "truck" in error.value.message
    finally:
        assert server.stop() == 0, server.log
    assert [m.class_index for m in by_name] == [1, 1] and by_name[0].class_name == "truck"
    for a, b in zip(by_name, by_index):
        np.testing.assert_array_equal(a.vertices, b.vertices)
    reference = MeshGenerator(load_model(path), device="cpu")
    expected = list(reference.generate(4, seed=9, batch_size=1))
    assert [m.class_index for m in mixed] == [m.class_index for m in expected]
    for got, want in zip(mixed, expected):
        np.testing.assert_allclose(got.vertices, want.vertices, atol=1e-5)
    assert other[0].model == "random-small" and other[0].texture.shape == (64, 64, 3)


def test_serves_in_bf16_on_request(tmp_path, reference_generator):
    """--precision bf16: the workers run bf16 (info says so); meshes stay close to fp32 but are not identical."""
    from backend.models import PRECISIONS
    from backend.server import ServerConfig
    from backend.server.config import PRECISION_CHOICES

    assert PRECISION_CHOICES == tuple(PRECISIONS)                        # the broker's torch-free copy is in step
    with pytest.raises(ValueError, match="--precision must be one of fp32, bf16"):
        ServerConfig(precision="fp16")
    server = start_server(tmp_path, *SMALL, "--bind", "tcp://127.0.0.1:0", "--precision", "bf16")
    try:
        with Client(server.address, timeout=60) as client:
            assert client.info().model().provenance["precision"] == "bf16"
            meshes = client.generate(count=2, seed=3)
    finally:
        assert server.stop() == 0, server.log
    assert "bf16" in server.log
    expected = list(reference_generator.generate(2, seed=3, batch_size=2))           # fp32, in-process
    levels = np.abs(np.stack([m.texture for m in meshes]).astype(int) - np.stack([m.texture for m in expected]))
    # untrained weights saturate tanh, so a few texels flip; the rest move by at most a few levels
    assert 0 < levels.mean() < 5 and (levels > 8).mean() < 0.02
    for got, want in zip(meshes, expected):
        np.testing.assert_allclose(got.vertices, want.vertices, atol=1e-2)


def test_a_worker_given_up_on_reads_as_exited(tmp_path, caplog):
    """After MAX_WORKER_RESTARTS deaths the broker stops restarting a worker; its stand-in then reports the exit
    code as a finished process does (not None, which means "running"), and close() leaves it alone."""
    from backend.server import Broker, ServerConfig
    from backend.server.broker import MAX_WORKER_RESTARTS, WorkerHandle

    broker = Broker(ServerConfig(random_init=["small"], bind="tcp://127.0.0.1:0"))
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    dead.wait(timeout=60)
    broker.workers.append(WorkerHandle(0, dead, ready=True, restarts=MAX_WORKER_RESTARTS))
    broker._check_workers()
    worker = broker.workers[0]
    assert worker.given_up and not worker.ready and worker.process.poll() == 3
    assert "keeps dying; not restarting it" in caplog.text
    caplog.clear()
    broker._check_workers()                                           # no second report, no restart
    assert "exited unexpectedly" not in caplog.text and worker.process.poll() == 3
    broker.close()
    assert broker.workers == []
