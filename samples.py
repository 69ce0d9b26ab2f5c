"""The public-domain sample photos of ``make demo``, the tests and the benchmarks: scikit-image's astronaut
(Eileen Collins, NASA) and matplotlib's grace_hopper.jpg. Both ship inside those packages (installed by
``make install``, not needed by the product); nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def grace_hopper_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def write_png(rgb: np.ndarray, path: Path) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


def still_clip(rgb: np.ndarray, frames: int, fps: float = 30.0, noise: float = 3.0, jpeg_quality: int = 70,
               seed: int = 1):
    """A still photo as the frames of a clip, as a camera films a face that does not move: ``(index, time in s,
    frame)`` with fresh Gaussian sensor noise (``noise`` levels) and JPEG compression in every frame, for
    measuring a tracker's jitter."""
    import cv2

    rng = np.random.default_rng(seed)
    for k in range(frames):
        noisy = np.clip(rgb + rng.normal(0, noise, rgb.shape), 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        yield k, k / fps, cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
