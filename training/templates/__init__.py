"""Mesh templates for pose estimation (§2.7): hand-built car shapes, remeshing onto the 962-vertex sphere.

Public API (docs/training.md, "Templates")::

    from training.templates import load_templates, remesh_meshes, TemplateSet
    templates = load_templates("car")          # TemplateSet(vertices (T, 962, 3) float32, names, meta); "car3": 3
    result = remesh_meshes([("mine", vertices, faces)])   # -> (TemplateSet, [RemeshResult])
"""
from .io import BUILTIN, TemplateSet, load_templates, read_mesh_file, resolve_template_path, save_templates
from .remesh import RemeshConfig, RemeshResult, TemplateError, check_closed, joint_normalise, remesh


def remesh_meshes(meshes, config: RemeshConfig = RemeshConfig(), progress=None):
    """Remesh several (name, vertices (M, 3), faces (G, 3)) meshes and normalise them jointly.

    Returns (TemplateSet, list of RemeshResult); raises TemplateError at the first unusable mesh.
    """
    import numpy as np

    results = [remesh(v, f, name, config, progress) for name, v, f in meshes]
    vertices = joint_normalise(np.stack([r.vertices for r in results]))
    meta = {"rings": 31, "silhouette_iou": [round(r.iou, 4) for r in results]}
    return TemplateSet(vertices, [r.name for r in results], meta), results


__all__ = ["BUILTIN", "RemeshConfig", "RemeshResult", "TemplateError", "TemplateSet", "check_closed",
           "joint_normalise", "load_templates", "read_mesh_file", "remesh", "remesh_meshes",
           "resolve_template_path", "save_templates"]


def remesh_files(paths, config: RemeshConfig = RemeshConfig(), up: str = "z", names=None, progress=None):
    """Remesh mesh files, skipping unusable ones: (TemplateSet or None, [RemeshResult], {path: reason}).

    names: optional template names (default: the file stems). A mesh that cannot be read or is not closed and
    watertight is skipped with its reason; the rest are normalised jointly.
    """
    from pathlib import Path

    meshes, skipped = [], {}
    for i, path in enumerate(paths):
        name = names[i] if names else Path(path).stem
        try:
            vertices, faces = read_mesh_file(path, up)
            check_closed(vertices, faces, str(path))
        except TemplateError as exc:
            skipped[str(path)] = str(exc)
            continue
        meshes.append((name, vertices, faces))
    if not meshes:
        return None, [], skipped
    templates, results = remesh_meshes(meshes, config, progress)
    templates.meta["sources"] = [str(p) for p in paths if str(p) not in skipped]
    return templates, results, skipped


def write_shape_files(folder) -> list:
    """Write the hand-built car shapes (``shapes.PROFILES``) as object-frame (z-up) OBJ files; returns the paths."""
    from pathlib import Path

    from .shapes import PROFILES, car_shape

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in PROFILES:
        vertices, faces = car_shape(name)
        lines = [f"# gan3d hand-built car template '{name}': object frame, z up, front -y"]
        lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
        lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
        path = folder / f"{name}.obj"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


__all__ += ["remesh_files", "write_shape_files"]
