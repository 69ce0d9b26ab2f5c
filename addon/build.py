"""Build Blender data from a core :class:`~headforge.core.pipeline.Avatar` (main thread only).

Model space (ICT-FaceKit: cm, +Y up, face towards +Z) maps to Blender (m, +Z up, face towards -Y):
``(x, y, z)_blender = 0.01 * (x, -z, y)``. Nothing existing is renamed or replaced: new data-blocks get
Blender's unique names (``Head.001`` ...).
"""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from ..core.camera import Camera
from ..core.export import PART_COLOURS, TRANSPARENT_PARTS

#: model (cm, y-up) -> Blender (m, z-up)
MODEL_TO_BLENDER = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], np.float64) * 0.01
SKIN = ("M_Face", "M_BackHead")


def to_blender(points_cm: np.ndarray) -> np.ndarray:
    """(N, 3) model cm -> (N, 3) Blender metres."""
    return np.asarray(points_cm, np.float64) @ MODEL_TO_BLENDER.T


def packed_png(name: str, png: bytes, colorspace: str = "sRGB") -> "bpy.types.Image":
    """New Blender image from PNG bytes, packed into the .blend (so the file is self-contained)."""
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(suffix=".png", prefix="headforge-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(png)
        img = bpy.data.images.load(tmp, check_existing=False)
        img.pack()
    finally:
        os.unlink(tmp)
    img.name = name
    img.filepath_raw = f"//{bpy.path.clean_name(name)}.png"  # no reload: the pixels are packed
    img.colorspace_settings.name = colorspace
    return img


def image_from_array(name: str, rgb: np.ndarray) -> "bpy.types.Image":
    """New Blender image from ``(H, W, 3)`` or ``(H, W, 4)`` uint8 sRGB (rows top to bottom), packed as an
    8-bit PNG."""
    from ..core.export import png_bytes

    return packed_png(name, png_bytes(rgb))


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


def _ensure_nodes(mat) -> None:
    # Blender 5 gives new materials a node tree; older versions need use_nodes (deprecated in 5)
    if mat.node_tree is None or not any(n.type == "BSDF_PRINCIPLED" for n in mat.node_tree.nodes):
        mat.use_nodes = True


def skin_material(name: str, albedo: "bpy.types.Image") -> "bpy.types.Material":
    """Principled BSDF with the baked photo texture and subsurface scattering."""
    mat = bpy.data.materials.new(name)
    _ensure_nodes(mat)
    nt = mat.node_tree
    bsdf = next(n for n in nt.nodes if n.type == "BSDF_PRINCIPLED")
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.name = tex.label = "Headforge Albedo"
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


def part_material(name: str, part: str) -> "bpy.types.Material":
    mat = bpy.data.materials.new(name)
    _ensure_nodes(mat)
    bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    if part in TRANSPARENT_PARTS:
        bsdf.inputs["Alpha"].default_value = 0.0
        if hasattr(mat, "surface_render_method"):  # Blender 4.2+
            mat.surface_render_method = "BLENDED"
        elif hasattr(mat, "blend_method"):
            mat.blend_method = "BLEND"
    else:
        c = PART_COLOURS.get(part, (0.8, 0.8, 0.8))
        bsdf.inputs["Base Color"].default_value = (*[_srgb_to_linear(x) for x in c], 1.0)
        bsdf.inputs["Roughness"].default_value = 0.15 if "Sclera" in part or "Iris" in part else 0.5
        if "Sclera" in part:
            _cornea(mat, bsdf)
        elif part == "M_EyeLashes":
            _lash_strands(mat, bsdf)
    return mat


def _lash_strands(mat, bsdf) -> None:
    """Eyelash cards textured with procedural strands (colour and alpha from one RGBA image)."""
    from ..core.lashes import eyelash_texture

    img = bpy.data.images.get("Headforge eyelashes")
    if img is None:
        img = image_from_array("Headforge eyelashes", eyelash_texture(512))
        img.alpha_mode = "STRAIGHT"
    nt = mat.node_tree
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.image = img
    nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    nt.links.new(tex.outputs["Alpha"], bsdf.inputs["Alpha"])
    bsdf.inputs["Roughness"].default_value = 0.4
    if hasattr(mat, "surface_render_method"):
        mat.surface_render_method = "BLENDED"


#: ICT's sclera UVs are a spherical map with the cornea at (0.5, 0.5); UV distance ~ angle / 260 deg
IRIS_UV_RADIUS = 0.108   # 28 degrees: 11.5 mm iris on the 29.6 mm eyeball
PUPIL_UV_RADIUS = 0.034  # 9 degrees


def _cornea(mat, bsdf) -> None:
    """Make the sclera see-through over the iris (the iris mesh sits behind it) and draw the pupil."""
    nt = mat.node_tree
    uvn = nt.nodes.new("ShaderNodeUVMap")
    uvn.uv_map = "UVMap"
    sub = nt.nodes.new("ShaderNodeVectorMath")
    sub.operation = "SUBTRACT"
    sub.inputs[1].default_value = (0.5, 0.5, 0.0)
    length = nt.nodes.new("ShaderNodeVectorMath")
    length.operation = "LENGTH"
    nt.links.new(uvn.outputs["UV"], sub.inputs[0])
    nt.links.new(sub.outputs["Vector"], length.inputs[0])

    def smaller(r):
        n = nt.nodes.new("ShaderNodeMath")
        n.operation = "LESS_THAN"
        n.inputs[1].default_value = r
        nt.links.new(length.outputs["Value"], n.inputs[0])
        return n

    iris, pupil = smaller(IRIS_UV_RADIUS), smaller(PUPIL_UV_RADIUS)
    alpha = nt.nodes.new("ShaderNodeMath")  # 1 - iris + pupil: clear over the iris ring only
    alpha.operation = "SUBTRACT"
    alpha.inputs[0].default_value = 1.0
    nt.links.new(iris.outputs["Value"], alpha.inputs[1])
    alpha2 = nt.nodes.new("ShaderNodeMath")
    alpha2.operation = "ADD"
    nt.links.new(alpha.outputs["Value"], alpha2.inputs[0])
    nt.links.new(pupil.outputs["Value"], alpha2.inputs[1])
    nt.links.new(alpha2.outputs["Value"], bsdf.inputs["Alpha"])
    mix = nt.nodes.new("ShaderNodeMix")
    mix.data_type = "RGBA"
    mix.inputs["A"].default_value = bsdf.inputs["Base Color"].default_value
    mix.inputs["B"].default_value = (0.01, 0.01, 0.01, 1.0)
    nt.links.new(pupil.outputs["Value"], mix.inputs["Factor"])
    nt.links.new(mix.outputs["Result"], bsdf.inputs["Base Color"])
    if hasattr(mat, "surface_render_method"):
        mat.surface_render_method = "BLENDED"


def _srgb_to_linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def camera_matrix_world(cam: Camera) -> Matrix:
    """Blender world matrix of a camera that sees the head (at the origin) as the photo does."""
    R = np.asarray(cam.rotation, np.float64)
    C = -R.T @ np.asarray(cam.translation, np.float64)  # camera centre, model cm
    axes_model = np.stack([R[0], -R[1], -R[2]], 1)       # Blender camera X, Y, Z in model space
    rot = (MODEL_TO_BLENDER / 0.01) @ axes_model
    M = np.eye(4)
    M[:3, :3] = rot
    M[:3, 3] = to_blender(C[None])[0]
    return Matrix(M.tolist())


def build_camera(name: str, cam: Camera, photo: "bpy.types.Image | None", scene) -> "bpy.types.Object":
    data = bpy.data.cameras.new(name)
    data.sensor_fit = "AUTO"
    data.sensor_width = 36.0
    side = max(cam.width, cam.height)
    data.lens = cam.fx * data.sensor_width / side
    data.shift_x = (cam.width / 2.0 - cam.cx) / side
    data.shift_y = (cam.cy - cam.height / 2.0) / side
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
               make_active_camera: bool = False) -> dict:
    """Create the head object, its materials and texture, and a matching camera in a new collection of
    the current scene. Returns ``{"collection", "head", "camera", "albedo", "photo"}``."""
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
        me.materials.append(skin if part in SKIN else part_material(f"{name} {part[2:]}", part))
    head = bpy.data.objects.new(name, me)
    coll.objects.link(head)
    # what later tools (rig, export) need to rebuild or re-pose this head
    head["headforge"] = 1
    head["headforge_identity"] = [float(x) for x in avatar.identity]
    head["headforge_expression"] = [float(x) for x in avatar.fit.expression]
    head["headforge_image"] = avatar.image_path or ""
    head["headforge_initializer"] = avatar.initializer  # where the fit started: "coarsenet" or "mean face"

    if getattr(avatar, "detail", None) is not None:
        from .detail import apply_detail

        apply_detail(head, avatar.detail.uv)

    cam_obj = build_camera(f"{name} camera", avatar.camera, photo, scene)
    coll.objects.link(cam_obj)
    head["headforge_camera"] = cam_obj.name
    if set_render_size:
        scene.render.resolution_x = int(avatar.camera.width)
        scene.render.resolution_y = int(avatar.camera.height)
        scene.render.resolution_percentage = 100
        scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    if make_active_camera or scene.camera is None:
        scene.camera = cam_obj
    return {"collection": coll, "head": head, "camera": cam_obj, "albedo": albedo, "photo": photo}
