"""Integration with the real bpy module: operator, scene data, camera alignment, a tiny Cycles render,
extension validate/build."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import bpy
from mathutils import Vector
import numpy as np
import pytest

from headforge.core.facemodel import FACE_END, N_VERTICES, SKIN_END
from headforge.core.hairstyle import PHOTO_STRANDS
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def addon():
    import headforge

    bpy.ops.wm.read_homefile(use_empty=True)
    headforge.register()
    yield headforge
    headforge.unregister()


@pytest.fixture(scope="module")
def created(addon, photo_files):
    # a user object with the photo's name must survive
    me = bpy.data.meshes.new("astronaut")
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("astronaut", me))
    r = bpy.ops.headforge.create_head(filepath=str(photo_files["astronaut"]), texture_size="1024")
    assert r == {"FINISHED"}
    head = bpy.context.view_layer.objects.active
    return head


def _co(obj):
    co = np.empty(len(obj.data.vertices) * 3, np.float32)
    obj.data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def test_head_object(created):
    head = created
    assert head.name == "astronaut.001" and len(bpy.data.objects["astronaut"].data.vertices) == 0
    assert len(head.data.vertices) == N_VERTICES and len(head.data.polygons) == 26384
    co = _co(head)
    size = co[:SKIN_END].max(0) - co[:SKIN_END].min(0)
    assert 0.15 < size[0] < 0.32 and 0.18 < size[2] < 0.40  # metres (ears included), Z up
    assert {"UVMap", "UDIM"} <= set(head.data.uv_layers.keys())
    skin = head.material_slots[0].material
    img = next(n.image for n in skin.node_tree.nodes if n.type == "TEX_IMAGE")
    assert tuple(img.size) == (1024, 1024) and img.packed_file is not None
    bsdf = next(n for n in skin.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    assert bsdf.inputs["Subsurface Weight"].default_value > 0
    assert len(head["headforge_identity"]) == 100


def _lights(scene) -> list:
    return [o for o in scene.objects if o.type == "LIGHT"]


def test_unlit_scene_gets_a_stage(created):
    """Create Head in a scene nobody has lit: Cycles, a packed studio world, a key and a rim light aimed at the
    head, the photo camera active (so F12 renders a portrait)."""
    scene = bpy.context.scene
    assert scene.render.engine == "CYCLES" and scene.camera.name == created["headforge_camera"]
    env = next(n for n in scene.world.node_tree.nodes if n.type == "TEX_ENVIRONMENT")
    assert env.image.packed_file is not None
    lights = _lights(scene)
    assert len(lights) == 2
    centre = np.mean([created.matrix_world @ Vector(c) for c in created.bound_box], axis=0)
    for light in lights:
        aim = -np.array(light.matrix_world.to_3x3().col[2])  # an area light shines along its -Z
        to_head = centre - np.array(light.matrix_world.translation)
        assert np.dot(aim, to_head / np.linalg.norm(to_head)) > 0.99, light.name


def test_landmark_overlay_points_sit_on_the_photo(created, avatars):
    """The overlay's points (stored on the photo camera) land where the camera sees those photo pixels, and the
    fitted ones where the camera sees the head's own landmark vertices."""
    from bpy_extras.object_utils import world_to_camera_view

    from headforge.addon.overlay import _camera_landmarks
    from headforge.core.facemodel import LANDMARKS_68

    scene = bpy.context.scene
    scene.camera = bpy.data.objects[created["headforge_camera"]]
    detected, fitted = _camera_landmarks(scene)
    w, h = scene.render.resolution_x, scene.render.resolution_y

    def to_px(points):
        ndc = np.array([world_to_camera_view(scene, scene.camera, Vector(p))[:2] for p in points])
        return np.c_[ndc[:, 0] * w, (1 - ndc[:, 1]) * h]

    np.testing.assert_allclose(to_px(detected), avatars["astronaut"].detected68, atol=0.05)
    inner = LANDMARKS_68[17:]  # the jawline's fitted points are silhouette points, not these vertices
    head_px = to_px([created.matrix_world @ created.data.vertices[int(v)].co for v in inner])
    err = np.linalg.norm(to_px(fitted[17:]) - head_px, axis=1)
    print(f"fitted overlay vs head's landmark vertices: max {err.max():.3f} px")
    assert err.max() < 0.5


def test_camera_lines_up_with_photo(created, avatars):
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    head = created
    cam = bpy.data.objects[head["headforge_camera"]]
    assert cam.data.background_images[0].image.size[0] == 512
    scene = bpy.context.scene
    assert (scene.render.resolution_x, scene.render.resolution_y) == (512, 512)
    co = _co(head)
    ids = np.array([0, 1147, 1225, 3443, 4088, 6200])
    a = avatars["astronaut"]
    want = a.camera.project(a.vertices[ids])
    got = []
    for i in ids:
        p = world_to_camera_view(scene, cam, head.matrix_world @ Vector(co[i].tolist()))
        got.append((p.x * 512, (1 - p.y) * 512))
    np.testing.assert_allclose(np.array(got), want, atol=0.5)


def test_both_irises_render_in_the_photos_iris_colour(created, avatars, tmp_path):
    """Through the photo camera on the stage, each iris renders in the hue of the iris colour measured in the
    photo: a glossy iris mirrored the key light over the whole iris of the eye facing it, which then looked
    grey-blue. Chromaticity (r, g, b over their sum) of the median inside 0.7 of MediaPipe's iris radius, L1
    from the measured colour's (2026-12-05, 8 samples, the astronaut / Grace Hopper): with the iris's own
    reflection at roughness 0.15 the lit eye 0.32 / 0.49 away, at 0.6 0.28 / 0.42; without it 0.10 / 0.11."""
    import cv2

    scene = bpy.context.scene
    settings = (scene.camera, scene.cycles.samples, scene.render.resolution_percentage, scene.render.filepath)
    scene.camera = bpy.data.objects[created["headforge_camera"]]
    scene.cycles.samples, scene.render.resolution_percentage = 8, 100
    scene.render.filepath = str(tmp_path / "eyes.png")
    try:
        bpy.ops.render.render(write_still=True)
    finally:
        scene.camera, scene.cycles.samples, scene.render.resolution_percentage, scene.render.filepath = settings
    img = cv2.imread(str(tmp_path / "eyes.png"))[:, :, 2::-1].astype(float)
    a = avatars["astronaut"]
    pts = a.landmarks.points * img.shape[1] / a.image.shape[1]
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    measured = np.asarray(a.iris.srgb, float) / sum(a.iris.srgb)
    away = []
    for centre, edge in ((468, [469, 470, 471, 472]), (473, [474, 475, 476, 477])):
        radius = 0.7 * np.linalg.norm(pts[edge, :2] - pts[centre, :2], axis=1).mean()
        disc = np.hypot(xx - pts[centre, 0], yy - pts[centre, 1]) < radius
        assert disc.sum() >= 10
        rendered = np.median(img[disc], axis=0)
        away.append(float(np.abs(rendered / rendered.sum() - measured).sum()))
    print("irises' chromaticity from the measured colour's:", np.round(away, 3))
    assert max(away) < 0.2


def test_tiny_cycles_render_matches_projection(created, tmp_path, avatars):
    import cv2

    scene = bpy.context.scene
    scene.camera = bpy.data.objects[created["headforge_camera"]]
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 2
    scene.cycles.use_denoising = False
    scene.render.resolution_percentage = 12  # 61 x 61 px
    scene.render.film_transparent = True
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    world = bpy.data.worlds.new("w")
    scene.world = world
    light = bpy.data.objects.new("key", bpy.data.lights.new("key", "SUN"))
    scene.collection.objects.link(light)
    scene.render.filepath = str(tmp_path / "render.png")
    bpy.ops.render.render(write_still=True)
    img = cv2.imread(str(tmp_path / "render.png"), cv2.IMREAD_UNCHANGED)
    alpha = img[:, :, 3] > 127
    # where the head should be: the projected face-region triangles at the same scale
    a = avatars["astronaut"]
    s = img.shape[1] / 512
    uv = a.camera.project(a.vertices) * s
    mask = np.zeros(alpha.shape, np.uint8)
    tris = a.model.triangles[(a.model.triangles < FACE_END).all(1)]
    for t in tris[::3]:
        cv2.fillConvexPoly(mask, np.round(uv[t] * 16).astype(np.int32), 1, shift=4)
    inter = (alpha & (mask > 0)).sum()
    print(f"render covers {inter / mask.sum():.2%} of the projected face")
    assert inter / mask.sum() > 0.9


def test_hair_grows_on_the_head_in_the_photos_colour(created, avatars):
    hair = bpy.data.objects[created["headforge_hair"]]
    assert hair.type == "CURVES" and hair.parent == created and hair["headforge_hair_of"] == created.name
    assert len(hair.data.curves) == PHOTO_STRANDS and set(hair.users_collection) == set(created.users_collection)
    bsdf = next(n for n in hair.active_material.node_tree.nodes if n.type == "BSDF_HAIR_PRINCIPLED")
    assert bsdf.inputs["Melanin"].default_value == pytest.approx(avatars["astronaut"].hair.melanin)
    assert bsdf.inputs["Melanin"].default_value < 0.5  # she is fair-haired
    # the roots sit on the scalp: within a millimetre of the head's surface
    roots = np.array([hair.data.points[c.first_point_index].position for c in hair.data.curves])
    from mathutils.bvhtree import BVHTree

    tree = BVHTree.FromObject(created, bpy.context.evaluated_depsgraph_get())
    gaps = [tree.find_nearest(tuple(r))[3] for r in roots[::50]]
    assert max(gaps) < 0.001  # metres


def test_coarsenet_and_detail_switches(created, photo_files, shipped_weights):
    # the default head uses the shipped networks
    assert created["headforge_initializer"] == "coarsenet+descriptor"
    assert any(m.type == "DISPLACE" for m in created.modifiers)
    lights, world = len(_lights(bpy.context.scene)), bpy.context.scene.world
    r = bpy.ops.headforge.create_head(filepath=str(photo_files["grace_hopper"]), texture_size="1024",
                                      coarsenet=False, detail=False, hair=False)
    assert r == {"FINISHED"}
    plain = bpy.context.view_layer.objects.active
    assert plain["headforge_initializer"] == "mean face"
    assert "headforge_hair" not in plain and not any(o.type == "CURVES" for o in plain.children)
    assert len(_lights(bpy.context.scene)) == lights and bpy.context.scene.world == world  # a lit scene stays
    assert not any(m.type == "DISPLACE" for m in plain.modifiers)


def test_create_head_with_a_chosen_hair_style(addon, photo_files):
    """Hair Style in the panel: the astronaut's short hair tied back in a ponytail, in her hair's colour: the
    strands gather behind her head and the tail hangs below the tie. It needs Skin Only Texture (which reads
    the hair's colour)."""
    from headforge.core.facemodel import LANDMARKS_68
    from headforge.core.hair import TIED_PATH_POINTS, TIED_POINTS

    with pytest.raises(RuntimeError, match="Skin Only Texture"):
        bpy.ops.headforge.create_head(filepath=str(photo_files["astronaut"]), skin_only=False, hair_style="bun")
    r = bpy.ops.headforge.create_head(filepath=str(photo_files["astronaut"]), texture_size="1024", detail=False,
                                      hair_style="ponytail")
    assert r == {"FINISHED"}
    head = bpy.context.view_layer.objects.active
    hair = bpy.data.objects[head["headforge_hair"]]
    mw = np.array(head.matrix_world)
    verts = np.array([mw[:3, :3] @ v.co + mw[:3, 3] for v in head.data.vertices[:SKIN_END]])
    hw = np.array(hair.matrix_world)
    pts = np.array([hw[:3, :3] @ p.position + hw[:3, 3] for p in hair.data.points]).reshape(-1, TIED_POINTS, 3)
    centre = verts.mean(0)
    forward = verts[LANDMARKS_68[30]] - centre
    ties, tips = pts[:, TIED_PATH_POINTS - 1], pts[:, -1]
    assert ((ties - centre) @ forward < 0).all()                    # behind the head
    assert np.median(ties[:, 2] - tips[:, 2]) > 0.03                 # the tail hangs at least 3 cm (Z up, metres)
    bsdf = next(n for n in hair.active_material.node_tree.nodes if n.type == "BSDF_HAIR_PRINCIPLED")
    assert bsdf.inputs["Melanin"].default_value < 0.5                # her fair hair, as read

    # Restyle Hair: back to the photo's short hair, on the same object; bald takes it away (and the exports'
    # hair cap with it); a bun grows a new one
    assert bpy.ops.headforge.restyle_hair(hair_style="photo") == {"FINISHED"}
    assert head["headforge_hair"] == hair.name and hair.parent == head and len(hair.data.curves) == PHOTO_STRANDS
    params = json.loads(head["headforge_hair_params"])
    assert (params["style"], params["tied"], params["chosen"]) == ("short", None, False)
    name = hair.name
    assert bpy.ops.headforge.restyle_hair(hair_style="bald") == {"FINISHED"}
    assert "headforge_hair" not in head and "headforge_hair_srgb" not in head and name not in bpy.data.objects
    assert bpy.ops.headforge.restyle_hair(hair_style="bun") == {"FINISHED"}
    bun = bpy.data.objects[head["headforge_hair"]]
    assert bun.parent == head and json.loads(head["headforge_hair_params"])["tied"] == "bun"
    assert list(head["headforge_hair_srgb"]) == params["srgb"]
    # a length, volume and curl of one's own: long hair 25 cm long, 3 cm out, curled, hangs lower than the
    # photo's short hair; a length out of the style's range is refused, and the hair stays as it was
    def lowest():
        hair = bpy.data.objects[head["headforge_hair"]]
        return min((hair.matrix_world @ p.position).z for p in hair.data.points)
    assert bpy.ops.headforge.restyle_hair(hair_style="photo") == {"FINISHED"}
    short = lowest()
    assert bpy.ops.headforge.restyle_hair(hair_style="long", length_cm=25.0, volume_cm=3.0, curl_cm=0.8) == {"FINISHED"}
    params = json.loads(head["headforge_hair_params"])
    assert (params["style"], params["length_cm"], params["volume_cm"], params["curl_cm"]) == ("long", 25.0, 3.0, 0.8)
    assert params["chosen"] and params["read"]["style"] == "short" and lowest() < short - 0.1
    with pytest.raises(RuntimeError, match="out of range for short hair: give 2-6 cm"):
        bpy.ops.headforge.restyle_hair(hair_style="short", length_cm=20.0)
    assert json.loads(head["headforge_hair_params"])["length_cm"] == 25.0
    bpy.context.view_layer.objects.active = bpy.data.objects[head["headforge_camera"]]   # not a head: said so
    with pytest.raises(RuntimeError, match="not a Headforge head"):
        bpy.ops.headforge.restyle_hair(hair_style="long")


def test_create_head_from_several_photos(addon, shared_photos, tmp_path):
    """The panel's list of more photos: Create Head fits one head to all of them, with a camera per photo
    showing it; an empty entry or another person's photo is reported and changes nothing. Add Photo to Head
    refits a head with one more photo in its place."""
    import json

    import cv2

    from headforge.core.image import load_image

    s = bpy.context.scene.headforge
    bpy.ops.headforge.add_photo()
    assert len(s.more_photos) == 1
    bpy.ops.headforge.remove_photo(index=0)
    assert len(s.more_photos) == 0
    trump = str(shared_photos / "prnet_trump.jpg")
    n = len(bpy.data.objects)
    def photos(*paths):
        return [{"name": "", "path": str(p), "face_index": 0} for p in paths]

    with pytest.raises(RuntimeError, match="Photo 2 is empty"):
        bpy.ops.headforge.create_head(filepath=trump, more_photos=photos(""))
    with pytest.raises(RuntimeError, match="another person"):
        bpy.ops.headforge.create_head(filepath=trump, more_photos=photos(shared_photos / "prnet_0.jpg"),
                                      texture_size="1024", detail=False)
    assert len(bpy.data.objects) == n
    mirrored = tmp_path / "mirrored.png"
    cv2.imwrite(str(mirrored), load_image(trump)[::2, ::-2, ::-1])   # mirrored, half size
    r = bpy.ops.headforge.create_head(filepath=trump, more_photos=photos(mirrored), texture_size="1024",
                                      detail=False)
    assert r == {"FINISHED"}
    head = bpy.context.view_layer.objects.active
    cams = sorted((o for o in head.users_collection[0].objects if o.type == "CAMERA"), key=lambda o: o.name)
    assert len(cams) == 2
    sizes = [tuple(c.data.background_images[0].image.size) for c in cams]
    full = load_image(trump).shape
    assert sizes == [(full[1], full[0]), ((full[1] + 1) // 2, (full[0] + 1) // 2)]
    # Add Photo to Head: the head refitted to its two photos and a third, in its place: its name, where the user
    # moved it, what they parented to it, its LOD; the old head's objects and data are gone
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Matrix, Vector

    from headforge.addon.export import lod_objects
    from headforge.core.facemodel import LANDMARKS_68

    third = tmp_path / "third.png"
    cv2.imwrite(str(third), load_image(trump)[:, ::-1, ::-1])
    name, co = head.name, _co(head).copy()
    lod_objects(head, (1,))
    moved = Matrix.Translation((0.5, -0.2, 0.1)) @ Matrix.Rotation(0.3, 4, "Z")
    head.matrix_world = moved
    hat = bpy.data.objects.new("Hat", None)
    bpy.context.scene.collection.objects.link(hat)
    hat.parent = head
    bpy.context.view_layer.update()
    hat_at = hat.matrix_world.copy()
    with pytest.raises(RuntimeError, match="Pick the photo"):
        bpy.ops.headforge.add_photo_to_head(photo="")
    assert bpy.ops.headforge.add_photo_to_head(photo=str(third), texture_size="1024", detail=False) == {"FINISHED"}
    refit = bpy.context.view_layer.objects.active
    assert refit.name == name and not np.array_equal(_co(refit), co)
    assert [p for p, _ in json.loads(refit["headforge_photos"])] == [trump, str(mirrored), str(third)]
    cams = [o for o in refit.users_collection[0].objects if o.type == "CAMERA"]
    assert sorted(c.name for c in cams) == [f"{name} camera", f"{name} camera 2", f"{name} camera 3"]
    assert np.allclose(refit.matrix_world, moved, atol=1e-6)
    assert hat.parent == refit and np.allclose(hat.matrix_world, hat_at, atol=1e-6)
    lod = bpy.data.objects[f"{name}_LOD1"]
    assert lod.get("headforge_lod_of") == name and abs(len(lod.data.vertices) - 10000) <= 1000
    leftover = [b.name for coll in (bpy.data.objects, bpy.data.meshes, bpy.data.materials, bpy.data.images,
                                    bpy.data.cameras, bpy.data.collections, bpy.data.hair_curves) for b in coll
                if b.name.startswith(name) and (b.name.endswith(" (before refit)") or b.name.endswith(".001"))]
    assert leftover == []
    # the photo camera moved with the head: it still sees the fitted landmarks where the fit put them (the inner
    # 51; the jawline's slide along the outline)
    bpy.context.view_layer.update()
    cam, scene = bpy.data.objects[refit["headforge_camera"]], bpy.context.scene
    want = np.array(cam["headforge_landmarks_fitted"]).reshape(-1, 2)[17:]
    w, h = scene.render.resolution_x, scene.render.resolution_y
    got = [world_to_camera_view(scene, cam, refit.matrix_world @ Vector(_co(refit)[i].tolist()))
           for i in LANDMARKS_68[17:]]
    np.testing.assert_allclose([(p.x * w, (1 - p.y) * h) for p in got], want, atol=1.0)


def test_track_video_animates_a_rigged_head(addon, created, photo_files, face_clips, model, tmp_path):
    """Track Video on a rigged head: one action keys every shape key and the head bone once per frame of the clip,
    the scene takes the clip's frame rate and length, a camera follows the head across the frame with the clip
    behind it; a glb carries the performance; with Jaw by Bone the jaw bone opens the mouth instead of the
    jawOpen key, as far; a second take re-aims the same camera and keeps the first; an unrigged head cannot run
    it."""
    import cv2

    r = bpy.ops.headforge.create_head(filepath=str(photo_files["astronaut"]), texture_size="1024", rig=True,
                                      detail=False, name="Performer")
    assert r == {"FINISHED"}
    head = bpy.context.view_layer.objects.active
    clip = cv2.VideoCapture(str(face_clips["single_face"]))
    count, fps = int(clip.get(cv2.CAP_PROP_FRAME_COUNT)), clip.get(cv2.CAP_PROP_FPS)
    assert bpy.ops.headforge.track_video(filepath=str(face_clips["single_face"])) == {"FINISHED"}
    keys = head.data.shape_keys
    action = keys.animation_data.action
    from bpy_extras import anim_utils

    bag = anim_utils.action_get_channelbag_for_slot(action, keys.animation_data.action_slot)
    assert len(bag.fcurves) == len(keys.key_blocks) - 1
    assert all(len(fc.keyframe_points) == count for fc in bag.fcurves)
    jaw = bag.fcurves.find('key_blocks["jawOpen"].value')
    values = [jaw.evaluate(f) for f in range(1, count + 1)]
    assert all(0 <= v <= 1 for v in values) and max(values) > min(values)   # the mouth moves in the clip
    arm = bpy.data.objects[head["headforge_rig"]]
    rot = anim_utils.action_get_channelbag_for_slot(action, arm.animation_data.action_slot)
    assert len(rot.fcurves) == 12 and all(len(fc.keyframe_points) == count for fc in rot.fcurves)  # head, eyes
    scene = bpy.context.scene
    assert abs(scene.render.fps / scene.render.fps_base - fps) < 1e-3 and scene.frame_end == count
    cam = bpy.data.objects[head["headforge_video_camera"]]   # follows the head across the frame, the clip behind
    path = anim_utils.action_get_channelbag_for_slot(cam.animation_data.action, cam.animation_data.action_slot)
    assert [fc.data_path for fc in path.fcurves] == ["location"] * 3
    assert all(len(fc.keyframe_points) == count for fc in path.fcurves)
    assert cam.data.background_images[0].clip.filepath.endswith("single_face.mp4")
    # the performance in a glb: the morph weights and the head's rotation, sampled over the clip
    import pygltflib

    glb = tmp_path / "take.glb"
    assert bpy.ops.headforge.export_head(filepath=str(glb), format="glb", animation=True) == {"FINISHED"}
    assert bpy.context.view_layer.objects.active == head and head.select_get()   # the selection as it was
    gltf = pygltflib.GLTF2().load(str(glb))
    channels = {(gltf.nodes[c.target.node].name, c.target.path): a.samplers[c.sampler]
                for a in gltf.animations for c in a.channels}
    for key in (("head", "rotation"), (head.name, "weights"), (cam.name, "translation")):
        times = gltf.accessors[channels[key].input]
        assert times.count == count and abs(times.max[0] - times.min[0] - (count - 1) / fps) < 1e-3, key
    # the clip's camera goes with it: its field of view the clip's, its path the one in the scene (glTF is +Y up)
    node = next(n for n in gltf.nodes if n.name == cam.name)
    width, height = scene.render.resolution_x, scene.render.resolution_y
    focal_px = cam.data.lens / cam.data.sensor_width * max(width, height)   # sensor fit AUTO
    assert len(gltf.cameras) == 1
    assert abs(gltf.cameras[node.camera].perspective.yfov - 2 * np.arctan(height / 2 / focal_px)) < 1e-3
    moves = _accessor(gltf, channels[(cam.name, "translation")].output)
    scene.frame_set(count)
    x, y, z = cam.matrix_world.translation
    assert np.allclose(moves[-1], (x, z, -y), atol=1e-4)
    for animation in (False, True):   # FBX takes the camera with the performance (a Model named as it), not without
        fbx = tmp_path / f"take-{animation}.fbx"
        assert bpy.ops.headforge.export_head(filepath=str(fbx), format="fbx", animation=animation) == {"FINISHED"}
        assert (cam.name.encode() + b"\x00\x01Model" in fbx.read_bytes()) == animation
    # Jaw by Bone: the jaw bone opens the mouth as far as the jawOpen key did, and the key stays shut
    from headforge.core import rig as core_rig
    from headforge.core.facemodel import LANDMARKS_68

    widest = 1 + int(np.argmax(values))
    chin = LANDMARKS_68[57]   # the lower lip's lowest point

    def lower_lip():
        scene.frame_set(widest)
        mesh = head.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
        co = np.array(mesh.vertices[chin].co)
        head.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh_clear()
        return co

    by_key = lower_lip()
    first_take = action.name
    assert bpy.ops.headforge.track_video(filepath=str(face_clips["single_face"]), jaw_bone=True) == {"FINISHED"}
    action = keys.animation_data.action
    # the second take re-aims the head's one clip camera; the first take and its camera path stay in the file
    assert action.name != first_take and head["headforge_video_camera"] == cam.name
    assert [o.name for o in bpy.data.objects if o.type == "CAMERA" and o.name.startswith("Performer video")] == [
        cam.name]
    assert cam.animation_data.action.name == f"{action.name} camera"
    assert all(bpy.data.actions[n].use_fake_user for n in (first_take, f"{first_take} camera"))
    bag = anim_utils.action_get_channelbag_for_slot(action, keys.animation_data.action_slot)
    assert all(bag.fcurves.find('key_blocks["jawOpen"].value').evaluate(f) == 0 for f in range(1, count + 1))
    rot = anim_utils.action_get_channelbag_for_slot(action, arm.animation_data.action_slot)
    assert len(rot.fcurves) == 16
    w = rot.fcurves.find('pose.bones["jaw"].rotation_quaternion', index=0).evaluate(widest)
    _, full = core_rig.jaw_pivot(model)
    assert abs(2 * np.arccos(min(1.0, w)) - values[widest - 1] * full) < 1e-3
    by_bone = lower_lip()
    blocks = head.data.shape_keys.key_blocks
    # how far the jawOpen key alone moves the lower lip at that frame (the other keys there move it too)
    jaw_own = values[widest - 1] * np.linalg.norm(np.array(blocks["jawOpen"].data[chin].co) - blocks[0].data[chin].co)
    print(f"lower lip at the widest frame (jawOpen {values[widest - 1]:.2f}): the key opens it {jaw_own * 1000:.1f} "
          f"mm, the bone puts it {np.linalg.norm(by_bone - by_key) * 1000:.1f} mm from where all the keys did")
    assert np.linalg.norm(by_bone - by_key) < 0.25 * jaw_own
    # Add Photo to Head on the tracked head: the refitted head is rigged again and plays the same performance
    mirrored = tmp_path / "mirrored.png"
    cv2.imwrite(str(mirrored), cv2.imread(str(photo_files["astronaut"]))[:, ::-1])
    name, rig_name, video = head.name, arm.name, head["headforge_video_camera"]
    bpy.context.view_layer.objects.active = head
    assert bpy.ops.headforge.add_photo_to_head(photo=str(mirrored), texture_size="1024", detail=False,
                                               rig=False) == {"FINISHED"}
    refit = bpy.context.view_layer.objects.active
    assert refit.name == name and refit["headforge_rig"] == rig_name and refit.parent.name == rig_name
    assert refit.data.shape_keys.animation_data.action == action
    assert bpy.data.objects[rig_name].animation_data.action == action
    assert refit["headforge_video_camera"] == video
    bpy.context.view_layer.objects.active = created   # made without a rig
    assert not bpy.ops.headforge.track_video.poll()


def _accessor(gltf, index: int) -> np.ndarray:
    """The float values of accessor ``index`` of a loaded .glb, one row per element."""
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[acc.type]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    return np.frombuffer(gltf.binary_blob(), np.float32, acc.count * width, start).reshape(acc.count, width)


def test_operator_reports_bad_input(addon, tmp_path):
    with pytest.raises(RuntimeError, match="does not exist"):
        bpy.ops.headforge.create_head(filepath=str(tmp_path / "missing.jpg"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    n = len(bpy.data.objects)
    with pytest.raises(RuntimeError, match="empty"):
        bpy.ops.headforge.create_head(filepath=str(bad))
    assert len(bpy.data.objects) == n


def test_extension_validates_and_builds(tmp_path):
    tool = Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    r = subprocess.run([sys.executable, str(tool), "validate", str(ROOT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([sys.executable, str(tool), "build", "--source-dir", str(ROOT), "--output-dir", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    z = next(tmp_path.glob("headforge-*.zip"))
    names = zipfile.ZipFile(z).namelist()
    assert "blender_manifest.toml" in names and "core/pipeline.py" in names and "operators/create_head.py" in names
    assert not any(n.startswith(("tests/", ".venv/")) for n in names)


INSTALL_SCRIPT = r'''
import sys, bpy, addon_utils
zip_path, photo = sys.argv[-2], sys.argv[-1]
bpy.ops.wm.read_homefile(use_empty=True)
assert bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                                enable_on_install=True) == {"FINISHED"}
mods = [m.__name__ for m in addon_utils.modules() if m.__name__.endswith(".headforge")]
assert mods == ["bl_ext.user_default.headforge"] and addon_utils.check(mods[0])[1], mods
assert bpy.context.preferences.addons[mods[0]].preferences.face_model_path == ""
assert bpy.ops.headforge.create_head(filepath=photo, texture_size="1024") == {"FINISHED"}
head = bpy.context.view_layer.objects.active
print("HEAD", head.name, len(head.data.vertices), bpy.data.images[0].packed_file is not None)
scene = bpy.context.scene
print("STAGE", scene.render.engine, scene.world is not None, sum(o.type == "LIGHT" for o in scene.objects))
'''


def test_installs_and_runs_as_an_extension(tmp_path, photo_files):
    """The zip that `make extension` builds (here without the dependency wheels, which this environment has)
    carries the face model, MediaPipe's mesh and the face descriptor's weights with their licences; it installs into a fresh Blender user
    folder, enables as bl_ext.user_default.headforge (relative imports, preferences) and creates a head with no
    preference, no environment variable and no cache: from its bundled assets alone."""
    import os

    from headforge.core import config

    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--no-wheels", "--out",
                        str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    z = next(tmp_path.glob("headforge-*.zip"))
    names = set(zipfile.ZipFile(z).namelist())
    from headforge.core import descriptor

    assets = {f"assets/{config.FACE_MODEL_FILE.as_posix()}", "assets/ict-facekit/LICENSE", "assets/mediapipe/LICENSE",
              "assets/mediapipe/NOTICE", f"assets/{descriptor.BUNDLED_FILE.as_posix()}", "assets/face-recognition/NOTICE"}
    assert assets <= names and any(f"assets/{p.as_posix()}" in names for p in config.MEDIAPIPE_MESH_FILES)
    script = tmp_path / "install.py"
    script.write_text(INSTALL_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in (config.FACE_MODEL_ENV, config.MEDIAPIPE_MESH_ENV)}
    env.update(BLENDER_USER_RESOURCES=str(tmp_path / "blender-user"), **{config.CACHE_DIR_ENV: str(tmp_path / "cache")})
    r = subprocess.run([sys.executable, str(script), str(z), str(photo_files["astronaut"])], capture_output=True,
                       text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"HEAD astronaut {N_VERTICES} True" in r.stdout
    assert "STAGE CYCLES True 2" in r.stdout  # an empty scene gets the portrait stage
    assert "Unable to pack" not in r.stdout + r.stderr
