"""The one rule about layers (docs/architecture.md): dependencies point one way.

    dataformat   (the collection format)      numpy + Pillow only: no torch, no bpy, no other gan3d package
    backend      (inference, minus CLI shells) never imports training, fid or bpy
    fid                                        never imports training or bpy
    training, CLI shells                       may import anything below them

Two more rules keep the graph a graph: no two modules import each other, directly or round a longer circle (a
package's ``__init__`` aside, which re-exports its modules); and the one import of ``fid`` from ``backend`` is
``backend.generate --evaluate`` handing over to the FID protocol (``FID_HAND_OVER``).

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

#: The packages whose modules must not import each other in a circle.
PACKAGES = ("dataformat", "backend", "fid", "training", "blender_addon")

#: backend file -> the fid modules it may import: ``--evaluate`` hands the drop-in CLI over to the FID protocol.
FID_HAND_OVER = {"backend/generate.py": {"fid.drop_in", "fid.errors"}}


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


def _imported_modules(path: Path) -> set[str]:
    """Full names of every absolute import in a file (module level and inside functions): ``fid.drop_in``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_backend_imports_fid_only_for_the_evaluate_hand_over():
    offenders = []
    for path in sorted((ROOT / "backend").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        fid = {name for name in _imported_modules(path) if name.split(".")[0] == "fid"}
        if fid - FID_HAND_OVER.get(relative, set()):
            offenders.append(f"{relative} imports {sorted(fid - FID_HAND_OVER.get(relative, set()))}")
    assert not offenders, "\n".join(offenders)


def _module_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (relative and absolute, module level and inside functions).

    Package ``__init__`` files are left out: they re-export their modules, and a module importing a name from
    its own package is how a package is read, not a circle of two files.
    """
    files = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in files.items():
        if path.name == "__init__.py":
            continue
        here = name.split(".")[:-1]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(here[:len(here) - node.level + 1] + [node.module or ""]).strip(".") \
                    if node.level else node.module
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in files and t != name and files[t].name != "__init__.py"}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_two_modules_import_each_other():
    graph = _module_graph()
    assert "backend.models.checkpoints" in graph["backend.models.shipped"]     # the check saw what it should
    circles = _circles(graph)
    assert not circles, "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


def test_the_circle_check_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


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
                                   "backend.render", "backend.latent_tools", "backend.generate"])
    assert "backend.generate" in loaded
    assert _packages(loaded, "fid", "training", "bpy") == []   # --evaluate imports fid when it runs


def test_the_format_layer_imports_without_torch():
    loaded = _loaded_after_import(["dataformat"])
    assert "dataformat.collection" in loaded
    assert _packages(loaded, "torch", "bpy", "backend", "training", "fid", "warp") == []
