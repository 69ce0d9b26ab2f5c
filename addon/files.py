"""Blender files headlessly: an empty scene to build into, ``head.blend`` written atomically (the engine
exports, ``head.glb`` among them, are written by :mod:`.export`), and the heads of a saved .blend."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..core.errors import OutputError
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


def open_heads(blend: Path, name: str | None = None) -> list:
    """Open ``blend`` and return its Headforge heads (LODs left out), or only the one called ``name``;
    :class:`OutputError` when it cannot be opened or has none."""
    from . import rig, schema

    try:
        bpy.ops.wm.open_mainfile(filepath=str(Path(blend).resolve()), load_ui=False)
    except RuntimeError as e:
        raise OutputError(f"Cannot open {str(blend)!r} as a Blender file: {e}") from None
    heads = [o for o in bpy.data.objects if rig.is_headforge_head(o) and not o.get(schema.LOD_OF)]
    if name:
        heads = [o for o in heads if o.name == name]
    if not heads:
        what = f"named {name!r} " if name else ""
        raise OutputError(f"{str(blend)!r} has no Headforge head {what}(objects made by Create Head or "
                          "`headforge create`).")
    return heads
