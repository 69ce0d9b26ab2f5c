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
  hairline (:func:`hair_cap_texture`), and hair cards over it: ribbons along some of the hair's strands, as
  long as the hair, with a texture of strands (:func:`hair_cards`, :func:`hair_card_texture`). Lashes, cap and
  cards share one texture, side by side (:func:`lash_hair_atlas`, :func:`atlas_panel_uv`), so a game head with
  hair still has four materials.

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
#: the exported hair cards, per LOD (0, 1, 2): how many of the hair's strands become cards (spread evenly over
#: the scalp) and how many points each keeps. A card is ``HAIR_CARD_WIDTH_CM`` wide at its root and tip with the
#: LOD0 count, wider by the square root of the count's fall at the other LODs, and stands
#: ``HAIR_CARD_LIFT_CM`` further out from the head than its strand (over the cap, from its root's 0 on)
HAIR_CARDS = ((1200, 8), (500, 6), (200, 4))
HAIR_CARD_WIDTH_CM = (1.0, 0.5)
HAIR_CARD_LIFT_CM = (0.1, 0.4)
#: the panels of the lash/hair texture (:func:`lash_hair_atlas`), left to right, and how many clumps of strands
#: the cards' panel has (each card shows one)
HAIR_ATLAS = ("lashes", "cap", "cards")
HAIR_CARD_CLUMPS = 4

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


def hair_card_texture(srgb, size: int = 256, seed: int = 0) -> np.ndarray:
    """The hair cards' texture, ``(size, size, 4)`` uint8 RGBA (sRGB, straight alpha): :data:`HAIR_CARD_CLUMPS`
    clumps of strands side by side, roots at the top, each strand a line in the hair's colour ``srgb`` a little
    lighter or darker than the next, gathered towards its clump's middle (where they cover it, so that the mip
    levels an engine draws at a distance keep the card's middle above the 0.5 alpha cut), each ending somewhere in
    the last tenth of the way down (ragged tips); clear at the clump's edges (exporters cut the alpha at 0.5)."""
    r = np.random.default_rng(seed)
    rgba = np.zeros((size, size, 4), np.float32)
    width = size / HAIR_CARD_CLUMPS
    strand = max(2, round(size / 128))
    per_clump = round(1.2 * width / strand)
    for c in range(HAIR_CARD_CLUMPS):
        xs = c * width + np.clip(r.normal(0.5, 0.2, per_clump), 0.06, 0.94) * width - strand / 2
        order = np.argsort(r.random(per_clump))   # later strands lie over earlier ones
        for x, end, shade in zip(xs[order], r.uniform(0.9, 1.0, per_clump), r.uniform(0.7, 1.25, per_clump)):
            cols = slice(int(round(x)), min(int(round(x)) + strand, size))
            rows = slice(0, int(end * size))
            rgba[rows, cols, :3] = np.asarray(srgb, np.float32) * shade
            rgba[rows, cols, 3] = 255.0
    return np.clip(rgba, 0, 255).round().astype(np.uint8)


def lash_hair_atlas(lashes: np.ndarray, cap: np.ndarray, cards: np.ndarray) -> np.ndarray:
    """The lashes' RGBA texture ``(S, S, 4)``, the hair cap's and the hair cards' (each resampled to ``S``) side
    by side in the order of :data:`HAIR_ATLAS`: ``(S, 3S, 4)`` uint8."""
    import cv2

    size = lashes.shape[0]
    return np.hstack([lashes] + [cv2.resize(x, (size, size), interpolation=cv2.INTER_AREA) for x in (cap, cards)])


def atlas_panel_uv(uv: np.ndarray, panel: str) -> np.ndarray:
    """UVs ``(L, 2)`` of a whole square moved into ``panel``'s (:data:`HAIR_ATLAS`) part of
    :func:`lash_hair_atlas`."""
    out = np.asarray(uv, np.float32).copy()
    out[:, 0] = (out[:, 0] + HAIR_ATLAS.index(panel)) / len(HAIR_ATLAS)
    return out


def spread_strands(roots: np.ndarray, count: int) -> np.ndarray:
    """Indices of ``count`` of the strands rooted at ``roots`` ``(N, 3)`` spread evenly over the scalp (farthest
    points first, from the first root on; all of them when there are no more)."""
    n = len(roots)
    if count >= n:
        return np.arange(n)
    x, y, z = np.ascontiguousarray(roots.T)   # by coordinate: three times faster than summing rows
    chosen = np.empty(count, np.int64)
    chosen[0] = 0
    dist = (x - x[0]) ** 2 + (y - y[0]) ** 2 + (z - z[0]) ** 2
    for i in range(1, count):
        c = chosen[i] = int(np.argmax(dist))
        np.minimum(dist, (x - x[c]) ** 2 + (y - y[c]) ** 2 + (z - z[c]) ** 2, out=dist)
    return chosen


def hair_cards(strands: list, centre: np.ndarray, lod: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                            np.ndarray]:
    """Hair cards for the LOD ``lod`` of :data:`HAIR_CARDS` over ``strands`` (a list of ``(K_i, 3)`` polylines,
    cm, root first) on a head whose middle is ``centre`` (cm). Each card stands for the strands rooted nearest
    its own (cards spread evenly over the scalp, :func:`spread_strands`) and follows their median path (each
    resampled by length), so a stray strand does not stick out as a card. A card lies across its path and along
    the head (its face turned away from ``centre``), lifted by :data:`HAIR_CARD_LIFT_CM`, and shows one clump of
    :func:`hair_card_texture`, roots at the top.

    Returns ``(vertices (V, 3) float64 cm, quads (F, 4) int, uv (V, 2) float32 in the cards' panel's own
    [0, 1] square, card (V,) int: which card each vertex belongs to)``; empty arrays when there are no strands."""
    from scipy.spatial import cKDTree

    count, points = HAIR_CARDS[lod]
    strands = [np.asarray(s, np.float64) for s in strands if len(s) >= 2]
    if not strands:
        return np.zeros((0, 3)), np.zeros((0, 4), np.int64), np.zeros((0, 2), np.float32), np.zeros(0, np.int64)
    roots = np.array([s[0] for s in strands])
    chosen = spread_strands(roots, count)
    cards = len(chosen)
    _, members = cKDTree(roots).query(roots[chosen], k=max(1, round(len(strands) / cards)))
    paths = _resampled(strands, points)
    line = np.median(paths[np.asarray(members).reshape(cards, -1)], axis=1)         # (cards, points, 3)
    out = _unit(line - centre)
    side = np.cross(np.gradient(line, axis=1), out)
    side = _unit(np.where(np.linalg.norm(side, axis=2, keepdims=True) > 1e-9, side, np.cross(out, [0.0, 1, 0])))
    half = (np.linspace(*HAIR_CARD_WIDTH_CM, points) * np.sqrt(HAIR_CARDS[0][0] / count) / 2)[None, :, None]
    mid = line + out * np.linspace(*HAIR_CARD_LIFT_CM, points)[None, :, None]
    verts = np.stack([mid - side * half, mid + side * half], 2).reshape(-1, 3)       # (cards, points, 2) rows
    u = (np.arange(cards) % HAIR_CARD_CLUMPS)[:, None] + np.array([0.0, 1.0])[None]
    uv = np.stack(np.broadcast_arrays(u[:, None, :] / HAIR_CARD_CLUMPS,
                                      1.0 - np.linspace(0.0, 1.0, points)[None, :, None]), -1).reshape(-1, 2)
    k = 2 * np.arange(points - 1)[:, None]
    quad = np.hstack([k, k + 1, k + 3, k + 2])                                       # (points - 1, 4) in one card
    base = 2 * points * np.arange(cards)[:, None, None]
    return verts, (base + quad[None]).reshape(-1, 4), uv.astype(np.float32), np.repeat(np.arange(cards), 2 * points)


def _resampled(lines: list, points: int) -> np.ndarray:
    """``(N, points, 3)``: ``points`` points evenly spaced by length along each of the polylines ``lines``
    (``(K_i, 3)``; those of one length resampled together)."""
    out = np.empty((len(lines), points, 3))
    sizes = np.array([len(line) for line in lines])
    t = np.linspace(0.0, 1.0, points)
    for K in np.unique(sizes):
        which = np.flatnonzero(sizes == K)
        ln = np.stack([lines[i] for i in which])                                     # (n, K, 3)
        along = np.concatenate([np.zeros((len(ln), 1)),
                                np.cumsum(np.linalg.norm(np.diff(ln, axis=1), axis=2), axis=1)], 1)
        at = along[:, -1:] * t[None]                                                  # (n, points)
        j = np.clip((along[:, None, :] <= at[:, :, None]).sum(2) - 1, 0, K - 2)
        a0, a1 = np.take_along_axis(along, j, 1), np.take_along_axis(along, j + 1, 1)
        f = np.clip((at - a0) / np.maximum(a1 - a0, 1e-12), 0.0, 1.0)[..., None]
        rows = np.arange(len(ln))[:, None]
        out[which] = ln[rows, j] * (1 - f) + ln[rows, j + 1] * f
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
