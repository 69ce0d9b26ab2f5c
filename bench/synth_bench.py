"""Synthetic set benchmark (issue: photo-realistic synthetic training set).

1. Seconds per image at 224^2 with the production settings (set version 2), and images/minute with 1 and
   2 workers.
2. Photo-realism proxy, for set versions 1 and 2: MediaPipe (trained on real photos) on ``--n`` renders:
   detection rate within 30 and 60 degrees of yaw, and NME (outer-eye normalised) of its landmarks mapped to
   iBUG-68 against the ground-truth projections of the 68 landmark vertices; the spread of skin tones, hair
   and beard styles.
3. contact_sheet.png of 64 v2 renders, and ``--sheet``: the real photos' faces above v1's and v2's.

Usage: python bench/synth_bench.py [--n 200] [--out out/synth_bench] [--sheet docs/synth_v1_v2_photos.png]
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
from headforge.core import config  # noqa: E402
from headforge.core.hair import BEARDS, STYLES  # noqa: E402
from headforge.core.synth import SynthConfig, sample_params  # noqa: E402
from headforge.samples import astronaut, grace_hopper_path  # noqa: E402
from headforge.networks.dataset import SynthSet  # noqa: E402


def speed_rows(out: Path, seed: int) -> list[tuple[str, str, str]]:
    """Images per minute of the default set (version 2) with 1 and 2 workers, 24 images at 224^2."""
    rows = []
    for workers in (1, 2):
        d = out / f"speed_w{workers}"
        shutil.rmtree(d, ignore_errors=True)
        n = 24
        cfg = SynthConfig(count=n, size=224, seed=seed + workers, shard_size=n // 2)
        t = time.perf_counter()
        synthesize(cfg, d, workers=workers, progress=False)
        dt = time.perf_counter() - t
        per = [json.loads((d / "shards" / f"shard_{k:05d}" / "meta.json").read_text())["render_seconds_per_image"]
               for k in range(cfg.n_shards)]
        rows.append((f"v{cfg.version}: {workers} worker(s), {n} images 224^2", f"{60 * n / dt:.1f} images/min",
                     f"{dt / n:.2f} s/image wall; in-process {np.mean(per):.2f} s/image per worker"))
    return rows


def realism_rows(d: Path, n: int, seed: int, version: int, model, corr) -> list[tuple[str, str, str]]:
    """MediaPipe (trained on real photos) on ``n`` renders of set ``version``: detection rate within 30 and
    60 degrees of yaw, and its 68 landmarks' NME against the true ones; the spread of skin tones and (v2)
    of hair and beard styles."""
    cfg = SynthConfig(count=n, size=224, seed=seed, shard_size=25, version=version)
    t = time.perf_counter()
    synthesize(cfg, d, workers=2, progress=True)
    rows = [(f"v{version}: {n} images, 2 workers", f"{60 * n / (time.perf_counter() - t):.1f} images/min",
             "(resumed if already there)")]
    ds = SynthSet(d)
    found = {30: [0, 0], 60: [0, 0]}
    nmes = []
    for k in range(len(ds)):
        s = ds[k]
        yaw = abs(float(s["pose"][0]))
        try:
            lm = detect_landmarks(s["image"])
        except HeadforgeError:
            lm = None
        for limit, counts in found.items():
            if yaw <= limit:
                counts[1] += 1
                counts[0] += lm is not None
        if lm is not None and yaw <= 30:
            gt = s["lm68"]
            nmes.append(float(np.linalg.norm(corr.detected_68(lm.points) - gt, axis=1).mean()
                              / np.linalg.norm(gt[36] - gt[45])))
    for limit, (ok, total) in found.items():
        rows.append((f"v{version}: MediaPipe detection, |yaw| <= {limit}", f"{ok}/{total} = {ok / max(total, 1):.1%}",
                     "target >= 95 % (photos: all found)"))
    rows.append((f"v{version}: MediaPipe NME vs ground truth (68)", f"{np.mean(nmes):.4f} mean, "
                 f"{np.median(nmes):.4f} median", "|yaw| <= 30"))
    params = [sample_params(cfg, i, model) for i in range(n)]
    melanin = np.array([p["appearance"]["melanin"] for p in params])
    tones = np.histogram(melanin, bins=5, range=(0, 1))[0]
    rows.append((f"v{version}: skin tones (melanin in fifths, light to dark)", " / ".join(map(str, tones)), ""))
    if version >= 2:
        for key, names in (("style", STYLES), ("beard", BEARDS)):
            got = [p["hair"][key]["style"] if key == "beard" else p["hair"][key] for p in params]
            rows.append((f"v{version}: {'hair' if key == 'style' else 'beard'} styles",
                         ", ".join(f"{x} {got.count(x)}" for x in names), ""))
    return rows


def side_by_side(sets: list[Path], real: list[np.ndarray], out: Path, n: int = 16, cell: int = 128) -> Path:
    """``n`` renders of each set below the real photos ``real`` (RGB), each cropped square around its face:
    one row per source, the photos first."""
    import cv2

    def face_crop(img):
        try:
            pts = detect_landmarks(img).points
        except HeadforgeError:
            return cv2.resize(img, (cell, cell), interpolation=cv2.INTER_AREA)
        c, half = pts.mean(0), 0.9 * np.ptp(pts, axis=0).max()
        M = np.array([[cell / (2 * half), 0, cell / 2 - c[0] * cell / (2 * half)],
                      [0, cell / (2 * half), cell / 2 - c[1] * cell / (2 * half)]])
        return cv2.warpAffine(img, M, (cell, cell), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)

    rows = [real[:n]]
    for d in sets:
        ds = SynthSet(d)
        rows.append([ds[k]["image"] for k in range(min(n, len(ds)))])
    width = max(len(r) for r in rows)
    sheet = np.zeros((len(rows) * cell, width * cell, 3), np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            sheet[i * cell:(i + 1) * cell, j * cell:(j + 1) * cell] = face_crop(img)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--out", default="out/synth_bench")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--sheet", default="docs/synth_v1_v2_photos.png",
                    help="the side-by-side picture with the public-domain sample photos (committed)")
    args = ap.parse_args()
    out = Path(args.out)
    model = load_face_model()
    corr = load_correspondence(model)
    rows = speed_rows(out, args.seed)
    sets = []
    for version in (1, 2):
        d = out / f"realism_v{version}"
        rows += realism_rows(d, args.n, args.seed, version, model, corr)
        sets.append(d)
    rows.append(("contact sheet (v2)", str(contact_sheet(sets[-1])), ""))
    # the committed picture shows the public-domain sample photos; the evaluation photos of ../shared stay
    # out of the repository (a second picture under --out shows them)
    import cv2

    samples = [astronaut(), cv2.cvtColor(cv2.imread(str(grace_hopper_path())), cv2.COLOR_BGR2RGB)]
    rows.append(("sample photos / v1 / v2, faces side by side", str(side_by_side(sets, samples, Path(args.sheet))), ""))
    shared = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
              for p in sorted((config.shared_dir() / "photos").glob("*.[jp][pn]g"))]
    rows.append(("evaluation photos / v1 / v2", str(side_by_side(sets, shared, out / "side_by_side_photos.png")), ""))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
