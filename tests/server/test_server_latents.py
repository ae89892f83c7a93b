"""Explicit latents and class vectors on the wire: validation (no server), then one real server with an
unconditional and a class-conditional model, compared with the same models run in-process."""
from __future__ import annotations

import json

import numpy as np
import pytest

from backend.protocol import Client, ServerError
from backend.protocol import (
    MAX_LATENT_ABS, PROTOCOL_TAG, ErrorCode, GenerateRequest, Op, ProtocolError, Reply, decode_message,
    encode_message, parse_request, resolve_generate,
)

from .conftest import start_server
from .test_server_e2e import ask, raw_socket

D = 64   # latent_dim of the "small" preset


def _generate(arrays: dict, **header):
    return parse_request(decode_message([bytes(f) for f in encode_message(Op.GENERATE, "req", header, arrays)]))


def test_generate_request_carries_latents_and_class_vectors():
    z = np.random.default_rng(0).standard_normal((3, D)).astype(np.float32)
    w = np.array([[1, 0, 0], [0.5, 0.5, 0], [0, 0, 1]], np.float32)
    request = _generate({"latents": z, "class_weights": w})
    assert request.count == 3                      # count defaults to the rows
    np.testing.assert_array_equal(request.latents, z)
    np.testing.assert_array_equal(request.class_weights, w)
    assert request.latents.flags.writeable         # a copy, not a view on the received frame


@pytest.mark.parametrize("arrays, header, code, words", [
    ({"latents": np.zeros((2, D), np.float64).astype(np.int32)}, {}, ErrorCode.BAD_REQUEST, "float32"),
    ({"latents": np.zeros((2, 2, D), np.float32)}, {}, ErrorCode.BAD_REQUEST, "shape"),
    ({"latents": np.zeros((2, D), np.float32)}, {"count": 3}, ErrorCode.BAD_REQUEST, "2 rows"),
    ({"latents": np.full((1, D), np.nan, np.float32)}, {}, ErrorCode.OUT_OF_RANGE, "NaN or infinite"),
    ({"latents": np.full((1, D), np.inf, np.float32)}, {}, ErrorCode.OUT_OF_RANGE, "NaN or infinite"),
    ({"latents": np.full((1, D), MAX_LATENT_ABS * 2, np.float32)}, {}, ErrorCode.OUT_OF_RANGE, "magnitude"),
    ({"latents": np.zeros((0, D), np.float32)}, {}, ErrorCode.BAD_REQUEST, "shape"),
    ({"noise": np.zeros((1, D), np.float32)}, {}, ErrorCode.BAD_FRAMES, "only the arrays"),
    ({"class_weights": np.array([[0.5, 0.6]], np.float32)}, {}, ErrorCode.OUT_OF_RANGE, "sum to 1"),
    ({"class_weights": np.array([[1.5, -0.5]], np.float32)}, {}, ErrorCode.OUT_OF_RANGE, "negative"),
    ({"class_weights": np.array([[1.0, 0.0]], np.float32)}, {"class": 1}, ErrorCode.BAD_REQUEST, "not both"),
    ({"latents": np.zeros((2, D), np.float32), "class_weights": np.array([[1.0, 0.0]], np.float32)}, {},
     ErrorCode.BAD_REQUEST, "one row of each"),
])
def test_bad_arrays_are_refused_with_a_code_and_a_reason(arrays, header, code, words):
    with pytest.raises(ProtocolError) as info:
        _generate(arrays, **header)
    assert info.value.code == code and words in info.value.message and info.value.request_id == "req"


def test_arrays_are_checked_against_the_model():
    models = [{"name": "cars", "classes": [], "texture_sizes": [128], "latent_dim": D},
              {"name": "many", "classes": ["car", "bird"], "texture_sizes": [128], "latent_dim": D}]
    z = np.zeros((1, D), np.float32)
    assert resolve_generate(GenerateRequest("r", latents=z), models, "cars").model == "cars"
    cases = [
        (GenerateRequest("r", latents=np.zeros((1, 32), np.float32)), ErrorCode.BAD_REQUEST, "takes latents of 64"),
        (GenerateRequest("r", class_weights=np.ones((1, 1), np.float32)), ErrorCode.UNKNOWN_CLASS, "unconditional"),
        (GenerateRequest("r", model="many", class_weights=np.ones((1, 1), np.float32)), ErrorCode.BAD_REQUEST,
         "2 classes"),
        (GenerateRequest("r", model="many", latents=z), ErrorCode.UNKNOWN_CLASS, "need a 'class'"),
    ]
    for request, code, words in cases:
        with pytest.raises(ProtocolError) as info:
            resolve_generate(request, models, "cars")
        assert info.value.code == code and words in info.value.message


def test_client_checks_latents_before_sending():
    with Client("tcp://127.0.0.1:9", timeout=1, retries=0) as client:   # nothing listens: it must fail locally
        with pytest.raises(ProtocolError) as info:
            client.generate_stream(latents=np.full(D, np.nan))
        assert info.value.code == ErrorCode.OUT_OF_RANGE
        with pytest.raises(ProtocolError) as info:
            client.generate_stream(latents=np.zeros((4096, D)))   # 1 MiB of latents + header: above MAX_REQUEST_BYTES
        assert info.value.code == ErrorCode.TOO_LARGE


# ---- one real server ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def conditional_model(tmp_path_factory):
    from backend.models import Generator, GeneratorConfig, save_model
    config = GeneratorConfig(texture_resolution=128, n_classes=3, width=0.25)
    path = tmp_path_factory.mktemp("models") / "classes3.safetensors"
    return save_model(path, Generator(config), config, class_names=["airplane", "car", "bird"])


@pytest.fixture(scope="module")
def server(tmp_path_factory, conditional_model):
    server = start_server(tmp_path_factory.mktemp("server"), "--random_init", "small", "--checkpoint",
                          str(conditional_model), "--bind", "tcp://127.0.0.1:0", "--max_batch", "4",
                          "--device", "cpu")
    yield server
    assert server.stop() == 0, server.log


def test_explicit_latents_reproduce_the_seeded_meshes_exactly(server):
    with Client(server.address, timeout=30) as client:
        seeded = client.generate(count=3, seed=40, model="random-small")
        latents = np.stack([m.latent for m in seeded])
        explicit = client.generate(latents=latents, model="random-small")
        info = client.info()
    assert len(explicit) == 3
    for a, b in zip(seeded, explicit):    # same latents, same batch sizes (1, then 2): bit-identical meshes
        np.testing.assert_array_equal(a.vertices, b.vertices)
        np.testing.assert_array_equal(a.texture, b.texture)
        np.testing.assert_array_equal(b.latent, a.latent)
        assert b.seed is None and a.seed is not None
    from backend.models import random_init_model
    from backend.models import weights_fingerprint
    fingerprints = {m.name: m.fingerprint for m in info.models}
    assert fingerprints["random-small"] == weights_fingerprint(random_init_model("small", seed=0))
    assert len(set(fingerprints.values())) == 2


def test_class_vectors_blend_classes_and_one_hot_rows_are_the_class(server, conditional_model):
    from backend.sampling import MeshGenerator
    from backend.models import load_model

    reference = MeshGenerator(load_model(conditional_model))
    z = np.random.default_rng(1).standard_normal((3, D)).clip(-1, 1).astype(np.float32)
    weights = np.array([[0, 1, 0], [0, 0.5, 0.5], [0, 0, 1]], np.float32)
    with Client(server.address, timeout=30) as client:
        blended = client.generate(latents=z, class_weights=weights, model="classes3")
        by_class = client.generate(latents=z[:1], class_="car", model="classes3")
    assert [m.class_index for m in blended] == [1, None, 2]
    assert [m.class_name for m in blended] == ["car", None, "bird"]
    np.testing.assert_array_equal(blended[1].class_weights, weights[1])
    np.testing.assert_array_equal(blended[0].texture, by_class[0].texture)   # one-hot row == the class index
    want = list(reference.generate(None, latents=z, class_weights=weights, batch_size=2))
    for got, expected in zip(blended, want):
        assert np.abs(got.texture.astype(int) - expected.texture).max() <= 1
    assert np.abs(blended[1].texture.astype(int) - blended[0].texture).max() > 0


def test_bad_latents_over_the_wire_get_errors_and_the_server_keeps_serving(server):
    sock = raw_socket(server.address)
    try:
        nan = np.full((1, D), np.nan, np.float32)
        reply = ask(sock, encode_message(Op.GENERATE, "n1", {"model": "random-small"}, {"latents": nan}))
        assert (reply.op, reply.get("code"), reply.request_id) == (Reply.ERROR, ErrorCode.OUT_OF_RANGE, "n1")
        short = np.zeros((1, 16), np.float32)
        reply = ask(sock, encode_message(Op.GENERATE, "n2", {"model": "random-small"}, {"latents": short}))
        assert reply.get("code") == ErrorCode.BAD_REQUEST and "takes latents of 64" in reply.get("message")
        reply = ask(sock, encode_message(Op.GENERATE, "n3", {"model": "classes3"},
                                         {"latents": np.zeros((1, D), np.float32)}))
        assert reply.get("code") == ErrorCode.UNKNOWN_CLASS
        assert ask(sock, [PROTOCOL_TAG, json.dumps({"v": 1, "id": "p", "op": "ping"}).encode()]).op == Reply.PONG
    finally:
        sock.close()
    with Client(server.address, timeout=30) as client:
        with pytest.raises(ServerError) as info:
            client.generate(latents=np.zeros((1, 16)), model="random-small")
        assert info.value.code == ErrorCode.BAD_REQUEST
        assert len(client.generate(latents=np.zeros((2, D)), model="random-small")) == 2
