"""What covers the face in a photo: skin, scalp hair, eyebrows, beard, glasses, other things (a hand, a
microphone) and background, per pixel. Pure numpy/OpenCV/onnxruntime.

SegNet (``networks/segnet.py``, trained on the synthetic set's part masks: ``make train-seg``) sees a
``SEG_CROP`` crop aligned by the detected MediaPipe landmarks, wide enough for the whole head and its hair,
and is run on the crop and its mirror image (averaged: a mirrored photo gets the mirrored answer).
MediaPipe's selfie segmentation, trained on real people, gives the person's outline: what it calls
background is background whatever SegNet says. The texture treats hair, beard, glasses and other things
as unseen (``core.texture``), and ``fit.json`` says what was found (:meth:`Segmentation.notes`).
The weights ship with the project (``core/weights/segnet.onnx``); a missing file gives
:class:`SegmenterUnavailable` and the head is textured without segmentation, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import HeadforgeError
from .eyes import MP_EYES
from .onnxnet import OnnxNetwork, cached
from .regress import align, template

WEIGHTS = Path(__file__).resolve().parent / "weights" / "segnet.onnx"
SEG_CROP = 128
#: the crop's side in canonical-face cm (the face is about 15 cm wide, the head with its hair about 22), and
#: how far (crop pixels) the landmarks' mean lies below the crop's centre (the skull is above it)
SEG_SPAN_CM, SEG_DOWN_PX = 30.0, 12.0

#: SegNet's classes, in the order of its output channels
CLASSES = ("background", "skin", "hair", "brows", "beard", "glasses", "other")
BACKGROUND, SKIN, HAIR, BROWS, BEARD, GLASSES, OTHER = range(len(CLASSES))
#: the classes a texture must not take colour from: they are not the skin (glasses and beards only on a face
#: where they were found, :attr:`Segmentation.covering`; background where a fit a little off puts skin)
COVERING = (BACKGROUND, HAIR, BEARD, GLASSES, OTHER)
#: below this probability of "person", MediaPipe's selfie segmentation has it background
PERSON_MIN = 0.2
#: glasses (a beard) are found on a face when they cover this share of the convex hull of its landmarks, a
#: beard's pixels counted where SegNet gives it BEARD_SURE or more. Chosen on the 367 renders of views-heldout-v2
#: where MediaPipe finds the face (the SegNet of 2026-12-04, two networks averaged): glasses found on 89 % of the
#: faces that wear them and 0.8 % of those that don't (the smallest share with under 1 % false finds); beards on
#: 35 % (stubble is the hard part) and 0.4 %. Beards by SegNet's most likely class were found on the
#: astronaut's chin (share 0.15 with an earlier SegNet; at BEARD_SURE 0.01).
GLASSES_MIN_SHARE, FACIAL_HAIR_MIN_SHARE, BEARD_SURE = 0.10, 0.03, 0.7
#: a lens of found glasses (the skin its frame encloses) is a sun lens when it is darker than the face's skin
#: around it by this much (CIELAB lightness, 8-bit units): what it shows is the lens, not the skin, so it covers
#: the skin (the synthetic set labels tinted lenses skin, so SegNet does too). Measured 2026-12-04 in SegNet's
#: crop (medians): prnet_2's sunglasses 127 and 152 darker; the clear lenses of 3ddfa_JianzhuGuo 8 and 17 lighter,
#: Grace Hopper's 22 and 28 darker.
SUN_LENS_DARKER = 40.0
#: clear lenses show the eyes behind them: within this share of the eye's width (corner to corner) around each
#: eye opening MediaPipe finds, found glasses without sun lenses do not cover the skin. SegNet's 128-pixel crop
#: draws frames as bands a crop pixel or two wide, which covered 3ddfa_JianzhuGuo's and Grace Hopper's eyes
#: and lids, so that their texture had blurred fills there. 0.15 of the eye's width is 4-5 mm: the lids and
#: the skin round the eye's corners, inside a lens's rim (at 0.3 the windows reach Grace Hopper's upper rims).
#: On the synthetic renders, whose frames sit anywhere over the eyes, 16 % of what it takes back is frame.
LENS_EYE_MARGIN = 0.15


class SegmenterUnavailable(HeadforgeError):
    kind = "segmenter"


def seg_template() -> np.ndarray:
    """(478, 2) where the landmarks of a frontal canonical face lie in SegNet's crop (pixels)."""
    return template(SEG_CROP, SEG_CROP / SEG_SPAN_CM, SEG_DOWN_PX)


def seg_align(points: np.ndarray) -> np.ndarray:
    """2x3 similarity taking photo pixels to SegNet's crop, from the detected landmarks ``(478, 2)``."""
    return align(points, seg_template())


def seg_input(crop: np.ndarray) -> np.ndarray:
    """An aligned ``(SEG_CROP, SEG_CROP, 3)`` uint8 sRGB crop as SegNet takes it: ``(3, S, S)`` float32 in
    [-1, 1] (training uses it too)."""
    return (crop.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)


def warp_to_crop(image: np.ndarray, M: np.ndarray, nearest: bool = False) -> np.ndarray:
    """``image`` resampled into the crop by ``M``; outside the photo is 0 (black)."""
    shrink = abs(np.linalg.det(M[:, :2])) < 1
    flags = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return cv2.warpAffine(image, M, (SEG_CROP, SEG_CROP), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


@dataclass
class Segmentation:
    """Class probabilities in SegNet's crop, the photo -> crop transform, and the share of the face that
    glasses and a beard cover (:func:`face_shares`)."""

    probs: np.ndarray     #: (C, SEG_CROP, SEG_CROP) float32, summing to 1 over C
    M: np.ndarray         #: (2, 3) photo pixels -> crop pixels
    photo_size: tuple[int, int]  #: (H, W) of the photo
    glasses_share: float = 0.0
    facial_hair_share: float = 0.0
    sun_lenses: bool = False  #: found glasses have a lens darker than the skin (:func:`cover_sun_lenses`)
    #: where clear lenses show the eyes (:func:`eye_windows`): the top-left photo pixel (x, y) of a bool mask
    #: ``(h, w)``; None without found glasses, or with sun lenses
    eye_windows: tuple[tuple[int, int], np.ndarray] | None = None

    @property
    def labels(self) -> np.ndarray:
        """(SEG_CROP, SEG_CROP) uint8: the most likely class in the crop."""
        return self.probs.argmax(0).astype(np.uint8)

    @property
    def glasses(self) -> bool:
        return self.glasses_share >= GLASSES_MIN_SHARE

    @property
    def facial_hair(self) -> bool:
        return self.facial_hair_share >= FACIAL_HAIR_MIN_SHARE

    @property
    def covering(self) -> tuple[int, ...]:
        """The classes that are not this face's skin: background, hair and other things, glasses and a beard
        where they were found (elsewhere a few pixels of them are eyebrows or shadows taken for them)."""
        return tuple(c for c in COVERING if (c != GLASSES or self.glasses) and (c != BEARD or self.facial_hair))

    @property
    def cover_margin(self) -> np.ndarray:
        """(SEG_CROP, SEG_CROP) float32: how much more likely the classes of :attr:`covering` are, together,
        than skin and eyebrows (> 0: something covers the skin). Found glasses count a crop pixel (2.3 mm)
        beyond where SegNet sees them: their frames' edges are blurred into the skin around them."""
        probs = self.probs
        if self.glasses:
            probs = probs.copy()
            probs[GLASSES] = cv2.dilate(probs[GLASSES], np.ones((3, 3), np.uint8))
        return probs[list(self.covering)].sum(0) - probs[[SKIN, BROWS]].sum(0)

    @property
    def lens_margin(self) -> np.ndarray:
        """:attr:`cover_margin` where glasses are a clear lens: what SegNet calls glasses counts as skin."""
        probs = self.probs
        covering = [c for c in self.covering if c != GLASSES]
        return probs[covering].sum(0) - probs[[SKIN, BROWS, GLASSES]].sum(0)

    def _sample(self, crop_map: np.ndarray, pixels: np.ndarray, outside) -> np.ndarray:
        """``crop_map`` ``(S, S[, C])`` at photo pixels ``(K, 2)`` (x, y; pixel centres at integers),
        bilinear; ``outside`` beyond the crop."""
        p = np.asarray(pixels, np.float64) @ self.M[:, :2].T + self.M[:, 2]
        S = SEG_CROP
        x, y = np.clip(p[:, 0], 0, S - 1), np.clip(p[:, 1], 0, S - 1)
        x0, y0 = np.minimum(np.floor(x).astype(int), S - 2), np.minimum(np.floor(y).astype(int), S - 2)
        fx, fy = x - x0, y - y0
        if crop_map.ndim == 3:
            fx, fy = fx[:, None], fy[:, None]
        A = crop_map
        out = ((A[y0, x0] * (1 - fx) + A[y0, x0 + 1] * fx) * (1 - fy)
               + (A[y0 + 1, x0] * (1 - fx) + A[y0 + 1, x0 + 1] * fx) * fy).astype(np.float32)
        inside = (p[:, 0] >= -0.5) & (p[:, 0] <= S - 0.5) & (p[:, 1] >= -0.5) & (p[:, 1] <= S - 0.5)
        out[~inside] = outside
        return out

    def at(self, pixels: np.ndarray) -> np.ndarray:
        """The class probabilities at photo pixels ``(K, 2)``: ``(K, C)`` float32; background outside the
        crop."""
        return self._sample(self.probs.transpose(1, 2, 0), pixels, np.eye(len(CLASSES))[BACKGROUND])

    def covered(self, pixels: np.ndarray) -> np.ndarray:
        """(K,) bool: the photo pixels ``(K, 2)`` do not show skin: something (hair, a beard, glasses, a hand)
        covers it, or they are background (:attr:`cover_margin` > 0, :attr:`lens_margin` in the eye windows;
        background outside the crop)."""
        margin = self._sample(self.cover_margin, pixels, 1.0)
        if self.eye_windows is not None:
            (x0, y0), window = self.eye_windows
            pixels = np.asarray(pixels, np.float64)
            p = np.round(pixels).astype(np.int64) - (x0, y0)
            h, w = window.shape
            ok = (p[:, 0] >= 0) & (p[:, 0] < w) & (p[:, 1] >= 0) & (p[:, 1] < h)
            ok[ok] = window[p[ok, 1], p[ok, 0]]
            margin[ok] = self._sample(self.lens_margin, pixels[ok], 1.0)
        return margin > 0

    def image_labels(self) -> np.ndarray:
        """(H, W) uint8 class per photo pixel (background outside the crop), for pictures."""
        return self._to_photo(self.labels, cv2.INTER_NEAREST, BACKGROUND)

    def covered_image(self) -> np.ndarray:
        """(H, W) bool: :meth:`covered` at every photo pixel, but background: what covers the person, for
        pictures."""
        margin = self._to_photo(self.cover_margin, cv2.INTER_LINEAR, 1.0)
        if self.eye_windows is not None:
            (x0, y0), window = self.eye_windows
            h, w = window.shape
            lens = self._to_photo(self.lens_margin, cv2.INTER_LINEAR, 1.0)[y0:y0 + h, x0:x0 + w]
            np.copyto(margin[y0:y0 + h, x0:x0 + w], lens, where=window)
        return (margin > 0) & (self.image_labels() != BACKGROUND)

    def _to_photo(self, crop_map: np.ndarray, interpolation: int, outside) -> np.ndarray:
        H, W = self.photo_size
        return cv2.warpAffine(crop_map, self.M, (W, H), flags=interpolation | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=outside)

    def notes(self) -> dict:
        """``fit.json``'s ``glasses`` and ``facial_hair`` entries: found or not, and the share of the face
        each covers."""
        return {"glasses": {"found": self.glasses, "face_share": round(self.glasses_share, 4),
                            "sun_lenses": self.sun_lenses},
                "facial_hair": {"found": self.facial_hair, "face_share": round(self.facial_hair_share, 4)}}


def face_shares(probs: np.ndarray, M: np.ndarray, face_points: np.ndarray) -> tuple[float, float]:
    """The shares of the face (the convex hull of the detected landmarks ``(K, 2)``, photo pixels) that the
    crop's class probabilities ``probs`` ``(C, S, S)`` call glasses (the most likely class) and beard (at least
    :data:`BEARD_SURE`)."""
    hull = cv2.convexHull((np.asarray(face_points, np.float64) @ M[:, :2].T + M[:, 2]).astype(np.float32))
    face = np.zeros((SEG_CROP, SEG_CROP), np.uint8)
    cv2.fillConvexPoly(face, np.round(hull[:, 0] * 16).astype(np.int32), 1, cv2.LINE_8, shift=4)
    inside = face > 0
    n = max(int(inside.sum()), 1)
    glasses = (probs.argmax(0) == GLASSES) & inside
    beard = (probs[BEARD] >= BEARD_SURE) & inside
    return float(glasses.sum() / n), float(beard.sum() / n)


class SegNetOnnx(OnnxNetwork):
    """SegNet as shipped (``networks/segnet.py`` is the torch module it was exported from)."""

    def __init__(self, path: str | Path | None = None):
        super().__init__(path or WEIGHTS, "SegNet", SegmenterUnavailable,
                         "hair, glasses and beards are not told from skin in the texture",
                         "Reinstall Headforge or retrain them with `make train-seg`.")

    def probabilities(self, crop: np.ndarray) -> np.ndarray:
        """``(C, S, S)`` float32 class probabilities of an aligned crop, averaged with its mirror image's."""
        x = np.stack([seg_input(crop), seg_input(crop[:, ::-1])])
        logits = self.run({"image": x})[0].astype(np.float32)
        logits = 0.5 * (logits[0] + logits[1][:, :, ::-1])
        e = np.exp(logits - logits.max(0, keepdims=True))
        return e / e.sum(0, keepdims=True)


def person_probability(image: np.ndarray) -> np.ndarray | None:
    """MediaPipe's selfie segmentation: ``(H, W)`` float32 probability that a pixel is the person (hair and
    clothes included), or None when MediaPipe cannot run it."""
    try:
        import mediapipe as mp
    except ImportError:
        return None
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        res = seg.process(np.ascontiguousarray(image[:, :, :3]))
    return None if res.segmentation_mask is None else np.asarray(res.segmentation_mask, np.float32)


def segment(image: np.ndarray, points: np.ndarray, path=None, outline: bool = True) -> Segmentation:
    """What covers the face at ``points`` ``(478, 2)`` (detected landmarks, pixels) in ``image``
    ``(H, W, 3)`` uint8 sRGB. ``outline``: pixels MediaPipe's selfie segmentation puts outside the person are
    background. Raises :class:`SegmenterUnavailable` without the weights."""
    net = cached(SegNetOnnx, path or WEIGHTS)
    M = seg_align(points)
    probs = net.probabilities(warp_to_crop(image, M))
    if outline:
        person = person_probability(image)
        if person is not None:
            outside = warp_to_crop(person, M) < PERSON_MIN
            probs[:, outside] = 0.0
            probs[BACKGROUND, outside] = 1.0
    seg = Segmentation(probs=probs, M=M, photo_size=image.shape[:2])
    seg.glasses_share, seg.facial_hair_share = face_shares(probs, M, points[:468])
    if seg.glasses:
        seg.sun_lenses = cover_sun_lenses(probs, warp_to_crop(image, M))
        if not seg.sun_lenses:
            seg.eye_windows = eye_windows(points, image.shape[:2])
    return seg


def eye_windows(points: np.ndarray, photo_size: tuple[int, int]) -> tuple[tuple[int, int], np.ndarray]:
    """Where clear lenses show the eyes: each eye opening of the detected landmarks ``points`` ``(478, 2)``
    (pixels), grown by :data:`LENS_EYE_MARGIN` of the eye's width, as ``((x0, y0), mask)``: the top-left photo
    pixel of the bool ``mask`` ``(h, w)``, clipped to the photo of ``photo_size`` (H, W)."""
    contours = [np.asarray(points)[list(eye["contour"]), :2] for eye in MP_EYES.values()]
    grow = LENS_EYE_MARGIN * np.mean([np.ptp(c[:, 0]) for c in contours])
    H, W = photo_size
    lo = np.clip(np.floor(np.min([c.min(0) for c in contours], 0) - grow - 1), 0, [W, H]).astype(int)
    hi = np.clip(np.ceil(np.max([c.max(0) for c in contours], 0) + grow + 2), 0, [W, H]).astype(int)
    mask = np.zeros((max(hi[1] - lo[1], 1), max(hi[0] - lo[0], 1)), np.uint8)
    for c in contours:
        cv2.fillPoly(mask, [np.round((c - lo) * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    r = max(int(round(grow)), 1)
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return (int(lo[0]), int(lo[1])), mask > 0


def lenses(labels: np.ndarray) -> tuple[int, np.ndarray]:
    """The lenses of glasses in a crop's classes ``(S, S)``: the pixels that glasses enclose (not glasses, and
    not joined to the crop's edge around them). Returns their count and an ``(S, S)`` int32 map, 0 outside and
    ``1..count`` on each lens."""
    free = (labels != GLASSES).astype(np.uint8)
    _, comp = cv2.connectedComponents(free, connectivity=4)
    edge = np.unique(np.concatenate([comp[0], comp[-1], comp[:, 0], comp[:, -1]]))
    inside = free.astype(bool) & ~np.isin(comp, edge)
    n, comp = cv2.connectedComponents(inside.astype(np.uint8), connectivity=4)
    return n - 1, comp


def cover_sun_lenses(probs: np.ndarray, crop: np.ndarray) -> bool:
    """Make each sun lens of the glasses in ``probs`` ``(C, S, S)`` (changed in place) glasses: a lens
    (:func:`lenses`) darker than the skin around the glasses by :data:`SUN_LENS_DARKER` in the aligned ``crop``
    ``(S, S, 3)`` uint8 sRGB. Returns whether there was one."""
    labels = probs.argmax(0)
    n, comp = lenses(labels)
    skin = (labels == SKIN) & (comp == 0)
    if n == 0 or not skin.any():
        return False
    lightness = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB)[:, :, 0].astype(np.float32)
    reference = float(np.median(lightness[skin]))
    found = False
    for k in range(1, n + 1):
        lens = comp == k
        if reference - float(np.median(lightness[lens])) > SUN_LENS_DARKER:
            probs[:, lens] = 0.0
            probs[GLASSES, lens] = 1.0
            found = True
    return found
