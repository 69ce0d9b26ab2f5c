"""Export a Headforge head (rigged or not, with LODs) to glTF 2.0 (.glb) or FBX, atomically.

What is exported are game copies of the head (:mod:`.game`): four materials (skin, eyes, mouth, lashes) of
textures, no see-through shells, one UV map, rest pose neutral with the photo's expression kept as the
``headforge_photo_pose`` property (glTF node extras, FBX user property).

Axes and units:

* **glTF**: +Y up, +Z forward, metres (the glTF convention). Morph targets carry their names in
  ``mesh.extras.targetNames``; the skin has the six bones; textures are embedded, with tangents for the
  normal map. The Khronos validator reports no errors and no warnings (``tests/test_rig_export.py``).
* **FBX**: +Y up, -Z forward, exported with "FBX units scale", so the file says centimetres. That is
  what Unreal expects; in Unity keep "Convert Units" on. The axis change is in the data (vertices and bones),
  so the mesh and armature nodes carry no rotation or scale. Shape keys, armature and the textures (embedded,
  named ``<file name>.fbm/...``) are in the file; no leaf bones are added.

LOD objects are named ``<head>_LOD1``, ``<head>_LOD2`` (the head itself is LOD0).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import bpy

from ..core.errors import OutputError
from ..core.fileio import atomic_path
from ..core.facemodel import load_face_model
from . import schema
from .game import FBX_FORWARD, FBX_UP, game_copies
from .rig import check_head, make_lod

FORMATS = ("glb", "fbx")
LOD_VERTICES = {1: 10000, 2: 3000}


def lod_objects(head, lods, context=None) -> list:
    """The head (LOD0) and the asked-for LODs, made now if they do not exist yet."""
    objs = []
    for lv in sorted(set(lods)):
        if lv == 0:
            objs.append(head)
            continue
        if lv not in LOD_VERTICES:
            raise OutputError(f"LOD {lv} is not available; choose from 0, 1 and 2.")
        name = f"{head.name}_LOD{lv}"
        obj = bpy.data.objects.get(name)
        if obj is None or obj.get(schema.LOD_OF) != head.name:
            obj = make_lod(head, LOD_VERTICES[lv], f"_LOD{lv}", context)
        objs.append(obj)
    return objs


def export_head(head, path, fmt: str, lods=(0,), overwrite: bool = False, context=None, get_model=None,
                animation: bool = False) -> Path:
    """Write ``head`` (and its LODs and rig) to ``path`` as ``fmt`` ("glb" or "fbx"): the one writer of both
    formats, for the panel, ``headforge export``, ``headforge create`` and ``headforge track``. Fine detail goes
    in as the normal map the head keeps (baked now for older heads; ``get_model()``: the face model for its
    tangent frames, called only then; default: the configured face model). ``animation``: the head's action too
    (a tracked performance: shape-key weights and the head bone, over the scene's frame range), and the clip's
    camera with its path when Track Video made one (``schema.VIDEO_CAMERA``); without it the rest pose alone."""
    context = context or bpy.context
    check_head(head)
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise OutputError(f"Unknown format {fmt!r}; choose glb or fbx.")
    path = Path(bpy.path.abspath(str(path)))
    if path.exists() and not overwrite:
        raise OutputError(f"{str(path)!r} already exists. Tick 'Overwrite' (or pass --overwrite) to replace it, "
                          "or choose another file name.")
    if not path.parent.exists() or not os.access(path.parent, os.W_OK):
        raise OutputError(f"Cannot write into {str(path.parent)!r}. Choose a folder you can write to.")
    objs = lod_objects(head, lods, context)
    arm = head.parent if head.parent is not None and head.parent.type == "ARMATURE" else None
    camera = bpy.data.objects.get(head.get(schema.VIDEO_CAMERA, "")) if animation else None
    cameras = [camera] if camera is not None and camera.type == "CAMERA" else []
    if context.object is not None and context.object.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    with _selection_kept(context), atomic_path(path, overwrite=True, keep_name=True) as tmp, \
            game_copies(head, objs, arm, fmt, get_model or load_face_model) as (meshes, arm_copy):
        _select(context, meshes + ([arm_copy] if arm_copy is not None else []) + cameras, active=meshes[0])
        if fmt == "glb":
            bpy.ops.export_scene.gltf(filepath=str(tmp), export_format="GLB", use_selection=True,
                                      export_yup=True, export_apply=False, export_morph=True,
                                      export_morph_normal=False, export_skins=True, export_cameras=bool(cameras),
                                      export_lights=False, export_animations=animation, export_tangents=True,
                                      export_extras=True, export_animation_mode="ACTIONS",
                                      export_frame_range=animation, export_force_sampling=animation)
        else:
            bpy.ops.export_scene.fbx(filepath=str(tmp), use_selection=True,
                                     object_types={"ARMATURE", "MESH"} | ({"CAMERA"} if cameras else set()),
                                     path_mode="COPY", embed_textures=True,
                                     axis_forward=FBX_FORWARD, axis_up=FBX_UP, apply_scale_options="FBX_SCALE_UNITS",
                                     use_custom_props=True,
                                     use_mesh_modifiers=False, add_leaf_bones=False, bake_anim=animation,
                                     mesh_smooth_type="FACE", use_armature_deform_only=True)
    return path


@contextlib.contextmanager
def _selection_kept(context):
    """Within the block the selection may change; afterwards the objects selected before it (those still there)
    are selected again and the active one active, as the user left them."""
    selected, active = list(context.selected_objects), context.view_layer.objects.active
    try:
        yield
    finally:
        for o in context.view_layer.objects:
            o.select_set(False)
        for o in selected:
            if o.name in context.view_layer.objects:
                o.select_set(True)
        if active is not None and active.name in context.view_layer.objects:
            context.view_layer.objects.active = active


def _select(context, objs: list, active) -> None:
    """Select exactly ``objs`` (shown), with ``active`` active."""
    for o in context.view_layer.objects:
        o.select_set(False)
    for o in objs:
        o.hide_set(False)
        o.select_set(True)
    context.view_layer.objects.active = active
