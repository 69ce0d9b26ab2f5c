"""A procedural eyelash texture for ICT-FaceKit's lash cards (RGBA, alpha = strands).

ICT lays out each eye's six lash cards as horizontal bands of the UV square: u runs along the lid
(right eye 0.012-0.49, left eye 0.51-0.988), each band is 0.14 high in v with the root at the band's top.
The three upper bands (v > 0.5) carry the upper lashes, the three lower bands the shorter, sparser lower
lashes. Strands are tapered, slightly curved lines, deterministic for a seed.
"""

from __future__ import annotations

import cv2
import numpy as np

BANDS = [(0.848, 0.988), (0.682, 0.822), (0.516, 0.656), (0.346, 0.486), (0.18, 0.32), (0.014, 0.154)]
EYES = [(0.012, 0.49), (0.51, 0.988)]
LASH_COLOUR = (28, 20, 16)  # sRGB


def eyelash_texture(size: int = 512, seed: int = 0) -> np.ndarray:
    """``(size, size, 4)`` uint8 RGBA (sRGB colour, straight alpha), rows top to bottom (v = 1 at row 0)."""
    rng = np.random.default_rng(seed)
    alpha = np.zeros((size, size), np.float32)
    sh = 4
    for bi, (v0, v1) in enumerate(BANDS):
        upper = bi < 3
        n = 90 if upper else 40
        length = (0.85 if upper else 0.55) * (v1 - v0)
        for u0, u1 in EYES:
            for _ in range(n):
                u = rng.uniform(u0 + 0.01, u1 - 0.01)
                ln = length * rng.uniform(0.6, 1.0)
                bend = rng.normal(0.0, 0.01)
                t = np.linspace(0.0, 1.0, 8)
                us = u + bend * t ** 2
                vs = v1 - 0.005 - ln * t
                pts = np.stack([us * size, (1.0 - vs) * size], 1)
                layer = np.zeros_like(alpha)
                for k in range(len(t) - 1):
                    w = max(1, int(round(size / 256 * (1.6 - 1.2 * t[k]))))
                    a, b = (np.round(pts[k] * (1 << sh)).astype(np.int32), np.round(pts[k + 1] * (1 << sh)).astype(np.int32))
                    cv2.line(layer, tuple(a), tuple(b), float(0.95 - 0.6 * t[k]), w, cv2.LINE_AA, shift=sh)
                alpha = np.maximum(alpha, layer)
    out = np.zeros((size, size, 4), np.uint8)
    out[..., :3] = LASH_COLOUR
    out[..., 3] = np.clip(alpha * 255, 0, 255).astype(np.uint8)
    return out
