"""Paint colour through a real server on loopback: candidates within the tolerance, reproducible, the body colour
the reply reports is the one a client measures, and a clear ``no_match`` error for a colour out of reach."""
from __future__ import annotations

import numpy as np
import pytest

from backend.protocol import (
    Client, ErrorCode, ProtocolError, ServerError, body_colour, candidate_seed, check_paint, delta_e,
)
from backend.protocol.paint import PaintError, side_weights

from .conftest import start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("server"), "--random_init", "small", "--bind", "tcp://127.0.0.1:0",
                          "--max_batch", "4", "--device", "cpu")
    yield server
    assert server.stop() == 0, server.log


def _colour(mesh, topology):
    return body_colour(mesh.vertices, mesh.texture, topology.faces, topology.uvs, topology.face_uvs)


def test_paint_requests_keep_candidates_within_the_tolerance_and_are_reproducible(server):
    with Client(server.address, timeout=60) as client:
        info = client.info()
        plain = client.generate(count=6, seed=300)
        target = _colour(plain[2], info.topology)          # a colour this model makes
        painted = client.generate(count=4, seed=500, paint_color=target, paint_tolerance=25.0, texture_size=64)
        again = client.generate(count=4, seed=500, paint_color=target, paint_tolerance=25.0, texture_size=64)
        alone = client.generate(count=1, seed=painted[1].seed, texture_size=64)
    assert len(painted) == 4
    for j, mesh in enumerate(painted):
        measured = _colour(mesh, info.topology)            # measured here, on the texture as delivered
        assert delta_e(measured, target) <= 25.0 + 1e-6
        np.testing.assert_allclose(mesh.paint["color"], measured, atol=1e-4)
        assert mesh.paint["distance"] == pytest.approx(float(delta_e(measured, target)), abs=1e-2)
        assert mesh.seed == candidate_seed(500 + j, mesh.paint["candidate"])
        assert mesh.texture.shape == (64, 64, 3)
    assert [m.seed for m in again] == [m.seed for m in painted]
    for a, b in zip(painted, again):
        np.testing.assert_array_equal(a.latent, b.latent)
    # the kept car alone, from its seed and no paint fields: the same latent (and mesh, up to batch-size rounding)
    np.testing.assert_array_equal(alone[0].latent, painted[1].latent)
    np.testing.assert_allclose(alone[0].vertices, painted[1].vertices, atol=1e-4)


def test_a_colour_out_of_reach_is_a_clear_no_match_error(server):
    with Client(server.address, timeout=60) as client:
        with pytest.raises(ServerError) as info:
            client.generate(count=2, seed=0, paint_color=(1.0, 0.0, 1.0), paint_tolerance=0.5, paint_tries=8)
        assert info.value.code == ErrorCode.NO_MATCH
        message = info.value.message
        assert "no car within ΔE 0.5 of #ff00ff after 8 candidates" in message and "raise the tolerance" in message
        assert len(message.splitlines()) == 1
        assert len(client.generate(count=1, seed=1)) == 1         # the server goes on serving


def test_bad_paint_fields_are_refused_before_sending():
    with Client("tcp://127.0.0.1:9", timeout=1, retries=0) as client:
        for kwargs, code in (({"paint_tolerance": 5.0}, ErrorCode.BAD_REQUEST),
                             ({"paint_color": (1.2, 0, 0)}, ErrorCode.OUT_OF_RANGE),
                             ({"paint_color": (1, 0, 0), "paint_tolerance": 0.0}, ErrorCode.OUT_OF_RANGE),
                             ({"paint_color": (1, 0, 0), "paint_tries": 10_000}, ErrorCode.OUT_OF_RANGE),
                             ({"paint_color": (1, 0, 0), "latents": np.zeros((1, 64))}, ErrorCode.BAD_REQUEST)):
            with pytest.raises(ProtocolError) as info:
                client.generate_stream(**kwargs)
            assert info.value.code == code, kwargs


def test_body_colour_is_the_side_of_the_texture():
    with pytest.raises(PaintError, match="in \\[0, 1\\]"):
        check_paint((0.5, 0.5), 10.0, 8)
    # a box-shaped car: its side faces are the only ones with weight
    pts = np.array([[x, y, z] for x in (-1.0, -0.5, 0.5, 1.0) for y in (-2.0, 0.0, 2.0) for z in (0.0, 0.4, 1.0)])
    w = side_weights(pts)
    assert np.all(w[np.abs(pts[:, 0]) < 0.6] == 0) and np.all(w[(np.abs(pts[:, 0]) == 1) & (pts[:, 2] == 0.4)
                                                                 & (pts[:, 1] == 0)] == 1)
    assert delta_e((1.0, 0.0, 0.0), (1.0, 0.0, 0.0)) == 0 and delta_e((0, 0, 0), (1, 1, 1)) == pytest.approx(100, 0.01)
    assert [candidate_seed(7, i) for i in range(3)][0] == 7 and len({candidate_seed(7, i) for i in range(50)}) == 50
