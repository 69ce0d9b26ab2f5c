"""The fit on the photo, in the viewport: looking through a head's photo camera, the detected 68 landmarks are
drawn as green dots and the fitted head's own 68 landmarks as orange dots, with a line between each pair, so a
user sees how well the head fits without opening ``overlay.png``.

The points are stored on the camera object in photo pixels (:data:`schema.LANDMARKS_DETECTED`,
:data:`schema.LANDMARKS_FITTED`); :func:`frame_points` places them on the camera's frame in the scene, where the
photo shows as the camera's background image. Switched by the panel's "Show Landmarks" (``show_landmarks``).
"""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Vector

from . import schema

DETECTED_COLOUR = (0.2, 1.0, 0.3, 1.0)
FITTED_COLOUR = (1.0, 0.55, 0.1, 1.0)
LINK_COLOUR = (1.0, 1.0, 1.0, 0.6)
POINT_SIZE = 5.0

_handle = None


def store_landmarks(camera_obj, detected_px: np.ndarray, fitted_px: np.ndarray, size: tuple[int, int]) -> None:
    """Keep the detected and fitted ``(68, 2)`` pixel landmarks and the photo's ``(width, height)`` on the camera."""
    camera_obj[schema.LANDMARKS_DETECTED] = [float(x) for x in np.asarray(detected_px, np.float64).ravel()]
    camera_obj[schema.LANDMARKS_FITTED] = [float(x) for x in np.asarray(fitted_px, np.float64).ravel()]
    camera_obj[schema.PHOTO_SIZE] = [int(size[0]), int(size[1])]


def frame_points(corners: np.ndarray, size: tuple[int, int], points_px: np.ndarray) -> np.ndarray:
    """Photo pixels ``points_px`` ((N, 2): x right, y down, from the top-left corner) placed on the camera frame
    whose world corners are ``corners`` ((4, 3): top-right, bottom-right, bottom-left, top-left, the order of
    ``Camera.view_frame``); returns (N, 3) world points."""
    tr, br, bl, tl = np.asarray(corners, np.float64)
    p = np.asarray(points_px, np.float64)
    u = (p[:, 0] / size[0])[:, None]
    v = (p[:, 1] / size[1])[:, None]
    return tl + u * (tr - tl) + v * (bl - tl)


def _camera_landmarks(scene):
    """(detected (68, 3), fitted (68, 3)) world points on the scene camera's frame, or None."""
    cam = scene.camera
    if cam is None or schema.LANDMARKS_DETECTED not in cam or cam.type != "CAMERA":
        return None
    corners = np.array([cam.matrix_world @ c for c in cam.data.view_frame(scene=scene)])
    size = tuple(cam[schema.PHOTO_SIZE])
    return tuple(frame_points(corners, size, np.reshape(cam[key], (-1, 2)))
                 for key in (schema.LANDMARKS_DETECTED, schema.LANDMARKS_FITTED))


def _draw() -> None:
    import gpu
    from bpy_extras.view3d_utils import location_3d_to_region_2d
    from gpu_extras.batch import batch_for_shader

    context = bpy.context
    settings = getattr(context.scene, "headforge", None)
    rv3d = context.region_data
    if settings is None or not settings.show_landmarks or rv3d is None or rv3d.view_perspective != "CAMERA":
        return
    points = _camera_landmarks(context.scene)
    if points is None:
        return
    region = context.region
    detected, fitted = ([location_3d_to_region_2d(region, rv3d, Vector(p)) for p in pts] for pts in points)
    pairs = [(d, f) for d, f in zip(detected, fitted) if d is not None and f is not None]
    if not pairs:
        return
    shader = gpu.shader.from_builtin("UNIFORM_COLOR")
    gpu.state.blend_set("ALPHA")
    shader.uniform_float("color", LINK_COLOUR)
    batch_for_shader(shader, "LINES", {"pos": [tuple(c) for pair in pairs for c in pair]}).draw(shader)
    gpu.state.point_size_set(POINT_SIZE)
    for colour, which in ((DETECTED_COLOUR, 0), (FITTED_COLOUR, 1)):
        shader.uniform_float("color", colour)
        batch_for_shader(shader, "POINTS", {"pos": [tuple(p[which]) for p in pairs]}).draw(shader)
    gpu.state.point_size_set(1.0)
    gpu.state.blend_set("NONE")


def register():
    global _handle
    if _handle is None:
        _handle = bpy.types.SpaceView3D.draw_handler_add(_draw, (), "WINDOW", "POST_PIXEL")


def unregister():
    global _handle
    if _handle is not None:
        bpy.types.SpaceView3D.draw_handler_remove(_handle, "WINDOW")
        _handle = None
