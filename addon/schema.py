"""The names Headforge gives to what it stores on Blender objects, defined once.

A head made by Create Head (or ``headforge create``) is a mesh object with these custom properties; the rig,
detail, export and panel code read them by these names only. This module imports nothing from Blender, so
the CLI and tests can use the names too.
"""

from __future__ import annotations

# ---- on every head ---------------------------------------------------------------------------------
HEAD = "headforge"                       #: 1: made by Headforge (with ICT-FaceKit topology)
IDENTITY = "headforge_identity"          #: the fitted identity coefficients (list of floats)
EXPRESSION = "headforge_expression"      #: the photo's ICT expression weights (list of floats)
IMAGE = "headforge_image"                #: the photo's path ("" when it came from memory)
#: JSON: every photo the head was fitted to, ``[[path, face index], ...]``, the first photo first ("" paths:
#: from memory); Add Photo to Head refits from them
PHOTOS = "headforge_photos"
INITIALIZER = "headforge_initializer"    #: where the fit started: "coarsenet+descriptor", "coarsenet" or "mean face"
CAMERA = "headforge_camera"              #: the name of the camera object that sees the head as the photo
VIDEO_CAMERA = "headforge_video_camera"  #: the camera of the last tracked clip (Track Video), animated
IRIS_SRGB = "headforge_iris_srgb"        #: the iris colour measured in the photo, 3 ints 0-255 (sRGB)
PARTS = "headforge_parts"                #: the ICT part of each material slot, in slot order
HAIR = "headforge_hair"                  #: on a head: the name of its hair curves object
HAIR_OF = "headforge_hair_of"            #: on a hair object: the name of its head
HAIR_SRGB = "headforge_hair_srgb"        #: the hair's colour read from the photo, 3 ints 0-255 (sRGB): exports
                                         #: get a hair cap in it (absent: no hair, no cap)
HAIR_RECESSION_CM = "headforge_hair_recession_cm"  #: how far the hairline recedes (cm): the hair cap's follows it
#: JSON: the hair as ``fit.json`` has it (``core.hairstyle.PhotoHair.to_dict``, the photo's own reading in
#: ``read`` when a style was chosen): Restyle Hair grows it again in another style
HAIR_PARAMS = "headforge_hair_params"
ALBEDO_NODE = "Headforge Albedo"         #: the image node of the photo texture in the skin material

# ---- on the photo camera: the fit's 68 landmarks, for the viewport overlay (addon/overlay.py) --------
LANDMARKS_DETECTED = "headforge_landmarks_detected"  #: 68 x 2 photo pixels, flattened
LANDMARKS_FITTED = "headforge_landmarks_fitted"      #: 68 x 2 photo pixels of the fitted head, flattened
PHOTO_SIZE = "headforge_photo_size"                  #: [width, height] pixels

# ---- fine detail (heads made with FineNet's displacement) ------------------------------------------
DETAIL_STRENGTH = "headforge_detail_strength"  #: the panel's slider; drives the Displace modifier
DETAIL_RANGE = "headforge_detail_range_cm"     #: [lo, hi] cm of the 16-bit displacement image
DETAIL_NORMAL_MAP = "headforge_detail_normal_map"  #: True while detail shows as a normal map
DETAIL_MODIFIER = "Detail"                     #: the Displace modifier
DETAIL_SUBDIVISION = "Detail subdivision"      #: the Subdivision modifier under it
DETAIL_NORMAL_NODE = "Headforge detail normal"  #: the Normal Map node in the skin material


def detail_normal_image(head_name: str) -> str:
    """The name of the head's baked detail normal-map image."""
    return f"{head_name} detail normal"


# ---- rig and LODs ----------------------------------------------------------------------------------
KEYS = "headforge_keys"    #: which shape keys: "ict53" or "arkit52"
RIG = "headforge_rig"      #: on a head: its armature's name; on the armature: 1
#: on a rigged head (and on every exported mesh): the photo's expression as {shape-key name: value}, a named
#: pose to apply; exports rest at neutral (all shape-key values 0)
PHOTO_POSE = "headforge_photo_pose"
LOD_OF = "headforge_lod_of"  #: on a LOD object: the name of its full head
