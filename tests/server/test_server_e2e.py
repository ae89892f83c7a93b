"""One real server process (untrained "small" model) driven by the real client and by raw sockets."""
from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import zmq

from backend.protocol import Client, MeshResult, Progress, ServerError
from backend.mesh import uv_sphere
from backend.protocol import (
    MAX_COUNT, MAX_IN_FLIGHT_PER_CLIENT, PROTOCOL_TAG, ErrorCode, Op, ProtocolError, Reply, decode_message,
    encode_message,
)


def raw_socket(address: str, **options) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    for name, value in options.items():
        sock.setsockopt(getattr(zmq, name), value)
    sock.connect(address)
    return sock


def receive(sock: zmq.Socket, timeout: float = 20.0):
    assert sock.poll(int(timeout * 1000)), "no reply from the server"
    return decode_message(sock.recv_multipart())


def ask(sock: zmq.Socket, frames: list, timeout: float = 20.0):
    sock.send_multipart(frames)
    return receive(sock, timeout)


def header_frames(**header) -> list[bytes]:
    return [PROTOCOL_TAG, json.dumps({"v": 1, **header}).encode()]


def assert_serving(address: str) -> None:
    """A good request succeeds after a bad one."""
    with Client(address, timeout=20) as client:
        meshes = client.generate(count=1, seed=1, texture_size=32)
    assert len(meshes) == 1 and meshes[0].vertices.shape == (962, 3)


def test_ping_and_info_describe_the_server(small_server):
    with Client(small_server.address, timeout=20) as client:
        pong = client.ping()
        info = client.info()
    assert pong["op"] == Reply.PONG and pong["workers"] == 1
    assert info.protocol_version == 1 and info.devices == ["cpu"] and info.max_batch == 4
    model = info.model()
    assert model.name == "random-small" and model.untrained and model.texture_sizes == [128, 64, 32]
    assert model.classes == [] and model.latent_dim == 64
    template = uv_sphere(31)
    np.testing.assert_array_equal(info.topology.faces, template.faces)
    np.testing.assert_array_equal(info.topology.uvs, template.uvs)
    np.testing.assert_array_equal(info.topology.face_uvs, template.face_uvs)
    assert info.topology.faces.dtype == np.int32 and info.topology.vertex_count == 962


def test_generate_matches_the_generator_and_is_deterministic(small_server, reference_generator):
    with Client(small_server.address, timeout=30) as client:
        first = client.generate(count=2, seed=11)
        again = client.generate(count=2, seed=11)
        alone = client.generate(count=1, seed=12)            # mesh 1 of the request above, on its own
    expected = list(reference_generator.generate(2, seed=11, batch_size=2))
    assert [m.seed for m in first] == [11, 12] and [m.index for m in first] == [0, 1]
    for got, repeat, want in zip(first, again, expected):
        np.testing.assert_array_equal(got.vertices, repeat.vertices)
        np.testing.assert_array_equal(got.texture, repeat.texture)
        np.testing.assert_allclose(got.vertices, want.vertices, atol=1e-5)
        assert np.abs(got.texture.astype(int) - want.texture).max() <= 1
        np.testing.assert_array_equal(got.latent, want.latent)
        assert got.texture.shape == (128, 128, 3) and got.texture.dtype == np.uint8
    np.testing.assert_array_equal(alone[0].vertices, first[1].vertices)
    np.testing.assert_array_equal(alone[0].texture, first[1].texture)


def test_texture_size_is_block_average_of_native(small_server):
    with Client(small_server.address, timeout=30) as client:
        native = client.generate(count=1, seed=4)[0].texture
        small = client.generate(count=1, seed=4, texture_size=32)[0].texture
    expected = np.rint(native.reshape(32, 4, 32, 4, 3).astype(np.float32).mean(axis=(1, 3)))
    assert small.shape == (32, 32, 3)
    assert np.abs(small.astype(int) - expected.astype(int)).max() <= 1


def test_stream_arrives_in_order_with_progress_then_done(small_server):
    with Client(small_server.address, timeout=30) as client:
        stream = client.generate_stream(count=4, seed=100, texture_size=32)
        events = []
        while not stream.finished:
            events.extend(stream.poll(0.2))
    meshes = [e for e in events if isinstance(e, MeshResult)]
    progress = [e.done for e in events if isinstance(e, Progress)]
    assert [m.index for m in meshes] == list(range(4)) and [m.seed for m in meshes] == list(range(100, 104))
    # batches ramp 1, 2, 4... (max_batch 4): the first mesh comes alone, progress follows each batch
    assert progress == [1, 3, 4]
    assert not stream.cancelled


def test_cancel_stops_a_long_request(small_server):
    with Client(small_server.address, timeout=30) as client:
        stream = client.generate_stream(count=MAX_COUNT, seed=0, texture_size=32)
        first = next(iter(stream))
        stream.cancel()
        assert stream.cancelled and stream.finished and first.index == 0
        assert stream.received < MAX_COUNT
        assert client.ping()["queued"] == 0
    assert_serving(small_server.address)


BAD_REQUESTS = [
    ("one frame", [PROTOCOL_TAG], ErrorCode.BAD_FRAMES),
    ("wrong tag", [b"hello", b"{}"], ErrorCode.BAD_FRAMES),
    ("newer version", [b"gan3d/2", b"{}"], ErrorCode.UNSUPPORTED_VERSION),
    ("invalid json", [PROTOCOL_TAG, b"{\"v\": 1, \"id\": "], ErrorCode.BAD_JSON),
    ("not utf-8", [PROTOCOL_TAG, b"\xff\xfe\xfd"], ErrorCode.BAD_JSON),
    ("unknown op", header_frames(id="u1", op="teleport"), ErrorCode.UNKNOWN_OP),
    ("count as string", header_frames(id="u2", op="generate", count="5"), ErrorCode.BAD_REQUEST),
    ("seed as float", header_frames(id="u3", op="generate", seed=2.5), ErrorCode.BAD_REQUEST),
    ("count too big", header_frames(id="u4", op="generate", count=MAX_COUNT + 1), ErrorCode.OUT_OF_RANGE),
    ("negative seed", header_frames(id="u5", op="generate", seed=-3), ErrorCode.OUT_OF_RANGE),
    ("truncation zero", header_frames(id="u6", op="generate", truncation=0), ErrorCode.OUT_OF_RANGE),
    ("class on unconditional", header_frames(id="u7", op="generate", **{"class": 3}), ErrorCode.UNKNOWN_CLASS),
    ("unknown model", header_frames(id="u8", op="generate", model="dragons"), ErrorCode.UNKNOWN_MODEL),
    ("texture size not offered", header_frames(id="u9", op="generate", texture_size=100), ErrorCode.OUT_OF_RANGE),
    ("arrays on a request", [*encode_message("ping", "u10", arrays={"x": np.zeros(2, np.uint8)})],
     ErrorCode.BAD_FRAMES),
    ("header too large", header_frames(id="u11", op="ping", pad="x" * (70 << 10)), ErrorCode.TOO_LARGE),
    ("cancel unknown id", header_frames(id="u12", op="cancel", target="nope"), ErrorCode.UNKNOWN_REQUEST),
    ("missing id", header_frames(op="ping"), ErrorCode.BAD_REQUEST),
]


@pytest.mark.parametrize("name, frames, code", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_request_gets_error_then_good_request_succeeds(small_server, name, frames, code):
    sock = raw_socket(small_server.address)
    try:
        reply = ask(sock, frames)
        assert reply.op == Reply.ERROR and reply.get("code") == code, reply.header
        assert reply.get("message")
        try:
            header = json.loads(frames[1])
        except (IndexError, ValueError):
            header = {}
        expected_id = "-" if code == ErrorCode.TOO_LARGE else header.get("id", "-")   # too large: not parsed
        assert reply.request_id == expected_id
        # the same connection keeps working
        assert ask(sock, encode_message(Op.PING, "after"), timeout=20).op == Reply.PONG
    finally:
        sock.close()
    assert_serving(small_server.address)


def test_duplicate_request_id_is_refused_while_running(small_server):
    sock = raw_socket(small_server.address)
    try:
        sock.send_multipart(encode_message(Op.GENERATE, "dup", {"count": 40, "texture_size": 32}))
        sock.send_multipart(encode_message(Op.GENERATE, "dup", {"count": 1}))
        codes = []
        while True:
            reply = receive(sock)
            if reply.op == Reply.ERROR:
                codes.append(reply.get("code"))
                sock.send_multipart(encode_message(Op.CANCEL, "c", {"target": "dup"}))
            if reply.op in (Reply.CANCELLED, Reply.DONE):
                break
        assert codes == [ErrorCode.DUPLICATE_REQUEST]
    finally:
        sock.close()
    assert_serving(small_server.address)


def test_oversized_message_drops_only_that_connection(small_server):
    sock = raw_socket(small_server.address)
    try:
        sock.send_multipart([PROTOCOL_TAG, b"{}", b"\0" * (2 << 20)])   # above ZMQ_MAXMSGSIZE
        assert not sock.poll(500), "an oversized message must not be answered"
    finally:
        sock.close()
    with Client(small_server.address, timeout=20) as client:
        with pytest.raises(ProtocolError) as info:
            client.request(Op.PING, {"pad": "x" * (2 << 20)})   # the client refuses before sending
        assert info.value.code == ErrorCode.TOO_LARGE
    assert_serving(small_server.address)


def test_client_vanishing_mid_stream_drops_its_job(small_server):
    sock = raw_socket(small_server.address)
    sock.send_multipart(encode_message(Op.GENERATE, "gone", {"count": 2000, "texture_size": 32}))
    while receive(sock).op != Reply.MESH:
        pass
    sock.close()
    with Client(small_server.address, timeout=20) as client:
        deadline = time.monotonic() + 30
        while client.ping()["queued"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.ping()["queued"] == 0
    assert "went away" in small_server.log
    assert_serving(small_server.address)


def test_slow_client_is_paused_while_others_are_served(small_server):
    slow = raw_socket(small_server.address, RCVHWM=1, RCVBUF=4096)
    try:
        count = 60   # 128² textures: ~60 KB per mesh, far above HWM 8 + 64 KiB of kernel buffer
        slow.send_multipart(encode_message(Op.GENERATE, "slow", {"count": count}))   # 128² textures, ~60 KB each
        deadline = time.monotonic() + 120
        while "is not reading" not in small_server.log:             # the server noticed and paused it
            assert time.monotonic() < deadline, "the slow client was never paused"
            time.sleep(0.1)
        assert_serving(small_server.address)                       # others are served meanwhile
        seen = []
        while True:
            reply = receive(slow, timeout=60)
            if reply.op == Reply.MESH:
                seen.append(reply.get("index"))
            if reply.op in Reply.FINAL:
                break
        assert reply.op == Reply.DONE and seen == list(range(count))   # then resumed, nothing lost
    finally:
        slow.close()


def test_load_sixteen_clients_fifty_requests_each(small_server):
    results: dict[int, dict[str, list[str]]] = {}
    errors: list[BaseException] = []

    def run_client(k: int) -> None:
        try:
            sock = raw_socket(small_server.address)
            sent = {}
            for i in range(50):
                rid = f"c{k}-r{i}"
                if i % 25 == 3:
                    sent[rid] = Op.GENERATE
                    sock.send_multipart(encode_message(Op.GENERATE, rid, {"seed": k * 100 + i, "texture_size": 32}))
                elif i % 10 == 7:
                    sent[rid] = Op.INFO
                    sock.send_multipart(encode_message(Op.INFO, rid))
                else:
                    sent[rid] = Op.PING
                    sock.send_multipart(encode_message(Op.PING, rid))
            finals: dict[str, list[str]] = {}
            meshes: dict[str, list[int]] = {}
            while len(finals) < len(sent):
                reply = receive(sock, timeout=60)
                assert reply.request_id in sent, reply.header
                if reply.op == Reply.MESH:
                    meshes.setdefault(reply.request_id, []).append(reply.get("seed"))
                if reply.op in Reply.FINAL:
                    finals.setdefault(reply.request_id, []).append(reply.op)
            sock.close()
            for rid, op in sent.items():
                want = {Op.GENERATE: [Reply.DONE], Op.INFO: [Reply.INFO], Op.PING: [Reply.PONG]}[op]
                assert finals[rid] == want, (rid, finals[rid])
                if op == Op.GENERATE:
                    assert meshes[rid] == [k * 100 + int(rid.split("-r")[1])]
            results[k] = finals
        except BaseException as exc:   # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run_client, args=(k,)) for k in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not errors, errors[0]
    assert len(results) == 16 and sum(len(f) for f in results.values()) == 16 * 50


def test_server_error_surfaces_in_client(small_server):
    with Client(small_server.address, timeout=20) as client:
        with pytest.raises(ServerError) as info:
            client.generate(count=1, model="no-such-model")
        assert info.value.code == ErrorCode.UNKNOWN_MODEL and "random-small" in info.value.message
        with pytest.raises(ProtocolError):
            client.generate(count=0)          # checked locally before sending


def test_too_many_requests_in_flight_get_busy(small_server):
    sock = raw_socket(small_server.address)
    try:
        for i in range(MAX_IN_FLIGHT_PER_CLIENT + 1):
            sock.send_multipart(encode_message(Op.GENERATE, f"b{i}", {"count": MAX_COUNT, "texture_size": 32}))
        busy = None
        while busy is None:
            reply = receive(sock)
            if reply.op == Reply.ERROR:
                busy = reply
        assert busy.request_id == f"b{MAX_IN_FLIGHT_PER_CLIENT}" and busy.get("code") == ErrorCode.BUSY
    finally:
        sock.close()                                   # the server drops the 64 jobs when it next writes to us
    with Client(small_server.address, timeout=20) as client:
        deadline = time.monotonic() + 60
        while client.ping()["queued"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.ping()["queued"] == 0
    assert_serving(small_server.address)


def test_a_dead_worker_fails_only_its_batch_and_is_restarted(small_server):
    import os
    import signal

    (worker,) = small_server.worker_pids()
    with Client(small_server.address, timeout=60) as client:
        stream = client.generate_stream(count=MAX_COUNT, texture_size=32)
        next(iter(stream))
        os.kill(worker, signal.SIGKILL)
        with pytest.raises(ServerError) as error:
            list(stream)
        assert error.value.code == ErrorCode.INTERNAL and "died" in error.value.message
        assert len(client.generate(count=2, seed=5, texture_size=32)) == 2     # waits for the new worker
    (restarted,) = small_server.worker_pids()
    assert restarted != worker and "restarting worker 0" in small_server.log
