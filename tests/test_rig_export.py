"""Rig, LODs and export in Blender (issue: rigged heads for studios). Real bpy, real face model, real photo fit."""

import json
import os
import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest

from headforge.core import rig as core_rig
from headforge.core.errors import HeadforgeError
from headforge.core.facemodel import LANDMARKS_68, N_VERTICES, REGIONS, SKIN_END

LOWER_LIP = LANDMARKS_68[57]


@pytest.fixture(scope="module")
def rigged(avatars, model):
    import headforge
    from headforge.addon.build import build_head
    from headforge.addon.rig import add_rig

    bpy.ops.wm.read_homefile(use_empty=True)
    headforge.register()
    made = build_head(avatars["astronaut"], name="Anna")
    arm = add_rig(made["head"], model)
    yield made["head"], arm
    headforge.unregister()


def _eval_co(obj):
    dg = bpy.context.evaluated_depsgraph_get()
    me = obj.evaluated_get(dg).to_mesh()
    co = np.empty(len(me.vertices) * 3, np.float32)
    me.vertices.foreach_get("co", co)
    obj.evaluated_get(dg).to_mesh_clear()
    return co.reshape(-1, 3)


def test_rig_structure(rigged, avatars):
    head, arm = rigged
    keys = head.data.shape_keys.key_blocks
    assert len(keys) == 54 and keys[0].name == "Basis" and keys["jawOpen"] is not None
    assert {b.name for b in arm.data.bones} == set(core_rig.BONES)
    assert arm.data.bones["jaw"].parent.name == "head"
    assert {g.name for g in head.vertex_groups} == set(core_rig.BONES)
    # the key values reproduce the photo's expression: the posed mesh equals the fitted head
    fitted_m = avatars["astronaut"].vertices.astype(np.float64) @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]]).T * 0.01
    np.testing.assert_allclose(_eval_co(head), fitted_m, atol=2e-5)


def test_posing_jaw_and_eyes(rigged, model):
    head, arm = rigged
    rest = _eval_co(head)
    jaw = arm.pose.bones["jaw"]
    jaw.rotation_mode = "XYZ"
    jaw.rotation_euler = (0.35, 0, 0)
    eye = arm.pose.bones["eye.L"]
    eye.rotation_mode = "XYZ"
    eye.rotation_euler = (0, 0, 0.3)
    posed = _eval_co(head)
    jaw.rotation_euler = (0, 0, 0)
    eye.rotation_euler = (0, 0, 0)
    d = np.linalg.norm(posed - rest, axis=1)
    teeth = np.arange(REGIONS["teeth"][0], REGIONS["teeth"][1] + 1)
    top = np.argmax(rest[:SKIN_END, 2])
    print(f"jaw 20 deg: lower teeth move up to {d[teeth].max() * 100:.2f} cm, skull top {d[top] * 100:.4f} cm")
    assert d[teeth].max() > 0.01 and d[top] < 1e-6
    a, b = REGIONS["iris_L"]
    assert d[a:b + 1].max() > 0.002 and d[REGIONS["iris_R"][0]:REGIONS["iris_R"][1] + 1].max() < 1e-6
    # no tearing: no skin edge lengthens more than it does when ICT's own jawOpen shape opens the mouth
    # as far (the blendshape is the artist-made reference for an opening jaw)
    e = np.empty(len(head.data.edges) * 2, np.int32)
    head.data.edges.foreach_get("vertices", e)
    e = e.reshape(-1, 2)
    e = e[(e < SKIN_END).all(1)]
    _, full_angle = core_rig.jaw_pivot(model)
    keys = head.data.shape_keys.key_blocks
    saved = {k.name: k.value for k in keys}
    keys["jawOpen"].value = min(1.0, saved["jawOpen"] + 0.35 / full_angle)
    ref = _eval_co(head)
    keys["jawOpen"].value = saved["jawOpen"]

    def grow(P):
        return np.linalg.norm(P[e[:, 0]] - P[e[:, 1]], axis=1) - np.linalg.norm(rest[e[:, 0]] - rest[e[:, 1]], axis=1)

    g_bone, g_ref = grow(posed).max() * 100, grow(ref).max() * 100
    print(f"largest edge lengthening: bone {g_bone:.2f} cm, jawOpen shape {g_ref:.2f} cm")
    assert g_bone < 1.5 * g_ref + 0.1


def test_hair_follows_the_head_bone(rigged):
    head, arm = rigged
    hair = bpy.data.objects[head["headforge_hair"]]
    assert hair.parent == arm and hair.parent_type == "BONE" and hair.parent_bone == "head"
    bone = arm.pose.bones["head"]
    bpy.context.view_layer.update()
    rest_hair, rest_bone = np.array(hair.matrix_world), np.array(arm.matrix_world @ bone.matrix)
    np.testing.assert_allclose(rest_hair, np.eye(4), atol=1e-5)  # at rest where build_head put it
    bone.rotation_mode = "XYZ"
    bone.rotation_euler = (0.3, 0.2, 0.0)
    bpy.context.view_layer.update()
    posed_hair, posed_bone = np.array(hair.matrix_world), np.array(arm.matrix_world @ bone.matrix)
    bone.rotation_euler = (0.0, 0.0, 0.0)
    bpy.context.view_layer.update()
    assert np.abs(posed_hair - rest_hair).max() > 0.1
    np.testing.assert_allclose(posed_hair, posed_bone @ np.linalg.inv(rest_bone) @ rest_hair, atol=1e-5)
    # Restyle Hair on the rigged head: hair grown anew (after bald) follows the bone too, from where it was
    bpy.context.view_layer.objects.active = head
    assert bpy.ops.headforge.restyle_hair(hair_style="bald") == {"FINISHED"} and "headforge_hair" not in head
    assert bpy.ops.headforge.restyle_hair(hair_style="photo") == {"FINISHED"}
    hair = bpy.data.objects[head["headforge_hair"]]
    assert hair.parent == arm and hair.parent_type == "BONE" and hair.parent_bone == "head"
    bpy.context.view_layer.update()
    np.testing.assert_allclose(np.array(hair.matrix_world), np.eye(4), atol=1e-5)


def test_rotation_limits(rigged):
    """Bones stop where a face does: the jaw does not close past rest (at -20 degrees the lower lip would go into
    the nose), the eyes stop at their documented angles, in the documented directions."""
    head, arm = rigged
    rest = _eval_co(head)
    lip = LOWER_LIP
    a, b = REGIONS["iris_L"]
    front = a + int(np.argmin(rest[a:b + 1, 1]))  # the iris's front (Blender -Y is the face's front)

    def moved(bone, rot):
        pb = arm.pose.bones[bone]
        pb.rotation_euler = rot
        co = _eval_co(head)
        pb.rotation_euler = (0, 0, 0)
        return co - rest

    assert np.linalg.norm(moved("jaw", (np.radians(-20), 0, 0))[lip]) < 0.003
    assert np.linalg.norm(moved("jaw", (np.radians(20), 0, 0))[lip]) > 0.015
    limits = core_rig.BONE_LIMITS_DEG["eye.L"]
    up = moved("eye.L", (np.radians(limits[0][1]), 0, 0))[front]
    beyond = moved("eye.L", (np.radians(limits[0][1] + 20), 0, 0))[front]
    left = moved("eye.L", (0, 0, np.radians(limits[2][1])))[front]
    print(f"eye up at its limit {up * 100} cm, 20 degrees beyond {beyond * 100} cm; left {left * 100} cm")
    assert up[2] > 0.004 and np.allclose(up, beyond, atol=1e-5)  # +X looks up, and stops at the limit
    assert left[0] > 0.004  # +Z looks to the person's left (Blender +X)


def test_shape_key_in_blender_opens_mouth(rigged):
    head, _ = rigged
    keys = head.data.shape_keys.key_blocks
    saved = {k.name: k.value for k in keys}
    for k in keys[1:]:
        k.value = 0.0
    rest = _eval_co(head)
    keys["jawOpen"].value = 1.0
    opened = _eval_co(head)
    for k in keys[1:]:
        k.value = saved[k.name]
    drop_cm = (rest[LOWER_LIP, 2] - opened[LOWER_LIP, 2]) * 100
    assert 1.5 < drop_cm < 6.0


def test_blink_closes_in_blender(rigged, model):
    """With this person's eyeBlink keys at 1 the lids meet: gap <= 0.3 mm along the whole lid (ICT's own shapes
    leave about 1 mm or more, a white sliver of eyeball)."""
    from headforge.core.eyelids import lid_gaps

    head, _ = rigged
    keys = head.data.shape_keys.key_blocks
    saved = {k.name: k.value for k in keys}
    for k in keys[1:]:
        k.value = 0.0
    keys["eyeBlink_L"].value = keys["eyeBlink_R"].value = 1.0
    closed_cm = _eval_co(head).astype(np.float64) @ np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]]).T * 100
    for k in keys:
        k.value = saved[k.name]
    for side in "LR":
        gap_mm = lid_gaps(model, closed_cm, side).max() * 10
        print(f"eye {side} closed: largest lid gap {gap_mm:.3f} mm")
        assert gap_mm <= 0.3


def test_lods(rigged, model):
    import cv2

    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    from headforge.addon import schema
    from headforge.addon.conversion import key_vertices, loop_triangles, mesh_vertices
    from headforge.addon.export import lod_objects
    from headforge.core.correspondence import closest_points_on_triangles
    from headforge.core.texture import uv_raster

    head, _ = rigged
    objs = lod_objects(head, (0, 1, 2))
    basis = key_vertices(head.data.shape_keys.key_blocks[0]).astype(np.float64)
    teeth_slot = list(head[schema.PARTS]).index("M_Teeth")
    n = [len(o.data.vertices) for o in objs]
    print(f"LOD vertex counts {n}")
    assert n[0] == N_VERTICES and abs(n[1] - 10000) <= 1000 and abs(n[2] - 3000) <= 300
    for o in objs[1:]:
        assert len(o.data.shape_keys.key_blocks) == 54
        assert {"UVMap"} <= set(o.data.uv_layers.keys())
        assert o.material_slots[0].material == head.material_slots[0].material
        assert any(m.type == "ARMATURE" for m in o.modifiers)
        # the baked texture still fits: the skin's UVs land on the texture's skin islands
        uv = np.empty(len(o.data.loops) * 2, np.float32)
        o.data.uv_layers["UVMap"].data.foreach_get("uv", uv)
        uv = uv.reshape(-1, 2)
        mat = np.empty(len(o.data.polygons), np.int32)
        o.data.polygons.foreach_get("material_index", mat)
        start = np.empty(len(o.data.polygons), np.int32)
        o.data.polygons.foreach_get("loop_start", start)
        size = np.empty(len(o.data.polygons), np.int32)
        o.data.polygons.foreach_get("loop_total", size)
        skin_loops = np.repeat(mat < 2, size)  # slots 0, 1: face and back of head
        islands = cv2.dilate(uv_raster(model, 512)[0].astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        px = np.clip((uv[skin_loops] * [512, -512] + [0, 512]).astype(int), 0, 511)
        on = islands[px[:, 1], px[:, 0]].mean()
        print(f"{o.name}: {on:.2%} of skin UVs on the texture's islands")
        assert on > 0.98
        # the budget goes to the skin (the collapse left alone gave it 36-39 %, and LOD2's skin strayed 3.6 mm
        # from the head's), and no tooth is collapsed away. The collapse is greedy: a vertex or two beside an ear
        # may stray further (one went from 2.1 to 3.7 mm when the fitted head moved by under 1.5 mm, 2026-12-05),
        # so the bound holds for all but a thousandth of the skin, and a looser one for every vertex
        tri = loop_triangles(o.data)
        tri_mat = mat[[t.polygon_index for t in o.data.loop_triangles]]
        skin_vertices = np.unique(tri[tri_mat < 2])
        _, _, dist = closest_points_on_triangles(basis[:SKIN_END], mesh_vertices(o.data).astype(np.float64),
                                                 tri[tri_mat < 2], k=8)
        teeth = tri[tri_mat == teeth_slot]
        n_teeth = connected_components(sp.coo_matrix((np.ones(teeth.size), (teeth.ravel(), np.roll(teeth, 1, 1).ravel())),
                                                     shape=(len(o.data.vertices),) * 2), directed=False)[1]
        print(f"{o.name}: skin {len(skin_vertices) / len(o.data.vertices):.0%} of the vertices, at most "
              f"{dist.max() * 1000:.2f} mm from the full head's skin (99.9th percentile "
              f"{np.percentile(dist, 99.9) * 1000:.2f} mm); {len(np.unique(n_teeth[teeth]))} teeth")
        assert len(skin_vertices) > 0.55 * len(o.data.vertices)
        assert np.percentile(dist, 99.9) < 0.0025 and dist.max() < 0.005
        assert len(np.unique(n_teeth[teeth])) == 32


def test_photo_and_neutral_poses(rigged, avatars):
    """The photo's expression is a named pose: the Set Pose operator puts the head and its LODs at neutral (all
    keys 0) and back at the photo's values, which reproduce the fitted head."""
    from headforge.addon.export import lod_objects

    head, arm = rigged
    lods = lod_objects(head, (1,))
    photo = {k.name: k.value for k in head.data.shape_keys.key_blocks[1:]}
    assert dict(head["headforge_photo_pose"]) == pytest.approx(photo)
    bpy.context.view_layer.objects.active = arm  # from the armature too
    assert bpy.ops.headforge.set_pose(pose="NEUTRAL") == {"FINISHED"}
    for obj in [head] + lods:
        assert all(k.value == 0.0 for k in obj.data.shape_keys.key_blocks[1:]), obj.name
    assert bpy.ops.headforge.set_pose(pose="PHOTO") == {"FINISHED"}
    assert {k.name: k.value for k in head.data.shape_keys.key_blocks[1:]} == pytest.approx(photo)
    assert {k.name: k.value for k in lods[0].data.shape_keys.key_blocks[1:]} == pytest.approx(photo)
    fitted_m = avatars["astronaut"].vertices.astype(np.float64) @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]]).T * 0.01
    np.testing.assert_allclose(_eval_co(head), fitted_m, atol=2e-5)
    empty = bpy.data.objects.new("Empty", None)
    bpy.context.scene.collection.objects.link(empty)
    bpy.context.view_layer.objects.active = empty
    with pytest.raises(RuntimeError, match="not a Headforge head"):
        bpy.ops.headforge.set_pose(pose="NEUTRAL")


def _validate_gltf(path) -> dict:
    """The Khronos glTF validator's report on ``path`` (the Makefile installs it into the environment)."""
    modules = Path(sys.prefix) / "node" / "node_modules"
    r = subprocess.run(["node", str(Path(__file__).with_name("gltf_validate.js")), str(path)], capture_output=True,
                       text=True, timeout=300, env={**os.environ, "NODE_PATH": str(modules)})
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def _fbx_root(path):
    """The element tree of a binary FBX file, read with Blender's own FBX parser."""
    sys.path.insert(0, str(Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core"))
    from io_scene_fbx import parse_fbx

    return parse_fbx.parse(str(path))[0]


def _children(elem, name: bytes) -> list:
    return [c for c in elem.elems if c.id == name]


def test_game_exports(rigged, avatars, tmp_path):
    """What engines get: validator-clean glTF, four materials, a painted eye in the photo's iris colour, lashes
    cut out, rest pose neutral with the photo's pose named, skinned meshes at the root, FBX without axis noise;
    and the Blender head is left exactly as it was."""
    import cv2
    import pygltflib

    from headforge.addon.export import export_head, lod_objects
    from headforge.core.eyes import IRIS_UV_RADIUS, PUPIL_UV_RADIUS
    from headforge.core.game import GAME_MATERIALS

    head, arm = rigged
    lod_objects(head, (0, 1, 2))
    keys = head.data.shape_keys.key_blocks
    photo_pose = {k.name: k.value for k in keys[1:]}
    assert max(photo_pose.values()) > 0.05  # the photo's expression is on the Blender head
    blocks = lambda: {c: set(getattr(bpy.data, c).keys()) for c in ("objects", "meshes", "materials", "images")}
    before = blocks()
    glb = export_head(head, tmp_path / "anna.glb", "glb", (0, 1, 2))
    fbx = export_head(head, tmp_path / "anna.fbx", "fbx", (0, 2))
    assert blocks() == before
    assert head.name == "Anna" and head.parent == arm and len(head.material_slots) == 13
    assert {k.name: k.value for k in keys[1:]} == photo_pose

    report = _validate_gltf(glb)
    print("glTF validator:", {k: report[k] for k in ("errors", "warnings", "infos", "hints")})
    assert report["errors"] == 0 and report["warnings"] == 0, report["messages"][:5]
    g = pygltflib.GLTF2().load(str(glb))
    blob = g.binary_blob()
    mats = {m.name: m for m in g.materials}
    assert set(mats) == {f"Anna_{n}" for n in GAME_MATERIALS}
    assert mats["Anna_lashes"].alphaMode == "MASK" and mats["Anna_lashes"].doubleSided
    assert not mats["Anna_skin"].doubleSided and not mats["Anna_eyes"].doubleSided
    assert mats["Anna_skin"].normalTexture is None  # made without fine detail (the CLI test has it)
    mesh_nodes = [n for n in g.nodes if n.mesh is not None]
    assert len(mesh_nodes) == 3
    for i, node in enumerate(g.nodes):
        if node.mesh is None:
            continue
        assert i in g.scenes[0].nodes and node.skin is not None  # a skinned mesh is a root node
        assert node.extras["headforge_photo_pose"] == pytest.approx(photo_pose, abs=1e-4)
        mesh = g.meshes[node.mesh]
        assert not any(mesh.weights or [])  # rest pose neutral
        assert len(mesh.primitives) == 4
        for p in mesh.primitives:
            assert p.attributes.TEXCOORD_1 is None and p.attributes.TANGENT is not None

    # the eye texture: iris in the measured colour between pupil and rim, a light sclera outside
    tex = g.textures[mats["Anna_eyes"].pbrMetallicRoughness.baseColorTexture.index]
    view = g.bufferViews[g.images[tex.source].bufferView]
    eye = cv2.imdecode(np.frombuffer(blob[view.byteOffset:view.byteOffset + view.byteLength], np.uint8),
                       cv2.IMREAD_COLOR)[:, :, ::-1]
    s = eye.shape[0]
    yy, xx = np.mgrid[0:s, 0:s]
    r = np.hypot((xx + 0.5) / s - 0.5, (yy + 0.5) / s - 0.5)
    ring = np.median(eye[(r > PUPIL_UV_RADIUS + 0.02) & (r < IRIS_UV_RADIUS - 0.02)], axis=0)
    iris = np.array(avatars["astronaut"].iris.srgb, float)
    print(f"iris measured {iris}, painted ring {ring}")
    assert avatars["astronaut"].iris.measured and np.all(np.abs(ring - iris) <= 0.3 * iris + 12)
    assert eye[r < PUPIL_UV_RADIUS - 0.01].max() < 40 and eye[(r > 0.2) & (r < 0.3)].mean() > 170

    # the hair cap and cards: the lashes' material holds, in every LOD, the scalp again 5 mm out and hair cards
    # over it (fewer at each LOD), as far over the head as the hair's volume (glTF +Y up, metres), textured from
    # the atlas's middle and right panels in the hair's colour, cut out by alpha
    lash_counts, volume = [], avatars["astronaut"].hair.volume_cm / 100
    for node in mesh_nodes:
        prims = {g.materials[p.material].name: p for p in g.meshes[node.mesh].primitives}
        top = {n: g.accessors[prims[f"Anna_{n}"].attributes.POSITION].max[1] for n in ("skin", "lashes")}
        assert 0.005 < top["lashes"] - top["skin"] < volume + 0.01, (top, volume)
        lash_counts.append(g.accessors[prims["Anna_lashes"].attributes.POSITION].count)
    assert lash_counts[0] > lash_counts[1] > lash_counts[2], lash_counts
    tex = g.textures[mats["Anna_lashes"].pbrMetallicRoughness.baseColorTexture.index]
    view = g.bufferViews[g.images[tex.source].bufferView]
    atlas = cv2.imdecode(np.frombuffer(blob[view.byteOffset:view.byteOffset + view.byteLength], np.uint8),
                         cv2.IMREAD_UNCHANGED)
    size = atlas.shape[0]
    assert atlas.shape[1] == 3 * size and atlas.shape[2] == 4
    hair = np.array(avatars["astronaut"].hair.srgb, float)
    for panel, coverage in ((atlas[:, size:2 * size], (0.03, 0.6)), (atlas[:, 2 * size:], (0.3, 0.8))):
        opaque = panel[..., 3] > 127
        assert coverage[0] < opaque.mean() < coverage[1]
        assert np.abs(np.median(panel[opaque][:, 2::-1].astype(float), 0) - hair).max() < 12

    # FBX: no rotation or scale on the mesh and armature nodes, textures named after the file, the lashes'
    # alpha carried, four materials
    root = _fbx_root(fbx)
    objects = _children(root, b"Objects")[0]
    for model in _children(objects, b"Model"):
        if model.props[2] in (b"Mesh", b"Null"):
            props = {p.props[0]: p.props[4:] for p in _children(model, b"Properties70")[0].elems}
            assert np.allclose(props.get(b"Lcl Rotation", [0, 0, 0]), 0, atol=1e-3), model.props[1]
            assert np.allclose(props.get(b"Lcl Scaling", [1, 1, 1]), 1, atol=1e-6), model.props[1]
    relative = [c.props[0] for v in _children(objects, b"Video") for c in _children(v, b"RelativeFilename")]
    assert relative and all(name.startswith(b"anna.fbm/") for name in relative), relative
    assert len(_children(objects, b"Material")) == 4
    links = _children(_children(root, b"Connections")[0], b"C")
    assert any(len(c.props) > 3 and c.props[3] == b"TransparencyFactor" for c in links)


def _lash_positions(path) -> np.ndarray:
    """The LOD0 lashes' primitive's POSITION array (V, 3) float32 of an exported glb (glTF +Y up, metres)."""
    import pygltflib

    g = pygltflib.GLTF2().load(str(path))
    blob = g.binary_blob()
    mesh = next(m for m in g.meshes if m.name == "Anna")
    prim = next(p for p in mesh.primitives if g.materials[p.material].name == "Anna_lashes")
    acc = g.accessors[prim.attributes.POSITION]
    view = g.bufferViews[acc.bufferView]
    start = view.byteOffset + (acc.byteOffset or 0)
    return np.frombuffer(blob[start:start + acc.count * 12], np.float32).reshape(-1, 3)


def test_exported_hair_cards_follow_the_hair_object_at_rest(rigged, tmp_path):
    """The hair cards come from the head's hair object as it is at rest: a turned head bone (the photo pose may
    turn it) moves no card, while hair moved in Blender (combed up by 1 cm here) is exported where it now is."""
    from mathutils import Matrix

    from headforge.addon import schema
    from headforge.addon.export import export_head

    head, arm = rigged
    hair = bpy.data.objects[head[schema.HAIR]]
    assert hair.parent == arm and hair.parent_bone == "head"
    rest = _lash_positions(export_head(head, tmp_path / "rest.glb", "glb"))
    bone = arm.pose.bones["head"]
    bone.rotation_mode = "XYZ"
    bone.rotation_euler = (0.35, 0.0, 0.2)
    bpy.context.view_layer.update()
    try:
        turned = _lash_positions(export_head(head, tmp_path / "turned.glb", "glb"))
    finally:
        bone.rotation_euler = (0.0, 0.0, 0.0)
        bpy.context.view_layer.update()
    assert np.abs(turned - rest).max() < 1e-5
    world = hair.matrix_world.copy()
    hair.matrix_world = Matrix.Translation((0.0, 0.0, 0.01)) @ world   # 1 cm up
    bpy.context.view_layer.update()
    try:
        combed = _lash_positions(export_head(head, tmp_path / "combed.glb", "glb"))
    finally:
        hair.matrix_world = world
        bpy.context.view_layer.update()
    moved = combed[:, 1] - rest[:, 1]
    cards = np.abs(moved) > 1e-5
    assert 0.5 < cards.mean() < 1.0 and np.allclose(moved[cards], 0.01, atol=0.002), np.percentile(moved, [5, 50, 95])


def test_export_round_trip_and_bad_input(rigged, tmp_path):
    import pygltflib

    from headforge.addon.export import export_head

    head, arm = rigged
    glb = export_head(head, tmp_path / "anna.glb", "glb", (0, 1, 2))
    fbx = export_head(head, tmp_path / "anna.fbx", "fbx", (0, 1))
    # existing files are kept unless asked
    with pytest.raises(HeadforgeError, match="already exists"):
        export_head(head, glb, "glb")
    export_head(head, glb, "glb", (0, 1, 2), overwrite=True)
    with pytest.raises(HeadforgeError, match="Cannot write"):
        export_head(head, tmp_path / "no" / "such" / "dir" / "x.glb", "glb")
    with pytest.raises(HeadforgeError, match="Nothing is selected"):
        export_head(None, tmp_path / "x.glb", "glb")
    cube = bpy.data.objects.new("Cube", bpy.data.meshes.new("Cube"))
    with pytest.raises(HeadforgeError, match="not a Headforge head"):
        export_head(cube, tmp_path / "x.glb", "glb")
    bpy.ops.object.select_all(action="DESELECT") if bpy.context.view_layer.objects.active else None
    bpy.context.view_layer.objects.active = None
    with pytest.raises(RuntimeError, match="Nothing is selected"):
        bpy.ops.headforge.export_head(filepath=str(tmp_path / "y.glb"), format="glb")

    # independent of Blender: the glTF file itself
    g = pygltflib.GLTF2().load(str(glb))
    names = {m.name: m for m in g.meshes}
    assert {"Anna", "Anna_LOD1", "Anna_LOD2"} <= set(names)
    for m in names.values():
        assert len(m.extras["targetNames"]) == 53 and m.extras["targetNames"][0] == "browDown_L"
        for p in m.primitives:
            assert len(p.targets) == 53
            n = g.accessors[p.attributes.POSITION].count
            assert all(g.accessors[t["POSITION"]].count == n for t in p.targets)
    assert len(g.skins) == 1 and sorted(g.nodes[j].name for j in g.skins[0].joints) == sorted(core_rig.BONES)
    assert len(g.images) >= 1

    # round trip through Blender's importers into empty scenes
    tex = next(n.image for n in head.material_slots[0].material.node_tree.nodes if n.type == "TEX_IMAGE")
    expect_img = tuple(tex.size)
    for path, importer in ((glb, bpy.ops.import_scene.gltf), (fbx, bpy.ops.import_scene.fbx)):
        bpy.ops.wm.read_homefile(use_empty=True)
        importer(filepath=str(path))
        # (the glTF importer adds an "Icosphere" for bone display)
        meshes = [o for o in bpy.data.objects if o.type == "MESH" and o.name.startswith("Anna")]
        arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
        full = max(meshes, key=lambda o: len(o.data.vertices))
        assert len(arms) == 1 and {b.name for b in arms[0].data.bones} == set(core_rig.BONES), path
        kb = full.data.shape_keys.key_blocks
        assert len(kb) == 54 and "jawOpen" in kb and "mouthSmile_L" in kb, path
        assert set(core_rig.BONES) - {"root"} <= {g.name for g in full.vertex_groups}, path
        assert "UVMap" in full.data.uv_layers or len(full.data.uv_layers) >= 1
        assert len(full.material_slots) == 4
        imgs = [i for i in bpy.data.images if i.size[0] > 0]
        assert any(tuple(i.size) == expect_img for i in imgs), (path, [tuple(i.size) for i in imgs])
        assert len(meshes) == (3 if path == glb else 2), path


def test_cli_export_pipeline(photo_files, tmp_path):
    out = tmp_path / "studio"
    r = subprocess.run([sys.executable, "-m", "headforge", "create", str(photo_files["grace_hopper"]), "--out", str(out),
                        "--texture-size", "1024", "--export", "glb,fbx", "--lod", "0,2", "--arkit52"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    for f in ("head.glb", "head.fbx", "head.blend", "fit.json"):
        assert (out / f).stat().st_size > 0
    import pygltflib

    g = pygltflib.GLTF2().load(str(out / "head.glb"))
    names = g.meshes[0].extras["targetNames"]
    assert tuple(names) == core_rig.ARKIT_52
    # fine detail goes out as the skin's normal map, and the file stays validator-clean
    assert json.loads((out / "fit.json").read_text())["detail"] is not None
    assert next(m for m in g.materials if m.name.endswith("_skin")).normalTexture is not None
    report = _validate_gltf(out / "head.glb")
    assert report["errors"] == 0 and report["warnings"] == 0, report["messages"][:5]
    # export again from the .blend: a new file, and no silent overwrite
    r = subprocess.run([sys.executable, "-m", "headforge", "export", str(out / "head.blend"), "-f", "fbx",
                        "--out", str(out / "again.fbx"), "--lod", "0"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and (out / "again.fbx").stat().st_size > 0, r.stderr[-2000:]
    r = subprocess.run([sys.executable, "-m", "headforge", "export", str(out / "head.blend"), "-f", "fbx",
                        "--out", str(out / "again.fbx")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and "already exists" in r.stderr
    r = subprocess.run([sys.executable, "-m", "headforge", "export", str(out / "head.blend"), "-f", "glb", "-f", "fbx",
                        "--out", str(out / "again.fbx")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and "is a file" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "headforge", "export", str(out / "fit.json"), "-f", "glb"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert json.loads((out / "fit.json").read_text())["image"]["width"] > 0

    # head.blend opens ready to render: F12 (here 48 px, 4 samples) shows a lit head through the photo camera
    bpy.ops.wm.open_mainfile(filepath=str(out / "head.blend"))
    scene = bpy.context.scene
    assert scene.render.engine == "CYCLES" and scene.world is not None
    assert scene.camera.name == "grace_hopper camera" and sum(o.type == "LIGHT" for o in scene.objects) == 2
    scene.render.resolution_x = scene.render.resolution_y = 48
    scene.render.resolution_percentage = 100
    scene.cycles.samples = 4
    scene.cycles.use_denoising = False
    scene.render.filepath = str(tmp_path / "f12.png")
    bpy.ops.render.render(write_still=True)
    import cv2

    img = cv2.imread(str(tmp_path / "f12.png"))
    centre = img[12:36, 12:36].astype(float).mean()
    print(f"F12 of head.blend: centre {centre:.0f}, corners {img[:6, :6].mean():.0f} (0-255)")
    assert centre > 60 and img.std() > 10
    bpy.ops.wm.read_homefile(use_empty=True)
