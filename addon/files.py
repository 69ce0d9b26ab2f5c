"""Blender files headlessly: an empty scene to build into, and ``head.blend`` written atomically (the
engine exports, ``head.glb`` among them, are written by :mod:`.export`)."""

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
