"""CoarseNet inference: the fit's first guess of identity, expression and pose from a learned regressor.

Pure numpy/OpenCV/onnxruntime (no torch). The network (``networks/coarsenet.py``) sees a face crop aligned
by the detected MediaPipe landmarks, and optionally those landmarks themselves. Outputs are turned into a
:class:`~headforge.core.fit.InitialGuess`. The weights ship with the project
(``core/weights/coarsenet.onnx``); a missing or corrupt file gives :class:`RegressorUnavailable` and the
pipeline falls back to the mean face with a warning.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import HeadforgeError
from .fit import InitialGuess
from .onnxnet import OnnxNetwork, cached

COARSE_CROP = 128
#: crop pixels per unit of the canonical template (MediaPipe's canonical face, cm): face ~ 15 cm wide
TEMPLATE_SCALE = COARSE_CROP / 19.0
WEIGHTS = Path(__file__).resolve().parent / "weights" / "coarsenet.onnx"
N_ID, N_EX = 100, 53


class RegressorUnavailable(HeadforgeError):
    kind = "regressor"


_canonical = None


def _canonical_face() -> np.ndarray:
    """(478, 3) MediaPipe's canonical face (cm; the iris points made up at the eye centres when the mesh
    has only 468)."""
    global _canonical
    if _canonical is None:
        from . import config
        from .correspondence import _read_obj

        p = config.mediapipe_mesh_path()
        if p is None or not p.exists():
            where = "" if p is None else f"; {str(p)!r} does not exist"
            raise RegressorUnavailable("MediaPipe's canonical face mesh is needed to align crops "
                                       f"(set {config.MEDIAPIPE_MESH_ENV}{where}).")
        v, _ = _read_obj(p)
        v = np.asarray(v, np.float64)
        if len(v) < 478:
            v = np.vstack([v, np.repeat(v[[33, 133]].mean(0, keepdims=True), 5, 0),
                           np.repeat(v[[362, 263]].mean(0, keepdims=True), 5, 0)])
        _canonical = v[:478]
    return _canonical


def template(size: int = COARSE_CROP, px_per_cm: float = TEMPLATE_SCALE, down_px: float = 4.0) -> np.ndarray:
    """(478, 2) canonical landmark positions in crop pixels (MediaPipe's canonical face, frontal): a
    ``size`` crop at ``px_per_cm``, the landmarks' mean ``down_px`` below the crop's centre. The defaults
    are CoarseNet's crop."""
    xy = _canonical_face()[:, :2] * np.array([1.0, -1.0])  # image y down
    xy = (xy - xy[:468].mean(0)) * px_per_cm + np.array([size / 2, size / 2 + down_px])
    return xy.astype(np.float32)


@functools.lru_cache(maxsize=1)
def landmark_mirror() -> np.ndarray:
    """(478,) int, read-only: the MediaPipe landmark each one becomes when the face is mirrored
    left-right."""
    from scipy.spatial import cKDTree

    v = _canonical_face()
    perm = cKDTree(v).query(v * np.array([-1.0, 1.0, 1.0]))[1]
    perm.setflags(write=False)
    return perm


def align(points: np.ndarray, target: np.ndarray | None = None) -> np.ndarray:
    """2x3 similarity (OpenCV affine) taking image pixels to crop pixels, from 468 detected points
    ``(478, 2)`` or ``(468, 2)`` to their places in the crop: ``target`` ``(468+, 2)``, CoarseNet's
    :func:`template` by default."""
    src = np.asarray(points[:468], np.float64)
    dst = (template() if target is None else np.asarray(target))[:468].astype(np.float64)
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    # complex-number least squares: dst ~ z * src
    za = a[:, 0] + 1j * a[:, 1]
    zb = b[:, 0] + 1j * b[:, 1]
    z = (np.conj(za) @ zb) / (np.conj(za) @ za)
    A = np.array([[z.real, -z.imag], [z.imag, z.real]])
    return np.hstack([A, (md - A @ ms)[:, None]])


def crop_face(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Aligned ``(COARSE_CROP, COARSE_CROP, 3)`` uint8 crop and the 2x3 image->crop transform."""
    M = align(points)
    crop = cv2.warpAffine(image, M, (COARSE_CROP, COARSE_CROP), flags=cv2.INTER_AREA if abs(np.linalg.det(M[:, :2])) < 1
                          else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return crop, M


def landmark_input(pts_crop: np.ndarray) -> np.ndarray:
    """478 landmarks in crop pixels as the network takes them: ``(956,)`` float32 in [-1, 1]."""
    return ((np.asarray(pts_crop, np.float64) / (COARSE_CROP / 2)) - 1.0).astype(np.float32).ravel()


def model_inputs(crop: np.ndarray, pts_crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An aligned uint8 crop and its 478 landmarks (crop pixels) as the network takes them:
    ``(3, COARSE_CROP, COARSE_CROP)`` float32 in [-1, 1] and :func:`landmark_input` (training uses it too)."""
    return (crop.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1), landmark_input(pts_crop)


def mirror_crop(crop: np.ndarray, pts_crop: np.ndarray, mirror: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The aligned crop and its landmarks (crop pixels) mirrored left-right about the crop's centre
    (x -> COARSE_CROP - x), the landmarks renumbered by ``mirror`` (default :func:`landmark_mirror`; a training
    pack carries it): the crop of the mirrored face. Inference and training mirror through this one function."""
    F = np.array([[-1.0, 0.0, COARSE_CROP], [0.0, 1.0, 0.0]])
    crop = cv2.warpAffine(crop, F, (COARSE_CROP, COARSE_CROP), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    return crop, (np.asarray(pts_crop) * [-1, 1] + [COARSE_CROP, 0])[landmark_mirror() if mirror is None else mirror]


def network_inputs(image: np.ndarray, points: np.ndarray, flip: bool = False
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(B, 3, COARSE_CROP, COARSE_CROP)`` float32 image in [-1, 1], ``(B, 956)`` landmarks in crop units ([-1, 1]) and
    the 2x3 transform; B is 1, or 2 with ``flip`` (the second the mirrored crop, :func:`mirror_crop`)."""
    crop, M = crop_face(image, points)
    pts = np.asarray(points, np.float64) @ M[:, :2].T + M[:, 2]
    pairs = [model_inputs(crop, pts)] + ([model_inputs(*mirror_crop(crop, pts))] if flip else [])
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), M


def rotation_from_6d(r6: np.ndarray) -> np.ndarray:
    """Gram-Schmidt of two 3-vectors (Zhou et al. 2019) -> rotation matrix (columns)."""
    a, b = r6[:3], r6[3:]
    x = a / (np.linalg.norm(a) + 1e-9)
    b = b - (x @ b) * x
    y = b / (np.linalg.norm(b) + 1e-9)
    return np.stack([x, y, np.cross(x, y)], 1)


@dataclass
class Prediction:
    identity: np.ndarray      #: (100,)
    expression: np.ndarray    #: (53,) in [0, 1]
    rotation: np.ndarray      #: (3, 3) model -> camera (OpenCV), in the full image
    scale: float              #: image pixels per cm at the head's depth (weak perspective)
    origin_px: np.ndarray     #: (2,) model origin projected into the image, pixels
    seconds: float = 0.0


class CoarseNetOnnx(OnnxNetwork):
    """CoarseNet as shipped: the exported ONNX network in an onnxruntime session (thread-safe). The torch
    module it was exported from, for training, is :class:`headforge.networks.coarsenet.CoarseNet`."""

    def __init__(self, path: str | Path | None = None):
        super().__init__(path or WEIGHTS, "CoarseNet", RegressorUnavailable, "the fit starts from the mean face",
                         "Reinstall Headforge or retrain them with `make train`.")

    def predict(self, image: np.ndarray, points: np.ndarray, model=None, flip: bool = True) -> Prediction:
        """Identity, expression and pose of the face at ``points`` ``(478, 2)`` (pixels) in ``image``
        ``(H, W, 3)`` uint8 sRGB. ``flip``: also run the mirrored crop and average its mirrored identity and
        expression in (``model``'s mirror maps; default face model when None): 2 runs, 2.4 points more
        of the mean-face error removed (500 held-out renders, shipped file: -27.5 % -> -29.9 %). The pose is
        the unmirrored run's."""
        import time

        t = time.perf_counter()
        x, lm, M = network_inputs(image, points, flip)
        feed = {"image": x}
        if "landmarks" in self.inputs:
            feed["landmarks"] = lm
        out = self.run(feed)[0]
        p = decode(out[0], M)
        if flip:
            if model is None:
                from .facemodel import load_face_model

                model = load_face_model()
            q = decode(out[1], M)   # the mirrored face's guess, mirrored back
            p.identity = 0.5 * (p.identity + model.identity_mirror @ q.identity)
            p.expression = 0.5 * (p.expression + q.expression[model.expression_mirror])
        p.seconds = time.perf_counter() - t
        return p


def decode(out: np.ndarray, M: np.ndarray) -> Prediction:
    """Network output (100 + 53 + 6 + 3) and the image->crop transform -> a prediction in the image."""
    ident = out[:N_ID].astype(np.float64)
    expr = 1.0 / (1.0 + np.exp(-out[N_ID:N_ID + N_EX]))
    R_crop = rotation_from_6d(out[N_ID + N_EX:N_ID + N_EX + 6].astype(np.float64))
    s_crop, ox, oy = out[N_ID + N_EX + 6:N_ID + N_EX + 9].astype(np.float64)
    A, tvec = M[:, :2], M[:, 2]
    k = np.sqrt(abs(np.linalg.det(A)))           # crop pixels per image pixel
    rot2 = A / k                                  # in-plane rotation image -> crop
    R3 = np.eye(3)
    R3[:2, :2] = rot2.T                           # crop -> image (inverse rotation)
    R_img = R3 @ R_crop
    origin_crop = np.array([ox, oy]) * (COARSE_CROP / 2) + COARSE_CROP / 2
    origin_img = np.linalg.solve(A, origin_crop - tvec)
    scale_img = np.exp(s_crop) * TEMPLATE_SCALE / k
    return Prediction(identity=ident, expression=expr, rotation=R_img, scale=float(scale_img),
                      origin_px=origin_img)


#: how much stronger than the defaults the fit's identity/expression priors are around CoarseNet's guess.
#: The landmarks pull the shape towards MediaPipe's bias, a strong prior keeps the guess. With the robust
#: fit (``core.fit``) on 300 held-out renders, neutral face error after a similarity alignment (mean face
#: 3.32 mm, CoarseNet alone 2.41 mm): 2.55 mm at strength 10, 2.49 mm at 30; on the real photos 30 is as
#: steady (0.68 against 0.69 mm under mirroring, downscaling, JPEG and cropping) and the annotated photo's
#: NME the same (0.064 / 0.065). Before the robust fit, 30 bent the jaw on the photos (corrective field
#: 6-7 mm), so 10 shipped.
PRIOR_STRENGTH = 30.0


def initial_guess(p: Prediction, width: int, height: int, use_pose: bool = False,
                  as_prior: bool = True, prior_strength: float = PRIOR_STRENGTH) -> InitialGuess:
    """The fit's starting point from a prediction. By default only the shape (identity, expression) is
    used and the fit solves the pose by EPnP on that shape; ``use_pose`` also takes the predicted pose
    (weak perspective turned into full perspective at the image's focal length). ``as_prior``: the fit's
    identity and expression priors are centred on the prediction and ``prior_strength`` times the defaults
    (else centred on the mean face at the defaults, and the prediction only changes where Gauss-Newton
    starts)."""
    if not use_pose:
        return InitialGuess(identity=p.identity, expression=p.expression, identity_prior_mean=as_prior,
                            prior_strength=prior_strength)
    from .fit import initial_camera

    f, cx, cy = initial_camera(width, height)
    z = f / p.scale
    t = np.array([(p.origin_px[0] - cx) * z / f, (p.origin_px[1] - cy) * z / f, z])
    return InitialGuess(identity=p.identity, expression=p.expression, rotation=p.rotation, translation=t,
                        identity_prior_mean=as_prior, prior_strength=prior_strength)


def load(path=None) -> CoarseNetOnnx:
    return cached(CoarseNetOnnx, path or WEIGHTS)
