"""A tracked performance (``core.track.Track``) on a rigged head: one action of its shape keys and its head bone,
keyed per frame at the clip's rate, with the scene's frame rate and range set to the clip's."""

from __future__ import annotations

import math

import bpy
import numpy as np
from bpy_extras import anim_utils
from mathutils import Euler, Matrix

from ..core import rig as core_rig
from ..core.errors import HeadforgeError
from ..core.facemodel import FaceModel
from ..core.track import HeadShape, Track
from . import schema
from ..core.camera import Camera
from .conversion import (MODEL_TO_BLENDER, camera_matrix_world, from_blender, key_vertices, mesh_vertices,
                         set_camera_intrinsics)
from .rig import check_head

#: model axes -> Blender axes (a rotation; MODEL_TO_BLENDER also scales cm to m)
AXES = MODEL_TO_BLENDER / np.linalg.norm(MODEL_TO_BLENDER[0])


def head_shape(head, model: FaceModel) -> HeadShape:
    """The person of a head Create Head made: its identity, and its corrective field (its neutral shape, the
    rig's basis or the mesh less the photo's expression, minus the model's shape of that identity)."""
    check_head(head)
    identity = np.asarray(head[schema.IDENTITY], np.float64)
    if head.data.shape_keys is not None:
        neutral = from_blender(key_vertices(head.data.shape_keys.key_blocks[0]))
    else:
        expression = np.asarray(head.get(schema.EXPRESSION, [0.0] * model.n_expression), np.float32)
        neutral = core_rig.neutral_vertices(model, from_blender(mesh_vertices(head.data)), expression)
    return HeadShape(identity, neutral - model.vertices(identity), head.name)


def apply_track(head, track: Track, model: FaceModel, scene, name: str = "", clip_path: str = "",
                jaw_bone: bool = False) -> bpy.types.Action:
    """Key ``track`` on the rigged ``head`` (and its LODs): every shape key (ICT's 53 or ARKit's 52, as the rig
    has them), the head bone's rotation, relative to the first frame with a face (the rig's rest pose
    faces the way the head did then) and the eye bones' (the gaze); with ``jaw_bone`` the jaw bone opens the
    mouth (``jawOpen`` times the rotation ICT's ``jawOpen`` gives the lower teeth, about the bone's X) and the
    ``jawOpen`` key stays at 0, for engines that drive a jaw by its bone; and a camera, "<head> video", whose path
    carries the head's movement across the frame, so that through it the head sits on the clip (``clip_path``:
    shown as its background). The scene's frame
    rate and range become the clip's; frame 1 is the clip's start, and a frame's key sits at its own time
    (variable frame rates keep their timing). Returns the action."""
    check_head(head)
    arm = bpy.data.objects.get(head.get(schema.RIG, ""))
    if head.data.shape_keys is None or arm is None:
        raise HeadforgeError(f"{head.name!r} has no rig to animate. Add Rig first (the Add Rig button, or "
                             "`headforge create --rig`).")
    rate = max(1, round(track.fps))
    scene.render.fps, scene.render.fps_base = rate, rate / track.fps
    frames = 1.0 + np.array([f.time_s for f in track.frames]) * track.fps
    scene.frame_start, scene.frame_end = 1, int(math.ceil(frames[-1]))
    action = bpy.data.actions.new(name or f"{head.name} performance")
    action.use_fake_user = True   # a take stays in the file when the next one replaces it on the rig

    arkit = head.get(schema.KEYS) == "arkit52"
    weights = [core_rig.arkit52_weights(model, f.expression) if arkit
               else dict(zip(model.expression_names, map(float, f.expression))) for f in track.frames]
    jaw_open = np.array([w.get("jawOpen", 0.0) for w in weights])
    if jaw_bone:
        for w in weights:
            w["jawOpen"] = 0.0   # the bone opens the jaw; the key would open it twice
    keys = head.data.shape_keys
    _key(keys, action, [(f'key_blocks["{kb.name}"].value', 0, [w.get(kb.name, 0.0) for w in weights])
                        for kb in keys.key_blocks[1:]], frames)
    for lod in (o for o in bpy.data.objects if o.get(schema.LOD_OF) == head.name and o.data.shape_keys):
        lod.data.shape_keys.animation_data_create()
        lod.data.shape_keys.animation_data.action = action
        lod.data.shape_keys.animation_data.action_slot = keys.animation_data.action_slot

    eyes = _eye_rotations(np.array([f.gaze for f in track.frames]))
    rotations = {"head": _head_rotations(track, arm), "eye.L": eyes, "eye.R": eyes}
    if jaw_bone:
        rotations["jaw"] = _jaw_rotations(jaw_open, model)
    channels = []
    for name, quats in rotations.items():
        arm.pose.bones[name].rotation_mode = "QUATERNION"
        channels += [(f'pose.bones["{name}"].rotation_quaternion', i, quats[:, i]) for i in range(4)]
    _key(arm, action, channels, frames)
    _video_camera(head, arm, track, scene, frames, clip_path, action.name)
    return action


def _video_camera(head, arm, track: Track, scene, frames: np.ndarray, clip_path: str, take: str):
    """The clip's camera, animated: the head bone turns the head about its pivot ``p``, so a camera that keeps
    the first frame's orientation ``R0`` and moves to ``t_k + (R_k - R0) p`` (model cm) sees each frame's head as
    the clip does (a frame's pose ``R_k``, ``t_k``); keyed at the frames' times, the scene's resolution the
    clip's. A head has one such camera, "<head> video": a later take re-aims it and gives it the take's clip and
    a path of its own ("<take> camera"; the earlier paths stay in the file)."""
    found = [f for f in track.frames if f.found]
    R0 = found[0].rotation
    pivot = from_blender(np.array(arm.matrix_world @ arm.data.bones["head"].head_local)[None])[0]
    W, H = track.size
    cam_obj = bpy.data.objects.get(head.get(schema.VIDEO_CAMERA, ""))
    if cam_obj is None or cam_obj.type != "CAMERA":
        cam_obj = bpy.data.objects.new(f"{head.name} video", bpy.data.cameras.new(f"{head.name} video"))
        for coll in head.users_collection:
            coll.objects.link(cam_obj)
    data = cam_obj.data
    data.background_images.clear()
    first = Camera(track.focal_px, track.focal_px, W / 2.0, H / 2.0, R0, found[0].translation, W, H)
    set_camera_intrinsics(data, first)
    data.clip_start, data.clip_end = 0.01, 100.0
    if clip_path:
        bg = data.background_images.new()
        bg.source = "MOVIE_CLIP"
        bg.clip = bpy.data.movieclips.load(clip_path, check_existing=True)
        bg.frame_method = "STRETCH"
        data.show_background_images = True
    cam_obj.matrix_world = camera_matrix_world(first)
    places = np.array([np.array(camera_matrix_world(Camera(first.fx, first.fy, first.cx, first.cy, R0,
                                                           f.translation + (f.rotation - R0) @ pivot, W, H)
                                                    ).translation) for f in track.frames])
    path = bpy.data.actions.new(f"{take} camera")
    path.use_fake_user = True
    _key(cam_obj, path, [("location", i, places[:, i]) for i in range(3)], frames)
    scene.render.resolution_x, scene.render.resolution_y = W, H
    scene.render.resolution_percentage = 100
    head[schema.VIDEO_CAMERA] = cam_obj.name
    return cam_obj


def _eye_rotations(gaze: np.ndarray) -> np.ndarray:
    """(F, 4) quaternions of an eye bone from its gaze (F, 2) degrees (yaw to the person's left, pitch up): the
    bone's +X looks up, +Z to the person's left (``core.rig.BONE_LIMITS_DEG``)."""
    return np.array([np.array(Euler((math.radians(p), 0.0, math.radians(y)), "XYZ").to_quaternion())
                     for y, p in gaze])


def _jaw_rotations(jaw_open: np.ndarray, model: FaceModel) -> np.ndarray:
    """(F, 4) quaternions of the jaw bone opening the mouth as ``jawOpen`` weights (F,) would: the rotation
    ICT's ``jawOpen`` gives the lower teeth (``core.rig.jaw_pivot``, 24 degrees) times the weight, about the
    bone's +X (which opens the mouth), within the bone's limit."""
    _, full = core_rig.jaw_pivot(model)
    limit = math.radians(core_rig.BONE_LIMITS_DEG["jaw"][0][1])
    return np.array([np.array(Euler((min(w * full, limit), 0.0, 0.0), "XYZ").to_quaternion()) for w in jaw_open])


def _head_rotations(track: Track, arm) -> np.ndarray:
    """(F, 4) quaternions (w, x, y, z) of the head bone: each frame's head rotation relative to the first found
    frame's, from model-camera space into the bone's own axes, kept on one hemisphere (no flips between
    frames)."""
    first = next(f.rotation for f in track.frames if f.found)
    bone = arm.data.bones["head"].matrix_local.to_3x3()
    to_arm = np.array(arm.matrix_world.to_3x3().normalized())
    B = np.array(bone)
    out, last = [], None
    for f in track.frames:
        world = AXES @ (first.T @ f.rotation) @ AXES.T   # the head's turn since the first frame, Blender axes
        local = B.T @ to_arm.T @ world @ to_arm @ B
        q = np.array(Matrix(local.tolist()).to_quaternion())
        if last is not None and q @ last < 0:
            q = -q
        out.append(q)
        last = q
    return np.array(out)


def _key(owner, action, channels, frames: np.ndarray) -> None:
    """Key ``channels`` (data path, index, one value per frame) of ``owner`` (an ID) at ``frames`` in ``action``
    (its own slot for this ID), in bulk."""
    anim = owner.animation_data_create()
    anim.action = action
    if anim.action_slot is None:   # a new action has no slot for this kind of ID yet
        anim.action_slot = action.slots.new(id_type=owner.id_type, name=owner.name)
    bag = anim_utils.action_ensure_channelbag_for_slot(action, anim.action_slot)
    for path, index, values in channels:
        fc = bag.fcurves.find(path, index=index) or bag.fcurves.new(path, index=index)
        fc.keyframe_points.add(len(frames))
        fc.keyframe_points.foreach_set("co", np.column_stack([frames, values]).astype(np.float32).ravel())
        fc.update()
