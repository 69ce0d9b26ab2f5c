"""Expression shape keys, bone layout and skin weights for a fitted head. Pure numpy, model space (cm).

* The rig's rest shape is the person's **neutral**: the fitted vertices minus the fitted expression
  (expressions are linear deltas, so this is exact); the corrective field and identity stay.
* Shape keys are ICT's 53 expression deltas added to that neutral. :func:`arkit52` merges them into
  Apple's 52 ARKit blendshapes (``browInnerUp`` and ``cheekPuff`` from L + R, ``_L`` -> ``Left``).
  ICT has no tongue shape, so ``tongueOut`` is an empty key kept for the name contract.
* Bones: ``root``, ``neck``, ``head``, ``jaw``, ``eye.L``, ``eye.R``. The jaw pivot is the centre of
  the rotation that ICT's ``jawOpen`` applies to the lower teeth (least squares), so the jaw bone and the
  blendshape agree.
* Weights: ``jaw`` = how much of a rigid jaw rotation each vertex follows under ``jawOpen`` (1 for the
  lower teeth and chin, fading over the cheeks); ``eye.L``/``eye.R`` = the eyeball, lacrimal fluid and
  eye occlusion of that side; ``neck`` = the lower neck, fading up to the head; ``head`` = the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .facemodel import LANDMARKS_68, N_IDENTITY, REGIONS, SKIN_END, FaceModel

BONES = ("root", "neck", "head", "jaw", "eye.L", "eye.R")

#: Rotation limits in degrees, per bone and local axis (min, max) for X, Y, Z; what each rotation does:
#:
#: * ``jaw`` (pivot below the ear, tail at the chin): +X opens the mouth; Y twists; +Z swings the chin to the
#:   person's right.
#:   It does not close past the rest pose (a negative X would push the lower lip into the nose).
#: * ``eye.L``/``eye.R`` (tail straight ahead along the gaze): +X looks up; +Z looks to the person's left (the
#:   viewer's right); Y would roll the eyeball and is locked.
#: * ``head`` and ``neck`` (tails pointing up): +X tilts the face down (a nod); Y turns it, +Y to the person's
#:   left; Z tilts it to the shoulder, +Z towards the person's right shoulder.
BONE_LIMITS_DEG = {
    "jaw": ((-1.0, 30.0), (-5.0, 5.0), (-8.0, 8.0)),
    "eye.L": ((-25.0, 30.0), (0.0, 0.0), (-40.0, 40.0)),
    "eye.R": ((-25.0, 30.0), (0.0, 0.0), (-40.0, 40.0)),
    "head": ((-30.0, 30.0), (-45.0, 45.0), (-25.0, 25.0)),
    "neck": ((-30.0, 30.0), (-45.0, 45.0), (-25.0, 25.0)),
}

#: LODs: the head's parts, each collapsed apart to its own share of a LOD's vertices (its share of the full head's
#: vertices times the weight here, :func:`lod_budgets`). Blender's collapse, left to itself, gave the inside of the
#: mouth (small, curved, in 33 pieces) more of LOD1 than the skin, which carries the silhouette and the texture.
LOD_PARTS: dict[str, tuple[tuple[str, ...], float]] = {
    "skin": (("face", "head_neck", "eye_socket_L", "eye_socket_R"), 1.3),
    "mouth socket": (("mouth_socket",), 0.5),
    "eyes": (("eyeball_L", "eyeball_R", "lacrimal_L", "lacrimal_R", "eye_blend_L", "eye_blend_R",
              "eye_occlusion_L", "eye_occlusion_R"), 0.9),
    "lashes": (("eyelashes_L", "eyelashes_R"), 1.5),
    "teeth": (("teeth",), 0.6),
    "gums and tongue": (("gums_tongue",), 0.25),
}


def lod_budgets(target_vertices: int) -> dict[str, tuple[np.ndarray, int]]:
    """``{part: (its vertex indices on the full head, its share of a LOD of about target_vertices)}`` for the
    parts of :data:`LOD_PARTS`, which together hold every vertex of the face model once."""
    members = {name: np.concatenate([np.arange(REGIONS[r][0], REGIONS[r][1] + 1) for r in regions])
               for name, (regions, _) in LOD_PARTS.items()}
    weighted = {name: len(members[name]) * LOD_PARTS[name][1] for name in LOD_PARTS}
    total = sum(weighted.values())
    return {name: (members[name], min(len(members[name]), round(target_vertices * weighted[name] / total)))
            for name in LOD_PARTS}


#: ARKit 52 blendshape names in Apple's order
ARKIT_52 = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
    "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight", "jawForward", "jawLeft", "jawRight", "jawOpen", "mouthClose",
    "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight", "mouthSmileLeft", "mouthSmileRight",
    "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)


def arkit_name(ict_name: str) -> str:
    """ICT name -> ARKit name (``eyeBlink_L`` -> ``eyeBlinkLeft``; merged pairs lose the side)."""
    if ict_name.endswith("_L"):
        return ict_name[:-2] + "Left"
    if ict_name.endswith("_R"):
        return ict_name[:-2] + "Right"
    return ict_name


def neutral_vertices(model: FaceModel, fitted: np.ndarray, expression: np.ndarray) -> np.ndarray:
    """The person's neutral shape: fitted vertices ``(N, 3)`` cm minus the fitted expression (53,)."""
    e = np.asarray(expression, np.float32)
    return (np.asarray(fitted, np.float32).reshape(-1) - e @ model.basis[N_IDENTITY:]).reshape(-1, 3)


def ict_shape_keys(model: FaceModel) -> dict[str, np.ndarray]:
    """ICT's 53 expression deltas ``{name: (N, 3) cm}`` in model order."""
    return {n: model.expression_basis[k] for k, n in enumerate(model.expression_names)}


def arkit52_sources(model: FaceModel) -> dict[str, list[str]]:
    """``{ARKit name: [ICT names]}``: one ICT shape each, two for the merged ``browInnerUp`` and
    ``cheekPuff``, none for ``tongueOut``."""
    src: dict[str, list[str]] = {n: [] for n in ARKIT_52}
    for ict in model.expression_names:
        a = arkit_name(ict)
        if a not in src:  # browInnerUpLeft -> browInnerUp (merged)
            a = a.removesuffix("Left").removesuffix("Right")
        src[a].append(ict)
    return src


def arkit52_weights(model: FaceModel, expression: np.ndarray) -> dict[str, float]:
    """The 52 ARKit weights of ICT's 53 ``expression`` (a merged pair, ``browInnerUp`` and ``cheekPuff``, takes
    the mean of its sides; ``tongueOut`` is 0: ICT has no tongue shape)."""
    index = {n: k for k, n in enumerate(model.expression_names)}
    return {a: float(np.mean([expression[index[n]] for n in names])) if names else 0.0
            for a, names in arkit52_sources(model).items()}


def arkit52(model: FaceModel) -> dict[str, np.ndarray]:
    """The 52 ARKit blendshape deltas ``{ARKit name: (N, 3) cm}`` in Apple's order (merged pairs are
    summed; ``tongueOut`` is zero: ICT has no tongue shape)."""
    ict = ict_shape_keys(model)
    zero = np.zeros_like(ict["jawOpen"])
    return {a: sum((ict[n] for n in names), zero) for a, names in arkit52_sources(model).items()}


@dataclass(frozen=True)
class Bone:
    name: str
    head: np.ndarray   #: (3,) cm, model space
    tail: np.ndarray   #: (3,) cm
    parent: str | None


def _range(name: str) -> np.ndarray:
    a, b = REGIONS[name]
    return np.arange(a, b + 1)


def jaw_pivot(model: FaceModel) -> tuple[np.ndarray, float]:
    """Centre (y, z in cm; x = 0) and angle (radians) of the rotation about the model's x axis that
    ``jawOpen`` applies to the lower teeth, by linear least squares on the small-rotation model
    ``d_y = -t (z - c_z)``, ``d_z = t (y - c_y)``."""
    d = model.expression_basis[model.expression_index("jawOpen")]
    teeth = _range("teeth")
    mag = np.linalg.norm(d[teeth], axis=1)
    lower = teeth[mag > 0.5 * mag.max()]
    p, dd = model.neutral[lower].astype(np.float64), d[lower].astype(np.float64)
    n = len(lower)
    A = np.zeros((2 * n, 3))
    b = np.zeros(2 * n)
    A[:n, 0], A[:n, 1], b[:n] = -p[:, 2], 1.0, dd[:, 1]       # d_y = -t z + (t c_z)
    A[n:, 0], A[n:, 2], b[n:] = p[:, 1], -1.0, dd[:, 2]       # d_z = t y - (t c_y)
    t, tcz, tcy = np.linalg.lstsq(A, b, rcond=None)[0]
    return np.array([0.0, tcy / t, tcz / t]), float(t)


def bone_layout(model: FaceModel, neutral: np.ndarray) -> list[Bone]:
    """Bones for this person's neutral shape (model cm). The jaw pivot and eye centres move with the
    identity: they are carried from the ICT neutral by the displacement of nearby vertices."""
    v = np.asarray(neutral, np.float64)
    base = model.neutral.astype(np.float64)
    pivot0, _ = jaw_pivot(model)
    # carry the pivot by the mean displacement of the skin around it
    near = np.argsort(np.linalg.norm(base[:SKIN_END] - pivot0, axis=1))[:50]
    pivot = pivot0 + (v[near] - base[near]).mean(0)
    pivot[0] = 0.0
    chin = v[LANDMARKS_68[8]]
    head_top = v[:SKIN_END][np.argmax(v[:SKIN_END, 1])]
    skin = v[:SKIN_END]
    neck_base = np.array([0.0, skin[:, 1].min(), skin[skin[:, 1] < skin[:, 1].min() + 2, 2].mean()])
    head_joint = np.array([0.0, pivot[1], pivot[2] - 2.0])  # occipital joint: behind the jaw pivot
    bones = [
        Bone("root", neck_base - np.array([0, 2.0, 0]), neck_base, None),
        Bone("neck", neck_base, head_joint, "root"),
        Bone("head", head_joint, np.array([0.0, head_top[1], head_joint[2]]), "neck"),
        Bone("jaw", pivot, chin, "head"),
    ]
    for side, rng in (("L", "eyeball_L"), ("R", "eyeball_R")):
        c = v[_range(rng)].mean(0)
        bones.append(Bone(f"eye.{side}", c, c + np.array([0.0, 0.0, 2.0]), "head"))
    return bones


def skin_weights(model: FaceModel, neutral: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-bone weights ``{bone: (N,) float32}`` summing to 1 per vertex (root gets none)."""
    n = model.n_vertices
    base = model.neutral.astype(np.float64)
    d = model.expression_basis[model.expression_index("jawOpen")].astype(np.float64)
    pivot, t = jaw_pivot(model)
    rel = base - pivot
    rigid = np.stack([np.zeros(n), -t * rel[:, 2], t * rel[:, 1]], 1)   # full-jaw displacement
    rig_mag = np.linalg.norm(rigid, axis=1)
    follow = np.where(rig_mag > 0.05, (d * rigid).sum(1) / np.maximum(rig_mag ** 2, 1e-9), 0.0)
    jaw = np.clip(follow, 0.0, 1.0)
    teeth = _range("teeth")
    lower = teeth[np.linalg.norm(d[teeth], axis=1) > 0.5 * np.linalg.norm(d[teeth], axis=1).max()]
    jaw[teeth] = 0.0
    jaw[lower] = 1.0
    eyes = {}
    for side in ("L", "R"):
        idx = np.concatenate([_range(f"eyeball_{side}"), _range(f"lacrimal_{side}"), _range(f"eye_occlusion_{side}")])
        w = np.zeros(n)
        w[idx] = 1.0
        jaw[idx] = 0.0
        eyes[f"eye.{side}"] = w
    # neck: the lower neck, fading out over 4 cm up to the level of the jaw's lowest point
    y = base[:, 1]
    chin_y = base[LANDMARKS_68[8], 1]
    lo, hi = chin_y - 8.0, chin_y - 3.0
    s = np.clip((hi - y) / (hi - lo), 0.0, 1.0)
    s = s * s * (3 - 2 * s)
    neck = s * (1.0 - jaw)
    neck[_range("eyeball_L")[0]:] = 0.0  # eyes, lashes... never on the neck
    eye_sum = eyes["eye.L"] + eyes["eye.R"]
    head = np.clip(1.0 - jaw - neck - eye_sum, 0.0, 1.0)
    out = {"neck": neck, "head": head, "jaw": jaw, **eyes}
    total = sum(out.values())
    return {k: (w / total).astype(np.float32) for k, w in out.items()}
