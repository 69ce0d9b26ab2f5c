"""How exports for game engines lay out a head: four materials, no see-through shells, textures only.

ICT-FaceKit's head has 13 parts, some of them see-through shells drawn by a node graph (the cornea over the iris,
the tear film, the shadowing shells round the eye). Exporters carry neither the graph nor the layering, and a
game pays for every material, so exported meshes (``addon/export.py``) are game copies:

* **skin**: the face and the back of the head, with the photo texture and the detail normal map;
* **eyes**: both scleras with one opaque painted eye texture (:func:`headforge.core.eyes.eye_texture`); the iris
  meshes behind them are left out;
* **mouth**: gums and tongue, teeth and the mouth socket, each squeezed into its own band of a small flat-colour
  atlas (:func:`mouth_texture`, :func:`mouth_atlas_uv`);
* **lashes**: the lash cards with their strand texture and alpha (cut out, not blended).

Parts in none of these are not exported: the irises (painted into the eye texture) and the see-through shells
(tear film, eye blend, eye occlusion).
"""

from __future__ import annotations

import numpy as np

from .writers import PART_COLOURS

#: the exported materials, in slot order
GAME_MATERIALS = ("skin", "eyes", "mouth", "lashes")
#: ICT part -> exported material
GAME_PART_MATERIAL = {
    "M_Face": "skin", "M_BackHead": "skin",
    "M_ScleraLeft": "eyes", "M_ScleraRight": "eyes",
    "M_GumsTongue": "mouth", "M_Teeth": "mouth", "M_MouthSocket": "mouth",
    "M_EyeLashes": "lashes",
}
#: the mouth atlas's bands, left to right
MOUTH_PARTS = ("M_GumsTongue", "M_Teeth", "M_MouthSocket")
#: each part's UV island fills this middle fraction of its band (a margin so mip-maps do not bleed)
MOUTH_FILL = 0.8


def mouth_texture(size: int = 64) -> np.ndarray:
    """The mouth atlas, ``(size, size, 3)`` uint8 sRGB: one vertical band per part of :data:`MOUTH_PARTS` in
    that part's flat colour."""
    img = np.zeros((size, size, 3), np.uint8)
    edges = np.linspace(0, size, len(MOUTH_PARTS) + 1).round().astype(int)
    for part, x0, x1 in zip(MOUTH_PARTS, edges[:-1], edges[1:]):
        img[:, x0:x1] = np.round(np.asarray(PART_COLOURS[part]) * 255)
    return img


def mouth_atlas_uv(uv: np.ndarray, part: str) -> np.ndarray:
    """Part ``part``'s own UVs ``(L, 2)`` in [0, 1] moved into its band of :func:`mouth_texture`."""
    band = MOUTH_PARTS.index(part)
    margin = (1 - MOUTH_FILL) / 2
    out = margin + MOUTH_FILL * np.clip(np.asarray(uv, np.float64), 0, 1)
    out[:, 0] = (band + out[:, 0]) / len(MOUTH_PARTS)
    return out.astype(np.float32)
