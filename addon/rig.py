"""Rig a created head in Blender: expression shape keys, armature, weights, LODs (main thread only).

Geometry comes from :mod:`headforge.core.rig` (model cm); this module only turns it into Blender data.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core import rig as core_rig
from ..core.errors import HeadforgeError
from ..core.facemodel import N_VERTICES, FaceModel
from .build import MODEL_TO_BLENDER, to_blender


def is_headforge_head(obj) -> bool:
    return (obj is not None and obj.type == "MESH" and bool(obj.get("headforge"))
            and len(obj.data.vertices) == N_VERTICES)


def check_head(obj) -> None:
    if obj is None:
        raise HeadforgeError("Nothing is selected. Select a head made with Create Head.")
    if not is_headforge_head(obj):
        raise HeadforgeError(f"{obj.name!r} is not a Headforge head (or its topology was changed). Select a "
                             "head made with Create Head, or create one first.")


def from_blender(co_m: np.ndarray) -> np.ndarray:
    """(N, 3) Blender metres -> model cm."""
    return np.asarray(co_m, np.float64) @ np.linalg.inv(MODEL_TO_BLENDER).T


def _get_co(me) -> np.ndarray:
    co = np.empty(len(me.vertices) * 3, np.float32)
    me.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def add_rig(head, model: FaceModel, context=None, arkit: bool = False) -> "bpy.types.Object":
    """Turn a created head into a rigged head: neutral basis + expression shape keys (valued at the
    photo's expression), an armature with weights, parented. Returns the armature object."""
    context = context or bpy.context
    check_head(head)
    if head.data.shape_keys is not None or head.get("headforge_rig"):
        raise HeadforgeError(f"{head.name!r} is already rigged. Use it as it is, or create a new head.")
    expr = np.asarray(head.get("headforge_expression", [0.0] * model.n_expression), np.float32)
    fitted = from_blender(_get_co(head.data))
    neutral = core_rig.neutral_vertices(model, fitted, expr)
    me = head.data
    me.vertices.foreach_set("co", to_blender(neutral).astype(np.float32).ravel())
    me.update()

    # shape keys
    head.shape_key_add(name="Basis", from_mix=False)
    if arkit:
        keys = core_rig.arkit52(model)
        ict_w = dict(zip(model.expression_names, expr))
        values = {a: float(np.mean([ict_w[n] for n in names])) if names else 0.0
                  for a, names in core_rig.arkit52_sources(model).items()}
    else:
        keys = core_rig.ict_shape_keys(model)
        values = dict(zip(model.expression_names, expr))
    for name, delta in keys.items():
        kb = head.shape_key_add(name=name, from_mix=False)
        kb.data.foreach_set("co", to_blender(neutral + delta).astype(np.float32).ravel())
        kb.slider_min, kb.slider_max = 0.0, 1.0
        kb.value = float(np.clip(values.get(name, 0.0), 0.0, 1.0))
    head["headforge_keys"] = "arkit52" if arkit else "ict53"

    # armature
    arm_data = bpy.data.armatures.new(f"{head.name} rig")
    arm = bpy.data.objects.new(f"{head.name} rig", arm_data)
    for coll in head.users_collection:
        coll.objects.link(arm)
    arm.matrix_world = head.matrix_world.copy()
    arm.show_in_front = True
    bones = core_rig.bone_layout(model, neutral)
    prev_active = context.view_layer.objects.active
    prev_mode = context.object.mode if context.object else "OBJECT"
    if prev_mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        eb = arm_data.edit_bones
        made = {}
        for b in bones:
            e = eb.new(b.name)
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

    # weights: group vertices by weight (quantised to 1/1000) so each group gets few calls
    weights = core_rig.skin_weights(model, neutral)
    for bname in core_rig.BONES:
        vg = head.vertex_groups.new(name=bname)
        w = weights.get(bname)
        if w is None:
            continue
        q = np.round(w * 1000).astype(np.int32)
        for level in np.unique(q[q > 0]):
            idx = np.flatnonzero(q == level).tolist()
            vg.add(idx, float(level) / 1000.0, "REPLACE")
    mod = head.modifiers.new("Armature", "ARMATURE")
    mod.object = arm
    head.parent = arm
    head.matrix_parent_inverse = arm.matrix_world.inverted()
    head["headforge_rig"] = arm.name
    arm["headforge_rig"] = 1
    return arm


# -------------------------------------------------------------------------------------------------
# LODs


def _loop_triangles(me) -> np.ndarray:
    me.calc_loop_triangles()
    tri = np.empty(len(me.loop_triangles) * 3, np.int32)
    me.loop_triangles.foreach_get("vertices", tri)
    return tri.reshape(-1, 3)


def make_lod(head, target_vertices: int, suffix: str, context=None) -> "bpy.types.Object":
    """A decimated copy of ``head`` with about ``target_vertices`` vertices: UVs and materials kept,
    shape keys and vertex groups carried over by barycentric interpolation from the full mesh."""
    from ..core.correspondence import closest_points_on_triangles

    context = context or bpy.context
    src = head.data
    basis_co = _get_co(src) if src.shape_keys is None else _key_co(src.shape_keys.key_blocks[0])
    tmp_me = bpy.data.meshes.new_from_object(head)  # no shape keys, no modifiers
    tmp = bpy.data.objects.new(f"{head.name}{suffix}", tmp_me)
    for coll in head.users_collection:
        coll.objects.link(tmp)
    tmp_me.vertices.foreach_set("co", basis_co.ravel())
    tmp_me.update()
    tmp.vertex_groups.clear()
    ratio = target_vertices / len(src.vertices)
    lod_me = None
    for _ in range(4):  # the collapse ratio counts faces; adjust once or twice to hit the vertex target
        mod = tmp.modifiers.new("Decimate", "DECIMATE")
        mod.decimate_type = "COLLAPSE"
        mod.ratio = float(np.clip(ratio, 0.01, 1.0))
        dg = context.evaluated_depsgraph_get()
        new = bpy.data.meshes.new_from_object(tmp.evaluated_get(dg))
        tmp.modifiers.remove(mod)
        if lod_me is not None:
            bpy.data.meshes.remove(lod_me)
        lod_me = new
        got = len(lod_me.vertices)
        if abs(got - target_vertices) <= 0.05 * target_vertices:
            break
        ratio *= target_vertices / max(got, 1)
    tmp.data = lod_me
    bpy.data.meshes.remove(tmp_me)
    lod_me.name = f"{src.name}{suffix}"

    # carry shape keys and weights: each LOD vertex as a barycentric point on the full mesh
    full_co, full_tri = basis_co.astype(np.float64), _loop_triangles(src)
    lod_co = _get_co(lod_me).astype(np.float64)
    ti, bw, _ = closest_points_on_triangles(lod_co, full_co, full_tri, k=8)
    tv = full_tri[ti]

    def interp(values):  # values (N, ...) on the full mesh
        return (values[tv] * bw.reshape(len(bw), 3, *([1] * (values.ndim - 1)))).sum(1)

    if src.shape_keys is not None:
        tmp.shape_key_add(name=src.shape_keys.key_blocks[0].name, from_mix=False)
        for kb in src.shape_keys.key_blocks[1:]:
            delta = _key_co(kb) - basis_co
            nk = tmp.shape_key_add(name=kb.name, from_mix=False)
            nk.data.foreach_set("co", (lod_co + interp(delta)).astype(np.float32).ravel())
            nk.slider_min, nk.slider_max, nk.value = kb.slider_min, kb.slider_max, kb.value
    if head.vertex_groups:
        n = len(src.vertices)
        W = np.zeros((n, len(head.vertex_groups)), np.float32)
        for v in src.vertices:
            for g in v.groups:
                W[v.index, g.group] = g.weight
        Wl = interp(W)
        Wl /= np.maximum(Wl.sum(1, keepdims=True), 1e-6)
        for gi, g in enumerate(head.vertex_groups):
            ng = tmp.vertex_groups.new(name=g.name)
            q = np.round(Wl[:, gi] * 1000).astype(np.int32)
            for level in np.unique(q[q > 0]):
                ng.add(np.flatnonzero(q == level).tolist(), float(level) / 1000.0, "REPLACE")
    for m in head.modifiers:
        if m.type == "ARMATURE":
            nm = tmp.modifiers.new(m.name, "ARMATURE")
            nm.object = m.object
    tmp.parent = head.parent
    tmp.matrix_world = head.matrix_world.copy()
    for key in ("headforge", "headforge_keys"):
        if key in head:
            tmp[key] = head[key]
    tmp["headforge_lod_of"] = head.name
    return tmp


def _key_co(kb) -> np.ndarray:
    co = np.empty(len(kb.data) * 3, np.float32)
    kb.data.foreach_get("co", co)
    return co.reshape(-1, 3)
