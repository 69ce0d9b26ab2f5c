"""Train FineNet on a ``--details`` synthetic set; evaluate against the zero and high-pass baselines.

``python -m headforge.networks.train_fine --train DATA --heldout HELDOUT --out core/weights/finenet.onnx``

Inputs are built as at inference (``headforge.core.detail.finenet_inputs``) from the render, the coarse
depth label (rendered from the mesh without the detail) and MediaPipe's landmarks on the render. Target:
the image-space ground-truth displacement, warped into the same crop. The crops are held in memory and
the network trains on random windows of them (:class:`CachedPatches`). Loss: squared error + gradient L1
on the face mask (:func:`detail_loss`).
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch

from ..core.detail import FINE_CROP, finenet_inputs, highpass_baseline, input_channels
from ..core.errors import HeadforgeError
from ..core.synth import MASK_FACE
from .dataset import SynthSet, detect_all, detections
from .finenet import FineNet
from .training import augment_image


class DetailSamples(torch.utils.data.Dataset):
    """Renders with their detail ground truth, cropped as FineNet sees them at inference (from the cached
    MediaPipe detections, :func:`dataset.detect_all`). ``ds[n]`` -> input ``(4, 256, 256)``, target ``(1, 256, 256)`` cm, face mask
    ``(1, 256, 256)``, the sample's labels and the 2x3 image->crop transform."""

    def __init__(self, ds: SynthSet):
        if not ds.config.details:
            raise HeadforgeError(f"{str(ds.root)!r} was rendered without --details; FineNet needs the ground truth.")
        self.ds = ds
        self.points, ok = detections(ds)
        self.valid = np.flatnonzero(ok)

    def __len__(self):
        return len(self.valid)

    def __getitem__(self, n):
        i = self.valid[n]
        s = self.ds[i]
        depth = np.where(s["depth"] > 0, s["depth"], np.inf)
        x, M = finenet_inputs(s["image"], depth, self.points[i])
        y = cv2.warpAffine(s["disp_image"], M, (FINE_CROP, FINE_CROP), flags=cv2.INTER_LINEAR)
        m = cv2.warpAffine((s["mask"] == MASK_FACE).astype(np.uint8), M, (FINE_CROP, FINE_CROP), flags=cv2.INTER_NEAREST)
        return x[0], y[None].astype(np.float32), m[None].astype(np.float32), s, M


class CachedPatches(torch.utils.data.Dataset):
    """The training set held in memory as 256 crops (RGB, coarse depth, target, mask; about 0.7 MB a
    render), served as random ``patch``-sized windows on the face with colour/blur/noise/JPEG augmentation
    and mirroring. The U-Net is fully convolutional, so it trains on patches (4x cheaper at 128) and runs
    on the whole crop."""

    def __init__(self, ds: SynthSet, patch: int = 128, augment: bool = True, seed: int = 0, log=None):
        base = DetailSamples(ds)
        n = len(base)
        self.patch, self.augment, self.rng = patch, augment, np.random.default_rng(seed)
        self.crop = np.zeros((n, FINE_CROP, FINE_CROP, 3), np.uint8)
        self.depth = np.zeros((n, 2, FINE_CROP, FINE_CROP), np.float16)
        self.y = np.zeros((n, FINE_CROP, FINE_CROP), np.float32)
        self.m = np.zeros((n, FINE_CROP, FINE_CROP), np.uint8)
        for k in range(n):
            x, y, m, s, M = base[k]
            self.crop[k] = cv2.warpAffine(s["image"], M, (FINE_CROP, FINE_CROP), flags=cv2.INTER_AREA,
                                          borderMode=cv2.BORDER_REPLICATE)
            self.depth[k] = x[[1, 3]]  # depth and validity (input_channels' layout)
            self.y[k], self.m[k] = y[0], m[0]
            if log and (k + 1) % 250 == 0:
                log(f"cached {k + 1}/{n} renders")
        self.keep = [k for k in range(n) if self.m[k].sum() > 100]

    def __len__(self):
        return len(self.keep)

    def mean_target(self) -> float:
        """Mean displacement (cm) over the face masks: the constant baseline."""
        return float((self.y * self.m).sum() / max(self.m.sum(), 1))

    def __getitem__(self, n):
        k, r = self.keep[n], self.rng
        img = augment_image(self.crop[k], r, occluders=False) if self.augment else self.crop[k]
        x = input_channels(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), self.depth[k][0], img[..., 0], self.depth[k][1])
        y, m = self.y[k][None], self.m[k][None].astype(np.float32)
        if self.augment and r.random() < 0.5:
            x, y, m = x[..., ::-1], y[..., ::-1], m[..., ::-1]
        P = self.patch
        if P < FINE_CROP:
            ys, xs = np.nonzero(m[0])
            j = r.integers(len(ys))
            y0 = int(np.clip(ys[j] - P // 2 + r.integers(-P // 4, P // 4 + 1), 0, FINE_CROP - P))
            x0 = int(np.clip(xs[j] - P // 2 + r.integers(-P // 4, P // 4 + 1), 0, FINE_CROP - P))
            x, y, m = x[:, y0:y0 + P, x0:x0 + P], y[:, y0:y0 + P, x0:x0 + P], m[:, y0:y0 + P, x0:x0 + P]
        return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in (x, y, m))


def detail_loss(pred, y, m):
    """Mean squared error (mm^2) on the face mask (the benchmark's RMSE) + 0.1 x L1 of the gradient
    difference (mm per pixel), which keeps lines sharp."""
    d = (pred - y) * 10.0
    msum = m.sum().clamp(min=1)
    l2 = (d * d * m).sum() / msum
    gx = d[..., :, 1:] - d[..., :, :-1]
    gy = d[..., 1:, :] - d[..., :-1, :]
    lg = ((gx.abs() * m[..., :, 1:]).sum() + (gy.abs() * m[..., 1:, :]).sum()) / msum
    return l2 + 0.1 * lg


def train(train_dir, heldout_dir=None, out=None, epochs=20, batch=16, lr=2e-3, steps=None, seed=0, patch=128,
          limit=None, log=print):
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    tr = SynthSet(train_dir, limit=limit)
    detect_all(tr)
    t0 = time.perf_counter()
    data = CachedPatches(tr, patch=patch, seed=seed, log=log)
    if len(data) == 0:
        raise HeadforgeError(f"No usable renders in {str(train_dir)!r}.")
    log(f"{len(data)} renders cached in {time.perf_counter() - t0:.0f} s")
    loader = torch.utils.data.DataLoader(data, batch_size=min(batch, len(data)), shuffle=True,
                                         drop_last=len(data) > batch)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = FineNet().to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    total = steps or epochs * len(loader)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(total, 1), pct_start=0.1)
    step, t0, last, run = 0, time.perf_counter(), float("nan"), []
    while step < total:
        for x, y, m in loader:
            x, y, m = x.to(device), y.to(device), m.to(device)
            loss = detail_loss(net(x), y, m)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            last = float(loss.detach())
            run.append(last)
            if step % 50 == 0 or step == total:
                log(f"step {step}/{total} loss {np.mean(run[-50:]):.5f} {time.perf_counter() - t0:.0f} s")
            if step >= total:
                break
    info = {"steps": step, "train_images": len(data), "limit": limit, "patch": patch, "batch": batch, "final_loss": last,
            "seconds": round(time.perf_counter() - t0, 1), "device": str(device),
            "constant_cm": round(data.mean_target(), 6)}
    net = net.cpu()
    if heldout_dir:
        info["heldout"] = evaluate(net, heldout_dir, constant=data.mean_target())
        log(f"held-out: {info['heldout']}")
    if out:
        from .onnx_export import export_onnx

        export_onnx(net, out, meta=info)
    return {"net": net, **info}


def detail_errors(predict, heldout_dir, constant: float = 0.0) -> dict:
    """RMSE (mm) in the face mask over a held-out ``--details`` set. ``predict``: ``(4, 256, 256)`` input
    -> ``(256, 256)`` cm. Against FineNet: zero detail, a constant (``constant`` cm, the training mean) and
    the image high-pass (gain fitted by least squares on the held-out set itself, which favours the
    baseline). Two stricter comparisons: ``structure_*`` with each image's mean displacement removed (the
    pores' pits lower the mean, which a constant already gets) and ``wrinkle_*`` with both maps low-passed
    (sigma 2 px: the renders cannot show single pores). And the issue's two scales: the share of the true
    detail's variance (each image's mean removed) explained at medium scale (both maps low-passed, sigma
    ``MEDIUM_SIGMA_PX``) and at fine scale (what the low-pass leaves), ``*_explained``."""
    ho = SynthSet(heldout_dir)
    detect_all(ho)
    data = DetailSamples(ho)
    keys = ("rmse_mm", "zero_rmse_mm", "constant_rmse_mm", "structure_rmse_mm", "structure_flat_rmse_mm",
            "wrinkle_rmse_mm", "wrinkle_constant_rmse_mm", "medium_rmse_mm", "medium_flat_rmse_mm", "fine_rmse_mm",
            "fine_flat_rmse_mm")
    se = dict.fromkeys(keys, 0.0)
    hp_xy = hp_xx = n = 0.0
    lp = lambda a: cv2.GaussianBlur(a, (0, 0), 2.0)  # noqa: E731
    for k in range(len(data)):
        x, y, m, s, M = data[k]
        p, t, mm = predict(x), y[0], m[0] > 0
        se["rmse_mm"] += float(((p - t)[mm] ** 2).sum())
        se["zero_rmse_mm"] += float((t[mm] ** 2).sum())
        se["constant_rmse_mm"] += float(((t[mm] - constant) ** 2).sum())
        se["structure_rmse_mm"] += float((((p - p[mm].mean()) - (t - t[mm].mean()))[mm] ** 2).sum())
        se["structure_flat_rmse_mm"] += float(((t - t[mm].mean())[mm] ** 2).sum())
        se["wrinkle_rmse_mm"] += float(((lp(p) - lp(t))[mm] ** 2).sum())
        se["wrinkle_constant_rmse_mm"] += float(((constant - lp(t))[mm] ** 2).sum())
        for name, (pp, tt) in zip(("medium", "fine"), detail_scales(p, t, mm)):
            se[f"{name}_rmse_mm"] += float(((pp - tt) ** 2).sum())
            se[f"{name}_flat_rmse_mm"] += float((tt ** 2).sum())
        hp = cv2.warpAffine(highpass_baseline(s["image"], gain=1.0), M, (FINE_CROP, FINE_CROP))
        hp_xy += float((hp[mm] * t[mm]).sum())
        hp_xx += float((hp[mm] ** 2).sum())
        n += mm.sum()
    gain = hp_xy / max(hp_xx, 1e-12)
    se["highpass_rmse_mm"] = se["zero_rmse_mm"] - 2 * gain * hp_xy + gain ** 2 * hp_xx
    out = {k: round(float(np.sqrt(v / max(n, 1))) * 10, 6) for k, v in se.items()}  # cm -> mm
    explained = {f"{name}_explained": round(1 - se[f"{name}_rmse_mm"] / max(se[f"{name}_flat_rmse_mm"], 1e-30), 4)
                 for name in ("medium", "fine")}
    return {"images": len(data), **out, **explained, "highpass_gain_cm": round(gain, 5)}


#: the issue's medium scale: detail that survives a Gaussian low-pass of this sigma (256-pixel crop pixels)
MEDIUM_SIGMA_PX = 4.0


def detail_scales(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray):
    """``((pred_medium, truth_medium), (pred_fine, truth_fine))`` in ``mask``: each map less its mean in the
    mask, low-passed at ``MEDIUM_SIGMA_PX`` (medium) and what that leaves (fine)."""
    out = []
    for a in (pred, truth):
        low = cv2.GaussianBlur(a, (0, 0), MEDIUM_SIGMA_PX)
        out.append(((low - a[mask].mean())[mask], (a - low)[mask]))
    return tuple(zip(out[0], out[1]))


@torch.no_grad()
def evaluate(net, heldout_dir, constant: float = 0.0) -> dict:
    """:func:`detail_errors` of a torch FineNet."""
    net.eval()
    try:
        return detail_errors(lambda x: net(torch.from_numpy(x[None]))[0, 0].numpy(), heldout_dir, constant)
    finally:
        net.train()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train FineNet and export it as ONNX.")
    ap.add_argument("--train", required=True)
    ap.add_argument("--heldout")
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, help="optimiser steps (overrides --epochs)")
    ap.add_argument("--patch", type=int, default=128, help="training window (the network runs on the whole crop)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--limit", type=int, help="train on the first LIMIT renders of the set (whole shards)")
    args = ap.parse_args(argv)
    train(args.train, args.heldout, args.out, args.epochs, args.batch, args.lr, args.steps, patch=args.patch,
          limit=args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
