"""The one rule about layers (docs/architecture.md): dependencies point one way.

    dataformat   (the collection format)      numpy + Pillow only: no torch, no bpy, no other gan3d package
    backend      (inference, minus CLI shells) never imports training, fid or bpy
    fid                                        never imports training or bpy
    training, CLI shells                       may import anything below them

Checked twice: statically (every import statement in the package's source, including the ones inside
functions) and at run time in a fresh interpreter (what importing the package really loads).
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Modules that are command lines (``python -m ...``): they may import any library below them.
CLI_SHELLS = {"backend/generate.py", "backend/train.py", "backend/serve.py", "backend/client.py",
              "backend/render/__main__.py"}

#: package -> top-level names its (non-CLI) modules must never import.
FORBIDDEN = {
    "dataformat": {"torch", "bpy", "backend", "training", "fid", "warp", "blender_addon"},
    "backend": {"training", "fid", "bpy", "blender_addon"},
    "fid": {"training", "bpy", "blender_addon"},
}


def _imported_top_levels(path: Path) -> set[str]:
    """Top-level names of every absolute import in a file (module level and inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_statement_points_upwards(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in CLI_SHELLS:
            continue
        bad = _imported_top_levels(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{relative} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_the_protocol_package_stands_alone():
    """backend/protocol is copied verbatim into the add-on: relative imports only, never torch."""
    offenders = []
    for path in sorted((ROOT / "backend" / "protocol").rglob("*.py")):
        bad = _imported_top_levels(path) & {"torch", "backend", "training", "fid", "dataformat", "bpy"}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def _loaded_after_import(modules: list[str]) -> list[str]:
    code = (f"import importlib, json, sys\n"
            f"for name in {modules!r}:\n"
            f"    importlib.import_module(name)\n"
            f"print(json.dumps(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _packages(loaded: list[str], *tops: str) -> list[str]:
    return [name for name in loaded if name.split(".")[0] in tops]


def test_inference_and_fid_load_neither_training_nor_bpy():
    loaded = _loaded_after_import(["backend.models", "backend.server", "backend.sampling", "backend.export",
                                   "backend.render", "fid", "fid.evaluate"])
    assert "backend.sampling" in loaded and "fid.evaluate" in loaded     # the check saw what it should
    assert _packages(loaded, "training", "bpy", "blender_addon") == []


def test_inference_loads_no_fid():
    loaded = _loaded_after_import(["backend.models", "backend.server", "backend.sampling", "backend.export",
                                   "backend.render", "backend.latent_tools"])
    assert _packages(loaded, "fid", "training", "bpy") == []


def test_the_format_layer_imports_without_torch():
    loaded = _loaded_after_import(["dataformat"])
    assert "dataformat.collection" in loaded
    assert _packages(loaded, "torch", "bpy", "backend", "training", "fid", "warp") == []
