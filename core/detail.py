"""Detail: the medium scale from the photo's shading (``core.relief``) and the fine scale from FineNet
(3DFaceNet section VIII): image-space displacement -> UV displacement map -> normal map. Pure
numpy/OpenCV/onnxruntime.

* :func:`combine` adds FineNet's fine band to the medium relief.

* :func:`displacement_to_uv` resamples an image-space depth displacement (cm, along the view ray's
  opposite, i.e. towards the camera is negative depth) into the skin atlas through the fitted camera and
  mesh, keeps what the photo sees, and feathers the edge to zero.
* :func:`normal_map` turns a UV displacement map into a tangent-space normal map (OpenGL convention,
  +Y up), using the mesh's UV-to-surface scale.
* :class:`FineNetOnnx` runs the exported U-Net (``core/weights/finenet.onnx``) on a 256 x 256 face crop
  stacked with the coarse depth rendered from the fitted head; :func:`finenet_uv` puts its output in the atlas.
* :func:`highpass_baseline` is the no-network comparison: a high-pass of the image's luminance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .camera import Camera
from .errors import HeadforgeError
from .facemodel import ATLAS_FACE, FaceModel
from .onnxnet import OnnxNetwork, cached
from .relief import texel_cm
from .texture import MIN_COS, _clean_mask, surface_grid, texel_projection

FINE_CROP = 256
WEIGHTS = Path(__file__).resolve().parent / "weights" / "finenet.onnx"


class DetailUnavailable(HeadforgeError):
    kind = "detail"


#: FineNet gives the detail finer than this (Gaussian sigma, cm on the skin); the photo's shading gives the
#: medium scale above it (``core.relief``)
FINE_BAND_CM = 0.15


@dataclass
class DetailResult:
    uv: np.ndarray          #: (S, S) float32 cm displacement along the normal (outwards positive): medium + fine
    mask: np.ndarray        #: (S, S) bool texels the photo saw
    medium: np.ndarray      #: (S, S) float32 cm: the medium scale, from the photo's shading (``core.relief``)
    fine: np.ndarray | None = None   #: (S, S) float32 cm: FineNet's fine scale (None without its weights)
    image: np.ndarray | None = None  #: (H, W) float32 cm: FineNet's image-space displacement (None without it)

    def to_json(self) -> dict:
        """fit.json's account of where the detail came from."""
        return {"medium": {"from": "the photo's shading", "rms_mm": _rms_mm(self.medium, self.mask)},
                "fine": None if self.fine is None else {"from": "FineNet", "rms_mm": _rms_mm(self.fine, self.mask)}}

    @property
    def range_cm(self) -> tuple[float, float]:
        """The range the 16-bit encoding spans (see :func:`encode_uint16`)."""
        return _range(self.uv)


def _rms_mm(disp_uv: np.ndarray, mask: np.ndarray) -> float:
    return round(float(np.sqrt(np.mean(np.square(disp_uv[mask])))) * 10, 4) if mask.any() else 0.0


def combine(model: FaceModel, vertices: np.ndarray, medium: np.ndarray, medium_mask: np.ndarray,
            fine: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> DetailResult:
    """The head's detail: the ``medium`` relief ((S, S) cm, solved on ``medium_mask``) plus, when FineNet ran
    (``fine`` = its UV map, seen mask and image-space map from :func:`displacement_to_uv`), FineNet's band
    finer than :data:`FINE_BAND_CM` (its coarser part would count the folds the shading found twice)."""
    if fine is None:
        return DetailResult(uv=medium, mask=medium_mask, medium=medium)
    uv, mask, image = fine
    sigma = FINE_BAND_CM / texel_cm(model, vertices, uv.shape[0])
    band = (uv - cv2.GaussianBlur(uv, (0, 0), sigma)).astype(np.float32)
    return DetailResult(uv=medium + band, mask=medium_mask | mask, medium=medium, fine=band, image=image)


def _range(disp_uv: np.ndarray) -> tuple[float, float]:
    lo, hi = float(min(disp_uv.min(), 0.0)), float(max(disp_uv.max(), 0.0))
    return lo, lo + max(hi - lo, 1e-6)


def encode_uint16(disp_uv: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The one storage format of a UV displacement map: ``(uint16 image, lo_cm, hi_cm)`` with
    ``cm = lo + value / 65535 * (hi - lo)``; the range always includes 0."""
    lo, hi = _range(disp_uv)
    return np.round((disp_uv - lo) / (hi - lo) * 65535).astype(np.uint16), lo, hi


def displacement_to_uv(model: FaceModel, vertices: np.ndarray, camera: Camera, disp_image: np.ndarray,
                       size: int = 1024, face_points: np.ndarray | None = None,
                       feather_cm: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Resample ``disp_image`` ``(H, W)`` (cm, positive = out of the skin) into the face tile of the skin
    atlas. Returns ``(uv_map (S, S) float32 cm, seen mask (S, S) bool)``; unseen texels are 0 and the
    seen region's edge fades to 0 over ``feather_cm`` of skin."""
    H, W = disp_image.shape[:2]
    tp = texel_projection(model, vertices, camera, size, (H, W), face_points)
    mx = tp.to_grid(tp.uvp[:, 0], fill=-1.0)
    my = tp.to_grid(tp.uvp[:, 1], fill=-1.0)
    vals = cv2.remap(disp_image.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=0)
    ok = tp.seen & (tp.cos >= MIN_COS)
    grid = np.where(tp.to_grid(ok), vals, 0).astype(np.float32)
    mask = _clean_mask(tp.to_grid(ok), size)
    face_tile = np.zeros((size, size), bool)
    a = int(round(ATLAS_FACE * size))
    face_tile[:a, :a] = True
    mask &= face_tile
    # feather: distance (texels) to the mask's edge, converted with the atlas' scale (~cm per texel)
    cm_per_texel = texel_cm(model, vertices, size)
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5) * cm_per_texel
    w = np.clip(dist / max(feather_cm, 1e-6), 0, 1)
    w = w * w * (3 - 2 * w)
    return (grid * w).astype(np.float32), mask


def normal_map(model: FaceModel, vertices: np.ndarray, disp_uv: np.ndarray) -> np.ndarray:
    """Tangent-space normal map ``(S, S, 3)`` uint8 (OpenGL convention: +X along u, +Y along v) of the
    UV displacement ``disp_uv`` (cm) on this head."""
    P = surface_grid(model, vertices, disp_uv.shape[0])
    # surface length per texel along u (columns) and v (rows, v grows upwards = rows decrease)
    du = np.linalg.norm(np.gradient(P, axis=1), axis=2)
    dv = np.linalg.norm(np.gradient(P, axis=0), axis=2)
    du = np.where(np.isfinite(du) & (du > 0), du, np.nanmedian(du))
    dv = np.where(np.isfinite(dv) & (dv > 0), dv, np.nanmedian(dv))
    h = disp_uv.astype(np.float64)
    dh_du = np.gradient(h, axis=1) / du
    dh_dv = -np.gradient(h, axis=0) / dv
    n = np.stack([-dh_du, -dh_dv, np.ones_like(h)], -1)
    n /= np.linalg.norm(n, axis=2, keepdims=True)
    return np.clip(np.round((n * 0.5 + 0.5) * 255), 0, 255).astype(np.uint8)


def highpass_baseline(image: np.ndarray, sigma: float = 3.0, gain: float = 0.02) -> np.ndarray:
    """No-network comparison: dark fine structures are hollows. ``(H, W)`` cm from the luminance
    high-pass, scaled by ``gain`` (cm per unit of normalised luminance; fit it on data)."""
    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    hp = g - cv2.GaussianBlur(g, (0, 0), sigma)
    return (gain * hp / (hp.std() + 1e-6)).astype(np.float32)


# -------------------------------------------------------------------------------------------------
# FineNet inference


def crop_transform(points: np.ndarray) -> np.ndarray:
    """2x3 image -> 256 crop similarity (the CoarseNet alignment at twice the size)."""
    from .regress import align

    M = align(points)
    return M * np.array([[2.0], [2.0]])


def input_channels(gray: np.ndarray, depth_n: np.ndarray, red: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """FineNet's ``(4, H, W)`` float32 input from crop-sized maps: grey and red (uint8) scaled to [-1, 1],
    coarse depth about its median (cm / 5, 0 where there is none) and the depth's validity (0/1)."""
    return np.stack([gray.astype(np.float32) / 127.5 - 1, depth_n.astype(np.float32),
                     (red / 127.5 - 1).astype(np.float32), valid.astype(np.float32)], 0)


def finenet_inputs(image: np.ndarray, depth: np.ndarray, points: np.ndarray):
    """``(1, 4, 256, 256)`` float32: grey in [-1, 1], and coarse depth relative to its median (cm / 5);
    plus the 2x3 transform."""
    M = crop_transform(points)
    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    crop = cv2.warpAffine(image, M, (FINE_CROP, FINE_CROP), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    gray = cv2.warpAffine(g, M, (FINE_CROP, FINE_CROP), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    d = np.where(np.isfinite(depth), depth, 0).astype(np.float32)
    dc = cv2.warpAffine(d, M, (FINE_CROP, FINE_CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    valid = dc > 0
    med = np.median(dc[valid]) if valid.any() else 0.0
    dn = np.where(valid, (dc - med) / 5.0, 0).astype(np.float32)
    return input_channels(gray, dn, crop[..., 0], valid)[None], M


class FineNetOnnx(OnnxNetwork):
    """FineNet as shipped: the exported ONNX U-Net in an onnxruntime session. The torch module it was exported
    from, for training, is :class:`headforge.networks.finenet.FineNet`."""

    def __init__(self, path: str | Path | None = None):
        super().__init__(path or WEIGHTS, "FineNet", DetailUnavailable, "the head is made without fine detail",
                         "Reinstall Headforge or train them (networks/train_fine.py).")

    def predict(self, image: np.ndarray, depth: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Image-space displacement ``(H, W)`` float32 cm."""
        x, M = finenet_inputs(image, depth, points)
        out = self.run({"input": x})[0][0, 0]
        H, W = image.shape[:2]
        back = cv2.warpAffine(out.astype(np.float32), M, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return back


def finenet_uv(net: FineNetOnnx, model: FaceModel, vertices: np.ndarray, camera: Camera, image: np.ndarray,
               points: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FineNet on the photo ``image`` ``(H, W, 3)`` uint8 (at up to 1024 px) with the fitted head's depth and the
    detected landmarks ``points`` ``(K, 2)`` px, resampled into the ``size`` skin atlas: (UV map cm, seen mask,
    image-space map cm) as :func:`combine` takes them."""
    from .raster import rasterize

    H, W = image.shape[:2]
    s = min(1.0, 1024.0 / max(H, W))
    small = image if s == 1.0 else cv2.resize(image, (round(W * s), round(H * s)), interpolation=cv2.INTER_AREA)
    c = camera
    cam = Camera(c.fx * s, c.fy * s, c.cx * s, c.cy * s, c.rotation, c.translation, small.shape[1], small.shape[0])
    pts = points * s
    disp_img = net.predict(small, rasterize(model, vertices, cam)["depth"], pts)
    uv, mask = displacement_to_uv(model, vertices, cam, disp_img, size, pts[:468])
    return uv, mask, disp_img


def load(path=None) -> FineNetOnnx:
    return cached(FineNetOnnx, path or WEIGHTS)
