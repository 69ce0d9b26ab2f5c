"""Train LandmarkNet (``networks/landmarknet.py``) on synthetic sets; evaluate on a held-out set; export
``core/weights/landmarknet.onnx``.

``python -m headforge.networks.train_landmarks --train DATA [--train DATA2] --heldout HELDOUT --out core/weights/landmarknet.onnx``

Every render where MediaPipe found the face (its detections cached beside the shards) gives a crop aligned as at
inference (``core.regress.crop_face``), jittered (scale, rotation, shift) and made photo-like
(``training.augment_image``), and the truth: the projection of each fixed correspondence's ICT surface point on the
render's true mesh with its true camera. Loss: the Gaussian negative log-likelihood of the offset from MediaPipe's
point (isotropic, per point), so the network says how far to trust each point. Resumable from ``--checkpoint``.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import torch

from ..core.camera import Camera, euler_degrees
from ..core.correspondence import load_correspondence
from ..core.errors import HeadforgeError
from ..core.facemodel import load_face_model
from ..core.fit import annotated_landmarks_68
from ..core.modellandmarks import N_CONTOUR, LandmarkNetOnnx, anchor_points, true_targets
from ..core.regress import COARSE_CROP, align, landmark_input
from .dataset import SynthSet, detect_all, detections
from .landmarknet import LandmarkNet
from .training import augment_image, export_and_evaluate, per_set, run_info, run_steps, sample_loader, step_main

HALF = COARSE_CROP / 2
#: a point counts as seen in the evaluation when its surface faces the camera at least this squarely
SEEN_COS = 0.3
#: yaw bands of the evaluation table, degrees
YAW_BANDS = ((0, 15), (15, 30), (30, 45), (45, 60), (60, 91))


class LandmarkSamples(torch.utils.data.Dataset):
    """Renders in memory with MediaPipe's points, the true image positions of the K model points and of the 17
    jawline points (the outline nearest each ICT jaw landmark), how squarely each model point faces the camera,
    and the head's yaw. ``ds[n]`` -> ``(image (3, S, S), landmarks (956,), offsets (K + 17, 2))`` float32
    tensors, the offsets from :func:`~headforge.core.modellandmarks.anchor_points`."""

    def __init__(self, sets: list[SynthSet], augment: bool, seed: int = 0):
        self.augment, self.rng = augment, np.random.default_rng(seed)
        model = load_face_model()
        self.corr = load_correspondence(model)
        self.images, self.points, self.targets, self.facing, self.yaw = [], [], [], [], []
        for ds in sets:
            detect_all(ds)
            pts, ok = detections(ds)
            lab = ds.labels(["identity", "expression", "K", "R", "t"])
            for n in np.flatnonzero(ok):
                verts = model.vertices(lab["identity"][n], lab["expression"][n]).astype(np.float64)
                R, t, K = lab["R"][n].astype(np.float64), lab["t"][n].astype(np.float64), lab["K"][n].astype(np.float64)
                uv, cos = true_targets(self.corr, verts, K, R, t)
                img = ds.image(n)
                cam = Camera(K[0, 0], K[1, 1], K[0, 2], K[1, 2], R, t, img.shape[1], img.shape[0])
                outline = annotated_landmarks_68(model, verts, cam)[:N_CONTOUR]
                self.images.append(img)
                self.points.append(pts[n].astype(np.float64))
                self.targets.append(np.vstack([uv, outline]))
                self.facing.append(cos)
                self.yaw.append(euler_degrees(R)["yaw"])

    def __len__(self):
        return len(self.images)

    def _transform(self, n: int) -> np.ndarray:
        M = align(self.points[n])
        if not self.augment:
            return M
        r = self.rng
        J = cv2.getRotationMatrix2D((HALF, HALF), float(r.uniform(-8, 8)), float(r.uniform(0.92, 1.08)))
        J[:, 2] += r.uniform(-5, 5, 2)
        return (np.vstack([J, [0, 0, 1]]) @ np.vstack([M, [0, 0, 1]]))[:2]

    def sample(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The uint8 crop, MediaPipe's 478 points and the K + 17 true points, both in crop pixels."""
        M = self._transform(n)
        crop = cv2.warpAffine(self.images[n], M, (COARSE_CROP, COARSE_CROP), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        return crop, self.points[n] @ M[:, :2].T + M[:, 2], self.targets[n] @ M[:, :2].T + M[:, 2]

    def __getitem__(self, n):
        crop, pts, tgt = self.sample(n)
        if self.augment:
            crop = augment_image(crop, self.rng)
        img = crop.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0
        off = (tgt - anchor_points(self.corr, pts)) / HALF
        return (torch.from_numpy(np.ascontiguousarray(img)), torch.from_numpy(landmark_input(pts)),
                torch.from_numpy(off.astype(np.float32)))


def nll(out: torch.Tensor, off: torch.Tensor) -> torch.Tensor:
    """Isotropic 2D Gaussian negative log-likelihood of the true offsets, per point, averaged."""
    log_sigma = out[..., 2].clamp(-7.0, 1.0)
    d2 = ((out[..., :2] - off) ** 2).sum(-1)
    return (0.5 * d2 * torch.exp(-2 * log_sigma) + 2 * log_sigma).mean()


def evaluate(net_path, data: LandmarkSamples) -> dict:
    """Mean distance from the truth, % of the eye distance, of the seen model points and of the jawline, per yaw
    band: MediaPipe's points against LandmarkNet's (through the exported ONNX network, as the product runs it);
    and how often the truth lies within the predicted sigma (about 39 % for a calibrated 2D Gaussian)."""
    net = LandmarkNetOnnx(net_path)
    k = len(data.corr.mp_index)
    raw, new, raw_jaw, new_jaw, within, yaw = [], [], [], [], [], []
    for n in range(len(data)):
        xy, sigma = net.predict(data.images[n], data.points[n], data.corr)
        start = anchor_points(data.corr, data.points[n], net.n_contour)
        eye = np.linalg.norm(data.points[n][33] - data.points[n][263]) / 100
        seen = np.concatenate([data.facing[n] > SEEN_COS, np.ones(net.n_contour, bool)])
        truth = data.targets[n][:len(xy)]
        d_raw = np.linalg.norm(start - truth, axis=1) / eye
        d = np.linalg.norm(xy - truth, axis=1) / eye
        raw.append(d_raw[:k][seen[:k]].mean())
        new.append(d[:k][seen[:k]].mean())
        if net.n_contour:
            raw_jaw.append(d_raw[k:].mean())
            new_jaw.append(d[k:].mean())
        within.append(np.mean((d * eye < sigma)[seen]))
        yaw.append(abs(data.yaw[n]))
    raw, new, yaw = np.array(raw), np.array(new), np.array(yaw)
    r = lambda v: round(float(v), 3)  # noqa: E731
    out = {"images": len(data), "mediapipe_mean": r(raw.mean()), "landmarknet_mean": r(new.mean()),
           "within_sigma": r(np.mean(within))}
    if new_jaw:
        out.update(jaw_mediapipe_mean=r(np.mean(raw_jaw)), jaw_landmarknet_mean=r(np.mean(new_jaw)))
    for lo, hi in YAW_BANDS:
        s = (yaw >= lo) & (yaw < hi)
        if s.any():
            out[f"yaw_{lo}_{hi}"] = {"n": int(s.sum()), "mediapipe_median": r(np.median(raw[s])),
                                     "landmarknet_median": r(np.median(new[s]))}
    return out


def train(train_dirs, heldout_dir=None, out=None, steps=3000, batch=32, lr=2e-3, width=24, limit=None,
          checkpoint=None, seed=0, log=print, workers=0, skip=None) -> dict:
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    n = len(train_dirs)
    sets = [SynthSet(d, limit=lim, skip=sk or 0)
            for d, lim, sk in zip(train_dirs, per_set(limit, n, "limits"), per_set(skip, n, "skips"))]
    data = LandmarkSamples(sets, augment=True, seed=seed)
    if len(data) == 0:
        raise HeadforgeError(f"No usable renders in {', '.join(map(str, train_dirs))}.")
    log(f"{len(data)} renders in memory ({time.perf_counter() - t0:.0f} s)")
    net = LandmarkNet(len(data.corr.mp_index) + N_CONTOUR, width)
    losses = run_steps(net, sample_loader(data, batch, workers), lambda b: nll(net(b[0], b[1]), b[2]), steps=steps,
                       lr=lr, clip=5.0, checkpoint=checkpoint, log=log, width=width)
    info = run_info(train_dirs, limit, len(data), losses, skip, steps=steps, batch=batch, lr=lr, width=width,
                    mp_index=data.corr.mp_index.tolist(), contour=N_CONTOUR)

    def heldout(path):
        return evaluate(path, LandmarkSamples([SynthSet(heldout_dir)], augment=False))

    export_and_evaluate(net, info, out, heldout if heldout_dir else None, log)
    return {"net": net, **info}


def main(argv=None) -> int:
    return step_main(argv, "Train LandmarkNet and export it as ONNX.", train, steps=3000, batch=32, lr=2e-3, width=24)


if __name__ == "__main__":
    raise SystemExit(main())
