"""Train FineNet on a ``--details`` synthetic set; evaluate against the zero and high-pass baselines.

``python -m headforge.networks.train_fine --train DATA --heldout HELDOUT --out core/weights/finenet.onnx``

Inputs are built exactly as at inference (``headforge.core.detail.finenet_inputs``) from the render, the
coarse depth label (rendered from the mesh without the detail) and MediaPipe's landmarks on the render.
Target: the image-space ground-truth displacement, warped into the same crop. Loss: L1 + gradient L1 on
the face mask.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch

from ..core.detail import CROP, finenet_inputs, highpass_baseline
from ..core.errors import HeadforgeError
from ..core.synth import MASK_FACE
from .dataset import SynthSet
from .finenet import FineNet
from .train_coarse import Samples, augment_image, prepare


class DetailSamples(Samples):
    """Renders with their detail ground truth, cropped as FineNet sees them (detections as in
    :class:`Samples`)."""

    def __init__(self, ds: SynthSet, augment: bool, seed: int = 0):
        if not ds.config.details:
            raise HeadforgeError(f"{str(ds.root)!r} was rendered without --details; FineNet needs the ground truth.")
        super().__init__(ds, augment, seed)

    def item(self, n, augment):
        i = self.valid[n]
        s = self.ds[i]
        img = s["image"]
        if augment:
            img = augment_image(img, self.rng)
        depth = np.where(s["depth"] > 0, s["depth"], np.inf)
        x, M = finenet_inputs(img, depth, self.points[i])
        y = cv2.warpAffine(s["disp_image"], M, (CROP, CROP), flags=cv2.INTER_LINEAR)
        m = cv2.warpAffine((s["mask"] == MASK_FACE).astype(np.uint8), M, (CROP, CROP), flags=cv2.INTER_NEAREST)
        return x[0], y[None].astype(np.float32), m[None].astype(np.float32), s, M

    def __getitem__(self, n):
        x, y, m, _, _ = self.item(n, self.augment)
        return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(m)


def detail_loss(pred, y, m):
    l1 = ((pred - y).abs() * m).sum() / m.sum().clamp(min=1)
    gx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
    gy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
    lg = ((gx(pred) - gx(y)).abs() * m[..., :, 1:]).sum() / m.sum().clamp(min=1) + \
         ((gy(pred) - gy(y)).abs() * m[..., 1:, :]).sum() / m.sum().clamp(min=1)
    return l1 + lg


def train(train_dir, heldout_dir=None, out=None, epochs=20, batch=8, lr=1e-3, steps=None, seed=0, log=print):
    torch.manual_seed(seed)
    tr = SynthSet(train_dir)
    prepare(tr)
    data = DetailSamples(tr, augment=True, seed=seed)
    if len(data) == 0:
        raise HeadforgeError(f"No usable renders in {str(train_dir)!r}.")
    loader = torch.utils.data.DataLoader(data, batch_size=min(batch, len(data)), shuffle=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = FineNet().to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    total = steps or epochs * len(loader)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(total, 1), pct_start=0.1)
    step, t0, last = 0, time.perf_counter(), float("nan")
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
            if step % 50 == 0 or step == total:
                log(f"step {step}/{total} loss {last:.5f} {time.perf_counter() - t0:.0f} s")
            if step >= total:
                break
    info = {"steps": step, "train_images": len(data), "final_loss": last, "seconds": round(time.perf_counter() - t0, 1),
            "device": str(device)}
    net = net.cpu()
    if heldout_dir:
        info["heldout"] = evaluate(net, heldout_dir)
        log(f"held-out: {info['heldout']}")
    if out:
        from .export import export_onnx

        export_onnx(net, out, meta=info)
    return {"net": net, **info}


@torch.no_grad()
def evaluate(net, heldout_dir) -> dict:
    """RMSE (mm) in the face mask: FineNet, zero detail, and the image high-pass (gain fitted by least
    squares on the held-out set itself, which favours the baseline)."""
    ho = SynthSet(heldout_dir)
    prepare(ho)
    data = DetailSamples(ho, augment=False)
    net.eval()
    se_net = se_zero = n = 0.0
    hp_xy, hp_yy, hp_xx = 0.0, 0.0, 0.0
    for k in range(len(data)):
        x, y, m, s, M = data.item(k, False)
        p = net(torch.from_numpy(x[None]))[0, 0].numpy()
        mm = m[0] > 0
        se_net += float(((p - y[0])[mm] ** 2).sum())
        se_zero += float((y[0][mm] ** 2).sum())
        hp = cv2.warpAffine(highpass_baseline(s["image"], gain=1.0), M, (CROP, CROP))
        hp_xy += float((hp[mm] * y[0][mm]).sum())
        hp_xx += float((hp[mm] ** 2).sum())
        hp_yy += float((y[0][mm] ** 2).sum())
        n += mm.sum()
    net.train()
    gain = hp_xy / max(hp_xx, 1e-12)
    se_hp = hp_yy - 2 * gain * hp_xy + gain ** 2 * hp_xx
    rm = lambda v: round(float(np.sqrt(v / max(n, 1))) * 10, 4)  # noqa: E731  (cm -> mm)
    return {"images": len(data), "rmse_mm": rm(se_net), "zero_rmse_mm": rm(se_zero), "highpass_rmse_mm": rm(se_hp),
            "highpass_gain_cm": round(gain, 5)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train FineNet and export it as ONNX.")
    ap.add_argument("--train", required=True)
    ap.add_argument("--heldout")
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args(argv)
    train(args.train, args.heldout, args.out, args.epochs, args.batch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
