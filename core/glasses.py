"""Glasses for synthetic people (training set v2): random frames and lenses fitted to a head. Pure numpy.

:func:`sample_glasses` draws whether a person wears glasses (a quarter do) and how they look: thin metal or
thick plastic frames, round to rectangular rims, clear, tinted or sun lenses. :func:`glasses_geometry` fits
them to the head: each rim a closed curve around its eye in a plane in front of the eyes, a bridge over the
nose, and temple arms back over the ears. Units: model cm.
"""

from __future__ import annotations

import numpy as np

from .facemodel import LANDMARKS_68

P_GLASSES = 0.25
RIM_POINTS = 32       #: points of one rim (the first repeated at the end to close it)
ARM_POINTS = 6        #: points of the bridge and of each temple arm
LENS_GAP_CM = 1.5     #: the lens plane's distance in front of the eye corners


def sample_glasses(r: np.random.Generator) -> dict | None:
    """One person's glasses, or None (three quarters of people)."""
    if r.random() >= P_GLASSES:
        return None
    thick = r.random() < 0.45
    sun = r.random() < 0.2
    return {
        "thick": bool(thick),
        "rim_radius_cm": float(r.uniform(0.1, 0.2) if thick else r.uniform(0.04, 0.07)),
        "squareness": float(r.uniform(0.0, 1.0)),        # 0 round .. 1 rectangular
        "width_scale": float(r.uniform(0.9, 1.15)),
        "height_scale": float(r.uniform(0.75, 1.05)),
        "frame_srgb": [float(x) for x in (r.uniform(0.0, 0.35, 3) if thick else r.uniform(0.3, 0.8, 3))],
        "metal": bool(not thick),
        "lens_tint_srgb": [float(x) for x in (r.uniform(0.05, 0.4, 3) if sun else r.uniform(0.85, 1.0, 3))],
        "lens_opacity": float(r.uniform(0.6, 0.85) if sun else r.uniform(0.05, 0.2)),
    }


def glasses_geometry(vertices: np.ndarray, glasses: dict) -> dict[str, np.ndarray]:
    """The frame as polylines, ``{"rims": (2, RIM_POINTS + 1, 3), "bridge": (ARM_POINTS, 3), "arms": (2,
    ARM_POINTS, 3)}`` cm, on the head ``vertices`` ``(N_VERTICES, 3)`` (ICT axes: +x the person's left, +y up,
    +z forward); the lenses fill the rims."""
    lm = vertices[LANDMARKS_68]
    right, left = lm[36:42], lm[42:48]  # the person's right eye is on -x
    eye_width = np.linalg.norm(right[0] - right[3])
    half_w = 0.5 * eye_width * 1.45 * glasses["width_scale"]
    half_h = 0.5 * eye_width * 1.05 * glasses["height_scale"]
    z = max(right[:, 2].max(), left[:, 2].max()) + LENS_GAP_CM
    t = np.linspace(0, 2 * np.pi, RIM_POINTS, endpoint=False)
    n = 2 + 6 * glasses["squareness"]  # superellipse exponent: 2 = ellipse, 8 = nearly a rectangle
    c, s = np.cos(t), np.sin(t)
    ring = np.stack([np.sign(c) * np.abs(c) ** (2 / n) * half_w, np.sign(s) * np.abs(s) ** (2 / n) * half_h,
                     np.zeros_like(t)], 1)
    rims = []
    for eye, side in ((right, -1.0), (left, 1.0)):
        middle = eye.mean(0)
        centre = np.array([middle[0] + side * 0.15 * eye_width, middle[1] + 0.1 * eye_width, z])
        # the rims follow the face's curve a little: their outer sides sit further back
        rim = centre + ring
        rim[:, 2] -= 0.25 * np.clip(side * ring[:, 0] / half_w, 0, None) ** 2 * half_w
        rims.append(np.vstack([rim, rim[:1]]))
    rims = np.stack(rims)
    # the bridge joins the rims' inner upper corners (towards the nose: +x on the right rim, -x on the left)
    inner_top = [rims[k][np.argmax(rims[k][:-1, 1] + inward * 0.5 * rims[k][:-1, 0])]
                 for k, inward in ((0, 1.0), (1, -1.0))]
    bridge = _arc(inner_top[0], inner_top[1], lift=np.array([0.0, 0.15 * eye_width, 0.2]))
    arms = []
    for k, side in ((0, -1.0), (1, 1.0)):
        outer = rims[k][np.argmax(side * rims[k][:-1, 0])]
        ear = np.array([side * (np.abs(vertices[LANDMARKS_68[[0, 16]], 0]).max() + 0.6), outer[1] + 0.3,
                        lm[[0, 16], 2].mean() - 3.0])
        arms.append(_arc(outer, ear, lift=np.array([side * 0.4, 0.0, 0.0])))
    return {"rims": rims, "bridge": bridge, "arms": np.stack(arms)}


def _arc(a: np.ndarray, b: np.ndarray, lift: np.ndarray) -> np.ndarray:
    """``ARM_POINTS`` points from ``a`` to ``b`` bowed by ``lift`` at the middle."""
    t = np.linspace(0, 1, ARM_POINTS)[:, None]
    return a + (b - a) * t + lift * np.sin(np.pi * t)
