"""Build Blender data from a core :class:`~headforge.core.pipeline.Avatar` (main thread only).

Every numpy <-> Blender conversion is in :mod:`.conversion`; the custom properties written here are named in
:mod:`.schema`. Nothing existing is renamed or replaced: new data-blocks get Blender's unique names
(``Head.001`` ...).
"""

from __future__ import annotations

import json

import bpy
import numpy as np

from ..core.camera import Camera
from ..core.eyes import IRIS_UV_RADIUS, PUPIL_UV_RADIUS, srgb_to_unit
from ..core.facemodel import SKIN_MATERIALS
from ..core.lashes import eyelash_texture
from ..core.writers import PART_COLOURS, TRANSPARENT_PARTS
from . import schema
from .conversion import camera_matrix_world, image_from_array, linear_rgba, set_camera_intrinsics, to_blender
from .detail import apply_detail
from .hair import build_hair
from .nodes import NodeBuilder, ensure_principled
from .overlay import store_landmarks

SKIN = SKIN_MATERIALS
#: the eyelash strand image (RGBA), one per file, shared by every head
LASH_IMAGE = "Headforge eyelashes"


def build_mesh(name: str, model, vertices_cm: np.ndarray) -> "bpy.types.Mesh":
    """Mesh data in metres with the skin-atlas UV map ``UVMap``, the upstream ``UDIM`` map, one material
    slot per ICT part (slots filled by :func:`build_head`) and smooth shading."""
    me = bpy.data.meshes.new(name)
    v = to_blender(vertices_cm).astype(np.float32)
    me.vertices.add(len(v))
    me.vertices.foreach_set("co", v.ravel())
    me.loops.add(len(model.loop_vertex))
    me.loops.foreach_set("vertex_index", model.loop_vertex.astype(np.int32))
    me.polygons.add(len(model.poly_start))
    me.polygons.foreach_set("loop_start", model.poly_start.astype(np.int32))
    me.polygons.foreach_set("material_index", model.parts[0].astype(np.int32))
    me.polygons.foreach_set("use_smooth", np.ones(len(model.poly_start), bool))
    uv = me.uv_layers.new(name="UVMap")
    uv.data.foreach_set("uv", model.loop_uv.astype(np.float32).ravel())
    udim = me.uv_layers.new(name="UDIM")
    udim.data.foreach_set("uv", model.uv_udim.astype(np.float32).ravel())
    me.uv_layers.active = uv
    me.update(calc_edges=True)
    me.validate(verbose=False)
    return me


def skin_material(name: str, albedo: "bpy.types.Image") -> "bpy.types.Material":
    """Principled BSDF with the baked photo texture and subsurface scattering."""
    mat = bpy.data.materials.new(name)
    ensure_principled(mat)
    nt = mat.node_tree
    bsdf = next(n for n in nt.nodes if n.type == "BSDF_PRINCIPLED")
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.name = tex.label = schema.ALBEDO_NODE
    tex.image = albedo
    tex.location = (-400, 200)
    uvn = nt.nodes.new("ShaderNodeUVMap")
    uvn.uv_map = "UVMap"
    uvn.location = (-650, 200)
    nt.links.new(uvn.outputs["UV"], tex.inputs["Vector"])
    nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.5
    bsdf.inputs["Subsurface Weight"].default_value = 0.15
    bsdf.inputs["Subsurface Radius"].default_value = (1.0, 0.35, 0.2)
    bsdf.inputs["Subsurface Scale"].default_value = 0.005  # metres
    return mat


def part_material(name: str, part: str, iris_srgb=None) -> "bpy.types.Material":
    """The Blender material of ICT part ``part`` (flat colours, see-through shells, the cornea over the iris,
    textured lashes); ``iris_srgb``: the irises' colour (3 ints 0-255), default ICT's brown."""
    mat = bpy.data.materials.new(name)
    ensure_principled(mat)
    bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    if part in TRANSPARENT_PARTS:
        bsdf.inputs["Alpha"].default_value = 0.0
        if hasattr(mat, "surface_render_method"):  # Blender 4.2+
            mat.surface_render_method = "BLENDED"
        elif hasattr(mat, "blend_method"):
            mat.blend_method = "BLEND"
    else:
        c = PART_COLOURS.get(part, (0.8, 0.8, 0.8))
        if "Iris" in part and iris_srgb is not None:
            c = srgb_to_unit(iris_srgb)
        bsdf.inputs["Base Color"].default_value = linear_rgba(c)
        bsdf.inputs["Roughness"].default_value = 0.15 if "Sclera" in part else 0.5
        if "Iris" in part:
            # no reflection of its own: the iris colour measured in the photo has the cornea's reflections in it
            # already, and a glossy iris mirrored the key light over the whole iris of one eye (a grey-blue eye)
            bsdf.inputs["Specular IOR Level"].default_value = 0.0
        if "Sclera" in part:
            _cornea(mat, bsdf)
        elif part == "M_EyeLashes":
            _lash_strands(mat, bsdf)
    return mat


def _lash_strands(mat, bsdf) -> None:
    """Eyelash cards textured with procedural strands (colour and alpha from one RGBA image)."""
    img = bpy.data.images.get(LASH_IMAGE)
    if img is None:
        img = image_from_array(LASH_IMAGE, eyelash_texture(512))
        img.alpha_mode = "STRAIGHT"
    nt = mat.node_tree
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.image = img
    nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    nt.links.new(tex.outputs["Alpha"], bsdf.inputs["Alpha"])
    bsdf.inputs["Roughness"].default_value = 0.4
    if hasattr(mat, "surface_render_method"):
        mat.surface_render_method = "BLENDED"


def _cornea(mat, bsdf) -> None:
    """Make the sclera see-through over the iris (the iris mesh sits behind it) and draw the pupil."""
    nb = NodeBuilder(mat.node_tree)
    centre = nb.vector_math("SUBTRACT", nb.uv.outputs["UV"], (0.5, 0.5, 0.0))
    radius = nb.vector_math("LENGTH", centre.outputs["Vector"]).outputs["Value"]
    iris = nb.math("LESS_THAN", radius, IRIS_UV_RADIUS).outputs["Value"]
    pupil = nb.math("LESS_THAN", radius, PUPIL_UV_RADIUS).outputs["Value"]
    clear_ring = nb.math("SUBTRACT", 1.0, iris)  # 1 - iris + pupil: clear over the iris ring only
    nb.link(nb.math("ADD", clear_ring.outputs["Value"], pupil).outputs["Value"], bsdf.inputs["Alpha"])
    colour = nb.mix(pupil, tuple(bsdf.inputs["Base Color"].default_value), (0.01, 0.01, 0.01, 1.0))
    nb.link(colour.outputs["Result"], bsdf.inputs["Base Color"])
    if hasattr(mat, "surface_render_method"):
        mat.surface_render_method = "BLENDED"


def build_camera(name: str, cam: Camera, photo: "bpy.types.Image | None", scene) -> "bpy.types.Object":
    data = bpy.data.cameras.new(name)
    set_camera_intrinsics(data, cam)
    data.clip_start = 0.01
    data.clip_end = 100.0
    if photo is not None:
        data.show_background_images = True
        bg = data.background_images.new()
        bg.image = photo
        bg.frame_method = "STRETCH"
        bg.alpha = 1.0
    obj = bpy.data.objects.new(name, data)
    obj.matrix_world = camera_matrix_world(cam)
    return obj


def build_head(avatar, context=None, name: str = "Head", set_render_size: bool = True,
               make_active_camera: bool = False, hair: bool = True) -> dict:
    """Create the head object, its materials and texture, its hair (``hair``: when the photo shows some;
    ``addon.hair``) and a matching camera (and one for each of ``avatar.others``, the other photos of a
    several-photo head, showing its photo) in a new collection of the current scene. Returns
    ``{"collection", "head", "hair" (object or None), "camera", "albedo", "photo", "other_cameras"}``."""
    context = context or bpy.context
    scene = context.scene
    model = avatar.model
    coll = bpy.data.collections.new(f"Headforge {name}")
    scene.collection.children.link(coll)

    me = build_mesh(name, model, avatar.vertices)
    albedo = image_from_array(f"{name} albedo", avatar.albedo)
    photo = image_from_array(f"{name} photo", avatar.image)
    skin = skin_material(f"{name} skin", albedo)
    for part in model.parts[1]:
        me.materials.append(skin if part in SKIN else part_material(f"{name} {part[2:]}", part, avatar.iris.srgb))
    head = bpy.data.objects.new(name, me)
    coll.objects.link(head)
    # what later tools (rig, export) need to rebuild or re-pose this head
    head[schema.HEAD] = 1
    head[schema.IDENTITY] = [float(x) for x in avatar.identity]
    head[schema.EXPRESSION] = [float(x) for x in avatar.fit.expression]
    head[schema.IMAGE] = avatar.image_path or ""
    head[schema.PHOTOS] = json.dumps([[avatar.image_path or "", avatar.landmarks.face_index]]
                                     + [[o.image_path or "", o.face_index] for o in avatar.others])
    head[schema.INITIALIZER] = avatar.initializer
    head[schema.IRIS_SRGB] = list(avatar.iris.srgb)
    head[schema.PARTS] = list(model.parts[1])
    if avatar.detail is not None:
        apply_detail(head, avatar.detail.uv, normal_rgb=avatar.detail_normal_map())
    if avatar.hair is not None:   # Restyle Hair grows it again, also on a head made without its curves
        head[schema.HAIR_PARAMS] = json.dumps(avatar.hair.to_dict())
    hair_obj = build_hair(avatar, head, name) if hair else None

    cam_obj = build_camera(f"{name} camera", avatar.camera, photo, scene)
    store_landmarks(cam_obj, avatar.detected68, avatar.projected68, (avatar.camera.width, avatar.camera.height))
    coll.objects.link(cam_obj)
    head[schema.CAMERA] = cam_obj.name
    others = []
    for k, other in enumerate(avatar.others, 2):   # a camera per other photo, showing it
        fit = other.shape.fit
        cam = build_camera(f"{name} camera {k}", fit.camera, image_from_array(f"{name} photo {k}", other.image), scene)
        store_landmarks(cam, other.shape.detected68, other.shape.projected68, (fit.camera.width, fit.camera.height))
        coll.objects.link(cam)
        others.append(cam)
    if set_render_size:
        scene.render.resolution_x = int(avatar.camera.width)
        scene.render.resolution_y = int(avatar.camera.height)
        scene.render.resolution_percentage = 100
        scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    if make_active_camera or scene.camera is None:
        scene.camera = cam_obj
    return {"collection": coll, "head": head, "hair": hair_obj, "camera": cam_obj, "albedo": albedo, "photo": photo,
            "other_cameras": others}
