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
            op = col.operator("headforge.create_head", icon="USER")
            op.filepath = s.photo
            op.face_index = s.face_index
            op.texture_size = s.texture_size
            if s.status:
                col.label(text=s.status)


def register():
    bpy.utils.register_class(HEADFORGE_PT_main)


def unregister():
    bpy.utils.unregister_class(HEADFORGE_PT_main)
