"""Medium-scale relief from the photo's shading (Jin et al.'s medium stage): the folds and wrinkles a few
millimetres across that the fitted head lacks, as a displacement along the normal, solved so that the displaced
surface, under the photo's light, shades the way the photo does. Pure numpy/scipy/OpenCV.

* The light: second-order spherical harmonics of the luminance (linear light) on the fitted head's own normals,
  fitted to the seen skin (robust, and without :func:`core.texture.fit_light`'s ridge: the ridge keeps the
  de-lit texture calm, but a flattened light would read every shadow as a deeper fold).
* The albedo is held smooth: the photo over the head's shading, averaged over :data:`ALBEDO_SIGMA_CM`. A texel
  whose chromaticity (which the light does not change) departs from its neighbourhood's is a mark of the skin
  (a freckle, a mole, make-up) and counts less; eyes, brows, lips, nostrils and what covers the skin (hair,
  glasses, a beard: ``covered``) are left out.
* What that leaves is the shading the head does not explain; linearised in the displacement's surface gradient
  it is one sparse least-squares problem with curvature and slope penalties, solved at :data:`WORK_SIZE`.
* Only the medium band is kept: relief broader than :data:`BAND_CM` belongs to the coarse fit (and to the
  light's errors); it is bounded by :data:`MAX_RELIEF_CM` and faded out at the edge of what was solved.

:func:`draw_relief` is the forward model (a known relief, albedo and light drawn into a photo), for tests and
``bench/relief_bench.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .camera import Camera
from .facemodel import ATLAS_FACE, FaceModel
from .image import linear_to_srgb, srgb_to_linear
from .texture import (Light, TexelProjection, _clean_mask, feature_mask, masked_blur, robust_sh_fit, sh9,
                      surface_grid, texel_projection)

WORK_SIZE = 512           #: atlas size the relief is solved at (the face tile's texels are about 0.6 mm)
ALBEDO_SIGMA_CM = 0.5     #: the albedo is the ratio of photo to shading averaged over this (Gaussian sigma)
#: a texel's chromaticity this far from its neighbourhood's halves its weight, or MARK_NOISE times the photo's
#: median departure if that is more (JPEG's colour noise is far above a render's)
MARK_CHROMA = 0.004
MARK_NOISE = 3.0
COVER_MARGIN_CM = 0.6     #: skin this near to what covers it (hair, a cap, glasses) is left out: their shadows
#: a texel whose shading departs by more than this share from the head's is a cast shadow, hair or shine, not
#: relief: left out (a fringe's shadow on the forehead, the hair at a turned head's temple)
MAX_SHADING_RATIO = 0.25
MIN_COS = 0.5             #: texels seen more obliquely than this say little of their slope
SATURATED = 0.97          #: a channel above this (sRGB) is burnt out
CURVATURE = 0.03          #: weight of the squared Laplacian of the relief (mm per texel^2) against the data
SLOPE = 0.03              #: weight of its squared slope (keeps flat what the light cannot see)
#: relief broader than this (Gaussian sigma) is taken out. On Cycles renders of flat skin seen through their true
#: head and camera, what the second-order light cannot draw (cast shadows, light under the skin, shine) read as
#: relief of 0.125 mm RMS with a 1 cm band, 0.071 mm with this one; the real photos' wrinkles and folds (a few
#: millimetres across) stay
BAND_CM = 0.4
MAX_RELIEF_CM = 0.15      #: the relief is clipped to +- this
FEATHER_CM = 0.5          #: and faded to zero over this at the edge of what was solved
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  #: linear RGB -> luminance (Rec. 709)


@dataclass
class _Texels:
    """The fitted head on the face tile's texel grid (T x T, T = ATLAS_FACE x the atlas size)."""

    tp: TexelProjection
    position: np.ndarray   #: (T, T, 3) float32 camera space cm, NaN off the skin
    normal: np.ndarray     #: (T, T, 3) float32 unit camera-space normals of the fitted head, NaN off the skin
    cm_per_texel: float

    @property
    def tile(self) -> int:
        return self.position.shape[0]


def _texels(model: FaceModel, vertices: np.ndarray, camera: Camera, size: int, image_hw: tuple[int, int],
            face_points: np.ndarray | None) -> _Texels:
    tp = texel_projection(model, vertices, camera, size, image_hw, face_points)

    def on_tile(values):
        tile = round(ATLAS_FACE * size)
        return tp.to_grid(values.astype(np.float32), np.nan)[:tile, :tile]

    n = tp.interpolate((model.vertex_normals(vertices) @ camera.rotation.T).astype(np.float32))
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return _Texels(tp=tp, position=on_tile(tp.interpolate(camera.to_camera(vertices))), normal=on_tile(n),
                   cm_per_texel=texel_cm(model, vertices, size))


def texel_cm(model: FaceModel, vertices: np.ndarray, size: int) -> float:
    """The skin's length (cm, median) of one texel step on the face tile of a ``size`` atlas, on the head
    ``vertices`` ``(N, 3)`` cm."""
    tile = round(ATLAS_FACE * size)
    P = surface_grid(model, vertices, size)[:tile, :tile]
    return float(np.nanmedian(np.linalg.norm(np.diff(P, axis=1), axis=2)))


def medium_band(h: np.ndarray, solved: np.ndarray, cm_per_texel: float) -> np.ndarray:
    """``h`` ((T, T) cm) without what is broader than :data:`BAND_CM` (its Gaussian average over the texels of
    ``solved``): the band the relief is solved for."""
    return h - masked_blur(h, solved, BAND_CM / cm_per_texel)


def surface_gradient(P: np.ndarray) -> np.ndarray:
    """(T, T, 3, 2): at each texel of the surface grid ``P`` ((T, T, 3), NaN off the surface), what turns a
    scalar field's central texel differences (along columns, along rows) into its 3D gradient on the surface:
    ``J (J^T J)^-1`` with ``J = (P_u, P_v)``. NaN where the grid has no neighbours."""
    J = np.stack([np.gradient(P, axis=1), np.gradient(P, axis=0)], -1)
    G = np.einsum("ijcs,ijct->ijst", J, J)
    det = G[..., 0, 0] * G[..., 1, 1] - G[..., 0, 1] ** 2
    inv = np.stack([np.stack([G[..., 1, 1], -G[..., 0, 1]], -1), np.stack([-G[..., 0, 1], G[..., 0, 0]], -1)], -2)
    inv = inv / np.where(det > 0, det, np.nan)[..., None, None]
    return np.einsum("ijcs,ijst->ijct", J, inv)


def displaced_normals(P: np.ndarray, normal: np.ndarray, relief: np.ndarray) -> np.ndarray:
    """(T, T, 3) unit normals of the surface grid ``P`` (normals ``normal``) displaced along them by ``relief``
    ((T, T) cm), to first order: ``n - grad_s h``, normalised."""
    grad = surface_gradient(P)
    n = normal - (grad[..., 0] * np.gradient(relief, axis=1)[..., None]
                  + grad[..., 1] * np.gradient(relief, axis=0)[..., None])
    return n / np.linalg.norm(n, axis=2, keepdims=True)


def _sh9_gradient(n: np.ndarray) -> np.ndarray:
    """(M, 9, 3): the derivative of each of :func:`core.texture.sh9`'s basis functions by the normal."""
    x, y, z = n[:, 0], n[:, 1], n[:, 2]
    o, zero = np.ones_like(x), np.zeros_like(x)
    rows = [(zero, zero, zero), (zero, o, zero), (zero, zero, o), (o, zero, zero), (y, x, zero),
            (zero, z, y), (zero, zero, 6 * z), (z, zero, x), (2 * x, -2 * y, zero)]
    return np.stack([np.stack(r, 1) for r in rows], 1)


def skin_light(normals: np.ndarray, luma: np.ndarray) -> np.ndarray:
    """(9,) float32: the photo's light as the relief reads it, second-order spherical harmonics of the
    luminance ``luma`` ((K,) linear) of skin texels at the fitted head's own unit ``normals`` ((K, 3), camera
    space): robust, and without the texture's ridge (the relief's slopes are read against it)."""
    return robust_sh_fit(sh9(normals), luma[:, None], ridge=0.0)[0][:, 0]


def shading_relief(model: FaceModel, vertices: np.ndarray, camera: Camera, image: np.ndarray, size: int = 1024,
                   face_points: np.ndarray | None = None, covered=None,
                   work_size: int = WORK_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The medium-scale relief of the skin the photo sees, from its shading.

    ``vertices``: the fitted head ``(N, 3)`` cm seen by ``camera``; ``image``: ``(H, W, 3)`` uint8 sRGB photo;
    ``face_points`` and ``covered`` as for :func:`core.texture.project_texture` (hair, glasses and beards are
    left out). Returns ``(relief (size, size) float32 cm along the normal, outwards positive; solved (size,
    size) bool)`` in the skin atlas: zero outside the face tile and where the photo does not show skin, faded to
    zero at that edge. Both zero when the photo shows too little skin."""
    tx = _texels(model, vertices, camera, work_size, image.shape[:2], face_points)
    rgb, mask = _seen_skin(model, tx, image, work_size, covered)
    if mask.sum() < 500:
        return np.zeros((size, size), np.float32), np.zeros((size, size), bool)
    lin = srgb_to_linear(rgb).astype(np.float32)
    luma = lin @ LUMA
    n = np.where(mask[..., None], tx.normal, 0)
    coef = skin_light(n[mask], luma[mask])
    shading = np.maximum((sh9(n.reshape(-1, 3)) @ coef).reshape(mask.shape), 1e-3)
    resid, weight = _unexplained_shading(luma, lin, shading, mask, ALBEDO_SIGMA_CM / tx.cm_per_texel)
    # shading change per unit of the relief's central texel differences (along columns, along rows), relative to
    # the shading: -(dS/dn . grad_s h) / S
    g = np.einsum("mkc,k->mc", _sh9_gradient(n.reshape(-1, 3)), coef).reshape(n.shape)
    grad = surface_gradient(tx.position)
    a_u = -np.einsum("ijc,ijc->ij", g, grad[..., 0]) / shading
    a_v = -np.einsum("ijc,ijc->ij", g, grad[..., 1]) / shading
    solved = mask & np.isfinite(a_u) & np.isfinite(a_v)
    h = _solve(solved, weight, resid, np.nan_to_num(a_u), np.nan_to_num(a_v))
    return _medium_band(h, solved, tx.cm_per_texel, work_size, size)


def _seen_skin(model: FaceModel, tx: _Texels, image: np.ndarray, work_size: int, covered):
    """The photo's colours on the face tile ((T, T, 3) float32 sRGB in [0, 1]) and the texels that show skin
    squarely, unburnt, features and what covers the skin apart ((T, T) bool)."""
    tp, tile = tx.tp, tx.tile
    H, W = image.shape[:2]
    # the photo at about the texels' sampling density
    s_img = float(min(1.0, tile * 0.6 / max(tp.face_px, 1.0)))
    img = image if s_img > 0.8 else cv2.resize(image, (max(1, round(W * s_img)), max(1, round(H * s_img))),
                                               interpolation=cv2.INTER_AREA)
    px = (tp.uvp + 0.5) * np.array([img.shape[1] / W, img.shape[0] / H], np.float32) - 0.5
    rgb = cv2.remap(img, tp.to_grid(px[:, 0], -1), tp.to_grid(px[:, 1], -1), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)[:tile, :tile].astype(np.float32) / 255.0
    ok = tp.seen & (tp.cos >= MIN_COS)
    if covered is not None:  # and the skin next to it, where hair, a cap or glasses cast their shadows
        hidden = tp.to_grid(covered(tp.uvp) & tp.seen, False)[:tile, :tile]
        near = cv2.distanceTransform((~hidden).astype(np.uint8), cv2.DIST_L2, 5) * tx.cm_per_texel < COVER_MARGIN_CM
        ok &= ~np.pad(near, ((0, work_size - tile),) * 2).flat[tp.flat]
    mask = _clean_mask(tp.to_grid(ok, False), work_size)[:tile, :tile]
    mask &= ~feature_mask(model, work_size)[:tile, :tile] & (rgb.max(2) < SATURATED) & (rgb.sum(2) > 3e-3)
    return rgb, mask


def _unexplained_shading(luma: np.ndarray, lin: np.ndarray, shading: np.ndarray, mask: np.ndarray,
                         sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The photo's luminance over the smooth albedo, relative to the head's ``shading``, minus one ((T, T)), and
    each texel's weight ((T, T) in [0, 1]: low on marks of the skin, zero beyond :data:`MAX_SHADING_RATIO`; the
    residual is scaled by it too). ``sigma``: the albedo's smoothing, texels."""
    ratio = np.where(mask, luma / shading, 0)
    albedo = masked_blur(ratio, mask, sigma)
    chroma = masked_blur(lin / np.maximum(lin.sum(2, keepdims=True), 1e-6), mask, 1.0)
    off = np.linalg.norm(chroma - masked_blur(chroma, mask, sigma), axis=2)
    scale = max(MARK_CHROMA, MARK_NOISE * float(np.median(off[mask])))
    weight = np.where(mask, 1.0 / (1.0 + (off / scale) ** 2), 0).astype(np.float32)
    resid = np.where(mask, ratio / np.maximum(albedo, 1e-6) - 1, 0)
    weight = np.where(np.abs(resid) > MAX_SHADING_RATIO, 0, weight).astype(np.float32)
    return resid * weight, weight


def _solve(mask: np.ndarray, weight: np.ndarray, resid: np.ndarray, a_u: np.ndarray,
           a_v: np.ndarray) -> np.ndarray:
    """The relief (T, T) cm whose central texel differences make ``a_u * h_u + a_v * h_v`` explain ``resid``
    on ``mask`` (rows weighted by the square root of ``weight``), with :data:`CURVATURE` and :data:`SLOPE`
    penalties; zero beyond ``mask`` grown by two texels."""
    T = mask.shape[0]
    grow = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    idx = np.full((T + 4, T + 4), -1, np.int64)  # padded; -1: a neighbour held at zero
    ys, xs = np.nonzero(grow)
    idx[ys + 2, xs + 2] = np.arange(len(ys))
    rows, cols, vals, rhs = [], [], [], []

    def equations(at_y, at_x, terms, b):
        """One row per texel (at_y, at_x): sum of coefficient * h[texel + offset] = b."""
        first = sum(len(r) for r in rhs)
        for coef, (dy, dx) in terms:
            var = idx[at_y + 2 + dy, at_x + 2 + dx]
            keep = var >= 0
            rows.append(first + np.flatnonzero(keep))
            cols.append(var[keep])
            vals.append(np.broadcast_to(coef, var.shape)[keep])
        rhs.append(b)

    # the data, with the relief in mm (0.05: mm -> cm, and the central difference's half)
    dy, dx = np.nonzero(mask)
    w = np.sqrt(weight[dy, dx])
    au, av = a_u[dy, dx] * w * 0.05, a_v[dy, dx] * w * 0.05
    equations(dy, dx, [(au, (0, 1)), (-au, (0, -1)), (av, (1, 0)), (-av, (-1, 0))], resid[dy, dx] * w)
    c, s, zero = np.sqrt(CURVATURE), np.sqrt(SLOPE), np.zeros(len(ys), np.float32)
    equations(ys, xs, [(-4 * c, (0, 0)), (c, (0, 1)), (c, (0, -1)), (c, (1, 0)), (c, (-1, 0))], zero)
    equations(ys, xs, [(s, (0, 1)), (-s, (0, 0))], zero)
    equations(ys, xs, [(s, (1, 0)), (-s, (0, 0))], zero)
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(sum(len(r) for r in rhs), len(ys)))
    sol = spla.spsolve((A.T @ A).tocsc(), A.T @ np.concatenate(rhs))
    h = np.zeros((T, T), np.float32)
    h[ys, xs] = sol * 0.1
    return h


def _medium_band(h: np.ndarray, solved: np.ndarray, cm_per_texel: float, work_size: int,
                 size: int) -> tuple[np.ndarray, np.ndarray]:
    """The relief's medium band (what :data:`BAND_CM` leaves), bounded, faded out at the edge of ``solved`` and
    placed in the ``size`` atlas; and the solved texels there."""
    h = medium_band(h, solved, cm_per_texel)
    dist = cv2.distanceTransform(solved.astype(np.uint8), cv2.DIST_L2, 5) * cm_per_texel
    fade = np.clip(dist / FEATHER_CM, 0, 1)
    tile = solved.shape[0]
    out = np.zeros((work_size, work_size), np.float32)
    out[:tile, :tile] = np.where(solved, np.clip(h, -MAX_RELIEF_CM, MAX_RELIEF_CM) * fade * fade * (3 - 2 * fade), 0)
    seen = np.zeros((work_size, work_size), np.uint8)
    seen[:tile, :tile] = solved
    if size != work_size:
        out = cv2.resize(out, (size, size), interpolation=cv2.INTER_LINEAR)
        seen = cv2.resize(seen, (size, size), interpolation=cv2.INTER_NEAREST)
    return out.astype(np.float32), seen > 0


def draw_relief(model: FaceModel, vertices: np.ndarray, camera: Camera, photo: np.ndarray, relief: np.ndarray,
                albedo: np.ndarray, light: Light) -> np.ndarray:
    """The forward model: ``photo`` ``(H, W, 3)`` uint8 sRGB with the fitted head's face drawn over it, its
    skin the ``albedo`` (the face tile's ``(T, T, 3)`` linear RGB) lit by ``light`` (:class:`core.texture.Light`,
    linear RGB) on the head displaced by ``relief`` (``(T, T)`` cm along the normal). ``T`` is
    ``ATLAS_FACE`` times an atlas size. For tests and the bench: a photo whose relief is known."""
    from .raster import MASK_FACE, rasterize

    tile = relief.shape[0]
    size = round(tile / ATLAS_FACE)
    tx = _texels(model, vertices, camera, size, photo.shape[:2], None)
    n = displaced_normals(tx.position, tx.normal, relief)
    lit = np.maximum(sh9(np.nan_to_num(n).reshape(-1, 3)) @ light.coef, 0).reshape(tile, tile, 3) * albedo
    colour = np.zeros((size, size, 3), np.float32)
    colour[:tile, :tile] = np.nan_to_num(np.clip(linear_to_srgb(lit), 0, 1))
    r = rasterize(model, vertices, camera, uv=True)
    u, v = r["uv"][..., 0] * size - 0.5, (1 - r["uv"][..., 1]) * size - 0.5
    face = (r["mask"] == MASK_FACE) & (r["uv"][..., 0] >= 0) & (u < tile - 1) & (v < tile - 1)
    drawn = cv2.remap(colour, u.astype(np.float32), v.astype(np.float32), cv2.INTER_LINEAR)
    out = photo.copy()
    out[face] = np.round(drawn[face] * 255).astype(np.uint8)
    return out
