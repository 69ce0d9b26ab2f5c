"""Read a synthetic set made by ``python -m headforge synth`` back for training.

:class:`SynthSet` needs only numpy and OpenCV: ``len(ds)``, ``ds[i]`` -> a dict with ``image``
``(H, W, 3)`` uint8 sRGB and the labels of that sample (see ``headforge.core.synth``); shards' label
files are loaded lazily and cached.
Only shards that are complete are read, so a set can be used while it is still being rendered.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ..core.errors import HeadforgeError
from ..core.landmarks import detect_landmarks
from ..core.synth import SynthConfig, shard_ok, shard_path

#: MediaPipe's detections on a shard's renders, cached beside them by :func:`prepare`
DETECT_FILE = "mp_detect.npz"
#: the cached detections are MediaPipe's single pass, as the shipped networks learned from them (photos are
#: also searched mirrored at inference, ``core.landmarks.MIRROR_AVERAGE``)
DETECT_MIRROR_AVERAGE = False


class SynthSet:
    def __init__(self, root, limit: int | None = None, skip: int = 0):
        """``limit``: use only the first ``limit`` samples of the set (rounded up to whole shards), so a
        set still being rendered, or a bigger one, gives the same training data as a ``--count limit``
        set (samples are a pure function of seed and index). ``skip``: leave out the first ``skip`` of those
        (rounded down to whole shards; they train something else, e.g. the identity ridge)."""
        self.root = Path(root)
        m = self.root / "manifest.json"
        if not m.exists():
            raise FileNotFoundError(f"{str(self.root)!r} is not a Headforge synthetic set (no manifest.json).")
        self.manifest = json.loads(m.read_text())
        self.config = SynthConfig.from_dict(self.manifest["config"])
        n_shards = self.config.n_shards
        if limit:
            n_shards = min(n_shards, -(-int(limit) // self.config.shard_size))
        first = int(skip) // self.config.shard_size
        self.shards = [k for k in range(first, n_shards) if shard_ok(self.root, self.config, k)]
        self.items = [(k, j, i) for k in self.shards for j, i in enumerate(self.config.shard_indices(k))]

    def __len__(self) -> int:
        return len(self.items)

    @lru_cache(maxsize=8)
    def _labels(self, k: int) -> dict:
        with np.load(shard_path(self.root, k) / "labels.npz") as z:
            return {key: z[key] for key in z.files}

    def image(self, n: int) -> np.ndarray:
        """Only the render ``n``: ``(H, W, 3)`` uint8 sRGB."""
        k, _, i = self.items[n]
        img = cv2.imread(str(shard_path(self.root, k) / f"{i:08d}.{self.config.image_format}"), cv2.IMREAD_COLOR)
        return img[:, :, ::-1].copy()

    def labels(self, keys) -> dict:
        """The labels ``keys`` of every sample, stacked: ``{key: (len(self), ...)}`` (reads each shard once;
        for the small per-sample labels, not the maps)."""
        out = {key: [] for key in keys}
        for k in self.shards:
            with np.load(shard_path(self.root, k) / "labels.npz") as z:
                for key in keys:
                    out[key].append(z[key])
        return {key: np.concatenate(v) for key, v in out.items()}

    def __getitem__(self, n: int) -> dict:
        k, j, i = self.items[n]
        lab = self._labels(k)
        out = {key: v[j] for key, v in lab.items()}
        out["image"] = self.image(n)
        out["depth"] = out["depth"].astype(np.float32)
        out["normal"] = out["normal"].astype(np.float32) / 127.0
        if self.config.details:
            out["detail_uv"] = np.load(shard_path(self.root, k) / f"detail_{i:08d}.npy").astype(np.float32)
            out["disp_image"] = out["disp_image"].astype(np.float32)
        return out


def detect_all(ds: SynthSet) -> None:
    """Detect MediaPipe landmarks on every render of ``ds`` (cached per shard)."""
    for k in ds.shards:
        f = shard_path(ds.root, k) / DETECT_FILE
        if f.exists():
            continue
        idx = [n for n, it in enumerate(ds.items) if it[0] == k]
        pts = np.zeros((len(idx), 478, 2), np.float32)
        ok = np.zeros(len(idx), bool)
        for j, n in enumerate(idx):
            try:
                lm = detect_landmarks(ds.image(n), mirror_average=DETECT_MIRROR_AVERAGE)
            except HeadforgeError:
                continue
            pts[j], ok[j] = lm.points, True
        tmp = f.with_suffix(".tmp.npz")
        np.savez(tmp, points=pts, found=ok)
        tmp.replace(f)


def detections(ds: SynthSet) -> tuple[np.ndarray, np.ndarray]:
    """The cached detections of :func:`detect_all`: points ``(len(ds), 478, 2)`` and whether a face was found."""
    pts, ok = [], []
    for k in ds.shards:
        with np.load(shard_path(ds.root, k) / DETECT_FILE) as z:
            pts.append(z["points"])
            ok.append(z["found"])
    if not pts:  # no shards (all skipped)
        return np.zeros((0, 478, 2), np.float32), np.zeros(0, bool)
    return np.concatenate(pts), np.concatenate(ok)
