"""Photo -> :class:`Avatar`: landmarks, fit, texture. Pure numpy/scipy/opencv; no Blender.

>>> from headforge.core import create_avatar
>>> avatar = create_avatar("photo.jpg")            # or an (H, W, 3) uint8 sRGB array
>>> avatar.vertices.shape, avatar.albedo.shape      # ((26719, 3) cm, (2048, 2048, 3) sRGB)
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .camera import Camera, euler_degrees
from .correspondence import load_correspondence
from .errors import Cancelled, ImageWarning
from .eyes import DEFAULT_IRIS_SRGB, IrisColour, iris_colour
from .facemodel import SKIN_END, FaceModel, load_face_model
from .fit import Fit, FitWeights, InitialGuess, ModelPoints, fit_landmarks, landmarks_68
from .hairstyle import hair_from_photo, paint_scalp
from .image import as_image
from .landmarks import Landmarks, detect_landmarks
from .quality import Quality, assess
from .texture import TextureResult, project_texture

Progress = Callable[[str, float], None]
TEXTURE_SIZES = (1024, 2048, 4096)


@dataclass
class Avatar:
    """A fitted, textured head: plain arrays and dataclasses.

    Units: ``vertices`` and ``corrective`` in model centimetres (ICT-FaceKit: +Y up, face towards +Z);
    ``camera`` maps model cm to OpenCV camera cm and pixels; images ``(H, W, 3)`` uint8 sRGB.
    """

    model: FaceModel
    image: np.ndarray                 #: the photo, (H, W, 3) uint8 sRGB, EXIF-rotated
    image_path: str | None
    landmarks: Landmarks              #: detected MediaPipe landmarks (478 x 2 pixels)
    fit: Fit
    texture: TextureResult
    detected68: np.ndarray            #: (68, 2) detected landmarks mapped to iBUG-68, pixels
    projected68: np.ndarray           #: (68, 2) the model's 68 landmarks projected, pixels (jaw: silhouette)
    timings: dict = field(default_factory=dict)  #: seconds per stage
    initializer: str = "mean face"    #: where the fit started: "mean face", "coarsenet" or "given"
    detail: object = None             #: DetailResult (UV displacement, cm) or None
    quality: Quality | None = None    #: "ok" or "doubtful" with the reasons (see core.quality)
    iris: IrisColour = IrisColour(DEFAULT_IRIS_SRGB, False, "not measured")  #: the iris colour (core.eyes)
    segmentation: object = None       #: core.segment.Segmentation (what covers the face) or None
    hair: object = None               #: core.hairstyle.PhotoHair (the hair read from the photo) or None
    #: the model's own points the fit followed (LandmarkNet, ``core.modellandmarks``), or None: MediaPipe's
    model_points: ModelPoints | None = None
    _normal_map: np.ndarray | None = field(default=None, repr=False)

    def detail_normal_map(self) -> np.ndarray | None:
        """The fine detail as an ``(S, S, 3)`` uint8 tangent-space normal map on the fitted head (``normal.png``
        and the Blender head's normal map), made on the first call; None without detail."""
        if self._normal_map is None and self.detail is not None:
            from .detail import normal_map

            self._normal_map = normal_map(self.model, self.vertices, self.detail.uv)
        return self._normal_map

    # conveniences -------------------------------------------------------------------------------
    @property
    def vertices(self) -> np.ndarray:
        return self.fit.vertices

    @property
    def camera(self) -> Camera:
        return self.fit.camera

    @property
    def identity(self) -> np.ndarray:
        return self.fit.identity

    @property
    def expression(self) -> dict[str, float]:
        return {n: float(w) for n, w in zip(self.model.expression_names, self.fit.expression)}

    @property
    def albedo(self) -> np.ndarray:
        return self.texture.albedo

    @property
    def nme68(self) -> float:
        """Mean distance of projected to detected 68 landmarks, in % of the outer-eye distance."""
        eye = np.linalg.norm(self.detected68[36] - self.detected68[45])
        return float(np.linalg.norm(self.projected68 - self.detected68, axis=1).mean() / eye * 100)

    @property
    def pose(self) -> dict:
        return euler_degrees(self.camera.rotation)

    def covering_notes(self) -> dict:
        """``fit.json``'s ``glasses`` and ``facial_hair`` notes: found or not (None: the photo was not
        segmented) and the share of the face they cover; their pixels are unseen in the texture."""
        if self.segmentation is None:
            return {k: {"found": None, "why": "the photo was not segmented (SegNet's weights are missing or "
                        "segmentation was turned off)"} for k in ("glasses", "facial_hair")}
        notes = self.segmentation.notes()
        for note in notes.values():
            filled = note["found"] and self.texture.covered_left_out
            note["texture"] = "filled with skin where it covers the face" if filled else "photo"
        return notes

    def model_landmarks_report(self) -> dict | None:
        """``fit.json``'s ``model_landmarks``: the points the fit followed, or None for MediaPipe's."""
        mp = self.model_points
        if mp is None:
            return None
        r = lambda a: None if a is None else np.round(a, 3).tolist()  # noqa: E731
        return {"network": "LandmarkNet", "mediapipe_index": [int(i) for i in mp.mp_index], "points": r(mp.points),
                "sigma_px": r(mp.sigma), "jawline": r(mp.contour), "jawline_sigma_px": r(mp.contour_sigma)}

    def fit_report(self) -> dict:
        """The ``fit.json`` content (a contract other tools read; see the README)."""
        cn = np.linalg.norm(self.fit.corrective[:SKIN_END], axis=1)
        h, w = self.image.shape[:2]
        return {
            "format": "headforge-fit", "version": 1,
            "image": {"path": self.image_path, "width": int(w), "height": int(h)},
            "face_index": self.landmarks.face_index, "faces_in_image": self.landmarks.n_faces,
            "camera": self.camera.to_dict(),
            "pose_degrees": self.pose,
            "identity": [float(x) for x in self.identity],
            "expression": self.expression,
            "landmarks68": np.round(self.projected68, 3).tolist(),
            "detected_landmarks68": np.round(self.detected68, 3).tolist(),
            "detected_landmarks": np.round(self.landmarks.points, 3).tolist(),
            "contour_vertices": [int(v) for v in self.fit.contour_vertices],
            "initializer": self.initializer,
            "model_landmarks": self.model_landmarks_report(),
            "quality": {
                **(self.quality.to_dict() if self.quality is not None else {}),
                "nme68_percent_eye_distance": round(self.nme68, 4),
                "mean_landmark_error_percent": round(self.fit.landmark_error, 4),
                "error_history_percent": [round(e, 4) for e in self.fit.history],
                "gauss_newton_steps": self.fit.gauss_newton_steps,
                "corrective_field_cm": {"max": round(float(cn.max()), 4), "mean": round(float(cn.mean()), 4),
                                        "wanted_max": round(self.fit.corrective_wanted, 4)},
            },
            "eyes": {"iris": self.iris.to_dict()},
            **self.covering_notes(),
            "hair": None if self.hair is None else self.hair.to_dict(),
            "texture": {
                "size": int(self.albedo.shape[0]),
                "skin_tone_srgb": [int(x) for x in self.texture.skin_tone],
                "seen_fraction": round(float(self.texture.visible.sum() / max(self.texture.islands.sum(), 1)), 4),
                "covered_share": round(self.texture.covered_share, 4),
                "covered_left_out": self.texture.covered_left_out,
                "layout": "headforge skin atlas: face tile top-left 0.7, back of head top-right 0.3",
            },
            "detail": None if self.detail is None else {
                "file": "displacement.png", "normal_map": "normal.png", "size": int(self.detail.uv.shape[0]),
                "encoding": "16-bit grey: value / 65535 * (max_cm - min_cm) + min_cm, along the normal, outwards +",
                "min_cm": round(self.detail.range_cm[0], 6), "max_cm": round(self.detail.range_cm[1], 6)},
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "units": "model: cm, ICT-FaceKit axes (+Y up, +Z front); camera: OpenCV (x right, y down, z forward)",
            "face_model": "ICT-FaceKit (c) 2020 USC Institute for Creative Technologies, MIT licence",
        }


def create_avatar(image, *, face_index: int = 0, texture_size: int = 2048, model_path=None,
                  init: InitialGuess | None = None, weights: FitWeights | None = None,
                  progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
                  model: FaceModel | None = None, coarsenet: bool | None = None,
                  coarsenet_path=None, detail: bool | None = None, detail_path=None,
                  detail_size: int = 1024, segmentation: bool | None = None, segnet_path=None,
                  landmarknet: bool | None = None, landmarknet_path=None) -> Avatar:
    """Turn one photo into an :class:`Avatar`.

    ``image``: a file path or an ``(H, W, 3)`` array (uint8 sRGB; also grayscale, RGBA, 16-bit, float).
    ``face_index``: 0 = largest face. ``texture_size``: 1024, 2048 or 4096. ``model_path``: ICT-FaceKit
    path (else ``$HEADFORGE_FACE_MODEL`` or ``../shared``). ``init``: where the fit starts (a learned
    regressor's guess). ``coarsenet``: start the fit from CoarseNet's prediction (None = when its weights
    are installed; True = ask for it, warning and falling back to the mean face if it cannot load; False =
    mean face). ``landmarknet``: fit to the model's own points as LandmarkNet finds them
    (``core.modellandmarks``) instead of MediaPipe's (None = when its weights are installed; True = ask for it,
    warning and using MediaPipe's points if it cannot load; False = MediaPipe's points). ``detail``: fine
    detail from FineNet as a UV displacement map (None = when its weights are installed; True = ask for it,
    warning and leaving it out if it cannot load; False = none).
    ``segmentation``: leave hair, beards, glasses and things in front of the face out of the texture, as
    SegNet finds them (``core.segment``; None = when its weights are installed; True = ask for it, warning
    if it cannot load; False = no).
    ``progress(stage, fraction)`` is called between stages; ``should_stop()`` is polled and
    cancels with :class:`~headforge.core.errors.Cancelled`.

    Raises subclasses of :class:`~headforge.core.errors.HeadforgeError` for bad input.
    """
    if texture_size not in TEXTURE_SIZES:
        raise ValueError(f"texture_size must be one of {TEXTURE_SIZES}, got {texture_size}")
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    def step(name: str, frac: float):
        if should_stop is not None and should_stop():
            raise Cancelled("Cancelled.")
        if progress is not None:
            progress(name, frac)

    step("loading", 0.0)
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ImageWarning)
        img, path = as_image(image)
    image_doubts = [str(w.message).rstrip(".") for w in caught if issubclass(w.category, ImageWarning)]
    model = model or load_face_model(model_path)
    load_correspondence(model)
    timings["load"] = time.perf_counter() - t

    step("landmarks", 0.1)
    shape = fit_photo(img, model, face_index=face_index, init=init, weights=weights, coarsenet=coarsenet,
                      coarsenet_path=coarsenet_path, landmarknet=landmarknet, landmarknet_path=landmarknet_path,
                      should_stop=should_stop, on_fit=lambda: step("fit", 0.25))
    timings.update(shape.timings)
    lm, fit = shape.landmarks, shape.fit

    seg = None
    if segmentation is not False:
        seg = _segment(img, lm, segnet_path, asked=bool(segmentation), step=lambda: step("segment", 0.45),
                       timings=timings)

    step("texture", 0.5)
    t = time.perf_counter()
    tex = project_texture(model, fit.vertices, fit.camera, img, texture_size, face_points=lm.points[:468],
                          covered=None if seg is None else seg.covered)
    hair = None
    if seg is not None:  # the hair read from the photo; the scalp under it takes its colour
        hair = hair_from_photo(model, fit.vertices, fit.camera, img, seg)
        tex.albedo = paint_scalp(tex.albedo, tex.visible, model, fit.vertices, hair)
    timings["texture"] = time.perf_counter() - t

    det = None
    if detail is not False:
        from . import detail as fine

        weights_path = detail_path or fine.WEIGHTS
        if detail or os.path.exists(weights_path):
            step("detail", 0.85)
            t = time.perf_counter()
            try:
                det = _fine_detail(fine.load(weights_path), model, fit, img, lm, detail_size)
                timings["detail"] = time.perf_counter() - t
            except fine.DetailUnavailable as e:
                warnings.warn(str(e), RuntimeWarning, stacklevel=2)

    timings["total"] = time.perf_counter() - t_start
    step("done", 1.0)
    return Avatar(model=model, image=img, image_path=path, landmarks=lm, fit=fit, texture=tex,
                  detected68=shape.detected68, projected68=shape.projected68, timings=timings,
                  initializer=shape.initializer, detail=det, quality=shape.quality.adding(image_doubts),
                  iris=iris_colour(img, lm.points), segmentation=seg, hair=hair,
                  model_points=shape.model_points)


@dataclass
class ShapeFit:
    """The shape stage of :func:`create_avatar` for one face: landmarks, where the fit started, the fit,
    the 68 landmarks detected and fitted (pixels) and the quality verdict."""

    landmarks: Landmarks
    fit: Fit
    initializer: str                  #: "mean face", "coarsenet" or "given"
    #: what the fit followed: MediaPipe's points, or the model's own points (with their sigma) from LandmarkNet
    model_points: ModelPoints | None
    detected68: np.ndarray            #: (68, 2) float32 detected landmarks mapped to iBUG-68
    projected68: np.ndarray           #: (68, 2) float32 the model's 68 landmarks projected (jaw: silhouette)
    quality: Quality
    timings: dict = field(default_factory=dict)  #: seconds: landmarks, regress, fit


def fit_photo(img: np.ndarray, model: FaceModel, *, face_index: int = 0, init: InitialGuess | None = None,
              weights: FitWeights | None = None, coarsenet: bool | None = None, coarsenet_path=None,
              landmarknet: bool | None = None, landmarknet_path=None,
              should_stop: Callable[[], bool] | None = None, on_fit: Callable[[], None] | None = None) -> ShapeFit:
    """Landmarks, CoarseNet's guess and the fit for the face ``face_index`` of ``img`` ``(H, W, 3)`` uint8
    sRGB (the arguments as for :func:`create_avatar`); ``on_fit()`` is called before the fit starts."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    lm = detect_landmarks(img, face_index)
    timings["landmarks"] = time.perf_counter() - t
    initializer = "given" if init is not None else "mean face"
    if init is None and coarsenet is not False:
        from . import regress

        weights_path = coarsenet_path or regress.WEIGHTS
        if coarsenet or os.path.exists(weights_path):
            try:
                pred = regress.load(weights_path).predict(img, lm.points, model)
                init = regress.initial_guess(pred, *lm.image_size)
                timings["regress"] = pred.seconds
                initializer = "coarsenet"
            except regress.RegressorUnavailable as e:
                warnings.warn(f"{e} Starting from the mean face.", RuntimeWarning, stacklevel=3)
    corr = load_correspondence(model)
    points = _model_points(img, lm, corr, landmarknet, landmarknet_path, timings)
    if on_fit is not None:
        on_fit()
    t = time.perf_counter()
    fit = fit_landmarks(model, corr, lm.points, lm.image_size, init=init, weights=weights, should_stop=should_stop,
                        model_points=points)
    timings["fit"] = time.perf_counter() - t
    return ShapeFit(landmarks=lm, fit=fit, initializer=initializer, model_points=points,
                    detected68=corr.detected_68(lm.points),
                    projected68=landmarks_68(model, fit.vertices, fit.camera, fit.contour_vertices).astype(np.float32),
                    quality=assess(fit, lm), timings=timings)


def _model_points(img, lm: Landmarks, corr, asked: bool | None, path, timings: dict) -> ModelPoints | None:
    """LandmarkNet's model points for the fit, or None: not asked for, no weights (a warning when asked), or
    weights trained for other correspondences (a warning)."""
    from . import modellandmarks

    path = path or modellandmarks.WEIGHTS
    if asked is False or not (asked or os.path.exists(path)):
        return None
    try:
        net = modellandmarks.load(path)
    except modellandmarks.LandmarkNetUnavailable as e:
        warnings.warn(str(e), RuntimeWarning, stacklevel=4)
        return None
    if not net.matches(corr):
        warnings.warn(f"LandmarkNet {str(path)!r} was trained for other landmark correspondences; the fit uses "
                      "MediaPipe's points. Retrain it with `make train-landmarks`.", RuntimeWarning, stacklevel=4)
        return None
    t = time.perf_counter()
    points = net.find(img, lm.points, corr)
    timings["model_landmarks"] = time.perf_counter() - t
    return points


def _segment(img, lm: Landmarks, path, asked: bool, step: Callable[[], None], timings: dict):
    """SegNet's view of the photo (``core.segment``), or None: without weights (a warning when ``asked``,
    else silently) or when they cannot be loaded (a warning)."""
    from . import segment

    path = path or segment.WEIGHTS
    if not (asked or os.path.exists(path)):
        return None
    step()
    t = time.perf_counter()
    try:
        seg = segment.segment(img, lm.points, path)
    except segment.SegmenterUnavailable as e:
        warnings.warn(str(e), RuntimeWarning, stacklevel=3)
        return None
    timings["segment"] = time.perf_counter() - t
    return seg


def _fine_detail(net, model, fit, img, lm, size):
    """FineNet on the photo at up to 1024 px, resampled into the skin atlas."""
    import cv2

    from .camera import Camera
    from .detail import DetailResult, displacement_to_uv
    from .raster import rasterize

    H, W = img.shape[:2]
    s = min(1.0, 1024.0 / max(H, W))
    small = img if s == 1.0 else cv2.resize(img, (round(W * s), round(H * s)), interpolation=cv2.INTER_AREA)
    c = fit.camera
    cam = Camera(c.fx * s, c.fy * s, c.cx * s, c.cy * s, c.rotation, c.translation, small.shape[1], small.shape[0])
    depth = rasterize(model, fit.vertices, cam)["depth"]
    pts = lm.points * s
    disp_img = net.predict(small, depth, pts)
    uv, mask = displacement_to_uv(model, fit.vertices, cam, disp_img, size, pts[:468])
    return DetailResult(uv=uv, mask=mask, image=disp_img)
