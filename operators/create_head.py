"""Create Head: photo -> fitted, textured head and a matching camera, as one undo step.

From the UI (``invoke``) the core pipeline runs in a worker thread while a timer-driven modal handler
shows progress; Esc cancels. From scripts and headless Blender (``execute``) it runs synchronously:
``bpy.ops.headforge.create_head(filepath="photo.jpg")``. Blender data is built on the main thread only.
Add Photo to Head does the same work from the photos a selected head was made from plus one more.
"""

from __future__ import annotations

import json
from pathlib import Path

import bpy

from ..addon import schema
from ..addon.properties import CreateOptions, HeadforgePhoto, photo_property
from .background import BackgroundOperator


class _CreateHead(BackgroundOperator, CreateOptions):
    """Create Head's work: the photo (and more of the person) into a new head. A mixin (a registered operator
    class cannot be subclassed in Blender), taken by Create Head and Add Photo to Head."""

    job = "Create Head"
    made_verb = "Created"   # in the report

    filepath: photo_property()
    more_photos: bpy.props.CollectionProperty(
        type=HeadforgePhoto, name="More Photos",
        description="Other photos of the same person: one head fitted to all of them (a camera for each)")
    name: bpy.props.StringProperty(name="Name", default="", description="Object name (default: the photo's name)")

    def _validate(self, context) -> str | None:
        if not self.filepath:
            return "Pick a photo first (Photo field in the Headforge panel)."
        for k, path in enumerate([self.filepath] + [item.path for item in self.more_photos]):
            if not path:
                return f"Photo {k + 1} is empty: pick a file, or remove it from the list."
            p = Path(bpy.path.abspath(path))
            if not p.exists():
                return f"The photo {str(p)!r} does not exist. Check the path."
            if p.is_dir():
                return f"{str(p)!r} is a folder; pick an image file."
        if self.hair_style != "photo" and not self.skin_only:
            return ("A chosen hair style takes the photo's hair colour, which Skin Only Texture finds: turn it on, "
                    "or set the hair style to Hair From Photo.")
        return None

    def _work(self, progress=None, should_stop=None):
        from ..addon.preferences import face_model_path
        from ..core import create_avatar

        avatar = create_avatar(bpy.path.abspath(self.filepath), face_index=self.face_index,
                               texture_size=int(self.texture_size), model_path=face_model_path(),
                               coarsenet=None if self.coarsenet else False,
                               landmarknet=None if self.model_points else False,
                               detail=None if self.detail else False,
                               segmentation=None if self.skin_only else False, delight=self.remove_light,
                               hair_style=self.hair_style,
                               progress=progress,
                               should_stop=should_stop,
                               more_photos=[(bpy.path.abspath(item.path), item.face_index)
                                            for item in self.more_photos])
        avatar.detail_normal_map()  # made here, off the main thread, for the head's normal-map switch
        return avatar

    def _build(self, context, avatar):
        from ..addon.build import build_head
        from ..addon.stage import needs_stage, stage_head

        name = self.name or Path(self.filepath).stem or "Head"
        unlit = needs_stage(context.scene)
        made = build_head(avatar, context, name=name, hair=self.hair)
        if unlit:  # a scene nobody has lit gets the portrait stage; an artist's own lighting is left alone
            stage_head(made["head"], made["camera"], context.scene, made["collection"])
        if self.rig:
            from ..addon.rig import add_rig

            made["rig"] = add_rig(made["head"], avatar.model, context, arkit=self.arkit52, avatar=avatar)
        for o in context.view_layer.objects:
            o.select_set(False)
        made["head"].select_set(True)
        context.view_layer.objects.active = made["head"]
        self.report({"INFO"}, f"{self.made_verb} {made['head'].name} (landmark error {avatar.nme68:.2f} % of eye distance, "
                              f"{avatar.timings['total']:.1f} s); camera {made['camera'].name} matches the photo"
                              + (f"; fitted to {len(avatar.others)} more photos, a camera each"
                                 if avatar.others else ""))
        if avatar.quality is not None and not avatar.quality.ok:
            self.report({"WARNING"}, f"{made['head'].name} is doubtful: {'; '.join(avatar.quality.reasons)}.")
        return made


class HEADFORGE_OT_create_head(_CreateHead, bpy.types.Operator):
    """Turn a photo of a person into a fitted, textured 3D head with a camera that matches the photo"""

    bl_idname = "headforge.create_head"
    bl_label = "Create Head"
    bl_options = {"REGISTER", "UNDO"}


class HEADFORGE_OT_add_photo_to_head(_CreateHead, bpy.types.Operator):
    """Refit the selected head with another photo of the person: fitted again to all its photos and this one,
    re-textured from every photo, it keeps its place, name, rig, LODs, animation and what is parented to it
    (Ctrl-Z brings back the head as it was)"""

    bl_idname = "headforge.add_photo_to_head"
    bl_label = "Add Photo to Head"
    bl_options = {"REGISTER", "UNDO"}
    job = "Add Photo to Head"
    made_verb = "Refitted"

    photo: photo_property()
    head: bpy.props.StringProperty(name="Head", default="", options={"HIDDEN", "SKIP_SAVE"},
                                   description="The head to refit (default: the active object)")

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return obj is not None and bool(obj.get(schema.PHOTOS))

    def _validate(self, context) -> str | None:
        head = bpy.data.objects.get(self.head) if self.head else context.active_object
        if head is None or not head.get(schema.PHOTOS):
            return f"{self.head or 'The active object'} is not a head made by Headforge from photos; select one."
        photos = json.loads(head.get(schema.PHOTOS, "[]"))
        if not photos or any(not path for path, _ in photos):
            return (f"{head.name} was made from a photo in memory, not from files; create it again from the photo "
                    "files with Create Head.")
        if not self.photo:
            return "Pick the photo to add (Photo field under the selected head)."
        (self.filepath, self.face_index), self.name, self.head = photos[0], head.name, head.name
        self.rig = self.rig or bool(head.get(schema.RIG))   # the refitted head is rigged as the head was
        self.arkit52 = head.get(schema.KEYS, "arkit52" if self.arkit52 else "ict53") == "arkit52"
        self.more_photos.clear()
        for path, index in photos[1:] + [[self.photo, 0]]:
            item = self.more_photos.add()
            item.path, item.face_index = path, index
        return super()._validate(context)

    def _build(self, context, avatar):
        from ..addon.refit import put_back, set_aside, take_place

        old = bpy.data.objects.get(self.head)
        if old is None or not old.get(schema.HEAD):   # deleted while the fit ran: the refit is a new head
            self.report({"WARNING"}, f"{self.head} is gone; the refitted head is a new head.")
            return super()._build(context, avatar)
        family = set_aside(old)
        try:
            made = super()._build(context, avatar)
            take_place(family, made, context)
        except Exception:
            put_back(family)
            raise
        return made


class HEADFORGE_OT_add_photo(bpy.types.Operator):
    """Add another photo of the same person: Create Head fits one head to all the photos"""

    bl_idname = "headforge.add_photo"
    bl_label = "Add Photo of This Person"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        context.scene.headforge.more_photos.add()
        return {"FINISHED"}


class HEADFORGE_OT_remove_photo(bpy.types.Operator):
    """Remove this photo from the list"""

    bl_idname = "headforge.remove_photo"
    bl_label = "Remove Photo"
    bl_options = {"REGISTER", "UNDO"}

    index: bpy.props.IntProperty(min=0)

    def execute(self, context):
        photos = context.scene.headforge.more_photos
        if self.index >= len(photos):
            return {"CANCELLED"}
        photos.remove(self.index)
        return {"FINISHED"}


CLASSES = (HEADFORGE_OT_create_head, HEADFORGE_OT_add_photo_to_head, HEADFORGE_OT_add_photo, HEADFORGE_OT_remove_photo)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
