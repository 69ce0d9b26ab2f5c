"""Texture from the photo (Digital Twin, section 3.5).

1. Rasterise the skin (face and back of head) into the skin atlas once per size: per texel the triangle
   and barycentric coordinates.
2. Per head: each texel's 3D point on the fitted mesh is projected into the photo, tested against a
   z-buffer of the mesh seen from the camera, weighted by how squarely it faces the camera
   (``cos`` of the angle between normal and view ray), and sampled. The photo's light is fitted on the seen
   skin (second-order spherical harmonics of the fitted normals, per channel, in linear light) and taken off,
   leaving the skin at its median shading: the head shows its own colours under any light.
   Texels below ``cos = 0.3``, outside the detected face, near the head's outline in the photo, or at the
   face's rim in a colour far from the skin's (hair, collars, background) are unseen; so are texels whose
   photo pixel shows hair, a beard, glasses or something in front of the face (``core.segment``).
   With several photos of the person each is sampled so, scaled per channel to the first photo's colours and
   blended in by how squarely each texel faces each camera (:func:`blend_views`).
3. What the photo does not see gets a base texture: the mirrored visible side where the face tile pairs
   left and right (it is symmetric about u = 0.5), de-lit, and elsewhere the skin tone measured on the
   visible face.
4. Projected and base are joined with Poisson blending (Perez et al. 2003): in the unseen region solve
   ``-lap f + eps (f - g) = -div v`` with ``f`` fixed to the photo on the seen region, ``v`` the gradients
   of the base ``g`` (zero across the seam between mirrored and tone-filled parts), and a small screening
   term ``eps`` so that far from the photo the colour returns to the measured skin tone. The system is
   solved coarse-to-fine: an exact sparse solve on a coarse grid, then Gauss-Seidel sweeps on each finer
   level restricted to a band around the places where the solution has detail. Unseen skin then gets
   skin's fine variation (mottling, pores), faded in from the photo's edge, and the back-of-head tile is
   matched to the face tile along their UV seam.
5. Islands are padded (pull-push fill of the gutters) so mipmapping and bilinear lookups have no seams.

Images are ``(S, S, 3)`` uint8 sRGB, rows top to bottom, texel (row i, column j) at
``u = (j + 0.5) / S``, ``v = 1 - (i + 0.5) / S``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import cv2
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from .camera import Camera
from .facemodel import ATLAS_FACE, FaceModel
from .image import linear_to_srgb, srgb_to_linear

MIN_COS = 0.3        #: texels facing the camera less squarely than this are "unseen"
#: texels whose photo pixel is nearer than this (fraction of the face's width) to the head's outline are "unseen"
SILHOUETTE_MARGIN = 0.03
#: the rim of the face hull (fraction of the face's width) where texels far from the skin's colour are "unseen"
RIM_BAND = 0.12
#: ... far: this CIELAB distance (8-bit units, lightness counted half) from the measured skin tone
RIM_COLOUR_DISTANCE = 40.0
#: the visibility seam: seen face texels whose hue is off the skin tone's (CIELAB a, b, 8-bit units: more than
#: :data:`SEAM_CHROMA` greyer or bluer, or twice that in any direction; redder is skin) are "unseen" when they
#: join up with unseen texels, within this fraction of the texture's width of them: a fitted outline a little
#: beyond the face's picks up background, a collar or a shoulder there, which the fill would spread over the
#: unseen side (eyes, brows, lips and nostrils are left alone)
SEAM_REACH = 0.04
SEAM_CHROMA = 20.0
#: the seen skin's edge where it meets unseen texels (a fraction of the texture's width) is unseen too: it mixes the
#: photo's pixels across an outline the fit does not place exactly (3ddfa_emma's far cheek beside her mouth took
#: the blue-grey background there, 17 CIELAB units greyer than her skin, and the fill spread it over the hidden
#: cheek). Over the 13 real photos at 1024, 0.003 takes 5 % of the seen texels and makes the seam's texels 22 %
#: smoother (mean CIELAB-lightness Laplacian 4.4 -> 3.5) and the fill's cool texels 27 % fewer; 0.005 (8 %) left a
#: pale spot at Emma's mouth corner
SEEN_EDGE = 0.003
#: ... and so are strips of seen texels narrower than this (a fraction of the texture's width), in features too
#: (the eyes apart): prnet_2 kept a strip 2-3 texels wide of his sunglasses' rim along his right brow, a dark
#: dash on the head, and the fill below it took its colour (0.2 % of the 13 real photos' seen texels go)
SEEN_STRIP = 0.008
#: ... and so are those above the brows darker than the skin tone by more than this (CIELAB lightness, 8-bit
#: units, in the photo's light): a fringe beside the seam, which the fill spread as a dark band (the astronaut's
#: forehead: a brown fringe strip of lightness 105-130 beside skin of 188, spread up to the hairline). Below the
#: brows it took shade too (nostrils, a lit face's dark side) and is not applied
SEAM_DARK = 45.0
#: ... and, within :data:`SEAM_REACH` of texels left out because something covers them (hair, glasses, a beard),
#: those darker than the skin by more than this: the edge of what covers it (prnet_2's sunglasses left a black
#: sliver over his right brow, 80 levels below his skin, which the fill smeared over the eye). At 45 it also took
#: the brows' shade under 3ddfa_JianzhuGuo's glasses frames and left orange bars there
COVER_DARK = 70.0
#: the most of the seen texels that covering (hair, glasses, beard: ``covered``) may take out of the photo
MAX_COVERED = 0.6
#: percentiles of the seen skin's colours (per channel) that bound the filled texels
FILL_RANGE = (1.0, 99.0)
#: the least CIELAB chroma of mirrored skin, a share of the skin tone's: the mirrored side of eos_image_0010 (warm
#: light on a turned head) copied the pale lit skin beside her nose, and de-lit it to an olive grey: its texels
#: greyer than 0.6 of the skin's chroma (features counted, unchanged) fell from 10.1 to 2.8 % (prnet_1 17.2 to
#: 4.1 %, prnet_5 3.7 to 0.8 %; none more)
MIRROR_CHROMA = 0.8
#: the narrowest mirrored strip, a fraction of the texture's width: between seen skin and the tone fill a thinner
#: one made the Poisson solve overshoot (a dark red spot above Grace Hopper's forehead, from a 5-texel strip)
MIRROR_MIN_WIDTH = 1 / 128
#: how far taking the photo's light off may scale a texel's linear colour: a low-order light does not hold deep
#: shadow (nostrils, eye sockets) or grazing skin, where it would blow the colour up
DELIGHT_RANGE = (0.4, 2.5)
#: neighbour-averaging passes over the mesh's vertex normals (about 2 cm) before the photo's light is fitted and
#: taken off: with the raw normals the light, extrapolated into eye sockets and nostrils, lit them up (glowing
#: patches beside prnet_1's eyes)
LIGHT_NORMAL_PASSES = 30
#: the most the hue (CIELAB a and b, 8-bit units) may be moved to take off what the light did to it
#: (eos_image_0010: a warm key light and a tone curve left her lit cheek 10-15 units paler than the shaded one)
HUE_SHIFT = 12.0
#: ... fading out between these CIELAB lightnesses (lips and skin burnt out to white turned cyan when moved)
HUE_SHIFT_WHITE = (80.0, 95.0)
#: ridge penalty on the light's 8 directional terms, per texel: a photo sees the skin from one side, and the
#: plain least-squares light, carried to normals it hardly saw, lit up the lips of prnet_3 (a profile) and the
#: eye sockets of prnet_1 (mean left/right lightness difference of the seen skin over the 13 real photos: 8.3
#: with the light left in, 4.2 without the penalty, 5.1 with it; hue difference 5.2, 4.1, 3.8). On renders, whose
#: fitted head is nearly their true shape, the plain fit is closer to the true skin colour (``make bench-light``:
#: relative error 0.125 against 0.148); the photos decide
LIGHT_RIDGE = 0.05
#: unseen skin's variation: (blur sigma in texels at 2048, relative amplitude): mottling and pores
SKIN_VARIATION = ((8.0, 0.015), (1.0, 0.008))
#: ... faded in over this fraction of the texture's width from the photo's edge
VARIATION_RAMP = 0.01
#: the seam correction of the back-of-head tile: spread along the seam over, and faded away from it within,
#: these fractions of the texture's width
SEAM_SPREAD = 0.01
SEAM_FADE = 0.05
#: screening at 1024 texels (the decay length scales with the texture size): the seam's colour fades into the
#: tone within about 80 texels (at 220, 2e-5, the face's darker rim, grazing skin and a jaw's shade, spread
#: over most of the neck: the filled skin's median lightness 12-21 levels below the tone)
SCREEN_EPS = 1.6e-4
#: ... over the mirrored side: a decay of 40 texels, so the seam's colour fades into the mirrored skin's own
#: rather than lifting or darkening the whole hidden cheek (eos_image_0010: a 220-texel reach took the pale
#: forehead and nose into it: L 179 of 255 beside a seen face of 115; now 142)
MIRROR_SCREEN_EPS = 6e-4
_lock = threading.Lock()
_RASTER: dict = {}


@dataclass
class TextureResult:
    albedo: np.ndarray        #: (S, S, 3) uint8 sRGB
    #: (S, S, 3) uint8: photo colours where seen (with its light taken off if ``delit``), 0 elsewhere
    projected: np.ndarray
    visible: np.ndarray       #: (S, S) bool: texels taken from the photo
    weight: np.ndarray        #: (S, S) float32: cos(view angle) of each texel, 0 where unseen
    mirrored: np.ndarray      #: (S, S) bool: texels filled from the mirrored side
    islands: np.ndarray       #: (S, S) bool: texels inside the skin UV islands
    skin_tone: np.ndarray     #: (3,) uint8 sRGB
    timings: dict             #: seconds per texture stage: project, sample, base, poisson, pad
    #: share of the texels the photo saw squarely enough that something covers (hair, glasses...), and whether
    #: they were left out (not when more than ``MAX_COVERED`` of them would go: a doubtful segmentation)
    covered_share: float = 0.0
    covered_left_out: bool = False
    light: Light | None = None  #: the (first) photo's light on the head, fitted to the seen skin
    delit: bool = False         #: whether that light was taken off the seen skin (else only off the mirrored)


# -------------------------------------------------------------------------------------------------
# UV rasterisation (per model and size, cached in memory)


def uv_raster(model: FaceModel, size: int):
    """Return ``(islands, flat, tri_vertices, bary)``: ``(S, S)`` bool texels inside the skin islands;
    for those texels (M of them, row-major order) their flat index ``(M,)``, the vertices of the
    triangle they lie in ``(M, 3)`` int32 and barycentric weights ``(M, 3)`` float32."""
    key = (id(model), size)
    with _lock:
        if key in _RASTER:
            return _RASTER[key]
        tl = model.triangle_loops
        skin_t = model.skin_polygons[model.triangle_poly]
        tl = tl[skin_t]
        tris = model.loop_vertex[tl]
        uv = model.loop_uv[tl]  # (T, 3, 2)
        px = np.stack([uv[..., 0] * size - 0.5, (1.0 - uv[..., 1]) * size - 0.5], -1)
        idimg = np.full((size, size), -1, np.int32)
        sh = 8
        pts = np.round(px * (1 << sh)).astype(np.int32)
        for k in range(len(pts)):
            cv2.fillConvexPoly(idimg, pts[k], k, lineType=cv2.LINE_8, shift=sh)
        # per-triangle affine map pixel -> barycentric (w1, w2)
        a0 = px[:, 0]
        e1, e2 = px[:, 1] - a0, px[:, 2] - a0
        det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
        det = np.where(np.abs(det) < 1e-12, 1e-12, det)
        inv = np.stack([np.stack([e2[:, 1], -e2[:, 0]], 1), np.stack([-e1[:, 1], e1[:, 0]], 1)], 1) / det[:, None, None]
        inv = inv.astype(np.float32)
        a0 = a0.astype(np.float32)
        ii, jj = np.nonzero(idimg >= 0)
        t = idimg[ii, jj]
        dx = jj.astype(np.float32) - a0[t, 0]
        dy = ii.astype(np.float32) - a0[t, 1]
        w1 = inv[t, 0, 0] * dx + inv[t, 0, 1] * dy
        w2 = inv[t, 1, 0] * dx + inv[t, 1, 1] * dy
        bary = np.stack([1 - w1 - w2, w1, w2], 1)
        np.clip(bary, 0, 1, out=bary)
        bary /= bary.sum(1, keepdims=True)
        flat = (ii * size + jj).astype(np.int64)
        tv = tris[t].astype(np.int32)
        out = (idimg >= 0, flat, tv, bary)
        _RASTER[key] = out
        return out


def barycentric(values: np.ndarray, corners: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """Per-vertex ``values`` ``(N, ...)`` at texels given by their triangles' ``corners`` ``(M, 3)`` and
    barycentric weights ``bary`` ``(M, 3)`` (as :func:`uv_raster` gives them): ``(M, ...)``."""
    return values[corners[:, 0]] * bary[:, 0:1] + values[corners[:, 1]] * bary[:, 1:2] + \
        values[corners[:, 2]] * bary[:, 2:3]


def surface_grid(model: FaceModel, vertices: np.ndarray, size: int) -> np.ndarray:
    """``(S, S, 3)`` float64: the head ``vertices`` ``(N, 3)`` at every texel of the ``size`` atlas, NaN off the
    skin islands."""
    islands, flat, tv, bw = uv_raster(model, size)
    P = np.full((size * size, 3), np.nan, np.float64)
    P[flat] = barycentric(np.asarray(vertices, np.float64), tv, bw)
    return P.reshape(size, size, 3)


def mirror_texels(size: int) -> np.ndarray:
    """Column index of the mirrored texel in the face tile (symmetric about u = 0.5); -1 elsewhere."""
    a = ATLAS_FACE
    j = np.arange(size)
    u = (j + 0.5) / size
    mu = a - u  # u' = a * (1 - u / a)
    jm = np.floor(mu * size).astype(np.int64)
    jm[(u >= a) | (jm < 0)] = -1
    return jm


# -------------------------------------------------------------------------------------------------


def _zbuffer(uvpix: np.ndarray, z: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Point-splat z-buffer: nearest depth per pixel, holes closed by a 3x3 min filter."""
    h, w = shape
    xi = np.floor(uvpix[:, 0]).astype(np.int64)
    yi = np.floor(uvpix[:, 1]).astype(np.int64)
    ok = (xi >= 0) & (yi >= 0) & (xi < w) & (yi < h)
    zb = np.full(h * w, np.inf, np.float32)
    np.minimum.at(zb, yi[ok] * w + xi[ok], z[ok].astype(np.float32))
    zb = zb.reshape(h, w)
    zb2 = cv2.erode(np.where(np.isinf(zb), 1e9, zb).astype(np.float32), np.ones((3, 3), np.uint8))
    return np.where(np.isinf(zb), zb2, zb)


def _clean_mask(mask: np.ndarray, size: int, min_area: int = 64) -> np.ndarray:
    """Drop the unreliable rim of the seen region (silhouette, hull edge) and isolated specks."""
    m = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, size // 1024))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=4)
    if n <= 1:
        return m > 0
    area = stats[1:, cv2.CC_STAT_AREA]
    keep = np.concatenate([[False], area >= max(min_area, 0.01 * area.max())])
    return keep[lab]


def tile_seam(model: FaceModel, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the face tile and the back-of-head tile of the skin atlas meet on the mesh: for each vertex on
    that seam (and each of its back-tile UVs), its texel position in the face tile and in the back tile,
    ``((K, 2), (K, 2))`` float (x, y) pixels of a ``size`` texture."""
    key = ("seam", id(model), size)
    with _lock:
        if key not in _RASTER:
            skin = model.skin_polygons[model.poly_index_of_loop]
            tile = np.floor(model.uv_udim[:, 0])
            face, back = skin & (tile == 0), skin & (tile == 1)
            face_uv = dict(zip(model.loop_vertex[face], model.loop_uv[face]))
            pairs = {(int(v), tuple(np.round(uv, 6))) for v, uv in zip(model.loop_vertex[back], model.loop_uv[back])
                     if v in face_uv}
            f = np.array([face_uv[v] for v, _ in pairs], np.float64)
            b = np.array([uv for _, uv in pairs], np.float64)
            _RASTER[key] = tuple(np.c_[uv[:, 0] * size - 0.5, (1 - uv[:, 1]) * size - 0.5] for uv in (f, b))
        return _RASTER[key]


def match_tile_seam(model: FaceModel, img: np.ndarray, size: int) -> np.ndarray:
    """A correction ``(S, S, 3)`` for the back-of-head tile of ``img`` (float, the atlas) that makes its colour
    along the UV seam equal to the face tile's there, spread smoothly into the tile and fading with distance
    from the seam; zero on the face tile. (Each tile is filled on its own, so the two sides of the seam differ
    where the photo's edge is near it.)"""
    face_px, back_px = tile_seam(model, size)

    def sample(px):
        return cv2.remap(img, px[:, 0].astype(np.float32)[:, None], px[:, 1].astype(np.float32)[:, None],
                         cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[:, 0]

    diff = sample(face_px) - sample(back_px)
    # all of it within the back tile's square of the atlas (top right, 1 - ATLAS_FACE wide)
    x0, side = round(ATLAS_FACE * size), size - round(ATLAS_FACE * size)
    acc = np.zeros((side, side, 3), np.float32)
    hits = np.zeros((side, side), np.float32)
    xi = np.clip(np.round(back_px[:, 0]).astype(int) - x0, 0, side - 1)
    yi = np.clip(np.round(back_px[:, 1]).astype(int), 0, side - 1)
    np.add.at(acc, (yi, xi), diff)
    np.add.at(hits, (yi, xi), 1.0)
    sigma = SEAM_SPREAD * size
    field = cv2.GaussianBlur(acc, (0, 0), sigma) / np.maximum(cv2.GaussianBlur(hits, (0, 0), sigma), 1e-6)[..., None]
    seam = np.ones((side, side), np.uint8)
    seam[yi, xi] = 0
    fade = np.exp(-cv2.distanceTransform(seam, cv2.DIST_L2, 3) / (SEAM_FADE * size))
    out = np.zeros_like(img)
    out[:side, x0:] = field * fade[..., None]
    return out


@dataclass
class Light:
    """The photo's light on the fitted head, fitted to the seen skin (:func:`fit_light`): second-order spherical
    harmonics of the camera-space normal, per colour channel in linear light, and of the CIELAB hue (a, b)
    that the skin keeps after that (a photo's tone curve pales its highlights, so dividing by the light alone
    leaves a lit cheek greyer than a shaded one)."""

    coef: np.ndarray          #: (9, 3) float32: each linear channel's 9 coefficients
    level: np.ndarray         #: (3,) float32: the median shading of the seen skin, per channel
    hue_coef: np.ndarray      #: (9, 2) float32: CIELAB a and b (8-bit units) after the shading is taken off
    hue_level: np.ndarray     #: (2,) float32: their median over the seen skin

    def shading(self, normals: np.ndarray) -> np.ndarray:
        """(K, 3) float32 shading at unit ``normals`` ((K, 3)), at least 1e-3."""
        return np.maximum(sh9(normals) @ self.coef, 1e-3).astype(np.float32)

    def gain(self, normals: np.ndarray) -> np.ndarray:
        """(K, 3) float32: what takes the light off a linear colour at ``normals``, leaving the seen skin at its
        median shading (so the head keeps the photo's brightness and white balance), within
        :data:`DELIGHT_RANGE`."""
        return np.clip(self.level / self.shading(normals), *DELIGHT_RANGE).astype(np.float32)

    def hue_shift(self, normals: np.ndarray) -> np.ndarray:
        """(K, 2) float32: what brings the CIELAB a, b at ``normals`` to the seen skin's median, within
        :data:`HUE_SHIFT`."""
        return np.clip(self.hue_level - sh9(normals) @ self.hue_coef, -HUE_SHIFT, HUE_SHIFT).astype(np.float32)

    def to_json(self) -> dict:
        """fit.json's ``texture.light``."""
        return {"sh9_linear_rgb": np.round(self.coef.T, 5).tolist(),
                "level_linear_rgb": np.round(self.level, 5).tolist(),
                "sh9_cielab_ab": np.round(self.hue_coef.T, 3).tolist(),
                "level_cielab_ab": np.round(self.hue_level, 3).tolist()}


#: a flat light (nothing to take off)
FLAT_LIGHT = Light(coef=np.r_[[1.0], np.zeros(8)][:, None].repeat(3, 1).astype(np.float32),
                   level=np.ones(3, np.float32), hue_coef=np.zeros((9, 2), np.float32),
                   hue_level=np.zeros(2, np.float32))


def fit_light(normals: np.ndarray, colours: np.ndarray) -> Light:
    """The photo's low-frequency light on the fitted head from skin texels: camera-space unit ``normals``
    ((K, 3)) and their ``colours`` ((K, 3) float sRGB in [0, 1]). The shading per channel in linear light, then
    the hue left once it is taken off, each by least squares twice, dropping the worst-fitting tenth (what the
    segmentation left of eyes, brows, stubble and shine). A flat light when there are too few texels."""
    if len(colours) < 50:
        return FLAT_LIGHT
    keep = np.arange(0, len(colours), max(1, len(colours) // 40000))
    basis = sh9(normals[keep])
    coef, shading = robust_sh_fit(basis, srgb_to_linear(colours[keep]))
    level = np.median(np.maximum(shading, 1e-3), axis=0)
    light = Light(coef=coef, level=level.astype(np.float32), hue_coef=FLAT_LIGHT.hue_coef,
                  hue_level=FLAT_LIGHT.hue_level)
    hue = _lab(take_off_light(colours[keep], normals[keep], light))[:, 1:]
    light.hue_coef, fitted = robust_sh_fit(basis, hue)
    light.hue_level = np.median(fitted, axis=0).astype(np.float32)
    return light


def robust_sh_fit(basis: np.ndarray, values: np.ndarray, ridge: float = LIGHT_RIDGE) -> tuple[np.ndarray, np.ndarray]:
    """Least squares ``basis`` ((K, 9)) @ coef ~ ``values`` ((K, C)) with ``ridge`` (per row) on the 8
    directional terms, twice, the second time without the worst-fitting tenth: (9, C) float32 coefficients and
    the fit at the rows kept."""
    for _ in range(2):
        penalty = np.diag(np.r_[0.0, np.full(8, ridge * len(basis))])
        coef = np.linalg.solve(basis.T @ basis + penalty, basis.T @ values)
        err = np.abs(basis @ coef - values).sum(1)
        ok = err <= np.percentile(err, 90)
        basis, values = basis[ok], values[ok]
    return coef.astype(np.float32), basis @ coef


def take_off_light(colour: np.ndarray, normals: np.ndarray, light: Light) -> np.ndarray:
    """sRGB ``colour`` ((K, 3) float in [0, 1]) seen at unit ``normals`` ((K, 3)) with ``light`` taken off:
    (K, 3) float32 sRGB in [0, 1]. :meth:`Light.gain` is applied in linear light, then :meth:`Light.hue_shift`,
    fading out towards white (:data:`HUE_SHIFT_WHITE`: an overexposed pixel has no hue to bring back)."""
    out = np.clip(linear_to_srgb(srgb_to_linear(colour) * light.gain(normals)), 0, 1).astype(np.float32)
    if len(out) == 0 or not light.hue_coef.any():
        return out
    lab = _lab(out)
    lo, hi = HUE_SHIFT_WHITE
    lab[:, 1:] += light.hue_shift(normals) * np.clip((hi - lab[:, :1]) / (hi - lo), 0, 1)
    return np.clip(cv2.cvtColor(lab[None], cv2.COLOR_LAB2RGB)[0], 0, 1)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """(K, 3) float sRGB in [0, 1] -> (K, 3) float32 CIELAB (L 0-100, a and b in 8-bit units around 0)."""
    return cv2.cvtColor(np.clip(rgb, 0, 1).astype(np.float32)[None], cv2.COLOR_RGB2LAB)[0]


def sh9(n: np.ndarray) -> np.ndarray:
    """(M, 9): the 9 real spherical-harmonic basis functions up to order 2 of unit normals ``n`` (M, 3)."""
    x, y, z = n[:, 0], n[:, 1], n[:, 2]
    return np.stack([np.ones_like(x), y, z, x, x * y, y * z, 3 * z * z - 1, x * z, x * x - y * y], 1)


@lru_cache(maxsize=2)
def skin_variation(size: int, seed: int = 0) -> np.ndarray:
    """``(size, size)`` float32 around 1: the fine variation of skin (mottling a few millimetres across, pores
    at the texel scale) that unseen skin gets instead of one flat colour; the same for every head (made once
    per size, read-only)."""
    rng = np.random.default_rng(seed)
    scale = size / 2048.0
    out = np.ones((size, size), np.float32)
    for sigma, amplitude in SKIN_VARIATION:
        noise = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), sigma * scale)
        out += amplitude * noise / max(float(noise.std()), 1e-6)
    out.setflags(write=False)
    return out


def _lab_distance(rgb: np.ndarray, tone: np.ndarray) -> np.ndarray:
    """Per pixel of ``rgb`` ((H, W, 3) uint8 sRGB) its CIELAB distance (OpenCV's 8-bit units, lightness counted
    half) from ``tone`` ((3,) float sRGB in [0, 1])."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    d = lab - _tone_lab(tone)
    d[..., 0] *= 0.5
    return np.sqrt((d * d).sum(-1))


def _tone_lab(tone: np.ndarray) -> np.ndarray:
    """(3,) float32: ``tone`` ((3,) float sRGB in [0, 1]) in OpenCV's 8-bit CIELAB."""
    return cv2.cvtColor(np.round(tone * 255).astype(np.uint8)[None, None], cv2.COLOR_RGB2LAB)[0, 0].astype(np.float32)


def skin_tone(colors: np.ndarray) -> np.ndarray:
    """Robust skin colour: per-channel median of (well-seen) texels in the central luminance band (drops
    eyes, brows, lips' dark and specular extremes). ``colors`` (N, 3) float [0, 1]."""
    if len(colors) == 0:
        return np.array([0.78, 0.6, 0.5], np.float32)
    lum = colors @ np.array([0.299, 0.587, 0.114])
    lo, hi = np.percentile(lum, [25, 85])
    sel = (lum >= lo) & (lum <= hi)
    if sel.sum() < 10:
        sel = np.ones(len(colors), bool)
    return np.median(colors[sel], axis=0).astype(np.float32)


@dataclass
class TexelProjection:
    """Where each skin texel lands in the photo. Texel arrays are for the ``M`` island texels, in
    ``flat`` (row-major) order."""

    islands: np.ndarray  #: (S, S) bool
    flat: np.ndarray     #: (M,) int64 flat texel index
    uvp: np.ndarray      #: (M, 2) float32 photo pixel
    cos: np.ndarray      #: (M,) float32 cos(angle between surface normal and view ray)
    seen: np.ndarray     #: (M,) bool in the photo, facing the camera, not occluded (and inside the face hull)
    rim: np.ndarray      #: (M,) bool near the face hull's edge (where hair, collars and background creep in)
    face_px: float       #: width of the well-facing face in the photo, pixels
    corners: np.ndarray  #: (M, 3) int32 the vertices of the triangle each texel lies in
    bary: np.ndarray     #: (M, 3) float32 the texel's barycentric weights in it
    #: (N, 3) float32 the skin's vertex normals smoothed over the head (:data:`LIGHT_NORMAL_PASSES`), camera space
    vertex_broad_normal: np.ndarray

    def texels(self, flat: np.ndarray) -> np.ndarray:
        """Positions in the texel arrays of island texels given by their ``flat`` indices (sorted or not)."""
        return np.searchsorted(self.flat, flat)

    def broad_normals(self, flat: np.ndarray) -> np.ndarray:
        """(K, 3) float32 unit normals smoothed over the head, camera space, at the island texels given by their
        ``flat`` indices: what the photo's light is fitted on and taken off by (eye sockets, nostrils and folds
        keep their own shading). Interpolated when asked for: the light wants only the seen texels, the detail
        stage none."""
        return _unit(self.interpolate(self.vertex_broad_normal, flat))

    def interpolate(self, values: np.ndarray, flat: np.ndarray | None = None) -> np.ndarray:
        """Per-vertex ``values`` ``(N, ...)`` at every island texel (``(M, ...)``), or at those given by their
        ``flat`` indices."""
        if flat is None:
            return barycentric(values, self.corners, self.bary)
        at = self.texels(flat)
        return barycentric(values, self.corners[at], self.bary[at])

    def to_grid(self, values: np.ndarray, fill=0) -> np.ndarray:
        """Scatter per-texel ``values`` (M, ...) into an (S, S, ...) grid."""
        size = self.islands.shape[0]
        out = np.full((size * size,) + values.shape[1:], fill, values.dtype)
        out[self.flat] = values
        return out.reshape((size, size) + values.shape[1:])


def texel_projection(model: FaceModel, vertices: np.ndarray, camera: Camera, size: int,
                     image_hw: tuple[int, int], face_points: np.ndarray | None = None) -> TexelProjection:
    """Project every skin texel of the ``size`` atlas into a photo of ``image_hw = (H, W)``, with a
    z-buffer visibility test. ``face_points``: detected landmarks; when given, only texels inside their
    convex hull (grown by 4 %) count as seen, so hair, ears, collars and background are left out."""
    islands, flat, tv, bw = uv_raster(model, size)
    Y = camera.to_camera(vertices).astype(np.float32)
    N = (model.vertex_normals(vertices) @ camera.rotation.T).astype(np.float32)

    P = barycentric(Y, tv, bw)
    Nt = barycentric(N, tv, bw)
    cos = np.einsum("ij,ij->i", Nt, -P) / (np.sqrt(np.einsum("ij,ij->i", Nt, Nt) * np.einsum("ij,ij->i", P, P))
                                          + 1e-12)
    z = P[:, 2]
    uvp = np.stack([camera.fx * P[:, 0] / z + camera.cx, camera.fy * P[:, 1] / z + camera.cy], 1)
    H, W = image_hw
    face_px = float(np.ptp(uvp[cos > 0.5, 0])) if (cos > 0.5).any() else float(W)
    # z-buffer at a resolution where texels are denser than pixels
    s_z = float(min(1.0, 0.5 * ATLAS_FACE * size * 0.6 / max(face_px, 1.0)))
    zshape = (max(1, round(H * s_z)), max(1, round(W * s_z)))
    front = cos > 0
    zb = _zbuffer(uvp[front] * s_z, z[front], zshape)
    zi = np.clip(np.floor(uvp[:, 1] * s_z).astype(np.int64), 0, zshape[0] - 1)
    zj = np.clip(np.floor(uvp[:, 0] * s_z).astype(np.int64), 0, zshape[1] - 1)
    # depth tolerance: a little more than the depth spanned by one z-buffer pixel at this slope
    pix_cm = z / (camera.fx * s_z)
    tol = 0.25 + 2.0 * pix_cm / np.maximum(cos, 0.2)
    inside = (uvp[:, 0] >= 0) & (uvp[:, 1] >= 0) & (uvp[:, 0] <= W - 1) & (uvp[:, 1] <= H - 1)
    seen = inside & front & (z <= zb[zi, zj] + tol)
    # not too near the head's outline in the photo: a fit a little off puts background, hair or collar there
    margin = max(1, round(SILHOUETTE_MARGIN * face_px * s_z))
    covered = cv2.erode((zb < 1e8).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                                               (2 * margin + 1, 2 * margin + 1)))
    seen &= covered[zi, zj] > 0
    if face_points is not None:
        hull_img = np.zeros(zshape, np.uint8)
        fp = np.asarray(face_points, np.float64)
        c = fp.mean(0)
        hull = cv2.convexHull(np.round(((fp - c) * 1.04 + c) * s_z * 16).astype(np.int32))
        cv2.fillConvexPoly(hull_img, hull, 1, lineType=cv2.LINE_8, shift=4)
        seen &= hull_img[zi, zj] > 0
        band = max(1, round(RIM_BAND * face_px * s_z))
        inner = cv2.erode(hull_img, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1)))
        rim = hull_img[zi, zj] > inner[zi, zj]
    else:
        rim = np.zeros(len(seen), bool)
    return TexelProjection(islands=islands, flat=flat, uvp=uvp.astype(np.float32), cos=cos.astype(np.float32),
                           seen=seen, rim=rim, face_px=face_px, corners=tv, bary=bw,
                           vertex_broad_normal=(model.smooth_skin_normals(vertices, LIGHT_NORMAL_PASSES)
                                                @ camera.rotation.T).astype(np.float32))


def _unit(v: np.ndarray) -> np.ndarray:
    """Rows of ``v`` ((M, 3)) scaled to unit length, float32."""
    return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)


@dataclass
class PhotoView:
    """Another photo of the person for :func:`project_texture`: the head fitted to it (``vertices`` ``(N, 3)``
    cm with that photo's expression), its camera, the photo ``(H, W, 3)`` uint8 sRGB and, as for the main
    photo, its detected landmarks and what covers the skin in it."""

    vertices: np.ndarray
    camera: Camera
    image: np.ndarray
    face_points: np.ndarray | None = None
    covered: Callable[[np.ndarray], np.ndarray] | None = None


@dataclass
class _Sample:
    """One photo sampled into the atlas: colours (float sRGB in [0, 1]), how squarely each texel faced the
    camera (0 where unseen), what counts as seen, and the share of the seen texels that covering took out."""

    tp: TexelProjection
    colour: np.ndarray     #: (S, S, 3) float32
    weight: np.ndarray     #: (S, S) float32
    visible: np.ndarray    #: (S, S) bool
    covered_share: float
    tone: np.ndarray       #: (3,) float skin tone of the well-seen face tile
    light: Light           #: the photo's light on the head, fitted to the seen skin

    def take_off_light(self) -> None:
        """Take the photo's light off the seen texels' colours (in place) and measure the skin tone again."""
        seen = np.flatnonzero(self.visible)
        colour = self.colour.reshape(-1, 3)
        colour[seen] = take_off_light(colour[seen], self.tp.broad_normals(seen), self.light)
        self.tone = skin_tone(self.colour[_well_seen_face(self.visible, self.weight, self.visible.shape[0])])


def project_texture(model: FaceModel, vertices: np.ndarray, camera: Camera, image: np.ndarray,
                    size: int = 2048, face_points: np.ndarray | None = None,
                    covered: Callable[[np.ndarray], np.ndarray] | None = None,
                    others: list[PhotoView] = (), delight: bool = True) -> TextureResult:
    """Bake the photo into the skin atlas for the fitted ``vertices`` ``(N, 3)`` cm seen by ``camera``.

    ``image``: ``(H, W, 3)`` uint8 sRGB photo. ``face_points``: detected landmarks ``(K, 2)`` pixels (see
    :func:`texel_projection`). ``covered``: photo pixels ``(K, 2)`` -> ``(K,)`` bool, True where something
    covers the skin (hair, a beard, glasses: ``core.segment.Segmentation.covered``); those texels are unseen.
    ``others``: more photos of the person (:class:`PhotoView`), blended in (:func:`blend_views`).
    ``delight``: take each photo's light off the skin it sees (:func:`fit_light`), so the head shows its own
    colours under any light; False keeps the photo's light and shadow (the unseen side is filled de-lit either
    way). Returns a :class:`TextureResult`.
    """
    import time

    t0 = time.perf_counter()
    secs = {}
    if size not in (512, 1024, 2048, 4096):
        raise ValueError(f"texture size must be 512, 1024, 2048 or 4096, got {size}")
    main = _sample_photo(model, vertices, camera, image, size, face_points, covered)
    secs["project"] = time.perf_counter() - t0
    more = [_sample_photo(model, o.vertices, o.camera, o.image, size, o.face_points, o.covered) for o in others]
    if delight:
        for smp in [main, *more]:
            smp.take_off_light()
    if more:
        blend_views(main, more)
    tp, visible, weight, tone = main.tp, main.visible, main.weight, main.tone
    islands, flat = tp.islands, tp.flat
    projf = main.colour
    proj = np.round(projf * 255).astype(np.uint8)
    secs["sample"] = time.perf_counter() - t0

    # base: mirrored side in the face tile, else tone
    jm = mirror_texels(size)
    cand = islands & ~visible & (jm >= 0)[None, :]
    my, mx = np.nonzero(cand)
    okm = weight[my, jm[mx]] >= 0.5
    # nor, above the brows, a source much darker than the skin: hair the other side kept (brown patches by the
    # astronaut's hairline; it mirrors 818 texels fewer there, 1,869 on prnet_3, none on eight of the photos)
    okm &= ~_dark_above_brows(model, projf[my, jm[mx]], my, mx, tone, size)
    mirror_ok = np.zeros((size, size), bool)
    mirror_ok[my[okm], mx[okm]] = True
    r = max(1, round(MIRROR_MIN_WIDTH * size / 2))
    mirror_ok = cv2.morphologyEx(mirror_ok.astype(np.uint8), cv2.MORPH_OPEN,
                                 cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)) > 0
    mirror_ok = _clean_mask(mirror_ok, size, min_area=(size // 64) ** 2)
    my, mx = np.nonzero(mirror_ok)
    base = np.empty_like(projf)
    base[:] = tone
    # the mirrored side without its own light and shadow
    base[my, mx] = projf[my, jm[mx]]
    if not delight:
        base[my, mx] = take_off_light(base[my, mx], tp.broad_normals(my * size + jm[mx]), main.light)
    # the lit skin the mirror copies is pale and the de-lighting darkens it: grey, where skin is not (features
    # apart)
    features = feature_mask(model, size)
    skin = ~features[my, mx]
    base[my[skin], mx[skin]] = _with_skin_chroma(base[my[skin], mx[skin]], tone)
    label = np.where(mirror_ok, 1, 0).astype(np.int8)
    secs["base"] = time.perf_counter() - t0

    eps = np.where(mirror_ok, MIRROR_SCREEN_EPS, SCREEN_EPS).astype(np.float32) * (1024.0 / size) ** 2
    # (Fading texels between cos 0.3 and 0.55 into the fill by their weight was tried: grazing texels
    # near the silhouette carry hair and background, and the seam got 3x stronger. The weight decides
    # what is seen, which side a mirrored texel comes from, and which texels measure the skin tone.)
    out = poisson_blend(projf, base, visible, islands, label, eps)
    del projf
    # no filled texel darker or brighter than the seen skin: where a thin mirrored strip meets the tone fill the
    # solve can overshoot (a black spot, (37, 3, 0), under prnet_trump's chin, between skin of (122, 60, 46))
    # (features apart: a mirrored brow or lip is darker or redder than any skin)
    seen_skin = proj[visible & ~features]
    if len(seen_skin):
        lo, hi = np.percentile(seen_skin, FILL_RANGE, axis=0) / 255.0
        np.copyto(out, np.clip(out, lo, hi), where=(islands & ~visible & ~features)[..., None])
    # away from the photo's edge: the back of the head meets the face tile's colour along their UV seam, and
    # unseen skin gets skin's fine variation (both faded in from the edge, so that no seam appears)
    ramp = np.clip(cv2.distanceTransform((~visible).astype(np.uint8), cv2.DIST_L2, 3) / (VARIATION_RAMP * size),
                   0, 1)
    out += match_tile_seam(model, out, size) * ramp[:, :, None]
    out *= (1 + (skin_variation(size) - 1) * ramp)[:, :, None]
    secs["poisson"] = time.perf_counter() - t0
    out = pull_push_fill(out, islands)
    albedo = np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
    projected = np.where(visible[:, :, None], proj, 0).astype(np.uint8)
    secs["pad"] = time.perf_counter() - t0
    return TextureResult(albedo=albedo, projected=projected, visible=visible, weight=weight,
                         mirrored=mirror_ok, islands=islands, skin_tone=np.round(tone * 255).astype(np.uint8),
                         timings=secs, covered_share=main.covered_share,
                         covered_left_out=covered is not None and main.covered_share <= MAX_COVERED,
                         light=main.light, delit=delight)


def _with_skin_chroma(rgb: np.ndarray, tone: np.ndarray) -> np.ndarray:
    """Texels ``(K, 3)`` float sRGB in [0, 1] with their CIELAB chroma raised to at least
    :data:`MIRROR_CHROMA` of the skin ``tone``'s ((3,) float sRGB), their hue and lightness kept (a texel with
    no hue takes the skin's)."""
    if len(rgb) == 0:
        return rgb
    lab = _lab(rgb)
    ref = _tone_lab(tone)[1:] - 128.0   # float CIELAB's a, b are the 8-bit ones less 128
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    hue = np.where(chroma[:, None] > 1e-3, lab[:, 1:] / np.maximum(chroma, 1e-3)[:, None],
                   ref / max(float(np.hypot(*ref)), 1e-3))
    lab[:, 1:] = hue * np.maximum(chroma, MIRROR_CHROMA * np.hypot(*ref))[:, None]
    return cv2.cvtColor(lab[None], cv2.COLOR_LAB2RGB)[0]


def _sample_photo(model: FaceModel, vertices: np.ndarray, camera: Camera, image: np.ndarray, size: int,
                  face_points, covered) -> _Sample:
    """Sample one photo into the atlas (the arguments as for :func:`project_texture`): texels that face the
    camera, are not hidden or covered, at the face's rim are skin-coloured, and at the seam with unseen texels
    are not off the skin's hue."""
    H, W = image.shape[:2]
    tp = texel_projection(model, vertices, camera, size, (H, W), face_points)
    flat, uvp, cos, seen = tp.flat, tp.uvp, tp.cos, tp.seen
    # photo at about the texture's sampling density (anti-aliasing for big photos)
    s_img = float(min(1.0, ATLAS_FACE * size * 0.6 / max(tp.face_px, 1.0)))
    img = image if s_img > 0.8 else cv2.resize(image, (max(1, round(W * s_img)), max(1, round(H * s_img))),
                                               interpolation=cv2.INTER_AREA)
    sx, sy = img.shape[1] / W, img.shape[0] / H

    mapx = np.full(size * size, -1, np.float32)
    mapy = np.full(size * size, -1, np.float32)
    mapx[flat] = (uvp[:, 0] + 0.5) * sx - 0.5
    mapy[flat] = (uvp[:, 1] + 0.5) * sy - 0.5
    proj = cv2.remap(img, mapx.reshape(size, size), mapy.reshape(size, size), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
    del mapx, mapy
    weight = np.zeros(size * size, np.float32)
    weight[flat] = np.where(seen, np.clip(cos, 0, 1), 0)
    weight = weight.reshape(size, size)
    visible = weight >= MIN_COS
    covered_share = 0.0
    left_out = np.zeros((size, size), bool)   # seen texels that something covers, left out
    if covered is not None:
        hidden = flat[covered(uvp)]
        covered_share = float(visible.flat[hidden].sum() / max(visible.sum(), 1))
        if covered_share <= MAX_COVERED:
            left_out.flat[hidden] = visible.flat[hidden]
            visible.flat[hidden] = False
    visible = _clean_mask(visible, size)
    weight[~visible] = 0

    projf = proj.astype(np.float32) / 255.0
    tone = skin_tone(projf[_well_seen_face(visible, weight, size)])
    # the rim keeps only skin-coloured texels: hair, collars and background there are left for the fill
    ry, rx = np.nonzero(tp.to_grid(tp.rim, False) & visible)
    off = np.zeros((size, size), bool)
    if len(ry):
        far = _lab_distance(proj[ry, rx][:, None], tone)[:, 0] > RIM_COLOUR_DISTANCE
        off[ry[far], rx[far]] = True
    off |= _off_skin_at_seam(model, proj, visible & ~off, islands=tp.islands, tone=tone, left_out=left_out)
    off |= _seen_edge(model, visible & ~off, tp.islands)
    if off.any():
        visible = _clean_mask(visible & ~off, size)
        weight[~visible] = 0
    skin = np.flatnonzero(visible & ~feature_mask(model, size))
    light = fit_light(tp.broad_normals(skin), projf.reshape(-1, 3)[skin])
    return _Sample(tp=tp, colour=projf, weight=weight, visible=visible, covered_share=covered_share, tone=tone,
                   light=light)


def _off_skin_at_seam(model: FaceModel, proj: np.ndarray, visible: np.ndarray, islands: np.ndarray,
                      tone: np.ndarray, left_out: np.ndarray | None = None) -> np.ndarray:
    """(S, S) bool: the seen face-tile texels whose hue is off the skin tone's (:data:`SEAM_CHROMA`), or that are
    much darker above the brows (:data:`SEAM_DARK`) or beside ``left_out`` texels ((S, S) bool: seen, but covered
    by hair, glasses or a beard; :data:`COVER_DARK`), in patches that reach unseen texels (and no further from them
    than :data:`SEAM_REACH`); features (:func:`feature_mask`) apart."""
    size = visible.shape[0]
    tile = (slice(0, round(ATLAS_FACE * size)),) * 2
    seen = visible[tile]
    to_unseen = cv2.distanceTransform((seen | ~islands[tile]).astype(np.uint8), cv2.DIST_L2, 3)
    cover_edge = np.zeros(seen.shape, bool)
    if left_out is not None and left_out[tile].any():
        cover_edge = cv2.distanceTransform((~left_out[tile]).astype(np.uint8), cv2.DIST_L2, 3) <= SEAM_REACH * size
    near = seen & (to_unseen <= SEAM_REACH * size) & ~feature_mask(model, size)[tile]
    off = np.zeros((size, size), bool)
    ry, rx = np.nonzero(near)
    if len(ry) == 0:
        return off
    lab = cv2.cvtColor(proj[tile][ry, rx][None], cv2.COLOR_RGB2LAB)[0].astype(np.float32)
    ref = _tone_lab(tone)
    d = lab[:, 1:] - ref[1:]
    skin_hue = (ref[1:] - 128.0) / max(float(np.linalg.norm(ref[1:] - 128.0)), 1e-6)   # a, b around 0
    # greyer or bluer than the skin (background, cool shade, clothes), or far off in any hue; redder is skin;
    # or much darker above the brows (a fringe) or beside what covers the skin (its edge)
    far = ((d @ skin_hue < -SEAM_CHROMA) | (np.linalg.norm(d, axis=1) > 2 * SEAM_CHROMA)
           | _dark_above_brows(model, proj[tile][ry, rx] / 255.0, ry, rx, tone, size)
           | ((lab[:, 0] < ref[0] - COVER_DARK) & cover_edge[ry, rx]))
    candidates = np.zeros(seen.shape, np.uint8)
    candidates[ry[far], rx[far]] = 1
    n, label = cv2.connectedComponents(candidates, connectivity=8)
    at_seam = np.zeros(n, bool)
    at_seam[label[(candidates > 0) & (to_unseen <= 1.5)]] = True
    at_seam[0] = False
    off[tile] = at_seam[label]
    return off


def _seen_edge(model: FaceModel, visible: np.ndarray, islands: np.ndarray) -> np.ndarray:
    """(S, S) bool: the seen face-tile texels within :data:`SEEN_EDGE` of unseen island texels, features
    (:func:`feature_mask`) apart, and those in strips narrower than :data:`SEEN_STRIP`, the eyes apart."""
    size = visible.shape[0]
    to_unseen = cv2.distanceTransform((visible | ~islands).astype(np.uint8), cv2.DIST_L2, 3)
    edge = visible & (to_unseen <= SEEN_EDGE * size) & ~feature_mask(model, size)
    r = max(1, round(SEEN_STRIP * size / 2))
    wide = cv2.morphologyEx(visible.astype(np.uint8), cv2.MORPH_OPEN,
                            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)) > 0
    edge |= visible & ~wide & ~_feature_parts(model, size)[0]
    t = round(ATLAS_FACE * size)
    edge[t:, :] = False
    edge[:, t:] = False
    return edge


def _dark_above_brows(model: FaceModel, rgb: np.ndarray, rows: np.ndarray, cols: np.ndarray, tone: np.ndarray,
                      size: int) -> np.ndarray:
    """``(K,)`` bool: which texels (colours ``(K, 3)`` float sRGB in [0, 1] at ``rows`` and ``cols`` of a
    ``size`` atlas) lie on the forehead (:func:`forehead_mask`) and are darker than the skin ``tone`` by more
    than :data:`SEAM_DARK`."""
    lightness = _lab(rgb)[:, 0] * (255.0 / 100.0)   # OpenCV's 8-bit units, as _tone_lab's
    return forehead_mask(model, size)[rows, cols] & (lightness < _tone_lab(tone)[0] - SEAM_DARK)


def brow_row(model: FaceModel, size: int) -> int:
    """The texel row of the face tile's lowest eyebrow landmark: the forehead and temples lie above it."""
    from .facemodel import landmark_uv

    return int(np.ceil((1 - landmark_uv(model)[17:27, 1].min()) * size))


@lru_cache(maxsize=4)
def forehead_mask(model: FaceModel, size: int) -> np.ndarray:
    """(S, S) bool, read-only: the forehead and temples: above the line through the eyebrows' landmarks (from
    one brow's outer end to the other's; beyond them, above :func:`brow_row`), less the eyebrows themselves
    (:func:`feature_mask`). A single row through the lowest brow landmark (a brow's outer end) also took in the
    eyebrows and the lids' dark make-up near the nose, which then had no mirrored colour (a blank brow on Emma's
    unseen side)."""
    from .facemodel import landmark_uv

    uv = landmark_uv(model)[17:27]
    x, y = uv[:, 0] * size, (1 - uv[:, 1]) * size
    order = np.argsort(x)
    cols = np.arange(size)
    line = np.where((cols >= x.min()) & (cols <= x.max()), np.interp(cols, x[order], y[order]), brow_row(model, size))
    out = (np.arange(size)[:, None] <= line[None, :]) & ~feature_mask(model, size)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=4)
def feature_mask(model: FaceModel, size: int) -> np.ndarray:
    """(S, S) bool, read-only: the eyes, eyebrows, lips and nostrils in the face tile, from the 68 landmark
    vertices' UVs: the eyes with a margin of 8 % of their span (lashes, eyeliner), the rest with 3 %."""
    eyes, rest = _feature_parts(model, size)
    out = eyes | rest
    out.setflags(write=False)
    return out


@lru_cache(maxsize=4)
def _feature_parts(model: FaceModel, size: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`feature_mask` as ``(eyes, the rest)``, (S, S) bool each, read-only."""
    from .facemodel import landmark_uv

    uv = landmark_uv(model)
    px = np.round(np.stack([uv[:, 0] * size, (1 - uv[:, 1]) * size], 1) * 16).astype(np.int32)
    span = np.linalg.norm(px[36] - px[45]) / 16
    eyes, rest = np.zeros((size, size), np.uint8), np.zeros((size, size), np.uint8)
    for a, b in ((36, 42), (42, 48)):
        cv2.fillPoly(eyes, [px[a:b]], 1, cv2.LINE_AA, shift=4)
    for a, b in ((48, 60), (31, 36)):
        cv2.fillPoly(rest, [px[a:b]], 1, cv2.LINE_AA, shift=4)
    for a, b in ((17, 22), (22, 27)):
        cv2.polylines(rest, [px[a:b]], False, 1, max(1, round(span * 0.08)), cv2.LINE_AA, shift=4)

    def grown(mask, share):
        r = max(1, round(span * share))
        out = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)) > 0
        out.setflags(write=False)
        return out

    return grown(eyes, 0.08), grown(rest, 0.03)


def _well_seen_face(visible: np.ndarray, weight: np.ndarray, size: int, most: int = 60000):
    """Row and column indices of the face tile's well-seen texels (a regular subsample of at most ``most``;
    plenty for a median)."""
    face_tile = np.zeros((size, size), bool)
    face_tile[: round(ATLAS_FACE * size), : round(ATLAS_FACE * size)] = True
    gy, gx = np.nonzero(visible & face_tile & (weight > 0.6))
    step = len(gy) // most + 1
    return gy[::step], gx[::step]


#: a texel seen in several photos takes each photo's colour weighted by (cos of its view angle) to this power,
#: faded in over :data:`BLEND_FEATHER` of the texture's width from the edge of what that photo sees
BLEND_POWER = 4.0
BLEND_FEATHER = 0.02
#: the main photo keeps what it sees at least this squarely (cos) to itself, and gives way to the others below
#: the lower value (linear between): a side photo fills the cheek the main photo sees at a slant, and does not
#: paint its own expression (an open mouth, a smile) over the main photo's front
MAIN_COS = (0.5, 0.8)
#: the fewest texels both photos see well that set their colour match; with fewer, their skin tones do
MIN_SHARED_TEXELS = 2000


def blend_views(main: _Sample, others: list[_Sample]) -> None:
    """Blend other photos' samples into ``main`` (in place): each photo's colours are first scaled per channel
    to the main photo's (exposure and white balance differ; measured on the texels both see well, or on their
    skin tones when they share too few), then every texel seen by any photo takes the photos' colours weighted
    by ``weight ** BLEND_POWER``, feathered at each photo's edge, the others only where the main photo sees the
    skin at a slant (:data:`MAIN_COS`). The main photo keeps its skin tone and the covered share."""
    size = main.weight.shape[0]

    def feathered(smp: _Sample) -> np.ndarray:
        inside = cv2.distanceTransform(smp.visible.astype(np.uint8), cv2.DIST_L2, 3) / (BLEND_FEATHER * size)
        return smp.weight ** BLEND_POWER * np.clip(inside, 0, 1)

    total = feathered(main)
    acc = main.colour * total[:, :, None]
    room = np.clip((MAIN_COS[1] - main.weight) / (MAIN_COS[1] - MAIN_COS[0]), 0, 1)
    for o in others:
        both = (main.weight > 0.5) & (o.weight > 0.5)
        if both.sum() >= MIN_SHARED_TEXELS:
            gain = np.median(main.colour[both], 0) / np.maximum(np.median(o.colour[both], 0), 1e-3)
        else:
            gain = main.tone / np.maximum(o.tone, 1e-3)
        w = feathered(o) * room
        acc += np.clip(o.colour * gain.astype(np.float32), 0, 1) * w[:, :, None]
        total += w
        main.visible |= o.visible & (room > 0)
        main.weight = np.maximum(main.weight, np.where(room > 0, o.weight, 0))
    seen = total > 1e-6
    main.visible &= seen
    main.colour = np.where(seen[:, :, None], acc / np.maximum(total, 1e-12)[:, :, None], main.colour)


# -------------------------------------------------------------------------------------------------
# Poisson blending


def _divergence_source(g: np.ndarray, label: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Right-hand side for the correction h = f - g: minus the base's gradients across label seams
    (the guidance field is the base's gradient within a label and zero across). Sparse: only pixels
    next to a label change get a value."""
    s = np.zeros(g.shape, np.float32)
    lab = np.where(valid, label, -1).astype(np.int8)
    for axis in (0, 1):
        a = lab[1:, :] if axis == 0 else lab[:, 1:]
        b = lab[:-1, :] if axis == 0 else lab[:, :-1]
        ys, xs = np.nonzero((a != b) & (a >= 0) & (b >= 0))
        y2, x2 = (ys + 1, xs) if axis == 0 else (ys, xs + 1)
        d = g[y2, x2] - g[ys, xs]
        np.add.at(s, (ys, xs), d)      # pixel p=(ys,xs): -(g_p - g_q) = g_q - g_p
        np.add.at(s, (y2, x2), -d)
    return s


def masked_blur(values: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian average (float32, ``sigma`` texels) of ``values`` ((S, S) or (S, S, C)) over the texels of
    ``mask`` ((S, S) bool) only: a normalised convolution."""
    keep = mask if values.ndim == 2 else mask[..., None]
    num = cv2.GaussianBlur(np.where(keep, values, 0).astype(np.float32), (0, 0), sigma)
    den = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
    return num / np.maximum(den if values.ndim == 2 else den[..., None], 1e-6)


def poisson_blend(proj: np.ndarray, base: np.ndarray, known: np.ndarray, valid: np.ndarray,
                  label: np.ndarray, eps: float | np.ndarray, coarse: int = 128) -> np.ndarray:
    """Screened Poisson blend (float32 images in [0, 1]). Solves for ``h = f - base`` on ``valid &
    ~known`` with ``h = proj - base`` on ``known`` (Dirichlet), Neumann at island borders; returns ``f``.
    ``eps``: the screening (h's decay length is 1 / sqrt(eps) texels), one number or one per texel (S, S)."""
    g = base if base.dtype == np.float32 else base.astype(np.float32)
    hk = proj - g
    hk[~known] = 0
    # The boundary condition is the photo's difference to the base, low-passed over the seen region
    # (normalised convolution): single bright or dark texels on the rim would otherwise spread into
    # spots. Seen texels keep the exact photo colour in the result.
    hks = masked_blur(hk, known, max(1.0, known.shape[0] / 1024.0))
    hks[~known] = 0
    src = _divergence_source(g, label, valid)
    eps = np.broadcast_to(np.float32(eps), known.shape).astype(np.float32)
    h = _solve_levels(hks, src, known, valid, eps, coarse)
    h += g
    np.copyto(h, proj, where=(known | ~valid)[..., None])
    return h


def _area_sum(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Sum over 2x2 blocks (via OpenCV's area resampling)."""
    return cv2.resize(a.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA) * 4.0


def _downsample(level):
    hk, src, known, valid, eps = level
    shape = (hk.shape[0] // 2, hk.shape[1] // 2)
    v = _area_sum(valid, shape)
    k = _area_sum(known, shape)
    valid_c = v > 0.5
    known_c = valid_c & (k * 2 >= v) & (k > 0.5)
    hk_c = _area_sum(hk * known[..., None], shape) / np.maximum(k, 1)[..., None]
    src_c = _area_sum(src, shape)
    return hk_c, src_c, known_c, valid_c, cv2.resize(eps, (shape[1], shape[0]), interpolation=cv2.INTER_AREA) * 4.0


def _neighbour_weights(valid: np.ndarray) -> np.ndarray:
    """(4, h, w) bool: pixel and its neighbour (up, down, left, right) both valid."""
    h, w = valid.shape
    nw = np.zeros((4, h, w), bool)
    both_v = valid[1:, :] & valid[:-1, :]
    both_h = valid[:, 1:] & valid[:, :-1]
    nw[0, 1:, :] = both_v
    nw[1, :-1, :] = both_v
    nw[2, :, 1:] = both_h
    nw[3, :, :-1] = both_h
    return nw


def _solve_direct(hk, src, known, valid, eps):
    """Exact sparse solve on a (coarse) grid."""
    h, w = known.shape
    unknown = valid & ~known
    out = np.where(known[..., None], hk, 0).astype(np.float64)
    uflat = np.flatnonzero(unknown)
    if len(uflat) == 0:
        return out.astype(np.float32)
    idx = -np.ones(h * w, np.int64)
    idx[uflat] = np.arange(len(uflat))
    nw = _neighbour_weights(valid).reshape(4, -1)[:, uflat]
    rows, cols, vals = [np.arange(len(uflat))], [np.arange(len(uflat))], [eps.reshape(-1)[uflat] + nw.sum(0)]
    b = src.reshape(-1, 3)[uflat].astype(np.float64)
    kflat, oflat = known.reshape(-1), out.reshape(-1, 3)
    for d, off in enumerate((-w, w, -1, 1)):
        has = nw[d]
        q = np.where(has, uflat + off, 0)
        qk = has & kflat[q]
        qu = has & ~kflat[q]
        b[qk] += oflat[q[qk]]
        rows.append(np.flatnonzero(qu))
        cols.append(idx[q[qu]])
        vals.append(-np.ones(qu.sum()))
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(len(uflat), len(uflat)))
    out.reshape(-1, 3)[uflat] = spsolve(A.tocsc(), b).reshape(-1, 3)
    return out.astype(np.float32)


def _gauss_seidel(h, hk, src, known, valid, eps, sweeps, band):
    """Red-black Gauss-Seidel sweeps on the unknown pixels inside ``band`` (others keep their values)."""
    hh, ww = known.shape
    ys, xs = np.nonzero(valid & ~known & band)
    if len(ys) == 0:
        return h
    np.copyto(h, hk, where=known[..., None])
    nb = [(np.maximum(ys - 1, 0), xs), (np.minimum(ys + 1, hh - 1), xs),
          (ys, np.maximum(xs - 1, 0)), (ys, np.minimum(xs + 1, ww - 1))]
    wts = [valid[q] for q in nb]  # the pixel itself is valid, so this is "both valid"
    diag = (eps[ys, xs] + sum(w.astype(np.float32) for w in wts))[:, None]
    sv = src[ys, xs]
    red = ((ys + xs) % 2) == 0
    for _ in range(sweeps):
        for c in (red, ~red):
            acc = sv[c].copy()
            for (qy, qx), w in zip(nb, wts):
                acc += np.where(w[c, None], h[qy[c], qx[c]], 0)
            h[ys[c], xs[c]] = acc / diag[c]
    return h


def _solve_levels(hk, src, known, valid, eps, coarse):
    levels = [(hk, src, known, valid, eps)]
    while levels[-1][0].shape[0] > coarse:
        levels.append(_downsample(levels[-1]))
    h = _solve_direct(*levels[-1])
    for lev in reversed(levels[:-1]):
        hk_l, src_l, known_l, valid_l, eps_l = lev
        up = cv2.resize(h, (hk_l.shape[1], hk_l.shape[0]), interpolation=cv2.INTER_LINEAR)
        # fine detail lives near the photo's boundary and near label seams (sources)
        edge = (known_l | (src_l != 0).any(-1)).astype(np.uint8)
        band = cv2.dilate(edge, np.ones((3, 3), np.uint8), iterations=6) > 0
        h = _gauss_seidel(up, hk_l, src_l, known_l, valid_l, eps_l, 6, band)
    np.copyto(h, hk, where=known[..., None])
    return h


def pull_push_fill(img: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill texels outside ``valid`` from the nearest valid colours (pull-push), keeping valid ones."""
    pyr = [(np.where(valid[..., None], img, 0).astype(np.float32), valid.astype(np.float32))]
    while min(pyr[-1][1].shape) > 1:
        c, w = pyr[-1]
        h2, w2 = max(1, c.shape[0] // 2), max(1, c.shape[1] // 2)
        cs = cv2.resize(c, (w2, h2), interpolation=cv2.INTER_AREA)
        ws = cv2.resize(w, (w2, h2), interpolation=cv2.INTER_AREA)
        pyr.append((cs, ws))
    c, w = pyr[-1]
    col = c / np.maximum(w, 1e-8)[..., None]
    for c, w in reversed(pyr[1:-1]):
        up = cv2.resize(col, (c.shape[1], c.shape[0]), interpolation=cv2.INTER_LINEAR)
        wc = np.clip(w, 0, 1)[..., None]
        col = c / np.maximum(w, 1e-8)[..., None] * wc + up * (1 - wc)
    up = cv2.resize(col, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    out = img.astype(np.float32, copy=True)
    np.copyto(out, up, where=~valid[..., None])
    return out
