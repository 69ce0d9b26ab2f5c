"""A picture to check a fit: the photo with the projected mesh and the landmarks drawn on it, and what the
texture left out (hair, beard, glasses) tinted."""

from __future__ import annotations

import cv2
import numpy as np

from .camera import Camera
from .facemodel import FACE_END, FaceModel


def draw_overlay(image: np.ndarray, model: FaceModel, vertices: np.ndarray, camera: Camera,
                 detected68: np.ndarray | None = None, projected68: np.ndarray | None = None,
                 max_side: int = 1600, covered: np.ndarray | None = None) -> np.ndarray:
    """Return ``(H, W, 3)`` uint8 sRGB: the photo, the face-region wireframe of the fitted mesh (front
    facing edges, grey), detected iBUG-68 landmarks (green) and the model's 68 landmarks (red) with a line
    from each detected point to its model point. ``covered``: ``(H, W)`` bool, pixels the texture did not
    take because something covers the skin (tinted magenta)."""
    h, w = image.shape[:2]
    s = min(1.0, max_side / max(h, w))
    img = image if s == 1.0 else cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    img = img.astype(np.float32) * 0.85
    if covered is not None:
        img = tint_covered(img, cv2.resize(covered.astype(np.uint8), (img.shape[1], img.shape[0]),
                                           interpolation=cv2.INTER_NEAREST) > 0)
    img = img.astype(np.uint8)
    uv = camera.project(vertices) * s
    Y = camera.to_camera(vertices)
    tris = model.triangles
    face = (tris < FACE_END).all(1)
    t = tris[face]
    a, b, c = Y[t[:, 0]], Y[t[:, 1]], Y[t[:, 2]]
    front = (np.cross(b - a, c - a) * -(a + b + c)).sum(1) > 0
    t = t[front]
    edges = np.unique(np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]]]), 1), axis=0)
    sh = 4
    lines = np.round(uv[edges] * (1 << sh)).astype(np.int32)
    layer = img.copy()
    cv2.polylines(layer, list(lines), False, (235, 235, 235), 1, cv2.LINE_AA, shift=sh)
    img = cv2.addWeighted(layer, 0.35, img, 0.65, 0)
    r = max(2, round(max(img.shape[:2]) / 300))
    if detected68 is not None and projected68 is not None:
        for p, q in zip(detected68 * s, projected68 * s):
            cv2.line(img, tuple(np.round(p * 16).astype(int)), tuple(np.round(q * 16).astype(int)),
                     (255, 230, 0), 1, cv2.LINE_AA, shift=4)
    if detected68 is not None:
        for p in detected68 * s:
            cv2.circle(img, tuple(np.round(p * 16).astype(int)), r * 16, (40, 220, 40), -1, cv2.LINE_AA, shift=4)
    if projected68 is not None:
        for p in projected68 * s:
            cv2.circle(img, tuple(np.round(p * 16).astype(int)), max(1, r - 1) * 16, (230, 40, 40), -1,
                       cv2.LINE_AA, shift=4)
    return img


def tint_covered(img: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """``img`` ``(H, W, 3)`` (sRGB, 0-255) as float32 with the ``covered`` ``(H, W)`` bool pixels tinted magenta:
    what the texture left out."""
    out = img.astype(np.float32)
    out[covered] = out[covered] * 0.55 + np.array([255.0, 0.0, 200.0], np.float32) * 0.45
    return out
