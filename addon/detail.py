"""Fine detail on a Blender head: Subdivision + Displace driven by the UV displacement map, a "Detail
strength" slider, and a switch to use a baked normal map instead (for game engines).

The displacement map is stored as a 16-bit image (``core.detail.encode_uint16``, as ``displacement.png``):
value v in [0, 1] means ``lo + v * (hi - lo)`` cm. The
Displace modifier then uses ``mid_level = -lo / (hi - lo)`` and ``strength = (hi - lo) cm in metres x
detail strength``, so strength 1.0 moves the surface by the map's true value.
"""

from __future__ import annotations

import contextlib

import bpy
import cv2
import numpy as np

from ..core.detail import encode_uint16
from .build import packed_png

STRENGTH_PROP = "headforge_detail_strength"


def apply_detail(head, disp_uv: np.ndarray, strength: float = 1.0) -> "bpy.types.DisplaceModifier":
    """Add Subdivision (viewport 1, render 2) and Displace (UV map ``UVMap``) to ``head``. The object
    property ``headforge_detail_strength`` (the panel's slider) drives the displacement strength."""
    values, lo, hi = encode_uint16(disp_uv)  # the same encoding as displacement.png
    img = packed_png(f"{head.name} displacement", cv2.imencode(".png", values)[1].tobytes(), "Non-Color")
    tex = bpy.data.textures.new(f"{head.name} displacement", "IMAGE")
    tex.image = img
    tex.extension = "EXTEND"
    tex.use_interpolation = True
    sub = head.modifiers.new("Detail subdivision", "SUBSURF")
    sub.levels, sub.render_levels = 1, 2
    disp = head.modifiers.new("Detail", "DISPLACE")
    disp.texture = tex
    disp.texture_coords = "UV"
    disp.uv_layer = "UVMap"
    disp.direction = "NORMAL"
    disp.mid_level = -lo / (hi - lo)
    span_m = (hi - lo) * 0.01
    head[STRENGTH_PROP] = float(strength)
    head.id_properties_ui(STRENGTH_PROP).update(min=0.0, max=3.0, soft_max=2.0,
                                                description="Fine detail: 1 = the measured depth")
    head["headforge_detail_range_cm"] = [lo, hi]
    fc = disp.driver_add("strength")
    drv = fc.driver
    drv.type = "SCRIPTED"
    var = drv.variables.new()
    var.name = "s"
    var.targets[0].id = head
    var.targets[0].data_path = f'["{STRENGTH_PROP}"]'
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
    node = nt.nodes.get("Headforge detail normal")
    if node is None and on:
        img = bpy.data.images.get(f"{head.name} detail normal")
        if img is None:
            from .build import image_from_array

            img = image_from_array(f"{head.name} detail normal", detail_normal_rgb(head, get_model()))
            img.colorspace_settings.name = "Non-Color"
        tex = nt.nodes.new("ShaderNodeTexImage")
        tex.image = img
        tex.name = "Headforge detail normal texture"
        node = nt.nodes.new("ShaderNodeNormalMap")
        node.name = "Headforge detail normal"
        node.uv_map = "UVMap"
        nt.links.new(tex.outputs["Color"], node.inputs["Color"])
    if node is not None:
        if on:
            nt.links.new(node.outputs["Normal"], bsdf.inputs["Normal"])
        else:
            for link in list(bsdf.inputs["Normal"].links):
                nt.links.remove(link)
    for m in head.modifiers:
        if m.name in ("Detail", "Detail subdivision"):
            m.show_viewport = m.show_render = not on
    head["headforge_detail_normal_map"] = bool(on)


def detail_normal_rgb(head, model) -> np.ndarray:
    """The head's displacement detail (at its current strength) baked into a tangent-space normal map,
    ``(S, S, 3)`` uint8 (``core.detail.normal_map``)."""
    from ..core.detail import normal_map
    from .rig import from_blender

    disp = next(m for m in head.modifiers if m.name == "Detail")
    img = disp.texture.image
    size = img.size[0]
    px = np.empty(size * size * 4, np.float32)
    img.pixels.foreach_get(px)
    lo, hi = head["headforge_detail_range_cm"]
    uv = (px.reshape(size, size, 4)[::-1, :, 0] * (hi - lo) + lo) * head[STRENGTH_PROP]
    co = np.empty(len(head.data.vertices) * 3, np.float32)
    head.data.vertices.foreach_get("co", co)
    return normal_map(model, from_blender(co.reshape(-1, 3)), uv)


@contextlib.contextmanager
def detail_as_normal_map(head, get_model):
    """Within the block, a head whose detail is displacement shows it as a normal map instead: glTF and
    FBX keep a material's normal map but not a Displace modifier (exporters don't apply it). Restored
    afterwards; the baked image stays in the file for the panel's switch to reuse."""
    if STRENGTH_PROP not in head or head.get("headforge_detail_normal_map") or \
            not any(m.name == "Detail" for m in head.modifiers):
        yield
        return
    use_normal_map(head, True, get_model)
    try:
        yield
    finally:
        use_normal_map(head, False)
