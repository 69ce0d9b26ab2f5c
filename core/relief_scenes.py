"""Known reliefs, albedos and a light for checking :func:`core.relief.shading_relief` on real photos' fitted
heads (``core.relief.draw_relief`` draws them): the tests and ``bench/relief_bench.py``. All on the face tile's
``(T, T)`` texel grid; ``cm_per_texel`` is the skin's length of one texel there. Deterministic per ``seed``."""

from __future__ import annotations

import cv2
import numpy as np

from .image import srgb_to_linear
from .texture import Light

SKIN_SRGB = (0.78, 0.6, 0.5)     #: the albedo's skin
FRECKLE_SRGB = (0.45, 0.28, 0.18)


def key_light() -> Light:
    """A Lambertian-like light from the camera's upper left (camera space: x right, y down, z forward)."""
    d = np.array([-0.6, -0.5, -1.0], np.float32)
    d /= np.linalg.norm(d)
    coef = np.zeros((9, 3), np.float32)
    coef[0] = 0.45
    coef[[3, 1, 2]] = 0.5 * d[:, None]
    return Light(coef=coef, level=np.full(3, 0.45, np.float32), hue_coef=np.zeros((9, 2), np.float32),
                 hue_level=np.zeros(2, np.float32))


def bumps(tile: int, cm_per_texel: float, seed: int = 0, rms_cm: float = 0.03) -> np.ndarray:
    """(T, T) float32 cm: smooth random relief about 2.5 mm across."""
    noise = np.random.default_rng(seed).standard_normal((tile, tile)).astype(np.float32)
    return _scaled(cv2.GaussianBlur(noise, (0, 0), 0.25 / cm_per_texel), rms_cm)


def wrinkles(tile: int, cm_per_texel: float, seed: int = 0, rms_cm: float = 0.03) -> np.ndarray:
    """(T, T) float32 cm: 60 straight furrows 0.8-3 cm long and about 1.5 mm wide, in every direction."""
    rng = np.random.default_rng(seed)
    h = np.zeros((tile, tile), np.float32)
    for _ in range(60):
        y, x = rng.uniform(0, tile, 2)
        angle, half = rng.uniform(0, np.pi), rng.uniform(0.4, 1.5) / cm_per_texel
        dx, dy = np.cos(angle) * half, np.sin(angle) * half
        cv2.line(h, (int(x - dx), int(y - dy)), (int(x + dx), int(y + dy)), -1.0, 1, cv2.LINE_AA)
    return _scaled(cv2.GaussianBlur(h, (0, 0), 0.15 / cm_per_texel), rms_cm)


def skin(tile: int) -> np.ndarray:
    """(T, T, 3) float32 linear RGB: one skin colour."""
    return np.broadcast_to(srgb_to_linear(np.array(SKIN_SRGB, np.float32)), (tile, tile, 3)).copy()


def freckled(tile: int, cm_per_texel: float, seed: int = 1) -> np.ndarray:
    """(T, T, 3) float32 linear RGB: the skin with 400 brown spots 1-4 mm across, 30-70 % strong."""
    rng = np.random.default_rng(seed)
    spots = np.zeros((tile, tile), np.float32)
    for _ in range(400):
        y, x = rng.integers(0, tile, 2)
        cv2.circle(spots, (int(x), int(y)), max(1, int(rng.uniform(0.05, 0.2) / cm_per_texel)),
                   float(rng.uniform(0.3, 0.7)), -1)
    spots = cv2.GaussianBlur(spots, (0, 0), 1.0)[..., None]
    return skin(tile) * (1 - spots) + srgb_to_linear(np.array(FRECKLE_SRGB, np.float32)) * spots


def _scaled(h: np.ndarray, rms_cm: float) -> np.ndarray:
    return (h / max(float(h.std()), 1e-12) * rms_cm).astype(np.float32)
