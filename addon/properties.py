"""Scene settings shown in the panel, and the running job's status."""

from __future__ import annotations

import bpy

TEXTURE_SIZES = [("1024", "1024", "1024 x 1024 texture"), ("2048", "2048", "2048 x 2048 texture (default)"),
                 ("4096", "4096", "4096 x 4096 texture")]


class HeadforgeSettings(bpy.types.PropertyGroup):
    photo: bpy.props.StringProperty(name="Photo", subtype="FILE_PATH",
                                    description="Photo of one person's face (JPEG, PNG, TIFF)")
    face_index: bpy.props.IntProperty(name="Face", min=0, default=0,
                                      description="Which face when the photo has several (0 = largest)")
    texture_size: bpy.props.EnumProperty(name="Texture", items=TEXTURE_SIZES, default="2048",
                                         description="Size of the baked skin texture")
    rig: bpy.props.BoolProperty(name="Add Rig", default=False,
                                description="Add expression shape keys and an armature when the head is created")
    arkit52: bpy.props.BoolProperty(name="ARKit 52", default=False,
                                    description="Name and merge shape keys as Apple's 52 ARKit blendshapes")
    coarsenet: bpy.props.BoolProperty(
        name="Predict Shape First", default=True,
        description="Start fitting from a neural network's estimate of this face's shape (off: from the average "
                    "face)")
    detail: bpy.props.BoolProperty(name="Skin Detail", default=True,
                                   description="Add fine skin detail (wrinkles, pores) estimated from the photo, "
                                               "as displacement")
    show_landmarks: bpy.props.BoolProperty(
        name="Show Landmarks", default=True,
        description="Looking through a head's photo camera, draw the landmarks found in the photo (green) and the "
                    "fitted head's (orange)")
    # status of the running job (read by the panel)
    status: bpy.props.StringProperty(name="Status", default="")
    progress: bpy.props.FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR", default=0.0)
    running: bpy.props.BoolProperty(default=False)


def register():
    bpy.utils.register_class(HeadforgeSettings)
    bpy.types.Scene.headforge = bpy.props.PointerProperty(type=HeadforgeSettings)


def unregister():
    del bpy.types.Scene.headforge
    bpy.utils.unregister_class(HeadforgeSettings)
