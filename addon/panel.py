"""The Headforge tab of the 3D viewport's sidebar."""

from __future__ import annotations

import bpy


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
            op = col.operator("headforge.create_head", icon="USER")
            op.filepath = s.photo
            op.face_index = s.face_index
            op.texture_size = s.texture_size
            op.rig = s.rig
            op.arkit52 = s.arkit52
            if s.status:
                col.label(text=s.status)
        obj = context.active_object
        if obj is not None and (obj.get("headforge") or obj.get("headforge_rig")):
            box = self.layout.box()
            box.label(text=f"Selected: {obj.name}")
            r = box.row(align=True)
            add = r.operator("headforge.add_rig", icon="ARMATURE_DATA")
            add.arkit52 = s.arkit52
            r.enabled = not obj.get("headforge_rig")
            box.operator("headforge.export_head", icon="EXPORT")


def register():
    bpy.utils.register_class(HEADFORGE_PT_main)


def unregister():
    bpy.utils.unregister_class(HEADFORGE_PT_main)
