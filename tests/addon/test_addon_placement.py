"""Placement math, address parsing, messages and object properties: the add-on's bpy-free modules."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blender_addon import addressing, messages, object_properties, placement


def _no_overlap(layout: placement.Layout, footprint: float) -> bool:
    p = layout.positions[:, :2]
    d = np.linalg.norm(p[:, None] - p[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return bool(d.min() >= footprint - 1e-9) if len(p) > 1 else True


@given(count=st.integers(1, 60), pitch=st.floats(0.5, 20.0))
@settings(max_examples=40, deadline=None)
def test_grid_is_centred_and_keeps_pitch(count, pitch):
    layout = placement.grid(count, (1.0, 2.0, 3.0), pitch)
    assert layout.positions.shape == (count, 3)
    assert np.allclose(layout.positions[:, 2], 3.0)
    assert _no_overlap(layout, pitch)
    columns = math.ceil(math.sqrt(count))
    assert len(np.unique(np.round(layout.positions[:, 0], 6))) == min(count, columns)
    # centred on the cursor: the bounding box of the grid is symmetric around it
    lo, hi = layout.positions[:, :2].min(0), layout.positions[:, :2].max(0)
    assert np.allclose((lo + hi) / 2, (1.0, 2.0), atol=1e-9)


def test_at_point_row_is_centred_on_cursor():
    layout = placement.at_point(3, (5.0, 0.0, 1.0), 6.0)
    assert np.allclose(layout.positions, [[-1.0, 0, 1], [5.0, 0, 1], [11.0, 0, 1]])
    assert np.allclose(layout.yaws, 0)


def test_footprint_covers_any_yaw():
    # A length x length square turned by 45 degrees needs length * sqrt(2).
    assert placement.footprint_diameter(4.5, False) == 4.5
    assert placement.footprint_diameter(4.5, True) == pytest.approx(4.5 * math.sqrt(2))


def _plane(size: float, z: float = 0.0, flip: bool = False) -> np.ndarray:
    a, b, c, d = (np.array(v, float) for v in ([-size, -size, z], [size, -size, z], [size, size, z], [-size, size, z]))
    tris = np.array([[a, b, c], [a, c, d]])
    return tris[:, ::-1] if flip else tris


def test_scatter_ignores_downward_faces_and_reports_full_surface():
    with pytest.raises(placement.PlacementError, match="upward-facing"):
        placement.scatter(1, placement.Surface(_plane(5.0, flip=True)), np.random.default_rng(0),
                          length_range=(1.0, 1.0))
    with pytest.raises(placement.PlacementError, match="only .* of 50 .* fit on the selected surface"):
        placement.scatter(50, placement.Surface(_plane(5.0)), np.random.default_rng(0), length_range=(4.5, 4.5),
                          gap=1.5, max_candidates_per_object=20)


@pytest.fixture(scope="module")
def vendored_protocol():
    """blender_addon/protocol/ (git-ignored), the add-on's verbatim copy of backend/protocol/, as build_addon.py
    makes it for a development install."""
    import build_addon

    return build_addon.vendor_protocol()


def test_normalisation_puts_origin_at_bottom_centre_and_scales_length(vendored_protocol):
    rng = np.random.default_rng(1)
    v = rng.uniform(-1, 1, (962, 3)) * [0.4, 1.0, 0.5] + [0.1, -0.2, 0.3]
    scale, offset = placement.normalisation(v, 4.5)
    w = v * scale + offset
    lo, hi = w.min(0), w.max(0)
    assert max(hi[0] - lo[0], hi[1] - lo[1]) == pytest.approx(4.5)
    assert lo[2] == pytest.approx(0.0, abs=1e-12)
    assert (lo[0] + hi[0]) / 2 == pytest.approx(0.0, abs=1e-12)
    assert (lo[1] + hi[1]) / 2 == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(placement.PlacementError, match="positive number of metres"):
        placement.normalisation(v, 0.0)
    with pytest.raises(placement.PlacementError, match="no horizontal size"):
        placement.normalisation(np.zeros((4, 3)), 4.5)


@pytest.mark.parametrize("extent", [(0.4, 1.0, 0.5), (1.0, 0.4, 0.5), (0.3, 0.3, 2.0)])
def test_addon_and_exporters_agree_on_target_length(vendored_protocol, extent):
    """One definition of target_length (protocol/sizing.py): the add-on's scale is the exported files' scale,
    whichever horizontal side is longer; the height never counts."""
    from backend.export import place_in_world

    v = np.random.default_rng(2).uniform(-1, 1, (962, 3)) * extent
    scale, _ = placement.normalisation(v, 4.5)
    exported = place_in_world(v, target_length=4.5)
    np.testing.assert_allclose(exported, v * scale, rtol=1e-12)
    assert np.ptp(exported[:, :2], axis=0).max() == pytest.approx(4.5)


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:5577", "tcp://127.0.0.1:5577"),
    ("localhost:6000", "tcp://localhost:6000"),
    ("tcp://gpu-box.lan:5577/", "tcp://gpu-box.lan:5577"),
    (" 5577 ", "tcp://127.0.0.1:5577"),
    (":5577", "tcp://127.0.0.1:5577"),
    ("[::1]:5577", "tcp://[::1]:5577"),
])
def test_addresses_are_normalised(text, expected):
    assert addressing.normalise_address(text) == expected


@pytest.mark.parametrize("text, why", [
    ("", "empty"), ("localhost", "no port"), ("http://localhost:5577", "http:// scheme"),
    ("localhost:99999", "outside"), ("local host:5577", "invalid host"), ("*:5577", "binding"),
    ("host:abc", "no port number"),
])
def test_malformed_addresses_say_what_to_write(text, why):
    with pytest.raises(addressing.AddressError, match=why) as info:
        addressing.normalise_address(text)
    assert "host:port" in str(info.value)


def test_loopback_detection():
    assert addressing.is_loopback("localhost:1")
    assert addressing.is_loopback("tcp://127.0.0.2:1")
    assert addressing.is_loopback("[::1]:1")
    assert not addressing.is_loopback("10.0.0.5:5577")


def test_messages_name_the_fix(vendored_protocol):
    """The exceptions the add-on's client really raises: those of its vendored copy of backend/protocol/."""
    from blender_addon.protocol import (
        AuthenticationFailed, ProtocolError, RequestTimeout, ServerError, ServerUnavailable,
    )

    down = messages.describe(ServerUnavailable("x"), "tcp://127.0.0.1:5577", 5)
    assert "python -m backend.serve" in down and "Preferences" in down and "127.0.0.1:5577" in down
    assert "raise the timeout" in messages.describe(RequestTimeout("x"), "tcp://h:1", 5)
    assert "protocol version" in messages.describe(ServerError("unsupported_version", "v2"), "a", 1)
    assert messages.describe(ServerError("unknown_class", "no class 'boat'"), "a", 1) == (
        "The backend refused the request: no class 'boat'")                 # the message, without the [code] tag
    assert "refused this client's CURVE key" in messages.describe(AuthenticationFailed("bad key"), "a", 1)
    assert messages.describe(ProtocolError("bad_request", "count must be >= 1"), "a", 1) == (
        "Invalid request: count must be >= 1")
    assert messages.is_connection_failure(ServerUnavailable("x"))
    assert messages.is_connection_failure(RequestTimeout("x"))
    assert not messages.is_connection_failure(ServerError("busy", "x"))


def test_object_properties_round_trip_and_missing_keys():
    prov = object_properties.Provenance("small", "car", 0, 2**31 - 1, 0.7, 4.5, 128, True)
    store: dict = {}
    object_properties.write(store, prov)
    optional = {object_properties.PREFIX + name for name in object_properties.OPTIONAL}
    assert set(store) == set(object_properties.KEYS) - optional      # empty latent etc.: not written
    assert object_properties.is_generated(store)
    assert object_properties.read(store) == prov
    latent = tuple(float(np.float32(v)) for v in np.linspace(-1, 1, 64))
    full = object_properties.Provenance("small", "car", 0, -1, 0.7, 4.5, 128, latent=latent,
                                        class_weights=(0.25, 0.75), model_fingerprint="0123456789abcdef",
                                        paint_color=(0.5, 0.25, 0.125))
    object_properties.write(store, full)
    assert set(store) == set(object_properties.KEYS) and store["gan3d_latent"] == list(latent)
    assert object_properties.read(store) == full and object_properties.read(store).explicit
    object_properties.write(store, prov)                               # a rebuild without them removes them
    assert set(store) == set(object_properties.KEYS) - optional
    with pytest.raises(KeyError, match="gan3d_seed"):
        object_properties.read({"gan3d_model": "m", "gan3d_truncation": 1.0})


def test_variation_row_runs_along_the_objects_own_x_axis():
    turned = (math.cos(0.5), math.sin(0.5), 0.3)       # a tilted x axis: the row stays on the ground
    row = placement.variation_row(3, (1.0, 2.0, 0.5), turned, 0.5, 4.0)
    assert len(row) == 3 and np.allclose(row.yaws, 0.5)
    steps = np.diff(np.vstack([[1.0, 2.0, 0.5], row.positions]), axis=0)
    assert np.allclose(steps, 4.0 * np.array([math.cos(0.5), math.sin(0.5), 0.0]))   # pitch apart, first one beside
    upright = placement.variation_row(2, (0, 0, 0), (0.0, 0.0, 1.0), 0.0, 2.0)     # x axis pointing up: world +x
    assert np.allclose(upright.positions, [[2, 0, 0], [4, 0, 0]])
    with pytest.raises(placement.PlacementError):
        placement.variation_row(0, (0, 0, 0), (1, 0, 0), 0.0, 2.0)


def test_blend_row_goes_from_a_to_b_turning_the_short_way():
    a, b = (0.0, 0.0, 0.0), (10.0, 0.0, 2.0)
    row = placement.blend_row(a, b, math.radians(170), math.radians(-170), [0.0, 0.25, 1.0])
    assert np.allclose(row.positions, [[0, 0, 0], [2.5, 0, 0.5], [10, 0, 2]])
    assert np.allclose(row.yaws, np.radians([170, 175, 190]))         # through 180°, not back through 0°
    beside = placement.blend_row(a, b, 0.0, 0.0, [0.0, 1.0], beside=3.0)
    assert np.allclose(beside.positions - row.positions[[0, 2]], [[0, 3, 0], [0, 3, 0]])   # to the left of a -> b
    same_place = placement.blend_row(a, a, 0.0, 1.0, [0.5], beside=3.0)                    # no direction: no shift
    assert np.allclose(same_place.positions, [[0, 0, 0]]) and np.allclose(same_place.yaws, 0.5)


@given(x=st.floats(-50, 50), y=st.floats(-50, 50), yaw_a=st.floats(-7, 7), yaw_b=st.floats(-7, 7))
@settings(max_examples=40, deadline=None)
def test_blend_row_ends_keep_the_objects_turns(x, y, yaw_a, yaw_b):
    row = placement.blend_row((0.0, 0.0, 0.0), (x, y, 0.0), yaw_a, yaw_b, [0.0, 1.0])
    assert np.allclose(row.positions, [[0, 0, 0], [x, y, 0]])
    assert math.isclose(row.yaws[0], yaw_a)
    assert math.isclose(math.remainder(row.yaws[1] - yaw_b, 2 * math.pi), 0.0, abs_tol=1e-9)
