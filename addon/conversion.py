"""Every numpy <-> Blender conversion in one place: points, mesh vertices, shape keys, images, colour and
camera matrices. The builders (``build``, ``detail``, ``rig``, ``export``, ``synth_scene``) import this module;
it imports none of them.

Model space (ICT-FaceKit: cm, +Y up, face towards +Z) maps to Blender (m, +Z up, face towards -Y):
``(x, y, z)_blender = 0.01 * (x, -z, y)``.
"""

from __future__ import annotations

import os
import tempfile

import bpy
import numpy as np
from mathutils import Matrix

from ..core.camera import Camera
from ..core.image import srgb_to_linear

#: model (cm, y-up) -> Blender (m, z-up)
MODEL_TO_BLENDER = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], np.float64) * 0.01


def to_blender(points_cm: np.ndarray) -> np.ndarray:
    """(N, 3) model cm -> (N, 3) float64 Blender metres."""
    return np.asarray(points_cm, np.float64) @ MODEL_TO_BLENDER.T


def from_blender(co_m: np.ndarray) -> np.ndarray:
    """(N, 3) Blender metres -> (N, 3) float64 model cm."""
    return np.asarray(co_m, np.float64) @ np.linalg.inv(MODEL_TO_BLENDER).T


# -------------------------------------------------------------------------------------------------
# vertices


def mesh_vertices(me) -> np.ndarray:
    """(N, 3) float32 metres: the vertex positions of mesh data ``me`` (its basis, not shape-key mixes)."""
    co = np.empty(len(me.vertices) * 3, np.float32)
    me.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def key_vertices(kb) -> np.ndarray:
    """(N, 3) float32 metres: the positions stored in shape key ``kb``."""
    co = np.empty(len(kb.data) * 3, np.float32)
    kb.data.foreach_get("co", co)
    return co.reshape(-1, 3)


def set_mesh_vertices(me, points_cm: np.ndarray) -> None:
    """Move the vertices of mesh data ``me`` to ``points_cm`` ((N, 3) model cm)."""
    me.vertices.foreach_set("co", to_blender(points_cm).astype(np.float32).ravel())
    me.update()


def set_key_vertices(kb, points_cm: np.ndarray) -> None:
    """Store ``points_cm`` ((N, 3) model cm) in shape key ``kb``."""
    kb.data.foreach_set("co", to_blender(points_cm).astype(np.float32).ravel())


def loop_triangles(me) -> np.ndarray:
    """(T, 3) int32 vertex indices of the triangulated mesh data ``me``."""
    me.calc_loop_triangles()
    tri = np.empty(len(me.loop_triangles) * 3, np.int32)
    me.loop_triangles.foreach_get("vertices", tri)
    return tri.reshape(-1, 3)


def hair_curves(name: str, strands_cm, radius_cm) -> "bpy.types.Curves":
    """New hair curves data from polylines in model cm: ``strands_cm`` an ``(N, K, 3)`` array (N curves of K
    points) or a list of ``(K_i, 3)`` arrays; ``radius_cm`` a ``(K,)`` profile from root to tip (with an
    array) or one radius for every point."""
    lines = list(strands_cm)
    sizes = [len(line) for line in lines]
    curves = bpy.data.hair_curves.new(name)
    curves.add_curves(sizes)
    curves.position_data.foreach_set("vector", to_blender(np.concatenate(lines)).astype(np.float32).ravel())
    radius = np.tile(np.asarray(radius_cm, np.float32), len(lines)) if np.ndim(radius_cm) else \
        np.full(sum(sizes), radius_cm, np.float32)
    attr = curves.attributes.get("radius") or curves.attributes.new("radius", "FLOAT", "POINT")
    attr.data.foreach_set("value", radius * 0.01)
    return curves


def fan_mesh(name: str, rings_cm: np.ndarray) -> "bpy.types.Mesh":
    """New mesh data of flat discs: each ring ``(K, 3)`` of ``rings_cm`` ``(R, K, 3)`` model cm filled as a
    fan around its centroid."""
    verts, faces = [], []
    for ring in rings_cm:
        base = len(verts)
        verts += [*ring, ring.mean(0)]
        k = len(ring)
        faces += [(base + k, base + i, base + (i + 1) % k) for i in range(k)]
    me = bpy.data.meshes.new(name)
    me.from_pydata(to_blender(np.asarray(verts)).tolist(), [], faces)
    me.update()
    return me


def quad_mesh(name: str, verts_cm: np.ndarray, quads: np.ndarray) -> "bpy.types.Mesh":
    """New mesh data from ``verts_cm`` ``(V, 3)`` model cm and ``quads`` ``(F, 4)`` vertex indices, shaded smooth."""
    me = bpy.data.meshes.new(name)
    me.from_pydata(to_blender(verts_cm).tolist(), [], np.asarray(quads).tolist())
    me.shade_smooth()
    me.update()
    return me


# -------------------------------------------------------------------------------------------------
# images and colour


def packed_png(name: str, png: bytes, colorspace: str = "sRGB") -> "bpy.types.Image":
    """New Blender image from PNG bytes, packed into the .blend (so the file is self-contained)."""
    fd, tmp = tempfile.mkstemp(suffix=".png", prefix="headforge-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(png)
        img = bpy.data.images.load(tmp, check_existing=False)
        img.pack()
    finally:
        os.unlink(tmp)
    img.name = name
    img.filepath_raw = f"//{bpy.path.clean_name(name)}.png"  # no reload: the pixels are packed
    img.colorspace_settings.name = colorspace
    return img


def image_from_array(name: str, rgb: np.ndarray, colorspace: str = "sRGB") -> "bpy.types.Image":
    """New Blender image from ``(H, W, 3)`` or ``(H, W, 4)`` uint8 (rows top to bottom; sRGB unless
    ``colorspace`` says otherwise), packed as an 8-bit PNG."""
    from ..core.writers import png_bytes

    return packed_png(name, png_bytes(rgb), colorspace)


def float_image(name: str, values: np.ndarray) -> "bpy.types.Image":
    """New unpacked float Blender image (Non-Color) whose R, G and B hold ``values`` ((H, W) float, rows top
    to bottom)."""
    rgba = np.ones((*values.shape, 4), np.float32)
    rgba[:, :, :3] = values[::-1, :, None]
    img = bpy.data.images.new(name, values.shape[1], values.shape[0], float_buffer=True)
    img.colorspace_settings.name = "Non-Color"
    img.pixels.foreach_set(rgba.ravel())
    return img


def image_pixels(img) -> np.ndarray:
    """(H, W, 4) float32 pixels of a Blender image, rows top to bottom (Blender stores them bottom up)."""
    w, h = img.size
    px = np.empty(w * h * 4, np.float32)
    img.pixels.foreach_get(px)
    return px.reshape(h, w, 4)[::-1]


def linear_rgba(srgb) -> tuple[float, float, float, float]:
    """An sRGB triple -> the linear RGBA of a colour socket (alpha 1)."""
    return (*[float(srgb_to_linear(float(x))) for x in srgb], 1.0)


# -------------------------------------------------------------------------------------------------
# cameras


def camera_matrix_world(cam: Camera) -> Matrix:
    """Blender world matrix of a camera that sees the head (at the origin) as the photo does."""
    R = np.asarray(cam.rotation, np.float64)
    C = -R.T @ np.asarray(cam.translation, np.float64)  # camera centre, model cm
    axes_model = np.stack([R[0], -R[1], -R[2]], 1)       # Blender camera X, Y, Z in model space
    M = np.eye(4)
    M[:3, :3] = (MODEL_TO_BLENDER / 0.01) @ axes_model
    M[:3, 3] = to_blender(C[None])[0]
    return Matrix(M.tolist())


def set_camera_intrinsics(data, cam: Camera) -> None:
    """Set Blender camera data's lens and shift to the photo camera's focal length and principal point
    (36 mm sensor fitted to the photo's longer side)."""
    data.sensor_fit = "AUTO"
    data.sensor_width = 36.0
    side = max(cam.width, cam.height)
    data.lens = cam.fx * data.sensor_width / side
    data.shift_x = (cam.width / 2.0 - cam.cx) / side
    data.shift_y = (cam.cy - cam.height / 2.0) / side
