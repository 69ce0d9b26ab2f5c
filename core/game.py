"""How exports for game engines lay out a head: four materials, no see-through shells, textures only.

ICT-FaceKit's head has 13 parts, some of them see-through shells drawn by a node graph (the cornea over the iris,
the tear film, the shadowing shells round the eye). Exporters carry neither the graph nor the layering, and a
game pays for every material, so exported meshes (``addon/export.py``) are game copies:

* **skin**: the face and the back of the head, with the photo texture and the detail normal map;
* **eyes**: both scleras with one opaque painted eye texture (:func:`headforge.core.eyes.eye_texture`); the iris
  meshes behind them are left out;
* **mouth**: gums and tongue, teeth and the mouth socket, each squeezed into its own band of a small flat-colour
  atlas (:func:`mouth_texture`, :func:`mouth_atlas_uv`);
* **lashes**: the lash cards with their strand texture and alpha (cut out, not blended); on a head with hair, also
  a hair cap: the scalp's faces again, ``HAIR_CAP_OFFSET_CM`` out, in the hair's colour, cut out along the
  hairline (:func:`hair_cap_texture`). Lashes and cap share one texture, side by side (:func:`lash_hair_atlas`,
  :func:`atlas_half_uv`), so a game head with hair still has four materials.

Parts in none of these are not exported: the irises (painted into the eye texture) and the see-through shells
(tear film, eye blend, eye occlusion).
"""

from __future__ import annotations

import numpy as np

from .writers import PART_COLOURS

#: how far out from the scalp the exported hair cap lies, and which skin faces get one (the scalp mask,
#: ``core.hair.scalp_mask``, over this at one of their corners)
HAIR_CAP_OFFSET_CM = 0.5
HAIR_CAP_MIN_SCALP = 0.3

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


def hair_cap_texture(scalp: np.ndarray, srgb, seed: int = 0) -> np.ndarray:
    """The hair cap's texture in the skin atlas's layout, ``(S, S, 4)`` uint8 RGBA (sRGB, straight alpha):
    the hair's colour ``srgb`` with a fine shade of strands, opaque where the scalp mask ``scalp`` ``(S, S)``
    is over 0.5, the hairline broken up by the same noise (exporters cut the alpha at 0.5)."""
    import cv2

    size = scalp.shape[0]
    r = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(r.normal(0.0, 1.0, (size, size)).astype(np.float32), (0, 0), 0.7)
    noise /= noise.std()
    rgb = np.asarray(srgb, np.float32)[None, None] * np.clip(1 + 0.12 * noise, 0.7, 1.3)[:, :, None]
    alpha = np.clip((scalp - 0.5) * 3 + 0.5 + 0.15 * noise, 0, 1)
    return np.dstack([np.clip(rgb, 0, 255), alpha * 255]).round().astype(np.uint8)


def lash_hair_atlas(lashes: np.ndarray, hair: np.ndarray) -> np.ndarray:
    """The lashes' RGBA texture ``(S, S, 4)`` on the left and the hair cap's (resampled to ``S``) on the right:
    ``(S, 2S, 4)`` uint8."""
    import cv2

    size = lashes.shape[0]
    return np.hstack([lashes, cv2.resize(hair, (size, size), interpolation=cv2.INTER_AREA)])


def atlas_half_uv(uv: np.ndarray, right: bool) -> np.ndarray:
    """UVs ``(L, 2)`` of a whole square moved into the left or right half of :func:`lash_hair_atlas`."""
    out = np.asarray(uv, np.float32).copy()
    out[:, 0] = out[:, 0] * 0.5 + (0.5 if right else 0.0)
    return out
