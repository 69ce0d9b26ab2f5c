"""Dense face landmarks with MediaPipe face mesh (478 points with iris).

Faces are found in two passes, so that every face a person would see is found:

1. MediaPipe face mesh on the whole photo, padded to a square (MediaPipe's legacy graph assumes square
   input for exact x/y) and downscaled to at most ``detect_size`` pixels. Its built-in detector is the
   short-range one: faces that fill a good part of the frame.
2. MediaPipe's full-range face detector on the same image finds the faces pass 1 missed (small faces, a
   group photo, an old portrait). Each one is cut out of the full-resolution photo upright (turned by the
   detector's eye keypoints), scaled to :data:`CROP_SIZE` pixels (small faces are upscaled), and face mesh
   runs on that crop; the points are mapped back to the photo.

Faces are sorted by size, largest first; ``face_index`` picks one.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import FaceIndexError, FaceTooSmall, NoFaceFound, HeadforgeError

#: Smallest face Headforge fits, in pixels across (landmark bounding-box width). Faces of 40-47 px (outer eye
#: corners below ``quality.MIN_EYE_PX``) are made and called doubtful: six real photos scaled down to a 40 px
#: face gave neutral faces 0.60-0.99 mm from the full photo's (32 px: 0.59-1.26; 64 px: 0.25-0.62).
MIN_FACE_PX = 40
MAX_FACES = 8

#: side of the upright crop (pixels) that face mesh sees for a face found by the full-range detector
CROP_SIZE = 384
#: the crop's side in detector boxes (MediaPipe's own face-mesh region is 1.5 boxes; more context helps
#: its short-range detector find the face again in the crop)
CROP_BOXES = 2.2
#: when nothing is found in the whole photo, the full-range detector looks again in tiles this big
#: (pixels, overlapping by a quarter) of the full-resolution photo
TILE = 640
#: a full-range detection whose centre lies within this many of its box widths of a pass-1 face is that face
SAME_FACE = 0.5
#: photos are also searched mirrored, and each face's points averaged with its mirror image's
#: (:func:`_mirror_averaged`); video frames are not (``VideoLandmarks``)
MIRROR_AVERAGE = True

_lock = threading.Lock()
_mesh = None
_detector = None


@dataclass(frozen=True)
class Landmarks:
    """Detected landmarks of one face.

    points: ``(478, 2)`` float32 pixel coordinates (x right, y down, pixel centres at integers + 0.5
    convention of MediaPipe's normalised output times the image size). depth: ``(478,)`` MediaPipe's
    relative depth in pixels (smaller is closer). n_faces: how many faces the image has.
    """

    points: np.ndarray
    depth: np.ndarray
    image_size: tuple[int, int]  #: (width, height)
    face_index: int
    n_faces: int

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        x0, y0 = self.points[:468].min(0)
        x1, y1 = self.points[:468].max(0)
        return float(x0), float(y0), float(x1), float(y1)

    @property
    def face_width(self) -> float:
        x0, _, x1, _ = self.bbox
        return x1 - x0

    @property
    def eye_distance(self) -> float:
        """Outer eye corner distance in pixels (MediaPipe 33 and 263)."""
        return float(np.linalg.norm(self.points[33] - self.points[263]))


def _mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import mediapipe as mp
    except ImportError as e:
        raise HeadforgeError(
            "MediaPipe is not installed. Install it with `pip install --no-deps mediapipe==0.10.21` "
            "(see the README) or run `make demo` once.") from e
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass
    return mp


def _face_mesh():
    global _mesh
    if _mesh is None:
        _mesh = _mediapipe().solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=MAX_FACES,
                                                          refine_landmarks=True, min_detection_confidence=0.5)
    return _mesh


class VideoLandmarks:
    """MediaPipe's face mesh in video mode, for the frames of one clip in order: it follows the face from frame
    to frame instead of detecting it in each (one face: the largest when the track starts or restarts). Its own
    graph: several clips may be tracked at once, and photos detected meanwhile."""

    def __init__(self):
        self._mesh = _mediapipe().solutions.face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.5,
            min_tracking_confidence=0.5)

    def find(self, frame: np.ndarray) -> Landmarks | None:
        """The face's landmarks in ``frame`` ``(H, W, 3)`` uint8 sRGB (the next of the clip), or None."""
        h, w = frame.shape[:2]
        sq = _square(frame)
        result = self._mesh.process(sq)
        if not result.multi_face_landmarks:
            return None
        arr = np.array([(p.x, p.y, p.z) for p in result.multi_face_landmarks[0].landmark], np.float64) * sq.shape[0]
        return Landmarks(points=arr[:, :2].astype(np.float32), depth=arr[:, 2].astype(np.float32), image_size=(w, h),
                         face_index=0, n_faces=1)

    def close(self) -> None:
        self._mesh.close()


def _full_range_detector():
    global _detector
    if _detector is None:
        _detector = _mediapipe().solutions.face_detection.FaceDetection(model_selection=1,
                                                                        min_detection_confidence=0.5)
    return _detector


def _square(image: np.ndarray) -> np.ndarray:
    """``image`` padded with black at the right or bottom to a square."""
    h, w = image.shape[:2]
    s = max(h, w)
    sq = np.zeros((s, s, 3), np.uint8)
    sq[:h, :w] = image
    return sq


def _mesh_faces(image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Face mesh on ``image`` (padded to a square): ``[(points (478, 2) px, depth (478,) px)]``."""
    sq = _square(image)
    with _lock:
        result = _face_mesh().process(sq)
    out = []
    for f in result.multi_face_landmarks or []:
        arr = np.array([(p.x, p.y, p.z) for p in f.landmark], np.float64) * sq.shape[0]
        out.append((arr[:, :2], arr[:, 2]))
    return out


def _full_range_boxes(image: np.ndarray) -> list[tuple[np.ndarray, float, float]]:
    """Full-range detections in ``image``: ``[(centre (2,) px, box side px, roll in degrees)]``, the roll
    measured from the detector's eye keypoints."""
    with _lock:
        result = _full_range_detector().process(np.ascontiguousarray(image))
    h, w = image.shape[:2]
    out = []
    for d in result.detections or []:
        box = d.location_data.relative_bounding_box
        kp = d.location_data.relative_keypoints
        centre = np.array([(box.xmin + box.width / 2) * w, (box.ymin + box.height / 2) * h])
        side = max(box.width * w, box.height * h)
        eye_r, eye_l = np.array([kp[0].x * w, kp[0].y * h]), np.array([kp[1].x * w, kp[1].y * h])
        dx, dy = eye_l - eye_r
        out.append((centre, float(side), float(np.degrees(np.arctan2(dy, dx)))))
    return out


def _tiled_boxes(image: np.ndarray) -> list[tuple[np.ndarray, float, float]]:
    """Full-range detections in overlapping :data:`TILE` pixel tiles of the full-resolution photo (faces
    too small to be found in the whole photo), duplicates merged."""
    h, w = image.shape[:2]
    step = TILE * 3 // 4
    found: list[tuple[np.ndarray, float, float]] = []
    for y in range(0, max(h - TILE, 0) + step, step):
        for x in range(0, max(w - TILE, 0) + step, step):
            for centre, side, roll in _full_range_boxes(image[y:y + TILE, x:x + TILE]):
                centre = centre + (x, y)
                if not any(np.linalg.norm(centre - c) < SAME_FACE * s for c, s, _ in found):
                    found.append((centre, side, roll))
    return found


def _mesh_in_crop(image: np.ndarray, centre: np.ndarray, side: float, roll: float):
    """Face mesh on an upright square crop of ``image`` around ``centre`` (``side`` px, turned by ``roll``
    degrees), scaled to :data:`CROP_SIZE`; the face nearest the crop's centre, mapped back to the image,
    or None."""
    scale = CROP_SIZE / side
    M = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), roll, scale)
    M[:, 2] += CROP_SIZE / 2 - centre
    crop = cv2.warpAffine(image, M, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_CONSTANT)
    faces = _mesh_faces(crop)
    if not faces:
        return None
    pts, depth = min(faces, key=lambda f: np.linalg.norm(f[0][:468].mean(0) - CROP_SIZE / 2))
    Mi = cv2.invertAffineTransform(M)
    return pts @ Mi[:, :2].T + Mi[:, 2], depth / scale


def detect_landmarks(image: np.ndarray, face_index: int = 0, *, detect_size: int = 1024,
                     mirror_average: bool | None = None) -> Landmarks:
    """Find faces in ``image`` ``(H, W, 3)`` uint8 sRGB and return the landmarks of one.

    ``face_index`` 0 is the largest face, 1 the next, and so on. ``mirror_average``: also detect in the mirrored
    photo and average the two (:func:`_mirror_averaged`; None: :data:`MIRROR_AVERAGE`). Raises
    :class:`NoFaceFound`, :class:`FaceIndexError` or :class:`FaceTooSmall` with what to do.
    """
    h, w = image.shape[:2]
    if min(h, w) < MIN_FACE_PX:
        raise FaceTooSmall(
            f"The photo is only {w} x {h} pixels; a face needs at least {MIN_FACE_PX} pixels across. "
            "Use a larger photo, or one where the face is bigger.")
    found = _find_faces(image, detect_size)
    if not found:
        raise NoFaceFound(
            "No face was found in the photo. Use a photo where one face is clearly visible, roughly facing "
            "the camera, well lit and not cut off.")
    if not 0 <= face_index < len(found):
        raise FaceIndexError(
            f"Face {face_index} was asked for, but the photo has {len(found)} face(s) (index 0 is the largest). "
            f"Pick a face index from 0 to {len(found) - 1}.")
    pts, depth = found[face_index]
    if MIRROR_AVERAGE if mirror_average is None else mirror_average:
        pts, depth = _mirror_averaged(image, pts, depth, detect_size)
    lm = Landmarks(points=pts.astype(np.float32), depth=depth.astype(np.float32), image_size=(w, h),
                   face_index=face_index, n_faces=len(found))
    if lm.face_width < MIN_FACE_PX:
        raise FaceTooSmall(
            f"The face is {int(lm.face_width)} pixels across; Headforge needs at least {MIN_FACE_PX}. Use a "
            "higher-resolution photo or one taken closer to the face.")
    return lm


def _find_faces(image: np.ndarray, detect_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every face of ``image`` as ``(points (478, 2), depth (478,))`` in pixels, largest first (the module's
    two passes)."""
    h, w = image.shape[:2]
    scale = min(1.0, detect_size / max(h, w))
    small = image if scale == 1.0 else cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                                                   interpolation=cv2.INTER_AREA)
    faces = [(pts / scale, depth / scale) for pts, depth in _mesh_faces(small)]
    boxes = [(centre / scale, side / scale, roll) for centre, side, roll in _full_range_boxes(small)]
    if not faces and not boxes:
        boxes = _tiled_boxes(image)
    for centre, side, roll in boxes:
        if any(np.linalg.norm(pts[:468].mean(0) - centre) < SAME_FACE * side for pts, _ in faces):
            continue
        found = _mesh_in_crop(image, centre, side * CROP_BOXES, roll)
        if found is not None:
            faces.append(found)
    faces.sort(key=lambda f: -np.ptp(f[0][:468, 0]) * np.ptp(f[0][:468, 1]))
    return faces


def _mirror_averaged(image: np.ndarray, pts: np.ndarray, depth: np.ndarray, detect_size: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The face's 468 mesh points and depths averaged with those found in the mirrored photo (mirrored back and
    renumbered left for right): MediaPipe is not mirror-symmetric, and the average is both closer to the truth
    and the same for a photo and its mirror image. The iris points stay as found. Unchanged when the mirrored
    photo has no face there, or MediaPipe's canonical mesh (which numbers the mirror) is not installed."""
    from .regress import RegressorUnavailable, landmark_mirror

    try:
        perm = landmark_mirror()[:468]
    except RegressorUnavailable:
        return pts, depth
    w = image.shape[1]
    flip = np.array([-1.0, 1.0])
    mirrored = [(p[perm] * flip + [w, 0.0], d[perm]) for p, d in _find_faces(image[:, ::-1].copy(), detect_size)]
    centre, side = pts[:468].mean(0), np.ptp(pts[:468, 0])
    gap, p, d = min(((np.linalg.norm(p.mean(0) - centre), p, d) for p, d in mirrored), key=lambda x: x[0],
                    default=(np.inf, None, None))
    if gap > SAME_FACE * side:
        return pts, depth
    pts, depth = pts.copy(), depth.copy()
    pts[:468], depth[:468] = 0.5 * (pts[:468] + p), 0.5 * (depth[:468] + d)
    return pts, depth
