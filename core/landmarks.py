"""Dense face landmarks with MediaPipe face mesh (478 points with iris).

The photo is padded to a square (MediaPipe's legacy graph assumes square input for exact x/y) and
downscaled to at most ``detect_size`` pixels for detection; points are mapped back to the full image.
Faces are sorted by size, largest first; ``face_index`` picks one.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import FaceIndexError, FaceTooSmall, NoFaceFound, HeadforgeError

#: Smallest face Headforge fits, in pixels across (landmark bounding-box width).
MIN_FACE_PX = 64
MAX_FACES = 8

_lock = threading.Lock()
_mesh = None


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


def _face_mesh():
    global _mesh
    if _mesh is None:
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
        _mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=MAX_FACES,
                                                refine_landmarks=True, min_detection_confidence=0.5)
    return _mesh


def detect_landmarks(image: np.ndarray, face_index: int = 0, *, detect_size: int = 1024) -> Landmarks:
    """Find faces in ``image`` ``(H, W, 3)`` uint8 sRGB and return the landmarks of one.

    ``face_index`` 0 is the largest face, 1 the next, and so on. Raises :class:`NoFaceFound`,
    :class:`FaceIndexError` or :class:`FaceTooSmall` with what to do.
    """
    h, w = image.shape[:2]
    if min(h, w) < MIN_FACE_PX:
        raise FaceTooSmall(
            f"The photo is only {w} x {h} pixels; a face needs at least {MIN_FACE_PX} pixels across. "
            "Use a larger photo, or one where the face is bigger.")
    side = max(h, w)
    scale = min(1.0, detect_size / side)
    s = int(round(side * scale))
    small = image if scale == 1.0 else cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                                                   interpolation=cv2.INTER_AREA)
    sq = np.zeros((s, s, 3), np.uint8)
    sq[: small.shape[0], : small.shape[1]] = small
    with _lock:
        result = _face_mesh().process(sq)
    faces = result.multi_face_landmarks or []
    if not faces:
        raise NoFaceFound(
            "No face was found in the photo. Use a photo where one face is clearly visible, roughly facing "
            "the camera, well lit and not cut off; if the face is small, crop the photo closer to it.")
    found = []
    for f in faces:
        arr = np.array([(p.x, p.y, p.z) for p in f.landmark], np.float32)
        pts = arr[:, :2] * (s / scale)
        depth = arr[:, 2] * (s / scale)
        wbox = np.ptp(pts[:468, 0])
        found.append((wbox * np.ptp(pts[:468, 1]), pts, depth))
    found.sort(key=lambda x: -x[0])
    if not 0 <= face_index < len(found):
        raise FaceIndexError(
            f"Face {face_index} was asked for, but the photo has {len(found)} face(s) (index 0 is the largest). "
            f"Pick a face index from 0 to {len(found) - 1}.")
    _, pts, depth = found[face_index]
    lm = Landmarks(points=pts.astype(np.float32), depth=depth.astype(np.float32), image_size=(w, h),
                   face_index=face_index, n_faces=len(found))
    if lm.face_width < MIN_FACE_PX:
        raise FaceTooSmall(
            f"The face is {lm.face_width:.0f} pixels across; Headforge needs at least {MIN_FACE_PX}. Use a "
            "higher-resolution photo or one taken closer to the face.")
    return lm
