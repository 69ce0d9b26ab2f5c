"""The model's own landmarks in a photo: LandmarkNet (``networks/landmarknet.py``, shipped as
``core/weights/landmarknet.onnx``) moves each of MediaPipe's points used by the fit to where its ICT surface point
really is, and the 17 jawline points from MediaPipe's face oval to the head's visible outline, and says how sure
it is (a standard deviation per point; Wood et al. 2022). The fit follows its jawline and trusts each point as
its sigma says; its inner points only when asked (:data:`FOLLOW_INNER_POINTS`)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .correspondence import Correspondence
from .errors import HeadforgeError
from .fit import ModelPoints
from .onnxnet import OnnxNetwork, cached
from .regress import COARSE_CROP, crop_face, landmark_mirror, mirror_crop, model_inputs

#: whether the fit follows LandmarkNet's inner points (the model's surface points) or only its jawline. On 300
#: held-out renders the inner points lower the 68-point error further (1.98 % against 2.28 % with the jawline
#: alone, 2.58 % without LandmarkNet), but on real photos they do not carry over: the astronaut's forehead and
#: brow points moved up by 12 % of the eye distance (a bald render's brows are strands placed by region; a real
#: forehead wears a fringe), the fitted brows sat a brow's height above the brows, the annotated photo's nose
#: error grew from 3.0 to 4.2 % and the astronaut's texture got a seam where the photo meets the fill (gradient
#: 2.00 against 1.97 inside; 1.80 with the jawline alone). The jawline does carry over (the annotated photo's jaw
#: error 13.1 -> 11.8 %), so the fit takes it and each point's sigma. Retrained on set version 6 (strand brows and
#: hair, 2026-12-05) the inner points took the renders' NME to 2.90 / 2.63 % (from 3.43 / 3.21), but not the
#: annotated photo's (0.050 -> 0.051: brows better, eyes, nose and mouth worse), and the same person's photos
#: gave neutral faces further apart (same/different 0.498 -> 0.562; README, *LandmarkNet*).
FOLLOW_INNER_POINTS = False
#: the jawline points LandmarkNet predicts after the model points: iBUG-68's 17, each the visible outline of the
#: head nearest the projection of its ICT jaw landmark (as the accuracy benchmark's truth)
N_CONTOUR = 17
WEIGHTS = Path(__file__).resolve().parent / "weights" / "landmarknet.onnx"


class LandmarkNetUnavailable(HeadforgeError):
    kind = "landmarknet"


class LandmarkNetOnnx(OnnxNetwork):
    """LandmarkNet in onnxruntime. ``mp_index``: the MediaPipe points it was trained for (the fixed
    correspondences of that time, in its metadata); ``n_contour``: how many jawline points follow them (17,
    or 0 for a network that predicts none)."""

    def __init__(self, path: str | Path | None = None):
        super().__init__(path or WEIGHTS, "LandmarkNet", LandmarkNetUnavailable,
                         "the fit uses MediaPipe's points as they are",
                         "Reinstall Headforge or retrain with `make train-landmarks`.")
        self.mp_index = np.asarray(self.meta.get("mp_index", []), np.int32)
        self.n_contour = int(self.meta.get("contour", 0))

    def matches(self, corr: Correspondence) -> bool:
        """Whether the network was trained for ``corr``'s fixed points."""
        return np.array_equal(self.mp_index, corr.mp_index)

    def predict(self, image: np.ndarray, points: np.ndarray, corr: Correspondence, flip: bool = True
                ) -> tuple[np.ndarray, np.ndarray]:
        """``image`` ``(H, W, 3)`` uint8 sRGB and MediaPipe's ``(478, 2)`` points (pixels) -> the model points
        and then the jawline, ``(K + n_contour, 2)`` float64 pixels (:func:`anchor_points` order), and their
        standard deviations ``(K + n_contour,)`` pixels. ``flip``: also run the mirrored crop and average its
        points (mirrored back, left for right) and log-sigmas in, so that a photo and its mirror image get
        mirrored points (as CoarseNet does)."""
        crop, M = crop_face(image, points)
        pts = np.asarray(points, np.float64) @ M[:, :2].T + M[:, 2]
        runs = [(crop, pts)] + ([mirror_crop(crop, pts)] if flip else [])
        feeds = [model_inputs(c, p) for c, p in runs]
        out = self.run({"image": np.stack([f[0] for f in feeds]),
                        "landmarks": np.stack([f[1] for f in feeds])})[0].astype(np.float64)
        half = COARSE_CROP / 2
        crop_xy = anchor_points(corr, pts, self.n_contour) + out[0, :, :2] * half
        log_sigma = out[0, :, 2]
        if flip:
            mirrored = anchor_points(corr, runs[1][1], self.n_contour) + out[1, :, :2] * half
            mirrored[:, 0] = COARSE_CROP - mirrored[:, 0]
            order = self.mirror_order
            crop_xy = 0.5 * (crop_xy + mirrored[order])
            log_sigma = 0.5 * (log_sigma + out[1, order, 2])
        A = M[:, :2]
        xy = (crop_xy - M[:, 2]) @ np.linalg.inv(A).T
        return xy, np.exp(np.clip(log_sigma, -7.0, 1.0)) * half / np.sqrt(abs(np.linalg.det(A)))

    @functools.cached_property
    def mirror_order(self) -> np.ndarray:
        """``(K + n_contour,)``: which output of the mirrored crop is each output's mirror image (the model point
        at MediaPipe's mirrored point; the jawline reversed)."""
        at = {int(v): k for k, v in enumerate(self.mp_index)}
        mirror = landmark_mirror()
        k = len(self.mp_index)
        return np.array([at[int(mirror[v])] for v in self.mp_index] + list(range(k + self.n_contour - 1, k - 1, -1)),
                        np.int64)

    def find(self, image: np.ndarray, points: np.ndarray, corr: Correspondence,
             inner: bool | None = None) -> ModelPoints:
        """:meth:`predict` as the fit takes it: the jawline, each point's sigma, and the inner points when
        ``inner`` (None: :data:`FOLLOW_INNER_POINTS`; else MediaPipe's own points)."""
        xy, sigma = self.predict(image, points, corr)
        k = len(self.mp_index)
        if not (FOLLOW_INNER_POINTS if inner is None else inner):
            xy[:k] = np.asarray(points, np.float64)[self.mp_index]
        contour = (xy[k:], sigma[k:]) if self.n_contour else (None, None)
        return ModelPoints(points=xy[:k], sigma=sigma[:k], mp_index=self.mp_index, contour=contour[0],
                           contour_sigma=contour[1])


def anchor_points(corr: Correspondence, points: np.ndarray, n_contour: int = N_CONTOUR) -> np.ndarray:
    """Where LandmarkNet's offsets start, ``(K + n_contour, 2)`` in the frame of ``points`` (MediaPipe's 478):
    MediaPipe's points at the fixed correspondences, then the first ``n_contour`` jawline points its face oval
    gives (``Correspondence.detected_68``)."""
    pts = np.asarray(points, np.float64)
    return np.vstack([pts[corr.mp_index], corr.detected_68(pts)[:n_contour]])


def load(path=None) -> LandmarkNetOnnx:
    """The shipped (or given) LandmarkNet, loaded once per process."""
    return cached(LandmarkNetOnnx, path or WEIGHTS)


def surface_points(corr: Correspondence, vertices: np.ndarray) -> np.ndarray:
    """``(K, 3)`` the fixed correspondences' surface points on a mesh ``(N, 3)``."""
    return np.einsum("kj,kjd->kd", corr.ict_bary.astype(np.float64), vertices[corr.ict_vertices])


def true_targets(corr: Correspondence, vertices: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Where the fixed correspondences of a known mesh ``(N, 3)`` cm land in the image of a known camera
    (intrinsics ``K`` 3x3, model->camera ``R``, ``t``): ``(K, 2)`` pixels, and how squarely each one's triangle
    faces the camera ``(K,)`` (cosine; below 0 it faces away)."""
    v = np.asarray(vertices, np.float64)
    Y = surface_points(corr, v) @ R.T + t
    uv = Y[:, :2] / Y[:, 2:3] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
    a, b, c = (v[corr.ict_vertices[:, i]] for i in range(3))
    n = np.cross(b - a, c - a) @ R.T
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return uv, -(n * Y).sum(1) / np.linalg.norm(Y, axis=1)
