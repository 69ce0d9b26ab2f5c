"""Scene settings shown in the panel, and the running job's status."""

from __future__ import annotations

import bpy

from ..core.hair import LENGTH_CM
from ..core.hairstyle import CURL_CM, HAIR_STYLES, VOLUME_CM

TEXTURE_SIZES = [("1024", "1024", "1024 x 1024 texture"), ("2048", "2048", "2048 x 2048 texture (default)"),
                 ("4096", "4096", "4096 x 4096 texture")]
#: the hair styles (``core.hairstyle.HAIR_STYLES``), as the panel names and explains them
_HAIR_STYLE_LABELS = {
    "photo": ("Hair From Photo", "The style the photo shows: bald, short, medium or long, with or without a fringe"),
    "bald": ("Bald", "No hair"),
    "short": ("Short Hair", "Short hair, about 4 cm"),
    "medium": ("Medium Hair", "Hair to about the chin (the photo's length when it shows medium hair)"),
    "long": ("Long Hair", "Hair past the shoulders (the photo's length when it shows long hair)"),
    "ponytail": ("Ponytail", "Hair combed back and tied in a ponytail"),
    "bun": ("Bun", "Hair combed back and gathered in a bun"),
}
HAIR_STYLE_ITEMS = [(k, *_HAIR_STYLE_LABELS[k]) for k in HAIR_STYLES]


def photo_property():
    return bpy.props.StringProperty(name="Photo", subtype="FILE_PATH",
                                    description="Photo of one person's face (JPEG, PNG, TIFF)")


#: Restyle Hair's length, volume and curl: (label, most the generator takes (cm), what it does; 0: as the style has it)
_HAIR_MEASURES = {
    "length_cm": ("Length (cm)", LENGTH_CM["long"][1],
                  "how long the hair is, within its style's class (0: the style's own length, or the photo's)"),
    "volume_cm": ("Volume (cm)", VOLUME_CM[1], "how far the hair stands out from the scalp (0: as the photo shows it)"),
    "curl_cm": ("Curl (cm)", CURL_CM[1], "how curly the hair is, the size of its curls (0: straight)"),
}


def hair_measure_property(key: str):
    """Restyle Hair's ``key`` ("length_cm", "volume_cm" or "curl_cm"), as the panel's settings and the operator
    both hold it, up to what ``core.hairstyle.PhotoHair.adjusted`` takes."""
    name, most, what = _HAIR_MEASURES[key]
    return bpy.props.FloatProperty(name=name, default=0.0, min=0.0, max=most, description=f"Restyle Hair: {what}")


class HeadforgePhoto(bpy.types.PropertyGroup):
    """One more photo of the person (Create Head fits one head to the photo and all of these)."""

    path: photo_property()
    face_index: bpy.props.IntProperty(name="Face", min=0, default=0,
                                      description="Which face in this photo when it has several (0 = the largest)")


class CreateOptions:
    """The options of Create Head, defined once: the panel's scene settings (:class:`HeadforgeSettings`) and the
    operator both inherit them (Blender registers a mixin's property annotations for each class that takes it,
    as with ``ImportHelper``); the photo is the settings' ``photo`` and the operator's ``filepath``."""

    face_index: bpy.props.IntProperty(name="Face", min=0, default=0,
                                      description="Which face when the photo has several (0 = the largest)")
    texture_size: bpy.props.EnumProperty(name="Texture", items=TEXTURE_SIZES, default="2048",
                                         description="Size of the skin texture baked from the photo")
    rig: bpy.props.BoolProperty(name="Add Rig", default=False,
                                description="Add expression shape keys and an armature when the head is created")
    arkit52: bpy.props.BoolProperty(name="ARKit 52", default=False,
                                    description="With Add Rig: name and merge the shape keys as Apple's 52 ARKit "
                                                "blendshapes")
    coarsenet: bpy.props.BoolProperty(
        name="Predict Shape First", default=True,
        description="Start fitting from a neural network's estimate of this face's shape, steadied by a "
                    "face-recognition network that knows who the person is (off: from the average face)")
    model_points: bpy.props.BoolProperty(
        name="Model Landmarks", default=True,
        description="Fit the jaw to the head's outline and weigh each landmark by how sure a network trained on "
                    "synthetic faces is of it (off: MediaPipe's points and face oval as detected)")
    detail: bpy.props.BoolProperty(name="Skin Detail", default=True,
                                   description="Add the skin's relief as displacement: folds and wrinkles from the "
                                               "photo's shading, finer detail from a network")
    skin_only: bpy.props.BoolProperty(
        name="Skin Only Texture", default=True,
        description="Leave hair, beards, glasses and things in front of the face out of the texture and fill the "
                    "skin under them (off: paint every pixel of the face from the photo, and read no hair)")
    remove_light: bpy.props.BoolProperty(
        name="Remove Photo Light", default=True,
        description="Take the photo's light and shadow off the skin texture, so the head looks right under any "
                    "light (off: bake them in, as the photo shows them)")
    hair: bpy.props.BoolProperty(
        name="Hair", default=True,
        description="Grow hair curves in the style and colour of the photo's hair (not exported: engines take no "
                    "curves)")
    hair_style: bpy.props.EnumProperty(
        name="Hair Style", default="photo", items=HAIR_STYLE_ITEMS,
        description="The hair's style: as the photo shows it, or one you choose, in the photo's hair colour "
                    "(needs Skin Only Texture, which finds the hair)")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The shared options' property names (the panel copies them from the settings into the operator)."""
        return tuple(cls.__annotations__)


class HeadforgeSettings(CreateOptions, bpy.types.PropertyGroup):
    photo: photo_property()
    more_photos: bpy.props.CollectionProperty(
        type=HeadforgePhoto, name="More Photos",
        description="Other photos of the same person: one head is fitted to all of them and its texture blends "
                    "every photo in")
    add_photo: photo_property()
    hair_length_cm: hair_measure_property("length_cm")
    hair_volume_cm: hair_measure_property("volume_cm")
    hair_curl_cm: hair_measure_property("curl_cm")
    video: bpy.props.StringProperty(name="Video", subtype="FILE_PATH",
                                    description="A clip of the person's face for Track Video (mp4, mov, avi, ...)")
    jaw_bone: bpy.props.BoolProperty(
        name="Jaw by Bone", default=False,
        description="Track Video opens the mouth with the jaw bone instead of the jawOpen shape key (for engines "
                    "that drive a jaw by its bone)")
    show_landmarks: bpy.props.BoolProperty(
        name="Show Landmarks", default=True,
        description="Looking through a head's photo camera, draw the landmarks found in the photo (green) and the "
                    "fitted head's (orange)")
    # status of the running job (read by the panel)
    status: bpy.props.StringProperty(name="Status", default="")
    progress: bpy.props.FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR", default=0.0)
    running: bpy.props.BoolProperty(default=False)


def register():
    bpy.utils.register_class(HeadforgePhoto)
    bpy.utils.register_class(HeadforgeSettings)
    bpy.types.Scene.headforge = bpy.props.PointerProperty(type=HeadforgeSettings)


def unregister():
    del bpy.types.Scene.headforge
    bpy.utils.unregister_class(HeadforgeSettings)
    bpy.utils.unregister_class(HeadforgePhoto)
