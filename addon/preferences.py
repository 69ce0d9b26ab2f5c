"""Add-on preferences: where the face model lives, and the developer tools switch."""

from __future__ import annotations

import bpy

from ..core import config

#: the add-on's module name: "headforge" from pip, "bl_ext.<repo>.headforge" as an extension
ADDON_ID = __package__.rpartition(".")[0]


def developer_tools(context=None) -> bool:
    """Whether the developer tools (the synthetic-data panel) are switched on in the preferences."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return bool(addon is not None and addon.preferences.developer)


def face_model_path(context=None) -> str | None:
    """The preference's face model path, or None (then $HEADFORGE_FACE_MODEL, the bundled model or ../shared
    apply)."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    if addon is None or not addon.preferences.face_model_path:
        return None
    return bpy.path.abspath(addon.preferences.face_model_path)


class HeadforgePreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    face_model_path: bpy.props.StringProperty(
        name="Face model", subtype="FILE_PATH",
        description="ICT-FaceKit FaceXModel.tar.xz or extracted FaceXModel folder "
                    f"(empty: ${config.FACE_MODEL_ENV}, else the one bundled with the extension)")
    developer: bpy.props.BoolProperty(
        name="Developer tools", default=False,
        description="Show the synthetic training-data panel (for people training Headforge's networks)")

    def draw(self, context):
        col = self.layout.column()
        col.prop(self, "face_model_path")
        col.prop(self, "developer")
        found = config.face_model_path(self.face_model_path or None)
        if found is None:
            col.label(text="No face model found: download ICT-FaceKit (MIT) and point to FaceXModel.", icon="ERROR")
        else:
            col.label(text=f"Using {found}", icon="CHECKMARK" if found.exists() else "ERROR")


def register():
    bpy.utils.register_class(HeadforgePreferences)


def unregister():
    bpy.utils.unregister_class(HeadforgePreferences)
