"""Game copies of a head for the exporters (main thread only): what engines get, laid out by
:mod:`headforge.core.game`.

:func:`game_copies` stands temporary copies of the head (and its LODs) in for the originals, under the
originals' names, for the length of an export:

* four materials (skin, eyes, mouth, lashes) made of textures an exporter carries: the photo texture and the
  detail normal map, a painted eye in the measured iris colour, a flat-colour mouth atlas, lash strands cut out
  by their alpha; single-sided except the mouth and lashes;
* on a head with hair, a hair cap and hair cards in the lashes' material: the cards follow the strands of the
  head's hair object as they are at rest (combed or grown again in Blender, what is there is exported), fewer
  at each LOD, moved by the same bones and shape keys as the scalp at their roots;
* no irises or see-through shells, no second UV map, no Subdivision/Displace (the detail is the normal map);
* rest pose neutral: every shape-key value 0, the photo's expression kept as the ``headforge_photo_pose``
  property (glTF extras, FBX user properties);
* not parented to the armature (a skinned mesh should be a root node; the Armature modifier still binds it).

The originals are untouched and get their names back afterwards; the copies and their materials are removed.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Iterator

import bmesh
import bpy
import numpy as np
from bpy_extras.io_utils import axis_conversion
from mathutils import Matrix

from ..core.eyes import DEFAULT_IRIS_SRGB, eye_texture
from ..core.game import (GAME_MATERIALS, GAME_PART_MATERIAL, HAIR_CAP_MIN_SCALP, HAIR_CAP_OFFSET_CM, HAIR_CARDS,
                         MOUTH_PARTS, atlas_panel_uv, hair_cap_texture, hair_card_texture, hair_cards, lash_hair_atlas,
                         mouth_atlas_uv, mouth_texture)
from ..core.hair import scalp_mask, skull_ellipsoid
from ..core.hairstyle import TEMPLES_CM
from ..core.lashes import eyelash_texture
from . import schema
from .build import LASH_IMAGE
from .conversion import from_blender, image_from_array, key_vertices, mesh_vertices, to_blender
from .nodes import ensure_principled
from .detail import detail_normal_image

#: the exported materials that are closed surfaces seen from outside only
SINGLE_SIDED = ("skin", "eyes")
#: the lash/hair material's roughness: hair scatters light; at 0.4 a head-on light (a viewer's headlight) drew a
#: white band across the hair cards over the crown
LASH_HAIR_ROUGHNESS = 0.75
#: the name an original carries while its game copy stands in for it
HIDDEN_SUFFIX = " (original, during export)"
#: FBX axes of the exports (glTF's are fixed by the format)
FBX_FORWARD, FBX_UP = "-Z", "Y"


@contextlib.contextmanager
def game_copies(head, objs: list, arm, fmt: str, get_model) -> Iterator[tuple[list, object]]:
    """Within the block, game copies of ``objs`` (``head`` and its LOD objects) and of their armature ``arm``
    (or None) exist under the originals' names, linked where they are; yields ``(mesh copies in the same order,
    armature copy or None)``. ``fmt``: "glb" or "fbx" (how the lashes' alpha is wired; for FBX the axis change
    is put into the copies' data, see :func:`_bake_fbx_axes`); ``get_model()``: the face model, called only for
    an older head (to bake its normal map or to name its parts)."""
    made, renamed, data = [], [], []
    try:
        scalp = _scalp_for_cap(head, get_model)
        strands = _hair_strands_cm(head) if scalp is not None else []
        mats = _game_materials(head, fmt, get_model, data, scalp)
        parts = list(head.get(schema.PARTS) or get_model().parts[1])
        arm_copy = None
        if arm is not None:
            arm_copy = _linked_copy(arm)
            made.append(arm_copy)
        meshes = []
        for lod, obj in zip(_lod_levels(head, objs), objs):
            meshes.append(_game_copy(obj, parts, mats, fmt, scalp, _cards(strands, lod)))
            made.append(meshes[-1])
            for m in meshes[-1].modifiers:
                if m.type == "ARMATURE" and arm_copy is not None:
                    m.object = arm_copy
        for obj, copy in zip(([arm] if arm is not None else []) + objs, made):
            renamed.append((obj, obj.name, obj.data.name))
            name, data_name = obj.name, obj.data.name
            obj.name, obj.data.name = name + HIDDEN_SUFFIX, data_name + HIDDEN_SUFFIX
            copy.name, copy.data.name = name, data_name
        if fmt == "fbx":
            for copy in made:
                _bake_fbx_axes(copy)
        yield meshes, arm_copy
    finally:
        for copy in made:
            block = copy.data
            bpy.data.objects.remove(copy)
            (bpy.data.meshes if isinstance(block, bpy.types.Mesh) else bpy.data.armatures).remove(block)
        for obj, name, data_name in renamed:
            obj.name, obj.data.name = name, data_name
        for block in data:
            (bpy.data.materials if isinstance(block, bpy.types.Material) else bpy.data.images).remove(block)


def _linked_copy(obj) -> "bpy.types.Object":
    """A copy of ``obj`` and its data, linked into ``obj``'s collections, at ``obj``'s place but unparented."""
    copy = obj.copy()
    copy.data = obj.data.copy()
    for coll in obj.users_collection:
        coll.objects.link(copy)
    world = obj.matrix_world.copy()
    copy.parent = None
    copy.matrix_world = world
    return copy


def _bake_fbx_axes(copy) -> None:
    """Put the FBX axis change into ``copy``'s data (vertices and shape keys, or bones) and its inverse into its
    transform, so that the exporter's own axis change leaves every node with no rotation (Blender's "Apply
    Transform" option does this for meshes only, not for armatures)."""
    axes = axis_conversion(to_forward=FBX_FORWARD, to_up=FBX_UP).to_4x4()
    if copy.type == "MESH":
        copy.data.transform(axes @ copy.matrix_world, shape_keys=True)
    else:
        copy.data.transform(axes @ copy.matrix_world)
    copy.matrix_world = axes.inverted()


def _scalp_for_cap(head, get_model) -> np.ndarray | None:
    """The scalp mask (256 x 256, skin atlas) the hair cap follows, or None for a head without hair."""
    if schema.HAIR_SRGB not in head:
        return None
    model = get_model()
    return scalp_mask(model, model.neutral, 256, head.get(schema.HAIR_RECESSION_CM, 0.0), TEMPLES_CM)


def _lod_levels(head, objs: list) -> list[int]:
    """The LOD level of each of ``objs`` (``head`` is 0, ``<head>_LOD<n>`` is n; a LOD renamed otherwise, the
    last level of ``core.game.HAIR_CARDS``)."""
    levels = []
    for obj in objs:
        found = re.search(r"_LOD(\d+)", obj.name)
        levels.append(0 if obj == head else int(found.group(1)) if found else len(HAIR_CARDS) - 1)
    return levels


def _hair_strands_cm(head) -> list[np.ndarray]:
    """The strands of ``head``'s hair object (``schema.HAIR``) as they are at rest, in the head's own frame:
    a list of ``(K_i, 3)`` float64 model cm (empty without a hair object)."""
    hair = bpy.data.objects.get(head.get(schema.HAIR, ""))
    if hair is None or hair.type != "CURVES" or not len(hair.data.points):
        return []
    curves = hair.data
    co = np.empty(len(curves.points) * 3, np.float32)
    curves.position_data.foreach_get("vector", co)
    offsets = np.empty(len(curves.curves) + 1, np.int32)
    curves.curve_offset_data.foreach_get("value", offsets)
    to_head = np.array(head.matrix_world.inverted() @ _rest_world(hair))
    co = co.reshape(-1, 3) @ to_head[:3, :3].T + to_head[:3, 3]
    return np.split(from_blender(co), offsets[1:-1])


def _rest_world(obj):
    """``obj``'s world matrix with the armature bone it may hang from at rest (the photo pose may turn the head
    bone; the head's mesh data is at rest)."""
    if obj.parent is not None and obj.parent_type == "BONE" and obj.parent_bone in obj.parent.data.bones:
        bone = obj.parent.data.bones[obj.parent_bone]
        tail = Matrix.Translation((0.0, bone.length, 0.0))  # a child of a bone hangs from its tail
        return obj.parent.matrix_world @ bone.matrix_local @ tail @ obj.matrix_parent_inverse @ obj.matrix_basis
    return obj.matrix_world


def _cards(strands: list[np.ndarray], lod: int):
    """The hair cards (``core.game.hair_cards``, cm) of LOD ``lod`` along ``strands``, or None without any."""
    if not strands:
        return None
    roots = np.array([s[0] for s in strands])
    centre, _ = skull_ellipsoid(roots, np.arange(len(roots)))
    return hair_cards(strands, centre, min(lod, len(HAIR_CARDS) - 1))


def _game_copy(obj, parts: list[str], mats: dict, fmt: str, scalp: np.ndarray | None, cards) -> "bpy.types.Object":
    """A copy of ``obj`` laid out for games (see the module docstring), linked beside it, with a hair cap where
    ``scalp`` (the scalp mask, or None) says and the hair ``cards`` (``core.game.hair_cards``, or None). Of
    Headforge's custom properties it keeps only which shape keys it has and the photo's pose (a JSON string in
    FBX, whose user properties hold no mappings)."""
    copy = _linked_copy(obj)
    for m in list(copy.modifiers):
        if m.type != "ARMATURE":
            copy.modifiers.remove(m)
    _export_properties(copy, obj, fmt)
    me = copy.data
    if me.shape_keys is not None:
        for kb in me.shape_keys.key_blocks:
            kb.value = 0.0
    _drop_left_out(me, parts)
    for uv in [uv for uv in me.uv_layers if uv.name != "UVMap"]:
        me.uv_layers.remove(uv)
    slot_part = np.array(parts)[_material_indices(me)]
    _mouth_uvs(me, slot_part)
    game_slot = np.array([GAME_MATERIALS.index(GAME_PART_MATERIAL[p]) for p in slot_part], np.int32)
    me.materials.clear()
    for name in GAME_MATERIALS:
        me.materials.append(mats[name])
    me.polygons.foreach_set("material_index", game_slot)
    if scalp is not None:
        _add_hair_cap(me, scalp)
    if cards is not None:
        _add_hair_cards(me, *cards)
    me.update()
    return copy


def _add_hair_cap(me, scalp: np.ndarray) -> None:
    """Move the lashes into the left half of the lash/hair atlas, and add the hair cap: the skin faces with a
    corner on the scalp (the texture's alpha cuts the hairline through them), duplicated ``HAIR_CAP_OFFSET_CM``
    out along their normals (in every shape key, so the keys move the cap as they move the scalp), in the
    lashes' material and the atlas's right half."""
    skin, lashes = GAME_MATERIALS.index("skin"), GAME_MATERIALS.index("lashes")
    bm = bmesh.new()
    bm.from_mesh(me)
    uv_layer = bm.loops.layers.uv["UVMap"]
    size = scalp.shape[0]
    cap = []
    for f in bm.faces:
        uvs = np.array([loop[uv_layer].uv for loop in f.loops])
        if f.material_index == lashes:
            for loop, uv in zip(f.loops, atlas_panel_uv(uvs, "lashes")):
                loop[uv_layer].uv = uv
        elif f.material_index == skin:
            rows = np.clip(((1 - uvs[:, 1]) * size).astype(int), 0, size - 1)
            cols = np.clip((uvs[:, 0] * size).astype(int), 0, size - 1)
            if scalp[rows, cols].max() > HAIR_CAP_MIN_SCALP:
                cap.append(f)
    if cap:
        made = bmesh.ops.duplicate(bm, geom=cap)["geom"]
        faces = [g for g in made if isinstance(g, bmesh.types.BMFace)]
        bm.normal_update()
        shapes = list(bm.verts.layers.shape.values())
        for vert in (g for g in made if isinstance(g, bmesh.types.BMVert)):
            out = vert.normal * (HAIR_CAP_OFFSET_CM * 0.01)  # the mesh is in metres
            vert.co += out
            for layer in shapes:
                vert[layer] += out
        for f in faces:
            f.material_index = lashes
            uvs = np.array([loop[uv_layer].uv for loop in f.loops])
            for loop, uv in zip(f.loops, atlas_panel_uv(uvs, "cap")):
                loop[uv_layer].uv = uv
    bm.to_mesh(me)
    bm.free()


def _add_hair_cards(me, verts_cm: np.ndarray, quads: np.ndarray, uv: np.ndarray, card: np.ndarray) -> None:
    """Add hair cards (``core.game.hair_cards``: vertices in model cm, quads, their panel's UVs, each vertex's
    card) to ``me`` in the lashes' material, smooth-shaded. Each card takes the bone weights and shape-key
    offsets of the mesh vertex nearest its root, so it moves as the scalp under it does."""
    from scipy.spatial import cKDTree

    if not len(quads):
        return
    co = to_blender(verts_cm)
    basis = mesh_vertices(me)
    first = np.searchsorted(card, np.arange(card[-1] + 1))               # each card's first vertex (a root)
    near = cKDTree(basis).query((co[first] + co[first + 1]) / 2)[1][card]
    lashes = GAME_MATERIALS.index("lashes")
    bm = bmesh.new()
    try:
        bm.from_mesh(me)
        bm.verts.ensure_lookup_table()
        deform = bm.verts.layers.deform.active
        weights = {} if deform is None else {n: list(bm.verts[n][deform].items()) for n in np.unique(near).tolist()}
        new = [bm.verts.new(p) for p in co]
        for v, n in zip(new, near.tolist()):
            for group, weight in weights.get(n, ()):
                v[deform][group] = weight
        uv_layer = bm.loops.layers.uv["UVMap"]
        panel_uv = atlas_panel_uv(uv, "cards")
        for quad in quads:
            f = bm.faces.new([new[i] for i in quad])
            f.material_index, f.smooth = lashes, True
            for loop, i in zip(f.loops, quad):
                loop[uv_layer].uv = panel_uv[i]
        bm.to_mesh(me)
    finally:
        bm.free()
    if me.shape_keys is not None:   # the new vertices come last, in every key where the basis has them
        for kb in me.shape_keys.key_blocks:
            key = key_vertices(kb)
            key[len(basis):] = co + (key[:len(basis)] - basis)[near]
            kb.data.foreach_set("co", key.astype(np.float32).ravel())


def _export_properties(copy, obj, fmt: str) -> None:
    for key in list(copy.keys()):
        del copy[key]
    if schema.KEYS in obj:
        copy[schema.KEYS] = obj[schema.KEYS]
    if schema.PHOTO_POSE in obj:
        pose = {k: round(float(v), 4) for k, v in obj[schema.PHOTO_POSE].items()}
        copy[schema.PHOTO_POSE] = json.dumps(pose) if fmt == "fbx" else pose


def _material_indices(me) -> np.ndarray:
    idx = np.empty(len(me.polygons), np.int32)
    me.polygons.foreach_get("material_index", idx)
    return idx


def _drop_left_out(me, parts: list[str]) -> None:
    """Delete the faces (and the vertices only they use) of parts exports leave out; shape keys and vertex
    groups follow (BMesh carries both)."""
    keep = np.array([p in GAME_PART_MATERIAL for p in parts])
    bm = bmesh.new()
    try:
        bm.from_mesh(me)
        gone = [f for f in bm.faces if not keep[f.material_index]]
        bmesh.ops.delete(bm, geom=gone, context="FACES")
        bm.to_mesh(me)
    finally:
        bm.free()


def _mouth_uvs(me, slot_part: np.ndarray) -> None:
    """Move the mouth parts' UVs into their bands of the mouth atlas."""
    totals = np.empty(len(me.polygons), np.int32)
    me.polygons.foreach_get("loop_total", totals)
    loop_part = np.repeat(slot_part, totals)
    layer = me.uv_layers["UVMap"]
    uv = np.empty(len(me.loops) * 2, np.float32)
    layer.data.foreach_get("uv", uv)
    uv = uv.reshape(-1, 2)
    for part in MOUTH_PARTS:
        sel = loop_part == part
        if sel.any():
            uv[sel] = mouth_atlas_uv(uv[sel], part)
    layer.data.foreach_set("uv", uv.ravel())


# ---- materials ---------------------------------------------------------------------------------------

def _game_materials(head, fmt: str, get_model, made: list, scalp: np.ndarray | None) -> dict:
    """The four game materials for ``head``; they and the images made for them are appended to ``made`` (to
    remove afterwards). With ``scalp`` (the hair cap's scalp mask) the lashes' texture is the lash/hair atlas
    (lashes, cap and cards)."""

    def new_image(name, rgb):
        made.append(image_from_array(name, rgb))
        return made[-1]

    skin_mat = head.material_slots[0].material
    albedo = skin_mat.node_tree.nodes[schema.ALBEDO_NODE].image if skin_mat and skin_mat.node_tree and \
        schema.ALBEDO_NODE in skin_mat.node_tree.nodes else None
    iris = tuple(head.get(schema.IRIS_SRGB, DEFAULT_IRIS_SRGB))
    prefix = f"{head.name}_"  # "<head>_skin": apart from the Blender materials ("<head> skin"), like "_LOD1"
    mats = {
        "skin": _textured(prefix + "skin", albedo, normal=detail_normal_image(head, get_model), roughness=0.5),
        "eyes": _textured(prefix + "eyes", new_image(prefix + "eyes", eye_texture(512, iris)), roughness=0.1),
        "mouth": _textured(prefix + "mouth", new_image(prefix + "mouth", mouth_texture()), roughness=0.4),
        "lashes": _textured(prefix + "lashes", bpy.data.images.get(LASH_IMAGE) if scalp is None else new_image(
            prefix + "lashes", lash_hair_atlas(eyelash_texture(512), hair_cap_texture(scalp, head[schema.HAIR_SRGB]),
                                               hair_card_texture(head[schema.HAIR_SRGB]))),
            roughness=LASH_HAIR_ROUGHNESS, alpha=fmt),
    }
    for name, mat in mats.items():
        mat.use_backface_culling = name in SINGLE_SIDED
        made.append(mat)
    return mats


def _textured(name: str, image, *, roughness: float, normal=None, alpha: str | None = None):
    """A Principled material with ``image`` as base colour (and a tangent-space ``normal`` map). ``alpha``: take
    the image's alpha as a cut-out: "glb" wires it through a Round node (glTF alphaMode MASK, cutoff 0.5), "fbx"
    straight to Alpha (what the FBX writer carries)."""
    mat = bpy.data.materials.new(name)
    ensure_principled(mat)
    nt = mat.node_tree
    bsdf = next(n for n in nt.nodes if n.type == "BSDF_PRINCIPLED")
    bsdf.inputs["Roughness"].default_value = roughness
    if image is not None:
        tex = nt.nodes.new("ShaderNodeTexImage")
        tex.image = image
        nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
        if alpha == "glb":
            cut = nt.nodes.new("ShaderNodeMath")
            cut.operation = "ROUND"
            nt.links.new(tex.outputs["Alpha"], cut.inputs[0])
            nt.links.new(cut.outputs["Value"], bsdf.inputs["Alpha"])
        elif alpha == "fbx":
            nt.links.new(tex.outputs["Alpha"], bsdf.inputs["Alpha"])
        if alpha and hasattr(mat, "surface_render_method"):
            mat.surface_render_method = "DITHERED"
    if normal is not None:
        ntex = nt.nodes.new("ShaderNodeTexImage")
        ntex.image = normal
        nmap = nt.nodes.new("ShaderNodeNormalMap")
        nmap.uv_map = "UVMap"
        nt.links.new(ntex.outputs["Color"], nmap.inputs["Color"])
        nt.links.new(nmap.outputs["Normal"], bsdf.inputs["Normal"])
    return mat
