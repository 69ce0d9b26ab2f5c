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
from .errors import (CalibrationUnavailable, Cancelled, ConfigError, DescriptorUnavailable, ImageWarning,
                     NotSamePerson)
from .eyes import DEFAULT_IRIS_SRGB, IrisColour, iris_colour
from .facemodel import SKIN_END, FaceModel, load_face_model
from .fit import Fit, FitWeights, InitialGuess, ModelPoints, View, fit_views, landmarks_68
from .hairstyle import check_hair_measures, check_hair_style, hair_from_photo, paint_scalp
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
    #: where the fit started: "mean face", "coarsenet", "coarsenet+descriptor" or "given"
    initializer: str = "mean face"
    detail: object = None             #: DetailResult (UV displacement, cm) or None
    quality: Quality | None = None    #: "ok" or "doubtful" with the reasons (see core.quality)
    iris: IrisColour = IrisColour(DEFAULT_IRIS_SRGB, False, "not measured")  #: the iris colour (core.eyes)
    segmentation: object = None       #: core.segment.Segmentation (what covers the face) or None
    hair: object = None               #: core.hairstyle.PhotoHair (the hair read from the photo) or None
    #: the model's own points the fit followed (LandmarkNet, ``core.modellandmarks``), or None: MediaPipe's
    model_points: ModelPoints | None = None
    #: the other photos of the person the head was fitted to (one identity and corrective field with this
    #: photo's; ``create_avatar(more_photos=...)``), in order
    others: list = field(default_factory=list)
    #: whether the photos show one person: ``{"checked": bool, "distances": [...], "threshold": float}``
    #: (face-descriptor distance of each other photo to this one), or None for one photo
    same_person: dict | None = None
    _normal_map: np.ndarray | None = field(default=None, repr=False)

    def detail_normal_map(self) -> np.ndarray | None:
        """The skin detail as an ``(S, S, 3)`` uint8 tangent-space normal map on the fitted head (``normal.png``
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
            "other_photos": [o.report(self.model) for o in self.others],
            "same_person": self.same_person,
            "eyes": {"iris": self.iris.to_dict()},
            **self.covering_notes(),
            "hair": None if self.hair is None else self.hair.to_dict(),
            "texture": {
                "size": int(self.albedo.shape[0]),
                "skin_tone_srgb": [int(x) for x in self.texture.skin_tone],
                "seen_fraction": round(float(self.texture.visible.sum() / max(self.texture.islands.sum(), 1)), 4),
                "covered_share": round(self.texture.covered_share, 4),
                "covered_left_out": self.texture.covered_left_out,
                "light_removed": self.texture.delit,
                "light": None if self.texture.light is None else self.texture.light.to_json(),
                "layout": "headforge skin atlas: face tile top-left 0.7, back of head top-right 0.3",
            },
            "detail": None if self.detail is None else {
                "file": "displacement.png", "normal_map": "normal.png", "size": int(self.detail.uv.shape[0]),
                "encoding": "16-bit grey: value / 65535 * (max_cm - min_cm) + min_cm, along the normal, outwards +",
                "min_cm": round(self.detail.range_cm[0], 6), "max_cm": round(self.detail.range_cm[1], 6),
                **self.detail.to_json()},
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
                  landmarknet: bool | None = None, landmarknet_path=None, descriptor: bool | None = None,
                  more_photos=(), delight: bool = True, hair_style: str = "photo", hair_length_cm: float | None = None,
                  hair_volume_cm: float | None = None, hair_curl_cm: float | None = None) -> Avatar:
    """Turn one photo, or several photos of one person, into an :class:`Avatar`.

    ``image``: a file path or an ``(H, W, 3)`` array (uint8 sRGB; also grayscale, RGBA, 16-bit, float).
    ``face_index``: 0 = largest face. ``texture_size``: 1024, 2048 or 4096. ``model_path``: ICT-FaceKit
    path (else ``$HEADFORGE_FACE_MODEL`` or ``../shared``). ``init``: where the fit starts (a learned
    regressor's guess). ``coarsenet``: start the fit from CoarseNet's prediction (None = when its weights
    are installed; True = ask for it, warning and falling back to the mean face if it cannot load; False =
    mean face). ``descriptor``: CoarseNet's identity refined by the person's face-recognition descriptor
    (``core.identity``; None = when the learned ridge is installed; True = ask for it, warning and keeping
    CoarseNet's identity if it cannot be used; False = CoarseNet's identity). ``landmarknet``: fit to the
    model's own points as LandmarkNet finds them (``core.modellandmarks``) instead of MediaPipe's (None = when
    its weights are installed; True = ask for it, warning and using MediaPipe's points if it cannot load;
    False = MediaPipe's points). ``detail``: skin detail as a UV displacement map: the medium scale
    (folds, wrinkles) from the photo's shading (``core.relief``) and the fine scale from FineNet (None = FineNet
    when its weights are installed; True = ask for FineNet, warning and leaving the fine scale out if it cannot
    load; False = no detail).
    ``segmentation``: leave hair, beards, glasses and things in front of the face out of the texture, as
    SegNet finds them (``core.segment``; None = when its weights are installed; True = ask for it, warning
    if it cannot load; False = no).
    ``delight``: take the photo's light and shadow off the texture (``core.texture.fit_light``), so the head
    looks right under any light; False keeps them baked in.
    ``hair_style``: "photo" reads the hair's style from the photo; or one of
    :data:`~headforge.core.hairstyle.HAIR_STYLES` ("bald", "short", "medium", "long", "ponytail", "bun"), with
    the photo's hair colour and hairline (it needs the segmentation, which reads them). ``hair_length_cm``,
    ``hair_volume_cm``, ``hair_curl_cm``: the hair that long (within its style's length class), standing that
    far out from the scalp, that curly (None: as the style has it; see
    :meth:`~headforge.core.hairstyle.PhotoHair.adjusted`).
    ``more_photos``: other photos of the same person (paths or arrays, or ``(photo, face_index)`` pairs; the
    largest face otherwise): one head is fitted to all (one identity and corrective field, a camera, pose and
    expression per photo) and the texture blends every photo in; the Avatar's camera, landmarks and
    expression stay the first photo's, the others are in ``Avatar.others``. A photo of someone else is refused
    (:class:`~headforge.core.errors.NotSamePerson`; see :func:`check_same_person`).
    ``progress(stage, fraction)`` is called between stages; ``should_stop()`` is polled and
    cancels with :class:`~headforge.core.errors.Cancelled`.

    Raises subclasses of :class:`~headforge.core.errors.HeadforgeError` for bad input.
    """
    if texture_size not in TEXTURE_SIZES:
        raise ValueError(f"texture_size must be one of {TEXTURE_SIZES}, got {texture_size}")
    check_hair_style(hair_style)
    check_hair_measures(hair_volume_cm, hair_curl_cm)
    hair_adjust = {"length_cm": hair_length_cm, "volume_cm": hair_volume_cm, "curl_cm": hair_curl_cm}
    hair_chosen = hair_style != "photo" or any(v is not None for v in hair_adjust.values())
    if hair_chosen and segmentation is False:
        raise ConfigError("A chosen hair style, length, volume or curl takes the hair's colour and hairline from "
                          "the photo's hair, which the segmentation finds: leave the segmentation on, or the hair "
                          "as the photo shows it.")
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

    extra = [_other_photo(x) for x in more_photos]
    step("landmarks", 0.1)
    shapes = fit_photos([(img, face_index)] + [(o.image, o.face_index) for o in extra], model, init=init,
                        weights=weights, coarsenet=coarsenet, coarsenet_path=coarsenet_path, descriptor=descriptor,
                        landmarknet=landmarknet, landmarknet_path=landmarknet_path, should_stop=should_stop,
                        on_fit=lambda: step("fit", 0.25),
                        names=[path or "the photo"] + [o.name for o in extra])
    shape = shapes[0]
    timings.update(shape.timings)
    lm, fit = shape.landmarks, shape.fit
    for o, sh in zip(extra, shapes[1:]):
        o.shape = sh

    seg = None
    if segmentation is not False:
        # a chosen hair style asks for it: its colour and hairline are read there (a warning when it cannot be)
        seg = _segment(img, lm, segnet_path, asked=bool(segmentation) or hair_chosen,
                       step=lambda: step("segment", 0.45), timings=timings)
        if seg is not None:  # the other photos too, when the first could be
            for o in extra:
                o.segmentation = _segment(o.image, o.shape.landmarks, segnet_path, False, lambda: None, {})

    step("texture", 0.5)
    t = time.perf_counter()
    tex = project_texture(model, fit.vertices, fit.camera, img, texture_size, face_points=lm.points[:468],
                          covered=None if seg is None else seg.covered, others=[o.photo_view() for o in extra],
                          delight=delight)
    hair = None
    if seg is not None:  # the hair read from the photo; the scalp under it takes its colour
        hair = hair_from_photo(model, fit.vertices, fit.camera, img, seg).choose(hair_style).adjusted(**hair_adjust)
        tex.albedo = paint_scalp(tex.albedo, tex.visible, model, fit.vertices, hair)
    timings["texture"] = time.perf_counter() - t

    det = None
    if detail is not False:
        step("detail", 0.85)
        t = time.perf_counter()
        det = _detail(model, fit, img, lm, seg, detail_size, asked=bool(detail), weights_path=detail_path)
        timings["detail"] = time.perf_counter() - t

    timings["total"] = time.perf_counter() - t_start
    step("done", 1.0)
    return Avatar(model=model, image=img, image_path=path, landmarks=lm, fit=fit, texture=tex,
                  detected68=shape.detected68, projected68=shape.projected68, timings=timings,
                  initializer=shape.initializer, detail=det, quality=shape.quality.adding(image_doubts),
                  iris=iris_colour(img, lm.points), segmentation=seg, hair=hair,
                  model_points=shape.model_points, others=extra, same_person=shape.same_person)


@dataclass
class ShapeFit:
    """The shape stage of :func:`create_avatar` for one face: landmarks, where the fit started, the fit,
    the 68 landmarks detected and fitted (pixels) and the quality verdict."""

    landmarks: Landmarks
    fit: Fit
    initializer: str                  #: "mean face", "coarsenet", "coarsenet+descriptor" or "given"
    #: what the fit followed: MediaPipe's points, or the model's own points (with their sigma) from LandmarkNet
    model_points: ModelPoints | None
    detected68: np.ndarray            #: (68, 2) float32 detected landmarks mapped to iBUG-68
    projected68: np.ndarray           #: (68, 2) float32 the model's 68 landmarks projected (jaw: silhouette)
    quality: Quality
    timings: dict = field(default_factory=dict)  #: seconds: landmarks, regress, fit
    same_person: dict | None = None   #: with several photos: :func:`check_same_person`'s report


@dataclass
class OtherPhoto:
    """Another photo of the person (``create_avatar(more_photos=...)``) and what was fitted to it."""

    image: np.ndarray                 #: (H, W, 3) uint8 sRGB, EXIF-rotated
    image_path: str | None
    face_index: int = 0
    shape: ShapeFit | None = None     #: its landmarks, camera, pose, expression and quality
    segmentation: object = None       #: core.segment.Segmentation or None

    @property
    def name(self) -> str:
        return self.image_path or "a photo given as an array"

    def photo_view(self):
        """The photo as :func:`~headforge.core.texture.project_texture` blends it in."""
        from .texture import PhotoView

        lm, fit = self.shape.landmarks, self.shape.fit
        return PhotoView(fit.vertices, fit.camera, self.image, lm.points[:468],
                         None if self.segmentation is None else self.segmentation.covered)

    def report(self, model: FaceModel) -> dict:
        """This photo's entry in ``fit.json``'s ``other_photos``."""
        sh, (h, w) = self.shape, self.image.shape[:2]
        return {"image": {"path": self.image_path, "width": int(w), "height": int(h)},
                "face_index": self.face_index, "camera": sh.fit.camera.to_dict(),
                "pose_degrees": euler_degrees(sh.fit.camera.rotation),
                "expression": {n: float(x) for n, x in zip(model.expression_names, sh.fit.expression)},
                "landmarks68": np.round(sh.projected68, 3).tolist(),
                "detected_landmarks68": np.round(sh.detected68, 3).tolist(),
                "quality": {**sh.quality.to_dict(), "mean_landmark_error_percent": round(sh.fit.landmark_error, 4)}}


def _other_photo(item) -> OtherPhoto:
    """``create_avatar``'s ``more_photos`` item (a photo, or a ``(photo, face_index)`` pair) loaded."""
    photo, index = item if isinstance(item, tuple) else (item, 0)
    img, path = as_image(photo)
    return OtherPhoto(img, path, int(index))


def check_same_person(images: list[np.ndarray], landmarks: list[Landmarks], yaws: list[float],
                      names: list[str], descriptors: list[np.ndarray | None] | None = None) -> dict:
    """Whether the faces (``images[k]``, its ``landmarks[k]``, its fitted yaw ``yaws[k]`` in degrees) show one
    person, by their face descriptors (``core.descriptor``): every photo's distance to the first. Raises
    :class:`~headforge.core.errors.NotSamePerson` naming the photos whose face is another person's (the first
    photo is the reference). A face turned more than :data:`~headforge.core.descriptor.MAX_YAW` degrees is not
    judged (the descriptor is unreliable there: its distance is reported, the photo is kept). Without the
    descriptor installed, warns and reports ``checked: False``. ``descriptors``: the faces' descriptors where
    already computed (None where not)."""
    from . import descriptor as D

    known = descriptors or [None] * len(images)
    try:
        ds = [D.face_descriptor(im, lm.points) if d is None else d for im, lm, d in zip(images, landmarks, known)]
    except D.DescriptorUnavailable as e:
        warnings.warn(f"Could not check that the photos show one person: {e}", RuntimeWarning, stacklevel=4)
        return {"checked": False, "why": str(e)}
    dist = [D.descriptor_distance(ds[0], d) for d in ds[1:]]
    judged = [abs(yaws[0]) <= D.MAX_YAW and abs(y) <= D.MAX_YAW for y in yaws[1:]]
    odd = [f"{names[k + 1]} ({d:.2f})" for k, (d, j) in enumerate(zip(dist, judged))
           if j and d >= D.SAME_PERSON_DISTANCE]
    if odd:
        raise NotSamePerson(
            f"{', '.join(odd)} {'shows' if len(odd) == 1 else 'show'} another person than {names[0]} (face-descriptor "
            f"distance; one person's photos lie below {D.SAME_PERSON_DISTANCE}). Leave "
            f"{'it' if len(odd) == 1 else 'them'} out, or make a head of each photo on its own.")
    return {"checked": True, "distances": [round(d, 4) for d in dist], "judged": judged,
            "threshold": D.SAME_PERSON_DISTANCE,
            "measure": "dlib face-recognition descriptor distance of each other photo to the first; a photo "
                       f"turned more than {D.MAX_YAW:g} degrees (or a first photo turned so) is not judged"}


def fit_photo(img: np.ndarray, model: FaceModel, *, face_index: int = 0, init: InitialGuess | None = None,
              weights: FitWeights | None = None, coarsenet: bool | None = None, coarsenet_path=None,
              landmarknet: bool | None = None, landmarknet_path=None, descriptor: bool | None = None,
              should_stop: Callable[[], bool] | None = None, on_fit: Callable[[], None] | None = None) -> ShapeFit:
    """Landmarks, CoarseNet's guess and the fit for the face ``face_index`` of ``img`` ``(H, W, 3)`` uint8
    sRGB (the arguments as for :func:`create_avatar`); ``on_fit()`` is called before the fit starts."""
    return fit_photos([(img, face_index)], model, init=init, weights=weights, coarsenet=coarsenet,
                      coarsenet_path=coarsenet_path, landmarknet=landmarknet, landmarknet_path=landmarknet_path,
                      descriptor=descriptor, should_stop=should_stop, on_fit=on_fit)[0]


def fit_photos(photos: list[tuple[np.ndarray, int]], model: FaceModel, *, init: InitialGuess | None = None,
               weights: FitWeights | None = None, coarsenet: bool | None = None, coarsenet_path=None,
               landmarknet: bool | None = None, landmarknet_path=None, descriptor: bool | None = None,
               should_stop: Callable[[], bool] | None = None,
               on_fit: Callable[[], None] | None = None, names: list[str] | None = None,
               check_person: bool = True) -> list[ShapeFit]:
    """The shape stage of one person seen in several photos: ``photos`` as ``(image, face_index)`` pairs, each
    image ``(H, W, 3)`` uint8 sRGB; landmarks and guesses per photo, then one fit with one identity and one
    corrective field (``core.fit.fit_views``). One :class:`ShapeFit` per photo, in order; the other arguments
    as for :func:`create_avatar`. ``init`` applies to every photo. With several photos they must show one
    person (:func:`check_same_person`, unless ``check_person`` is False; ``names`` name them in its
    message)."""
    corr = load_correspondence(model)
    prepared = [_prepare_view(img, i, model, corr, init, coarsenet, coarsenet_path, descriptor, landmarknet,
                              landmarknet_path) for img, i in photos]
    if on_fit is not None:
        on_fit()
    t = time.perf_counter()
    fits = fit_views(model, corr, [p.view for p in prepared], weights=weights, should_stop=should_stop)
    seconds = time.perf_counter() - t
    same = None
    if len(photos) > 1 and check_person:
        t = time.perf_counter()
        same = check_same_person([img for img, _ in photos], [p.landmarks for p in prepared],
                                 [euler_degrees(f.camera.rotation)["yaw"] for f in fits],
                                 names or [f"photo {k + 1}" for k in range(len(photos))],
                                 [p.descriptor for p in prepared])
        prepared[0].timings["same_person"] = time.perf_counter() - t
    shapes = []
    for p, fit in zip(prepared, fits):
        p.timings["fit"] = seconds
        shapes.append(ShapeFit(
            landmarks=p.landmarks, fit=fit, initializer=p.initializer, model_points=p.view.model_points,
            detected68=corr.detected_68(p.landmarks.points),
            projected68=landmarks_68(model, fit.vertices, fit.camera, fit.contour_vertices).astype(np.float32),
            quality=assess(fit, p.landmarks), timings=p.timings, same_person=same))
    return shapes


@dataclass
class _PreparedView:
    """One photo's part of a fit (:func:`_prepare_view`)."""

    landmarks: Landmarks
    view: View
    initializer: str                      #: where its fit starts (:attr:`ShapeFit.initializer`)
    timings: dict[str, float]             #: seconds per stage
    descriptor: np.ndarray | None = None  #: its face descriptor when the identity guess used one


def _prepare_view(img, face_index, model, corr, init, coarsenet, coarsenet_path, descriptor, landmarknet,
                  landmarknet_path) -> _PreparedView:
    """One photo's landmarks, its :class:`~headforge.core.fit.View` (with CoarseNet's guess, its identity refined
    by the face descriptor, and LandmarkNet's points where asked for and installed), where the fit starts and
    the stages' seconds."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    lm = detect_landmarks(img, face_index)
    timings["landmarks"] = time.perf_counter() - t
    initializer = "given" if init is not None else "mean face"
    desc = None
    if init is None and coarsenet is not False:
        from . import regress

        weights_path = coarsenet_path or regress.WEIGHTS
        if coarsenet or os.path.exists(weights_path):
            try:
                pred = regress.load(weights_path).predict(img, lm.points, model)
                timings["regress"] = pred.seconds
                pred.expression = _calibrate_expression(pred.expression, weights_path)
                initializer = "coarsenet"
                desc = _refine_identity(img, lm, pred, model, weights_path, descriptor, timings)
                if desc is not None:
                    initializer = "coarsenet+descriptor"
                init = regress.initial_guess(pred, *lm.image_size)
            except regress.RegressorUnavailable as e:
                warnings.warn(f"{e} Starting from the mean face.", RuntimeWarning, stacklevel=5)
    points = _model_points(img, lm, corr, landmarknet, landmarknet_path, timings)
    return _PreparedView(lm, View(lm.points, lm.image_size, init, points), initializer, timings, desc)


def _calibrate_expression(expression: np.ndarray, coarsenet_path) -> np.ndarray:
    """CoarseNet's expression calibrated (``core.expression_calibration``); CoarseNet's own when no calibration
    is installed (silently) or it cannot be used (a warning)."""
    from . import expression_calibration

    if not expression_calibration.WEIGHTS.exists():
        return expression
    try:
        return expression_calibration.calibrate(expression, coarsenet_path)
    except CalibrationUnavailable as e:
        warnings.warn(f"{e} The expression guess is CoarseNet's own.", RuntimeWarning, stacklevel=6)
        return expression


def _refine_identity(img, lm: Landmarks, pred, model: FaceModel, coarsenet_path, asked: bool | None, timings: dict
                     ) -> np.ndarray | None:
    """Replace CoarseNet's identity in ``pred`` by the descriptor ridge's (``core.identity``) and return the
    face's descriptor; None when it did not: not asked for or not installed (silently), or asked for or
    installed but unusable (no dlib, a ridge learned beside another CoarseNet: a warning)."""
    from . import identity
    from .descriptor import face_descriptor

    if asked is False or not (asked or identity.WEIGHTS.exists()):
        return None
    t = time.perf_counter()
    try:
        desc = face_descriptor(img, lm.points)
        pred.identity = identity.refine(desc, pred.identity, coarsenet_path, model=model)
    except DescriptorUnavailable as e:
        warnings.warn(f"{e} The identity is CoarseNet's alone.", RuntimeWarning, stacklevel=7)
        return None
    timings["descriptor"] = time.perf_counter() - t
    return desc


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
        warnings.warn(str(e), RuntimeWarning, stacklevel=6)
        return None
    if not net.matches(corr):
        warnings.warn(f"LandmarkNet {str(path)!r} was trained for other landmark correspondences; the fit uses "
                      "MediaPipe's points. Retrain it with `make train-landmarks`.", RuntimeWarning, stacklevel=6)
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


def _detail(model, fit, img, lm, seg, size, asked, weights_path):
    """The medium scale from the photo's shading, plus FineNet's fine scale when its weights are installed
    (``asked``: a warning when they cannot be loaded)."""
    from . import detail as fine
    from .relief import shading_relief

    medium, solved = shading_relief(model, fit.vertices, fit.camera, img, size, lm.points[:468],
                                    None if seg is None else seg.covered)
    fine_part = None
    weights_path = weights_path or fine.WEIGHTS
    if asked or os.path.exists(weights_path):
        try:
            fine_part = fine.finenet_uv(fine.load(weights_path), model, fit.vertices, fit.camera, img, lm.points, size)
        except fine.DetailUnavailable as e:
            warnings.warn(str(e), RuntimeWarning, stacklevel=3)
    return fine.combine(model, fit.vertices, medium, solved, fine_part)
