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
INITIALIZER = "headforge_initializer"    #: where the fit started: "coarsenet" or "mean face"
CAMERA = "headforge_camera"              #: the name of the camera object that sees the head as the photo

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
LOD_OF = "headforge_lod_of"  #: on a LOD object: the name of its full head
