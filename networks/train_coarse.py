"""Train CoarseNet on a synthetic set, evaluate on a held-out set, export ONNX.

``python -m headforge.networks.train_coarse --train DATA --heldout HELDOUT --out core/weights/coarsenet.onnx``

1. ``prepare``: run MediaPipe (the same detector the pipeline uses on photos) on every render once and
   cache the 478 points per shard (``mp_detect.npz``); renders where it finds no face are left out.
2. Targets, all in the aligned crop's frame: identity, expression, rotation (camera frame turned by the
   crop's in-plane rotation), weak-perspective scale and origin.
3. Loss: per-vertex L1 on the mesh (face region weighted 5x, as in the paper) + landmark reprojection in the
   crop + small direct terms on rotation and scale. Strong augmentation for real photos: colour, blur,
   noise, JPEG, occluders, crop jitter, landmark jitter.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from ..addon.synth_worker import shard_path
from ..core.errors import HeadforgeError
from ..core.facemodel import LANDMARKS_68, N_IDENTITY, load_face_model
from ..core.landmarks import detect_landmarks
from ..core.regress import CROP, TEMPLATE_SCALE, align
from .coarsenet import CoarseNet, rotation_6d_to_matrix
from .dataset import SynthSet

DETECT_FILE = "mp_detect.npz"


def prepare(ds: SynthSet) -> None:
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
                lm = detect_landmarks(ds[n]["image"])
            except HeadforgeError:
                continue
            pts[j], ok[j] = lm.points, True
        tmp = f.with_suffix(".tmp.npz")
        np.savez(tmp, points=pts, found=ok)
        tmp.replace(f)


def _detections(ds: SynthSet):
    pts, ok = [], []
    for k in ds.shards:
        with np.load(shard_path(ds.root, k) / DETECT_FILE) as z:
            pts.append(z["points"])
            ok.append(z["found"])
    return np.concatenate(pts), np.concatenate(ok)


class Samples(torch.utils.data.Dataset):
    """Aligned crops with targets; ``augment`` for training. The small labels are held in memory and only
    the render is read per sample (a shard's label file also holds its depth, normal and mask maps)."""

    KEYS = ("identity", "expression", "R", "K", "t", "lm68", "lm68_visible")

    def __init__(self, ds: SynthSet, augment: bool, seed: int = 0):
        self.ds, self.augment = ds, augment
        pts, ok = _detections(ds)
        self.points, self.valid = pts, np.flatnonzero(ok)
        self.rng = np.random.default_rng(seed)
        self._small = None

    def __len__(self):
        return len(self.valid)

    def __getitem__(self, n):
        i = self.valid[n]
        if self._small is None:
            self._small = self.ds.labels(self.KEYS)
        s = {key: v[i] for key, v in self._small.items()}
        s["image"] = self.ds.image(i)
        pts = self.points[i].astype(np.float64)
        if self.augment:
            pts = pts + self.rng.normal(0, 0.6, pts.shape)  # detector noise
        M = align(pts)
        if self.augment:  # crop jitter: small rotation, scale and shift after the alignment
            J = cv2.getRotationMatrix2D((CROP / 2, CROP / 2), self.rng.normal(0, 3), np.exp(self.rng.normal(0, 0.04)))
            J[:, 2] += self.rng.normal(0, 2, 2)
            M = np.hstack([J[:, :2] @ M[:, :2], (J[:, :2] @ M[:, 2] + J[:, 2])[:, None]])
        img = cv2.warpAffine(s["image"], M, (CROP, CROP), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
        if self.augment:
            img = augment_image(img, self.rng)
        x = torch.from_numpy((img.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1).copy())
        lm_crop = pts @ M[:, :2].T + M[:, 2]
        lm_in = torch.from_numpy(((lm_crop / (CROP / 2)) - 1.0).astype(np.float32).ravel())
        # targets in the crop frame
        A = M[:, :2]
        k = np.sqrt(abs(np.linalg.det(A)))
        Rz = np.eye(3)
        Rz[:2, :2] = A / k
        R = Rz @ s["R"].astype(np.float64)
        K, t = s["K"].astype(np.float64), s["t"].astype(np.float64)
        origin_img = np.array([K[0, 0] * t[0] / t[2] + K[0, 2], K[1, 1] * t[1] / t[2] + K[1, 2]])
        origin = (A @ origin_img + M[:, 2] - CROP / 2) / (CROP / 2)
        log_s = np.log(K[0, 0] / t[2] * k / TEMPLATE_SCALE)
        lm68 = s["lm68"].astype(np.float64) @ A.T + M[:, 2]
        tgt = {"identity": s["identity"].astype(np.float32), "expression": s["expression"].astype(np.float32),
               "R": R.astype(np.float32), "origin": origin.astype(np.float32), "log_s": np.float32(log_s),
               "lm68": lm68.astype(np.float32), "lm68_visible": s["lm68_visible"].astype(np.float32)}
        return x, lm_in, {k2: torch.as_tensor(v) for k2, v in tgt.items()}


def augment_image(img: np.ndarray, rng: np.random.Generator, occluders: bool = True) -> np.ndarray:
    """Colour, blur, noise, JPEG and (optionally) occluders: what separates renders from phone photos."""
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


class MeshLoss(nn.Module):
    """Per-vertex L1 (cm) on a vertex subset, face region weighted 5x; landmark reprojection (crop units)."""

    def __init__(self, model, n_vertices: int = 3000, seed: int = 0):
        super().__init__()
        rng = np.random.default_rng(seed)
        face = rng.choice(9409, size=min(2 * n_vertices // 3, 9409), replace=False)
        head = rng.choice(np.arange(9409, 11248), size=n_vertices // 3, replace=False)
        vid = np.concatenate([face, head])
        cols = (vid[:, None] * 3 + np.arange(3)).ravel()
        self.register_buffer("mean", torch.from_numpy(model.neutral[vid].astype(np.float32)))
        self.register_buffer("basis", torch.from_numpy(model.basis[:, cols].astype(np.float32)))
        self.register_buffer("w", torch.from_numpy(np.where(vid < 9409, 5.0, 1.0).astype(np.float32)))
        lcols = (LANDMARKS_68[:, None] * 3 + np.arange(3)).ravel()
        self.register_buffer("lm_mean", torch.from_numpy(model.neutral[LANDMARKS_68].astype(np.float32)))
        self.register_buffer("lm_basis", torch.from_numpy(model.basis[:, lcols].astype(np.float32)))

    def mesh(self, coeffs):
        return self.mean + (coeffs @ self.basis).view(len(coeffs), -1, 3)

    def forward(self, out, tgt):
        ident, expr_logit = out[:, :N_IDENTITY], out[:, N_IDENTITY:153]
        expr = torch.sigmoid(expr_logit)
        c_pred = torch.cat([ident, expr], 1)
        c_true = torch.cat([tgt["identity"], tgt["expression"]], 1)
        v_err = (self.mesh(c_pred) - self.mesh(c_true)).abs().sum(2)               # (B, V) cm
        l_mesh = (v_err * self.w).sum(1).mean() / self.w.sum()
        R = rotation_6d_to_matrix(out[:, 153:159])
        log_s, origin = out[:, 159], out[:, 160:162]
        X = self.lm_mean + (c_pred @ self.lm_basis).view(len(out), -1, 3)            # (B, 68, 3) model cm
        Y = torch.einsum("bij,bkj->bki", R, X)
        s = torch.exp(log_s)[:, None, None] * TEMPLATE_SCALE
        proj = Y[:, :, :2] * s + (origin[:, None, :] * (CROP / 2) + CROP / 2)
        vis = tgt["lm68_visible"][:, :, None]
        l_lm = ((proj - tgt["lm68"]).abs() * vis).sum((1, 2)).mean() / (68 * 2) / (CROP / 100.0)
        l_rot = (R - tgt["R"]).abs().mean()
        l_s = (log_s - tgt["log_s"]).abs().mean() + (origin - tgt["origin"]).abs().mean()
        total = l_mesh + 0.1 * l_lm + 2.0 * l_rot + l_s
        parts = {"mesh_cm": l_mesh, "landmark": l_lm, "rotation": l_rot, "pose": l_s}
        return total, {k: float(v.detach()) for k, v in parts.items()}


def train(train_dir, heldout_dir=None, out="core/weights/coarsenet.onnx", epochs: int = 30, batch: int = 64,
          lr: float = 2e-3, use_landmarks: bool = True, steps: int | None = None, seed: int = 0, width: int = 32,
          log=print) -> dict:
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model_ict = load_face_model()
    tr = SynthSet(train_dir)
    prepare(tr)
    data = Samples(tr, augment=True, seed=seed)
    if len(data) == 0:
        raise HeadforgeError(f"No usable renders in {str(train_dir)!r} (MediaPipe found no face in any).")
    loader = torch.utils.data.DataLoader(data, batch_size=min(batch, len(data)), shuffle=True, num_workers=0,
                                         drop_last=len(data) > batch, pin_memory=torch.cuda.is_available())
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = CoarseNet(use_landmarks=use_landmarks, width=width).to(device)
    crit = MeshLoss(model_ict).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    total_steps = steps or epochs * len(loader)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(total_steps, 1), pct_start=0.1)
    step, t0, hist = 0, time.perf_counter(), []
    net.train()
    while step < total_steps:
        for x, lm, tgt in loader:
            x, lm = x.to(device), lm.to(device)
            tgt = {k: v.to(device) for k, v in tgt.items()}
            loss, parts = crit(net(x, lm if use_landmarks else None), tgt)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            hist.append(parts)
            if step % 50 == 0 or step == total_steps:
                log(f"step {step}/{total_steps} loss {float(loss.detach()):.4f} {json.dumps({k: round(v, 4) for k, v in parts.items()})} "
                    f"{time.perf_counter() - t0:.0f} s")
            if step >= total_steps:
                break
    info = {"steps": step, "train_images": len(data), "seconds": round(time.perf_counter() - t0, 1),
            "use_landmarks": use_landmarks, "width": width, "final": hist[-1] if hist else {}, "device": str(device)}
    net, crit = net.cpu(), crit.cpu()
    if heldout_dir:
        info["heldout"] = evaluate(net, heldout_dir, crit)
        log(f"held-out: {info['heldout']}")
    if out:
        from .export import export_onnx

        export_onnx(net, out, meta=info)
    return {"net": net, **info}


@torch.no_grad()
def evaluate(net, heldout_dir, crit) -> dict:
    ho = SynthSet(heldout_dir)
    prepare(ho)
    data = Samples(ho, augment=False)
    net.eval()
    errs, mean_errs = [], []
    for x, lm, tgt in torch.utils.data.DataLoader(data, batch_size=64):
        out = net(x, lm if net.use_landmarks else None)
        c_pred = torch.cat([out[:, :N_IDENTITY], torch.sigmoid(out[:, N_IDENTITY:153])], 1)
        c_true = torch.cat([tgt["identity"], tgt["expression"]], 1)
        errs.append((crit.mesh(c_pred) - crit.mesh(c_true)).norm(dim=2)[:, : (crit.w == 5).sum()].mean(1))
        mean_errs.append((crit.mesh(torch.zeros_like(c_true)) - crit.mesh(c_true)).norm(dim=2)[:, : (crit.w == 5).sum()].mean(1))
    net.train()
    e, m = torch.cat(errs).mean().item() * 10, torch.cat(mean_errs).mean().item() * 10
    return {"images": len(data), "face_error_mm": round(e, 3), "mean_face_error_mm": round(m, 3),
            "reduction": round(1 - e / m, 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train CoarseNet and export it as ONNX.")
    ap.add_argument("--train", required=True)
    ap.add_argument("--heldout")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "core" / "weights" / "coarsenet.onnx"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--no-landmarks", action="store_true", help="image branch only (for comparison)")
    ap.add_argument("--steps", type=int, help="optimiser steps (overrides --epochs)")
    ap.add_argument("--width", type=int, default=32, help="channels of the first block (32: 2.5 M parameters)")
    args = ap.parse_args(argv)
    train(args.train, args.heldout, args.out, args.epochs, args.batch, args.lr, not args.no_landmarks, args.steps,
          width=args.width)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
