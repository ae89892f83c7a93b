"""The wire codec and request validation (no server needed): round trips, every rejection, fuzzing."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from backend.protocol import (
    MAX_COUNT, MAX_SEED, PROTOCOL_TAG, ErrorCode, GenerateRequest, Message, Op, ProtocolError, decode_message,
    encode_message, parse_request, resolve_generate,
)


def _frames(header: dict, *arrays: bytes) -> list[bytes]:
    return [PROTOCOL_TAG, json.dumps(header).encode(), *arrays]


def test_arrays_round_trip_bit_exact():
    rng = np.random.default_rng(0)
    verts = rng.standard_normal((962, 3)).astype(np.float32)
    tex = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    faces = rng.integers(0, 962, (1920, 3)).astype(np.int32)
    frames = encode_message("mesh", "r1", {"index": 3}, {"vertices": verts, "texture": tex, "faces": faces})
    message = decode_message([bytes(f) for f in frames])
    assert (message.op, message.request_id, message.get("index")) == ("mesh", "r1", 3)
    np.testing.assert_array_equal(message.arrays["vertices"], verts)
    np.testing.assert_array_equal(message.arrays["texture"], tex)
    np.testing.assert_array_equal(message.arrays["faces"], faces)
    assert message.arrays["texture"].dtype == np.uint8


def test_encoder_refuses_unsupported_dtype_and_reserved_keys():
    with pytest.raises(ValueError, match="dtype"):
        encode_message("mesh", "r", arrays={"x": np.zeros(3, np.float64)})
    with pytest.raises(ValueError, match="reserved"):
        encode_message("mesh", "r", {"op": "x"})


@pytest.mark.parametrize("frames, code", [
    ([PROTOCOL_TAG], ErrorCode.BAD_FRAMES),
    ([b"zmtp", b"{}"], ErrorCode.BAD_FRAMES),
    ([b"gan3d/9", b"{}"], ErrorCode.UNSUPPORTED_VERSION),
    ([PROTOCOL_TAG, b"\xff\xfe"], ErrorCode.BAD_JSON),
    ([PROTOCOL_TAG, b"{not json"], ErrorCode.BAD_JSON),
    ([PROTOCOL_TAG, b"[1, 2]"], ErrorCode.BAD_JSON),
    ([PROTOCOL_TAG, b'{"v": 1, "id": "a", "op": "ping", "x": NaN}'], ErrorCode.BAD_JSON),
    (_frames({"v": 1, "op": "ping"}), ErrorCode.BAD_REQUEST),
    (_frames({"v": 1, "id": "", "op": "ping"}), ErrorCode.BAD_REQUEST),
    (_frames({"v": 1, "id": "x" * 65, "op": "ping"}), ErrorCode.BAD_REQUEST),
    (_frames({"v": 2, "id": "a", "op": "ping"}), ErrorCode.UNSUPPORTED_VERSION),
    (_frames({"v": True, "id": "a", "op": "ping"}), ErrorCode.UNSUPPORTED_VERSION),
    (_frames({"v": 1, "id": "a", "op": 3}), ErrorCode.BAD_REQUEST),
    (_frames({"v": 1, "id": "a", "op": "mesh", "arrays": [{"name": "x", "dtype": "float32", "shape": [2]}]}),
     ErrorCode.BAD_FRAMES),
    (_frames({"v": 1, "id": "a", "op": "mesh", "arrays": [{"name": "x", "dtype": "float32", "shape": [2]}]}, b"123"),
     ErrorCode.BAD_FRAMES),
    (_frames({"v": 1, "id": "a", "op": "mesh", "arrays": [{"name": "x", "dtype": "object", "shape": [1]}]}, b"1"),
     ErrorCode.BAD_REQUEST),
    (_frames({"v": 1, "id": "a", "op": "mesh", "arrays": [{"name": "x", "dtype": "uint8", "shape": [-1]}]}, b""),
     ErrorCode.BAD_REQUEST),
    ([PROTOCOL_TAG, b" " * (70 << 10)], ErrorCode.TOO_LARGE),
])
def test_decoder_rejects_with_code(frames, code):
    with pytest.raises(ProtocolError) as info:
        decode_message(frames)
    assert info.value.code == code
    assert info.value.message


def _request(**header) -> Message:
    return decode_message(_frames({"v": 1, "id": "req", **header}))


def test_parse_request_types_and_ranges():
    request = parse_request(_request(op="generate", count=3, seed=5, truncation=0.5, texture_size=64))
    assert request == GenerateRequest("req", count=3, seed=5, truncation=0.5, texture_size=64)
    cases = [
        (dict(op="explode"), ErrorCode.UNKNOWN_OP),
        (dict(op="generate", count="3"), ErrorCode.BAD_REQUEST),
        (dict(op="generate", count=True), ErrorCode.BAD_REQUEST),
        (dict(op="generate", count=0), ErrorCode.OUT_OF_RANGE),
        (dict(op="generate", count=MAX_COUNT + 1), ErrorCode.OUT_OF_RANGE),
        (dict(op="generate", seed=-1), ErrorCode.OUT_OF_RANGE),
        (dict(op="generate", seed=MAX_SEED, count=2), ErrorCode.OUT_OF_RANGE),
        (dict(op="generate", seed=1.5), ErrorCode.BAD_REQUEST),
        (dict(op="generate", truncation=0.0), ErrorCode.OUT_OF_RANGE),
        (dict(op="generate", truncation="big"), ErrorCode.BAD_REQUEST),
        (dict(op="generate", model=7), ErrorCode.BAD_REQUEST),
        (dict(op="generate", **{"class": [1]}), ErrorCode.BAD_REQUEST),
        (dict(op="cancel"), ErrorCode.BAD_REQUEST),
    ]
    for header, code in cases:
        with pytest.raises(ProtocolError) as info:
            parse_request(_request(**header))
        assert info.value.code == code, header
        assert info.value.request_id == "req"


def test_resolve_generate_against_models():
    models = [{"name": "cars", "classes": ["car", "truck"], "texture_sizes": [128, 64, 32]},
              {"name": "birds", "classes": [], "texture_sizes": [64, 32]}]
    resolved = resolve_generate(GenerateRequest("r", class_="truck"), models, "cars")
    assert (resolved.model, resolved.class_index, resolved.texture_size) == ("cars", 1, 128)
    assert resolve_generate(GenerateRequest("r", model="birds", texture_size=32), models, "cars").texture_size == 32
    assert resolve_generate(GenerateRequest("r", class_="TRUCK"), models, "cars").class_index == 1
    assert resolve_generate(GenerateRequest("r"), models, "cars").class_index is None   # random class per mesh
    for request, code in [
        (GenerateRequest("r", model="dogs"), ErrorCode.UNKNOWN_MODEL),
        (GenerateRequest("r", class_=2), ErrorCode.UNKNOWN_CLASS),
        (GenerateRequest("r", class_="boat"), ErrorCode.UNKNOWN_CLASS),
        (GenerateRequest("r", model="birds", class_=0), ErrorCode.UNKNOWN_CLASS),
        (GenerateRequest("r", class_=0, texture_size=100), ErrorCode.OUT_OF_RANGE),
    ]:
        with pytest.raises(ProtocolError) as info:
            resolve_generate(request, models, "cars")
        assert info.value.code == code


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=5))
def test_fuzz_decoder_random_frames_only_raise_protocol_error(frames):
    try:
        message = decode_message(frames)
    except ProtocolError as exc:
        assert exc.code in ErrorCode.ALL
    else:
        assert isinstance(message.header, dict)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["v", "id", "op", "arrays", "count", "seed", "truncation", "class", "model",
                                        "texture_size", "target"]), _json_values, max_size=8),
       st.lists(st.binary(max_size=32), max_size=3))
def test_fuzz_structured_headers_only_raise_protocol_error(header, extra_frames):
    header.setdefault("v", 1)
    header.setdefault("id", "fuzz")
    try:
        message = decode_message([PROTOCOL_TAG, json.dumps(header).encode(), *extra_frames])
        request = parse_request(message)
    except ProtocolError as exc:
        assert exc.code in ErrorCode.ALL
    else:
        assert request.request_id == "fuzz"
        assert message.op in Op.ALL


def test_protocol_and_client_import_without_torch():
    code = "import sys, backend.protocol, backend.client; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_client_reports_a_server_of_another_protocol_version():
    """A peer that answers in gan3d/2 gets a ServerError naming the version, not a silent timeout."""
    import threading

    import zmq

    from backend.protocol import Client, ServerError

    context = zmq.Context.instance()
    router = context.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    stop = threading.Event()

    def answer_in_a_future_version():
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        while not stop.is_set():
            if poller.poll(50):
                identity, _tag, header, *_ = router.recv_multipart()
                request_id = json.loads(header)["id"]
                router.send_multipart([identity, b"gan3d/2", json.dumps({"v": 2, "id": request_id, "op": "pong"}).encode()])

    thread = threading.Thread(target=answer_in_a_future_version, daemon=True)
    thread.start()
    try:
        client = Client(f"tcp://127.0.0.1:{port}", timeout=5.0, retries=0)
        with pytest.raises(ServerError) as raised:
            client.ping()
        assert raised.value.code == "unsupported_version" and "gan3d/2" in str(raised.value)
        client.close()
    finally:
        stop.set()
        thread.join(timeout=2)
        router.close(linger=0)
