"""Skin detail on a Blender head: Subdivision + Displace driven by the UV displacement map, a "Detail
strength" slider, and a switch to use a baked normal map instead (for game engines).

The displacement map is stored as a 16-bit image (``core.detail.encode_uint16``, as ``displacement.png``):
value v in [0, 1] means ``lo + v * (hi - lo)`` cm. The
Displace modifier then uses ``mid_level = -lo / (hi - lo)`` and ``strength = (hi - lo) cm in metres x
detail strength``, so strength 1.0 moves the surface by the map's true value.
"""

from __future__ import annotations

import bpy
import cv2
import numpy as np

from ..core.detail import encode_uint16, normal_map
from . import schema
from .conversion import from_blender, image_from_array, image_pixels, mesh_vertices, packed_png


def apply_detail(head, disp_uv: np.ndarray, strength: float = 1.0,
                 normal_rgb: np.ndarray | None = None) -> "bpy.types.DisplaceModifier":
    """Add Subdivision (viewport 1, render 2) and Displace (UV map ``UVMap``) to ``head``. The object
    property ``headforge_detail_strength`` (the panel's slider) drives the displacement strength.
    ``normal_rgb``: the same detail as an ``(S, S, 3)`` uint8 tangent-space normal map
    (``Avatar.detail_normal_map``), kept in the file for :func:`use_normal_map` and the exports; without it
    the first switch to a normal map bakes one from the displacement image."""
    values, lo, hi = encode_uint16(disp_uv)  # the same encoding as displacement.png
    img = packed_png(f"{head.name} displacement", cv2.imencode(".png", values)[1].tobytes(), "Non-Color")
    if normal_rgb is not None:   # kept in the file though nothing uses it until the switch to a normal map
        image_from_array(schema.detail_normal_image(head.name), normal_rgb, "Non-Color").use_fake_user = True
    tex = bpy.data.textures.new(f"{head.name} displacement", "IMAGE")
    tex.image = img
    tex.extension = "EXTEND"
    tex.use_interpolation = True
    sub = head.modifiers.new(schema.DETAIL_SUBDIVISION, "SUBSURF")
    sub.levels, sub.render_levels = 1, 2
    disp = head.modifiers.new(schema.DETAIL_MODIFIER, "DISPLACE")
    disp.texture = tex
    disp.texture_coords = "UV"
    disp.uv_layer = "UVMap"
    disp.direction = "NORMAL"
    disp.mid_level = -lo / (hi - lo)
    span_m = (hi - lo) * 0.01
    head[schema.DETAIL_STRENGTH] = float(strength)
    head.id_properties_ui(schema.DETAIL_STRENGTH).update(min=0.0, max=3.0, soft_max=2.0,
                                                description="Skin detail: 1 = the measured depth")
    head[schema.DETAIL_RANGE] = [lo, hi]
    fc = disp.driver_add("strength")
    drv = fc.driver
    drv.type = "SCRIPTED"
    var = drv.variables.new()
    var.name = "s"
    var.targets[0].id = head
    var.targets[0].data_path = f'["{schema.DETAIL_STRENGTH}"]'
    drv.expression = f"s * {span_m:.9g}"  # a simple expression: no Python needs to run
    disp.strength = strength * span_m
    # keep the Armature modifier (if any) last so posing deforms the detailed surface
    for i, m in enumerate(list(head.modifiers)):
        if m.type == "ARMATURE":
            head.modifiers.move(i, len(head.modifiers) - 1)
    return disp


def use_normal_map(head, on: bool = True, get_model=None) -> None:
    """Switch between true displacement (modifiers on) and a tangent-space normal map in the skin
    material (modifiers off; what game engines use). The first switch on bakes the map
    (:func:`detail_normal_rgb`; ``get_model()`` gives the face model) and keeps it in the file."""
    mat = head.material_slots[0].material
    nt = mat.node_tree
    bsdf = next(n for n in nt.nodes if n.type == "BSDF_PRINCIPLED")
    node = nt.nodes.get(schema.DETAIL_NORMAL_NODE)
    if node is None and on:
        tex = nt.nodes.new("ShaderNodeTexImage")
        tex.image = detail_normal_image(head, get_model)
        tex.name = f"{schema.DETAIL_NORMAL_NODE} texture"
        node = nt.nodes.new("ShaderNodeNormalMap")
        node.name = schema.DETAIL_NORMAL_NODE
        node.uv_map = "UVMap"
        nt.links.new(tex.outputs["Color"], node.inputs["Color"])
    if node is not None:
        if on:
            nt.links.new(node.outputs["Normal"], bsdf.inputs["Normal"])
        else:
            for link in list(bsdf.inputs["Normal"].links):
                nt.links.remove(link)
    for m in head.modifiers:
        if m.name in (schema.DETAIL_MODIFIER, schema.DETAIL_SUBDIVISION):
            m.show_viewport = m.show_render = not on
    head[schema.DETAIL_NORMAL_MAP] = bool(on)


def detail_normal_image(head, get_model) -> "bpy.types.Image | None":
    """The head's fine detail as a tangent-space normal-map image (``Non-Color``): the one kept in the file
    since the head was made, or baked now (:func:`detail_normal_rgb`; ``get_model()`` gives the face model) and
    kept. None for a head without detail."""
    if schema.DETAIL_STRENGTH not in head or schema.DETAIL_MODIFIER not in head.modifiers:
        return None
    img = bpy.data.images.get(schema.detail_normal_image(head.name))
    if img is None:
        img = image_from_array(schema.detail_normal_image(head.name), detail_normal_rgb(head, get_model()),
                               "Non-Color")
    return img


def detail_normal_rgb(head, model) -> np.ndarray:
    """The head's displacement detail (at its current strength) baked into a tangent-space normal map,
    ``(S, S, 3)`` uint8 (``core.detail.normal_map``), decoded from the packed 16-bit displacement image: for
    heads that kept no normal map from their creation (older files)."""
    img = head.modifiers[schema.DETAIL_MODIFIER].texture.image
    lo, hi = head[schema.DETAIL_RANGE]
    uv = (image_pixels(img)[:, :, 0] * (hi - lo) + lo) * head[schema.DETAIL_STRENGTH]
    return normal_map(model, from_blender(mesh_vertices(head.data)), uv)
