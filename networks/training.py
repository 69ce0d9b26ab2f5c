"""What CoarseNet's and FineNet's trainings share: photo-like augmentation, the torch thread count of one run,
and checkpoints written atomically."""

from __future__ import annotations

import contextlib
from pathlib import Path

import cv2
import numpy as np
import torch

from ..core.errors import HeadforgeError


def augment_image(img: np.ndarray, rng: np.random.Generator, occluders: bool = True) -> np.ndarray:
    """Colour, blur, noise, JPEG and (optionally) occluders: what separates renders from phone photos.
    ``img``: ``(H, W, 3)`` uint8; returns the same shape and dtype."""
    f = img.astype(np.float32)
    f = (f - 128) * rng.uniform(0.7, 1.3) + 128 + rng.uniform(-30, 30)      # contrast, brightness
    gray = f.mean(2, keepdims=True)
    f = gray + (f - gray) * rng.uniform(0.6, 1.4)                           # saturation
    f *= rng.uniform(0.85, 1.15, 3)                                          # white balance
    if rng.random() < 0.4:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.3, 1.5))
    if rng.random() < 0.5:
        f += rng.normal(0, rng.uniform(1, 8), f.shape)
    f = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        f = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if occluders and rng.random() < 0.3:  # occluder: a hand, hair, glasses-like bar
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        x0, y0 = rng.integers(0, f.shape[1], 2)
        if rng.random() < 0.5:
            cv2.rectangle(f, (int(x0), int(y0)), (int(x0 + rng.integers(10, 50)), int(y0 + rng.integers(5, 30))), c, -1)
        else:
            cv2.ellipse(f, (int(x0), int(y0)), (int(rng.integers(8, 30)), int(rng.integers(8, 30))),
                        float(rng.uniform(0, 180)), 0, 360, c, -1)
    return f


@contextlib.contextmanager
def torch_threads(n: int):
    """Within the block torch uses ``n`` threads (0: leave torch's setting); the caller's count is restored
    afterwards."""
    if n < 0:
        raise HeadforgeError(f"threads must be 0 (torch's default) or more, not {n}.")
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def save_checkpoint(path, **content) -> Path:
    """``torch.save(content)`` to ``path`` atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    torch.save(content, tmp)
    tmp.replace(path)
    return path
