"""Operators on a selected head: Add Rig, Set Pose, Restyle Hair, Export Head (thin: validate, call addon/
builders, report errors)."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..addon import schema
from ..addon.properties import HAIR_STYLE_ITEMS, hair_measure_property
from ..core.errors import HeadforgeError


def _model(context):
    from ..addon.preferences import face_model_path
    from ..core import load_face_model

    return load_face_model(face_model_path(context))


def _head_of(obj):
    """The selected head, also when its rig or one of its LODs is selected."""
    if obj is None:
        return None
    if obj.type == "ARMATURE":
        kids = [c for c in obj.children if c.get(schema.HEAD) and not c.get(schema.LOD_OF)]
        return kids[0] if kids else obj
    if obj.get(schema.LOD_OF):
        return bpy.data.objects.get(obj[schema.LOD_OF], obj)
    return obj


class HEADFORGE_OT_add_rig(bpy.types.Operator):
    """Add ARKit-named expression shape keys, a jaw/eye/head/neck armature and weights to the selected head"""

    bl_idname = "headforge.add_rig"
    bl_label = "Add Rig"
    bl_options = {"REGISTER", "UNDO"}

    arkit52: bpy.props.BoolProperty(name="ARKit 52", default=False,
                                    description="Name and merge the shape keys as Apple's 52 ARKit blendshapes")

    def execute(self, context):
        from ..addon.rig import add_rig

        try:
            head = _head_of(context.active_object)
            arm = add_rig(head, _model(context), context, arkit=self.arkit52)
        except HeadforgeError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        n = len(head.data.shape_keys.key_blocks) - 1
        self.report({"INFO"}, f"Rigged {head.name}: {n} shape keys, armature {arm.name}")
        return {"FINISHED"}


class HEADFORGE_OT_set_pose(bpy.types.Operator):
    """Set the selected rigged head's expression shape keys (and its LODs') to the photo's expression or to neutral"""

    bl_idname = "headforge.set_pose"
    bl_label = "Set Pose"
    bl_options = {"REGISTER", "UNDO"}

    pose: bpy.props.EnumProperty(
        name="Pose", default="PHOTO",
        items=[("PHOTO", "Photo Expression", "The expression fitted to the photo"),
               ("NEUTRAL", "Neutral", "Every shape key at 0: the rest pose that exports have")])

    def execute(self, context):
        from ..addon.rig import set_pose

        try:
            head = _head_of(context.active_object)
            set_pose(head, self.pose)
        except HeadforgeError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"{head.name}: {'photo expression' if self.pose == 'PHOTO' else 'neutral'}")
        return {"FINISHED"}


class HEADFORGE_OT_export_head(bpy.types.Operator):
    """Export the selected head (with its rig and LODs) as glTF binary or FBX"""

    bl_idname = "headforge.export_head"
    bl_label = "Export Head"
    bl_options = {"REGISTER"}

    filepath: bpy.props.StringProperty(name="File", subtype="FILE_PATH", description="The file to write")
    format: bpy.props.EnumProperty(
        name="Format", default="glb",
        items=[("glb", "glTF binary (.glb)", "One file with textures, for web viewers, Godot, Unity (glTFast)"),
               ("fbx", "FBX (.fbx)", "Textures embedded, centimetres, for Unreal and Unity")])
    lod0: bpy.props.BoolProperty(name="LOD0", default=True, description="The full head (26,719 vertices)")
    lod1: bpy.props.BoolProperty(name="LOD1 (~10K vertices)", default=False,
                                 description="A lighter copy for mid distance, with the same shape keys and rig")
    lod2: bpy.props.BoolProperty(name="LOD2 (~3K vertices)", default=False,
                                 description="The lightest copy, for far away or crowds")
    overwrite: bpy.props.BoolProperty(name="Overwrite", default=False,
                                      description="Replace the file if it exists")
    animation: bpy.props.BoolProperty(name="Animation", default=False,
                                      description="Also the head's performance (Track Video's action: shape-key "
                                                  "weights and the head bone over the scene's frame range); off: "
                                                  "the rest pose alone")
    filter_glob: bpy.props.StringProperty(default="*.glb;*.fbx", options={"HIDDEN"})

    def invoke(self, context, event):
        head = _head_of(context.active_object)
        if not self.filepath:
            stem = bpy.path.clean_name(head.name) if head else "head"
            self.filepath = str(Path(bpy.path.abspath("//") or Path.home()) / f"{stem}.{self.format}")
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        from ..addon.export import export_head

        lods = [i for i, on in enumerate((self.lod0, self.lod1, self.lod2)) if on]
        if not lods:
            self.report({"ERROR"}, "Pick at least one LOD to export.")
            return {"CANCELLED"}
        path = self.filepath
        if not path:
            self.report({"ERROR"}, "Choose a file to export to.")
            return {"CANCELLED"}
        if not path.lower().endswith("." + self.format):
            path += "." + self.format
        try:
            out = export_head(_head_of(context.active_object), path, self.format, lods, self.overwrite, context,
                              get_model=lambda: _model(context), animation=self.animation)
        except HeadforgeError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Exported {out}")
        return {"FINISHED"}


class HEADFORGE_OT_detail_normal_map(bpy.types.Operator):
    """Switch the fine detail between true displacement and a baked tangent-space normal map (game engines)"""

    bl_idname = "headforge.detail_normal_map"
    bl_label = "Detail as Normal Map"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from ..addon.detail import use_normal_map
        from ..addon.rig import check_head

        head = _head_of(context.active_object)
        try:
            check_head(head)
            if schema.DETAIL_STRENGTH not in head:
                raise HeadforgeError(f"{head.name!r} has no fine detail to turn into a normal map.")
        except HeadforgeError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        on = not head.get(schema.DETAIL_NORMAL_MAP, False)
        try:
            use_normal_map(head, on, lambda: _model(context))
        except HeadforgeError as e:  # no face model to bake with
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, "Detail as a normal map" if on else "Detail as displacement")
        return {"FINISHED"}


class HEADFORGE_OT_restyle_hair(bpy.types.Operator):
    """Grow the selected head's hair again in another style, in the photo's hair colour (bald removes it)"""

    bl_idname = "headforge.restyle_hair"
    bl_label = "Restyle Hair"
    bl_options = {"REGISTER", "UNDO"}

    hair_style: bpy.props.EnumProperty(name="Hair Style", default="photo", items=HAIR_STYLE_ITEMS,
                                       description="The style to grow")
    length_cm: hair_measure_property("length_cm")
    volume_cm: hair_measure_property("volume_cm")
    curl_cm: hair_measure_property("curl_cm")

    def execute(self, context):
        from ..addon.hair import restyle_hair

        try:
            head = _head_of(context.active_object)
            obj = restyle_hair(head, self.hair_style, _model(context), context, length_cm=self.length_cm or None,
                               volume_cm=self.volume_cm or None, curl_cm=self.curl_cm or None)
        except HeadforgeError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"{head.name}: " + (f"hair {obj.name} regrown" if obj else "no hair (bald)"))
        return {"FINISHED"}


CLASSES = (HEADFORGE_OT_add_rig, HEADFORGE_OT_set_pose, HEADFORGE_OT_restyle_hair, HEADFORGE_OT_export_head,
           HEADFORGE_OT_detail_normal_map)


def register():
    for c in CLASSES:
        bpy.utils.register_class(c)


def unregister():
    for c in reversed(CLASSES):
        bpy.utils.unregister_class(c)
