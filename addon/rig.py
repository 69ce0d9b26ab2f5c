"""Rig a created head in Blender: expression shape keys, armature, weights, LODs (main thread only).

Geometry comes from :mod:`headforge.core.rig` (model cm); this module only turns it into Blender data
(through :mod:`.conversion`).
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core import rig as core_rig
from ..core.correspondence import closest_points_on_triangles
from ..core.eyelids import close_blinks
from ..core.errors import HeadforgeError
from ..core.facemodel import N_VERTICES, FaceModel
from . import schema
from .conversion import (from_blender, key_vertices, loop_triangles, mesh_vertices, set_key_vertices,
                         set_mesh_vertices, to_blender)


def is_headforge_head(obj) -> bool:
    return (obj is not None and obj.type == "MESH" and bool(obj.get(schema.HEAD))
            and len(obj.data.vertices) == N_VERTICES)


def check_head(obj) -> None:
    if obj is None:
        raise HeadforgeError("Nothing is selected. Select a head made with Create Head.")
    if not is_headforge_head(obj):
        raise HeadforgeError(f"{obj.name!r} is not a Headforge head (or its topology was changed). Select a "
                             "head made with Create Head, or create one first.")


def add_rig(head, model: FaceModel, context=None, arkit: bool = False, avatar=None) -> "bpy.types.Object":
    """Turn a created head into a rigged head: neutral basis + expression shape keys (valued at the
    photo's expression), an armature with weights, parented. Returns the armature object.

    ``avatar``: the :class:`~headforge.core.pipeline.Avatar` the head was just built from, whose fitted
    vertices and expression are used as they are; without it (a head from a file) they are read back from
    the mesh and its ``headforge_expression`` property."""
    context = context or bpy.context
    check_head(head)
    if head.data.shape_keys is not None or head.get(schema.RIG):
        raise HeadforgeError(f"{head.name!r} is already rigged. Use it as it is, or create a new head.")
    if avatar is not None:
        fitted, expr = avatar.vertices, np.asarray(avatar.fit.expression, np.float32)
    else:
        fitted = from_blender(mesh_vertices(head.data))
        expr = np.asarray(head.get(schema.EXPRESSION, [0.0] * model.n_expression), np.float32)
    neutral = core_rig.neutral_vertices(model, fitted, expr)
    set_mesh_vertices(head.data, neutral)
    _add_shape_keys(head, model, neutral, expr, arkit)
    arm = _add_armature(head, core_rig.bone_layout(model, neutral), context)
    _add_rotation_limits(arm)
    _add_weights(head, core_rig.skin_weights(model, neutral))
    mod = head.modifiers.new("Armature", "ARMATURE")
    mod.object = arm
    head.parent = arm
    head.matrix_parent_inverse = arm.matrix_world.inverted()
    head[schema.RIG] = arm.name
    arm[schema.RIG] = 1
    hair_on_head_bone(head, arm, context)
    return arm


def hair_on_head_bone(head, arm, context) -> None:
    """The head's hair (``addon.hair``) follows the armature's ``head`` bone (a nod or a turn takes it along),
    staying where it is at rest."""
    hair = bpy.data.objects.get(head.get(schema.HAIR, ""))
    if hair is None:
        return
    context.view_layer.update()
    world = hair.matrix_world.copy()
    hair.parent, hair.parent_type, hair.parent_bone = arm, "BONE", "head"
    context.view_layer.update()
    hair.matrix_world = world


POSES = ("PHOTO", "NEUTRAL")


def set_pose(head, pose: str) -> int:
    """Set the shape keys of a rigged head and of its LODs to ``pose``: "PHOTO" (the photo's expression, kept
    in ``headforge_photo_pose``) or "NEUTRAL" (all 0, the rest pose the exports have). Returns how many objects
    were set."""
    check_head(head)
    if head.data.shape_keys is None:
        raise HeadforgeError(f"{head.name!r} has no expression shape keys yet. Add a rig first.")
    if pose not in POSES:
        raise HeadforgeError(f"Unknown pose {pose!r}; choose PHOTO or NEUTRAL.")
    values = dict(head.get(schema.PHOTO_POSE, {})) if pose == "PHOTO" else {}
    objs = [head] + [o for o in bpy.data.objects if o.get(schema.LOD_OF) == head.name and o.data.shape_keys]
    for obj in objs:
        for kb in obj.data.shape_keys.key_blocks[1:]:
            kb.value = float(values.get(kb.name, 0.0))
    return len(objs)


def _add_shape_keys(head, model: FaceModel, neutral: np.ndarray, expr: np.ndarray, arkit: bool) -> None:
    """A neutral basis and one key per expression (ICT's 53 or ARKit's 52, the blinks corrected for this
    person so that they close), valued at the photo's."""
    head.shape_key_add(name="Basis", from_mix=False)
    if arkit:
        keys = core_rig.arkit52(model)
        values = core_rig.arkit52_weights(model, expr)
    else:
        keys = core_rig.ict_shape_keys(model)
        values = dict(zip(model.expression_names, expr))
    close_blinks(model, neutral, keys)  # this person's blinks close the lids
    pose = {}
    for name, delta in keys.items():
        kb = head.shape_key_add(name=name, from_mix=False)
        set_key_vertices(kb, neutral + delta)
        kb.slider_min, kb.slider_max = 0.0, 1.0
        kb.value = pose[name] = float(np.clip(values.get(name, 0.0), 0.0, 1.0))
    head[schema.KEYS] = "arkit52" if arkit else "ict53"
    head[schema.PHOTO_POSE] = pose


def _add_armature(head, bones: list, context) -> "bpy.types.Object":
    """An armature object ``<head> rig`` beside the head with ``bones`` (``core.rig.Bone``, model cm)."""
    arm_data = bpy.data.armatures.new(f"{head.name} rig")
    arm = bpy.data.objects.new(f"{head.name} rig", arm_data)
    for coll in head.users_collection:
        coll.objects.link(arm)
    arm.matrix_world = head.matrix_world.copy()
    arm.show_in_front = True
    prev_active = context.view_layer.objects.active
    prev_mode = context.object.mode if context.object else "OBJECT"
    if prev_mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        made = {}
        for b in bones:
            e = arm_data.edit_bones.new(b.name)
            e.head = to_blender(b.head[None])[0]
            e.tail = to_blender(b.tail[None])[0]
            e.roll = 0.0
            if b.parent:
                e.parent = made[b.parent]
                e.use_connect = False
            made[b.name] = e
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        context.view_layer.objects.active = prev_active
    return arm


def _add_rotation_limits(arm) -> None:
    """A Limit Rotation constraint (local space) on each bone of ``core.rig.BONE_LIMITS_DEG``."""
    for name, limits in core_rig.BONE_LIMITS_DEG.items():
        pb = arm.pose.bones[name]
        pb.rotation_mode = "XYZ"
        con = pb.constraints.new("LIMIT_ROTATION")
        con.name = "Headforge limits"
        con.owner_space = "LOCAL"
        for axis, (lo, hi) in zip("xyz", limits):
            setattr(con, f"use_limit_{axis}", True)
            setattr(con, f"min_{axis}", np.radians(lo))
            setattr(con, f"max_{axis}", np.radians(hi))


def _set_group_weights(group, weights: np.ndarray) -> None:
    """Vertex group weights from an (N,) array, grouped by value (quantised to 1/1000) so each value takes one
    call."""
    q = np.round(weights * 1000).astype(np.int32)
    for level in np.unique(q[q > 0]):
        group.add(np.flatnonzero(q == level).tolist(), float(level) / 1000.0, "REPLACE")


def _add_weights(head, weights: dict[str, np.ndarray]) -> None:
    """One vertex group per bone of ``core.rig.BONES`` (empty where the bone moves nothing)."""
    for bname in core_rig.BONES:
        vg = head.vertex_groups.new(name=bname)
        if bname in weights:
            _set_group_weights(vg, weights[bname])


# -------------------------------------------------------------------------------------------------
# LODs


def make_lod(head, target_vertices: int, suffix: str, context=None) -> "bpy.types.Object":
    """A decimated copy of ``head`` with about ``target_vertices`` vertices: UVs and materials kept,
    shape keys and vertex groups carried over by barycentric interpolation from the full mesh."""
    context = context or bpy.context
    src = head.data
    basis_co = mesh_vertices(src) if src.shape_keys is None else key_vertices(src.shape_keys.key_blocks[0])
    lod = _decimated_copy(head, basis_co, target_vertices, suffix, context)
    # each LOD vertex as a barycentric point on the full mesh
    full_tri = loop_triangles(src)
    lod_co = mesh_vertices(lod.data).astype(np.float64)
    ti, bw, _ = closest_points_on_triangles(lod_co, basis_co.astype(np.float64), full_tri, k=8)
    tv = full_tri[ti]

    def interp(values):  # values (N, ...) on the full mesh
        return (values[tv] * bw.reshape(len(bw), 3, *([1] * (values.ndim - 1)))).sum(1)

    if src.shape_keys is not None:
        _carry_shape_keys(src.shape_keys.key_blocks, basis_co, lod, lod_co, interp)
    if head.vertex_groups:
        _carry_weights(head, lod, interp)
    for m in head.modifiers:
        if m.type == "ARMATURE":
            nm = lod.modifiers.new(m.name, "ARMATURE")
            nm.object = m.object
    lod.parent = head.parent
    lod.matrix_world = head.matrix_world.copy()
    for key in (schema.HEAD, schema.KEYS, schema.PHOTO_POSE):
        if key in head:
            lod[key] = head[key]
    lod[schema.LOD_OF] = head.name
    return lod


def _decimated_copy(head, basis_co: np.ndarray, target_vertices: int, suffix: str, context) -> "bpy.types.Object":
    """A new object ``<head><suffix>`` beside ``head``: its basis shape (no shape keys, modifiers or vertex
    groups) collapsed to about ``target_vertices`` vertices, each part of ``core.rig.LOD_PARTS`` to its own
    share."""
    src = head.data
    lod_me = bpy.data.meshes.new_from_object(head)  # no shape keys, no modifiers
    obj = bpy.data.objects.new(f"{head.name}{suffix}", lod_me)
    for coll in head.users_collection:
        coll.objects.link(obj)
    lod_me.vertices.foreach_set("co", basis_co.ravel())
    lod_me.update()
    obj.vertex_groups.clear()
    budgets = core_rig.lod_budgets(target_vertices)
    for part, (members, _) in budgets.items():
        weights = np.zeros(len(src.vertices), np.float32)
        weights[members] = 1.0
        _set_group_weights(obj.vertex_groups.new(name=part), weights)
    for part, (members, target) in budgets.items():
        _collapse_part(obj, part, len(members), target, context)
    obj.vertex_groups.clear()
    obj.data.name = f"{src.name}{suffix}"
    return obj


def _collapse_part(obj, group: str, count: int, target: int, context) -> None:
    """Collapse the vertices of vertex group ``group`` (weight 1; everything else has 0 and stays) of ``obj``
    from ``count`` to about ``target``: Blender's collapse ratio counts the whole mesh's triangles, and each
    collapsed edge takes about two."""
    if target >= count:
        return
    before = obj.data
    n_before = len(before.vertices)
    sizes = np.empty(len(before.polygons), np.int32)
    before.polygons.foreach_get("loop_total", sizes)
    triangles = int((sizes - 2).sum())
    remove, best = count - target, None
    for _ in range(3):  # the two-triangles rule is close; correct once or twice
        obj.data = before
        mod = obj.modifiers.new("Decimate", "DECIMATE")
        mod.decimate_type = "COLLAPSE"
        mod.ratio = float(np.clip(1.0 - 2.0 * remove / triangles, 0.0, 1.0))
        mod.vertex_group = group
        mod.vertex_group_factor = 1.0  # a vertex of weight 0 is never collapsed
        new = bpy.data.meshes.new_from_object(obj.evaluated_get(context.evaluated_depsgraph_get()))
        obj.modifiers.remove(mod)
        if best is not None:
            bpy.data.meshes.remove(best)
        best = new
        removed = n_before - len(new.vertices)
        if removed == 0 or abs(removed - (count - target)) <= 0.05 * target:
            break
        remove = max(1, round(remove * (count - target) / removed))
    obj.data = best
    bpy.data.meshes.remove(before)


def _carry_shape_keys(key_blocks, basis_co: np.ndarray, lod, lod_co: np.ndarray, interp) -> None:
    """The full mesh's shape keys on the LOD: each key's offsets interpolated at the LOD's vertices."""
    lod.shape_key_add(name=key_blocks[0].name, from_mix=False)
    for kb in key_blocks[1:]:
        nk = lod.shape_key_add(name=kb.name, from_mix=False)
        nk.data.foreach_set("co", (lod_co + interp(key_vertices(kb) - basis_co)).astype(np.float32).ravel())
        nk.slider_min, nk.slider_max, nk.value = kb.slider_min, kb.slider_max, kb.value


def _carry_weights(head, lod, interp) -> None:
    """The full mesh's vertex groups on the LOD, interpolated and normalised to sum 1."""
    W = np.zeros((len(head.data.vertices), len(head.vertex_groups)), np.float32)
    for v in head.data.vertices:
        for g in v.groups:
            W[v.index, g.group] = g.weight
    Wl = interp(W)
    Wl /= np.maximum(Wl.sum(1, keepdims=True), 1e-6)
    for gi, g in enumerate(head.vertex_groups):
        _set_group_weights(lod.vertex_groups.new(name=g.name), Wl[:, gi])
