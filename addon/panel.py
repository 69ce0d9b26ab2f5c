"""The Headforge tab of the 3D viewport's sidebar."""

from __future__ import annotations

import bpy

from . import schema
from .preferences import developer_tools
from .properties import CreateOptions


def _copy_options(settings, op) -> None:
    """Create Head's options from the scene settings into an operator that takes them."""
    for name in CreateOptions.names():
        setattr(op, name, getattr(settings, name))


class HEADFORGE_PT_main(bpy.types.Panel):
    bl_label = "Headforge"
    bl_idname = "HEADFORGE_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Headforge"

    def draw(self, context):
        s = context.scene.headforge
        col = self.layout.column()
        col.prop(s, "photo")
        for k, item in enumerate(s.more_photos):   # other photos of the same person
            r = col.row(align=True)
            r.prop(item, "path", text=f"Photo {k + 2}")
            r.prop(item, "face_index", text="")
            r.operator("headforge.remove_photo", text="", icon="X").index = k
        col.operator("headforge.add_photo", icon="ADD")
        row = col.row(align=True)
        row.prop(s, "face_index")
        row.prop(s, "texture_size", text="")
        if s.running:
            col.progress(factor=s.progress, text=s.status or "Working...")
            col.label(text="Press Esc in the viewport to cancel", icon="INFO")
        else:
            row = col.row(align=True)
            row.prop(s, "rig")
            row.prop(s, "arkit52")
            row = col.row(align=True)
            row.prop(s, "coarsenet")
            row.prop(s, "model_points")
            row = col.row(align=True)
            row.prop(s, "detail")
            row.prop(s, "skin_only")
            row = col.row(align=True)
            row.prop(s, "remove_light")
            row.prop(s, "hair")
            row = col.row(align=True)
            row.prop(s, "hair_style", text="")
            row.enabled = s.skin_only
            op = col.operator("headforge.create_head", icon="USER")
            op.filepath = s.photo
            for item in s.more_photos:
                new = op.more_photos.add()
                new.path, new.face_index = item.path, item.face_index
            _copy_options(s, op)
            if s.status:
                col.label(text=s.status)
        obj = context.active_object
        if obj is not None and (obj.get(schema.HEAD) or obj.get(schema.RIG)):
            box = self.layout.box()
            box.label(text=f"Selected: {obj.name}")
            r = box.row(align=True)
            add = r.operator("headforge.add_rig", icon="ARMATURE_DATA")
            add.arkit52 = s.arkit52
            r.enabled = not obj.get(schema.RIG)
            if obj.get(schema.RIG):  # a rigged head or its armature
                r = box.row(align=True)
                r.operator("headforge.set_pose", text="Photo Expression").pose = "PHOTO"
                r.operator("headforge.set_pose", text="Neutral").pose = "NEUTRAL"
                if obj.get(schema.HEAD) and not s.running:   # a performance from a clip
                    box.prop(s, "video")
                    r = box.row(align=True)
                    op = r.operator("headforge.track_video", icon="SEQUENCE")
                    op.filepath, op.jaw_bone = s.video, s.jaw_bone
                    r.prop(s, "jaw_bone", text="", icon="BONE_DATA")
            if obj.get(schema.HAIR_PARAMS) and not s.running:   # the hair in another style
                r = box.row(align=True)
                r.prop(s, "hair_style", text="")
                op = r.operator("headforge.restyle_hair", icon="CURVES")
                op.hair_style = s.hair_style
                op.length_cm, op.volume_cm, op.curl_cm = s.hair_length_cm, s.hair_volume_cm, s.hair_curl_cm
                r = box.row(align=True)
                r.prop(s, "hair_length_cm", text="Length")
                r.prop(s, "hair_volume_cm", text="Volume")
                r.prop(s, "hair_curl_cm", text="Curl")
            if schema.DETAIL_STRENGTH in obj:
                box.prop(obj, f'["{schema.DETAIL_STRENGTH}"]', text="Detail strength", slider=True)
                box.operator("headforge.detail_normal_map", icon="NORMALS_FACE",
                             depress=bool(obj.get(schema.DETAIL_NORMAL_MAP)))
            if obj.get(schema.PHOTOS) and not s.running:   # refit with another photo of the person
                box.prop(s, "add_photo", text="Photo")
                op = box.operator("headforge.add_photo_to_head", icon="IMAGE_DATA")
                op.photo = s.add_photo
                _copy_options(s, op)
            box.operator("headforge.export_head", icon="EXPORT")
            box.prop(s, "show_landmarks")


class HEADFORGE_PT_synth(bpy.types.Panel):
    bl_label = "Synthetic data"
    bl_idname = "HEADFORGE_PT_synth"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Headforge"
    bl_parent_id = "HEADFORGE_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context):
        return developer_tools(context)  # Preferences > Add-ons > Headforge > Developer tools

    def draw(self, context):
        col = self.layout.column()
        col.label(text="Preview the training-set generator")
        col.operator("headforge.synth_preview", icon="RENDER_STILL")
        col.label(text="Large sets: python -m headforge synth", icon="INFO")


def register():
    bpy.utils.register_class(HEADFORGE_PT_main)
    bpy.utils.register_class(HEADFORGE_PT_synth)


def unregister():
    bpy.utils.unregister_class(HEADFORGE_PT_synth)
    bpy.utils.unregister_class(HEADFORGE_PT_main)
