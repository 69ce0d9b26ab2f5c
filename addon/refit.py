"""Add Photo to Head's last step: the refitted head takes the place of the head it was refitted from.

The refitted head is built beside the old one (:func:`set_aside` first gives the old head's objects and the
data only they use a suffix, so the new ones get the old names), then :func:`take_place` gives it the old head's
place: its collections, where its rig or head stood, the objects parented to it, its animation, its LODs and
the scene camera; then the old head's objects and the data only they used are removed. All of it is one undo
step of the operator. :func:`put_back` undoes :func:`set_aside` when the build fails.
"""

from __future__ import annotations

import bpy

from . import schema

#: added to the old head's names while the refitted head is built beside it
ASIDE = " (before refit)"

#: the bpy.data collection of each kind of data a head's objects use
_COLLECTION_OF = {"Mesh": "meshes", "Armature": "armatures", "Curves": "hair_curves", "Camera": "cameras",
                  "Material": "materials", "ImageTexture": "textures", "Image": "images"}


def head_family(head) -> dict:
    """The objects Headforge made for ``head``: ``{"head", "rig" (or None), "hair" (or None), "lods" (list),
    "cameras" (the photo camera first, then one per other photo)}``."""
    def named(key):
        return bpy.data.objects.get(head.get(key) or "")

    camera = named(schema.CAMERA)
    cameras = [camera] if camera is not None else []
    if camera is not None:   # build_head names the other photos' cameras "<photo camera> 2", "... 3"
        cameras += sorted((o for o in bpy.data.objects if o.type == "CAMERA" and o.get(schema.LANDMARKS_DETECTED)
                           and o.name.startswith(camera.name + " ") and o.name[len(camera.name) + 1:].isdigit()),
                          key=lambda o: int(o.name[len(camera.name) + 1:]))
    return {"head": head, "rig": named(schema.RIG), "hair": named(schema.HAIR), "cameras": cameras,
            "lods": sorted((o for o in bpy.data.objects if o.get(schema.LOD_OF) == head.name), key=lambda o: o.name)}


def _objects(family: dict) -> list:
    return [o for o in [family["head"], family["rig"], family["hair"]] + family["lods"] + family["cameras"] if o]


def _own_data(family: dict) -> list:
    """The data blocks the family's objects use and that are named after the head (not the ones all heads
    share), in an order that can be removed from the front: their meshes, armature, curves and cameras; the
    head's materials and detail texture; the images in those and behind its cameras."""
    data, materials, images = [], [], []
    for obj in _objects(family):
        if obj.data is not None:
            data.append(obj.data)
        materials += [s.material for s in obj.material_slots if s.material is not None]
        materials += [m.texture for m in obj.modifiers if m.type == "DISPLACE" and m.texture is not None]
        if obj.type == "CAMERA":
            images += [b.image for b in obj.data.background_images if b.image is not None]
    detail_normal = bpy.data.images.get(schema.detail_normal_image(family["head"].name))
    if detail_normal is not None:   # found by the head's name (addon.detail), whether a material uses it or not
        images.append(detail_normal)
    for m in materials:
        if getattr(m, "node_tree", None) is not None:
            images += [n.image for n in m.node_tree.nodes if n.type == "TEX_IMAGE" and n.image is not None]
        elif getattr(m, "image", None) is not None:
            images.append(m.image)
    own = family["head"].name   # build_head names what it makes after the head; the rest is shared (eyelashes)
    return [b for b in dict.fromkeys(data + materials + images) if b.name.startswith(own)]


def set_aside(head) -> dict:
    """Give ``head``'s objects and their data the :data:`ASIDE` suffix, so that a head built now takes their
    names. Returns the family (:func:`head_family`, and ``"data"``: the data blocks they use), for
    :func:`take_place` or :func:`put_back`."""
    family = head_family(head)
    family["data"] = _own_data(family)
    for block in _objects(family) + family["data"]:
        block.name = block.name + ASIDE
    return family


def put_back(family: dict) -> None:
    """Undo :func:`set_aside` (the refit failed)."""
    for block in _objects(family) + family["data"]:
        if block.name.endswith(ASIDE):
            block.name = block.name[: -len(ASIDE)]


def take_place(family: dict, made: dict, context) -> None:
    """Put the head ``made`` by ``addon.build.build_head`` (and ``addon.rig.add_rig``: ``made["rig"]``) where
    the set-aside ``family`` was, then remove the family's objects and the data only they used."""
    from .export import lod_objects

    head, rig = made["head"], made.get("rig")
    new = {"head": head, "rig": rig, "hair": made["hair"], "cameras": [made["camera"]] + made["other_cameras"]}
    old_root, new_root = family["rig"] or family["head"], rig or head
    context.view_layer.update()
    moved = old_root.matrix_world @ new_root.matrix_world.inverted()
    new_root.matrix_world = old_root.matrix_world.copy()
    for cam in new["cameras"]:   # the cameras keep seeing the head as in the photos
        cam.matrix_world = moved @ cam.matrix_world
    _into_old_collections(family, new, made["collection"])
    _reparent_children(family, new, context)
    _carry_animation(family, new)
    if context.scene.camera in family["cameras"]:
        context.scene.camera = new["cameras"][0]
    levels = [int(lv) for lv in (o.name.removesuffix(ASIDE).rsplit("_LOD", 1)[-1] for o in family["lods"])
              if lv.isdigit()]
    for obj in _objects(family):
        bpy.data.objects.remove(obj)
    for block in family["data"]:   # meshes before their materials before their images
        if block.users == int(block.use_fake_user):
            getattr(bpy.data, _COLLECTION_OF[type(block).__name__]).remove(block)
    if levels:
        lod_objects(head, levels, context)


def _into_old_collections(family: dict, new: dict, made_collection) -> None:
    """Each new object into the collections of the old object it replaces (else the old head's), out of the
    collection build_head made, which goes when empty."""
    for role in ("head", "rig", "hair"):
        _relink(new[role], family[role] or family["head"], made_collection)
    for k, cam in enumerate(new["cameras"]):
        _relink(cam, family["cameras"][k] if k < len(family["cameras"]) else family["head"], made_collection)
    if not made_collection.objects and not made_collection.children:
        bpy.data.collections.remove(made_collection)


def _relink(obj, like, made_collection) -> None:
    if obj is None:
        return
    for coll in like.users_collection:
        if obj.name not in coll.objects:
            coll.objects.link(obj)
    if obj.name in made_collection.objects and made_collection not in like.users_collection:
        made_collection.objects.unlink(obj)


def _reparent_children(family: dict, new: dict, context) -> None:
    """Objects of the user's parented to the old head, rig, hair or cameras go to their new counterparts,
    staying where they are (a bone parent keeps its bone)."""
    pairs = {family[r]: new[r] for r in ("head", "rig", "hair") if family[r] is not None and new[r] is not None}
    pairs.update(zip(family["cameras"], new["cameras"]))
    ours = set(_objects(family))
    for obj in bpy.data.objects:
        if obj.parent in pairs and obj not in ours:
            world = obj.matrix_world.copy()
            obj.parent = pairs[obj.parent]
            context.view_layer.update()
            obj.matrix_world = world


def _carry_animation(family: dict, new: dict) -> None:
    """The old head's animation on the new one: its shape-key action (keys by name, so a tracked
    performance plays on the refitted head), its rig's action, and the clip camera of Track Video."""
    old_head, head = family["head"], new["head"]
    old_keys, keys = old_head.data.shape_keys, head.data.shape_keys
    if old_keys and old_keys.animation_data and old_keys.animation_data.action and keys:
        keys.animation_data_create()
        keys.animation_data.action = old_keys.animation_data.action
        keys.animation_data.action_slot = old_keys.animation_data.action_slot
    rig, old_rig = new["rig"], family["rig"]
    if old_rig and rig and old_rig.animation_data and old_rig.animation_data.action:
        rig.animation_data_create()
        rig.animation_data.action = old_rig.animation_data.action
        rig.animation_data.action_slot = old_rig.animation_data.action_slot
    if old_head.get(schema.VIDEO_CAMERA):
        head[schema.VIDEO_CAMERA] = old_head[schema.VIDEO_CAMERA]
