"""The UV-sphere template (§2.1–2.3) and displacement-map sampling (§2.4).

Public API::

    from backend.mesh import MeshTemplate, uv_sphere, displacement_to_vertices
    t = uv_sphere(rings=31)                        # cached; 962 vertices, 1920 faces, 1054 UVs
    verts = displacement_to_vertices(t, disp)      # (B, 3, 32, 32) -> (B, 962, 3), differentiable

Map mirroring and pole averaging (§2.6) live with the generator: ``backend.models.symmetry``.
"""
from .displacement import displacement_to_vertices, tangent_frames
from .template import MeshTemplate, uv_sphere

__all__ = ["MeshTemplate", "uv_sphere", "displacement_to_vertices", "tangent_frames"]
