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
