"""Writing Blender files headlessly: ``head.blend`` and ``head.glb`` of a freshly built head, atomically."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..core.fileio import atomic_path


def new_empty_scene() -> None:
    """Reset to an empty file (no default cube, camera or light)."""
    bpy.ops.wm.read_homefile(use_empty=True)


def save_blend(path: str | Path, overwrite: bool = False) -> Path:
    """Save the current file as a copy at ``path`` (packed images travel inside)."""
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.unlink()  # saving over a file would leave Blender's backup of it (.blend1) beside it
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp), copy=True, compress=True)
    return path


def export_glb(path: str | Path, objects, overwrite: bool = False) -> Path:
    """Export ``objects`` as binary glTF 2.0 (Y-up, textures embedded)."""
    path = Path(path)
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    for o in objects:
        o.select_set(True)
    bpy.context.view_layer.objects.active = objects[0]
    with atomic_path(path, overwrite=overwrite) as tmp:
        bpy.ops.export_scene.gltf(filepath=str(tmp), export_format="GLB", use_selection=True,
                                  export_yup=True, export_apply=False, export_cameras=False,
                                  export_lights=False)
    return path
