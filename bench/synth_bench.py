"""Synthetic set benchmark (issue: photo-realistic synthetic training set).

1. Seconds per image at 224^2 with the production settings, and images/minute with 1 and 2 workers.
2. Photo-realism proxy: MediaPipe (trained on real photos) on ``--n`` renders: detection rate for
   |yaw| <= 30 degrees and NME (outer-eye normalised) of its landmarks mapped to iBUG-68 against the
   ground-truth projections of the 68 landmark vertices.
3. contact_sheet.png of 64 renders.

Usage: python bench/synth_bench.py [--n 200] [--out out/synth_bench]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402

from headforge.synth_farm import contact_sheet, synthesize  # noqa: E402
from headforge.core.correspondence import load_correspondence  # noqa: E402
from headforge.core.errors import HeadforgeError  # noqa: E402
from headforge.core.facemodel import load_face_model  # noqa: E402
from headforge.core.landmarks import detect_landmarks  # noqa: E402
from headforge.core.synth import SynthConfig  # noqa: E402
from headforge.networks.dataset import SynthSet  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--out", default="out/synth_bench")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    out = Path(args.out)
    rows = []
    for workers in (1, 2):
        d = out / f"speed_w{workers}"
        shutil.rmtree(d, ignore_errors=True)
        n = 24
        cfg = SynthConfig(count=n, size=224, seed=args.seed + workers, shard_size=n // 2)
        t = time.perf_counter()
        synthesize(cfg, d, workers=workers, progress=False)
        dt = time.perf_counter() - t
        per = [json.loads((d / "shards" / f"shard_{k:05d}" / "meta.json").read_text())["render_seconds_per_image"]
               for k in range(cfg.n_shards)]
        rows.append((f"{workers} worker(s), {n} images 224^2", f"{60 * n / dt:.1f} images/min",
                     f"{dt / n:.2f} s/image wall; in-process {np.mean(per):.2f} s/image per worker"))
    d = out / "realism"
    cfg = SynthConfig(count=args.n, size=224, seed=args.seed, shard_size=25)
    t = time.perf_counter()
    synthesize(cfg, d, workers=2, progress=True)
    rows.append((f"{args.n} images, 2 workers", f"{60 * args.n / (time.perf_counter() - t):.1f} images/min", "(resumed "
                 "if already there)"))
    sheet = contact_sheet(d)
    model = load_face_model()
    corr = load_correspondence(model)
    ds = SynthSet(d)
    found, total, nmes = 0, 0, []
    for k in range(len(ds)):
        s = ds[k]
        yaw = float(s["pose"][0])
        if abs(yaw) > 30:
            continue
        total += 1
        try:
            lm = detect_landmarks(s["image"])
        except HeadforgeError:
            continue
        found += 1
        d68 = corr.detected_68(lm.points)
        gt = s["lm68"]
        eye = np.linalg.norm(gt[36] - gt[45])
        nmes.append(float(np.linalg.norm(d68 - gt, axis=1).mean() / eye))
    rows.append(("MediaPipe detection, |yaw| <= 30", f"{found}/{total} = {found / max(total, 1):.1%}", "target >= 95 %"))
    rows.append(("MediaPipe NME vs ground truth (68)", f"{np.mean(nmes):.4f} mean, {np.median(nmes):.4f} median",
                 "target <= 0.08"))
    rows.append(("contact sheet", str(sheet), ""))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
