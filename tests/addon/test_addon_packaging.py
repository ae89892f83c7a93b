"""build_addon.py: per-platform extension zips checked by Blender's validator, and the legacy zip with vendored pyzmq."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tomllib
import zipfile

import pytest

import build_addon
from blender_addon import zmq_loader

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, pathlib.Path]:
    out = tmp_path_factory.mktemp("dist")
    zips = build_addon.build(out, ROOT / "build" / "wheels")
    return {z.name: z for z in zips}


def test_one_validated_extension_per_platform_plus_legacy(built):
    version = build_addon.addon_version()
    assert set(built) == {f"gan3d-{version}-{p}.zip" for p in ("linux_x64", "windows_x64", "macos_x64", "macos_arm64",
                                                                "legacy")}


@pytest.mark.parametrize("platform, marker", [("linux_x64", "manylinux"), ("windows_x64", "win_amd64"),
                                              ("macos_arm64", "macosx")])
def test_extension_manifest_bundles_pyzmq_for_its_platform(built, platform, marker):
    path = built[f"gan3d-{build_addon.addon_version()}-{platform}.zip"]
    with zipfile.ZipFile(path) as archive:
        manifest = tomllib.loads(archive.read("blender_manifest.toml").decode())
        names = set(archive.namelist())
    assert manifest["id"] == "gan3d" and manifest["type"] == "add-on"
    assert manifest["version"] == build_addon.addon_version()
    assert manifest["permissions"]["network"] and manifest["permissions"]["files"]   # looks are files
    wheels = manifest["build"]["generated"]["wheels"]
    assert len(wheels) == 2 and all(marker in w and "pyzmq-27.3.0" in w for w in wheels)
    assert {w.split("-")[2] for w in wheels} == {"cp311", "cp312"}  # Blender 4.2-5.0 and 5.1+ (abi3)
    assert all(w.removeprefix("./") in names for w in wheels)
    assert "protocol/connection.py" in names and "__init__.py" in names
    assert not any("__pycache__" in n or n.startswith("_vendor") for n in names)


def test_vendored_protocol_is_a_verbatim_copy(built):
    with zipfile.ZipFile(built[f"gan3d-{build_addon.addon_version()}-legacy.zip"]) as archive:
        for source in (ROOT / "backend" / "protocol").glob("*.py"):
            assert archive.read(f"gan3d/protocol/{source.name}") == source.read_bytes()


def test_legacy_zip_has_bl_info_and_importable_vendored_pyzmq(built, tmp_path):
    with zipfile.ZipFile(built[f"gan3d-{build_addon.addon_version()}-legacy.zip"]) as archive:
        names = archive.namelist()
        assert "gan3d/blender_manifest.toml" not in names
        assert b"bl_info" in archive.read("gan3d/__init__.py")
        archive.extractall(tmp_path)
    vendor = tmp_path / "gan3d" / "_vendor"
    folders = sorted(d.name for d in vendor.iterdir())
    for tag in ("cp310", "cp311"):
        for marker in ("manylinux", "win_amd64", "macosx"):
            assert any(f"-{tag}-" in f and marker in f for f in folders), (tag, marker, folders)
    # The loader picks the folder for this interpreter; an isolated Python (no site-packages) imports zmq from it.
    candidates = zmq_loader.vendor_candidates(vendor)
    assert len(candidates) == 1 and f"cp{sys.version_info.major}{sys.version_info.minor}" in candidates[0].name
    probe = subprocess.run([sys.executable, "-I", "-S", "-c",
                            f"import sys; sys.path.insert(0, {str(candidates[0])!r}); import zmq; "
                            "print(zmq.__file__); print(zmq.pyzmq_version())"],
                           capture_output=True, text=True, check=True)
    location, version = probe.stdout.split()
    assert location.startswith(str(candidates[0])) and version == "27.3.0"


def test_blender_validator_rejects_a_bad_manifest(tmp_path):
    source = tmp_path / "bad"
    source.mkdir()
    (source / "__init__.py").write_text("def register():\n    pass\n\ndef unregister():\n    pass\n")
    (source / "blender_manifest.toml").write_text(
        'schema_version = "1.0.0"\nid = "bad"\nversion = "1.0.0"\nname = "Bad"\n'
        'tagline = "Ends with a period."\nmaintainer = "x"\ntype = "add-on"\n'
        'blender_version_min = "4.2.0"\nlicense = ["SPDX:GPL-3.0-or-later"]\n')
    with pytest.raises(build_addon.BuildError, match="punctuation"):
        build_addon._run_blender_ext("validate", str(source))


LEGACY_INSTALL = """
import sys, bpy
import addon_utils
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.preferences.addon_install(filepath=sys.argv[1], overwrite=True)
addon_utils.enable("gan3d", default_set=True)
import gan3d, zmq
print("BL_INFO", gan3d.bl_info["version"], gan3d.bl_info["blender"])
print("PANEL", hasattr(bpy.types, "GAN3D_PT_generate"), "POLL", bpy.ops.gan3d.generate.poll())
print("PREFS", bpy.context.preferences.addons["gan3d"].preferences.server_address)
addon_utils.disable("gan3d", default_set=True)
print("UNREGISTERED", not hasattr(bpy.types, "GAN3D_PT_generate"))
"""


def test_legacy_zip_installs_the_bl_info_way(built, tmp_path):
    """Blender's legacy installer (Preferences › Add-ons › Install) takes the legacy zip; register/unregister work."""
    zip_path = built[f"gan3d-{build_addon.addon_version()}-legacy.zip"]
    script = tmp_path / "install.py"
    script.write_text(LEGACY_INSTALL)
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "user")}
    result = subprocess.run([sys.executable, str(script), str(zip_path)], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "BL_INFO (0, 1, 0) (3, 4, 0)" in out
    assert "PANEL True POLL False" in out  # registered; Generate waits for a connection
    assert "PREFS tcp://127.0.0.1:5577" in out
    assert "UNREGISTERED True" in out


def test_protocol_version_mismatch_is_explained(built):
    """The add-on compares the server's ``info`` protocol version with its vendored copy's (built above)."""
    from blender_addon import messages
    from blender_addon.protocol import PROTOCOL_VERSION

    class Info:
        protocol_version = PROTOCOL_VERSION + 1

    message = messages.check_protocol_version(Info())
    assert "another protocol version" in message and f"version {PROTOCOL_VERSION + 1}" in message
    Info.protocol_version = PROTOCOL_VERSION
    assert messages.check_protocol_version(Info()) == ""
