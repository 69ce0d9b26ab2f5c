"""The head's hair in Blender: hair curves grown by ``core.hair``'s generator in the style and colour read from
the photo (``core.hairstyle``), with a Principled Hair BSDF. Engines take no curves: exports leave them out.
A head keeps the hair the photo showed (``schema.HAIR_PARAMS``), so its style can be chosen again later
(:func:`restyle_hair`)."""

from __future__ import annotations

import json

import bpy

from ..core.errors import HeadforgeError
from ..core.facemodel import FaceModel
from ..core.hair import hair_strands, strand_radii
from ..core.hairstyle import PhotoHair
from . import schema
from .conversion import from_blender, hair_curves, mesh_vertices
from .nodes import shader_material


def hair_material(name: str, hair) -> "bpy.types.Material":
    """A Principled Hair BSDF (melanin parametrisation) in ``hair``'s melanin and redness."""
    mat, bsdf = shader_material(name, "ShaderNodeBsdfHairPrincipled")
    bsdf.parametrization = "MELANIN"
    bsdf.inputs["Melanin"].default_value = hair.melanin
    bsdf.inputs["Melanin Redness"].default_value = hair.redness
    bsdf.inputs["Roughness"].default_value = 0.35
    return mat


def build_hair(avatar, head, name: str) -> "bpy.types.Object | None":
    """The hair of ``avatar`` (None when it is bald or was not read from the photo) as a curves object
    ``"<name> hair"`` parented to ``head``, in ``head``'s collections."""
    hair = avatar.hair
    if hair is None or hair.style == "bald":
        return None
    return _grow(head, hair, avatar.model, avatar.vertices, name)


def restyle_hair(head, style: str, model: FaceModel, context=None, *, length_cm: float | None = None,
                 volume_cm: float | None = None, curl_cm: float | None = None) -> "bpy.types.Object | None":
    """Grow ``head``'s hair again in ``style`` (``core.hairstyle.HAIR_STYLES``; "photo": as the photo showed it),
    in the photo's hair colour, on the head's mesh, with the ``length_cm``, ``volume_cm`` and ``curl_cm`` given
    (None: the style's own; ``core.hairstyle.PhotoHair.adjusted`` says the ranges); its hair object keeps its
    place, parent and material (one is made when the head had none; "bald" removes it, and exports then get no
    hair cap or cards). The scalp painted in the skin texture stays as it was made. Returns the hair object
    (None for bald)."""
    from .rig import check_head

    context = context or bpy.context
    check_head(head)
    if not head.get(schema.HAIR_PARAMS):
        raise HeadforgeError(f"{head.name!r} was made without reading the photo's hair (Skin Only Texture off, or an "
                             "older Headforge): create it again from the photo to choose its hair style.")
    hair = PhotoHair.from_dict(json.loads(head[schema.HAIR_PARAMS])).choose(style).adjusted(length_cm, volume_cm,
                                                                                              curl_cm)
    old = bpy.data.objects.get(head.get(schema.HAIR, ""))
    head[schema.HAIR_PARAMS] = json.dumps(hair.to_dict())
    if hair.style == "bald":
        _remove_hair(head, old)
        return None
    vertices = from_blender(mesh_vertices(head.data))
    if old is None:
        obj = _grow(head, hair, model, vertices, head.name)
        arm = bpy.data.objects.get(head.get(schema.RIG, ""))
        if arm is not None:
            from .rig import hair_on_head_bone

            hair_on_head_bone(head, arm, context)
        return obj
    _new_curves(old, hair, model, vertices)
    _mark(head, old, hair)
    return old


def _remove_hair(head, obj) -> None:
    """Take ``head``'s hair object ``obj`` (or None) and its curves away, and what exports read of it."""
    if obj is not None:
        curves = obj.data
        bpy.data.objects.remove(obj)
        if curves.users == 0:
            bpy.data.hair_curves.remove(curves)
    for key in (schema.HAIR, schema.HAIR_SRGB, schema.HAIR_RECESSION_CM):
        head.pop(key, None)


def _new_curves(obj, hair: PhotoHair, model: FaceModel, vertices) -> None:
    """Give the hair object ``obj`` curves grown for ``hair`` on the head ``vertices`` (cm), its materials kept
    and coloured for ``hair``."""
    curves = obj.data
    obj.data = _curves(obj.name, hair, model, vertices)
    for mat in curves.materials:
        obj.data.materials.append(mat)
    _set_colour(obj.active_material, hair)
    if curves.users == 0:
        bpy.data.hair_curves.remove(curves)


def _grow(head, hair: PhotoHair, model: FaceModel, vertices, name: str) -> "bpy.types.Object":
    """A new hair object for ``hair`` on the head ``vertices`` (cm), parented to ``head``."""
    obj = bpy.data.objects.new(f"{name} hair", _curves(f"{name} hair", hair, model, vertices))
    obj.data.materials.append(hair_material(f"{name} hair", hair))
    for coll in head.users_collection:
        coll.objects.link(obj)
    obj.parent = head
    obj[schema.HAIR_OF] = head.name
    _mark(head, obj, hair)
    return obj


def _curves(name: str, hair: PhotoHair, model: FaceModel, vertices) -> "bpy.types.Curves":
    strands = hair_strands(model, vertices, hair.generator())
    return hair_curves(name, strands, strand_radii(strands.shape[1]))


def _set_colour(mat, hair: PhotoHair) -> None:
    bsdf = next((n for n in mat.node_tree.nodes if n.type == "BSDF_HAIR_PRINCIPLED"), None) if mat else None
    if bsdf is not None:
        bsdf.inputs["Melanin"].default_value = hair.melanin
        bsdf.inputs["Melanin Redness"].default_value = hair.redness


def _mark(head, obj, hair: PhotoHair) -> None:
    """What exports read off the head: its hair object, the hair's colour and the hairline's recession."""
    head[schema.HAIR] = obj.name
    head[schema.HAIR_SRGB] = list(hair.srgb)
    head[schema.HAIR_RECESSION_CM] = float(hair.recession_cm)
