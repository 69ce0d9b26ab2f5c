"""Synthetic training faces: per-sample parameters, labels, the textures the renderer paints with and the
set's layout on disk. Pure numpy (rendering is in addon/; training reads sets through networks/dataset.py).

Every sample is a pure function of ``(seed, index)``: the same seed gives the same set however it is
sharded or scheduled. Parameters follow Digital Twin section 3.2 (rendered with Cycles instead of V-Ray):

* identity: ICT coefficients from the prior N(0, 1) truncated at ``truncation`` standard deviations,
  and in 30 % of the samples an interpolation of two sampled identities (the paper's augmentation);
* expression: sparse ARKit activations: 35 % neutral, otherwise 1-3 active groups (jaw open, smile,
  blink, brows, pucker, ...), mostly mild, some strong;
* pose: yaw/pitch/roll mostly within +-15 degrees, 20 % of samples with yaw up to +-45 degrees;
* camera: 35 mm-equivalent focal length from 22 mm (selfie) to 105 mm (portrait), face size and
  position jittered in frame;
* skin: melanin over the full range of human skin tones, redness, pores, freckles, stubble, roughness,
  subsurface; iris colour; 32 lighting set-ups (8 bundled HDRIs x 4 area-light rigs) with random
  rotation and strength; background: HDRI, procedural clutter or blurred noise;
* with ``details``: a procedural fine-detail displacement map in UV (pores, forehead lines, crow's feet,
  nasolabial folds) that the render applies;
* set version 2 (the default) adds, from a random stream of its own: hair, eyebrows and a beard
  (:mod:`.hair`), glasses in a quarter (:mod:`.glasses`), wider poses (profiles to +-90 degrees of yaw,
  pitch to +-40, roll to +-30) and camera effects on the finished image (:func:`apply_camera_effects`);
* set version 3 is version 2 with eyebrows that show (:func:`core.hair.visible_brows`, from a stream of its own,
  every other draw as version 2's): version 2's brows were faint or gone at 224 px, where a photo's are plain.
* set version 4 is version 3 with hats and caps, headbands, earrings, and a hand, a phone or a microphone in
  front of the face in some people (:func:`core.accessories.sample_accessories`, from a stream of its own), all
  labelled "other" in the mask.
* set version 5 is version 4 with clothes: a garment from a neckline over the shoulders and chest
  (:func:`core.clothes.sample_clothes`, from a stream of its own), labelled as clothes in the mask; moles,
  blemishes and make-up (:func:`sample_skin_layers`); and the lens's depth of field (:func:`sample_fstop`).
* set version 6 is version 5 with eyes of their own (:func:`sample_eyes`, from a stream of its own): an iris
  pattern around a varied colour, the pupil's size, the sclera's tint and its veins, painted as one texture
  (:func:`core.eyes.eye_texture`) where versions 1-5 have a flat iris behind a clear cornea.
* set version 7 is version 6 with some medium and long hair tied back in a ponytail or a bun
  (:func:`core.hair.sample_tied`, from a stream of its own).

Labels are computed from the same geometry the renderer gets: projections of the 68 landmark vertices
and the 478 MediaPipe points with visibility, and a rasterised depth map, normal map and part mask; in
version 2 the renderer's own coverage of hair, eyebrows, beard and frames is added to the mask
(:func:`with_coverage`).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from .camera import Camera, rodrigues
from .correspondence import Correspondence
from .facemodel import ATLAS_FACE, LANDMARKS_68, N_IDENTITY, FaceModel, landmark_uv
from .accessories import sample_accessories
from .clothes import sample_clothes
from .eyes import PUPIL_DIAMETER_MM, PUPIL_UV_RADIUS, SCLERA_SRGB
from .glasses import sample_glasses
from .hair import sample_hair, sample_tied, scalp_mask, visible_brows
from .raster import (HIDDEN_PARTS, MASK_BACKGROUND, MASK_BEARD, MASK_BROWS, MASK_EYES, MASK_FACE,  # noqa: F401
                     MASK_CLOTHES, MASK_GLASSES, MASK_HAIR, MASK_HEAD, MASK_MOUTH, MASK_OTHER,
                     rasterize)  # (re-exported)

N_HDRIS = 8
N_AREA_RIGS = 4
N_LIGHT_SETUPS = N_HDRIS * N_AREA_RIGS  # 32
IRIS_COLOURS = [(0.25, 0.14, 0.07), (0.12, 0.07, 0.04), (0.35, 0.25, 0.12), (0.22, 0.33, 0.18),
                (0.25, 0.42, 0.60), (0.45, 0.50, 0.52)]
#: sRGB skin tones from very light to very dark (melanin 0 -> 1)
SKIN_TONES = np.array([(0.96, 0.80, 0.70), (0.90, 0.70, 0.57), (0.78, 0.57, 0.43), (0.62, 0.42, 0.29),
                       (0.45, 0.29, 0.19), (0.28, 0.17, 0.11), (0.18, 0.11, 0.07)], np.float64)


EXPRESSION_GROUPS = [
    {"jawOpen": 1.0},
    {"mouthSmile_L": 1.0, "mouthSmile_R": 1.0, "cheekSquint_L": 0.4, "cheekSquint_R": 0.4},
    {"eyeBlink_L": 1.0, "eyeBlink_R": 1.0},
    {"browInnerUp_L": 1.0, "browInnerUp_R": 1.0, "browOuterUp_L": 0.6, "browOuterUp_R": 0.6},
    {"browDown_L": 1.0, "browDown_R": 1.0},
    {"mouthPucker": 1.0},
    {"mouthFunnel": 0.8, "jawOpen": 0.3},
    {"mouthFrown_L": 1.0, "mouthFrown_R": 1.0},
    {"eyeSquint_L": 0.8, "eyeSquint_R": 0.8},
    {"mouthSmile_L": 1.0},
    {"mouthSmile_R": 1.0},
    {"eyeWide_L": 1.0, "eyeWide_R": 1.0},
    {"cheekPuff_L": 1.0, "cheekPuff_R": 1.0},
    {"mouthStretch_L": 0.8, "mouthStretch_R": 0.8},
    {"noseSneer_L": 0.8, "noseSneer_R": 0.8},
    {"mouthRollLower": 0.8, "mouthRollUpper": 0.8},
    {"jawLeft": 0.6}, {"jawRight": 0.6},
    {"eyeLookLeft": 1.0}, {"eyeLookRight": 1.0}, {"eyeLookUp": 1.0}, {"eyeLookDown": 1.0},
]
#: gaze groups are expanded to the ICT per-eye shapes
_GAZE = {"eyeLookLeft": {"eyeLookOut_L": 1.0, "eyeLookIn_R": 1.0}, "eyeLookRight": {"eyeLookIn_L": 1.0, "eyeLookOut_R": 1.0},
         "eyeLookUp": {"eyeLookUp_L": 1.0, "eyeLookUp_R": 1.0}, "eyeLookDown": {"eyeLookDown_L": 1.0, "eyeLookDown_R": 1.0}}


@dataclass
class SynthConfig:
    count: int = 1000
    size: int = 224
    seed: int = 7
    details: bool = False
    shard_size: int = 25
    samples: int = 10           #: Cycles samples per pixel (denoised; 12 gave the same images within 1 level)
    truncation: float = 2.5     #: identity prior truncation, in standard deviations
    image_format: str = "png"   #: png or jpg
    detail_size: int = 1024     #: UV displacement map size with --details
    #: 1: bald mannequins; 2: with hair, eyebrows and beards (core.hair), glasses (core.glasses) and wider
    #: poses, and what they cover in the labels; 3: version 2 with eyebrows that show; 4: version 3 with hats,
    #: headbands, earrings and things held in front of the face; 5: version 4 with clothes, layered skin and
    #: depth of field; 6: version 5 with eyes of their own (iris pattern, pupil, sclera); 7: version 6 with hair
    #: tied back in some. Sets written before versions existed read as 1.
    version: int = 2
    #: photos of each person: samples ``k * views`` to ``k * views + views - 1`` are one person (identity,
    #: appearance, hair, glasses, light) seen in other poses, expressions and framings (view 0 as a single
    #: sample of that person would be; the others turned up to :data:`VIEW_YAW` degrees): the several-photo
    #: fit's ground truth
    views: int = 1
    #: frames of each person's clip (0: no clips): samples ``k * clip`` to ``k * clip + clip - 1`` are one person
    #: performing: expressions and head pose eased between keyframes, blinks, a still start
    #: (:func:`_clip_frame`); the tracker's ground truth
    clip: int = 0
    #: beside each render, the skin's own colour without light as the camera sees it
    #: (``albedo_NNNNNNNN.png``, RGBA sRGB, alpha the skin): the ground truth for taking a photo's light off
    albedo: bool = False
    #: beside each render, the light that falls on the skin: the same scene with the skin's colour white
    #: (``shading_NNNNNNNN.exr``, RGB half float, scene-linear, no depth of field; before the view transform,
    #: exposure and camera effects, the render's skin is about albedo x shading): the ground truth for the light
    shading: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SynthConfig":
        return cls(**{"version": 1, **{k: v for k, v in d.items() if k in cls.__dataclass_fields__}})

    @property
    def n_shards(self) -> int:
        return (self.count + self.shard_size - 1) // self.shard_size

    def shard_indices(self, k: int) -> range:
        return range(k * self.shard_size, min(self.count, (k + 1) * self.shard_size))


#: independent random streams of one sample: what v1 drew stays the same in v2
BASE_STREAM, V2_STREAM, VIEW_STREAM, CLIP_STREAM, V3_STREAM, V4_STREAM, V5_STREAM, V6_STREAM, V7_STREAM = range(9)
#: a clip's keyframes are this many frames apart; it starts still for CLIP_STILL frames; a blink every
#: CLIP_BLINK_EVERY frames on average lasts CLIP_BLINK frames (about 130 ms at 30 fps)
CLIP_KEY, CLIP_STILL, CLIP_BLINK_EVERY, CLIP_BLINK = 12, 10, 45, 4
#: the largest yaw (degrees) of a person's other views (``SynthConfig.views``)
VIEW_YAW = 70.0
VERSIONS = (1, 2, 3, 4, 5, 6, 7)


def _rng(cfg: SynthConfig, index: int, stream: int = BASE_STREAM) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, index, stream])


def sample_params(cfg: SynthConfig, index: int, model: FaceModel) -> dict:
    """All random choices of one sample (plain numbers and arrays), a pure function of (seed, index); with
    ``cfg.views`` > 1 a view of the person ``index // views`` (:func:`_other_view`)."""
    if cfg.clip:
        person, frame = divmod(index, cfg.clip)
        p = dict(_person_params(cfg, person, model), index=index, person=person)
        return _clip_frame(_rng(cfg, person, CLIP_STREAM), p, frame, model)
    person, view = divmod(index, cfg.views)
    p = _person_params(cfg, person, model)
    p.update(index=index, person=person)
    return _other_view(_rng(cfg, index, VIEW_STREAM), p, model) if view else p


def _draw_expression(r: np.random.Generator, model: FaceModel) -> np.ndarray:
    """(53,) expression weights in [0, 1]: none in a third of the samples, else 1-3 sparse groups."""
    expr = np.zeros(model.n_expression)
    if r.random() > 0.35:
        for g in r.choice(len(EXPRESSION_GROUPS), size=r.integers(1, 4), replace=False):
            strength = r.uniform(0.5, 1.0) if r.random() < 0.3 else r.uniform(0.05, 0.45)
            for name, w in EXPRESSION_GROUPS[g].items():
                for n2, w2 in _GAZE.get(name, {name: 1.0}).items():
                    expr[model.expression_index(n2)] = max(expr[model.expression_index(n2)], strength * w * w2)
    return np.clip(expr, 0, 1)


def _other_view(r: np.random.Generator, p: dict, model: FaceModel) -> dict:
    """The same person (identity, appearance, hair, glasses, light) in another photo: a new pose (yaw
    uniform within :data:`VIEW_YAW`), expression, lens, framing and camera effects."""
    p = dict(p, yaw=float(r.uniform(-VIEW_YAW, VIEW_YAW)), pitch=float(np.clip(r.normal(0, 8), -20, 20)),
             roll=float(np.clip(r.normal(0, 5), -15, 15)), expression=_draw_expression(r, model).astype(np.float32),
             focal_mm=float(np.exp(r.uniform(np.log(22), np.log(105)))), face_frac=r.uniform(0.38, 0.62),
             shift=r.uniform(-0.08, 0.08, size=2))
    if p["camera_effects"] is not None:
        p["camera_effects"] = sample_camera_effects(r)
    if p.get("fstop") is not None:   # set version 5: the aperture goes with the new lens
        p["fstop"] = sample_fstop(r, p["focal_mm"])
    return p


def _clip_frame(r: np.random.Generator, p: dict, frame: int, model: FaceModel) -> dict:
    """Frame ``frame`` of the person ``p``'s clip; ``r`` is the clip's own random stream (the same for every
    frame, so all frames agree): expressions and pose (yaw within 35 degrees of the front) eased between
    keyframes :data:`CLIP_KEY` frames apart, still for the first :data:`CLIP_STILL` frames; blinks of
    :data:`CLIP_BLINK` frames; one lens and light; the camera's noise drawn anew in every frame."""
    n_keys = 64
    keys = np.stack([_draw_expression(r, model) for _ in range(n_keys)])
    yaw = np.clip(p["yaw"], -20, 20) + np.cumsum(r.normal(0, 6, n_keys))
    pose = np.stack([np.clip(yaw, -35, 35), np.clip(r.normal(0, 6, n_keys), -15, 15), np.clip(r.normal(0, 4, n_keys), -10, 10)], 1)
    starts = np.cumsum(r.integers(CLIP_BLINK_EVERY // 2, 3 * CLIP_BLINK_EVERY // 2, 64)) + CLIP_STILL
    noise_seed = int(r.integers(0, 2 ** 31 - 1))
    moving = max(frame - CLIP_STILL, 0) / CLIP_KEY
    k, u = min(int(moving), n_keys - 2), moving - min(int(moving), n_keys - 2)
    ease = u * u * (3 - 2 * u)
    expr = (1 - ease) * keys[k] + ease * keys[k + 1]
    yaw_f, pitch_f, roll_f = (1 - ease) * pose[k] + ease * pose[k + 1]
    since = frame - starts[np.searchsorted(starts, frame, side="right") - 1] if frame >= starts[0] else -1
    if 0 <= since < CLIP_BLINK:   # closed in the middle frames
        shut = 1.0 if 0 < since < CLIP_BLINK - 1 else 0.5
        for name in ("eyeBlink_L", "eyeBlink_R"):
            i = model.expression_index(name)
            expr[i] = max(expr[i], shut)
    p = dict(p, yaw=float(yaw_f), pitch=float(pitch_f), roll=float(roll_f), expression=expr.astype(np.float32))
    if p["camera_effects"] is not None:
        fx = dict(p["camera_effects"], motion_px=0.0, noise=max(p["camera_effects"]["noise"], 2.0))
        p["camera_effects"] = dict(fx, seed=noise_seed + frame)
    return p


def _person_params(cfg: SynthConfig, index: int, model: FaceModel) -> dict:
    """The draws of sample ``index`` of a set with one view per person."""
    r = _rng(cfg, index)
    # identity, with interpolation of two identities in 30 %
    def draw():
        a = r.standard_normal(N_IDENTITY)
        return np.clip(a, -cfg.truncation, cfg.truncation)
    identity = draw()
    mixed = r.random() < 0.3
    if mixed:
        lam = r.uniform(0.2, 0.8)
        identity = lam * identity + (1 - lam) * draw()
    expr = _draw_expression(r, model)
    # pose (degrees)
    if r.random() < 0.2:
        yaw = r.uniform(-45, 45)
    else:
        yaw = float(np.clip(r.normal(0, 8), -15, 15))
    pitch = float(np.clip(r.normal(0, 6), -15, 15))
    roll = float(np.clip(r.normal(0, 5), -15, 15))
    # camera: 35 mm-equivalent focal length, face width in frame, centre jitter
    focal_mm = float(np.exp(r.uniform(np.log(22), np.log(105))))
    face_frac = r.uniform(0.38, 0.62)
    shift = r.uniform(-0.08, 0.08, size=2)
    # appearance
    melanin = r.random()
    appearance = {
        "melanin": melanin,
        "skin_srgb": skin_tone(melanin, r.uniform(-0.06, 0.06)).tolist(),
        "redness": r.uniform(0.0, 0.12),
        "pores": r.uniform(0.2, 1.0),
        "freckles": float(r.uniform(0.2, 0.8) if r.random() < 0.25 * (1 - melanin) else 0.0),
        "stubble": float(r.uniform(0.3, 1.0) if r.random() < 0.2 else 0.0),
        "roughness": r.uniform(0.35, 0.6),
        "specular": r.uniform(0.3, 0.6),
        "subsurface": r.uniform(0.05, 0.25),
        "lip_darkness": r.uniform(0.6, 0.85),
        "brow_darkness": r.uniform(0.15, 0.5),
        "iris_srgb": list(IRIS_COLOURS[r.integers(len(IRIS_COLOURS))]),
        "noise_seed": int(r.integers(0, 2 ** 31 - 1)),
    }
    setup = int(r.integers(N_LIGHT_SETUPS))
    lights = {
        "setup": setup, "hdri": setup % N_HDRIS, "area_rig": setup // N_HDRIS,
        "hdri_rotation": r.uniform(0, 2 * np.pi), "hdri_strength": float(np.exp(r.uniform(np.log(0.5), np.log(1.8)))),
        "area": [{"azimuth": r.uniform(-80, 80), "elevation": r.uniform(-10, 60), "distance": r.uniform(0.6, 1.5),
                  "size": r.uniform(0.2, 1.0), "power": float(np.exp(r.uniform(np.log(20), np.log(120)))),
                  "warmth": r.uniform(-0.15, 0.15)} for _ in range(3)],
    }
    background = {"kind": ["hdri", "clutter", "noise"][int(r.integers(3))], "seed": int(r.integers(0, 2 ** 31 - 1))}
    details = None
    if cfg.details:
        details = {"seed": int(r.integers(0, 2 ** 31 - 1)), "pores": r.uniform(0.005, 0.02),
                   "forehead": r.uniform(0.0, 0.08), "crows_feet": r.uniform(0.0, 0.06),
                   "nasolabial": r.uniform(0.0, 0.12), "age": r.uniform(0, 1)}
    hair = glasses = effects = None
    if cfg.version >= 2:
        r2 = _rng(cfg, index, V2_STREAM)
        hair = sample_hair(r2, melanin)
        yaw, pitch, roll = _wider_pose(r2, yaw, pitch, roll)
        glasses = sample_glasses(r2)
        effects = sample_camera_effects(r2)
    if cfg.version >= 3:
        r3 = _rng(cfg, index, V3_STREAM)
        hair["brows"] = visible_brows(r3, hair)
        appearance["brow_darkness"] = float(r3.uniform(0.1, 0.3))
    accessories = sample_accessories(_rng(cfg, index, V4_STREAM), appearance["skin_srgb"]) if cfg.version >= 4 else None
    clothes = fstop = None
    if cfg.version >= 5:
        r5 = _rng(cfg, index, V5_STREAM)
        clothes = sample_clothes(r5)
        fstop = sample_fstop(r5, focal_mm)
        appearance.update(sample_skin_layers(r5))
    eyes = sample_eyes(_rng(cfg, index, V6_STREAM), appearance["iris_srgb"]) if cfg.version >= 6 else None
    if cfg.version >= 7:
        hair["tied"] = sample_tied(_rng(cfg, index, V7_STREAM), hair)
    return {"index": index, "person": index, "identity": identity.astype(np.float32),
            "expression": expr.astype(np.float32),
            "mixed_identity": bool(mixed), "yaw": yaw, "pitch": pitch, "roll": roll, "focal_mm": focal_mm,
            "face_frac": face_frac, "shift": shift, "appearance": appearance, "lights": lights,
            "background": background, "details": details, "hair": hair, "glasses": glasses,
            "camera_effects": effects, "accessories": accessories, "clothes": clothes, "fstop": fstop,
            "eyes": eyes}


def _wider_pose(r: np.random.Generator, yaw: float, pitch: float, roll: float) -> tuple[float, float, float]:
    """Set version 2's poses: some profiles (yaw to +-90 degrees), strong pitch (+-40) and roll (+-30)."""
    if r.random() < 0.2:
        yaw = float(np.sign(yaw or 1.0) * r.uniform(45, 90))
    if r.random() < 0.15:
        pitch = float(r.uniform(-40, 40))
    if r.random() < 0.15:
        roll = float(r.uniform(-30, 30))
    return yaw, pitch, roll


def sample_camera_effects(r: np.random.Generator) -> dict:
    """What a real camera does to a photo after the light (set version 2): white balance and exposure
    errors, defocus or motion blur, lost resolution, sensor noise and JPEG compression, each in some
    photos."""
    motion = r.random() < 0.1
    return {
        "white_balance": [float(x) for x in np.exp(r.normal(0, 0.06, 3))],
        "exposure_ev": float(r.normal(0, 0.3)),
        "blur_px": float(r.uniform(0.5, 1.5) if r.random() < 0.25 else 0.0),
        "motion_px": float(r.uniform(2, 6) if motion else 0.0),
        "motion_angle": float(r.uniform(0, 180)),
        "resolution": float(r.uniform(0.35, 0.8) if r.random() < 0.3 else 1.0),
        "noise": float(r.uniform(1, 6) if r.random() < 0.5 else 0.0),
        "jpeg_quality": int(r.integers(30, 95)) if r.random() < 0.6 else 0,
        "seed": int(r.integers(0, 2 ** 31 - 1)),
    }


def apply_camera_effects(image: np.ndarray, fx: dict) -> np.ndarray:
    """``image`` ``(H, W, 3)`` uint8 sRGB as the camera of ``fx`` (:func:`sample_camera_effects`) would have
    delivered it: same size and geometry, so every label still holds."""
    r = np.random.default_rng(fx["seed"])
    lin = (image.astype(np.float32) / 255) ** 2.2
    lin *= np.asarray(fx["white_balance"], np.float32) * 2 ** fx["exposure_ev"]
    f = np.clip(lin, 0, 1) ** (1 / 2.2) * 255
    if fx["blur_px"]:
        f = cv2.GaussianBlur(f, (0, 0), fx["blur_px"])
    if fx["motion_px"]:
        n = int(round(fx["motion_px"])) * 2 + 1
        k = np.zeros((n, n), np.float32)
        k[n // 2] = 1
        k = cv2.warpAffine(k, cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), fx["motion_angle"], 1.0), (n, n))
        f = cv2.filter2D(f, -1, k / max(k.sum(), 1e-6))
    if fx["resolution"] < 1:
        h, w = f.shape[:2]
        small = cv2.resize(f, (max(8, int(w * fx["resolution"])), max(8, int(h * fx["resolution"]))),
                           interpolation=cv2.INTER_AREA)
        f = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if fx["noise"]:
        f = f + r.normal(0, fx["noise"], f.shape) * np.sqrt(np.maximum(f, 16) / 128)  # more in the highlights
    out = np.clip(np.round(f), 0, 255).astype(np.uint8)
    if fx["jpeg_quality"]:
        ok, buf = cv2.imencode(".jpg", out[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, fx["jpeg_quality"]])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
    return np.ascontiguousarray(out)


def skin_tone(melanin: float, hue_jitter: float = 0.0) -> np.ndarray:
    """sRGB skin colour for ``melanin`` in [0, 1] (interpolated in linear light between anchors)."""
    lin = SKIN_TONES ** 2.2
    x = np.clip(melanin, 0, 1) * (len(lin) - 1)
    i = min(int(x), len(lin) - 2)
    c = lin[i] * (1 - (x - i)) + lin[i + 1] * (x - i)
    c = c * np.array([1 + hue_jitter, 1.0, 1 - hue_jitter])
    return np.clip(c, 0, 1) ** (1 / 2.2)


#: set version 5's layered skin when a person has none of it (versions 1-4)
NO_SKIN_LAYERS = {"moles": 0.0, "blemishes": 0.0, "lipstick": 0.0, "lipstick_srgb": [0.6, 0.1, 0.15],
                  "eyeshadow": 0.0, "eyeshadow_srgb": [0.4, 0.3, 0.35], "eyeliner": 0.0}


def sample_skin_layers(r: np.random.Generator) -> dict:
    """Set version 5's layers over the skin: moles (40 %), blemishes (30 %) and make-up (30 %: lipstick, eye
    shadow and eyeliner, each in some of those)."""
    out = dict(NO_SKIN_LAYERS)
    out["moles"] = float(r.uniform(0.5, 1.0)) if r.random() < 0.4 else 0.0
    out["blemishes"] = float(r.uniform(0.3, 0.8)) if r.random() < 0.3 else 0.0
    if r.random() < 0.3:
        if r.random() < 0.7:
            hue = r.uniform(0, 1)
            out["lipstick"] = float(r.uniform(0.4, 0.9))
            colour = (np.array([0.75, 0.12, 0.2]) * (1 - hue) + np.array([0.45, 0.15, 0.25]) * hue) * r.uniform(0.6, 1.1)
            out["lipstick_srgb"] = [float(x) for x in colour]
        if r.random() < 0.6:
            out["eyeshadow"] = float(r.uniform(0.2, 0.6))
            out["eyeshadow_srgb"] = [float(x) for x in r.uniform(0.1, 0.6, 3)]
        out["eyeliner"] = float(r.uniform(0.5, 0.95)) if r.random() < 0.6 else 0.0
    return out


#: pupil diameters (mm) of set version 6's eyes: constricted in daylight to wide in a dim room
PUPIL_MM = (2.0, 7.0)


def sample_eyes(r: np.random.Generator, iris_unit) -> dict:
    """Set version 6's eyes, for :func:`core.eyes.eye_texture`: the person's iris colour (``iris_unit``, sRGB
    0-1) lighter or darker and a little off in hue, as sRGB 0-255; the pupil's diameter (:data:`PUPIL_MM`) as
    its radius in the sclera's UV map; the veins' strength (clear to bloodshot in one eye of ten); a sclera
    off-white to a little yellow or grey; a seed for the veins and fibres."""
    iris = np.asarray(iris_unit, np.float64) * r.uniform(0.7, 1.35) * np.exp(r.normal(0, 0.08, 3))
    pupil_mm = r.uniform(*PUPIL_MM)
    sclera = np.array(SCLERA_SRGB, np.float64) * r.uniform(0.85, 1.0) - np.array([0, 0, r.uniform(0, 18)])
    return {"iris_srgb": [int(v) for v in np.clip(iris * 255, 0, 255)], "pupil_mm": float(pupil_mm),
            "pupil_uv_radius": float(PUPIL_UV_RADIUS * pupil_mm / PUPIL_DIAMETER_MM),
            "veins": float(r.uniform(1.2, 2.5) if r.random() < 0.1 else r.uniform(0.0, 1.0)),
            "sclera_srgb": [int(v) for v in np.clip(sclera, 0, 255)], "seed": int(r.integers(0, 2 ** 31 - 1))}


def sample_fstop(r: np.random.Generator, focal_mm: float) -> float:
    """The lens's aperture (f-number, 35 mm equivalent) for the depth of field of set version 5: a phone's wide
    lens (under 35 mm) keeps everything sharp (f/6-14 equivalent), a portrait lens blurs the background
    (f/1.8-8)."""
    return float(np.exp(r.uniform(np.log(6), np.log(14))) if focal_mm < 35 else np.exp(r.uniform(np.log(1.8), np.log(8))))


def sample_camera(p: dict, size: int, neutral_width_cm: float = 15.0) -> Camera:
    """The camera of a sample: the head's pose and distance give the wanted face size in frame."""
    f = p["focal_mm"] / 36.0 * size
    z = f * neutral_width_cm / (p["face_frac"] * size)
    R = rodrigues(np.radians([0, 0, p["roll"]])) @ rodrigues(np.radians([p["pitch"], 0, 0])) @ \
        rodrigues(np.radians([0, p["yaw"], 0]))
    F = np.diag([1.0, -1.0, -1.0])  # model (y up, facing +z) -> camera (y down, looking +z)
    Rc = F @ R
    t = np.array([p["shift"][0] * z * size / f, p["shift"][1] * z * size / f, z]) - Rc @ np.array([0.0, 1.5, 3.0])
    return Camera(fx=f, fy=f, cx=size / 2.0, cy=size / 2.0, rotation=Rc, translation=t, width=size, height=size)


# -------------------------------------------------------------------------------------------------
# labels


def _pixel_of(xy: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Column and row indices ``(K,)`` of the pixels holding the points ``xy`` ``(K, 2)``, clamped to an image
    of ``shape`` ``(H, W, ...)``."""
    return (np.clip(np.floor(xy[:, 0]).astype(int), 0, shape[1] - 1),
            np.clip(np.floor(xy[:, 1]).astype(int), 0, shape[0] - 1))


def project_points(points_model: np.ndarray, cam: Camera, depth: np.ndarray, tol_cm: float = 0.6):
    """Pixels ``(K, 2)`` and visibility ``(K,)`` (in frame and not occluded by more than ``tol_cm``)."""
    uv = cam.project(points_model)
    z = cam.to_camera(points_model)[:, 2]
    H, W = depth.shape
    xi, yi = _pixel_of(uv, depth.shape)
    inside = (uv[:, 0] >= 0) & (uv[:, 1] >= 0) & (uv[:, 0] < W) & (uv[:, 1] < H)
    vis = inside & (z <= depth[yi, xi] + tol_cm)
    return uv.astype(np.float32), vis


def labels_for(model: FaceModel, corr: Correspondence, p: dict, size: int, details_uv: np.ndarray | None = None):
    """Geometry and labels of one sample: ``(vertices_cm, camera, labels dict)``."""
    verts = model.vertices(p["identity"], p["expression"]).astype(np.float64)
    cam = sample_camera(p, size)
    r = rasterize(model, verts, cam, uv=details_uv is not None)
    lm68, vis68 = project_points(verts[LANDMARKS_68], cam, r["depth"])
    mp_all = np.zeros((478, 3))
    mp_all[corr.mp_index] = np.einsum("kj,kjd->kd", corr.ict_bary, verts[corr.ict_vertices])
    known = np.zeros(478, bool)
    known[corr.mp_index] = True
    mp, mpvis = project_points(mp_all, cam, r["depth"])
    mpvis &= known
    lab = {"lm68": lm68, "lm68_visible": vis68, "mp478": mp, "mp478_visible": mpvis, "mp478_valid": known,
           "depth": r["depth"], "normal": r["normal"], "mask": r["mask"]}
    if details_uv is not None:
        lab["disp_image"] = sample_uv_map(details_uv, r["uv"])
    return verts, cam, lab


#: what the renderer reports covering the head in set version 2, and each one's mask value
COVER_MASKS = {"hair": MASK_HAIR, "brows": MASK_BROWS, "beard": MASK_BEARD, "glasses": MASK_GLASSES,
               "hat": MASK_OTHER, "headband": MASK_OTHER, "earrings": MASK_OTHER, "occluder": MASK_OTHER,
               "clothes": MASK_CLOTHES}
#: what hides the landmarks under it (annotators mark them under eyebrows, beards and frames)
HIDES_LANDMARKS = ("hair", "hat", "headband", "occluder", "clothes")


def with_coverage(lab: dict, covered: dict[str, np.ndarray]) -> dict:
    """The labels of a render where hair, eyebrows, a beard or glasses' frames cover pixels: ``covered`` maps
    names of ``COVER_MASKS`` to ``(H, W)`` bool (the renderer's own coverage of each in front of the head).
    Those pixels get their mask value, and the landmarks under scalp hair are not visible (under eyebrows,
    beards and frames they stay visible, as annotators mark them). Depth and normals stay the head's."""
    lab = dict(lab)
    mask = lab["mask"].copy()
    for name, pixels in covered.items():
        mask[pixels] = COVER_MASKS[name]
    lab["mask"] = mask
    hiding = [covered[name] for name in HIDES_LANDMARKS if name in covered]
    if hiding:
        hidden = np.logical_or.reduce(hiding)
        for points, visible in (("lm68", "lm68_visible"), ("mp478", "mp478_visible")):
            xi, yi = _pixel_of(np.asarray(lab[points]), hidden.shape)
            lab[visible] = lab[visible] & ~hidden[yi, xi]
    return lab


def sample_uv_map(uv_map: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Look up a UV-space map ``(S, S)`` at per-pixel UVs ``(H, W, 2)`` (-1 = none) -> ``(H, W)``."""
    S = uv_map.shape[0]
    mx = (uv[..., 0] * S - 0.5).astype(np.float32)
    my = ((1 - uv[..., 1]) * S - 0.5).astype(np.float32)
    out = cv2.remap(uv_map.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out[uv[..., 0] < 0] = 0
    return out


# -------------------------------------------------------------------------------------------------
# fine detail (ground truth displacement in the skin atlas, centimetres along the normal)


def detail_map(model: FaceModel, d: dict, size: int = 1024) -> np.ndarray:
    """Procedural fine detail ``(size, size)`` float32 cm in the skin atlas (face tile): pores everywhere
    on the face, forehead lines, crow's feet and nasolabial folds at the person's landmarks."""
    r = np.random.default_rng(d["seed"])
    uvl = landmark_uv(model)
    px = np.stack([uvl[:, 0] * size, (1 - uvl[:, 1]) * size], 1)  # pixel coords of the landmarks
    disp = np.zeros((size, size), np.float32)
    # pores: band-passed noise
    noise = r.standard_normal((size, size)).astype(np.float32)
    pores = cv2.GaussianBlur(noise, (0, 0), 0.8) - cv2.GaussianBlur(noise, (0, 0), 2.5)
    disp -= d["pores"] * np.abs(pores) / (np.abs(pores).std() + 1e-6) * 0.5
    lines = np.zeros_like(disp)
    eye_w = np.linalg.norm(px[36] - px[45])
    th = max(1, int(round(size / 512)))
    # forehead: horizontal lines above the brows
    brow_y = px[17:27, 1].min()
    for k in range(int(r.integers(2, 5))):
        y = brow_y - eye_w * (0.12 + 0.11 * k) + r.normal(0, eye_w * 0.01)
        xs = np.linspace(px[17, 0] + eye_w * 0.05, px[26, 0] - eye_w * 0.05, 24)
        ys = y + np.sin(np.linspace(0, np.pi, 24)) * -eye_w * 0.04 + r.normal(0, eye_w * 0.004, 24)
        cv2.polylines(lines, [np.round(np.stack([xs, ys], 1) * 16).astype(np.int32)], False,
                      d["forehead"] * r.uniform(0.6, 1.0), th, cv2.LINE_AA, shift=4)
    # crow's feet: fans at the outer eye corners
    for corner, sign in ((36, -1), (45, 1)):
        for k in range(int(r.integers(2, 5))):
            ang = np.radians(r.uniform(-35, 35))
            p0 = px[corner] + np.array([sign * eye_w * 0.06, 0])
            p1 = p0 + eye_w * 0.22 * np.array([sign * np.cos(ang), np.sin(ang)])
            cv2.line(lines, tuple(np.round(p0 * 16).astype(int)), tuple(np.round(p1 * 16).astype(int)),
                     d["crows_feet"] * r.uniform(0.5, 1.0), th, cv2.LINE_AA, shift=4)
    # nasolabial folds: from beside the nose wings to beside the mouth corners
    for wing, mouth, sign in ((31, 48, -1), (35, 54, 1)):
        p0 = px[wing] + np.array([sign * eye_w * 0.06, -eye_w * 0.05])
        p2 = px[mouth] + np.array([sign * eye_w * 0.08, eye_w * 0.05])
        p1 = (p0 + p2) / 2 + np.array([sign * eye_w * 0.06, 0])
        t = np.linspace(0, 1, 20)[:, None]
        curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2
        cv2.polylines(lines, [np.round(curve * 16).astype(np.int32)], False, d["nasolabial"], th * 2,
                      cv2.LINE_AA, shift=4)
    lines = cv2.GaussianBlur(lines, (0, 0), max(1.0, size / 512))
    disp -= lines * (0.5 + 0.5 * d["age"])
    # only on the face tile, fading out towards its border
    tile = np.zeros((size, size), np.float32)
    a = int(ATLAS_FACE * size)
    tile[:a, :a] = 1.0
    tile = cv2.GaussianBlur(tile, (0, 0), size / 64)
    return (disp * tile).astype(np.float32)


# -------------------------------------------------------------------------------------------------
# textures the renderer paints with (pure numpy)


def mask_images(model: FaceModel, size: int = 512) -> dict[str, np.ndarray]:
    """Lips, brows, beard-area, eyelid (eye shadow), lid-line (eyeliner) and scalp masks (float [0, 1], rows top
    to bottom) in the skin atlas."""
    uvl = landmark_uv(model)
    px = np.stack([uvl[:, 0] * size, (1 - uvl[:, 1]) * size], 1)
    eye_w = np.linalg.norm(px[36] - px[45])
    out = {}
    lips = np.zeros((size, size), np.float32)
    cv2.fillPoly(lips, [np.round(px[48:60] * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    out["lips"] = cv2.GaussianBlur(lips, (0, 0), size / 400)
    brows = np.zeros((size, size), np.float32)
    for a, b in ((17, 22), (22, 27)):
        pts = px[a:b] + np.array([0, -eye_w * 0.03])
        cv2.polylines(brows, [np.round(pts * 16).astype(np.int32)], False, 1.0, max(2, int(eye_w * 0.09)),
                      cv2.LINE_AA, shift=4)
    out["brows"] = cv2.GaussianBlur(brows, (0, 0), size / 300)
    beard = np.zeros((size, size), np.float32)
    poly = np.concatenate([px[3:14], px[[54, 35, 33, 31, 48]]])
    cv2.fillPoly(beard, [np.round(poly * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    beard = np.clip(beard - 1.5 * cv2.dilate(lips, np.ones((5, 5), np.uint8)), 0, 1)
    out["beard"] = cv2.GaussianBlur(beard, (0, 0), size / 60)
    lids, liner = np.zeros((size, size), np.float32), np.zeros((size, size), np.float32)
    for eye, brow in ((slice(36, 42), slice(17, 22)), (slice(42, 48), slice(22, 27))):
        upper = px[eye][:4]   # the eye's corner and upper lid
        cv2.fillPoly(lids, [np.round(np.concatenate([upper, 0.4 * upper[::-1] + 0.6 * px[brow][::-1][1:5]]) * 16)
                            .astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
        cv2.polylines(liner, [np.round(px[eye] * 16).astype(np.int32)], True, 1.0, max(1, int(eye_w * 0.03)),
                      cv2.LINE_AA, shift=4)
    out["eyelids"] = cv2.GaussianBlur(lids, (0, 0), size / 250)
    out["eyeliner"] = cv2.GaussianBlur(liner, (0, 0), size / 800)
    # the masks only live on the face tile
    a = int(ATLAS_FACE * size)
    for k in out:
        out[k][:, a:] = 0
        out[k][a:, :] = 0
    out["scalp"] = scalp_mask(model, model.neutral, size)
    return out


def background_image(kind: str, seed: int, size: int = 256) -> np.ndarray:
    """Procedural background ``(size, size, 3)`` uint8 sRGB: "clutter" (shapes like a room) or "noise"
    (blurred multi-scale colour noise, like an out-of-focus photo)."""
    r = np.random.default_rng(seed)
    if kind == "clutter":
        img = np.empty((size, size, 3), np.float32)
        img[:] = r.uniform(0.2, 0.9, 3)
        for _ in range(int(r.integers(8, 25))):
            col = r.uniform(0.05, 1.0, 3)
            if r.random() < 0.6:
                x0, y0 = r.integers(0, size, 2)
                w, h = r.integers(size // 16, size // 2, 2)
                cv2.rectangle(img, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)), col.tolist(), -1)
            else:
                c = tuple(int(v) for v in r.integers(0, size, 2))
                cv2.circle(img, c, int(r.integers(size // 20, size // 5)), col.tolist(), -1)
        img = cv2.GaussianBlur(img, (0, 0), r.uniform(0.5, 3.0))
    else:
        img = np.zeros((size, size, 3), np.float32)
        for octave in range(5):
            n = r.random((4 << octave, 4 << octave, 3)).astype(np.float32)
            img += cv2.resize(n, (size, size), interpolation=cv2.INTER_CUBIC) * (0.5 ** octave)
        img = (img - img.min()) / (np.ptp(img) + 1e-6)
        img = cv2.GaussianBlur(img, (0, 0), r.uniform(1, 6))
        img = img * r.uniform(0.4, 1.0) + r.uniform(0, 0.3)
    return np.clip(img * 255, 0, 255).astype(np.uint8)


# -------------------------------------------------------------------------------------------------
# the set on disk: shards


#: a set is OUT/manifest.json and OUT/shards/shard_NNNNN/ (each written whole, see addon/synth_worker.py)
SHARD_DIR = "shards"


def shard_path(out: Path, k: int) -> Path:
    return Path(out) / SHARD_DIR / f"shard_{k:05d}"


def partial_path(out: Path, k: int) -> Path:
    return Path(out) / SHARD_DIR / f".shard_{k:05d}.partial"


def albedo_name(index: int) -> str:
    """The file of sample ``index``'s skin colour without light in its shard (``SynthConfig.albedo``)."""
    return f"albedo_{index:08d}.png"


def shading_name(index: int) -> str:
    """The file of the light on sample ``index``'s skin in its shard (``SynthConfig.shading``)."""
    return f"shading_{index:08d}.exr"


def shard_ok(out: Path, cfg, k: int) -> bool:
    """A shard is done when its meta lists the right samples and every file of it is there and readable."""
    d = shard_path(out, k)
    try:
        meta = json.loads((d / "meta.json").read_text())
        want = list(cfg.shard_indices(k))
        if meta.get("indices") != want:
            return False
        ext = cfg.image_format
        if not all((d / f"{i:08d}.{ext}").stat().st_size > 0 for i in want):
            return False
        if cfg.albedo and not all((d / albedo_name(i)).stat().st_size > 0 for i in want):
            return False
        if cfg.shading and not all((d / shading_name(i)).stat().st_size > 0 for i in want):
            return False
        with np.load(d / "labels.npz") as z:
            return list(z["index"]) == want and z["lm68"].shape == (len(want), 68, 2)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # missing, cut short, damaged
        return False


def contact_grid(paths, cols: int = 8, cell: int = 128) -> np.ndarray:
    """A grid of the images at ``paths`` (row by row, each resized to ``cell`` pixels square): ``(rows * cell,
    cols * cell, 3)`` uint8 BGR, as OpenCV reads and writes. Images that cannot be read stay black."""
    paths = list(paths)
    cols = max(1, min(cols, len(paths)))
    rows = (len(paths) + cols - 1) // cols
    sheet = np.zeros((rows * cell, cols * cell, 3), np.uint8)
    for j, p in enumerate(paths):
        im = cv2.imread(str(p))
        if im is not None:
            r, c = divmod(j, cols)
            sheet[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] = cv2.resize(im, (cell, cell),
                                                                              interpolation=cv2.INTER_AREA)
    return sheet

