"""The head's hair in Blender: hair curves grown by ``core.hair``'s generator in the style and colour read from
the photo (``core.hairstyle``), with a Principled Hair BSDF. Engines take no curves: exports leave them out."""

from __future__ import annotations

import bpy

from ..core.hair import hair_strands, strand_radii
from . import schema
from .conversion import hair_curves
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
    strands = hair_strands(avatar.model, avatar.vertices, hair.generator())
    obj = bpy.data.objects.new(f"{name} hair", hair_curves(f"{name} hair", strands, strand_radii()))
    obj.data.materials.append(hair_material(f"{name} hair", hair))
    for coll in head.users_collection:
        coll.objects.link(obj)
    obj.parent = head
    obj[schema.HAIR_OF] = head.name
    head[schema.HAIR] = obj.name
    head[schema.HAIR_SRGB] = list(hair.srgb)
    head[schema.HAIR_RECESSION_CM] = float(hair.recession_cm)
    return obj
