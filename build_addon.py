"""Build the gan3d Blender add-on zips into dist/.

    .venv/bin/python build_addon.py                       # every platform + the legacy zip
    .venv/bin/python build_addon.py --platforms linux-x64 --no_legacy

Writes
  * ``dist/gan3d-<version>-<platform>.zip``: Blender 4.2+ extensions, one per platform (``--split-platforms``),
    each with the pyzmq 27.3.0 wheels for CPython 3.11 (Blender 4.2–5.0) and the cp312 stable ABI
    (Blender 5.1+, Python 3.13), built and then checked by Blender's own extension validator
    (``bl_pkg/cli/blender_ext.py`` from the installed ``bpy``);
  * ``dist/gan3d-<version>-legacy.zip``: the same add-on for Blender 3.x–4.1 (``bl_info`` install), with the
    wheels' contents unpacked under ``gan3d/_vendor/<wheel name>/``; the add-on puts the one matching the running
    Python and OS on ``sys.path`` (see ``blender_addon/zmq_loader.py``).

Wheels are fetched once with ``pip download --only-binary=:all: --no-deps`` into ``build/wheels/`` (never
committed). The wire protocol is copied verbatim from ``backend/protocol/`` into every zip, and into
``blender_addon/protocol/`` (git-ignored) for development installs, so the add-on shares the server's single
implementation.
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parent
ADDON_SOURCE = ROOT / "blender_addon"
PROTOCOL_SOURCE = ROOT / "backend" / "protocol"
PACKAGE_NAME = "gan3d"
PYZMQ_VERSION = "27.3.0"


@dataclass(frozen=True)
class WheelTarget:
    """One pyzmq wheel to bundle: pip's ``--platform`` and ``--python-version``, and the Blender platforms it serves."""

    pip_platform: str
    python_version: str
    blender_platforms: tuple[str, ...]
    legacy: bool  # also unpacked into the legacy zip's _vendor folder


WHEEL_TARGETS = (
    WheelTarget("manylinux_2_28_x86_64", "3.11", ("linux-x64",), True),
    WheelTarget("manylinux_2_28_x86_64", "3.13", ("linux-x64",), False),
    WheelTarget("win_amd64", "3.11", ("windows-x64",), True),
    WheelTarget("win_amd64", "3.13", ("windows-x64",), False),
    WheelTarget("macosx_11_0_universal2", "3.11", ("macos-x64", "macos-arm64"), True),
    WheelTarget("macosx_11_0_universal2", "3.13", ("macos-x64", "macos-arm64"), False),
    # Blender 3.1–4.0 ship Python 3.10: legacy installs only.
    WheelTarget("manylinux_2_28_x86_64", "3.10", ("linux-x64",), True),
    WheelTarget("win_amd64", "3.10", ("windows-x64",), True),
    WheelTarget("macosx_11_0_universal2", "3.10", ("macos-x64", "macos-arm64"), True),
)
ALL_PLATFORMS = ("linux-x64", "windows-x64", "macos-x64", "macos-arm64")


class BuildError(RuntimeError):
    """A build step failed; the message says which and what to do."""


def addon_version() -> str:
    """``major.minor.patch`` from ``bl_info["version"]`` (the one place the version is written)."""
    tree = ast.parse((ADDON_SOURCE / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "bl_info" for t in node.targets):
            return ".".join(str(n) for n in ast.literal_eval(node.value)["version"])
    raise BuildError("blender_addon/__init__.py has no bl_info")


def vendor_protocol() -> pathlib.Path:
    """Refresh blender_addon/protocol/ (git-ignored) from backend/protocol/ so a checkout works as an add-on folder.

    The zips take the protocol straight from backend/protocol/; this copy is for development installs. It is
    rewritten only when it differs, so parallel builds do not trip over each other.
    """
    if not (PROTOCOL_SOURCE / "__init__.py").exists():
        raise BuildError(f"{PROTOCOL_SOURCE} is missing; the add-on vendors the wire protocol from there")
    target = ADDON_SOURCE / "protocol"
    sources = {p.name: p.read_bytes() for p in PROTOCOL_SOURCE.glob("*.py")}
    current = {p.name: p.read_bytes() for p in target.glob("*.py")} if target.is_dir() else {}
    if current != sources:
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True, exist_ok=True)
        for name, data in sources.items():
            (target / name).write_bytes(data)
    return target


def _protocol_files() -> dict[str, bytes]:
    """relative path inside the add-on -> bytes of the wire protocol package."""
    return {f"protocol/{p.name}": p.read_bytes() for p in sorted(PROTOCOL_SOURCE.glob("*.py"))}


def fetch_wheels(cache: pathlib.Path, targets) -> dict[WheelTarget, pathlib.Path]:
    """Download (once) the pyzmq wheel of every target into ``cache``; returns target -> wheel path."""
    cache.mkdir(parents=True, exist_ok=True)
    found: dict[WheelTarget, pathlib.Path] = {}
    for target in targets:
        wheel = _cached_wheel(cache, target)
        if wheel is None:
            command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                       "--only-binary=:all:", "--no-deps", "--platform", target.pip_platform,
                       "--python-version", target.python_version, "--dest", str(cache), f"pyzmq=={PYZMQ_VERSION}"]
            result = subprocess.run(command, capture_output=True, text=True)
            wheel = _cached_wheel(cache, target)
            if result.returncode != 0 or wheel is None:
                last = (result.stderr.strip().splitlines() or ["no output"])[-1]
                raise BuildError(
                    f"could not download pyzmq {PYZMQ_VERSION} for {target.pip_platform} / Python "
                    f"{target.python_version} ({last}); connect to PyPI once, or put the wheel in {cache}")
        found[target] = wheel
    return found


def _cached_wheel(cache: pathlib.Path, target: WheelTarget) -> pathlib.Path | None:
    cp = "cp" + target.python_version.replace(".", "")
    platform_word = {"manylinux": "manylinux", "win": "win_amd64", "macosx": "macosx"}[
        re.match(r"[a-z]+", target.pip_platform).group(0)]
    for wheel in sorted(cache.glob(f"pyzmq-{PYZMQ_VERSION}-*.whl")):
        python_tag, abi_tag = wheel.name.split("-")[2:4]
        python_ok = python_tag == cp if abi_tag != "abi3" else (target.python_version >= "3.12"
                                                               and python_tag <= cp)
        if python_ok and platform_word in wheel.name:
            return wheel
    return None


def blender_ext_cli() -> pathlib.Path:
    """Path of Blender's extension CLI (``blender --command extension`` runs the same file) in the bpy package."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("the bpy module is not installed; run `make setup` (it provides Blender's extension tools)")
    base = pathlib.Path(list(spec.submodule_search_locations)[0])
    matches = sorted(base.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not matches:
        raise BuildError(f"Blender's extension CLI was not found under {base}")
    return matches[-1]


def _run_blender_ext(*args: str) -> str:
    result = subprocess.run([sys.executable, str(blender_ext_cli()), *args], capture_output=True, text=True)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or "error" in output.lower():
        raise BuildError(f"blender_ext {args[0]} failed: {output.splitlines()[-1] if output else result.returncode}")
    return output


def stage_extension(stage: pathlib.Path, wheels: dict[WheelTarget, pathlib.Path], platforms) -> pathlib.Path:
    """Lay out the extension source (add-on files, wheels/, manifest with wheels + platforms) in ``stage``."""
    if stage.exists():
        shutil.rmtree(stage)
    shutil.copytree(ADDON_SOURCE, stage, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*", "protocol"))
    for relative, data in _protocol_files().items():
        (stage / relative).parent.mkdir(parents=True, exist_ok=True)
        (stage / relative).write_bytes(data)
    (stage / "wheels").mkdir()
    names = []
    for target, wheel in wheels.items():
        if not set(target.blender_platforms) & set(platforms):
            continue
        if wheel.name not in names:
            shutil.copy2(wheel, stage / "wheels" / wheel.name)
            names.append(wheel.name)
    manifest = (ADDON_SOURCE / "blender_manifest.toml").read_text()
    version = addon_version()
    manifest_version = re.search(r'^version\s*=\s*"([^"]+)"', manifest, re.M)
    if manifest_version is None or manifest_version.group(1) != version:
        raise BuildError(f"blender_manifest.toml version must equal bl_info's {version}")
    generated = ("\n# Added by build_addon.py\n"
                 f"platforms = [{', '.join(repr(p).replace(chr(39), chr(34)) for p in platforms)}]\n"
                 f"wheels = [{', '.join(f'{chr(34)}./wheels/{n}{chr(34)}' for n in sorted(names))}]\n")
    # Top-level keys must precede the first [table]; insert before it.
    first_table = re.search(r"^\[", manifest, re.M)
    at = first_table.start() if first_table else len(manifest)
    (stage / "blender_manifest.toml").write_text(manifest[:at] + generated.lstrip("\n") + "\n" + manifest[at:])
    return stage


def build_extensions(stage: pathlib.Path, output: pathlib.Path) -> list[pathlib.Path]:
    """Run Blender's ``extension build --split-platforms`` and ``validate`` on each zip; returns the zips."""
    output.mkdir(parents=True, exist_ok=True)
    version = addon_version()
    for old in output.glob(f"{PACKAGE_NAME}-{version}-*.zip"):
        if not old.name.endswith("-legacy.zip"):
            old.unlink()
    _run_blender_ext("build", "--source-dir", str(stage), "--output-dir", str(output), "--split-platforms")
    zips = sorted(p for p in output.glob(f"{PACKAGE_NAME}-{version}-*.zip") if not p.name.endswith("-legacy.zip"))
    if not zips:
        raise BuildError(f"Blender's extension build wrote no zip into {output}")
    for path in zips:
        _run_blender_ext("validate", str(path))
    return zips


def build_legacy(output: pathlib.Path, wheels: dict[WheelTarget, pathlib.Path]) -> pathlib.Path:
    """``gan3d-<version>-legacy.zip``: gan3d/ with bl_info and the unpacked wheels under gan3d/_vendor/."""
    output.mkdir(parents=True, exist_ok=True)
    path = output / f"{PACKAGE_NAME}-{addon_version()}-legacy.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(ADDON_SOURCE.rglob("*")):
            relative = file.relative_to(ADDON_SOURCE)
            if (file.is_dir() or "__pycache__" in relative.parts or file.suffix == ".pyc"
                    or relative.name == "blender_manifest.toml" or relative.parts[0] == "protocol"):
                continue
            archive.write(file, f"{PACKAGE_NAME}/{relative.as_posix()}")
        for relative, data in _protocol_files().items():
            archive.writestr(f"{PACKAGE_NAME}/{relative}", data)
        for target, wheel in wheels.items():
            if not target.legacy:
                continue
            folder = f"{PACKAGE_NAME}/_vendor/{wheel.stem}"
            with zipfile.ZipFile(wheel) as source:
                for info in source.infolist():
                    if not info.is_dir():
                        archive.writestr(f"{folder}/{info.filename}", source.read(info))
    return path


def build(output: pathlib.Path, cache: pathlib.Path, platforms=ALL_PLATFORMS, legacy: bool = True) -> list[pathlib.Path]:
    """The whole build; returns the zips written."""
    unknown = set(platforms) - set(ALL_PLATFORMS)
    if unknown:
        raise BuildError(f"unknown platform(s) {sorted(unknown)}; choose from {', '.join(ALL_PLATFORMS)}")
    vendor_protocol()
    extension_targets = [t for t in WHEEL_TARGETS if t.python_version != "3.10" and set(t.blender_platforms) & set(platforms)]
    legacy_targets = [t for t in WHEEL_TARGETS if t.legacy] if legacy else []
    wheels = fetch_wheels(cache, list(dict.fromkeys(extension_targets + legacy_targets)))
    (ROOT / "build").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="addon_stage_", dir=ROOT / "build") as scratch:
        stage = stage_extension(pathlib.Path(scratch) / PACKAGE_NAME,
                                {t: wheels[t] for t in extension_targets}, platforms)
        written = build_extensions(stage, output)
    if legacy:
        written.append(build_legacy(output, {t: wheels[t] for t in legacy_targets}))
    return written


def build_parser() -> argparse.ArgumentParser:
    from backend.cli import add_flag  # torch-free: the project's one flag style (snake_case, dashed aliases)

    parser = argparse.ArgumentParser(prog="python build_addon.py",
                                     description="Build the gan3d Blender add-on zips (extension + legacy).")
    add_flag(parser, "--output", type=pathlib.Path, default=ROOT / "dist", help="folder for the zips")
    add_flag(parser, "--wheel_cache", type=pathlib.Path, default=ROOT / "build" / "wheels",
             help="where downloaded pyzmq wheels are kept")
    add_flag(parser, "--platforms", default=",".join(ALL_PLATFORMS),
             help=f"comma-separated Blender platforms (default: {','.join(ALL_PLATFORMS)})")
    add_flag(parser, "--no_legacy", action="store_true", help="skip the legacy (Blender 3.x–4.1) zip")
    return parser


def main(argv: list[str] | None = None) -> int:
    from backend.cli import run_cli

    args = build_parser().parse_args(argv)
    return run_cli(lambda: _main(args), (BuildError,))


def _main(args: argparse.Namespace) -> int:
    written = build(args.output, args.wheel_cache, tuple(p for p in args.platforms.split(",") if p),
                    legacy=not args.no_legacy)
    for path in written:
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
              f"({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
